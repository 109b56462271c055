/**
 * Our HTTP/2 client against our own HTTP/2 server (h2c with prior knowledge on a plain port):
 * files byte-exact, several streams on one connection, HEAD, a range, a 404, a conditional GET.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from '../../../src/index.js';
import { type RunningServer, makeTempDir, startStaticServer } from '../../helpers.js';
import { readAll } from './helpers.js';

const BOUND = { timeoutMs: 10_000, httpVersion: '2-prior-knowledge' as const };

describe('our client and our server over h2c', () => {
  const folder = makeTempDir('sockhttp-h2-own-');
  const big = Buffer.alloc(700_000);
  for (let index = 0; index < big.length; index++) big[index] = (index * 13 + (index >> 9)) & 0xff;
  let server: RunningServer;
  before(async () => {
    writeFileSync(join(folder.path, 'big.bin'), big);
    for (const name of ['a', 'b', 'c', 'd']) writeFileSync(join(folder.path, `${name}.txt`), `file ${name}\n`);
    server = await startStaticServer(folder.path);
  });
  after(async () => {
    await server.close();
    folder.remove();
  });

  test('four files at once on one connection, and a 700 KB file byte-exact', async () => {
    const agent = new Agent();
    try {
      const texts = await Promise.all(
        ['a', 'b', 'c', 'd'].map(async (name) => {
          const response = await request(server.url(`/${name}.txt`), { ...BOUND, agent });
          assert.equal(response.version, '2');
          return (await readAll(response.body)).toString();
        }),
      );
      assert.deepEqual(texts, ['file a\n', 'file b\n', 'file c\n', 'file d\n']);
      const response = await request(server.url('/big.bin'), { ...BOUND, agent });
      assert.equal(response.fields.get('content-length'), String(big.length));
      assert.ok((await readAll(response.body)).equals(big));
      assert.equal(agent.connectionsOpened, 1);
    } finally {
      agent.close();
    }
  });

  test('HEAD, a range, a 404 and a conditional GET behave as over HTTP/1.1', async () => {
    const head = await request(server.url('/big.bin'), { ...BOUND, method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal((await readAll(head.body)).length, 0);
    const range = await request(server.url('/big.bin'), { ...BOUND, headers: { Range: 'bytes=10-19' } });
    assert.equal(range.status, 206);
    assert.ok((await readAll(range.body)).equals(big.subarray(10, 20)));
    const missing = await request(server.url('/nope'), BOUND);
    assert.equal(missing.status, 404);
    await readAll(missing.body);
    const etag = head.fields.get('etag');
    assert.ok(etag !== undefined);
    const again = await request(server.url('/big.bin'), { ...BOUND, headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    assert.equal((await readAll(again.body)).length, 0);
  });
});
