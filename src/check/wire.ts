/**
 * Exact bytes to a server and whatever comes back, for `sockhttp check`: no client logic in the
 * way, so a probe sees precisely what the server did (including what a friendlier client would
 * hide: bare LFs, extra bytes, a connection left open). Every exchange is bounded in time, and in
 * memory: MAX_KEPT_BYTES of the answer as it came, and answer.ts's bound on what is parsed.
 */
import { type Socket, connect } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { AnswerReader, type ParsedAnswer } from './answer.js';

export interface Target {
  host: string;
  port: number;
  isTls: boolean;
  insecure: boolean;
  /** The Host field value: host[:port] as in the URL. */
  authority: string;
  path: string;
}

/**
 * How many bytes of an answer are kept as they came (the probes look at the head), and how many
 * bytes that no expected response accounts for are read before we stop listening.
 */
export const MAX_KEPT_BYTES = 1024 * 1024;

export interface WireResult {
  /** The first bytes of the answer, exactly as they came (at most MAX_KEPT_BYTES). */
  bytes: Buffer;
  /** How many bytes came in all. */
  receivedBytes: number;
  /** The answer, read as the responses to the requests sent. */
  answer: ParsedAnswer;
  /** The server closed (or reset) the connection. */
  closed: boolean;
  /** We gave up waiting. */
  timedOut: boolean;
  /**
   * We stopped reading: more than MAX_KEPT_BYTES came that no expected response accounts for
   * (after the last one, or after a malformed answer). Whether the server would have closed is unknown.
   */
  truncated: boolean;
  /** Could not connect at all. */
  connectError: string | null;
  /** When the first byte of the answer came, in ms after sending (null if none did). */
  firstByteMs: number | null;
}

export interface ExchangeOptions {
  /** Give up after this long. */
  waitMs: number;
  /** The methods of the requests in the bytes sent, in order: the answer is read as their responses. */
  methods: string[];
  /** Stop as soon as every request has its complete response (otherwise wait for the close or waitMs). */
  stopWhenAnswered?: boolean;
  /** Stop when this is aborted (a connection held open only while another probe runs). */
  signal?: AbortSignal;
}

function open(target: Target): Socket {
  return target.isTls
    ? connectTls({
        host: target.host,
        port: target.port,
        servername: target.host,
        rejectUnauthorized: !target.insecure,
        ALPNProtocols: ['http/1.1'],
      })
    : connect({ host: target.host, port: target.port });
}

/**
 * Sends `bytes` on a new connection and reads the answer as it arrives (each byte parsed once),
 * until it is complete (with `stopWhenAnswered`), the server closes, `waitMs` passes, or more than
 * MAX_KEPT_BYTES come that no response accounts for.
 */
export function exchange(target: Target, bytes: Buffer | string, options: ExchangeOptions): Promise<WireResult> {
  return new Promise((resolve) => {
    const socket = open(target);
    const answer = new AnswerReader(options.methods);
    /** The kept prefix: views of the first chunks, MAX_KEPT_BYTES at most. */
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let receivedBytes = 0;
    let sentAt = 0;
    let firstByteMs: number | null = null;
    let settled = false;
    const finish = (outcome: { closed?: boolean; timedOut?: boolean; truncated?: boolean; connectError?: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const closed = outcome.closed ?? false;
      resolve({
        bytes: Buffer.concat(kept),
        receivedBytes,
        answer: answer.finish(closed),
        closed,
        timedOut: outcome.timedOut ?? false,
        truncated: outcome.truncated ?? false,
        connectError: outcome.connectError ?? null,
        firstByteMs,
      });
    };
    const timer = setTimeout(() => finish({ timedOut: true }), options.waitMs);
    options.signal?.addEventListener('abort', () => finish({}));
    socket.once(target.isTls ? 'secureConnect' : 'connect', () => {
      sentAt = performance.now();
      socket.write(bytes);
    });
    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      firstByteMs ??= performance.now() - sentAt;
      receivedBytes += chunk.length;
      if (keptBytes < MAX_KEPT_BYTES) {
        const piece = chunk.subarray(0, MAX_KEPT_BYTES - keptBytes);
        kept.push(piece);
        keptBytes += piece.length;
      }
      answer.push(chunk);
      if (options.stopWhenAnswered === true && answer.isComplete) finish({});
      else if (answer.surplusBytes > MAX_KEPT_BYTES) finish({ truncated: true });
    });
    socket.on('end', () => finish({ closed: true }));
    socket.on('close', () => finish({ closed: true }));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (sentAt === 0) finish({ connectError: error.code ?? error.message });
      else finish({ closed: true });
    });
  });
}

/**
 * Sends GET requests one after another on one connection, each only once the previous answer is
 * complete; resolves with how many were answered before the server closed, time ran out, or more
 * than MAX_KEPT_BYTES came that no response accounts for.
 */
export function exchangeInTurn(target: Target, requests: string[], waitMs: number): Promise<{ answered: number }> {
  return new Promise((resolve) => {
    const socket = open(target);
    const answer = new AnswerReader(requests.map(() => 'GET'));
    let answered = 0;
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ answered });
    };
    const timer = setTimeout(done, waitMs);
    socket.once(target.isTls ? 'secureConnect' : 'connect', () => socket.write(requests[0]!));
    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      answer.push(chunk);
      if (answer.surplusBytes > MAX_KEPT_BYTES) return done();
      if (answer.completeResponses <= answered) return;
      answered = answer.completeResponses;
      if (answered === requests.length) done();
      else socket.write(requests[answered]!);
    });
    socket.on('close', done);
    socket.on('error', done);
  });
}

/** A request head, CRLF-terminated, with the fields given. */
export function requestBytes(method: string, target: string, fields: Array<[string, string]>, version = 'HTTP/1.1'): string {
  return `${method} ${target} ${version}\r\n${fields.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;
}
