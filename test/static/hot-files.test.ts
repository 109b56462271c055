/**
 * Hot mid-size files in memory (src/static/hot-files.ts): read on the second request for a version,
 * in the background; never served stale (a rewritten file, a file swapped for a symlink to a secret);
 * evicted Buffers still referenced count against the budget. Then, over a socket, byte-exact bodies
 * from memory, whole and in ranges, and a change on disk seen at once.
 */
import assert from 'node:assert/strict';
import { renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileAccess, type Source } from '../../src/static/file-access.js';
import { contentKeyOf } from '../../src/static/representations.js';
import { HOT_FILE_MAX_BYTES, HotFiles } from '../../src/static/hot-files.js';
import { type RunningServer, makeTempDir, startStaticServer } from '../helpers.js';
import { delay, download, patternBytes, sha256 } from '../net/server/helpers.js';

const MIB = 1024 * 1024;

/** What the handler has after locating a file: its real path and identity, from a verified descriptor. */
function sourceOf(access: FileAccess, path: string): Source {
  const opened = access.open(path, false);
  assert.equal(opened.kind, 'file');
  if (opened.kind !== 'file') throw new Error('unreachable');
  return { realPath: opened.realPath, identity: opened.identity };
}

/** Asks until the bytes are in memory: a bounded number of turns. */
async function bytesOnceRead(hot: HotFiles, source: Source): Promise<Buffer | undefined> {
  for (let turns = 0; turns < 200; turns++) {
    const bytes = hot.bytesFor(source, contentKeyOf(source));
    if (bytes !== undefined) return bytes;
    await delay(5);
  }
  return undefined;
}

describe('HotFiles', () => {
  let folder: ReturnType<typeof makeTempDir>;
  let access: FileAccess;
  before(async () => {
    folder = makeTempDir('sockhttp-hot-files-');
    access = FileAccess.forRoot(folder.path, { allowDotfiles: false, symlinks: 'follow-inside' });
  });
  after(() => folder.remove());

  test('the first request streams and keeps nothing; the second starts the read; later ones get the bytes', async () => {
    const content = patternBytes(MIB + 3);
    writeFileSync(join(folder.path, 'a.bin'), content);
    const hot = new HotFiles(access, 8 * MIB);
    const source = sourceOf(access, join(folder.path, 'a.bin'));
    const key = contentKeyOf(source);
    assert.equal(hot.bytesFor(source, key), undefined);
    await delay(20);
    assert.equal(hot.cachedBytes, 0, 'a file asked for once is not read into memory');
    assert.equal(hot.bytesFor(source, key), undefined, 'the second request still streams while the file is read');
    const bytes = await bytesOnceRead(hot, source);
    assert.ok(bytes?.equals(content));
    assert.equal(hot.cachedBytes, content.length);
  });

  test('files beyond HOT_FILE_MAX_BYTES or the budget are never read into memory', async () => {
    const hot = new HotFiles(access, MIB);
    writeFileSync(join(folder.path, 'b.bin'), patternBytes(MIB + 1));
    const source = sourceOf(access, join(folder.path, 'b.bin'));
    for (let i = 0; i < 3; i++) assert.equal(hot.bytesFor(source, contentKeyOf(source)), undefined);
    const huge = { realPath: source.realPath, identity: { ...source.identity, size: HOT_FILE_MAX_BYTES + 1 } };
    for (let i = 0; i < 3; i++) assert.equal(new HotFiles(access, 64 * MIB).bytesFor(huge, contentKeyOf(huge)), undefined);
    await delay(20);
    assert.equal(hot.cachedBytes, 0);
  });

  test('a file rewritten after it was described is not kept: the old version is refused when read', async () => {
    const path = join(folder.path, 'c.bin');
    writeFileSync(path, patternBytes(MIB));
    const hot = new HotFiles(access, 8 * MIB);
    const source = sourceOf(access, path);
    writeFileSync(path, Buffer.alloc(MIB, 1)); // a new version at the same path and size
    hot.bytesFor(source, contentKeyOf(source));
    hot.bytesFor(source, contentKeyOf(source));
    await delay(50);
    assert.equal(hot.bytesFor(source, contentKeyOf(source)), undefined, 'bytes of another version under this version’s key');
    assert.equal(hot.cachedBytes, 0);
  });

  test('a file swapped for a symlink to a secret outside the root: the read is refused, nothing is kept', async () => {
    const outside = makeTempDir('sockhttp-hot-secret-');
    try {
      const secret = join(outside.path, 'secret.bin');
      writeFileSync(secret, Buffer.alloc(MIB, 0x53));
      const path = join(folder.path, 'd.bin');
      writeFileSync(path, patternBytes(MIB));
      const hot = new HotFiles(access, 8 * MIB);
      const source = sourceOf(access, path);
      const link = join(folder.path, 'd.link');
      symlinkSync(secret, link);
      renameSync(link, path);
      hot.bytesFor(source, contentKeyOf(source));
      hot.bytesFor(source, contentKeyOf(source));
      await delay(50);
      assert.equal(hot.bytesFor(source, contentKeyOf(source)), undefined);
      assert.equal(hot.cachedBytes, 0);
    } finally {
      outside.remove();
    }
  });

  test('evicted Buffers still referenced (being sent) count against the budget: no new file is read meanwhile', async () => {
    const hot = new HotFiles(access, 2 * MIB);
    const sources = Array.from({ length: 6 }, (_, index) => {
      writeFileSync(join(folder.path, `e${index}.bin`), Buffer.alloc(MIB, index));
      return sourceOf(access, join(folder.path, `e${index}.bin`));
    });
    // Files of 1 MiB in a budget of 2 MiB, each held as a slow socket would hold it: the evicted
    // ones pile up as retired until they reach the budget.
    const held: Buffer[] = [];
    let next = 0;
    while (hot.retiredBytes() < 2 * MIB && next < sources.length - 1) {
      const source = sources[next++]!;
      hot.bytesFor(source, contentKeyOf(source));
      const bytes = await bytesOnceRead(hot, source);
      assert.ok(bytes !== undefined, `file ${next - 1} was not read while retired bytes were ${hot.retiredBytes()}`);
      held.push(bytes);
      assert.ok(hot.cachedBytes <= 2 * MIB);
    }
    assert.equal(hot.retiredBytes(), 2 * MIB);
    const last = sources[next]!;
    hot.bytesFor(last, contentKeyOf(last));
    hot.bytesFor(last, contentKeyOf(last));
    await delay(50);
    assert.equal(hot.bytesFor(last, contentKeyOf(last)), undefined, 'read into memory beyond the budget');
    assert.ok(held.length >= 2); // held until here
  });
});

