/**
 * "No client may hold more than its share": the server denial-of-service cases, each driven by raw
 * node:net sockets writing exact bytes on 127.0.0.1.
 *
 *  - a request announcing a body that never comes, then a reset or the stall timeout: the plan's file
 *    descriptor (or event stream) is released, every time;
 *  - lone CR and LF before a request: they do not restart the head deadline, and only a few are ignored;
 *  - a slow request body: the answer does not wait for it, and the connection does not wait forever;
 *  - a lingering close is bounded in time even when the client keeps sending;
 *  - TLS connections that never finish their handshake are let go after the head timeout;
 *  - bytes that cannot begin a request line get 400 at once, not after the head timeout.
 *
 * Every wait is bounded in count and time; no assertion is about speed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { type AddressInfo, type Socket, connect, createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { type HttpServer, createServer } from '../../src/index.js';
import { type RunningServer, makeTempDir, rawExchange, startStaticServer } from '../helpers.js';
import { RawConnection, delay, parseResponseAt } from '../net/server/helpers.js';

const canReadProc = existsSync('/proc/self/fd');

let folder: ReturnType<typeof makeTempDir>;

before(() => {
  folder = makeTempDir('sockhttp-dos-');
  // Streamed from a descriptor (larger than the in-memory files), and more than socket buffers hold.
  const fd = openSync(join(folder.path, 'big.bin'), 'w');
  ftruncateSync(fd, 64 * 1024 * 1024);
  closeSync(fd);
  writeFileSync(join(folder.path, 'a.txt'), 'aaaa\n');
});

after(() => folder?.remove());

function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Polls `condition` every intervalMs until it holds (true) or timeoutMs has passed (false). */
async function waitUntil(condition: () => boolean, timeoutMs: number, intervalMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; round < 10_000 && Date.now() < deadline; round++) {
    if (condition()) return true;
    await delay(intervalMs);
  }
  return condition();
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function closed(socket: Socket, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

const BODY_NEVER_COMES = 'GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\n';

describe('a request whose announced body never comes', { skip: !canReadProc && 'needs /proc (Linux)' }, () => {
  let server: RunningServer;
  let stallServer: RunningServer;

  before(async () => {
    server = await startStaticServer(folder.path);
    stallServer = await startStaticServer(folder.path, { timeouts: { stallMs: 300, headersMs: 300 } });
  });

  after(async () => {
    await Promise.all([server?.close(), stallServer?.close()]);
  });

  test('then a reset, 60 times: every file descriptor the handler opened is closed again', async () => {
    const before = openDescriptors();
    for (let round = 0; round < 3; round++) {
      const sockets = await Promise.all(Array.from({ length: 20 }, () => openSocket(server.port)));
      for (const socket of sockets) {
        socket.pause(); // never reads: the response stays in the server's hands
        socket.write(BODY_NEVER_COMES);
      }
      await delay(200); // the handler opens the file meanwhile
      for (const socket of sockets) socket.resetAndDestroy();
    }
    const released = await waitUntil(() => openDescriptors() <= before, 5_000);
    assert.equal(released, true, `${openDescriptors() - before} descriptors still open`);
  });

  test('then the stall timeout: every file descriptor is closed again', async () => {
    const before = openDescriptors();
    const sockets = await Promise.all(Array.from({ length: 20 }, () => openSocket(stallServer.port)));
    try {
      for (const socket of sockets) {
        socket.pause(); // never reads: the server's writes stall
        socket.write(BODY_NEVER_COMES);
      }
      const letGo = await waitUntil(() => stallServer.server.connectionCount === 0, 5_000);
      assert.equal(letGo, true, 'the server kept a connection past its stall timeout');
      // Our 20 client sockets are still open (the server's unsent bytes keep their FIN from them).
      const released = await waitUntil(() => openDescriptors() <= before + sockets.length, 5_000);
      assert.equal(released, true, `${openDescriptors() - before - sockets.length} descriptors still open`);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  test('a plan that arrives after its client has reset: its descriptor is closed', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let plansMade = 0;
    const httpServer: HttpServer = createServer({
      handler: async () => {
        const fd = openSync(join(folder.path, 'big.bin'), 'r');
        await released; // the plan is ready only once every client has gone
        plansMade++;
        return { status: 200, fields: [], body: { kind: 'file', fd, pieces: [{ start: 0, length: 1024 * 1024 }] } };
      },
    });
    const { port } = await httpServer.listen(0);
    try {
      const before = openDescriptors();
      const sockets = await Promise.all(Array.from({ length: 10 }, () => openSocket(port)));
      for (const socket of sockets) socket.write(BODY_NEVER_COMES);
      assert.equal(
        await waitUntil(() => openDescriptors() >= before + 3 * sockets.length, 5_000),
        true,
        'the handler did not open every file (client, server and file: 3 descriptors a request)',
      );
      for (const socket of sockets) socket.resetAndDestroy();
      assert.equal(await waitUntil(() => httpServer.connectionCount === 0, 5_000), true);
      release();
      assert.equal(
        await waitUntil(() => plansMade === sockets.length && openDescriptors() <= before, 5_000),
        true,
        `${openDescriptors() - before} descriptors still open`,
      );
    } finally {
      release();
      await httpServer.close(500);
    }
  });

  test('an event stream (as --watch answers) is destroyed when the client resets', async () => {
    const streams: PassThrough[] = [];
    const httpServer: HttpServer = createServer({
      handler: () => {
        const stream = new PassThrough();
        stream.write('retry: 1000\n\n');
        streams.push(stream);
        return { status: 200, fields: [['Content-Type', 'text/event-stream']], body: { kind: 'stream', stream } };
      },
    });
    const { port } = await httpServer.listen(0);
    try {
      const sockets = await Promise.all(Array.from({ length: 10 }, () => openSocket(port)));
      for (const socket of sockets) socket.write('GET /__sockhttp/live-reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\n');
      assert.equal(await waitUntil(() => streams.length === 10, 5_000), true, 'the handler was not called for every request');
      for (const socket of sockets) socket.resetAndDestroy();
      const destroyed = await waitUntil(() => streams.every((stream) => stream.destroyed), 5_000);
      assert.equal(destroyed, true, `${streams.filter((stream) => !stream.destroyed).length} event streams left open`);
    } finally {
      await httpServer.close(500);
    }
  });
});

describe('lone CR and LF before a request', () => {
  let server: RunningServer;

  before(async () => {
    server = await startStaticServer(folder.path, { timeouts: { headersMs: 300, keepAliveMs: 5_000 } });
  });

  after(async () => {
    await server?.close();
  });

  test('alternating CR and LF, one byte every 20 ms, do not keep a connection open', async () => {
    const connection = await RawConnection.open(server.port);
    try {
      for (let index = 0; index < 200 && !connection.serverEnded; index++) {
        connection.write(index % 2 === 0 ? '\r' : '\n');
        await delay(20);
      }
      assert.equal(connection.serverEnded, true, 'the connection was still open after 200 lone CR and LF');
      const status = parseResponseAt(connection.pendingBytes, 0)?.response.status;
      assert.ok(status === 400 || status === 408, `answered ${status}`);
    } finally {
      connection.destroy();
    }
  });

  test('a few empty lines before a request line are ignored (RFC 9112 §2.2)', async () => {
    const connection = await RawConnection.open(server.port);
    try {
      connection.write('\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      assert.equal((await connection.readResponse()).status, 200);
    } finally {
      connection.destroy();
    }
  });

  test('many empty lines sent at once: 400, then the close', async () => {
    const answer = await rawExchange(server.port, `${'\r\n'.repeat(50)}GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, {
      timeoutMs: 5_000,
    });
    assert.equal(parseResponseAt(answer, 0)?.response.status, 400);
  });
});

describe('a slow request body', () => {
  let server: RunningServer;

  before(async () => {
    server = await startStaticServer(folder.path, { timeouts: { headersMs: 300 } });
  });

  after(async () => {
    await server?.close();
  });

  test('a GET with a body trickling in is answered at once, and the connection does not wait for the body forever', async () => {
    const connection = await RawConnection.open(server.port);
    try {
      connection.write('GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nx');
      const response = await connection.readResponse('GET', 3_000);
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), 'aaaa\n');
      for (let index = 0; index < 200 && !connection.serverEnded; index++) {
        connection.write('x');
        await delay(25);
      }
      assert.equal(connection.serverEnded, true, 'the server waited for 200 more bytes of a body it does not need');
    } finally {
      connection.destroy();
    }
  });

  test('a body that is complete soon enough keeps the connection: the next request is answered', async () => {
    const connection = await RawConnection.open(server.port);
    try {
      connection.write('GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nab');
      assert.equal((await connection.readResponse()).status, 200);
      connection.write('cdGET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      const next = await connection.readResponse();
      assert.equal(next.status, 200);
      assert.equal(connection.serverEnded, false);
    } finally {
      connection.destroy();
    }
  });

  test('after a final answer, a client that keeps sending is not read from forever (bounded lingering close)', async () => {
    const connection = await RawConnection.open(server.port);
    try {
      connection.write('POST /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\nx');
      const response = await connection.readResponse('POST', 3_000);
      assert.equal(response.status, 405);
      assert.equal(response.field('connection'), 'close');
      // One byte every 25 ms for at most 8 s: the lingering close lasts 2 s at most.
      for (let index = 0; index < 320 && !connection.socket.destroyed; index++) {
        connection.write('x');
        await delay(25);
      }
      assert.equal(connection.socket.destroyed, true, 'the server went on reading a body it had refused');
    } finally {
      connection.destroy();
    }
  });
});

describe('bytes that cannot begin a request line get 400 at once', () => {
  let server: RunningServer;

  before(async () => {
    server = await startStaticServer(folder.path, { timeouts: { headersMs: 10_000 } });
  });

  after(async () => {
    await server?.close();
  });

  const hostile: Array<[name: string, bytes: Buffer]> = [
    ['a TLS ClientHello on the plain port', Buffer.from('16030100c4010000c00303', 'hex')],
    ['binary garbage', Buffer.from([0x00, 0x01, 0x02, 0xff])],
    ['an ELF header', Buffer.from('\x7fELF', 'latin1')],
    ['a space where the method must start', Buffer.from(' GET /a.txt')],
    ['a control character inside the method', Buffer.from('GE\x01T /a.txt')],
    ['a lone CR followed by something else', Buffer.from('\rGET /a.txt')],
    ['a NUL in the request target', Buffer.from('GET /a\x00b')],
    ['another protocol name', Buffer.from('GET /a.txt FTP/1.1')],
  ];
  for (const [name, bytes] of hostile) {
    test(`${name}: 400 and the close, long before the head timeout`, async () => {
      // rawExchange resolves when the server closes, or after 3 s (well before the 10 s head timeout).
      const answer = await rawExchange(server.port, bytes, { timeoutMs: 3_000 });
      assert.equal(parseResponseAt(answer, 0)?.response.status, 400, `answer: ${JSON.stringify(answer.toString('latin1').slice(0, 80))}`);
    });
  }

  test('a valid request line arriving a byte at a time is not refused', async () => {
    const connection = await RawConnection.open(server.port);
    try {
      for (const byte of Buffer.from('GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')) {
        connection.write(Buffer.from([byte]));
        await delay(1);
      }
      assert.equal((await connection.readResponse()).status, 200);
    } finally {
      connection.destroy();
    }
  });
});

/** The first bytes node:tls sends as a client: a genuine ClientHello, caught by a plain TCP server. */
function captureClientHello(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const catcher = createTcpServer((socket) => {
      socket.once('data', (hello: Buffer) => {
        resolve(hello);
        socket.destroy();
        catcher.close();
      });
    });
    catcher.listen(0, '127.0.0.1', () => {
      const client = tlsConnect({ port: (catcher.address() as AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false });
      client.on('error', () => {});
      setTimeout(() => client.destroy(), 2_000).unref();
    });
    catcher.on('error', reject);
  });
}

const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

describe('TLS connections that never finish their handshake', { skip: !hasOpenssl && 'openssl is not installed' }, () => {
  let server: RunningServer;

  before(async () => {
    const cert = join(folder.path, 'cert.pem');
    const key = join(folder.path, 'key.pem');
    const made = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'],
      { stdio: 'ignore' },
    );
    assert.equal(made.status, 0, 'openssl could not make a certificate');
    server = await startStaticServer(folder.path, {
      tls: { cert: readFileSync(cert), key: readFileSync(key) },
      timeouts: { headersMs: 300 },
    });
  });

  after(async () => {
    await server?.close();
  });

  test('20 connections that send nothing are closed after the head timeout, not Node’s 120 s', async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => openSocket(server.port)));
    try {
      const allClosed = await Promise.all(sockets.map((socket) => closed(socket, 5_000)));
      assert.ok(allClosed.every(Boolean), `${allClosed.filter((done) => !done).length} silent TLS connections still open after 5 s`);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  test('a real ClientHello trickling in a byte every 30 ms is let go too: the bound is from the connection, not from the last byte', async () => {
    const hello = await captureClientHello();
    const socket = await openSocket(server.port);
    try {
      for (let index = 0; index < hello.length - 1 && index < 200 && !socket.destroyed; index++) {
        socket.write(hello.subarray(index, index + 1));
        await delay(30);
      }
      assert.equal(socket.destroyed || (await closed(socket, 100)), true, 'the trickling handshake was still open');
    } finally {
      socket.destroy();
    }
  });
});
