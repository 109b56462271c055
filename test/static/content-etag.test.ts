/**
 * --etag content (StaticOptions.etag 'content'): two replicas serving copies of one folder whose
 * files have different modification times give the same ETag, and each answers the other's ETag
 * with 304; a changed file gets a new ETag at once (never stale).
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { appendFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ContentTags } from '../../src/static/content-tags.js';
import { FileAccess, type FileIdentity } from '../../src/static/file-access.js';
import { type RunningServer, makeTempDir, startStaticServer } from '../helpers.js';

interface Answer {
  status: number;
  etag: string | undefined;
  body: string;
}

/** A GET with node:http (a peer nobody here wrote). */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port, path, headers, agent: false }, (response) => {
      let body = '';
      response.setEncoding('latin1');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, etag: response.headers.etag, body }));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

const LARGE = 'x'.repeat(300 * 1024); // past the small-file cache and one hashing read
const FILES: Record<string, string> = { 'a.txt': 'replica content\n', 'page.html': `<p>${'text '.repeat(400)}</p>`, 'big.txt': LARGE };

describe('--etag content', () => {
  const folders = [makeTempDir(), makeTempDir()];
  let replicas: RunningServer[] = [];
  let mtimeReplica: RunningServer;

  before(async () => {
    for (const [index, folder] of folders.entries()) {
      for (const [name, text] of Object.entries(FILES)) {
        writeFileSync(join(folder.path, name), text);
        // a day apart: what mtime-based validators would differ on
        const when = new Date(Date.UTC(2024, 0, 1 + index));
        utimesSync(join(folder.path, name), when, when);
      }
    }
    replicas = await Promise.all(folders.map((folder) => startStaticServer(folder.path, { etag: 'content' })));
    mtimeReplica = await startStaticServer(folders[1]!.path);
  });

  after(async () => {
    await Promise.all([...replicas, mtimeReplica].map((replica) => replica.close()));
    for (const folder of folders) folder.remove();
  });

  for (const name of Object.keys(FILES)) {
    test(`${name}: the same ETag from both replicas, and 304 from each for the other's`, async () => {
      const [first, second] = await Promise.all(replicas.map((replica) => get(replica.port, `/${name}`)));
      assert.equal(first!.status, 200);
      assert.equal(first!.body, FILES[name]);
      assert.ok(first!.etag?.startsWith('"'), `a strong ETag: ${first!.etag}`);
      assert.equal(first!.etag, second!.etag);
      const crossed = await get(replicas[1]!.port, `/${name}`, { 'If-None-Match': first!.etag! });
      assert.equal(crossed.status, 304);
      assert.equal(crossed.etag, first!.etag);
      const back = await get(replicas[0]!.port, `/${name}`, { 'If-None-Match': second!.etag! });
      assert.equal(back.status, 304);
    });
  }

  test('compressed representations agree too, each with a tag of its own', async () => {
    const headers = { 'Accept-Encoding': 'gzip' };
    const [first, second] = await Promise.all(replicas.map((replica) => get(replica.port, '/page.html', headers)));
    const identity = await get(replicas[0]!.port, '/page.html');
    assert.equal(first!.etag, second!.etag);
    assert.notEqual(first!.etag, identity.etag);
    assert.equal((await get(replicas[1]!.port, '/page.html', { ...headers, 'If-None-Match': first!.etag! })).status, 304);
  });

  test('without it, the replicas disagree (the bug class it fixes)', async () => {
    const contentTag = (await get(replicas[1]!.port, '/a.txt')).etag!;
    const mtimeTag = (await get(mtimeReplica.port, '/a.txt')).etag!;
    const other = await get(replicas[0]!.port, '/a.txt');
    assert.notEqual(mtimeTag, contentTag);
    assert.equal((await get(mtimeReplica.port, '/a.txt', { 'If-None-Match': other.etag! })).status, 200);
  });

  test('a changed file gets a new ETag at once, and the old one no longer matches', async () => {
    const path = join(folders[0]!.path, 'a.txt');
    const before = await get(replicas[0]!.port, '/a.txt');
    writeFileSync(path, 'changed content, same replica\n');
    const afterChange = await get(replicas[0]!.port, '/a.txt', { 'If-None-Match': before.etag! });
    assert.equal(afterChange.status, 200);
    assert.equal(afterChange.body, 'changed content, same replica\n');
    assert.notEqual(afterChange.etag, before.etag);
    // Back to the old bytes (with a new mtime): the old tag is valid again, as the bytes are.
    writeFileSync(path, FILES['a.txt']!);
    assert.equal((await get(replicas[0]!.port, '/a.txt', { 'If-None-Match': before.etag! })).status, 304);
  });
});

describe('content tags are never stale', () => {
  test('a file written to while it is hashed: the tag is not kept, and the next request hashes the new bytes', async () => {
    const folder = makeTempDir();
    try {
      const path = join(folder.path, 'moving.txt');
      writeFileSync(path, 'a'.repeat(600 * 1024)); // three pieces of 256 KiB
      const access = FileAccess.forRoot(folder.path, { allowDotfiles: false, symlinks: 'follow-inside' });
      const opened = access.open(path, false);
      assert.equal(opened.kind, 'file');
      const source = { realPath: (opened as { realPath: string }).realPath, identity: (opened as { identity: FileIdentity }).identity };
      let pieces = 0;
      const unchanged = await access.readPieces(source, 256 * 1024, () => {
        if (pieces++ === 0) appendFileSync(path, 'written meanwhile');
      });
      assert.equal(unchanged, false, 'the read saw the file change');
      assert.ok(pieces >= 2);

      // ContentTags keeps no tag for a version that changed under its read.
      writeFileSync(path, 'b'.repeat(600 * 1024));
      const again = access.open(path, false) as { realPath: string; identity: FileIdentity };
      const tags = new ContentTags(access);
      const steady = await tags.compute({ realPath: again.realPath, identity: again.identity });
      assert.equal(tags.peek({ realPath: again.realPath, identity: again.identity }), steady, 'an unchanged read is kept');
      writeFileSync(path, 'c'.repeat(600 * 1024));
      // the old version is gone: asking for its bytes fails (ESTALE), never answers with the old tag for new bytes
      await assert.rejects(tags.compute({ realPath: again.realPath, identity: { ...again.identity, size: again.identity.size + 1 } }), {
        code: 'ESTALE',
      });
    } finally {
      folder.remove();
    }
  });
});
