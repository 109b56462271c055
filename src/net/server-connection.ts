/**
 * One server-side connection: the keep-alive loop that joins a socket to the protocol core.
 *
 * Theory of operation. Bytes from the socket go into a RequestReader; events come out. A `head`
 * event starts an exchange: the handler is called with the request head and answers with a
 * ResponsePlan, which is written to the socket at once, whether or not a request body is still
 * coming: a static server has no use for a body, so it never waits for one (a client trickling a
 * body cannot hold a response back). The body is read and discarded alongside, up to
 * MAX_DISCARDED_BODY bytes and, once the response is out, within `headersMs`; a body that is larger
 * or slower costs the connection, not a slot held forever (as nginx discards request bodies). An
 * exchange is over when both the request message has ended and the response has been written; only
 * then does the reader resume, so pipelined requests are answered one after another, in order, and a
 * client that sends without reading makes us stop reading from it (the reader's buffer and the
 * socket's write buffer are both bounded).
 *
 * Timers: while waiting for a request head, the head must be complete within `headersMs` of its first
 * byte, empty lines before it included (slowloris), and an idle keep-alive connection is closed after
 * `keepAliveMs`; while a request is in progress, `stallMs` without any socket activity ends the
 * connection. No timer is created or cleared per request: the socket's own inactivity timer (which
 * node:net refreshes on every read and write) is set once and only acts while an exchange is in
 * progress, and the wait deadline is a number checked when its timer fires (see #startWait).
 *
 * Descriptors: a plan with a file descriptor or a stream is released exactly once, whatever happens
 * to the connection: by #sendFile / #sendStream once it is being sent (their cleanup runs on close,
 * reset, timeout and error alike), or by releasePlan when it can no longer be sent (the socket died
 * before the plan arrived, the exchange failed, the response has no body).
 */
import { close as closeFd, read } from 'node:fs';
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
import { type FileDataBudget, SHARED_FILE_DATA_BUDGET } from './file-data-budget.js';
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
  /** File data in flight, shared with every other connection (default: the process's). */
  fileDataBudget?: FileDataBudget | undefined;
}

/** Once a paused reader holds this many unanswered bytes, we stop reading from the socket. */
const MAX_PIPELINED_BYTES = 64 * 1024;
/**
 * Reads from files for streaming. 64 KiB reads cap a loopback download near 0.5 GB/s; 256 KiB reads
 * reach about 2 GB/s (measured on the bench's 1 GiB file). A connection holds at most two reads (one
 * being written, one read ahead); beyond FILE_READ_FLOOR_BYTES each comes from the shared budget.
 */
const FILE_READ_BYTES = 256 * 1024;
/** What a streaming connection may always read, budget or not: it can never be starved. */
const FILE_READ_FLOOR_BYTES = 16 * 1024;
/** A body up to this size goes out in the same write as its head. */
const SMALL_BODY_BYTES = 64 * 1024;
/**
 * The lingering close (as nginx's lingering_time): after our final response has been handed to the
 * kernel, what the client still sends is read and dropped for at most this long and this many bytes,
 * so that our response is not lost to a reset, and then the connection is destroyed.
 */
const LINGER_MS = 2_000;
const MAX_LINGER_BYTES = 1024 * 1024;

interface Exchange {
  head: RequestHead | null;
  startTime: number;
  requestEnded: boolean;
  responseStarted: boolean;
  responseDone: boolean;
  keepAlive: boolean;
  /** Set when the request turned out malformed (in its body) before its response started. */
  failedStatus: number | null;
  discardedBytes: number;
  /** Whether the handler has been asked (or the answer decided without it). */
  isAnswering: boolean;
}

function newExchange(head: RequestHead | null, requestEnded: boolean, keepAlive: boolean): Exchange {
  return {
    head,
    startTime: performance.now(),
    requestEnded,
    responseStarted: false,
    responseDone: false,
    keepAlive,
    failedStatus: null,
    discardedBytes: 0,
    isAnswering: false,
  };
}

/**
 * A request body up to this size is read and discarded, so the connection can be kept; a larger one
 * (announced, or counted as it arrives) ends the connection after the response.
 */
