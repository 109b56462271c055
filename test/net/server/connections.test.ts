/**
 * The connection loop over real sockets: keep-alive, pipelining, closing rules, half-closed clients,
 * malformed requests, slow and stalled clients, timeouts and graceful shutdown. Every peer is a
 * hand-written raw socket sending exact bytes.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type RunningServer, makeTempDir, rawExchange, startStaticServer } from '../../helpers.js';
import { RawConnection, delay, download, parseResponses, parseSingleResponse, patternBytes, sha256, writeTree } from './helpers.js';

const A = 'the first file\n';
const B = 'the second file, a little longer\n';
const C = 'the third\n';
const ONE_MIB = patternBytes(1024 * 1024);
/** Sent in one write with its head, and larger than a socket's high-water mark (16 KiB). */
const FORTY_KIB = patternBytes(40 * 1024);
const LARGE = patternBytes(32 * 1024 * 1024);

let tree: ReturnType<typeof makeTempDir>;
let server: RunningServer;

before(async () => {
  tree = makeTempDir();
  writeTree(tree.path, { 'a.txt': A, 'b.txt': B, 'c.txt': C, 'one-mib.bin': ONE_MIB, 'forty-kib.bin': FORTY_KIB, 'large.bin': LARGE });
  server = await startStaticServer(tree.path);
});

after(async () => {
  await server?.close();
  tree?.remove();
});

