/**
 * One server-side connection: the keep-alive loop that joins a socket to the protocol core.
 *
 * Theory of operation. Bytes from the socket go into a RequestReader; events come out. A `head`
 * event starts an exchange: the handler is called with the request head and answers with a
 * ResponsePlan, which is written to the socket. Meanwhile any request body is read and discarded
 * (a static server has no use for one). An exchange is over when both the request message has ended
 * and the response has been written; only then does the reader resume, so pipelined requests are
 * answered one after another, in order, and a client that sends without reading makes us stop
 * reading from it (the reader's buffer and the socket's write buffer are both bounded).
 *
 * Timers: while waiting for a request head, the head must be complete within `headersMs` of its first
 * byte (slowloris) and an idle keep-alive connection is closed after `keepAliveMs`; while a request
 * is in progress, `stallMs` without any socket activity ends the connection. No timer is created or
 * cleared per request: the socket's own inactivity timer (which node:net refreshes on every read
 * and write) is set once and only acts while an exchange is in progress, and the wait deadline is a
 * number checked when its timer fires (see #armWaitTimer).
 */
import { type ReadStream, createReadStream, close as closeFd, read } from 'node:fs';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { HttpProtocolError } from '../core/errors.js';
import type { Fields } from '../core/fields.js';
import type { HttpVersion, RequestHead } from '../core/head-parser.js';
import type { BodyFraming } from '../core/framing.js';
import type { Limits } from '../core/limits.js';
import { RequestReader } from '../core/message-reader.js';
import { type FilePiece, type ResponsePlan, bodyLength, errorPlan } from '../core/response-plan.js';
import { LAST_CHUNK, encodeChunk } from '../core/serializer.js';
import type { AccessLogEntry } from './access-log.js';
import { type HeadFraming, serializeHead, wholeResponse } from './response-head.js';
import { ConnectionTrace, type TraceOptions } from './trace-writer.js';

export interface IncomingRequest {
  method: string;
  /** The request-target exactly as received. */
  target: string;
  version: HttpVersion;
  fields: Fields;
  remoteAddress: string;
}

export type RequestHandler = (request: IncomingRequest) => ResponsePlan | Promise<ResponsePlan>;

export interface ServerTimeouts {
  /** A request head must arrive within this time of its first byte. */
  headersMs: number;
  /** An idle keep-alive connection is closed after this time. */
  keepAliveMs: number;
  /** A request or response that makes no progress for this long ends the connection. */
  stallMs: number;
}

export const DEFAULT_TIMEOUTS: Readonly<ServerTimeouts> = Object.freeze({ headersMs: 10_000, keepAliveMs: 5_000, stallMs: 30_000 });

export interface ConnectionSettings {
  handler: RequestHandler;
  limits: Limits;
  timeouts: ServerTimeouts;
  onAccess: ((entry: AccessLogEntry) => void) | undefined;
  /** When set, every byte in and out of the connection is traced (--trace). */
  trace: TraceOptions | undefined;
}

/** Once a paused reader holds this many unanswered bytes, we stop reading from the socket. */
const MAX_PIPELINED_BYTES = 64 * 1024;
/**
 * File streams of a response read from a descriptor the connection owns and closes itself, once,
 * when the last piece is sent. A ReadStream closes its descriptor when destroyed (a client that
 * leaves mid-download) even with autoClose off; by then the number may belong to another request's
 * file, so the stream is given a close that does nothing.
 */
