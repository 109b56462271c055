/**
 * The library client's features, end to end over loopback: the Agent's kept-alive connections (reuse
 * counted on the server side, and every reason not to reuse), onSentBytes, redirects and their method
 * rules, content decoding, --limit-rate's throttle, retries, forward proxies (absolute-form and CONNECT)
 * and TLS details. Peers are node:http / node:https servers, our own server, and raw TCP servers that
 * send exact bytes.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import {
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
  createServer as createHttpServer,
  request as httpRequest,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type Server as NetServer, type Socket, connect, createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import {
  Agent,
  ClientError,
  type ClientErrorCode,
  type ClientEvent,
  type ExchangeOutcome,
  bypassesProxy,
  decideReuse,
  proxyFromEnvironment,
  request,
  serveStatic,
} from '../../../src/index.js';
import { retryDelay } from '../../../src/net/client/request.js';
import { commandExists, makeTempDir, runCommand } from '../../helpers.js';
import { type RawAnswer, readAll, splitEvery, startRawServer } from './helpers.js';

/** Every request is bounded: a client bug shows up as a 'timeout' failure, never as a hang. */
const BOUND = { timeoutMs: 10_000 };

function clientError(code: ClientErrorCode) {
  return (error: unknown) => {
    assert.ok(error instanceof ClientError, `expected a ClientError, got ${String(error)}`);
    assert.equal(error.code, code, `error message: ${error.message}`);
    return true;
  };
}

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

/** Bytes that differ from position to position, so a shifted or repeated piece is noticed. */
function pattern(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 8)) & 0xff;
  return bytes;
}

interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