const MAX_DISCARDED_BODY = 1024 * 1024;

/**
 * What the wait timer is waiting for: the next request ('idle'), the rest of a started head ('head'),
 * the rest of a request body after its response ('body'), or the end of a lingering close ('linger').
 */
type Wait = 'idle' | 'head' | 'body' | 'linger';

export class ServerConnection {
  readonly #socket: Socket;
  readonly #settings: ConnectionSettings;
  readonly #reader: RequestReader;
  readonly #remoteAddress: string;
  #exchange: Exchange | null = null;
  /** No further request will be read: the connection ends once the current response is out. */
  #closing = false;
  #shuttingDown = false;
  #waitingFor: Wait | null = null;
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
  readonly #budget: FileDataBudget;
  /** Budget bytes this connection holds (reads not yet taken by the kernel); given back on close at the latest. */
  #budgetHeld = 0;
  /** Bytes read and dropped while lingering. */
  #lingerBytes = 0;

  constructor(socket: Socket, settings: ConnectionSettings, id: number) {
    this.#socket = socket;
    this.#settings = settings;
    this.#reader = new RequestReader(settings.limits);
    this.#remoteAddress = socket.remoteAddress ?? '-';
    this.#budget = settings.fileDataBudget ?? SHARED_FILE_DATA_BUDGET;
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
  #write(bytes: Buffer, onWritten?: () => void): boolean {
    this.#trace?.sent(bytes);
    return onWritten === undefined ? this.#socket.write(bytes) : this.#socket.write(bytes, onWritten);
  }

