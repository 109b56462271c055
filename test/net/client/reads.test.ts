/**
 * How the client reads plain TCP sockets (net's `onread`, into reused memory) and lends chunks with
 * consumeBody. What must hold: a chunk someone keeps is never overwritten by a later read — bodies
 * read through `body` and kept whole, slowly or at once, big or small, one response or many on one
 * kept-alive connection — and consumeBody sees exactly the bytes sent, ends with the body, and
 * fails the way the body stream would.
 *
 * The server is a raw node:net socket answering every request head on a connection with
 * `GET /SIZE` → SIZE bytes of a pattern that differs per response, so a byte overwritten by a
 * later read shows up as a mismatch.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Agent, ClientError, request } from '../../../src/index.js';

const BOUND = { timeoutMs: 15_000 };
const HEAD_END = Buffer.from('\r\n\r\n');

/** `size` bytes that depend on `seed`: 32-bit words of a multiplicative sequence. */
function pattern(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  let word = (seed * 2654435761) >>> 0;
  for (let offset = 0; offset < size; offset += 4) {
    word = (Math.imul(word, 1664525) + 1013904223) >>> 0;
    if (offset + 4 <= size) bytes.writeUInt32LE(word, offset);
    else for (let i = offset; i < size; i++) bytes[i] = word >>> (8 * (i - offset));
  }
  return bytes;
}

interface PatternServer {
  url(path: string): string;
  /** Responses sent so far, in order, over every connection (their seeds). */
  sent: number;
  close(): Promise<void>;
}

/** Answers each request head with its pattern; `/gzip/SIZE` sends it gzip-coded. */
async function startPatternServer(): Promise<PatternServer> {
  const sockets = new Set<Socket>();
  const state = { sent: 0 };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (let end = pending.indexOf(HEAD_END); end !== -1; end = pending.indexOf(HEAD_END)) {
        const head = pending.toString('latin1', 0, end);
        pending = pending.subarray(end + HEAD_END.length);
        const [, path = '/0'] = head.split(' ');
        const gzip = path.startsWith('/gzip/');
        const size = Number(path.slice(path.lastIndexOf('/') + 1));
        const seed = state.sent++;
        const body = gzip ? gzipSync(pattern(size, seed)) : pattern(size, seed);
        socket.write(
          `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nX-Seed: ${seed}\r\n${gzip ? 'Content-Encoding: gzip\r\n' : ''}\r\n`,
        );
        socket.write(body);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    get sent() {
      return state.sent;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const seedOf = (fields: { get(name: string): string | undefined }) => Number(fields.get('x-seed'));

describe('client reads: kept chunks are never overwritten', () => {
  let server: PatternServer;
  before(async () => {
    server = await startPatternServer();
  });
  after(async () => {
    await server?.close();
  });

  test('a 16 MiB body read through `body`, every chunk kept until the end', async () => {
    const size = 16 * 1024 * 1024;
    const response = await request(server.url(`/${size}`), BOUND);
    const chunks: Buffer[] = [];
    for await (const chunk of response.body) chunks.push(chunk as Buffer);
    assert.ok(chunks.length > 1, 'the body came in several reads');
    assert.ok(Buffer.concat(chunks).equals(pattern(size, seedOf(response.fields))));
  });

  test('a slow reader: the socket pauses and resumes, kept chunks stay intact', async () => {
    const size = 8 * 1024 * 1024;
    const response = await request(server.url(`/${size}`), BOUND);
    const chunks: Buffer[] = [];
    let count = 0;
    for await (const chunk of response.body) {
      chunks.push(chunk as Buffer);
      if (++count % 4 === 0) await sleep(1); // the Readable fills, the socket is paused
    }
    assert.ok(Buffer.concat(chunks).equals(pattern(size, seedOf(response.fields))));
  });

  test('many responses of many sizes on one kept-alive connection, all bodies kept, checked at the end', async () => {
    const agent = new Agent();
    try {
      const sizes = [0, 1, 100, 4095, 4096, 4097, 20_000, 65_536, 70_000, 300_000, 1_000_000, 5, 3_000_000, 64, 128_000];
      const kept: Array<{ seed: number; size: number; chunks: Buffer[] }> = [];
      for (const size of [...sizes, ...sizes]) {
        const response = await request(server.url(`/${size}`), { ...BOUND, agent });
        const chunks: Buffer[] = [];
        for await (const chunk of response.body) chunks.push(chunk as Buffer);
        kept.push({ seed: seedOf(response.fields), size, chunks });
      }
      assert.equal(agent.connectionsOpened, 1);
      for (const { seed, size, chunks } of kept)
        assert.ok(Buffer.concat(chunks).equals(pattern(size, seed)), `the body of ${size} bytes (seed ${seed}) changed`);
    } finally {
      agent.close();
    }
  });
});

describe('ClientResponse.consumeBody: chunks lent to a synchronous receiver', () => {
  let server: PatternServer;
  before(async () => {
    server = await startPatternServer();
  });
  after(async () => {
    await server?.close();
  });

  test('receives exactly the body, and resolves at its end', async () => {
    const size = 16 * 1024 * 1024;
    const response = await request(server.url(`/${size}`), BOUND);
    const copies: Buffer[] = [];
    await response.consumeBody((chunk) => copies.push(Buffer.from(chunk))); // lent: copied to be kept
    assert.ok(Buffer.concat(copies).equals(pattern(size, seedOf(response.fields))));
    assert.equal(response.bodyBytesReceived, size);
  });

  test('what reached the body stream before consumeBody was called comes first', async () => {
    const size = 2 * 1024 * 1024;
    const response = await request(server.url(`/${size}`), BOUND);
    for (let turn = 0; turn < 200 && response.body.readableLength === 0; turn++) await nextTurn();
    assert.ok(response.body.readableLength > 0, 'some of the body waits in the stream');
    const copies: Buffer[] = [];
    await response.consumeBody((chunk) => copies.push(Buffer.from(chunk)));
    assert.ok(Buffer.concat(copies).equals(pattern(size, seedOf(response.fields))));
  });

  test('after consumeBody the connection carries the next request, whose kept chunks stay intact', async () => {
    const agent = new Agent();
    try {
      const first = await request(server.url(`/${4 * 1024 * 1024}`), { ...BOUND, agent });
      let received = 0;
      await first.consumeBody((chunk) => (received += chunk.length));
      assert.equal(received, 4 * 1024 * 1024);
      const size = 4 * 1024 * 1024;
      const second = await request(server.url(`/${size}`), { ...BOUND, agent });
      const chunks: Buffer[] = [];
      for await (const chunk of second.body) chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(pattern(size, seedOf(second.fields))));
      assert.equal(agent.connectionsOpened, 1);
    } finally {
      agent.close();
    }
  });

  test('a receiver that throws: consumeBody rejects with its error and the connection is not kept', async () => {
    const agent = new Agent();
    try {
      const response = await request(server.url(`/${4 * 1024 * 1024}`), { ...BOUND, agent });
      const failure = new Error('disk full');
      let calls = 0;
      await assert.rejects(
        response.consumeBody(() => {
          if (++calls === 2) throw failure;
        }),
        (error) => error === failure,
      );
      assert.equal(calls, 2, 'nothing is delivered after the receiver failed');
      assert.equal(agent.idleConnections, 0);
    } finally {
      agent.close();
    }
  });

  test('a body cut short: consumeBody rejects with incomplete-body', async () => {
    const sockets = new Set<Socket>();
    const short: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n');
        socket.end(pattern(300_000, 1));
      });
    });
    await new Promise<void>((resolve) => short.listen(0, '127.0.0.1', resolve));
    try {
      const response = await request(`http://127.0.0.1:${(short.address() as AddressInfo).port}/`, BOUND);
      await assert.rejects(
        response.consumeBody(() => {}),
        (error) => error instanceof ClientError && error.code === 'incomplete-body',
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => short.close(() => resolve()));
    }
  });

  test('with decompress, the decoded body is what is lent', async () => {
    const size = 3 * 1024 * 1024;
    const response = await request(server.url(`/gzip/${size}`), { ...BOUND, decompress: true });
    const copies: Buffer[] = [];
    await response.consumeBody((chunk) => copies.push(Buffer.from(chunk)));
    assert.ok(Buffer.concat(copies).equals(pattern(size, seedOf(response.fields))));
  });
});

