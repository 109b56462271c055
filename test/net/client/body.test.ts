/**
 * The response body as a stream, whichever way it is read and however its bytes arrived. The body
 * holds delivered chunks until the stream machinery asks for them, and our async iterator takes
 * them straight from there (ResponseBody in exchange.ts): these tests read every body with each
 * reader (for await, 'data', pipe, read() on 'readable', and read() then for await), with the body
 * arriving whole, in three pieces, split at every byte, and complete before anyone reads, and
 * check the bytes, their order, a single 'end', readableEnded and readableLength.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from '../../../src/index.js';
import { type RawAnswer, type RawServer, splitEvery, startRawServer } from './helpers.js';

const BOUNDED = { timeout: 20_000 };
const BODY = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz'.repeat(3), 'latin1');
const HEAD = `HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\n\r\n`;

const ARRIVALS: Record<string, RawAnswer> = {
  'whole, with the head': { pieces: [Buffer.concat([Buffer.from(HEAD, 'latin1'), BODY])], after: 'keep-open' },
  'head, then the body in three pieces': {
    pieces: [HEAD, BODY.subarray(0, 10), BODY.subarray(10, 50), BODY.subarray(50)],
    delayMs: 5,
    after: 'keep-open',
  },
  'split at every byte': { pieces: splitEvery(Buffer.concat([Buffer.from(HEAD, 'latin1'), BODY]), 1), delayMs: 1, after: 'keep-open' },
};

type Reader = (body: Readable) => Promise<Buffer>;

const READERS: Record<string, Reader> = {
  'for await': async (body) => {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  },
  "'data' events": async (body) => {
    const chunks: Buffer[] = [];
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(body, 'end');
    return Buffer.concat(chunks);
  },
  'pipeline into a Writable': async (body) => {
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    });
    await pipeline(body, sink);
    return Buffer.concat(chunks);
  },
  "read() on 'readable'": async (body) => {
    const chunks: Buffer[] = [];
    body.on('readable', () => {
      for (let chunk = body.read() as Buffer | null; chunk !== null; chunk = body.read() as Buffer | null) chunks.push(chunk);
    });
    await once(body, 'end');
    return Buffer.concat(chunks);
  },
  'read() of what is there, then for await for the rest': async (body) => {
    const chunks: Buffer[] = [];
    const first = body.read() as Buffer | null;
    if (first !== null) chunks.push(first);
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  },
};

describe('the response body, read every way, however it arrived', () => {
  const servers = new Map<string, RawServer>();
  before(async () => {
    for (const [name, answer] of Object.entries(ARRIVALS)) servers.set(name, await startRawServer(answer));
  });
  after(async () => {
    for (const server of servers.values()) await server.close();
  });

  for (const arrival of Object.keys(ARRIVALS)) {
    for (const [readerName, read] of Object.entries(READERS)) {
      for (const waitFirst of [false, true]) {
        const when = waitFirst ? 'after the whole body arrived' : 'at once';
        test(`${arrival}; ${readerName}, ${when}`, BOUNDED, async () => {
          const agent = new Agent();
          try {
            const response = await request(servers.get(arrival)!.url('/'), { agent });
            if (waitFirst) {
              for (let turn = 0; turn < 500 && response.bodyBytesReceived < BODY.length; turn++) await sleep(2);
              assert.equal(response.bodyBytesReceived, BODY.length);
              assert.equal(response.body.readableLength, BODY.length, 'readableLength counts what waits to be read');
            }
            let ends = 0;
            response.body.on('end', () => ends++);
            const received = await read(response.body);
            assert.ok(received.equals(BODY), `got ${JSON.stringify(received.toString('latin1'))}`);
            await sleep(0);
            assert.equal(ends, 1, "exactly one 'end'");
            assert.equal(response.body.readableEnded, true);
            assert.equal(agent.idleConnections, 1, 'the connection went back to the pool');
          } finally {
            agent.close();
          }
        });
      }
    }
  }
});

describe('the response body: backpressure and endings', () => {
  test('a large body nobody reads stops the socket: what waits is bounded, and all of it arrives once read', BOUNDED, async () => {
    const size = 8 * 1024 * 1024;
    const large = Buffer.alloc(size, 0x61);
    const server = await startRawServer({ pieces: [`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`, large], after: 'keep-open' });
    try {
      const response = await request(server.url('/'));
      let previous = -1;
      for (let turn = 0; turn < 100 && response.bodyBytesReceived !== previous; turn++) {
        previous = response.bodyBytesReceived;
        await sleep(20);
      }
      assert.ok(response.bodyBytesReceived < size, `received ${response.bodyBytesReceived} of ${size} with nobody reading`);
      let total = 0;
      for await (const chunk of response.body) total += (chunk as Buffer).length;
      assert.equal(total, size);
    } finally {
      await server.close();
    }
  });

  test("after for await over a complete body: 'end', then 'close'", BOUNDED, async () => {
    const server = await startRawServer(ARRIVALS['whole, with the head']!);
    try {
      const response = await request(server.url('/'));
      const closed = once(response.body, 'close');
      for await (const _ of response.body);
      await closed;
      assert.equal(response.body.readableEnded, true);
      assert.equal(response.body.destroyed, true);
    } finally {
      await server.close();
    }
  });
});