  #onData(chunk: Buffer): void {
    this.#trace?.received(chunk);
    if (this.#closing) {
      // Lingering after a final response: the bytes are read and dropped, up to a bound.
      this.#lingerBytes += chunk.length;
      if (this.#lingerBytes > MAX_LINGER_BYTES) this.#socket.destroy();
      return;
    }
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
    // Write callbacks of a destroyed socket may never come: give back what they would have.
    this.#budget.give(this.#budgetHeld);
    this.#budgetHeld = 0;
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
        case 'need-more': {
          const exchange = this.#exchange;
          if (exchange === null) this.#armWaitTimer();
          else if (!exchange.isAnswering) this.#answer(exchange); // what the body had here is read: answer now
          else if (exchange.responseDone && !exchange.requestEnded) this.#startWait('body', this.#settings.timeouts.headersMs);
          return;
        }
        case 'head':
          this.#startExchange(event.head, event.keepAlive, event.framing);
          break;
        case 'body': {
          // Discarded: see the theory of operation.
          const exchange = this.#exchange!;
          exchange.discardedBytes += event.data.length;
          if (exchange.discardedBytes > MAX_DISCARDED_BODY) {
            // Too much to discard: the connection ends with this exchange, and nothing more is read.
            exchange.keepAlive = false;
            if (exchange.responseDone) {
              this.#exchange = null;
              this.#endConnection();
            } else {
              this.#socket.pause();
              if (!exchange.isAnswering) this.#answer(exchange);
            }
            return;
          }
          break;
        }
        case 'end': {
          const exchange = this.#exchange!;
          exchange.requestEnded = true;
          if (!exchange.isAnswering) this.#answer(exchange);
          else this.#finishExchangeIfDone();
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

  /**
   * A request head has arrived. The handler is asked once the bytes already received have been read
   * (see #answer): a body that came with its head is read first, so an error in it is the answer and
   * a complete one keeps the connection, while a body that is not here yet is never waited for.
   */
  #startExchange(head: RequestHead, keepAlive: boolean, framing: BodyFraming): void {
    this.#clearWaitTimer();
    const expectation = head.fields.get('expect');
    const exchange = newExchange(head, false, keepAlive);
    this.#exchange = exchange;
    // The connection is kept only if the body can be discarded after the answer: not one announced as
    // too large, and not one the client holds back until it hears 100 Continue (it may never send it).
    if ((framing.kind === 'length' && framing.length > MAX_DISCARDED_BODY) || (expectation !== undefined && framing.kind !== 'none')) {
      exchange.keepAlive = false;
    }
    // We never need a request body before answering, so "100-continue" is answered with the final
    // status at once (RFC 9110 §10.1.1). Any other expectation cannot be met: 417.
    if (expectation !== undefined && expectation.toLowerCase() !== '100-continue') {
      exchange.isAnswering = true;
      this.#respond(exchange, errorPlan(417));
    }
  }

  #answer(exchange: Exchange): void {
    exchange.isAnswering = true;
    const head = exchange.head!;
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
      if (!exchange.isAnswering) {
        // Found before the handler was asked: the error is the answer, and no file is opened for it.
        exchange.isAnswering = true;
        this.#respond(exchange, errorPlan(status));
      } else if (exchange.responseDone) {
        this.#exchange = null;
        this.#endConnection();
      }
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

  #respond(exchange: Exchange, plan: ResponsePlan): void {
    if (this.#socket.destroyed || this.#exchange !== exchange) {
      releasePlan(plan);
      return;
    }
    if (exchange.failedStatus !== null && plan.status !== exchange.failedStatus) {
      releasePlan(plan);
      plan = errorPlan(exchange.failedStatus);
    }
    exchange.responseStarted = true;
    if (this.#shuttingDown) exchange.keepAlive = false;
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
   * bounds memory, and the shared budget bounds the reads of every connection together. A file that
   * turns out shorter than planned (truncated while it streams) ends the connection, so the client
   * sees a short body rather than a complete-looking one. The descriptor is closed here, exactly
   * once, however the sending ends (the socket closing makes every wait below return).
   *
   * Read buffers: at most two or three per connection (one being written, one read ahead), reused
   * once the socket has taken their bytes, so a long download makes no garbage. A buffer larger than
   * the floor holds its excess from the budget (see budgetShare) until it is dropped: at the end of
   * the response, or when it comes back while the budget is spent, so that others get a turn.
   */
  async #sendFile(exchange: Exchange, status: number, fd: number, pieces: FilePiece[]): Promise<void> {
    let bytesSent = 0;
    const spare: Buffer[] = [];
    let isSending = true;
    const recycle = (buffer: Buffer) => {
      if (isSending && (buffer.length <= FILE_READ_FLOOR_BYTES || this.#budget.inUse < this.#budget.capacity)) spare.push(buffer);
      else this.#giveBack(budgetShare(buffer));
    };
    try {
      for (const piece of pieces) {
        if (this.#socket.destroyed) return;
        if (piece.length === 0) continue;
        if (Buffer.isBuffer(piece)) {
          this.#write(piece);
          bytesSent += piece.length;
          continue;
        }
        let position = piece.start;
        const end = piece.start + piece.length;
        while (position < end) {
          // One read ahead while the previous one is being written; then wait for the socket.
          let chunk = spare.pop();
          if (chunk === undefined) {
            const wanted = Math.min(FILE_READ_BYTES, end - position);
            const granted = wanted > FILE_READ_FLOOR_BYTES ? this.#budget.take(wanted - FILE_READ_FLOOR_BYTES) : 0;
            this.#budgetHeld += granted;
            chunk = Buffer.allocUnsafe(Math.min(wanted, FILE_READ_FLOOR_BYTES + granted));
          }
          let bytesRead: number;
          try {
            bytesRead = await readAt(fd, chunk, Math.min(chunk.length, end - position), position);
          } catch (error) {
            recycle(chunk);
            throw error;
          }
          if (bytesRead === 0) {
            recycle(chunk);
            throw new Error('the file is shorter than planned');
          }
          if (this.#socket.writableNeedDrain) await this.#drainedOrClosed();
          if (this.#socket.destroyed) {
            recycle(chunk);
            return;
          }
          const written = chunk;
          this.#write(bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead), () => recycle(written));
          position += bytesRead;
          bytesSent += bytesRead;
        }
      }
    } catch {
      this.#socket.destroy();
      return;
    } finally {
      // Buffers still being written are dropped by recycle when the socket gives them back.
      isSending = false;
      for (const buffer of spare) this.#giveBack(budgetShare(buffer));
      spare.length = 0;
      closeFd(fd, () => {});
    }
    this.#finishResponse(exchange, status, bytesSent);
  }

  /** Gives back budget bytes, unless #onClose has already given back everything this connection held. */
  #giveBack(bytes: number): void {
    if (bytes === 0 || this.#budgetHeld === 0) return;
    this.#budgetHeld -= bytes;
    this.#budget.give(bytes);
  }

  #drainedOrClosed(): Promise<void> {
    const socket = this.#socket;
    return new Promise((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
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
    if (!exchange.requestEnded) {
      // The rest of the body is discarded, and must come soon (inside #pump, 'need-more' starts the wait).
      if (!this.#pumping) this.#startWait('body', this.#settings.timeouts.headersMs);
      return;
    }
    // Inside #pump (a response known at once), the loop goes on by itself.
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
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) return;
    socket.end();
    // A client may still be sending a request body we will never read: the lingering close of nginx.
    // Until our response has been handed to the kernel, nothing is read (the client's bytes wait in
    // its own buffers, and the stall timeout still applies); then what comes is read and dropped, for
    // LINGER_MS and MAX_LINGER_BYTES at most, so that the client has time to read our answer before
    // a reset could destroy it.
    if (socket.writableFinished) {
      this.#linger();
    } else {
      socket.pause();
      socket.once('finish', () => this.#linger());
    }
  }

  #linger(): void {
    if (this.#socket.destroyed) return;
    this.#socket.resume();
    this.#startWait('linger', LINGER_MS);
  }

  /**
   * `stallMs` without a read or a write. Between exchanges the wait deadlines are in charge instead,
   * and while lingering its own deadline.
   */
  #onInactive(): void {
    if (this.#exchange !== null || this.#awaitingDrain || this.#closing) this.#socket.destroy();
  }

  /** Starts waiting for the next request, or for the rest of a head whose first byte has come. */
  #armWaitTimer(): void {
    const waitingFor = this.#reader.headStarted ? 'head' : 'idle';
    this.#startWait(waitingFor, waitingFor === 'head' ? this.#settings.timeouts.headersMs : this.#settings.timeouts.keepAliveMs);
  }

  /**
   * Starts a wait that ends `ms` from now, unless that wait is running already: a running deadline is
   * never extended, so a slowloris client trickling one byte at a time (or only empty lines) still
   * has to finish its head within headersMs of the first byte. Arming and clearing happen for every
   * request, so they only set a deadline; the timer that enforces it is rescheduled only when it
   * would fire too late, and when it fires early (a newer deadline) it sleeps again.
   */
  #startWait(waitingFor: Wait, ms: number): void {
    if (waitingFor === this.#waitingFor) return;
    this.#waitingFor = waitingFor;
    this.#waitDeadline = performance.now() + ms;
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
    const exchange = this.#exchange;
    switch (waitingFor) {
      case 'head': {
        if (exchange !== null) return;
        const timedOut = newExchange(null, true, false);
        this.#exchange = timedOut;
        this.#respond(timedOut, errorPlan(408));
        return;
      }
      case 'idle':
        if (exchange === null) this.#endConnection();
        return;
      case 'body':
        // The response is out, the body it answered is not: give up on the connection.
        if (exchange !== null && exchange.responseDone && !exchange.requestEnded) {
          this.#exchange = null;
          this.#endConnection();
        }
        return;
      case 'linger':
        this.#socket.destroy();
        return;
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

/** Reads `length` bytes into the start of `buffer` from `position`; resolves with the bytes read (fewer at the end of the file). */
function readAt(fd: number, buffer: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buffer, 0, length, position, (error, bytesRead) => (error === null ? resolve(bytesRead) : reject(error)));
  });
}

/** What a read buffer holds from the shared budget: all it has beyond the floor every connection may have. */
function budgetShare(buffer: Buffer): number {
  return Math.max(0, buffer.length - FILE_READ_FLOOR_BYTES);
}

function releasePlan(plan: ResponsePlan): void {
  if (plan.body.kind === 'file') closeFd(plan.body.fd, () => {});
  if (plan.body.kind === 'stream') plan.body.stream.destroy();
}


