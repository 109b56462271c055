/**
 * The HTTP/2 client against node:http2 servers (a peer nobody here wrote): h2c with prior knowledge
 * and TLS with ALPN (and the fall back to HTTP/1.1 when the server does not take h2), several
 * streams on one connection within the server's SETTINGS_MAX_CONCURRENT_STREAMS, a large body
 * through a small window with a slow reader, uploads, RST_STREAM mid-body, GOAWAY, trailers.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import {
  type Http2SecureServer,
  type Http2Server,
  type ServerHttp2Stream,
  type IncomingHttpHeaders,
  constants,
  createSecureServer,
  createServer,
} from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { Agent, ClientError, type ClientEvent, Http2ClientError, request } from '../../../src/index.js';
import { commandExists, makeTempDir, runCommand } from '../../helpers.js';
import { readAll } from './helpers.js';

const BOUND = { timeoutMs: 10_000 };

type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

interface H2TestServer {
  port: number;
  sessions: number;
  close(): Promise<void>;
}

async function startH2c(handler: StreamHandler, settings: Parameters<typeof createServer>[0] = {}): Promise<H2TestServer> {
  const server: Http2Server = createServer(settings);
  return listen(server, handler);
}

async function listen(server: Http2Server | Http2SecureServer, handler: StreamHandler): Promise<H2TestServer> {
  const state = { sessions: 0 };
  server.on('session', (session) => {
    state.sessions += 1;
    session.on('error', () => {});
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    handler(stream, headers);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    get sessions() {
      return state.sessions;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Sessions our client keeps open would hold close() until they time out.
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        setTimeout(resolve, 200).unref();
      }),
  };
}

const hello: StreamHandler = (stream, headers) => {
  stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-path': String(headers[':path']) });
  stream.end(`hello ${headers[':path']}`);
};

describe('h2c with prior knowledge (node:http2)', () => {
  test('a GET: status, fields, body, version 2, the protocol in the request event', async () => {
    const server = await startH2c(hello);
    const events: ClientEvent[] = [];
    try {
      const response = await request(`http://127.0.0.1:${server.port}/a?b=1`, {
        ...BOUND,
        httpVersion: '2-prior-knowledge',
        onEvent: (event) => events.push(event),
      });
      assert.equal(response.status, 200);
      assert.equal(response.version, '2');
      assert.equal(response.fields.get('content-type'), 'text/plain');
      assert.equal(response.fields.get('x-path'), '/a?b=1');
      assert.equal((await readAll(response.body)).toString(), 'hello /a?b=1');
      const sent = events.find((event) => event.type === 'request');
      assert.equal(sent?.type === 'request' && sent.protocol, 'h2');
    } finally {
      await server.close();
    }
  });

  test('without an option, http stays HTTP/1.1 (the h2c-only server refuses it); --http2 on http is HTTP/1.1 too', async () => {
    const server = await startH2c(hello);
    try {
      for (const httpVersion of [undefined, '2'] as const) {
        const failure = await request(`http://127.0.0.1:${server.port}/`, { ...BOUND, ...(httpVersion && { httpVersion }) }).then(
          () => null,
          (error: unknown) => error,
        );
        assert.ok(failure instanceof ClientError, String(failure));
      }
    } finally {
      await server.close();
    }
  });

  test("ten requests with one agent share one connection, at most the server's SETTINGS_MAX_CONCURRENT_STREAMS at once", async () => {
    let open = 0;
    let most = 0;
    const server = await startH2c(
      (stream, headers) => {
        open += 1;
        most = Math.max(most, open);
        setTimeout(() => {
          open -= 1;
          stream.respond({ ':status': 200 });
          stream.end(String(headers[':path']));
        }, 30);
      },
      { settings: { maxConcurrentStreams: 3 } },
    );
    const agent = new Agent();
    try {
      // The first request opens the connection and learns the limit from the server's SETTINGS.
      await readAll((await request(`http://127.0.0.1:${server.port}/first`, { ...BOUND, agent, httpVersion: '2-prior-knowledge' })).body);
      const bodies = await Promise.all(
        Array.from({ length: 10 }, async (_, index) => {
          const response = await request(`http://127.0.0.1:${server.port}/${index}`, { ...BOUND, agent, httpVersion: '2-prior-knowledge' });
          assert.equal(response.connection.reused, true);
          return (await readAll(response.body)).toString();
        }),
      );
      assert.deepEqual(
        bodies,
        Array.from({ length: 10 }, (_, index) => `/${index}`),
      );
      assert.equal(server.sessions, 1);
      assert.equal(agent.connectionsOpened, 1);
      assert.ok(most <= 3, `the server saw ${most} streams at once`);
      assert.ok(most >= 2, 'the streams did run concurrently');
    } finally {
      agent.close();
      await server.close();
    }
  });

  test('requests made together before the connection exists wait for it rather than open their own', async () => {
    const server = await startH2c(hello);
    const agent = new Agent();
    try {
      const responses = await Promise.all(
        [1, 2, 3, 4].map((index) =>
          request(`http://127.0.0.1:${server.port}/${index}`, { ...BOUND, agent, httpVersion: '2-prior-knowledge' }),
        ),
      );
      for (const response of responses) await readAll(response.body);
      assert.equal(server.sessions, 1);
    } finally {
      agent.close();
      await server.close();
    }
  });

  test('a 1 MiB body read slowly: complete and byte-exact, and the server is held back by our 256 KiB stream window', async () => {
    const body = Buffer.alloc(1024 * 1024);
    for (let index = 0; index < body.length; index++) body[index] = (index * 7) & 0xff;
    let writtenWhileStalled = 0;
    const server = await startH2c((stream) => {
      stream.respond({ ':status': 200, 'content-length': String(body.length) });
      stream.end(body);
    });
    try {
      const response = await request(`http://127.0.0.1:${server.port}/big`, { ...BOUND, httpVersion: '2-prior-knowledge' });
      // Nobody reads for a while: what reaches us is bounded by the windows, not by the body.
      await new Promise((resolve) => setTimeout(resolve, 200));
      writtenWhileStalled = response.bodyBytesReceived;
      assert.ok(writtenWhileStalled < 300 * 1024, `${writtenWhileStalled} bytes arrived while nobody read`);
      const chunks: Buffer[] = [];
      for await (const chunk of response.body) chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(body));
    } finally {
      await server.close();
    }
  });

  test("an upload (POST, 300 KiB) goes in DATA frames within the server's small window", async () => {
    const upload = Buffer.alloc(300 * 1024, 0x61);
    const server = await startH2c(
      (stream, headers) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const received = Buffer.concat(chunks);
          stream.respond({ ':status': 200 });
          stream.end(`${headers[':method']} ${headers['content-length']} ${received.length} ${received.equals(upload)}`);
        });
      },
      { settings: { initialWindowSize: 16_384 } },
    );
    try {
      const response = await request(`http://127.0.0.1:${server.port}/up`, {
        ...BOUND,
        method: 'POST',
        body: upload,
        httpVersion: '2-prior-knowledge',
      });
      assert.equal((await readAll(response.body)).toString(), `POST ${upload.length} ${upload.length} true`);
    } finally {
      await server.close();
    }
  });

  test('maxBytesPerSecond (--limit-rate) holds the server back over h2 too', async () => {
    const body = Buffer.alloc(600 * 1024, 0x63);
    const server = await startH2c((stream) => {
      stream.respond({ ':status': 200 });
      stream.end(body);
    });
    try {
      const started = Date.now();
      const response = await request(`http://127.0.0.1:${server.port}/`, {
        ...BOUND,
        httpVersion: '2-prior-knowledge',
        maxBytesPerSecond: 400 * 1024,
      });
      assert.equal((await readAll(response.body)).length, body.length);
      // The first stream window (256 KiB) comes at once; the rest at the rate: at least ~0.85 s.
      assert.ok(Date.now() - started >= 600, `took ${Date.now() - started} ms`);
    } finally {
      await server.close();
    }
  });

  test('an interim 103 before the final response, a Host field as :authority, and a gzip body decoded', async () => {
    const events: ClientEvent[] = [];
    const server = await startH2c((stream, headers) => {
      stream.additionalHeaders({ ':status': 103, link: '</a.css>; rel=preload' });
      stream.respond({ ':status': 200, 'content-encoding': 'gzip', 'x-authority': String(headers[':authority']) });
      stream.end(gzipSync('decoded text'));
    });
    try {
      const response = await request(`http://127.0.0.1:${server.port}/`, {
        ...BOUND,
        httpVersion: '2-prior-knowledge',
        decompress: true,
        headers: { Host: 'example.test' },
        onEvent: (event) => events.push(event),
      });
      assert.equal(response.fields.get('x-authority'), 'example.test');
      assert.equal((await readAll(response.body)).toString(), 'decoded text');
      const statuses = events.flatMap((event) => (event.type === 'response-head' ? [event.status] : []));
      assert.deepEqual(statuses, [103, 200]);
    } finally {
      await server.close();
    }
  });

  test('a response complete before the upload is (§8.1): the rest is not sent, the connection serves the next request', async () => {
    const upload = Buffer.alloc(1024 * 1024, 0x64);
    const server = await startH2c(
      (stream, headers) => {
        stream.respond({ ':status': headers[':method'] === 'PUT' ? 413 : 200 }, { endStream: false });
        stream.end('answered');
      },
      { settings: { initialWindowSize: 16_384 } },
    );
    const agent = new Agent();
    try {
      const response = await request(`http://127.0.0.1:${server.port}/up`, {
        ...BOUND,
        agent,
        method: 'PUT',
        body: upload,
        httpVersion: '2-prior-knowledge',
      });
      assert.equal(response.status, 413);
      assert.equal((await readAll(response.body)).toString(), 'answered');
      const next = await request(`http://127.0.0.1:${server.port}/next`, { ...BOUND, agent, httpVersion: '2-prior-knowledge' });
      assert.equal(next.status, 200);
      await readAll(next.body);
      assert.equal(server.sessions, 1);
    } finally {
      agent.close();
      await server.close();
    }
  });

  test('trailers arrive after the body', async () => {
    const server = await startH2c((stream) => {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc' }));
      stream.end('body');
    });
    try {
      const response = await request(`http://127.0.0.1:${server.port}/`, { ...BOUND, httpVersion: '2-prior-knowledge' });
      assert.equal((await readAll(response.body)).toString(), 'body');
      assert.equal(response.trailers?.get('x-checksum'), 'abc');
    } finally {
      await server.close();
    }
  });

  test('RST_STREAM mid-body: the body fails with stream-reset and the code; the connection serves the next request', async () => {
    const server = await startH2c((stream, headers) => {
      if (headers[':path'] === '/ok') {
        stream.respond({ ':status': 200 });
        stream.end('fine');
        return;
      }
      stream.respond({ ':status': 200 });
      stream.write(Buffer.alloc(1000, 0x62));
      setTimeout(() => stream.destroy(new Error('the server gives up')), 20);
    });
    const agent = new Agent();
    try {
      const response = await request(`http://127.0.0.1:${server.port}/reset`, { ...BOUND, agent, httpVersion: '2-prior-knowledge' });
      const failure = await readAll(response.body).then(
        () => null,
        (error: unknown) => error,
      );
      assert.ok(failure instanceof Http2ClientError, String(failure));
      assert.equal(failure.code, 'stream-reset');
      assert.equal(failure.http2Code, 'INTERNAL_ERROR');
      const next = await request(`http://127.0.0.1:${server.port}/ok`, { ...BOUND, agent, httpVersion: '2-prior-knowledge' });
      assert.equal((await readAll(next.body)).toString(), 'fine');
      assert.equal(server.sessions, 1);
    } finally {
      agent.close();
      await server.close();
    }
  });

  test('GOAWAY: streams above the last stream id are retried on a new connection; those below finish', async () => {
    let streams = 0;
    const server = await startH2c((stream, headers) => {
      streams += 1;
      if (streams === 1) {
        // The first stream: answered slowly after the server says it takes no more (lastStreamId 1).
        stream.session?.goaway(constants.NGHTTP2_NO_ERROR, 1);
        setTimeout(() => {
          stream.respond({ ':status': 200 });
          stream.end(`first ${headers[':path']}`);
        }, 50);
        return;
      }
      stream.respond({ ':status': 200 });
      stream.end(`later ${headers[':path']}`);
    });
    const agent = new Agent();
    try {
      const first = request(`http://127.0.0.1:${server.port}/1`, { ...BOUND, agent, httpVersion: '2-prior-knowledge' });
      await new Promise((resolve) => setTimeout(resolve, 10));
      const second = request(`http://127.0.0.1:${server.port}/2`, { ...BOUND, agent, httpVersion: '2-prior-knowledge' });
      assert.equal((await readAll((await first).body)).toString(), 'first /1');
      assert.match((await readAll((await second).body)).toString(), /\/2$/);
      assert.ok(server.sessions >= 1);
    } finally {
      agent.close();
      await server.close();
    }
  });

  test('headers timeout on a stream the server never answers: a typed error, the stream cancelled', async () => {
    const server = await startH2c(() => {});
    try {
      const failure = await request(`http://127.0.0.1:${server.port}/`, { httpVersion: '2-prior-knowledge', headersTimeoutMs: 150 }).then(
        () => null,
        (error: unknown) => error,
      );
      assert.ok(failure instanceof ClientError);
      assert.equal(failure.code, 'headers-timeout');
    } finally {
      await server.close();
    }
  });
});

describe('h2 over TLS with ALPN (node:http2)', { skip: !commandExists('openssl') && 'openssl is not installed' }, () => {
  const folder = makeTempDir('sockhttp-h2-tls-');
  let ca = '';
  let key = '';
  before(async () => {
    const certPath = join(folder.path, 'cert.pem');
    const keyPath = join(folder.path, 'key.pem');
    const result = await runCommand(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { timeoutMs: 30_000 },
    );
    assert.equal(result.code, 0, result.stderr);
    ca = readFileSync(certPath, 'utf8');
    key = readFileSync(keyPath, 'utf8');
  });
  after(() => folder.remove());

  test('httpVersion 2: ALPN picks h2; the response says 2 and the connection h2', async () => {
    const server = await listen(createSecureServer({ cert: ca, key, allowHTTP1: true }), hello);
    try {
      const response = await request(`https://127.0.0.1:${server.port}/tls`, { ...BOUND, ca, httpVersion: '2' });
      assert.equal(response.version, '2');
      assert.equal(response.connection.tls?.alpnProtocol, 'h2');
      assert.equal((await readAll(response.body)).toString(), 'hello /tls');
    } finally {
      await server.close();
    }
  });

  test('a server that speaks only http/1.1 (node:https): httpVersion 2 falls back to HTTP/1.1', async () => {
    const server = createHttpsServer({ cert: ca, key }, (_, res) => res.end('one point one'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const agent = new Agent();
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      for (let round = 0; round < 2; round++) {
        const response = await request(url, { ...BOUND, ca, agent, httpVersion: '2' });
        assert.equal(response.version, '1.1');
        assert.equal((await readAll(response.body)).toString(), 'one point one');
      }
    } finally {
      agent.close();
      server.close();
      server.closeAllConnections();
    }
  });
});
