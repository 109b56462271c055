/**
 * The file index's own parts: the stat taken once per turn of the event loop, and the content
 * cache's synchronous peek; then, over a socket, that remembered answers (a 404 too) follow the disk.
 */
import assert from 'node:assert/strict';
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StatsOfThisTurn } from '../../src/static/file-access.js';
import { BufferCache } from '../../src/static/file-index.js';
import { type RunningServer, makeTempDir, rawExchange, startStaticServer } from '../helpers.js';
import { parseSingleResponse } from '../net/server/helpers.js';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('StatsOfThisTurn', () => {
  let folder: ReturnType<typeof makeTempDir>;
  before(() => (folder = makeTempDir()));
  after(() => folder.remove());

  test('within one turn a path is stat-ed once; the next turn sees the change', async () => {
    const path = join(folder.path, 'a.txt');
    writeFileSync(path, 'one');
    const stats = new StatsOfThisTurn();
    assert.equal(stats.of(path)?.size, 3);
    writeFileSync(path, 'three');
    assert.equal(stats.of(path)?.size, 3, 'the same turn must reuse its stat');
    await nextTurn();
    await nextTurn();
    assert.equal(stats.of(path)?.size, 5, 'a later turn must stat again');
  });

  test('absence is remembered for the turn too, and a file created later is seen the next turn', async () => {
    const path = join(folder.path, 'later.txt');
    const stats = new StatsOfThisTurn();
    assert.equal(stats.of(path), undefined);
    writeFileSync(path, 'here');
    assert.equal(stats.of(path), undefined);
    await nextTurn();
    await nextTurn();
    assert.equal(stats.of(path)?.size, 4);
  });
});

describe('BufferCache.peek', () => {
  test('undefined while the bytes are being produced, the bytes once they are', async () => {
    const cache = new BufferCache(100);
    assert.equal(cache.peek('k'), undefined);
    const pending = cache.get('k', async () => Buffer.from('abc'));
    assert.equal(cache.peek('k'), undefined);
    await pending;
    assert.deepEqual(cache.peek('k'), Buffer.from('abc'));
    cache.delete('k');
    assert.equal(cache.peek('k'), undefined);
  });
});

describe('remembered answers follow the disk', () => {
  let folder: ReturnType<typeof makeTempDir>;
  let server: RunningServer;
  before(async () => {
    folder = makeTempDir();
    server = await startStaticServer(folder.path);
  });
  after(async () => {
    await server.close();
    folder.remove();
  });

  const status = async (path: string) =>
    parseSingleResponse(
      await rawExchange(server.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { timeoutMs: 10_000 }),
      'GET',
    ).status;

  test('a 404 becomes a 200 once the file exists, and a 404 again once it is gone', async () => {
    const path = join(folder.path, 'late.html');
    assert.equal(await status('/late.html'), 404);
    assert.equal(await status('/late.html'), 404);
    writeFileSync(path, '<p>late</p>');
    assert.equal(await status('/late.html'), 200);
    unlinkSync(path);
    assert.equal(await status('/late.html'), 404);
  });
});
