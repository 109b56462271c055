/**
 * Exact bytes to a server and whatever comes back, for `sockhttp check`: no client logic in the
 * way, so a probe sees precisely what the server did (including what a friendlier client would
 * hide: bare LFs, extra bytes, a connection left open). Every exchange is bounded in time.
 */
import { type Socket, connect } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { HttpProtocolError } from '../core/errors.js';
import type { Fields } from '../core/fields.js';
import { DEFAULT_RESPONSE_LIMITS } from '../core/limits.js';
import { ResponseReader } from '../core/message-reader.js';

export interface Target {
  host: string;
  port: number;
  isTls: boolean;
  insecure: boolean;
  /** The Host field value: host[:port] as in the URL. */
  authority: string;
  path: string;
}

export interface WireResult {
  bytes: Buffer;
  /** The server closed (or reset) the connection. */
  closed: boolean;
  /** We gave up waiting. */
  timedOut: boolean;
  /** Could not connect at all. */
  connectError: string | null;
  /** When the first byte of the answer came, in ms after sending (null if none did). */
  firstByteMs: number | null;
}

export interface ExchangeOptions {
  /** Give up after this long. */
  waitMs: number;
  /** Stop as soon as this says the answer is complete. */
  until?: (bytes: Buffer) => boolean;
  /** Stop when this is aborted (a connection held open only while another probe runs). */
  signal?: AbortSignal;
}

function open(target: Target): Socket {
  return target.isTls
    ? connectTls({ host: target.host, port: target.port, servername: target.host, rejectUnauthorized: !target.insecure, ALPNProtocols: ['http/1.1'] })
    : connect({ host: target.host, port: target.port });
}

/** Sends `bytes` on a new connection and collects the answer until `until`, the server's close, or `waitMs`. */
export function exchange(target: Target, bytes: Buffer | string, options: ExchangeOptions): Promise<WireResult> {
  return new Promise((resolve) => {
    const socket = open(target);
    const chunks: Buffer[] = [];
    let sentAt = 0;
    let firstByteMs: number | null = null;
    let settled = false;
    const finish = (result: Partial<WireResult>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), closed: false, timedOut: false, connectError: null, firstByteMs, ...result });
    };
    const timer = setTimeout(() => finish({ timedOut: true }), options.waitMs);
    options.signal?.addEventListener('abort', () => finish({}));
    socket.once(target.isTls ? 'secureConnect' : 'connect', () => {
      sentAt = performance.now();
      socket.write(bytes);
    });
    socket.on('data', (chunk: Buffer) => {
      firstByteMs ??= performance.now() - sentAt;
      chunks.push(chunk);
      if (options.until?.(Buffer.concat(chunks))) finish({});
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
 * complete; resolves with how many were answered before the server closed or time ran out.
 */
export function exchangeInTurn(target: Target, requests: string[], waitMs: number): Promise<{ answered: number }> {
  return new Promise((resolve) => {
    const methods = requests.map(() => 'GET');
    const socket = open(target);
    const chunks: Buffer[] = [];
    let answered = 0;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ answered });
    };
    const timer = setTimeout(done, waitMs);
    socket.once(target.isTls ? 'secureConnect' : 'connect', () => socket.write(requests[0]!));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const complete = parseAnswer(Buffer.concat(chunks), methods, false).responses.filter((response) => response.complete).length;
      if (complete <= answered) return;
      answered = complete;
      if (answered === requests.length) done();
      else socket.write(requests[answered]!);
    });
    socket.on('close', done);
    socket.on('error', done);
  });
}


export interface ParsedResponse {
  version: string;
  status: number;
  reason: string;
  fields: Fields;
  body: Buffer;
  /** The whole message arrived (its framing says so). */
  complete: boolean;
}

export interface ParsedAnswer {
  responses: ParsedResponse[];
  /** The bytes could not be read as responses; why. */
  error: HttpProtocolError | null;
  /** Bytes left over after the last complete response. */
  extraBytes: number;
}

/**
 * Reads `bytes` as the responses to requests with `methods`, as a lenient client would (a lone LF
 * is accepted here; a probe of its own checks line endings). `closed`: the server closed after them.
 */
export function parseAnswer(bytes: Buffer, methods: string[], closed: boolean): ParsedAnswer {
  const reader = new ResponseReader({ ...DEFAULT_RESPONSE_LIMITS, allowBareLineFeed: true });
  for (const method of methods) reader.expectResponseTo(method);
  const responses: ParsedResponse[] = [];
  let current: ParsedResponse | null = null;
  let body: Buffer[] = [];
  reader.push(bytes);
  if (closed) reader.peerClosed();
  try {
    for (;;) {
      const event = reader.next();
      if (event.type === 'need-more' || event.type === 'closed' || event.type === 'paused') break;
      if (event.type === 'head') {
        current = { version: event.head.version, status: event.head.status, reason: event.head.reason, fields: event.head.fields, body: Buffer.alloc(0), complete: false };
        body = [];
      } else if (event.type === 'body') {
        body.push(event.data);
      } else if (event.type === 'end' && current !== null) {
        current.body = Buffer.concat(body);
        current.complete = true;
        if (current.status >= 200) responses.push(current);
        current = null;
        if (responses.length === methods.length) break;
      }
    }
  } catch (error) {
    if (!(error instanceof HttpProtocolError)) throw error;
    if (current !== null) responses.push({ ...current, body: Buffer.concat(body) });
    return { responses, error, extraBytes: 0 };
  }
  if (current !== null) responses.push({ ...current, body: Buffer.concat(body) });
  return { responses, error: null, extraBytes: reader.bufferedBytes };
}

/** An `until` for exchange(): stop once `count` complete responses have arrived. */
export function whenResponses(methods: string[]): (bytes: Buffer) => boolean {
  return (bytes) => parseAnswer(bytes, methods, false).responses.filter((response) => response.complete).length >= methods.length;
}

/** A request head, CRLF-terminated, with the fields given. */
export function requestBytes(method: string, target: string, fields: Array<[string, string]>, version = 'HTTP/1.1'): string {
  return `${method} ${target} ${version}\r\n${fields.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;
}
