/**
 * HTTP/2 end to end on a plain port (h2c with prior knowledge, RFC 9113 §3.3), with node:http2 as the
 * client (a peer nobody here wrote) and hostile raw sockets that write exact frame bytes by hand. The
 * responses are the same plans as over HTTP/1.1: conditional GET, ranges, HEAD, 404; the access log
 * has one entry per stream. Each defence is checked by the GOAWAY code the hostile peer gets, while
 * another client goes on being served.
 */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, connect as connectH2, constants } from 'node:http2';
import { type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { HpackDecoder } from '../../../src/core/h2/hpack/index.js';
import { type AccessLogEntry, createServer, type HttpServer, prepareResponse } from '../../../src/index.js';
import { type RunningServer, makeTempDir, rawExchange, startStaticServer } from '../../helpers.js';

const BIG = Buffer.alloc(3 * 1024 * 1024);
for (let index = 0; index < BIG.length; index++) BIG[index] = (index * 7 + (index >> 11)) & 0xff;

let tree: ReturnType<typeof makeTempDir>;
let server: RunningServer;
const accessLog: AccessLogEntry[] = [];

before(async () => {
  tree = makeTempDir();
  writeFileSync(join(tree.path, 'index.html'), '<!doctype html><title>home</title><p>home page</p>\n');
  writeFileSync(join(tree.path, 'style.css'), 'body { color: teal; }\n');
  writeFileSync(join(tree.path, 'big.bin'), BIG);
  server = await startStaticServer(tree.path, { onAccess: (entry) => accessLog.push(entry), compress: false });
});

after(async () => {
  await server.close();
  tree.remove();
});

interface H2Response {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function h2Session(port: number, settings: Record<string, number> = {}): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connectH2(`http://127.0.0.1:${port}`, { settings });
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': '/', ...headers }, { endStream: true });
    const parts: Buffer[] = [];
    let responseHeaders: IncomingHttpHeaders = {};
    stream.on('response', (received) => {
      responseHeaders = received;
    });
    stream.on('data', (chunk: Buffer) => parts.push(chunk));
    stream.on('end', () => resolve({ headers: responseHeaders, body: Buffer.concat(parts) }));
    stream.on('error', reject);
    stream.setTimeout(10_000, () => reject(new Error('timed out')));
  });
}