describe('for await over a body: the same contract as any Readable', () => {
  let server: PatternServer;
  before(async () => {
    server = await startPatternServer();
  });
  after(async () => {
    await server?.close();
  });

  test("'end' and 'close' are still emitted when the body is read with for await", async () => {
    const response = await request(server.url('/50000'), BOUND);
    const events: string[] = [];
    response.body.once('end', () => events.push('end'));
    const closed = new Promise<void>((resolve) => response.body.once('close', () => resolve()));
    let length = 0;
    for await (const chunk of response.body) length += (chunk as Buffer).length;
    await closed;
    assert.equal(length, 50_000);
    assert.deepEqual(events, ['end']);
  });

  test('leaving the loop early destroys the body, and the connection is not kept', async () => {
    const agent = new Agent();
    try {
      const response = await request(server.url(`/${4 * 1024 * 1024}`), { ...BOUND, agent });
      for await (const _chunk of response.body) break;
      assert.equal(response.body.destroyed, true);
      assert.equal(agent.idleConnections, 0);
      const next = await request(server.url('/10'), { ...BOUND, agent });
      for await (const _chunk of next.body);
      assert.equal(next.connection.reused, false);
    } finally {
      agent.close();
    }
  });

  test('the body destroyed while a loop waits: the loop ends with an error, not a hang', async () => {
    const sockets = new Set<Socket>();
    const stalling: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b')); // then silence
    });
    await new Promise<void>((resolve) => stalling.listen(0, '127.0.0.1', resolve));
    try {
      const response = await request(`http://127.0.0.1:${(stalling.address() as AddressInfo).port}/`, BOUND);
      const loop = (async () => {
        for await (const _chunk of response.body);
      })();
      await nextTurn();
      response.body.destroy();
      await assert.rejects(loop, (error: NodeJS.ErrnoException) => error.code === 'ERR_STREAM_PREMATURE_CLOSE');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => stalling.close(() => resolve()));
    }
  });

  test('a body cut short: the loop throws incomplete-body', async () => {
    const sockets = new Set<Socket>();
    const short: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n');
        socket.end(pattern(300_000, 1));
      });
    });
    await new Promise<void>((resolve) => short.listen(0, '127.0.0.1', resolve));
    try {
      const response = await request(`http://127.0.0.1:${(short.address() as AddressInfo).port}/`, BOUND);
      let received = 0;
      await assert.rejects(
        (async () => {
          for await (const chunk of response.body) received += (chunk as Buffer).length;
        })(),
        (error) => error instanceof ClientError && error.code === 'incomplete-body',
      );
      assert.ok(received <= 300_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => short.close(() => resolve()));
    }
  });
});