interface TestHttpServer {
  port: number;
  url(path: string, host?: string): string;
  /** TCP connections accepted so far. */
  connections(): number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** A node:http (or node:https) server on 127.0.0.1 that records every request and counts connections. */
async function startHttpServer(handler: Handler, tls?: { cert: string; key: string }): Promise<TestHttpServer> {
  const requests: RecordedRequest[] = [];
  let connections = 0;
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      handler(req, res, body);
    });
  };
  const server: HttpServer = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, listener) : createHttpServer(listener);
  server.on(tls ? 'secureConnection' : 'connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const scheme = tls ? 'https' : 'http';
  return {
    port,
    url: (path, host = '127.0.0.1') => `${scheme}://${host}:${port}${path}`,
    connections: () => connections,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function withHttpServer<T>(handler: Handler, body: (server: TestHttpServer) => Promise<T>): Promise<T> {
  const server = await startHttpServer(handler);
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

/** Waits (bounded) until `condition` holds. */
async function eventually(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const PAGE = Buffer.from('<!doctype html><title>kept alive</title><p>hello</p>\n');

describe('Agent: kept-alive connections, counted on the server side', () => {
  test('three requests with one agent use one TCP connection; the pool holds it until close()', async () => {
    await withHttpServer(
      (_req, res) => res.end(PAGE),
      async (server) => {
        const agent = new Agent();
        const reused: boolean[] = [];
        try {
          for (let i = 0; i < 3; i++) {
            const response = await request(server.url(`/page${i}`), { ...BOUND, agent });
            assert.deepEqual(await readAll(response.body), PAGE);
            reused.push(response.connection.reused);
          }
          assert.equal(server.connections(), 1);
          assert.deepEqual(reused, [false, true, true]);
          assert.equal(agent.idleConnections, 1);
          assert.equal(agent.connectionsOpened, 1);
          // HTTP/1.1 persistence is the default: no Connection field at all while the agent keeps it.
          assert.equal(server.requests[0]!.headers.connection, undefined);
        } finally {
          agent.close();
        }
        assert.equal(agent.idleConnections, 0);
      },
    );
  });

  test('without an agent every request has its own connection and says Connection: close', async () => {
    await withHttpServer(
      (_req, res) => res.end(PAGE),
      async (server) => {
        for (let i = 0; i < 3; i++) await readAll((await request(server.url('/'), BOUND)).body);
        assert.equal(server.connections(), 3);
        assert.deepEqual(
          server.requests.map((r) => r.headers.connection),
          ['close', 'close', 'close'],
        );
      },
    );
  });

  test('keepAlive: false on the last request sends Connection: close and leaves nothing in the pool', async () => {
    await withHttpServer(
      (_req, res) => res.end(PAGE),
      async (server) => {
        const agent = new Agent();
        try {
          await readAll((await request(server.url('/a'), { ...BOUND, agent })).body);
          const last = await request(server.url('/b'), { ...BOUND, agent, keepAlive: false });
          await readAll(last.body);
          assert.equal(last.connection.reused, true);
          assert.equal(server.requests[1]!.headers.connection, 'close');
          assert.equal(agent.idleConnections, 0);
          assert.equal(server.connections(), 1);
        } finally {
          agent.close();
        }
      },
    );
  });

  test('against our own server: keep-alive reuse, and the idle connection is dropped when the server closes it', async () => {
    const site = makeTempDir('sockhttp-agent-');
    const ours = await serveStatic({ root: site.path, port: 0, host: '127.0.0.1', timeouts: { keepAliveMs: 300 } });
    const agent = new Agent();
    try {
      const url = `http://127.0.0.1:${ours.address!.port}/missing.html`;
      const first = await request(url, { ...BOUND, agent });
      await readAll(first.body);
      const second = await request(url, { ...BOUND, agent });
      await readAll(second.body);
      assert.equal(second.connection.reused, true);
      assert.equal(second.connection.id, first.connection.id);
      // Our server closes idle connections after 300 ms here: the pool notices and forgets it.
      await eventually(() => agent.idleConnections === 0, 'the pool drops the connection the server closed');
      const third = await request(url, { ...BOUND, agent });
      await readAll(third.body);
      assert.equal(third.connection.reused, false);
    } finally {
      agent.close();
      await ours.close(1_000);
      site.remove();
    }
  });

  test('several requests at once on one agent: each gets its own connection and its own body', async () => {
    await withHttpServer(
      (req, res) => setTimeout(() => res.end(req.url), 20),
      async (server) => {
        const agent = new Agent();
        try {
          const paths = ['/1', '/2', '/3', '/4'];
          const bodies = await Promise.all(
            paths.map(async (path) => (await readAll((await request(server.url(path), { ...BOUND, agent })).body)).toString()),
          );
          assert.deepEqual(bodies, paths);
          assert.equal(server.connections(), 4);
          // All four went back to the pool, and the next request reuses one of them.
          const next = await request(server.url('/5'), { ...BOUND, agent });
          await readAll(next.body);
          assert.equal(next.connection.reused, true);
          assert.equal(server.connections(), 4);
        } finally {
          agent.close();
        }
      },
    );
  });

  test('onSentBytes receives exactly the bytes the server received, heads and bodies, on a reused connection', async () => {
    const received: Buffer[] = [];
    const server: NetServer = createNetServer((socket) => {
      let buffered = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        buffered = Buffer.concat([buffered, chunk]);
        // Two requests: a GET, then a POST with a 5-byte body; answer each once it is complete.
        const complete = buffered.toString('latin1').match(/\r\n\r\n(hello)?/g) ?? [];
        for (let i = 0; i < complete.length; i++) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        if (complete.length > 0) buffered = Buffer.alloc(0);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const agent = new Agent();
    const sent: Buffer[] = [];
    try {
      const onSentBytes = (bytes: Buffer) => sent.push(Buffer.from(bytes));
      await readAll((await request(`http://127.0.0.1:${port}/one`, { ...BOUND, agent, onSentBytes })).body);
      const second = await request(`http://127.0.0.1:${port}/two`, { ...BOUND, agent, onSentBytes, method: 'POST', body: 'hello' });
      await readAll(second.body);
      assert.equal(second.connection.reused, true);
      await eventually(() => Buffer.concat(received).length >= Buffer.concat(sent).length, 'the server has every byte');
      assert.equal(Buffer.concat(sent).toString('latin1'), Buffer.concat(received).toString('latin1'));
      assert.match(
        Buffer.concat(sent).toString('latin1'),
        /^GET \/one HTTP\/1\.1\r\n[\s\S]*\r\n\r\nPOST \/two HTTP\/1\.1\r\n[\s\S]*Content-Length: 5\r\n\r\nhello$/,
      );
    } finally {
      agent.close();
      server.close();
    }
  });
});

describe('Agent: every reason not to reuse a connection', () => {
  /** Two requests with one agent against a raw server; returns how many TCP connections it saw. */
  async function connectionsForTwo(answer: RawAnswer, method = 'GET'): Promise<{ connections: number; reasons: Array<string | null> }> {
    return withRawServer(answer, async (server) => {
      const agent = new Agent();
      const reasons: Array<string | null> = [];
      const onEvent = (event: ClientEvent) => {
        if (event.type === 'connection-done') reasons.push(event.kept ? null : event.reason);
      };
      try {
        for (let i = 0; i < 2; i++) await readAll((await request(server.url('/'), { ...BOUND, agent, method, onEvent })).body);
        return { connections: server.received().length, reasons };
      } finally {
        agent.close();
      }
    });
  }

  const cases: Array<[string, RawAnswer, string, RegExp]> = [
    ['a close-delimited body', { pieces: ['HTTP/1.1 200 OK\r\n\r\nuntil the end'], after: 'end' }, 'GET', /delimited by closing/],
    [
      'Connection: close from the server',
      { pieces: ['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'], after: 'keep-open' },
      'GET',
      /server asked to close/,
    ],
    [
      'HTTP/1.0 without keep-alive',
      { pieces: ['HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'], after: 'keep-open' },
      'GET',
      /server asked to close/,
    ],
    [
      'bytes after the end of the response',
      { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA'], after: 'keep-open' },
      'GET',
      /bytes after the end/,
    ],
    [
      'a HEAD response that announced a body',
      { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'], after: 'keep-open' },
      'HEAD',
      /HEAD response announced a body/,
    ],
    [
      'Content-Length together with Transfer-Encoding',
      { pieces: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n'], after: 'keep-open' },
      'GET',
      /server asked to close/,
    ],
    [
      'Keep-Alive: timeout=1 (too short to keep)',
      { pieces: ['HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok'], after: 'keep-open' },
      'GET',
      /too briefly/,
    ],
  ];
  for (const [name, answer, method, reason] of cases) {
    test(`${name}: the second request opens a new connection`, async () => {
      const { connections, reasons } = await connectionsForTwo(answer, method);
      assert.equal(connections, 2);
      assert.match(reasons[0] ?? 'kept', reason);
    });
  }

  test('a body the reader abandons: the connection is closed, not pooled', async () => {
    await withHttpServer(
      (_req, res) => res.end(pattern(500_000)),
      async (server) => {
        const agent = new Agent();
        try {
          const response = await request(server.url('/big'), { ...BOUND, agent });
          for await (const _chunk of response.body) break; // read one piece, then give up
          assert.equal(agent.idleConnections, 0);
          await readAll((await request(server.url('/big'), { ...BOUND, agent })).body);
          assert.equal(server.connections(), 2);
        } finally {
          agent.close();
        }
      },
    );
  });

  test('decideReuse as a table: each rule alone', () => {
    const good: ExchangeOutcome = {
      method: 'GET',
      status: 200,
      complete: true,
      framing: { kind: 'length', length: 2 },
      responseKeepAlive: true,
      requestClose: false,
      requestSent: true,
      extraBytes: 0,
      announcedBody: true,
      keepAliveTimeoutMs: null,
      open: true,
    };
    assert.deepEqual(decideReuse(good), { reusable: true, idleMs: null });
    assert.deepEqual(decideReuse({ ...good, keepAliveTimeoutMs: 5_000 }), { reusable: true, idleMs: 4_000 });
    const refusals: Array<[Partial<ExchangeOutcome>, RegExp]> = [
      [{ complete: false }, /not read to its end/],
      [{ open: false }, /server closed/],
      [{ status: 101 }, /changed protocol/],
      [{ method: 'CONNECT', status: 200 }, /changed protocol/],
      [{ framing: { kind: 'until-close' }, responseKeepAlive: false }, /delimited by closing/],
      [{ responseKeepAlive: false }, /server asked to close/],
      [{ requestClose: true }, /we asked to close/],
      [{ requestSent: false }, /before the request was sent/],
      [{ extraBytes: 1 }, /bytes after the end/],
      [{ method: 'HEAD', announcedBody: true }, /HEAD response/],
      [{ keepAliveTimeoutMs: 1_000 }, /too briefly/],
    ];
    for (const [change, reason] of refusals) {
      const verdict = decideReuse({ ...good, ...change });
      assert.equal(verdict.reusable, false, JSON.stringify(change));
      assert.match((verdict as { reason: string }).reason, reason);
    }
    // A HEAD response without a body announced is safe to reuse.
    assert.equal(decideReuse({ ...good, method: 'HEAD', announcedBody: false, framing: { kind: 'none' } }).reusable, true);
  });

  test('a pooled connection the server dropped: a GET is sent again on a new connection, a POST is not', async () => {
    // Connection 0 answers its first request, then closes when the second arrives (as a server
    // whose idle timeout fired at that very moment); every later connection answers normally.
    let accepted = 0;
    const server: NetServer = createNetServer((socket: Socket) => {
      const index = accepted++;
      let requests = 0;
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        requests += chunk.toString('latin1').split('\r\n\r\n').length - 1;
        if (index === 0 && requests >= 2) socket.destroy();
        else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    try {
      const agent = new Agent();
      await readAll((await request(url, { ...BOUND, agent })).body);
      const again = await request(url, { ...BOUND, agent });
      assert.equal((await readAll(again.body)).toString(), 'ok');
      assert.equal(again.connection.reused, false);
      assert.equal(accepted, 2);
      agent.close();

      accepted = 0;
      const postAgent = new Agent();
      await readAll((await request(url, { ...BOUND, agent: postAgent })).body);
      await assert.rejects(
        request(url, { ...BOUND, agent: postAgent, method: 'POST', body: 'x' }),
        (error: unknown) => error instanceof ClientError,
      );
      assert.equal(accepted, 1, 'a POST must not be sent twice');
      postAgent.close();
    } finally {
      server.close();
    }
  });
});

describe('redirects (RFC 9110 §15.4)', () => {
  let server: TestHttpServer;
  before(async () => {
    server = await startHttpServer((req, res, body) => {
      const url = new URL(req.url!, 'http://x');
      const status = /^\/(30\d)$/.exec(url.pathname)?.[1];
      if (status) {
        res.writeHead(Number(status), { Location: url.searchParams.get('to') ?? '/echo' });
        return res.end('moved');
      }
      if (url.pathname === '/loop') {
        res.writeHead(302, { Location: '/loop' });
        return res.end();
      }
      if (url.pathname === '/dir/relative') {
        res.writeHead(301, { Location: '../echo?from=relative' });
        return res.end();
      }
      res.setHeader('Content-Type', 'application/json');
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          body: body.toString(),
          contentType: req.headers['content-type'] ?? null,
          authorization: req.headers.authorization ?? null,
          cookie: req.headers.cookie ?? null,
        }),
      );
    });
  });
  after(async () => {
    await server?.close();
  });

  async function follow(path: string, method: string, body?: string, headers: Record<string, string> = {}) {
    const response = await request(server.url(path), {
      ...BOUND,
      method,
      followRedirects: true,
      headers: { 'Content-Type': 'text/plain', ...headers },
      ...(body !== undefined && { body }),
    });
    const text = (await readAll(response.body)).toString();
    return { response, echo: response.status === 200 && method !== 'HEAD' ? JSON.parse(text) : null };
  }

  const rules: Array<[number, string, string, boolean]> = [
    // status, method sent, method expected after the redirect, content kept
    [301, 'POST', 'GET', false],
    [302, 'POST', 'GET', false],
    [303, 'POST', 'GET', false],
    [303, 'PUT', 'GET', false],
    [307, 'POST', 'POST', true],
    [308, 'POST', 'POST', true],
    [301, 'PUT', 'PUT', true],
    [302, 'DELETE', 'DELETE', true],
    [307, 'PUT', 'PUT', true],
  ];
  for (const [status, method, expected, kept] of rules) {
    test(`${status} after ${method}: ${expected}${kept ? ' with' : ' without'} the content`, async () => {
      const { response, echo } = await follow(`/${status}`, method, 'payload');
      assert.equal(response.status, 200);
      assert.equal(response.redirects, 1);
      assert.equal(response.url, server.url('/echo'));
      assert.equal(echo.method, expected);
      assert.equal(echo.body, kept ? 'payload' : '');
      assert.equal(echo.contentType, kept ? 'text/plain' : null);
    });
  }

  test('303 after HEAD stays HEAD', async () => {
    const before = server.requests.length;
    const { response } = await follow('/303', 'HEAD');
    assert.equal(response.status, 200);
    assert.equal(server.requests.at(-1)!.method, 'HEAD');
    assert.equal(server.requests.length, before + 2);
  });

  test('a relative Location is resolved against the current URL', async () => {
    const { echo, response } = await follow('/dir/relative', 'GET');
    assert.equal(echo.url, '/echo?from=relative');
    assert.equal(response.url, server.url('/echo?from=relative'));
  });

  test('without followRedirects the redirect is the response', async () => {
    const response = await request(server.url('/302'), BOUND);
    assert.equal(response.status, 302);
    assert.equal(response.fields.get('location'), '/echo');
    assert.equal((await readAll(response.body)).toString(), 'moved');
  });

  test("a loop: 'too-many-redirects' after maxRedirects + 1 requests", async () => {
    const before = server.requests.length;
    await assert.rejects(
      request(server.url('/loop'), { ...BOUND, followRedirects: true, maxRedirects: 3 }),
      clientError('too-many-redirects'),
    );
    assert.equal(server.requests.length - before, 4);
  });

  test('Authorization and Cookie are kept on the same origin and dropped for another host', async () => {
    const secrets = { Authorization: 'Bearer secret', Cookie: 'session=1' };
    const same = await follow('/302', 'GET', undefined, secrets);
    assert.equal(same.echo.authorization, 'Bearer secret');
    assert.equal(same.echo.cookie, 'session=1');
    // localhost and 127.0.0.1 are the same machine but not the same host name: another origin.
    const elsewhere = await follow(`/302?to=${encodeURIComponent(server.url('/echo', 'localhost'))}`, 'GET', undefined, secrets);
    assert.equal(elsewhere.response.url, server.url('/echo', 'localhost'));
    assert.equal(elsewhere.echo.authorization, null);
    assert.equal(elsewhere.echo.cookie, null);
  });

  test("a redirect to ftp:// is 'unsupported-protocol'", async () => {
    await assert.rejects(
      request(server.url('/302?to=ftp://127.0.0.1/x'), { ...BOUND, followRedirects: true }),
      clientError('unsupported-protocol'),
    );
  });

  test('redirects reuse the kept-alive connection', async () => {
    const agent = new Agent();
    try {
      const before = server.connections();
      const response = await request(server.url('/307'), { ...BOUND, agent, followRedirects: true });
      await readAll(response.body);
      assert.equal(response.connection.reused, true);
      assert.equal(server.connections() - before, 1);
    } finally {
      agent.close();
    }
  });
});

describe('content decoding (decompress)', () => {
  const TEXT = Buffer.from('compressible text, '.repeat(500));
  const encoded: Record<string, [string, Buffer]> = {
    '/gzip': ['gzip', gzipSync(TEXT)],
    '/deflate': ['deflate', deflateSync(TEXT)],
    '/deflate-raw': ['deflate', deflateRawSync(TEXT)],
    '/br': ['br', brotliCompressSync(TEXT)],
    // Applied in order: gzip first, then br; decoded the other way round.
    '/gzip-then-br': ['gzip, br', brotliCompressSync(gzipSync(TEXT))],
    '/identity': ['identity', TEXT],
    '/unknown': ['zstd', TEXT],
    '/corrupt': ['gzip', Buffer.concat([gzipSync(TEXT).subarray(0, 40), Buffer.from('garbage that is not deflate data')])],
  };
  let server: TestHttpServer;
  before(async () => {
    server = await startHttpServer((req, res) => {
      const entry = encoded[req.url!];
      if (entry === undefined) return res.writeHead(404).end();
      res.writeHead(200, { 'Content-Encoding': entry[0] });
      // Many small writes: chunk boundaries fall inside the compressed data.
      for (const piece of splitEvery(entry[1], 97)) res.write(piece);
      res.end();
    });
  });
  after(async () => {
    await server?.close();
  });

  for (const path of ['/gzip', '/deflate', '/deflate-raw', '/br', '/gzip-then-br', '/identity']) {
    test(`${path}: decoded to the original bytes`, async () => {
      const response = await request(server.url(path), { ...BOUND, decompress: true });
      assert.deepEqual(await readAll(response.body), TEXT);
      assert.equal(response.bodyBytesReceived, encoded[path]![1].length);
      assert.equal(server.requests.at(-1)!.headers['accept-encoding'], 'gzip, deflate, br');
    });
  }

  test('without decompress nothing is asked for and nothing is decoded', async () => {
    const response = await request(server.url('/gzip'), BOUND);
    assert.deepEqual(await readAll(response.body), encoded['/gzip']![1]);
    assert.equal(server.requests.at(-1)!.headers['accept-encoding'], undefined);
  });

  test("an unknown coding: 'bad-content-encoding'", async () => {
    await assert.rejects(request(server.url('/unknown'), { ...BOUND, decompress: true }), clientError('bad-content-encoding'));
  });

  test("corrupt gzip: 'bad-content-encoding' on the body stream", async () => {
    const response = await request(server.url('/corrupt'), { ...BOUND, decompress: true });
    await assert.rejects(readAll(response.body), clientError('bad-content-encoding'));
  });

  test('deflate arriving one byte at a time (the zlib-or-raw choice spans pieces)', async () => {
    const compressed = deflateSync(Buffer.from('tiny'));
    const answer: RawAnswer = {
      pieces: ['HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n\r\n', ...splitEvery(compressed, 1)],
      delayMs: 2,
      after: 'end',
    };
    await withRawServer(answer, async (raw) => {
      const response = await request(raw.url('/'), { ...BOUND, decompress: true });
      assert.equal((await readAll(response.body)).toString(), 'tiny');
    });
  });

  test('an empty body with Content-Encoding (304, HEAD) decodes to nothing, without an error', async () => {
    for (const [answer, method] of [
      ['HTTP/1.1 304 Not Modified\r\nContent-Encoding: gzip\r\n\r\n', 'GET'],
      ['HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n', 'GET'],
      ['HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 300\r\n\r\n', 'HEAD'],
    ] as const) {
      await withRawServer({ pieces: [answer], after: 'keep-open' }, async (raw) => {
        const response = await request(raw.url('/'), { ...BOUND, method, decompress: true });
        assert.equal((await readAll(response.body)).length, 0);
      });
    }
  });
});

describe('maxBytesPerSecond (the throttle of --limit-rate)', () => {
  test('200 KB at 100 KiB/s takes at least about a second, and arrives whole', async () => {
    const BODY = pattern(200_000);
    await withHttpServer(
      (_req, res) => res.end(BODY),
      async (server) => {
        const started = performance.now();
        const response = await request(server.url('/'), { timeoutMs: 30_000, maxBytesPerSecond: 100 * 1024 });
        assert.ok((await readAll(response.body)).equals(BODY));
        const seconds = (performance.now() - started) / 1000;
        // At most one socket read (64 KiB) can arrive ahead of the rate: (200 000 − 65 536) / 102 400 ≈ 1.3 s.
        assert.ok(seconds >= 0.9, `took only ${seconds.toFixed(2)} s`);
      },
    );
  });
});

describe('retries', () => {
  test('retryDelay doubles from the base and stops at 30 s', () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((attempt) => retryDelay(attempt)),
      [1_000, 2_000, 4_000, 8_000],
    );
    assert.equal(retryDelay(20), 30_000);
    assert.equal(retryDelay(2, 50), 200);
  });

  test('a server that resets twice, then answers: success after two retries, each announced', async () => {
    const events: ClientEvent[] = [];
    await withRawServer(
      (index) => (index < 2 ? { pieces: [], after: 'destroy' } : { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'] }),
      async (server) => {
        const response = await request(server.url('/'), { ...BOUND, retries: 3, retryDelayMs: 20, onEvent: (event) => events.push(event) });
        assert.equal((await readAll(response.body)).toString(), 'ok');
        assert.equal(server.received().length, 3);
      },
    );
    const retries = events.filter((event) => event.type === 'retry');
    assert.deepEqual(
      retries.map((event) => (event as { delayMs: number }).delayMs),
      [20, 40],
    );
  });

  test('a 503 is retried for GET and returned when the retries run out; never retried for POST', async () => {
    let calls = 0;
    await withHttpServer(
      (_req, res) => {
        calls++;
        res.writeHead(calls <= 2 ? 503 : 200).end(`call ${calls}`);
      },
      async (server) => {
        const ok = await request(server.url('/'), { ...BOUND, retries: 2, retryDelayMs: 10 });
        assert.equal(ok.status, 200);
        assert.equal((await readAll(ok.body)).toString(), 'call 3');

        calls = 0;
        const exhausted = await request(server.url('/'), { ...BOUND, retries: 1, retryDelayMs: 10 });
        assert.equal(exhausted.status, 503);
        assert.equal((await readAll(exhausted.body)).toString(), 'call 2');

        calls = 0;
        const post = await request(server.url('/'), { ...BOUND, method: 'POST', body: 'x', retries: 3, retryDelayMs: 10 });
        assert.equal(post.status, 503);
        assert.equal(calls, 1);
      },
    );
  });

  test('a refused connection is retried, then reported as refused', async () => {
    const server = await startRawServer({ pieces: [] });
    const port = server.port;
    await server.close();
    const events: ClientEvent[] = [];
    await assert.rejects(
      request(`http://127.0.0.1:${port}/`, { ...BOUND, retries: 2, retryDelayMs: 10, onEvent: (event) => events.push(event) }),
      clientError('connect-refused'),
    );
    assert.equal(events.filter((event) => event.type === 'retry').length, 2);
  });
});

describe('proxies from the environment: which one, and who bypasses it', () => {
  const url = (text: string) => new URL(text);
  test('http_proxy for http://, https_proxy for https://, lower case first, all_proxy as the fallback', () => {
    const env = { http_proxy: 'http://lower:1', HTTP_PROXY: 'http://upper:2', HTTPS_PROXY: 'upper-tls:3' };
    assert.equal(proxyFromEnvironment(url('http://a.example/'), env)?.href, 'http://lower:1/');
    assert.equal(proxyFromEnvironment(url('https://a.example/'), env)?.href, 'http://upper-tls:3/');
    assert.equal(proxyFromEnvironment(url('http://a.example/'), { HTTP_PROXY: 'http://upper:2' })?.href, 'http://upper:2/');
    assert.equal(proxyFromEnvironment(url('https://a.example/'), { all_proxy: 'http://all:4' })?.href, 'http://all:4/');
    assert.equal(proxyFromEnvironment(url('http://a.example/'), {}), null);
    assert.equal(proxyFromEnvironment(url('http://a.example/'), { http_proxy: '' }), null);
  });

  test('HTTP_PROXY is ignored under CGI (REQUEST_METHOD set: the httpoxy hole); http_proxy is not', () => {
    assert.equal(proxyFromEnvironment(url('http://a.example/'), { HTTP_PROXY: 'http://evil:1', REQUEST_METHOD: 'GET' }), null);
    assert.equal(proxyFromEnvironment(url('http://a.example/'), { http_proxy: 'http://ok:1', REQUEST_METHOD: 'GET' })?.host, 'ok:1');
  });

  test('no_proxy: names and their subdomains, leading dots, *, addresses, CIDR blocks, ports', () => {
    const table: Array<[string, string, boolean]> = [
      ['http://example.com/', 'example.com', true],
      ['http://www.example.com/', 'example.com', true],
      ['http://www.example.com/', '.example.com', true],
      ['http://notexample.com/', 'example.com', false],
      ['http://example.com.evil/', 'example.com', false],
      ['http://anything/', '*', true],
      ['http://10.1.2.3/', '10.0.0.0/8', true],
      ['http://11.1.2.3/', '10.0.0.0/8', false],
      ['http://[::1]:8080/', '::1', true],
      ['http://[fd00::5]/', 'fd00::/8', true],
      ['http://127.0.0.1:8080/', '127.0.0.1:8080', true],
      ['http://127.0.0.1:9090/', '127.0.0.1:8080', false],
      ['http://a.test/', 'other.test, a.test', true],
      ['http://a.test/', '', false],
    ];
    for (const [target, list, bypass] of table) assert.equal(bypassesProxy(url(target), list), bypass, `${target} with no_proxy=${list}`);
    assert.equal(proxyFromEnvironment(url('http://internal.test/'), { http_proxy: 'http://p:1', NO_PROXY: 'internal.test' }), null);
  });
});

/** A forward proxy on node:http: absolute-form requests are forwarded, CONNECT opens a tunnel. origin.test means 127.0.0.1. */
interface TestProxy {
  port: number;
  url: string;
  connections(): number;
  /** Request lines the proxy received ("GET http://…", "CONNECT host:port"), with their Proxy-Authorization. */
  seen: Array<{ line: string; proxyAuthorization: string | undefined }>;
  refuseConnect: boolean;
  close(): Promise<void>;
}

async function startProxy(): Promise<TestProxy> {
  const mapHost = (host: string) => (host === 'origin.test' ? '127.0.0.1' : host);
  const sockets = new Set<Socket>();
  let connections = 0;
  const state = { refuseConnect: false, seen: [] as TestProxy['seen'] };
  const server = createHttpServer((req, res) => {
    state.seen.push({ line: `${req.method} ${req.url}`, proxyAuthorization: req.headers['proxy-authorization'] });
    const target = new URL(req.url!);
    const upstream = httpRequest(
      {
        host: mapHost(target.hostname),
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: req.method,
        headers: { ...req.headers, host: target.host, connection: 'close' },
        agent: false,
      },
      (answer) => {
        // Connection and Keep-Alive are hop-by-hop (RFC 9110 §7.6.1): not forwarded.
        const { connection: _connection, 'keep-alive': _keepAlive, ...headers } = answer.headers;
        res.writeHead(answer.statusCode!, headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    state.seen.push({ line: `CONNECT ${req.url}`, proxyAuthorization: req.headers['proxy-authorization'] });
    client.on('error', () => {});
    if (state.refuseConnect) return client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    const [host, port] = [req.url!.slice(0, req.url!.lastIndexOf(':')), Number(req.url!.slice(req.url!.lastIndexOf(':') + 1))];
    const upstream = connect(port, mapHost(host), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => sockets.delete(upstream));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    get seen() {
      return state.seen;
    },
    get refuseConnect() {
      return state.refuseConnect;
    },
    set refuseConnect(value: boolean) {
      state.refuseConnect = value;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const hasOpenssl = commandExists('openssl');

describe('through a forward proxy', () => {
  let proxy: TestProxy;
  let origin: TestHttpServer;
  let tlsOrigin: TestHttpServer | null = null;
  let ca = '';
  const certs = makeTempDir('sockhttp-proxy-certs-');
  before(async () => {
    proxy = await startProxy();
    origin = await startHttpServer((req, res) => res.end(`origin saw ${req.method} ${req.url} host=${req.headers.host}`));
    if (hasOpenssl) {
      const cert = join(certs.path, 'cert.pem');
      const key = join(certs.path, 'key.pem');
      const args = [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=origin.test',
        '-addext',
        'subjectAltName=DNS:origin.test,DNS:localhost,IP:127.0.0.1',
      ];
      const made = await runCommand('openssl', args, { timeoutMs: 60_000 });
      assert.equal(made.code, 0, made.stderr);
      ca = readFileSync(cert, 'utf8');
      tlsOrigin = await startHttpServer((req, res) => res.end(`tls origin saw ${req.url}`), { cert: ca, key: readFileSync(key, 'utf8') });
    }
  });
  after(async () => {
    await proxy?.close();
    await origin?.close();
    await tlsOrigin?.close();
    certs.remove();
  });

  test('http:// goes to the proxy in absolute form, with Proxy-Authorization from the proxy URL', async () => {
    // origin.test resolves nowhere here: only the proxy knows where it is.
    const response = await request(`http://origin.test:${origin.port}/page?x=1`, {
      ...BOUND,
      proxy: `http://user:p%40ss@127.0.0.1:${proxy.port}`,
    });
    assert.equal((await readAll(response.body)).toString(), `origin saw GET /page?x=1 host=origin.test:${origin.port}`);
    const seen = proxy.seen.at(-1)!;
    assert.equal(seen.line, `GET http://origin.test:${origin.port}/page?x=1`);
    assert.equal(seen.proxyAuthorization, `Basic ${Buffer.from('user:p@ss').toString('base64')}`);
    assert.equal(response.connection.proxy?.tunnel, false);
  });

  test('two requests through the proxy with an agent share one connection to it', async () => {
    const agent = new Agent();
    try {
      const before = proxy.connections();
      for (const path of ['/a', '/b'])
        await readAll((await request(`http://origin.test:${origin.port}${path}`, { ...BOUND, agent, proxy: proxy.url })).body);
      assert.equal(proxy.connections() - before, 1);
    } finally {
      agent.close();
    }
  });

  test('https:// goes through a CONNECT tunnel, with TLS to the origin inside it', {
    skip: !hasOpenssl && 'openssl is not installed',
  }, async () => {
    const before = proxy.seen.length;
    const response = await request(`https://origin.test:${tlsOrigin!.port}/secret-path`, { ...BOUND, proxy: proxy.url, ca });
    assert.equal((await readAll(response.body)).toString(), 'tls origin saw /secret-path');
    assert.deepEqual(
      proxy.seen.slice(before).map((entry) => entry.line),
      [`CONNECT origin.test:${tlsOrigin!.port}`],
      'the proxy sees the tunnel, never the request',
    );
    assert.equal(response.connection.proxy?.tunnel, true);
    assert.equal(response.connection.tls?.verified, true);
    assert.equal(response.connection.tls?.subject, 'origin.test');
  });

  test("a proxy that refuses the tunnel: 'proxy-failed'", { skip: !hasOpenssl && 'openssl is not installed' }, async () => {
    proxy.refuseConnect = true;
    try {
      await assert.rejects(
        request(`https://origin.test:${tlsOrigin!.port}/`, { ...BOUND, proxy: proxy.url, ca }),
        clientError('proxy-failed'),
      );
    } finally {
      proxy.refuseConnect = false;
    }
  });

  test("an unknown proxy host: 'proxy-unknown-host'; a proxy that refuses connections: 'connect-refused'", async () => {
    await assert.rejects(
      request(`http://origin.test:${origin.port}/`, { ...BOUND, proxy: 'http://nonexistent.invalid:3128' }),
      clientError('proxy-unknown-host'),
    );
    const closed = await startRawServer({ pieces: [] });
    await closed.close();
    await assert.rejects(
      request(`http://origin.test:${origin.port}/`, { ...BOUND, proxy: `http://127.0.0.1:${closed.port}` }),
      clientError('connect-refused'),
    );
  });

  test('a proxy function can send some URLs direct', async () => {
    const before = proxy.seen.length;
    const response = await request(origin.url('/direct'), {
      ...BOUND,
      proxy: (target) => (target.hostname === '127.0.0.1' ? null : new URL(proxy.url)),
    });
    assert.match((await readAll(response.body)).toString(), /GET \/direct/);
    assert.equal(proxy.seen.length, before);
  });

  test('TLS: details of the handshake, and a reused TLS connection', { skip: !hasOpenssl && 'openssl is not installed' }, async () => {
    const agent = new Agent();
    try {
      const first = await request(tlsOrigin!.url('/one'), { ...BOUND, agent, ca });
      await readAll(first.body);
      const second = await request(tlsOrigin!.url('/two'), { ...BOUND, agent, ca });
      await readAll(second.body);
      assert.match(first.connection.tls?.protocol ?? '', /^TLSv1\.[23]$/);
      assert.ok((first.connection.tls?.cipher ?? '').length > 0);
      assert.equal(first.connection.tls?.alpnProtocol, 'http/1.1');
      assert.ok(first.timings.appConnect >= first.timings.connect);
      assert.equal(second.connection.reused, true);
      // A different trust setting is a different pool key: no reuse across it.
      const insecure = await request(tlsOrigin!.url('/three'), { ...BOUND, agent, insecure: true });
      await readAll(insecure.body);
      assert.equal(insecure.connection.reused, false);
      assert.equal(insecure.connection.tls?.verified, false);
    } finally {
      agent.close();
    }
  });
});
