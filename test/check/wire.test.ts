/**
 * The exchanges of `sockhttp check` against hand-written servers on raw node:net: the answer is
 * parsed as it arrives, each byte once; what is kept is bounded; and a server that goes on sending
 * bytes no response accounts for is stopped listening to, and said so.
 */
import assert from 'node:assert/strict';
import { type Server, type Socket, createServer } from 'node:net';
import { describe, test } from 'node:test';
import { MAX_KEPT_BODY_BYTES } from '../../src/check/answer.js';
import { MAX_KEPT_BYTES, type Target, exchange, exchangeInTurn } from '../../src/check/wire.js';
import { ResponseReader } from '../../src/core/message-reader.js';
import { type RawServer, answerBytes, splitEvery, startRawServer } from '../net/client/helpers.js';

const targetOf = (port: number): Target => ({
  host: '127.0.0.1',
  port,
  isTls: false,
  insecure: false,
  authority: `127.0.0.1:${port}`,
  path: '/',
});
const GET = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
/** Generous: only a broken exchange ever waits this long, and then the test fails rather than hangs. */
const WAIT_MS = 60_000;

async function withServer<T>(server: RawServer, run: (server: RawServer) => Promise<T>): Promise<T> {
  try {
    return await run(server);
  } finally {
    await server.close();
  }
}

/** Counts the bytes every ResponseReader is fed while `run` runs. */
async function countingReaderBytes<T>(run: () => Promise<T>): Promise<{ value: T; fed: number }> {
  const original = ResponseReader.prototype.push;
  let fed = 0;
  ResponseReader.prototype.push = function (this: ResponseReader, bytes: Buffer): void {
    fed += bytes.length;
    original.call(this, bytes);
  };
  try {
    return { value: await run(), fed };
  } finally {
    ResponseReader.prototype.push = original;
  }
}

function patterned(length: number): Buffer {
  const body = Buffer.alloc(length);
  for (let index = 0; index < length; index++) body[index] = (index * 31) & 0xff;
  return body;
}

describe('check exchanges: the answer is parsed as it arrives', () => {
  test('an answer that comes in many pieces is fed to the parser once, byte for byte', async () => {
    // 40 pieces with pauses between them, so the answer arrives in many reads. Re-parsing what
    // came so far on every read (as before) feeds the parser about n²/2 bytes.
    const body = patterned(40 * 1000);
    const answer = {
      pieces: [`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`, ...splitEvery(body, 1000)],
      delayMs: 2,
      after: 'keep-open' as const,
    };
    const total = answerBytes(answer).length;
    await withServer(await startRawServer(answer), async (server) => {
      const { value: result, fed } = await countingReaderBytes(() =>
        exchange(targetOf(server.port), GET, { waitMs: WAIT_MS, methods: ['GET'], stopWhenAnswered: true }),
      );
      assert.equal(result.timedOut, false);
      assert.equal(result.receivedBytes, total);
      const response = result.answer.responses[0]!;
      assert.equal(response.complete, true);
      assert.ok(response.body.equals(body));
      assert.equal(fed, total, `the parser was fed ${fed} bytes for an answer of ${total}`);
    });
  });

  test('exchangeInTurn feeds each byte once too, and sends the next request after each answer', async () => {
    const sockets = new Set<Socket>();
    const body = patterned(30 * 1000);
    const response = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
    let requests = 0;
    const server: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      let pending = '';
      socket.on('data', (chunk: Buffer) => {
        pending += chunk.toString('latin1');
        for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
          pending = pending.slice(end + 4);
          requests++;
          // In pieces, so the answer arrives in several reads.
          const pieces = splitEvery(response, 3000);
          const writeNext = (index: number) => {
            if (index < pieces.length && !socket.destroyed) {
              socket.write(pieces[index]!);
              setTimeout(() => writeNext(index + 1), 1);
            }
          };
          writeNext(0);
        }
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const port = (server.address() as { port: number }).port;
      const { value, fed } = await countingReaderBytes(() => exchangeInTurn(targetOf(port), [GET, GET], WAIT_MS));
      assert.equal(value.answered, 2);
      assert.equal(requests, 2);
      assert.equal(fed, 2 * response.length);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    }
  });
});

describe('check exchanges: bounded memory', () => {
  test(`a 3 MiB page: at most ${MAX_KEPT_BYTES} bytes kept, the response read to its end`, async () => {
    const body = patterned(3 * 1024 * 1024);
    const answer = { pieces: [`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`, body], after: 'keep-open' as const };
    await withServer(await startRawServer(answer), async (server) => {
      const result = await exchange(targetOf(server.port), GET, { waitMs: WAIT_MS, methods: ['GET'], stopWhenAnswered: true });
      assert.equal(result.timedOut, false);
      assert.equal(result.truncated, false);
      assert.equal(result.receivedBytes, answerBytes(answer).length);
      assert.ok(result.bytes.length <= MAX_KEPT_BYTES, `${result.bytes.length} bytes kept`);
      assert.ok(result.bytes.equals(answerBytes(answer).subarray(0, result.bytes.length)), 'the kept bytes are the start of the answer');
      const response = result.answer.responses[0]!;
      assert.equal(response.complete, true);
      assert.equal(response.bodyLength, body.length);
      assert.ok(response.body.length <= MAX_KEPT_BODY_BYTES);
      assert.ok(response.body.equals(body.subarray(0, response.body.length)));
      assert.equal(result.answer.extraBytes, 0);
    });
  });

  test('endless bytes after the response, the connection left open: check stops reading and says so', async () => {
    const answer = {
      pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', ...Array.from({ length: 64 }, () => Buffer.alloc(64 * 1024, 'x'))],
      after: 'keep-open' as const,
    };
    await withServer(await startRawServer(answer), async (server) => {
      // Without stopWhenAnswered, as the connection-close probe waits for the close.
      const result = await exchange(targetOf(server.port), GET, { waitMs: WAIT_MS, methods: ['GET'] });
      assert.equal(result.truncated, true);
      assert.equal(result.timedOut, false);
      assert.equal(result.closed, false);
      assert.ok(result.bytes.length <= MAX_KEPT_BYTES);
      assert.ok(result.receivedBytes < answerBytes(answer).length, 'it stopped before the end');
      assert.equal(result.answer.responses[0]?.status, 200);
      assert.ok(result.answer.extraBytes > MAX_KEPT_BYTES);
    });
  });

  test('endless bytes that are not HTTP: check stops reading and says so', async () => {
    const answer = {
      pieces: ['NOT HTTP AT ALL\r\n\r\n', ...Array.from({ length: 64 }, () => Buffer.alloc(64 * 1024, 'x'))],
      after: 'keep-open' as const,
    };
    await withServer(await startRawServer(answer), async (server) => {
      const result = await exchange(targetOf(server.port), GET, { waitMs: WAIT_MS, methods: ['GET'], stopWhenAnswered: true });
      assert.equal(result.truncated, true);
      assert.equal(result.timedOut, false);
      assert.equal(result.answer.error?.code, 'bad-status-line');
      assert.ok(result.bytes.length <= MAX_KEPT_BYTES);
    });
  });
});
