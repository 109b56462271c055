/**
 * `sockhttp get -e`: curl's ';auto'. `-e 'URL;auto'` sends URL with the first request and, with -L,
 * each following request names the URL that redirected to it, without credentials or fragment
 * (RFC 9110 §10.1.3); ';auto' alone sends no Referer first. The server is node:http: /a redirects
 * to /b, /b to /c, and each request's Referer is recorded.
 */
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers.js';

describe("sockhttp get -e ';auto'", () => {
  let server: Server;
  let base: string;
  let seen: Array<[string, string | undefined]> = [];
  before(async () => {
    server = createServer((request, response) => {
      seen.push([request.url!, request.headers.referer]);
      const next = { '/a': '/b', '/b': '/c' }[request.url!];
      if (next !== undefined) response.writeHead(302, { location: next }).end();
      else response.end('done');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  const referers = async (args: string[], url = `${base}/a`) => {
    seen = [];
    const result = await runCli(['get', '--max-time', '20', ...args, url]);
    assert.equal(result.code, 0, result.stderr);
    return seen;
  };

  test("-L -e ';auto': no Referer first, then the URL that redirected", async () => {
    assert.deepEqual(await referers(['-L', '-e', ';auto']), [
      ['/a', undefined],
      ['/b', `${base}/a`],
      ['/c', `${base}/b`],
    ]);
  });

  test("-L -e 'URL;auto': URL first, then the URL that redirected", async () => {
    assert.deepEqual(await referers(['-L', '-e', 'http://from.example/;auto']), [
      ['/a', 'http://from.example/'],
      ['/b', `${base}/a`],
      ['/c', `${base}/b`],
    ]);
  });

  test('the Referer names the URL without its user, password or fragment', async () => {
    const url = `http://ann:secret@127.0.0.1:${(server.address() as AddressInfo).port}/a#part`;
    assert.deepEqual((await referers(['-L', '-e', ';auto'], url))[1], ['/b', `${base}/a`]);
  });

  test('without ;auto, -e URL is sent with every request of the chain', async () => {
    assert.deepEqual(await referers(['-L', '-e', 'http://from.example/']), [
      ['/a', 'http://from.example/'],
      ['/b', 'http://from.example/'],
      ['/c', 'http://from.example/'],
    ]);
  });

  test("without -L, ';auto' changes nothing: one request, no Referer", async () => {
    assert.deepEqual(await referers(['-e', ';auto']), [['/a', undefined]]);
  });
});
