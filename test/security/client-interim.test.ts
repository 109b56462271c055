/**
 * Interim (1xx) responses are bounded. A server may send any number of them before its final
 * response (RFC 9110 §15.2), so a hostile one can send `100 Continue` forever: a client that keeps
 * reading them (and keeping every head for -i) grows until the process dies. The client takes at
 * most 10 per exchange, and counts their bytes against the head limit (as Go's net/http does); more
 * is a 'too-many-interim-responses' or 'head-too-large' failure, exit 8 or 100 for `sockhttp get`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClientError, type ClientErrorCode, request } from '../../src/index.js';
import { assertOneLine, readAll, startRawServer } from '../net/client/helpers.js';
import { runGet, withServer, write, writeForever } from './hostile-peer.js';

const MB = 1000 * 1000;
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const FINAL = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi';

function clientError(code: ClientErrorCode) {
  return (error: unknown) => {
    assert.ok(error instanceof ClientError, `expected a ClientError, got ${String(error)}`);
    assert.equal(error.code, code, `error message: ${error.message}`);
    return true;
  };
}

async function fetchFrom(pieces: string[], options: Parameters<typeof request>[1] = {}) {
  const server = await startRawServer({ pieces });
  try {
    const response = await request(server.url('/'), { timeoutMs: 10_000, ...options });
    return { response, body: (await readAll(response.body)).toString() };
  } finally {
    await server.close();
  }
}

describe('request(): interim responses are bounded', () => {
  test('10 interim responses, then the final one: read as usual', async () => {
    const { response, body } = await fetchFrom([
      CONTINUE.repeat(9),
      'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n',
      FINAL,
    ]);
    assert.equal(response.status, 200);
    assert.equal(body, 'hi');
  });

  test('an 11th interim response: too-many-interim-responses', async () => {
    await assert.rejects(fetchFrom([CONTINUE.repeat(11), FINAL]), clientError('too-many-interim-responses'));
  });

  test('maxInterimResponses sets the bound', async () => {
    await assert.rejects(fetchFrom([CONTINUE.repeat(3), FINAL], { maxInterimResponses: 2 }), clientError('too-many-interim-responses'));
    const { response } = await fetchFrom([CONTINUE.repeat(2), FINAL], { maxInterimResponses: 2 });
    assert.equal(response.status, 200);
  });

  test('interim heads count against the head limit: a few large ones are head-too-large', async () => {
    // Each is under the limit of one head (256 KiB), together they are not.
    const large = `HTTP/1.1 103 Early Hints\r\n${`Link: <${'x'.repeat(1000)}>\r\n`.repeat(100)}\r\n`;
    await assert.rejects(fetchFrom([large.repeat(3), FINAL]), clientError('head-too-large'));
  });
});

describe('sockhttp get: an endless stream of 100 Continue', () => {
  for (const extra of [[], ['-i'], ['-v'], ['--raw']]) {
    test(`${extra.join(' ') || 'no option'}: exit 8 after a few, one line on stderr, memory flat`, async () => {
      await withServer(
        (socket, log) => writeForever(socket, log, CONTINUE.repeat(1000)),
        async (server) => {
          const result = await runGet([server.url, '--max-time', '20', '-o', '/dev/null', ...extra]);
          assert.equal(result.signal, null, 'killed after its time was up');
          assert.equal(result.code, 8, result.stderr);
          const errors = extra.includes('-v')
            ? result.stderr
                .split('\n')
                .filter((line) => line.startsWith('sockhttp get:'))
                .join('\n') + '\n'
            : result.stderr;
          assertOneLine(errors);
          assert.match(errors, /^sockhttp get: .*interim/);
          assert.ok(result.peakRss < 150 * MB, `RSS reached ${(result.peakRss / MB).toFixed(1)} MB`);
          const [connection] = server.connections;
          assert.ok(
            connection !== undefined && connection.written < 64 * MB,
            `the server wrote ${connection?.written} bytes before the client gave up`,
          );
        },
      );
    });
  }

  test('-i shows the interim heads and the final one, escaped, before the body', async () => {
    await withServer(
      (socket, log) => {
        write(socket, log, `${CONTINUE}HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n${FINAL}`);
        socket.end();
      },
      async (server) => {
        const result = await runGet([server.url, '-i', '--max-time', '20']);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(
          result.stdout.toString('latin1'),
          'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi',
        );
      },
    );
  });
});
