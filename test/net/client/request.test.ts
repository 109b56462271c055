/**
 * The library client, `request()`, end to end over loopback: against python3's http.server (HTTP/1.0,
 * a server nobody here wrote), against our own static server, against node:http (chunked bodies with
 * trailers), and against hand-written raw servers that send exact bytes — odd but legal responses,
 * broken ones, slow ones and silent ones.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ClientError, type ClientErrorCode, request } from '../../../src/index.js';
import { GAIA_ROOT, type RunningServer, commandExists, startPythonServer, startStaticServer } from '../../helpers.js';
import { type RawAnswer, answerBytes, closedPort, readAll, splitEvery, startRawServer } from './helpers.js';

const FILE1_PATH = '/wireshark-labs/INTRO-wireshark-file1.html';
const FILE3_PATH = '/wireshark-labs/HTTP-wireshark-file3.html';
const FILE1 = readFileSync(join(GAIA_ROOT, 'wireshark-labs', 'INTRO-wireshark-file1.html'));
const FILE3 = readFileSync(join(GAIA_ROOT, 'wireshark-labs', 'HTTP-wireshark-file3.html'));

/** Every request here is bounded: a client bug shows up as a 'timeout' failure, never as a hang. */
const BOUND = { timeoutMs: 10_000 };

/** A validator for assert.rejects: a ClientError carrying exactly `code`. */
function clientError(code: ClientErrorCode) {
  return (error: unknown) => {
    assert.ok(error instanceof ClientError, `expected a ClientError, got ${String(error)}`);
    assert.equal(error.code, code, `error message: ${error.message}`);
    return true;
  };
}

