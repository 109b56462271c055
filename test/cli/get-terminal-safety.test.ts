/**
 * A hostile server cannot drive the terminal of someone running `sockhttp get`: what it puts in a
 * reason phrase or a field value reaches stderr (-v, --fail, a refused CONNECT) escaped. The parser
 * lets obs-text through (bytes 0x80-0xFF, RFC 9112 §4), and among those are the C1 controls 0x9b
 * (CSI) and 0x9d (OSC), which terminals act on. The servers here are raw node:net sockets writing
 * exact bytes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli } from '../helpers.js';
import { type RawServer, startRawServer } from '../net/client/helpers.js';

const MAX_TIME = ['--max-time', '15'];

/** CSI "31m" (red), OSC "0;pwned" ST (window title), and a lone 0xff: bytes a terminal must never see raw. */
const HOSTILE = '\x9b31mred\x9d0;pwned\x9c\xff';

async function withServer<T>(head: string, body: (server: RawServer) => Promise<T>): Promise<T> {
  const server = await startRawServer({ pieces: [head] });
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

/** stderr is decoded as UTF-8: a raw C1 byte shows up as U+FFFD, a UTF-8-encoded one as U+0080-U+009F. */
function assertNoControls(stderr: string): void {
  assert.doesNotMatch(stderr, /[\u0080-\u009f\ufffd\u001b]/, `stderr carries control characters: ${JSON.stringify(stderr)}`);
}

describe('sockhttp get: server text on stderr is escaped', () => {
  test('-v: a reason phrase with C1 controls is shown escaped', async () => {
    const head = `HTTP/1.1 200 OK ${HOSTILE}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`;
    await withServer(head, async (server) => {
      const result = await runCli(['get', '-v', server.url('/'), ...MAX_TIME]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.toString(), 'hi');
      assertNoControls(result.stderr);
      assert.match(result.stderr, /^< HTTP\/1\.1 200 OK \\x9b31mred\\x9d0;pwned\\x9c\\xff$/m);
    });
  });

  test('-v: a field value with C1 controls is shown escaped', async () => {
    const head = `HTTP/1.1 200 OK\r\nX-Evil: a${HOSTILE}b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
    await withServer(head, async (server) => {
      const result = await runCli(['get', '-v', server.url('/'), ...MAX_TIME]);
      assert.equal(result.code, 0, result.stderr);
      assertNoControls(result.stderr);
      assert.match(result.stderr, /^< X-Evil: a\\x9b31mred\\x9d0;pwned\\x9c\\xffb$/m);
    });
  });

  test('-v: a reason phrase in valid UTF-8 is shown as text', async () => {
    const reason = Buffer.from('Não Encontrado', 'utf8').toString('latin1'); // the bytes as sent
    await withServer(`HTTP/1.1 404 ${reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, async (server) => {
      const result = await runCli(['get', '-v', server.url('/'), ...MAX_TIME]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /^< HTTP\/1\.1 404 Não Encontrado$/m);
    });
  });

  test('--fail: the error message escapes the reason phrase', async () => {
    await withServer(`HTTP/1.1 404 Not Found ${HOSTILE}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, async (server) => {
      const result = await runCli(['get', '--fail', server.url('/'), ...MAX_TIME]);
      assert.equal(result.code, 22, result.stderr);
      assertNoControls(result.stderr);
      assert.equal(result.stderr, 'sockhttp get: the server answered 404 Not Found \\x9b31mred\\x9d0;pwned\\x9c\\xff (--fail)\n');
    });
  });

  test('a proxy refusing CONNECT: its reason phrase is escaped in the error (exit 97)', async () => {
    await withServer(`HTTP/1.1 403 ${HOSTILE}\r\nContent-Length: 0\r\n\r\n`, async (proxy) => {
      const result = await runCli(['get', '-x', `http://127.0.0.1:${proxy.port}`, 'https://origin.test/', ...MAX_TIME]);
      assert.equal(result.code, 97, result.stderr);
      assertNoControls(result.stderr);
      assert.match(result.stderr, /refused the tunnel to origin\.test:443: 403 \\x9b31mred\\x9d0;pwned\\x9c\\xff\n$/);
    });
  });
});