function get(target: string, extra = '', version = '1.1'): string {
  return `GET ${target} HTTP/${version}\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
}

/** Opens a raw connection, runs `body`, and always destroys the connection. */
async function withConnection<T>(port: number, body: (connection: RawConnection) => Promise<T>): Promise<T> {
  const connection = await RawConnection.open(port);
  try {
    return await body(connection);
  } finally {
    connection.destroy();
  }
}

describe('keep-alive and pipelining', () => {
  test('two requests on one connection are both answered, and the connection stays open', async () => {
    await withConnection(server.port, async (connection) => {
      connection.write(get('/a.txt'));
      const first = await connection.readResponse();
      assert.equal(first.status, 200);
      assert.equal(first.body.toString(), A);
      assert.equal(first.field('connection'), undefined);

      connection.write(get('/b.txt'));
      const second = await connection.readResponse();
      assert.equal(second.status, 200);
      assert.equal(second.body.toString(), B);
      assert.equal(connection.serverEnded, false);

      // Still open: a third request on the same socket is answered too.
      connection.write(get('/c.txt'));
      assert.equal((await connection.readResponse()).body.toString(), C);
    });
  });

  test('three pipelined requests in one write, one with a body, are answered in order', async () => {
    await withConnection(server.port, async (connection) => {
      connection.write(get('/a.txt') + 'POST /b.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 11\r\n\r\nhello world' + get('/c.txt'));
      const first = await connection.readResponse();
      const second = await connection.readResponse();
      const third = await connection.readResponse();
      assert.deepEqual([first.status, second.status, third.status], [200, 405, 200]);
      assert.equal(first.body.toString(), A);
      assert.equal(second.field('allow'), 'GET, HEAD, OPTIONS');
      assert.equal(third.body.toString(), C);
      assert.equal(connection.serverEnded, false);
    });
  });

  test('pipelined GET, HEAD, chunked POST and GET: each framed right', async () => {
    await withConnection(server.port, async (connection) => {
      const chunkedPost =
        'POST /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n';
      connection.write(get('/a.txt') + 'HEAD /b.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' + chunkedPost + get('/c.txt'));
      const first = await connection.readResponse('GET');
      const head = await connection.readResponse('HEAD');
      const post = await connection.readResponse('POST');
      const last = await connection.readResponse('GET');
      assert.deepEqual([first.status, head.status, post.status, last.status], [200, 200, 405, 200]);
      assert.equal(first.body.toString(), A);
      assert.equal(head.field('content-length'), String(B.length));
      assert.equal(last.body.toString(), C);
    });
  });

  test('a thousand pipelined requests (more than the server buffers) are all answered, in order', async () => {
    const count = 1_000;
    const requests = Array.from({ length: count }, (_, index) =>
      get(index % 2 === 0 ? '/a.txt' : '/b.txt', index === count - 1 ? 'Connection: close\r\n' : ''),
    );
    const received = await rawExchange(server.port, requests.join(''), { timeoutMs: 20_000 });
    const { responses, rest } = parseResponses(received);
    assert.equal(rest.length, 0);
    assert.equal(responses.length, count);
    responses.forEach((response, index) => {
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), index % 2 === 0 ? A : B, `response ${index}`);
    });
  });
});

describe('responses held until the end of the event-loop turn (corked keep-alive responses)', () => {
  test('pipelined responses larger than the socket buffer: each waits for the last to drain, all whole and in order', async () => {
    // Held responses past the high-water mark make the connection wait for 'drain', which only
    // comes once the held bytes are written at the end of the turn: it must come.
    const count = 12;
    const requests = Array.from({ length: count }, (_, index) =>
      get(index % 3 === 0 ? '/a.txt' : '/forty-kib.bin', index === count - 1 ? 'Connection: close\r\n' : ''),
    );
    const received = await rawExchange(server.port, requests.join(''), { timeoutMs: 20_000 });
    const { responses, rest } = parseResponses(received);
    assert.equal(rest.length, 0);
    assert.equal(responses.length, count);
    responses.forEach((response, index) => {
      assert.equal(response.status, 200, `response ${index}`);
      assert.ok(response.body.equals(index % 3 === 0 ? Buffer.from(A) : FORTY_KIB), `response ${index}`);
    });
  });

  test('many connections answered in the same turn each get their response, and stay open for the next', async () => {
    const connections = await Promise.all(Array.from({ length: 20 }, () => RawConnection.open(server.port)));
    try {
      for (let round = 0; round < 2; round++) {
        for (const connection of connections) connection.write(get(round === 0 ? '/a.txt' : '/b.txt'));
        const answers = await Promise.all(connections.map((connection) => connection.readResponse()));
        for (const answer of answers) {
          assert.equal(answer.status, 200);
          assert.equal(answer.body.toString(), round === 0 ? A : B);
          assert.equal(answer.field('connection'), undefined);
        }
      }
    } finally {
      for (const connection of connections) connection.destroy();
    }
  });

  test('a HEAD and a 304 held with a GET in one packet: each framed right, in order', async () => {
    const probe = await rawExchange(server.port, get('/a.txt', 'Connection: close\r\n'), { timeoutMs: 10_000 });
    const etag = parseSingleResponse(probe).field('etag')!;
    const wire =
      `HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n` + get('/a.txt', `If-None-Match: ${etag}\r\n`) + get('/b.txt', 'Connection: close\r\n');
    const { responses, rest } = parseResponses(await rawExchange(server.port, wire, { timeoutMs: 10_000 }), ['HEAD', 'GET', 'GET']);
    assert.equal(rest.length, 0);
    assert.deepEqual(
      responses.map((response) => [response.status, response.body.toString()]),
      [
        [200, ''],
        [304, ''],
        [200, B],
      ],
    );
    assert.equal(responses[0]!.field('content-length'), String(A.length));
  });
});

describe('closing rules', () => {
  test('Connection: close: that response is whole, the request after it in the same packet is not answered', async () => {
    await withConnection(server.port, async (connection) => {
      connection.write(get('/a.txt', 'Connection: close\r\n') + get('/b.txt'));
      const response = await connection.readResponse();
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), A);
      assert.equal(response.field('connection'), 'close');
      assert.equal(await connection.waitForServerEnd(), true);
      assert.equal(connection.pendingBytes.length, 0, `after the closing response: ${connection.pendingBytes.toString()}`);
    });
  });

  test('Connection: close with nothing after it: the server lets go of the connection once the response is out, without waiting for the client to close (no lingering)', async () => {
    const closing = await startStaticServer(tree.path);
    try {
      await withConnection(closing.port, async (connection) => {
        connection.write(get('/a.txt', 'Connection: close\r\n'));
        const response = await connection.readResponse();
        assert.equal(response.body.toString(), A);
        assert.equal(await connection.waitForServerEnd(), true);
        // The client keeps its side open. A lingering close would hold the connection for 2 s.
        for (let polls = 0; polls < 50 && closing.server.connectionCount > 0; polls++) await delay(20);
        assert.equal(closing.server.connectionCount, 0);
        assert.equal(connection.socket.writableEnded, false);
      });
    } finally {
      await closing.close();
    }
  });

  test('Connection: close on a large file: the whole file, then the close', async () => {
    const result = await download(server.port, '/one-mib.bin');
    assert.equal(result.status, 200);
    assert.equal(result.bodyBytes, ONE_MIB.length);
    assert.equal(result.sha256, sha256(ONE_MIB));
    assert.equal(result.closedByServer, true);
  });

  test('HTTP/1.0 closes after the response', async () => {
    await withConnection(server.port, async (connection) => {
      connection.write('GET /a.txt HTTP/1.0\r\n\r\n');
      const response = await connection.readResponse();
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), A);
      assert.equal(response.field('connection'), 'close');
      assert.equal(await connection.waitForServerEnd(), true);
      assert.equal(connection.pendingBytes.length, 0);
    });
  });

  test('HTTP/1.0 with Connection: keep-alive stays open and says keep-alive', async () => {
    await withConnection(server.port, async (connection) => {
      connection.write(get('/a.txt', 'Connection: keep-alive\r\n', '1.0'));
      const first = await connection.readResponse();
      assert.equal(first.status, 200);
      assert.equal(first.body.toString(), A);
      assert.equal(first.field('connection'), 'keep-alive');
      connection.write(get('/b.txt', 'Connection: keep-alive\r\n', '1.0'));
      const second = await connection.readResponse();
      assert.equal(second.body.toString(), B);
      assert.equal(second.field('connection'), 'keep-alive');
      assert.equal(connection.serverEnded, false);
      // Without keep-alive, the next HTTP/1.0 request is the last.
      connection.write(get('/c.txt', '', '1.0'));
      const third = await connection.readResponse();
      assert.equal(third.body.toString(), C);
      assert.equal(third.field('connection'), 'close');
      assert.equal(await connection.waitForServerEnd(), true);
    });
  });

  const halfClosed: Array<[name: string, request: string, body: Buffer]> = [
    ['a small file, HTTP/1.1 without Connection: close', get('/a.txt'), Buffer.from(A)],
    ['a small file, HTTP/1.0 as the lab clients send it', 'GET /a.txt HTTP/1.0\r\n\r\n', Buffer.from(A)],
    ['a 1 MiB file', get('/one-mib.bin'), ONE_MIB],
    ['a 1 MiB file with Connection: close', get('/one-mib.bin', 'Connection: close\r\n'), ONE_MIB],
  ];
  for (const [name, request, body] of halfClosed) {
    test(`a client that half-closes right after its request gets the whole response: ${name}`, async () => {
      const received = await rawExchange(server.port, request, { halfClose: true, timeoutMs: 10_000 });
      const response = parseSingleResponse(received);
      assert.equal(response.status, 200);
      assert.equal(response.body.length, body.length);
      assert.ok(response.body.equals(body));
    });
  }

  test('a half-closed client with two pipelined requests gets both answers', async () => {
    const received = await rawExchange(server.port, get('/a.txt') + get('/b.txt'), { halfClose: true });
    const { responses, rest } = parseResponses(received);
    assert.equal(rest.length, 0);
    assert.deepEqual(
      responses.map((response) => response.body.toString()),
      [A, B],
    );
  });
});

describe('malformed requests: the right status, then the connection closes', () => {
  const H = 'Host: 127.0.0.1\r\n';
  const malformed: Array<[name: string, bytes: string, status: number]> = [
    ['a bad request line', 'GARBAGE\r\n\r\n', 400],
    ['a request line without a version', `GET /a.txt\r\n${H}\r\n`, 400],
    ['two spaces in the request line', `GET  /a.txt HTTP/1.1\r\n${H}\r\n`, 400],
    ['a lowercase version', `GET /a.txt http/1.1\r\n${H}\r\n`, 400],
    ['bare LF line endings', 'GET /a.txt HTTP/1.1\nHost: 127.0.0.1\n\n', 400],
    ['raw UTF-8 in the target', `GET /\u00e9t\u00e9.txt HTTP/1.1\r\n${H}\r\n`, 400],
    [
      'Content-Length and Transfer-Encoding together',
      `POST /a.txt HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      400,
    ],
    ['two different Content-Lengths', `POST /a.txt HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, 400],
    ['a negative Content-Length', `POST /a.txt HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, 400],
    ['Transfer-Encoding in HTTP/1.0', `POST /a.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
    ['Transfer-Encoding not ending in chunked', `POST /a.txt HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, 400],
    ['a transfer coding we do not decode', `POST /a.txt HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`, 501],
    // The error is in the body, found before any answer was sent: the answer is the 400, not the file.
    ['a bad chunk size', `GET /a.txt HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, 400],
    ['chunk data longer than its size', `GET /a.txt HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n`, 400],
    ['obs-fold (a field line starting with whitespace)', `GET /a.txt HTTP/1.1\r\n${H}X-Long: one\r\n  two\r\n\r\n`, 400],
    ['whitespace before the colon', `GET /a.txt HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n`, 400],
    ['a control character in a field value', `GET /a.txt HTTP/1.1\r\n${H}X-Bad: a\u0001b\r\n\r\n`, 400],
    ['two Host fields', `GET /a.txt HTTP/1.1\r\n${H}${H}\r\n`, 400],
    ['a malformed Host', `GET /a.txt HTTP/1.1\r\nHost: a b\r\n\r\n`, 400],
    ['a head larger than 64 KiB', `GET /a.txt HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`, 431],
    [
      'more than 100 field lines',
      `GET /a.txt HTTP/1.1\r\n${H}${Array.from({ length: 120 }, (_, index) => `X-Field-${index}: ${index}\r\n`).join('')}\r\n`,
      431,
    ],
    ['a request line longer than 8 KiB', `GET /${'a'.repeat(9 * 1024)} HTTP/1.1\r\n${H}\r\n`, 414],
    ['a request line longer than 8 KiB that never ends', `GET /${'a'.repeat(20 * 1024)}`, 414],
    ['HTTP/2.0', `GET /a.txt HTTP/2.0\r\n${H}\r\n`, 505],
    // The whole preface starts HTTP/2 (h2c with prior knowledge, test/net/server/h2.test.ts); its start followed by anything else is HTTP/1.1.
    ['the start of the HTTP/2 preface, then something else', 'PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n', 505],
  ];

  for (const [name, bytes, status] of malformed) {
    test(`${name} → ${status}`, async () => {
      await withConnection(server.port, async (connection) => {
        connection.write(Buffer.from(bytes, 'utf8'));
        const response = await connection.readResponse();
        assert.equal(response.status, status);
        assert.equal(response.field('connection'), 'close');
        assert.equal(response.field('content-type'), 'text/html; charset=utf-8');
        assert.ok(response.body.toString().includes(String(status)));
        assert.equal(await connection.waitForServerEnd(), true, 'the server kept the connection open');
      });
    });
  }

  test('a POST with a bad chunk size is refused (4xx) and the connection closes', async () => {
    await withConnection(server.port, async (connection) => {
      connection.write('POST /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n' + get('/b.txt'));
      const response = await connection.readResponse();
      assert.ok(response.status === 400 || response.status === 405, `status ${response.status}`);
      assert.equal(response.field('connection'), 'close');
      assert.equal(await connection.waitForServerEnd(), true);
      assert.equal(connection.pendingBytes.length, 0, 'the request after the broken body was answered');
    });
  });

  test('a good request pipelined before a malformed one is answered first', async () => {
    await withConnection(server.port, async (connection) => {
      connection.write(get('/a.txt') + 'GARBAGE\r\n\r\n');
      const first = await connection.readResponse();
      assert.equal(first.status, 200);
      assert.equal(first.body.toString(), A);
      const second = await connection.readResponse();
      assert.equal(second.status, 400);
      assert.equal(await connection.waitForServerEnd(), true);
    });
  });
});

describe('slow and stalled clients', () => {
  test('a stalled client (half a request line, then nothing) does not delay another client', async () => {
    await withConnection(server.port, async (stalled) => {
      stalled.write('GET /a.t');
      const other = parseSingleResponse(await rawExchange(server.port, get('/b.txt', 'Connection: close\r\n')));
      assert.equal(other.status, 200);
      assert.equal(other.body.toString(), B);
      // The stalled client is still connected, and can still finish its request.
      assert.equal(stalled.serverEnded, false);
      assert.equal(stalled.pendingBytes.length, 0);
      stalled.write('xt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      const late = await stalled.readResponse();
      assert.equal(late.status, 200);
      assert.equal(late.body.toString(), A);
    });
  });

  test('a slow client trickling its head byte by byte is answered', async () => {
    await withConnection(server.port, async (connection) => {
      const request = Buffer.from(get('/c.txt'));
      for (let index = 0; index < request.length; index++) {
        connection.write(request.subarray(index, index + 1));
        await delay(5);
      }
      const response = await connection.readResponse();
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), C);
    });
  });

  // The server answers a POST without needing its body; a response sent before the body has fully
  // arrived ends the connection, so bytes still trickling in are dropped, never read as a request.
  test('a POST whose small body trickles in: the body is read and discarded first, one 405, and the connection is kept', async () => {
    await withConnection(server.port, async (connection) => {
      const body = get('/b.txt') + get('/c.txt');
      const bytes = Buffer.from(`POST /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      for (let index = 0; index < bytes.length && !connection.socket.destroyed; index++) {
        connection.write(bytes.subarray(index, index + 1));
        await delay(2);
      }
      const refused = await connection.readResponse();
      assert.equal(refused.status, 405);
      assert.notEqual(refused.field('connection'), 'close');
      // The body, which looks like two requests, was never answered as such; the next real one is.
      connection.write(get('/a.txt'));
      const next = await connection.readResponse();
      assert.equal(next.status, 200);
      assert.equal(connection.pendingBytes.length, 0, `more was answered: ${connection.pendingBytes.toString()}`);
    });
  });

  test('a POST that expects 100-continue gets its final 405 at once, with Connection: close', async () => {
    await withConnection(server.port, async (connection) => {
      connection.write('POST /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n');
      const refused = await connection.readResponse();
      assert.equal(refused.status, 405);
      assert.equal(refused.field('connection'), 'close');
    });
  });
});