/** Starts a raw server with `answer`, runs `body` against it, always closes it. */
async function withRawServer<T>(
  answer: RawAnswer | ((index: number) => RawAnswer),
  body: (server: Awaited<ReturnType<typeof startRawServer>>) => Promise<T>,
): Promise<T> {
  const server = await startRawServer(answer);
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

/** GETs `path` from a raw server answering `answer`; returns the response and its whole body. */
async function fetchFromRaw(answer: RawAnswer, options: Parameters<typeof request>[1] = {}) {
  return withRawServer(answer, async (server) => {
    const response = await request(server.url('/'), { ...BOUND, ...options });
    const body = await readAll(response.body);
    return { response, body };
  });
}

describe('request() against python3 -m http.server (HTTP/1.0, a server nobody here wrote)', {
  skip: !commandExists('python3') && 'python3 is not installed',
}, () => {
  let python: Awaited<ReturnType<typeof startPythonServer>>;
  before(async () => {
    python = await startPythonServer(GAIA_ROOT);
  });
  after(async () => {
    await python?.stop();
  });
  const url = (path: string) => `http://127.0.0.1:${python.port}${path}`;

  test('the small lab file: status, reason, version, fields and the exact 81 bytes', async () => {
    const response = await request(url(FILE1_PATH), BOUND);
    assert.equal(response.status, 200);
    assert.equal(response.reason, 'OK');
    assert.equal(response.version, '1.0');
    assert.equal(response.fields.get('content-length'), '81');
    assert.match(response.fields.get('content-type') ?? '', /^text\/html/);
    assert.match(response.fields.get('server') ?? '', /Python/);
    const body = await readAll(response.body);
    assert.equal(body.length, 81);
    assert.deepEqual(body, FILE1);
  });

  test('the large lab file: all 4500 bytes, exactly', async () => {
    const response = await request(url(FILE3_PATH), BOUND);
    assert.equal(response.status, 200);
    assert.equal(response.fields.get('content-length'), String(FILE3.length));
    const body = await readAll(response.body);
    assert.equal(body.length, 4500);
    assert.deepEqual(body, FILE3);
  });

  test('a missing file: 404 with the error page python announces', async () => {
    const response = await request(url('/wireshark-labs/no-such-file.html'), BOUND);
    assert.equal(response.status, 404);
    assert.equal(response.version, '1.0');
    const body = await readAll(response.body);
    assert.equal(String(body.length), response.fields.get('content-length'));
    assert.match(body.toString('utf8'), /404/);
  });

  test('HEAD: the fields of the GET and no body', async () => {
    const response = await request(url(FILE1_PATH), { ...BOUND, method: 'HEAD' });
    assert.equal(response.status, 200);
    assert.equal(response.fields.get('content-length'), '81');
    assert.equal((await readAll(response.body)).length, 0);
  });
});

describe('request() against our own static server', () => {
  let server: RunningServer;
  before(async () => {
    server = await startStaticServer(GAIA_ROOT);
  });
  after(async () => {
    await server?.close();
  });

  test('the small lab file: HTTP/1.1 200 OK, Content-Length, Content-Type and the exact bytes', async () => {
    const response = await request(server.url(FILE1_PATH), BOUND);
    assert.equal(response.status, 200);
    assert.equal(response.reason, 'OK');
    assert.equal(response.version, '1.1');
    assert.equal(response.fields.get('content-length'), '81');
    assert.match(response.fields.get('content-type') ?? '', /^text\/html/);
    assert.deepEqual(await readAll(response.body), FILE1);
  });

  test('the large lab file, exactly', async () => {
    const response = await request(server.url(FILE3_PATH), BOUND);
    assert.equal(response.status, 200);
    assert.deepEqual(await readAll(response.body), FILE3);
  });

  test('a missing file: 404 Not Found', async () => {
    const response = await request(server.url('/nothing-here.html'), BOUND);
    assert.equal(response.status, 404);
    assert.equal(response.reason, 'Not Found');
    const body = await readAll(response.body);
    assert.equal(String(body.length), response.fields.get('content-length'));
  });

  test('HEAD: Content-Length of the file, no body', async () => {
    const response = await request(server.url(FILE3_PATH), { ...BOUND, method: 'HEAD' });
    assert.equal(response.status, 200);
    assert.equal(response.fields.get('content-length'), '4500');
    assert.equal((await readAll(response.body)).length, 0);
  });

  test('several requests at once each get their own whole file', async () => {
    const paths = [FILE1_PATH, FILE3_PATH, FILE1_PATH, FILE3_PATH, FILE3_PATH];
    const bodies = await Promise.all(paths.map(async (path) => readAll((await request(server.url(path), BOUND)).body)));
    for (const [index, body] of bodies.entries()) assert.deepEqual(body, paths[index] === FILE1_PATH ? FILE1 : FILE3);
  });
});

describe('request() against node:http (chunked bodies, no content coding)', () => {
  const LARGE = Buffer.alloc(300_000);
  for (let i = 0; i < LARGE.length; i++) LARGE[i] = (i * 7 + (i >> 9)) & 0xff;
  const PIECES = ['a', 'bc', 'x'.repeat(1000), '', 'end\r\n0\r\n\r\n not the end', 'é'];
  let server: HttpServer;
  let port = 0;

  before(async () => {
    server = createHttpServer((req, res) => {
      if (req.url === '/pieces') {
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.setHeader('Trailer', 'X-Checksum');
        for (const piece of PIECES) res.write(piece);
        res.addTrailers({ 'X-Checksum': 'abc' });
        res.end();
      } else if (req.url === '/large') {
        for (let offset = 0; offset < LARGE.length; offset += 7_000) res.write(LARGE.subarray(offset, offset + 7_000));
        res.end();
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('many writes with a trailer: the decoded body is the concatenation of the writes', async () => {
    const response = await request(`http://127.0.0.1:${port}/pieces`, BOUND);
    assert.equal(response.status, 200);
    assert.equal(response.fields.get('transfer-encoding'), 'chunked');
    assert.equal(response.fields.has('content-encoding'), false);
    assert.equal((await readAll(response.body)).toString('utf8'), PIECES.join(''));
  });

  test('a 300 kB chunked body arrives byte-exact', async () => {
    const response = await request(`http://127.0.0.1:${port}/large`, BOUND);
    assert.equal(response.fields.get('transfer-encoding'), 'chunked');
    const body = await readAll(response.body);
    assert.equal(body.length, LARGE.length);
    assert.ok(body.equals(LARGE), 'body differs from what node:http sent');
  });

  test('a body read slowly (backpressure) is still complete', async () => {
    const response = await request(`http://127.0.0.1:${port}/large`, BOUND);
    const chunks: Buffer[] = [];
    let reads = 0;
    for await (const chunk of response.body) {
      chunks.push(chunk as Buffer);
      // Let the socket fill up now and then while nobody reads.
      if (++reads % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok(Buffer.concat(chunks).equals(LARGE));
  });
});

describe('request() against raw servers that send exact bytes', () => {
  const CHUNKED_WITH_EXTENSIONS =
    'HTTP/1.1 200 OK\r\n' +
    'Transfer-Encoding: chunked\r\n' +
    'Trailer: X-Trailer\r\n' +
    '\r\n' +
    '5;name=value\r\nhello\r\n' +
    '6 ; quoted="a;b"\r\n world\r\n' +
    'A\r\n, chunked!\r\n' +
    '0;last\r\n' +
    'X-Trailer: yes\r\n' +
    'X-Other: 1\r\n' +
    '\r\n';

  test('chunked with extensions and a trailer section, sent whole', async () => {
    const { response, body } = await fetchFromRaw({ pieces: [CHUNKED_WITH_EXTENSIONS], after: 'keep-open' });
    assert.equal(response.status, 200);
    assert.equal(body.toString('latin1'), 'hello world, chunked!');
  });

  test('the same chunked body trickled 3 bytes at a time', async () => {
    const { body } = await fetchFromRaw({ pieces: splitEvery(CHUNKED_WITH_EXTENSIONS, 3), delayMs: 1, after: 'keep-open' });
    assert.equal(body.toString('latin1'), 'hello world, chunked!');
  });

  test('a body delimited by the server closing the connection', async () => {
    const { response, body } = await fetchFromRaw({
      pieces: ['HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n', 'until ', 'the close'],
      delayMs: 5,
      after: 'end',
    });
    assert.equal(response.status, 200);
    assert.equal(body.toString('latin1'), 'until the close');
  });

  test('HTTP/1.0 without Content-Length: body until close', async () => {
    const { response, body } = await fetchFromRaw({ pieces: ['HTTP/1.0 200 OK\r\n\r\n', FILE3], after: 'end' });
    assert.equal(response.version, '1.0');
    assert.deepEqual(body, FILE3);
  });

  test('a status line without a reason phrase', async () => {
    const { response, body } = await fetchFromRaw({ pieces: ['HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok'], after: 'keep-open' });
    assert.equal(response.status, 200);
    assert.equal(response.reason, '');
    assert.equal(body.toString(), 'ok');
  });

  test('a status line with an empty reason phrase after the space', async () => {
    const { response } = await fetchFromRaw({ pieces: ['HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n'], after: 'keep-open' });
    assert.equal(response.status, 404);
    assert.equal(response.reason, '');
  });

  test('bare LF line endings (a student lab server) are accepted', async () => {
    const { response, body } = await fetchFromRaw({ pieces: ['HTTP/1.0 200 OK\n\nhello'], after: 'end' });
    assert.equal(response.status, 200);
    assert.equal(response.reason, 'OK');
    assert.equal(response.version, '1.0');
    assert.equal(body.toString(), 'hello');
  });

  test('bare LF with field lines', async () => {
    const { response, body } = await fetchFromRaw({
      pieces: ['HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 3\n\nabc'],
      after: 'keep-open',
    });
    assert.equal(response.fields.get('content-type'), 'text/plain');
    assert.equal(body.toString(), 'abc');
  });

  test('100 Continue, then the final response: the interim one is skipped', async () => {
    const { response, body } = await fetchFromRaw({
      pieces: ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Final: yes\r\n\r\ndone'],
      delayMs: 20,
      after: 'keep-open',
    });
    assert.equal(response.status, 200);
    assert.equal(response.fields.get('x-final'), 'yes');
    assert.equal(body.toString(), 'done');
  });

  test('two interim responses (100, 103) in the same packet as the final one', async () => {
    const { response, body } = await fetchFromRaw({
      pieces: [
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
      ],
      after: 'keep-open',
    });
    assert.equal(response.status, 201);
    assert.equal(response.reason, 'Created');
    assert.equal(body.toString(), 'ok');
  });

  test('HEAD: Content-Length announces the GET body, none follows, and the server keeps the connection open', async () => {
    await withRawServer({ pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n'], after: 'keep-open' }, async (server) => {
      const response = await request(server.url('/file'), { ...BOUND, method: 'HEAD' });
      assert.equal(response.status, 200);
      assert.equal(response.fields.get('content-length'), '1234');
      assert.equal((await readAll(response.body)).length, 0);
      assert.match(await server.requestHead(0), /^HEAD \/file HTTP\/1\.1\r\n/);
    });
  });

  for (const [status, extra] of [
    ['204 No Content', ''],
    ['304 Not Modified', 'Content-Length: 500\r\nETag: "x"\r\n'],
  ] as const) {
    test(`${status} has no body, even with the connection left open`, async () => {
      const { response, body } = await fetchFromRaw({ pieces: [`HTTP/1.1 ${status}\r\n${extra}\r\n`], after: 'keep-open' });
      assert.equal(response.status, Number(status.slice(0, 3)));
      assert.equal(body.length, 0);
    });
  }

  test('onRawBytes receives exactly the bytes sent, framing included', async () => {
    const answer: RawAnswer = { pieces: splitEvery(CHUNKED_WITH_EXTENSIONS, 17), delayMs: 2, after: 'end' };
    const raw: Buffer[] = [];
    const { body } = await fetchFromRaw(answer, { onRawBytes: (bytes) => raw.push(Buffer.from(bytes)) });
    assert.equal(body.toString('latin1'), 'hello world, chunked!');
    assert.equal(Buffer.concat(raw).toString('latin1'), answerBytes(answer).toString('latin1'));
  });

  test('onRawBytes for a close-delimited body in many pieces', async () => {
    const answer: RawAnswer = { pieces: ['HTTP/1.0 200 OK\r\n\r\n', ...splitEvery(FILE3, 1000)], delayMs: 1, after: 'end' };
    const raw: Buffer[] = [];
    const { body } = await fetchFromRaw(answer, { onRawBytes: (bytes) => raw.push(Buffer.from(bytes)) });
    assert.deepEqual(body, FILE3);
    assert.ok(Buffer.concat(raw).equals(answerBytes(answer)));
  });

  test('the request sent: request line, Host with the port, Connection: close, our defaults', async () => {
    await withRawServer({ pieces: ['HTTP/1.1 204 No Content\r\n\r\n'] }, async (server) => {
      await readAll((await request(server.url('/a/b.html?x=1&y=2'), BOUND)).body);
      const head = await server.requestHead(0);
      const [requestLine, ...lines] = head.slice(0, -4).split('\r\n');
      assert.equal(requestLine, 'GET /a/b.html?x=1&y=2 HTTP/1.1');
      assert.ok(lines.includes(`Host: 127.0.0.1:${server.port}`), head);
      assert.ok(lines.includes('Connection: close'), head);
      assert.ok(
        lines.some((line) => /^User-Agent: sockhttp\//.test(line)),
        head,
      );
    });
  });

  test('headers given by the caller replace the defaults of the same name; a body gets Content-Length', async () => {
    await withRawServer({ pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'] }, async (server) => {
      await readAll(
        (
          await request(server.url('/submit'), {
            ...BOUND,
            method: 'POST',
            headers: { host: 'example.test', 'X-Test': '1' },
            body: 'name=value',
          })
        ).body,
      );
      const head = await server.requestHead(0);
      const lines = head.split('\r\n');
      assert.equal(lines[0], 'POST /submit HTTP/1.1');
      assert.deepEqual(
        lines.filter((line) => /^host:/i.test(line)),
        ['host: example.test'],
      );
      assert.ok(lines.includes('X-Test: 1'), head);
      assert.ok(lines.includes('Content-Length: 10'), head);
      const all = server.received()[0]!.toString('latin1');
      assert.ok(all.endsWith('\r\n\r\nname=value'), JSON.stringify(all));
    });
  });
});

describe('request() failures, each with its ClientError code', () => {
  test("connection refused: 'connect-refused'", async () => {
    const port = await closedPort();
    await assert.rejects(async () => request(`http://127.0.0.1:${port}/`, BOUND), clientError('connect-refused'));
  });

  // `.invalid` is reserved (RFC 2606 §2, RFC 6761 §6.4): no resolver may answer it, so the lookup
  // fails without any traffic leaving the machine. The resolver here answers ENOTFOUND; one with no
  // network at all answers EAI_AGAIN, which the client also maps to 'unknown-host'.
  test("an unknown host: 'unknown-host'", async () => {
    await assert.rejects(async () => request('http://nonexistent.invalid/', BOUND), clientError('unknown-host'));
  });

  test("a server that accepts and never answers: 'timeout'", async () => {
    await withRawServer({ pieces: [], after: 'keep-open' }, async (server) => {
      await assert.rejects(async () => request(server.url('/'), { timeoutMs: 300 }), clientError('timeout'));
      // The request did reach the server: the time ran out while waiting for the answer.
      assert.match(await server.requestHead(0), /^GET \/ HTTP\/1\.1\r\n/);
    });
  });

  test("a server that stalls in the middle of the body: 'timeout' on the body stream", async () => {
    await withRawServer({ pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part'], after: 'keep-open' }, async (server) => {
      const response = await request(server.url('/'), { timeoutMs: 300 });
      assert.equal(response.status, 200);
      await assert.rejects(readAll(response.body), clientError('timeout'));
    });
  });

  for (const statusLine of [
    'HTTP/1.1 OK',
    'HTTP/1.1 2000 OK',
    'HTTP/1.1 20 OK',
    'HTTP/2 200 OK',
    'ICY 200 OK',
    'hello there',
    'HTTP/1.1 200 OK\x01bad',
  ]) {
    test(`a malformed status line ${JSON.stringify(statusLine)}: 'bad-response'`, async () => {
      await withRawServer({ pieces: [`${statusLine}\r\nContent-Length: 2\r\n\r\nok`] }, async (server) => {
        await assert.rejects(async () => request(server.url('/'), BOUND), clientError('bad-response'));
      });
    });
  }

  // curl's "Empty reply from server" (exit 52): a failure of the connection, which --retry retries.
  test("a server that closes without answering: 'empty-response'", async () => {
    await withRawServer({ pieces: [], after: 'end' }, async (server) => {
      await assert.rejects(async () => request(server.url('/'), BOUND), clientError('empty-response'));
    });
  });

  test("a Content-Length longer than what is sent before the close: 'incomplete-body' on the body stream", async () => {
    await withRawServer(
      { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n', 'just 17 bytes....'], after: 'end' },
      async (server) => {
        const response = await request(server.url('/'), BOUND);
        assert.equal(response.status, 200);
        await assert.rejects(readAll(response.body), clientError('incomplete-body'));
      },
    );
  });

  test("a chunked body cut in the middle of a chunk: 'incomplete-body'", async () => {
    await withRawServer(
      { pieces: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', '5\r\nhello\r\n', '10\r\nonly six'], after: 'end' },
      async (server) => {
        const response = await request(server.url('/'), BOUND);
        await assert.rejects(readAll(response.body), clientError('incomplete-body'));
      },
    );
  });

  test("a chunked body cut before the last chunk: 'incomplete-body'", async () => {
    await withRawServer(
      { pieces: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'], after: 'end' },
      async (server) => {
        const response = await request(server.url('/'), BOUND);
        await assert.rejects(readAll(response.body), clientError('incomplete-body'));
      },
    );
  });

  test("a head cut before its empty line: 'incomplete-body' or 'bad-response', never a response", async () => {
    await withRawServer({ pieces: ['HTTP/1.1 200 OK\r\nContent-Le'], after: 'end' }, async (server) => {
      await assert.rejects(
        async () => request(server.url('/'), BOUND),
        (error: unknown) => error instanceof ClientError && ['incomplete-body', 'bad-response'].includes(error.code),
      );
    });
  });

  test("a malformed chunk size arriving after the head: 'bad-response' on the body stream", async () => {
    await withRawServer(
      { pieces: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'zz\r\nhello\r\n0\r\n\r\n'], delayMs: 50, after: 'keep-open' },
      async (server) => {
        const response = await request(server.url('/'), BOUND);
        await assert.rejects(readAll(response.body), clientError('bad-response'));
      },
    );
  });

  // The usual case for a small response: the head and the broken body come in one read. The body
  // stream must still report the error to whoever reads it, not emit it before anyone can listen
  // (which is an uncaught 'error' event that ends the process).
  test("a malformed chunk size in the same packet as the head: 'bad-response' on the body stream", async () => {
    await withRawServer(
      { pieces: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'], after: 'keep-open' },
      async (server) => {
        const response = await request(server.url('/'), BOUND);
        await assert.rejects(readAll(response.body), clientError('bad-response'));
      },
    );
  });

  test("ftp:// : 'unsupported-protocol'", async () => {
    await assert.rejects(async () => request('ftp://127.0.0.1/file.txt', BOUND), clientError('unsupported-protocol'));
  });

  for (const url of ['not a url', 'http://', 'http://[::1', 'http://exa mple.com/']) {
    test(`a bad URL ${JSON.stringify(url)}: 'bad-url'`, async () => {
      await assert.rejects(async () => request(url, BOUND), clientError('bad-url'));
    });
  }

  test('a header value with CR LF in it is refused before anything is sent', async () => {
    await assert.rejects(
      async () => request('http://127.0.0.1:9/', { ...BOUND, headers: { 'X-Evil': 'a\r\nInjected: yes' } }),
      clientError('bad-request'),
    );
  });

  // request() is documented to return a promise, and every other failure rejects it; a URL problem
  // must too, so that `request(url).catch(...)` and `.then(ok, fail)` see it.
  test('URL problems reject the returned promise instead of throwing synchronously', async () => {
    for (const url of ['ftp://127.0.0.1/', 'not a url']) {
      let returned: Promise<unknown> | undefined;
      assert.doesNotThrow(
        () => {
          returned = request(url, BOUND);
        },
        `request(${JSON.stringify(url)}) threw synchronously`,
      );
      await assert.rejects(returned!, (error: unknown) => error instanceof ClientError);
    }
  });
});