const KEEP_DESCRIPTOR_OPEN = { read, close: (_fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => callback(null) };

/**
 * Reads from files for streaming. 64 KiB reads cap a loopback download near 0.5 GB/s; 256 KiB reads
 * reach about 2 GB/s (measured on the bench's 1 GiB file), and bound what one slow reader holds.
 */
const FILE_READ_BYTES = 256 * 1024;
/** A body up to this size goes out in the same write as its head. */
const SMALL_BODY_BYTES = 64 * 1024;
/** After a response that closes the connection, how long a client still sending a body may go on. */
const LINGER_MS = 2_000;

interface Exchange {
  head: RequestHead | null;
  startTime: number;
  requestEnded: boolean;
  responseStarted: boolean;
  responseDone: boolean;
  keepAlive: boolean;
  /** Set when the request turned out malformed (in its body) before its response started. */
  failedStatus: number | null;
  /** Whether the response waits for the request body to be read (and discarded) first. */
  awaitsBody: boolean;
  /** A response that is ready but waits for the end of the request body (see awaitsBody). */
  deferredPlan: ResponsePlan | null;
  discardedBytes: number;
}

function newExchange(head: RequestHead | null, requestEnded: boolean, keepAlive: boolean, awaitsBody = false): Exchange {
  return {
    head,
    startTime: performance.now(),
    requestEnded,
    responseStarted: false,
    responseDone: false,
    keepAlive,
    failedStatus: null,
    awaitsBody,
    deferredPlan: null,
    discardedBytes: 0,
  };
}

/**
 * A request body up to this size is read and discarded before the response is sent, so the
 * connection can be kept; a larger one gets its answer at once and the connection closes after it.
 */
const MAX_DISCARDED_BODY = 1024 * 1024;

export class ServerConnection {
  readonly #socket: Socket;
  readonly #settings: ConnectionSettings;
  readonly #reader: RequestReader;
  readonly #remoteAddress: string;
  #exchange: Exchange | null = null;
  /** No further request will be read: the connection ends once the current response is out. */
  #closing = false;
  #shuttingDown = false;
  /** What the connection is waiting for: the next request ('idle') or the rest of a started head ('head'). */
  #waitingFor: 'idle' | 'head' | null = null;
  /** When the wait ends, in performance.now() milliseconds. */
  #waitDeadline = 0;
  #waitTimer: NodeJS.Timeout | null = null;
  /** When the wait timer fires: at or before the deadline. */
  #waitTimerDue = 0;
  /** The exchange is over but the client has not read its response yet: we wait for 'drain'. */
  #awaitingDrain = false;
  #releaseBody: (() => void) | null = null;
  #pumping = false;
  #trace: ConnectionTrace | null = null;

  constructor(socket: Socket, settings: ConnectionSettings, id: number) {
    this.#socket = socket;
    this.#settings = settings;
    this.#reader = new RequestReader(settings.limits);
    this.#remoteAddress = socket.remoteAddress ?? '-';
    if (settings.trace) {
      this.#trace = new ConnectionTrace(id, 'response', settings.trace);
      this.#trace.note(`connection from ${this.#remoteAddress} port ${socket.remotePort ?? '?'}`);
    }
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onPeerEnd());
    socket.on('error', () => socket.destroy());
    socket.on('timeout', () => this.#onInactive());
    socket.setTimeout(settings.timeouts.stallMs);
    socket.on('close', () => this.#onClose());
    this.#armWaitTimer();
  }

  /** Graceful shutdown: idle connections end now, busy ones after their current response. */
  shutDown(): void {
    this.#shuttingDown = true;
    if (this.#exchange === null) this.#endConnection();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /** Every byte we send goes through here, so that --trace sees all of it. */
  #write(bytes: Buffer): boolean {
    this.#trace?.sent(bytes);
    return this.#socket.write(bytes);
  }

  #onData(chunk: Buffer): void {
    this.#trace?.received(chunk);
    if (this.#closing) return; // lingering after a final response: the bytes are read and dropped
    // After a protocol error nothing more is parsed: keeping the bytes would only grow memory.
    if (this.#reader.state === 'error') return;
    this.#reader.push(chunk);
    this.#pump();
  }

  #onPeerEnd(): void {
    // The client has shut its sending side. It may still be reading (simple lab clients do exactly
    // this), so whatever is in progress completes before we end our side.
    this.#reader.peerClosed();
    // Closing: our side is ended already, and with both sides ended node:net closes the socket.
    if (this.#closing) return;
    this.#pump();
  }

  #onClose(): void {
    this.#trace?.closed();
    this.#stopWaitTimer();
    this.#releaseBody?.();
    this.#releaseBody = null;
  }

  /** Takes events from the reader until it needs more bytes or waits for a response. */
  #pump(): void {
    this.#pumping = true;
    try {
      this.#pumpEvents();
    } finally {
      this.#pumping = false;
    }
  }

  #pumpEvents(): void {
    for (;;) {
      if (this.#closing || this.#socket.destroyed) return;
      let event;
      try {
        event = this.#reader.next();
      } catch (error) {
        this.#onProtocolError(error);
        return;
      }
      switch (event.type) {
        case 'need-more':
          if (this.#exchange === null) this.#armWaitTimer();
          return;
        case 'head':
          this.#startExchange(event.head, event.keepAlive, event.framing);
          break;
        case 'body': {
          // Discarded: see the theory of operation.
          const exchange = this.#exchange!;
          exchange.discardedBytes += event.data.length;
          if (exchange.discardedBytes > MAX_DISCARDED_BODY && exchange.awaitsBody) {
            exchange.awaitsBody = false;
            this.#sendDeferred(exchange);
          }
          break;
        }
        case 'end': {
          const exchange = this.#exchange!;
          exchange.requestEnded = true;
          this.#sendDeferred(exchange);
          this.#finishExchangeIfDone();
          break;
        }
        case 'paused':
          if (this.#reader.bufferedBytes > MAX_PIPELINED_BYTES) this.#socket.pause();
          return;
        case 'closed':
          this.#endConnection();
          return;
      }
    }
  }

  #startExchange(head: RequestHead, keepAlive: boolean, framing: BodyFraming): void {
    this.#clearWaitTimer();
    const expectation = head.fields.get('expect');
    // A body the client is already sending is read before we answer, when it is small enough, so the
    // connection survives. A client that expects 100-continue is waiting for us instead. Without a
    // body, the request's end is the reader's next event: a plan known at once waits for it too.
    const awaitsBody =
      expectation === undefined &&
      (framing.kind === 'none' || framing.kind === 'chunked' || (framing.kind === 'length' && framing.length <= MAX_DISCARDED_BODY));
    const exchange = newExchange(head, false, keepAlive, awaitsBody);
    this.#exchange = exchange;
    // We never need a request body before answering, so "100-continue" is answered with the final
    // status at once (RFC 9110 §10.1.1). Any other expectation cannot be met: 417.
    if (expectation !== undefined && expectation.toLowerCase() !== '100-continue') {
      this.#respond(exchange, errorPlan(417));
      return;
    }
    const request: IncomingRequest = { method: head.method, target: head.target, version: head.version, fields: head.fields, remoteAddress: this.#remoteAddress };
    // A handler that fails, or returns a plan that cannot be sent, costs its connection, never the process.
    let answer: ResponsePlan | Promise<ResponsePlan>;
    try {
      answer = this.#settings.handler(request);
    } catch {
      answer = errorPlan(500);
    }
    if (isPromiseLike(answer)) {
      answer.then(
        (plan) => this.#respondOrDestroy(exchange, isPlan(plan) ? plan : errorPlan(500)),
        () => this.#respondOrDestroy(exchange, errorPlan(500)),
      );
    } else {
      // A plan known at once (a hot file) is sent at once, without a trip through the microtask queue.
      this.#respondOrDestroy(exchange, isPlan(answer) ? answer : errorPlan(500));
    }
  }

  #respondOrDestroy(exchange: Exchange, plan: ResponsePlan): void {
    try {
      this.#respond(exchange, plan);
    } catch {
      this.#socket.destroy();
    }
  }

  #onProtocolError(error: unknown): void {
    const status = error instanceof HttpProtocolError ? error.status : 400;
    const exchange = this.#exchange;
    if (exchange !== null) {
      // The error is in the body of a request being answered. If its response has not started, the
      // answer becomes the error status; otherwise the response finishes. Either way, we close.
      exchange.keepAlive = false;
      if (!exchange.responseStarted) exchange.failedStatus = status;
      this.#sendDeferred(exchange);
      if (exchange.responseDone) this.#endConnection();
      return;
    }
    if (error instanceof HttpProtocolError && error.code === 'incomplete-message') {
      this.#socket.end(); // the client hung up mid-request: nobody is left to read an answer
      return;
    }
    const failed = newExchange(null, true, false);
    this.#exchange = failed;
    this.#respond(failed, errorPlan(status));
  }

  #sendDeferred(exchange: Exchange): void {
    const plan = exchange.deferredPlan;
    if (plan === null) return;
    exchange.deferredPlan = null;
    this.#respondOrDestroy(exchange, plan);
  }

  #respond(exchange: Exchange, plan: ResponsePlan): void {
    if (this.#socket.destroyed || this.#exchange !== exchange) {
      releasePlan(plan);
      return;
    }
    if (exchange.awaitsBody && !exchange.requestEnded && exchange.failedStatus === null) {
      exchange.deferredPlan = plan;
      return;
    }
    if (exchange.failedStatus !== null && plan.status !== exchange.failedStatus) {
      releasePlan(plan);
      plan = errorPlan(exchange.failedStatus);
    }
    exchange.responseStarted = true;
    // A response sent before the request body has fully arrived ends the connection: reading on would
    // mean waiting for bytes the client may never send (it may be waiting for 100 Continue).
    if (!exchange.requestEnded || this.#shuttingDown) exchange.keepAlive = false;
    const method = exchange.head?.method ?? 'GET';
    const { status, body } = plan;
    const hasNoContent = status < 200 || status === 204 || status === 304;
    const length = bodyLength(body);
    // A body of unknown length is chunked for HTTP/1.1; an HTTP/1.0 client only understands a body
    // that ends when the connection does (RFC 9112 §6.3).
    const isChunked = !hasNoContent && length === null && exchange.head?.version === '1.1';
    if (!hasNoContent && length === null && !isChunked) exchange.keepAlive = false;
    const framing: HeadFraming = {
      contentLength: hasNoContent ? null : length,
      isChunked,
      connection: !exchange.keepAlive ? 'close' : exchange.head?.version === '1.0' ? 'keep-alive' : null,
    };
    const sendsBody = !(method === 'HEAD' || hasNoContent || body.kind === 'empty');

    // Head and a small body in one buffer and one write: one packet, one syscall.
    const inOneWrite = !sendsBody || (body.kind === 'bytes' && body.bytes.length <= SMALL_BODY_BYTES);
    let message: Buffer;
    try {
      message = inOneWrite
        ? wholeResponse(status, plan.fields, framing, sendsBody && body.kind === 'bytes' ? body.bytes : null)
        : Buffer.from(serializeHead(status, plan.fields, framing), 'latin1');
    } catch {
      releasePlan(plan);
      this.#respond(exchange, errorPlan(500));
      return;
    }
    this.#write(message);
    if (!sendsBody) {
      releasePlan(plan);
      this.#finishResponse(exchange, status, 0);
      return;
    }
    switch (body.kind) {
      case 'bytes':
        if (!inOneWrite) this.#write(body.bytes);
        this.#finishResponse(exchange, status, body.bytes.length);
        return;
      case 'file':
        void this.#sendFile(exchange, status, body.fd, body.pieces);
        return;
      case 'stream':
        this.#sendStream(exchange, status, body.stream, isChunked);
        return;
    }
  }

  /**
   * Sends pieces of a file in order, with backpressure: the socket's write buffer, not the file size,
   * bounds memory. A file that turns out shorter than planned (truncated while it streams) ends the
   * connection, so the client sees a short body rather than a complete-looking one.
   */
  async #sendFile(exchange: Exchange, status: number, fd: number, pieces: FilePiece[]): Promise<void> {
    let bytesSent = 0;
    try {
      for (const piece of pieces) {
        if (this.#socket.destroyed) return;
        if (piece.length === 0) continue;
        if (Buffer.isBuffer(piece)) {
          this.#write(piece);
          bytesSent += piece.length;
          continue;
        }
        const stream = createReadStream('', {
          fd,
          start: piece.start,
          end: piece.start + piece.length - 1,
          autoClose: false,
          highWaterMark: FILE_READ_BYTES,
          fs: KEEP_DESCRIPTOR_OPEN,
        });
        this.#releaseBody = () => stream.destroy();
        const streamed = await this.#pipeRegion(stream);
        if (streamed < piece.length) throw new Error('the file is shorter than planned');
        bytesSent += streamed;
      }
    } catch {
      this.#socket.destroy();
      return;
    } finally {
      this.#releaseBody = null;
      closeFd(fd, () => {});
    }
    this.#finishResponse(exchange, status, bytesSent);
  }

  /**
   * Sends one file region with backpressure: reading pauses while the socket's buffer is full.
   * Resolves with the bytes read; rejects if the stream is cut short.
   */
  #pipeRegion(stream: ReadStream): Promise<number> {
    return new Promise((resolve, reject) => {
      let bytesRead = 0;
      stream.on('data', (chunk: string | Buffer) => {
        const bytes = chunk as Buffer;
        bytesRead += bytes.length;
        if (!this.#write(bytes)) {
          stream.pause();
          this.#socket.once('drain', () => stream.resume());
        }
      });
      stream.once('end', () => resolve(bytesRead));
      stream.once('error', reject);
      stream.once('close', () => reject(new Error('the file stream was closed early')));
    });
  }

  /** Sends a body of unknown length as it is produced, chunked when the client speaks HTTP/1.1. */
  #sendStream(exchange: Exchange, status: number, stream: Readable, isChunked: boolean): void {
    const socket = this.#socket;
    let bytesSent = 0;
    this.#releaseBody = () => stream.destroy();
    stream.on('data', (chunk: Buffer) => {
      if (chunk.length === 0) return;
      bytesSent += chunk.length;
      const parts = isChunked ? encodeChunk(chunk) : [chunk];
      let fitsInBuffer = true;
      for (const part of parts) fitsInBuffer = this.#write(part);
      if (!fitsInBuffer) {
        stream.pause();
        socket.once('drain', () => stream.resume());
      }
    });
    stream.once('end', () => {
      this.#releaseBody = null;
      if (isChunked) this.#write(LAST_CHUNK);
      this.#finishResponse(exchange, status, bytesSent);
    });
    stream.once('error', () => socket.destroy());
  }

  #finishResponse(exchange: Exchange, status: number, bytesSent: number): void {
    exchange.responseDone = true;
    this.#log(exchange, status, bytesSent);
    if (!exchange.keepAlive) {
      this.#closing = true;
      this.#exchange = null;
      this.#endConnection();
      return;
    }
    // Inside #pump (a deferred response sent at the end of its request), the loop goes on by itself.
    if (this.#finishExchangeIfDone() && !this.#pumping) this.#pump();
  }

  /** Ends the exchange once both the request and its response are complete. Returns true if reading may go on. */
  #finishExchangeIfDone(): boolean {
    const exchange = this.#exchange;
    if (exchange === null || !exchange.requestEnded || !exchange.responseDone) return false;
    this.#exchange = null;
    if (this.#shuttingDown) {
      this.#endConnection();
      return false;
    }
    if (this.#socket.writableNeedDrain) {
      // The client is not reading what we send: wait until it does before reading its next request.
      // The inactivity timer still runs meanwhile: a client that never reads is let go after stallMs.
      this.#awaitingDrain = true;
      this.#socket.once('drain', () => this.#resumeReading());
      return false;
    }
    this.#reader.resume();
    this.#socket.resume();
    return true;
  }

  #resumeReading(): void {
    this.#awaitingDrain = false;
    this.#reader.resume();
    this.#socket.resume();
    this.#pump();
  }

  #endConnection(): void {
    this.#closing = true;
    this.#stopWaitTimer();
    if (this.#socket.destroyed || this.#socket.writableEnded) return;
    this.#socket.end();
    // A client may still be sending a request body we will never read; give it a moment so our
    // response is not lost to a reset, then let go (the lingering close of nginx). The socket's
    // own inactivity timeout does it: its 'timeout' handler destroys the socket.
    this.#socket.setTimeout(LINGER_MS);
  }

  /**
   * `stallMs` without a read or a write. Between exchanges the wait deadlines are in charge instead;
   * after a final response (lingering), the socket's timeout is LINGER_MS.
   */
  #onInactive(): void {
    if (this.#exchange !== null || this.#awaitingDrain || this.#closing) this.#socket.destroy();
  }

  /**
   * Starts waiting for the next request or for the rest of a head. Arming and clearing happen for
   * every request, so they only set a deadline; the timer that enforces it is rescheduled only when
   * it would fire too late, and when it fires early (a newer deadline) it sleeps again.
   */
  #armWaitTimer(): void {
    const waitingFor = this.#reader.bufferedBytes > 0 ? 'head' : 'idle';
    // A running deadline is never extended by more bytes: a slowloris client trickling one byte at a
    // time still has to finish its head within headersMs of the first byte.
    if (waitingFor === this.#waitingFor) return;
    this.#waitingFor = waitingFor;
    this.#waitDeadline = performance.now() + (waitingFor === 'head' ? this.#settings.timeouts.headersMs : this.#settings.timeouts.keepAliveMs);
    if (this.#waitTimer === null || this.#waitTimerDue > this.#waitDeadline) this.#scheduleWaitTimer();
  }

  #scheduleWaitTimer(): void {
    if (this.#waitTimer !== null) clearTimeout(this.#waitTimer);
    this.#waitTimerDue = this.#waitDeadline;
    this.#waitTimer = setTimeout(() => this.#onWaitTimer(), Math.max(0, this.#waitDeadline - performance.now()));
  }

  #onWaitTimer(): void {
    this.#waitTimer = null;
    const waitingFor = this.#waitingFor;
    if (waitingFor === null || this.#socket.destroyed) return;
    if (performance.now() < this.#waitDeadline) {
      this.#scheduleWaitTimer();
      return;
    }
    this.#waitingFor = null;
    if (this.#exchange !== null) return;
    if (waitingFor === 'head') {
      const timedOut = newExchange(null, true, false);
      this.#exchange = timedOut;
      this.#respond(timedOut, errorPlan(408));
    } else {
      this.#endConnection();
    }
  }

  #clearWaitTimer(): void {
    this.#waitingFor = null;
  }

  /** Lets go of the wait timer itself, once the connection is over. */
  #stopWaitTimer(): void {
    this.#waitingFor = null;
    if (this.#waitTimer !== null) clearTimeout(this.#waitTimer);
    this.#waitTimer = null;
  }

  #log(exchange: Exchange, status: number, bytesSent: number): void {
    const onAccess = this.#settings.onAccess;
    if (onAccess === undefined) return;
    const head = exchange.head;
    onAccess({
      remoteAddress: this.#remoteAddress,
      time: new Date(),
      method: head?.method ?? '-',
      target: head?.target ?? '-',
      version: head?.version ?? '1.1',
      status,
      bytesSent,
      referer: head?.fields.get('referer'),
      userAgent: head?.fields.get('user-agent'),
      durationMs: performance.now() - exchange.startTime,
    });
  }
}

/** Not `instanceof Promise`: a handler may return any thenable, or (from plain JavaScript) anything at all. */
function isPromiseLike(answer: unknown): answer is PromiseLike<ResponsePlan> {
  return typeof (answer as { then?: unknown } | null | undefined)?.then === 'function';
}

/** The shape of a plan; what is inside is checked as it is sent. */
function isPlan(answer: unknown): answer is ResponsePlan {
  const plan = answer as Partial<ResponsePlan> | null | undefined;
  return typeof plan?.status === 'number' && Array.isArray(plan.fields) && typeof plan.body?.kind === 'string';
}

function releasePlan(plan: ResponsePlan): void {
  if (plan.body.kind === 'file') closeFd(plan.body.fd, () => {});
  if (plan.body.kind === 'stream') plan.body.stream.destroy();
}