describe('HTTP/2 with prior knowledge on a plain port (node:http2 as the client)', () => {
  test('a GET: status, fields (lowercase, date, content-length, no connection-specific fields), body; the access log says HTTP/2.0', async () => {
    const session = await h2Session(server.port);
    try {
      const response = await h2Request(session, { ':path': '/index.html', 'user-agent': 'h2-test' });
      assert.equal(response.headers[':status'], 200);
      assert.equal(response.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(response.headers['content-length'], String(response.body.length));
      assert.ok(response.headers.date);
      assert.equal(response.headers.connection, undefined);
      assert.equal(response.body.toString(), '<!doctype html><title>home</title><p>home page</p>\n');
      const entry = accessLog.find((logged) => logged.userAgent === 'h2-test');
      assert.ok(entry !== undefined);
      assert.equal(entry.version, '2.0');
      assert.equal(entry.target, '/index.html');
      assert.equal(entry.bytesSent, response.body.length);
    } finally {
      session.close();
    }
  });

  test('the same plans as HTTP/1.1: HEAD, conditional GET (304), a range (206), 404', async () => {
    const session = await h2Session(server.port);
    try {
      const full = await h2Request(session, { ':path': '/style.css' });
      const head = await h2Request(session, { ':path': '/style.css', ':method': 'HEAD' });
      assert.equal(head.headers[':status'], 200);
      assert.equal(head.headers['content-length'], String(full.body.length));
      assert.equal(head.body.length, 0);
      const etag = full.headers.etag as string;
      assert.ok(etag);
      const notModified = await h2Request(session, { ':path': '/style.css', 'if-none-match': etag });
      assert.equal(notModified.headers[':status'], 304);
      assert.equal(notModified.body.length, 0);
      const range = await h2Request(session, { ':path': '/style.css', range: 'bytes=0-3' });
      assert.equal(range.headers[':status'], 206);
      assert.equal(range.body.toString(), 'body');
      assert.equal(range.headers['content-range'], `bytes 0-3/${full.body.length}`);
      const missing = await h2Request(session, { ':path': '/nothing-here' });
      assert.equal(missing.headers[':status'], 404);
    } finally {
      session.close();
    }
  });

  test('many concurrent streams and a big file share one connection; a 16 KiB window is honoured', async () => {
    const session = await h2Session(server.port, { initialWindowSize: 16_384 });
    try {
      const requests = [h2Request(session, { ':path': '/big.bin' })];
      for (let index = 0; index < 20; index++)
        requests.push(h2Request(session, { ':path': index % 2 === 0 ? '/index.html' : '/style.css' }));
      const responses = await Promise.all(requests);
      assert.ok(responses[0]!.body.equals(BIG), 'the big file arrives whole');
      for (const response of responses.slice(1)) assert.equal(response.headers[':status'], 200);
    } finally {
      session.close();
    }
  });

  test('two big files on one connection take turns: each starts before the other ends', async () => {
    // Bodies in memory (always ready) and windows large enough for both: only the server's turns
    // decide the order.
    const inMemory = createServer({ handler: () => ({ status: 200, fields: [], body: { kind: 'bytes', bytes: BIG } }) });
    await inMemory.listen(0);
    const session = await h2Session(inMemory.address!.port, { initialWindowSize: 16 * 1024 * 1024 });
    session.setLocalWindowSize(32 * 1024 * 1024);
    try {
      const order: string[] = [];
      const fetchLogged = (name: string) =>
        new Promise<Buffer>((resolve, reject) => {
          const stream = session.request({ ':path': '/big.bin' }, { endStream: true });
          const parts: Buffer[] = [];
          stream.once('data', () => order.push(`${name} first`));
          stream.on('data', (chunk: Buffer) => parts.push(chunk));
          stream.on('end', () => {
            order.push(`${name} end`);
            resolve(Buffer.concat(parts));
          });
          stream.on('error', reject);
        });
      const [a, b] = await Promise.all([fetchLogged('a'), fetchLogged('b')]);
      assert.ok(a.equals(BIG) && b.equals(BIG));
      assert.deepEqual(order.slice(0, 2).sort(), ['a first', 'b first'], `order: ${order.join(', ')}`);
    } finally {
      session.close();
      await inMemory.close(1_000);
    }
  });

  test('a stream reset mid-body: the file descriptor is closed, and the connection serves the next stream', async () => {
    const fdsBefore = readdirSync('/proc/self/fd').length;
    const session = await h2Session(server.port, { initialWindowSize: 65_535 });
    try {
      await new Promise<void>((resolve, reject) => {
        const stream = session.request({ ':path': '/big.bin' }, { endStream: true });
        stream.once('data', () => {
          stream.close(constants.NGHTTP2_CANCEL);
          resolve();
        });
        stream.on('error', reject);
      });
      const next = await h2Request(session, { ':path': '/style.css' });
      assert.equal(next.headers[':status'], 200);
    } finally {
      session.close();
    }
    await waitUntil(() => readdirSync('/proc/self/fd').length <= fdsBefore, 3_000);
    assert.ok(readdirSync('/proc/self/fd').length <= fdsBefore, 'every descriptor opened for the reset stream is closed');
  });

  test('the connection lost mid-body: the file descriptors of its streams are closed', async () => {
    const fdsBefore = readdirSync('/proc/self/fd').length;
    const session = await h2Session(server.port);
    await new Promise<void>((resolve) => {
      for (let index = 0; index < 3; index++) session.request({ ':path': '/big.bin' }, { endStream: true }).on('error', () => {});
      session.request({ ':path': '/big.bin' }, { endStream: true }).once('data', () => {
        session.destroy();
        resolve();
      });
    });
    await waitUntil(() => readdirSync('/proc/self/fd').length <= fdsBefore, 3_000);
    assert.ok(readdirSync('/proc/self/fd').length <= fdsBefore, 'every descriptor opened for the lost streams is closed');
    const next = await h2Session(server.port);
    try {
      assert.equal((await h2Request(next, { ':path': '/style.css' })).headers[':status'], 200, 'the server goes on');
    } finally {
      next.close();
    }
  });

  test('HTTP/1.1 still works on the same port, POST and PUT included (they start like the preface)', async () => {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH']) {
      const reply = await rawExchange(server.port, `${method} /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, {
        timeoutMs: 5_000,
      });
      assert.match(reply.toString('latin1'), /^HTTP\/1\.1 \d{3} /, method);
    }
  });

  test('a slowloris whose head starts like the preface ("P…") still has headersMs from its first byte, not more', async () => {
    const quick = await startStaticServer(tree.path, { timeouts: { headersMs: 1_000 } });
    try {
      const peer = new RawPeer(quick.port);
      const start = Date.now();
      peer.write(Buffer.from('P'));
      await new Promise((resolve) => setTimeout(resolve, 800));
      peer.write(Buffer.from('OST / HTTP/1.1\r\n'));
      for (let index = 0; index < 30 && !peer.closed && peer.received.length === 0; index++) {
        peer.write(Buffer.from('X'));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await waitUntil(() => peer.received.length > 0, 3_000);
      const elapsed = Date.now() - start;
      assert.match(peer.received.toString('latin1'), /^HTTP\/1\.1 408 /);
      assert.ok(elapsed < 1_500, `408 after ${elapsed} ms`);
    } finally {
      await quick.close();
    }
  });

  test('with http2: false the preface is not HTTP/2 (an HTTP/1.1 error and close)', async () => {
    const plain = await startStaticServer(tree.path, { http2: false });
    try {
      const reply = await rawExchange(plain.port, Buffer.concat([PREFACE, settingsFrame()]), { timeoutMs: 5_000 });
      assert.match(reply.toString('latin1'), /^HTTP\/1\.1 (400|505) /);
    } finally {
      await plain.close();
    }
  });
});

describe('plans over HTTP/2 are sent as they are now', () => {
  test('a handler that reuses its plan and changes its fields gets fresh fields every time; a prepared plan is reused', async () => {
    const fields: [string, string][] = [['X-Count', '0']];
    const bytes = Buffer.from('count 0');
    const reused = { status: 200, fields, body: { kind: 'bytes' as const, bytes } };
    let count = 0;
    const prepared = prepareResponse(200, [['X-Prepared', 'yes']], { kind: 'bytes', bytes: Buffer.from('same') });
    const server = createServer({
      handler: (request) => {
        if (request.target === '/prepared') return prepared;
        count++;
        fields[0] = ['X-Count', String(count)];
        bytes.write(`count ${count % 10}`);
        return reused;
      },
    });
    await server.listen(0);
    const session = await h2Session(server.address!.port);
    try {
      for (let round = 1; round <= 3; round++) {
        const response = await h2Request(session, { ':path': '/changing' });
        assert.equal(response.headers['x-count'], String(round));
        assert.equal(response.body.toString(), `count ${round}`);
        const again = await h2Request(session, { ':path': '/prepared' });
        assert.equal(again.headers['x-prepared'], 'yes');
        assert.equal(again.body.toString(), 'same');
      }
    } finally {
      session.close();
      await server.close(1_000);
    }
  });
});

describe('a handler streaming a body over HTTP/2', () => {
  let streaming: HttpServer;
  let destroyed = 0;
  before(async () => {
    streaming = createServer({
      handler: (request) => {
        const stream = new Readable({ read() {} });
        stream.on('close', () => destroyed++);
        if (request.target === '/endless') {
          const timer = setInterval(() => stream.push(Buffer.alloc(1024, 0x61)), 5);
          stream.on('close', () => clearInterval(timer));
        } else {
          stream.push('part one, ');
          setTimeout(() => {
            stream.push('part two');
            stream.push(null);
          }, 10);
        }
        return {
          status: 200,
          fields: [
            ['Content-Type', 'text/plain'],
            ['Connection', 'keep-alive'],
          ],
          body: { kind: 'stream', stream },
        };
      },
    });
    await streaming.listen(0);
  });
  after(() => streaming.close(1_000));

  test('DATA until the stream ends; no content-length; connection-specific fields dropped', async () => {
    const session = await h2Session(streaming.address!.port);
    try {
      const response = await h2Request(session, { ':path': '/two-parts' });
      assert.equal(response.body.toString(), 'part one, part two');
      assert.equal(response.headers['content-length'], undefined);
      assert.equal(response.headers.connection, undefined);
    } finally {
      session.close();
    }
  });

  test('a reset stream destroys the body stream', async () => {
    const before = destroyed;
    const session = await h2Session(streaming.address!.port);
    try {
      await new Promise<void>((resolve) => {
        const stream = session.request({ ':path': '/endless' }, { endStream: true });
        stream.once('data', () => {
          stream.close(constants.NGHTTP2_CANCEL);
          resolve();
        });
      });
      await waitUntil(() => destroyed > before, 3_000);
      assert.equal(destroyed, before + 1);
    } finally {
      session.close();
    }
  });
});

// ---- hostile peers: frames written by hand ----------------------------------------------------

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

function frame(type: number, flags: number, streamId: number, payload: Buffer | number[] = []): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(9);
  header.writeUIntBE(body.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, body]);
}

function settingsFrame(entries: Array<[number, number]> = []): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], index) => {
    payload.writeUInt16BE(id, index * 6);
    payload.writeUInt32BE(value, index * 6 + 2);
  });
  return frame(4, 0, 0, payload);
}

/**
 * HPACK by hand (RFC 7541): :method GET (static index 2), :scheme http (6), :path / (4) as indexed
 * fields, :authority as a literal without indexing with name index 1.
 */
const GET_BLOCK = Buffer.from([0x82, 0x86, 0x84, 0x01, 0x09, ...Buffer.from('localhost')]);
const BIG_FILE_BLOCK = Buffer.from([0x82, 0x86, 0x04, 0x08, ...Buffer.from('/big.bin'), 0x01, 0x09, ...Buffer.from('localhost')]);

function headersFrame(streamId: number, block = GET_BLOCK, flags = 0x5): Buffer {
  return frame(1, flags, streamId, block);
}

/** A raw peer: writes bytes, collects what comes back until the server closes (or the time is up). */
class RawPeer {
  readonly socket: Socket;
  received = Buffer.alloc(0);
  closed = false;
  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
    });
  }
  write(bytes: Buffer): boolean {
    return this.socket.write(bytes);
  }
  /** Frames received so far, read by their 9-octet headers (RFC 9113 §4.1). */
  frames(): Array<{ type: number; flags: number; streamId: number; payload: Buffer }> {
    const frames = [];
    let offset = 0;
    while (offset + 9 <= this.received.length) {
      const length = this.received.readUIntBE(offset, 3);
      if (offset + 9 + length > this.received.length) break;
      frames.push({
        type: this.received[offset + 3]!,
        flags: this.received[offset + 4]!,
        streamId: this.received.readUInt32BE(offset + 5) & 0x7fffffff,
        payload: this.received.subarray(offset + 9, offset + 9 + length),
      });
      offset += 9 + length;
    }
    return frames;
  }
  goAwayCode(): number | null {
    const goAway = this.frames().find((received) => received.type === 7);
    return goAway === undefined ? null : goAway.payload.readUInt32BE(4);
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

const ENHANCE_YOUR_CALM = 0xb;

describe('defences against hostile HTTP/2 peers (each ends with GOAWAY; others go on being served)', () => {
  let guarded: RunningServer;
  before(async () => {
    guarded = await startStaticServer(tree.path, { timeouts: { stallMs: 500, keepAliveMs: 5_000 } });
  });
  after(() => guarded.close());

  async function othersAreServed(): Promise<void> {
    const session = await h2Session(guarded.port);
    try {
      assert.equal((await h2Request(session, { ':path': '/style.css' })).headers[':status'], 200);
    } finally {
      session.close();
    }
  }

  test('Rapid Reset (CVE-2023-44487): HEADERS then RST_STREAM, over and over → ENHANCE_YOUR_CALM', async () => {
    const peer = new RawPeer(guarded.port);
    const frames = [PREFACE, settingsFrame()];
    for (let streamId = 1; streamId < 2 * 1000; streamId += 2) frames.push(headersFrame(streamId), frame(3, 0, streamId, [0, 0, 0, 8]));
    peer.write(Buffer.concat(frames));
    await waitUntil(() => peer.closed, 5_000);
    assert.equal(peer.goAwayCode(), ENHANCE_YOUR_CALM);
    await othersAreServed();
  });

  test('CONTINUATION flood (CVE-2023-45288): endless CONTINUATION frames → ENHANCE_YOUR_CALM', async () => {
    const peer = new RawPeer(guarded.port);
    const frames = [PREFACE, settingsFrame(), headersFrame(1, GET_BLOCK, 0x1)];
    for (let index = 0; index < 1000; index++) frames.push(frame(9, 0, 1, Buffer.alloc(100, 0x40)));
    peer.write(Buffer.concat(frames));
    await waitUntil(() => peer.closed, 5_000);
    assert.equal(peer.goAwayCode(), ENHANCE_YOUR_CALM);
    await othersAreServed();
  });

  test('HPACK bomb: a header list over the limit gets 431 on its stream, the connection goes on', async () => {
    const peer = new RawPeer(guarded.port);
    // A 4,000-byte value indexed once (literal with incremental indexing, new name), then referenced 30 times.
    const value = Buffer.alloc(4000, 0x61);
    const literal = Buffer.concat([Buffer.from([0x40, 0x01, 0x78, 0x7f]), hpackInteger(4000 - 127), value]);
    const block = Buffer.concat([GET_BLOCK, literal, Buffer.alloc(30, 0xbe)]);
    peer.write(Buffer.concat([PREFACE, settingsFrame(), headersFrame(1, block), headersFrame(3)]));
    await waitUntil(() => peer.frames().filter((received) => received.type === 1).length >= 2, 5_000);
    const heads = peer.frames().filter((received) => received.type === 1);
    assert.equal(heads.length, 2, 'both streams answered');
    // node:http2 refuses to send such a list itself, so the answers are read with the HPACK decoder.
    const decoder = new HpackDecoder();
    const statuses = heads.map((head) => [head.streamId, decoder.decode(head.payload).fields[0]]);
    assert.deepEqual(statuses, [
      [1, [':status', '431']],
      [3, [':status', '200']],
    ]);
    assert.equal(peer.goAwayCode(), null);
    peer.socket.destroy();
  });

  test('PING flood → ENHANCE_YOUR_CALM', async () => {
    const peer = new RawPeer(guarded.port);
    const frames = [PREFACE, settingsFrame()];
    for (let index = 0; index < 5000; index++) frames.push(frame(6, 0, 0, Buffer.alloc(8)));
    peer.write(Buffer.concat(frames));
    await waitUntil(() => peer.closed, 5_000);
    assert.equal(peer.goAwayCode(), ENHANCE_YOUR_CALM);
    await othersAreServed();
  });

  test('SETTINGS flood → ENHANCE_YOUR_CALM', async () => {
    const peer = new RawPeer(guarded.port);
    const frames = [PREFACE, settingsFrame()];
    for (let index = 0; index < 5000; index++) frames.push(settingsFrame([[3, 100]]));
    peer.write(Buffer.concat(frames));
    await waitUntil(() => peer.closed, 5_000);
    assert.equal(peer.goAwayCode(), ENHANCE_YOUR_CALM);
    await othersAreServed();
  });

  test('a zero window kept shut past the stall timeout → ENHANCE_YOUR_CALM, and the file is let go', async () => {
    const fdsBefore = readdirSync('/proc/self/fd').length;
    const peer = new RawPeer(guarded.port);
    // SETTINGS_INITIAL_WINDOW_SIZE 0: the server may send headers, never a byte of the body.
    peer.write(Buffer.concat([PREFACE, settingsFrame([[4, 0]]), headersFrame(1, BIG_FILE_BLOCK)]));
    await waitUntil(() => peer.closed, 5_000);
    assert.ok(peer.closed, 'the server closed the connection');
    assert.equal(peer.goAwayCode(), ENHANCE_YOUR_CALM);
    await waitUntil(() => readdirSync('/proc/self/fd').length <= fdsBefore, 2_000);
    await othersAreServed();
  });

  test('streams beyond SETTINGS_MAX_CONCURRENT_STREAMS (100) → REFUSED_STREAM', async () => {
    const peer = new RawPeer(guarded.port);
    const frames = [PREFACE, settingsFrame([[4, 0]])];
    for (let streamId = 1; streamId <= 2 * 101; streamId += 2) frames.push(headersFrame(streamId, BIG_FILE_BLOCK));
    peer.write(Buffer.concat(frames));
    await waitUntil(() => peer.frames().some((received) => received.type === 3), 5_000);
    const reset = peer.frames().find((received) => received.type === 3);
    assert.equal(reset?.streamId, 201);
    assert.equal(reset?.payload.readUInt32BE(0), 0x7);
    peer.socket.destroy();
  });

  test('a connection without open streams for keepAliveMs gets GOAWAY NO_ERROR and is closed', async () => {
    const quick = await startStaticServer(tree.path, { timeouts: { keepAliveMs: 200 } });
    try {
      const peer = new RawPeer(quick.port);
      peer.write(Buffer.concat([PREFACE, settingsFrame(), headersFrame(1)]));
      await waitUntil(() => peer.closed, 3_000);
      assert.ok(peer.closed);
      assert.ok(
        peer.frames().some((received) => received.type === 1 && received.streamId === 1),
        'the request was answered first',
      );
      assert.equal(peer.goAwayCode(), 0);
    } finally {
      await quick.close();
    }
  });

  test('a connection that never sends its preface is closed after headersMs', async () => {
    const quick = await startStaticServer(tree.path, { timeouts: { headersMs: 300 } });
    try {
      const peer = new RawPeer(quick.port);
      peer.write(PREFACE.subarray(0, 10));
      await waitUntil(() => peer.closed, 3_000);
      assert.ok(peer.closed);
    } finally {
      await quick.close();
    }
  });
});

/** The rest of an HPACK integer after a full prefix (RFC 7541 §5.1). */
function hpackInteger(rest: number): Buffer {
  const bytes: number[] = [];
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}