describe('timeouts', () => {
  let headersServer: RunningServer;
  let idleServer: RunningServer;

  before(async () => {
    headersServer = await startStaticServer(tree.path, { timeouts: { headersMs: 300 } });
    idleServer = await startStaticServer(tree.path, { timeouts: { keepAliveMs: 300 } });
  });

  after(async () => {
    await Promise.all([headersServer?.close(), idleServer?.close()]);
  });

  test('a partial head that never completes → 408, then close', async () => {
    await withConnection(headersServer.port, async (connection) => {
      connection.write('GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      const response = await connection.readResponse();
      assert.equal(response.status, 408);
      assert.equal(response.field('connection'), 'close');
      assert.equal(await connection.waitForServerEnd(), true);
    });
  });

  test('trickling more bytes does not extend the head deadline (slowloris) → 408', async () => {
    await withConnection(headersServer.port, async (connection) => {
      connection.write('GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      // One field byte every 20 ms, never the end of the head; stops when the server ends it (or after 250 bytes).
      for (let sent = 0; sent < 250 && !connection.serverEnded && connection.pendingBytes.length === 0; sent++) {
        connection.write('X');
        await delay(20);
      }
      const response = await connection.readResponse();
      assert.equal(response.status, 408);
      assert.equal(await connection.waitForServerEnd(), true);
    });
  });

  test('an idle keep-alive connection is closed by the server, without a response', async () => {
    await withConnection(idleServer.port, async (connection) => {
      connection.write(get('/a.txt'));
      const response = await connection.readResponse();
      assert.equal(response.status, 200);
      assert.equal(response.field('connection'), undefined);
      assert.equal(await connection.waitForServerEnd(5_000), true, 'the idle connection was not closed');
      assert.equal(connection.pendingBytes.length, 0);
    });
  });

  test('a connection that never sends a byte is closed after the keep-alive time, without a response', async () => {
    await withConnection(idleServer.port, async (connection) => {
      assert.equal(await connection.waitForServerEnd(5_000), true, 'the silent connection was not closed');
      assert.equal(connection.pendingBytes.length, 0);
    });
  });

  test('the head deadline is not the idle deadline: a server with keepAliveMs 300 still serves a request begun in time', async () => {
    await withConnection(idleServer.port, async (connection) => {
      connection.write('GET /a.txt HTTP/1.1\r\n');
      // Waits longer than keepAliveMs between the two halves of the head (headersMs is the default 10 s).
      await delay(600);
      connection.write('Host: 127.0.0.1\r\n\r\n');
      const response = await connection.readResponse();
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), A);
    });
  });
});

