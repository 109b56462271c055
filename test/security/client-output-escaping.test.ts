/**
 * What a server chooses (its reason phrase, its field values, its certificate's names) reaches the
 * terminal or a JSON reader of `sockhttp get` escaped, whichever way it is shown: -i, -I, -w,
 * --json-output and -v. The parser lets obs-text through (bytes 0x80-0xFF, RFC 9112 §4, RFC 9110
 * §5.5), and among those are the C1 controls 0x9b (CSI) and 0x9d (OSC), which terminals act on
 * whether they arrive raw or as UTF-8 (C2 9B). One helper escapes them all (escapeBytes, as -v and
 * --trace always did): valid UTF-8 is shown as text, controls and other bytes as \xNN or \u{NN}.
 * The body itself, and --raw, are the server's bytes as sent, on purpose (as in curl).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConnectionDetails } from '../../src/index.js';
import { verboseLines } from '../../src/cli/get-report.js';
import { runCli } from '../helpers.js';
import { type RawServer, startRawServer } from '../net/client/helpers.js';

const MAX_TIME = ['--max-time', '15'];

/** CSI "31m" (red), OSC "0;pwned" ST (window title), a lone 0xff, and CSI encoded as UTF-8. */
const HOSTILE = '\x9b31mred\x9d0;pwned\x9c\xff\xc2\x9b2J';
/** The same, as escapeBytes shows it. */
const SHOWN = '\\x9b31mred\\x9d0;pwned\\x9c\\xff\\u{9b}2J';

async function withServer<T>(head: string, body: (server: RawServer) => Promise<T>): Promise<T> {
  const server = await startRawServer({ pieces: [head] });
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

/** Output decoded as UTF-8: a raw C1 byte shows up as U+FFFD, a UTF-8-encoded one as U+0080-U+009F. */
function assertNoControls(output: string, what: string): void {
  assert.doesNotMatch(
    output,
    /[\u0080-\u009f\ufffd\u001b\u0000-\u0008\u000b\u000c\u000e-\u001f]/,
    `${what} carries control characters: ${JSON.stringify(output)}`,
  );
}

const HOSTILE_HEAD = `HTTP/1.1 200 OK ${HOSTILE}\r\nX-Evil: a${HOSTILE}b\r\nContent-Type: text/plain${HOSTILE}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`;

describe('sockhttp get: server text on stdout is escaped', () => {
  test('-i: the reason phrase and field values are escaped in the head shown before the body', async () => {
    await withServer(HOSTILE_HEAD, async (server) => {
      const result = await runCli(['get', '-i', server.url('/'), ...MAX_TIME]);
      assert.equal(result.code, 0, result.stderr);
      const stdout = result.stdout.toString('utf8');
      assertNoControls(stdout.replace(/\r\n/g, ''), 'stdout');
      assert.equal(
        stdout,
        `HTTP/1.1 200 OK ${SHOWN}\r\nX-Evil: a${SHOWN}b\r\nContent-Type: text/plain${SHOWN}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`,
      );
    });
  });

  test('-I: the same for a HEAD response', async () => {
    await withServer(`HTTP/1.1 200 ${HOSTILE}\r\nX-Evil: ${HOSTILE}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, async (server) => {
      const result = await runCli(['get', '-I', server.url('/'), ...MAX_TIME]);
      assert.equal(result.code, 0, result.stderr);
      const stdout = result.stdout.toString('utf8');
      assertNoControls(stdout.replace(/\r\n/g, ''), 'stdout');
      assert.equal(stdout, `HTTP/1.1 200 ${SHOWN}\r\nX-Evil: ${SHOWN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    });
  });

  test('-i: a reason phrase in valid UTF-8 is shown as text', async () => {
    const reason = Buffer.from('Não Encontrado', 'utf8').toString('latin1');
    await withServer(`HTTP/1.1 404 ${reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, async (server) => {
      const result = await runCli(['get', '-i', server.url('/'), ...MAX_TIME]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout.toString('utf8'), /^HTTP\/1\.1 404 Não Encontrado\r\n/);
    });
  });

  test('--json-output: field values are escaped, and the line is JSON', async () => {
    await withServer(HOSTILE_HEAD, async (server) => {
      const result = await runCli(['get', '--json-output', '-o', '/dev/null', server.url('/'), ...MAX_TIME]);
      assert.equal(result.code, 0, result.stderr);
      const stdout = result.stdout.toString('utf8');
      assertNoControls(stdout, 'stdout');
      const report = JSON.parse(stdout) as { headers: Record<string, string[]>; content_type: string };
      assert.deepEqual(report.headers['x-evil'], [`a${SHOWN}b`]);
      assert.equal(report.content_type, `text/plain${SHOWN}`);
    });
  });

  test('-w %{content_type} and %{json}: escaped too', async () => {
    await withServer(HOSTILE_HEAD, async (server) => {
      const result = await runCli(['get', '-w', '%{content_type}\\n%{json}\\n', '-o', '/dev/null', server.url('/'), ...MAX_TIME]);
      assert.equal(result.code, 0, result.stderr);
      const stdout = result.stdout.toString('utf8');
      assertNoControls(stdout.replace(/\n/g, ''), 'stdout');
      const [contentType, json] = stdout.split('\n');
      assert.equal(contentType, `text/plain${SHOWN}`);
      assert.equal((JSON.parse(json!) as { content_type: string }).content_type, `text/plain${SHOWN}`);
    });
  });

  test('-v: the names in the server certificate are escaped', () => {
    const details: ConnectionDetails = {
      id: 1,
      host: 'example.test',
      port: 443,
      remoteAddress: '127.0.0.1',
      remotePort: 443,
      proxy: null,
      tls: {
        protocol: 'TLSv1.3',
        cipher: 'TLS_AES_128_GCM_SHA256',
        alpnProtocol: 'http/1.1',
        verified: false,
        subject: 'evil\u009b2J\u001b]0;x\u0007',
        issuer: 'Ünïcode CA\u202e',
      },
      timings: { nameLookup: 0, connect: 0, appConnect: 0 },
    };
    const lines = verboseLines({
      type: 'request',
      url: new URL('https://example.test/'),
      connection: details,
      reused: false,
      head: Buffer.from('GET / HTTP/1.1\r\n\r\n'),
    });
    const certificate = lines.find((line) => line.startsWith('* Server certificate'))!;
    assertNoControls(certificate, 'the certificate line');
    assert.equal(
      certificate,
      '* Server certificate: subject evil\\u{9b}2J\\x1b]0;x\\x07, issuer Ünïcode CA\\u{202e}; NOT verified (--insecure)',
    );
  });
});