describe('hot files over a socket', () => {
  let folder: ReturnType<typeof makeTempDir>;
  let server: RunningServer;
  const content = patternBytes(3 * MIB + 17);
  before(async () => {
    folder = makeTempDir('sockhttp-hot-served-');
    writeFileSync(join(folder.path, 'mid.bin'), content);
    server = await startStaticServer(folder.path);
  });
  after(async () => {
    await server.close();
    folder.remove();
  });

  test('byte-exact from memory, keep-alive or not; a rewrite is served at once', async () => {
    for (let i = 0; i < 5; i++) {
      const result = await download(server.port, '/mid.bin', { keepAlive: i % 2 === 0, timeoutMs: 20_000 });
      assert.equal(result.status, 200);
      assert.equal(result.sha256, sha256(content), `download ${i}`);
      await delay(20); // lets the background read finish
    }
    const next = Buffer.from(content);
    next.fill(7, 1000, 2000);
    writeFileSync(join(folder.path, 'mid.bin'), next);
    await delay(5);
    for (let i = 0; i < 3; i++) {
      const result = await download(server.port, '/mid.bin', { timeoutMs: 20_000 });
      assert.equal(result.sha256, sha256(next), `download ${i} after the rewrite`);
    }
  });

  test('a range of a hot file is still the exact slice', async () => {
    for (let i = 0; i < 3; i++) await download(server.port, '/mid.bin', { timeoutMs: 20_000 });
    const response = await fetch(server.url('/mid.bin'), { headers: { range: 'bytes=1000-1999' } });
    assert.equal(response.status, 206);
    assert.ok(Buffer.from(await response.arrayBuffer()).equals((await currentContent()).subarray(1000, 2000)));
  });

  async function currentContent(): Promise<Buffer> {
    const { readFile } = await import('node:fs/promises');
    return readFile(join(folder.path, 'mid.bin'));
  }
});
