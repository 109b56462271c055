/**
 * Helpers for the client, `sockhttp get` and lab tests: a hand-written "server" on raw node:net that
 * answers with exact bytes (whole, or in pieces with pauses, then closing or staying silent) and
 * records what each client sent; a port known to be closed; and small readers of response bytes
 * that do not use our own parser, so a test never judges the client with the code under test.
 */
import assert from 'node:assert/strict';
import { type Server, type Socket, createServer } from 'node:net';
import type { Readable } from 'node:stream';

/** What a raw server does on each connection. */
export interface RawAnswer {
  /** Written in order; an empty list means the server never answers. */
  pieces: Array<Buffer | string>;
  /** Pause between two pieces (default 0: written back to back, still as separate writes). */
  delayMs?: number;
  /**
   * After the last piece: 'end' shuts our side (FIN; the close that delimits a body), 'destroy'
   * drops the connection, 'keep-open' leaves it open until the client goes (default 'end').
   */
  after?: 'end' | 'destroy' | 'keep-open';
  /** Wait for the client's whole request head (CRLF CRLF) before answering (default true). */
  waitForRequestHead?: boolean;
}

export interface RawServer {
  port: number;
  url(path?: string): string;
  /** Every byte each connection sent us, in connection order. */
  received(): Buffer[];
  /** Resolves with the bytes of connection `index` once its request head is complete. */
  requestHead(index?: number, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

const HEAD_END = Buffer.from('\r\n\r\n');

function toBuffer(piece: Buffer | string): Buffer {
  return typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece;
}

/** The concatenation of an answer's pieces: exactly the bytes a client of this server receives. */
export function answerBytes(answer: RawAnswer): Buffer {
  return Buffer.concat(answer.pieces.map(toBuffer));
}

/** Splits `bytes` into pieces of `size` bytes (the last may be shorter). */
export function splitEvery(bytes: Buffer | string, size: number): Buffer[] {
  const whole = toBuffer(bytes);
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < whole.length; offset += size) pieces.push(whole.subarray(offset, offset + size));
  return pieces;
}

/**
 * A TCP server on 127.0.0.1 and an ephemeral port answering every connection with `answer`
 * (or with `answer(index)` for the index-th connection).
 */
export async function startRawServer(answer: RawAnswer | ((index: number) => RawAnswer)): Promise<RawServer> {
  const sockets = new Set<Socket>();
  const received: Buffer[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of [...listeners]) listener();
  };

  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    const index = received.length;
    received.push(Buffer.alloc(0));
    sockets.add(socket);
    const plan = typeof answer === 'function' ? answer(index) : answer;
    socket.setNoDelay(true);
    socket.on('error', () => {}); // a client that resets is part of some tests
    socket.on('close', () => sockets.delete(socket));
    // The client may half-close after its request; we still answer, then close.
    socket.on('end', () => {
      if (plan.after === 'keep-open') socket.end();
    });

    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      writePiece(0);
    };
    const writePiece = (pieceIndex: number) => {
      if (socket.destroyed) return;
      if (pieceIndex >= plan.pieces.length) {
        if ((plan.after ?? 'end') === 'end') socket.end();
        else if (plan.after === 'destroy') socket.destroy();
        return;
      }
      socket.write(toBuffer(plan.pieces[pieceIndex]!));
      if (plan.delayMs === undefined || plan.delayMs === 0) {
        writePiece(pieceIndex + 1);
        return;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        writePiece(pieceIndex + 1);
      }, plan.delayMs);
      timers.add(timer);
    };

    // Keep reading for as long as the connection lives: closing with unread bytes would send a reset.
    socket.on('data', (chunk: Buffer) => {
      received[index] = Buffer.concat([received[index]!, chunk]);
      notify();
      if (received[index]!.includes(HEAD_END)) start();
    });
    if (plan.waitForRequestHead === false) start();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const port = address.port;

  return {
    port,
    url: (path = '/') => `http://127.0.0.1:${port}${path}`,
    received: () => [...received],
    requestHead(index = 0, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const bytes = received[index];
          if (bytes === undefined) return;
          const end = bytes.indexOf(HEAD_END);
          if (end === -1) return;
          finish();
          resolve(bytes.toString('latin1', 0, end + HEAD_END.length));
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no complete request head on connection ${index} within ${timeoutMs} ms`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port that was just bound on 127.0.0.1 and released, so nothing listens there. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

/** Reads a body stream to its end. */
export async function readAll(body: Readable | AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface SplitResponse {
  /** The status line. */
  statusLine: string;
  /** The field lines, as received, without the empty line. */
  fieldLines: string[];
  /** The value of the first field line named `name` (case-insensitive). */
  field(name: string): string | undefined;
  /** Everything after the empty line. */
  body: Buffer;
}

/**
 * Splits response bytes at the first CRLF CRLF (the lab servers and ours always use CRLF). It reads
 * no framing: the body is simply everything after the head.
 */
export function splitResponse(bytes: Buffer): SplitResponse {
  const end = bytes.indexOf(HEAD_END);
  if (end === -1) throw new Error(`no end of head in ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}`);
  const [statusLine, ...fieldLines] = bytes.toString('latin1', 0, end).split('\r\n');
  const field = (name: string) => {
    const line = fieldLines.find((candidate) => candidate.slice(0, candidate.indexOf(':')).toLowerCase() === name.toLowerCase());
    return line === undefined ? undefined : line.slice(line.indexOf(':') + 1).trim();
  };
  return { statusLine: statusLine!, fieldLines, field, body: bytes.subarray(end + HEAD_END.length) };
}

/** Asserts that `text` is exactly one non-empty line ending in a newline (how every CLI error looks). */
export function assertOneLine(text: string, what = 'stderr'): void {
  assert.match(text, /^[^\n]+\n$/, `${what} should be one line, got ${JSON.stringify(text)}`);
}