describe('graceful close', () => {
  test('server.close() while a large response streams lets it finish, then ends the connection and refuses new ones', async () => {
    const closing = await startStaticServer(tree.path);
    let closed: Promise<void> | null = null;
    let refused: Promise<string> | null = null;
    try {
      const result = await download(closing.port, '/large.bin', {
        keepAlive: true,
        timeoutMs: 30_000,
        onBody(_total, socket) {
          if (closed !== null) return;
          // Stop reading so most of the file is still to be sent when the server is told to close.
          socket.pause();
          closed = closing.server.close(20_000);
          refused = new Promise((resolve) => {
            const probe = connect({ port: closing.port, host: '127.0.0.1' });
            probe.on('connect', () => {
              probe.destroy();
              resolve('connected');
            });
            probe.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
          });
          setTimeout(() => socket.resume(), 300);
        },
      });
      assert.notEqual(closed, null, 'the download never started');
      assert.equal(result.status, 200);
      assert.equal(result.head.field('content-length'), String(LARGE.length));
      assert.equal(result.bodyBytes, LARGE.length);
      assert.equal(result.sha256, sha256(LARGE));
      assert.equal(result.closedByServer, true);
      assert.equal(await refused, 'ECONNREFUSED');
      await closed;
    } finally {
      await (closed ?? closing.close());
    }
  });

  // close() documents that it "resolves when every connection is gone".
  test('once server.close() resolves, connectionCount is 0', async () => {
    const closing = await startStaticServer(tree.path);
    await withConnection(closing.port, async (connection) => {
      connection.write(get('/a.txt'));
      assert.equal((await connection.readResponse()).status, 200);
      assert.equal(closing.server.connectionCount, 1);
      const closed = closing.server.close(20_000);
      assert.equal(await connection.waitForServerEnd(), true);
      connection.socket.end();
      await closed;
      assert.equal(closing.server.connectionCount, 0);
    });
  });

  test('server.close() gives a connection not yet answered its first request (with Connection: close), on a plain port, where the first bytes still have to tell HTTP/1.1 from h2c', async () => {
    const closing = await startStaticServer(tree.path);
    await withConnection(closing.port, async (connection) => {
      await delay(50); // accepted, nothing sent yet
      const closed = closing.server.close(20_000);
      await delay(50);
      connection.write(get('/a.txt'));
      const response = await connection.readResponse();
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), A);
      assert.equal(response.field('connection'), 'close');
      assert.equal(await connection.waitForServerEnd(5_000), true);
      connection.socket.end();
      await closed;
    });
  });

  test('server.close() while an h2c preface is half-way on a plain port: the HTTP/2 driver gets the connection and says GOAWAY', async () => {
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
    const emptySettings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    const closing = await startStaticServer(tree.path);
    await withConnection(closing.port, async (connection) => {
      connection.write(preface.subarray(0, 10));
      await delay(50);
      const closed = closing.server.close(20_000);
      await delay(50);
      connection.write(Buffer.concat([preface.subarray(10), emptySettings]));
      assert.equal(await connection.waitForServerEnd(5_000), true);
      const frameTypes: number[] = [];
      const received = connection.pendingBytes;
      for (let offset = 0; offset + 9 <= received.length; offset += 9 + received.readUIntBE(offset, 3))
        frameTypes.push(received[offset + 3]!);
      assert.ok(frameTypes.includes(7), `GOAWAY among the frames received: ${frameTypes.join(', ')}`);
      connection.socket.end();
      await closed;
    });
  });

  test('a client that sends the first byte of the h2c preface ("P") and then shuts its side is let go at once, not after headersMs', async () => {
    const quick = await startStaticServer(tree.path);
    try {
      await withConnection(quick.port, async (connection) => {
        connection.write('P');
        await delay(50);
        connection.socket.end();
        assert.equal(await connection.waitForServerEnd(5_000), true);
      });
    } finally {
      await quick.close();
    }
  });

  test('server.close() ends idle keep-alive connections at once', async () => {
    // A long keep-alive time, so only close() can end the connection within the wait below.
    const closing = await startStaticServer(tree.path, { timeouts: { keepAliveMs: 60_000 } });
    await withConnection(closing.port, async (connection) => {
      connection.write(get('/a.txt'));
      assert.equal((await connection.readResponse()).status, 200);
      const closed = closing.server.close(20_000);
      assert.equal(await connection.waitForServerEnd(5_000), true);
      connection.socket.end();
      await closed;
    });
  });
});
