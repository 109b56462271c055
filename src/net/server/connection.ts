/**
 * One server-side connection: a socket joined to the protocol core's ServerConnectionCore. The core
 * decides (what a request is, when to answer, the framing, whether the connection persists); this
 * file only moves bytes, calls the handler, sends bodies and runs the one timer the core's state
 * names.
 *
 *   core state   timer here
 *   idle         keepAliveMs, then the connection ends
 *   head         headersMs from the first byte of the head (never extended), then 408 and close
 *   answering    the socket's inactivity timer: stallMs without a read or a write ends it
 *   discarding   headersMs for the rest of a request body whose answer is out, then close
 *   closing      the lingering close: LINGER_MS and MAX_LINGER_BYTES of what the client still sends
 *
 * No timer is created or cleared per request: the socket's inactivity timer (which node:net refreshes
 * on every read and write) is set once and only acts while an answer is in progress, and the wait
 * deadline is a number checked when its one timer fires (see #wait).
 */
import type { Socket } from 'node:net';
import { ServerConnectionCore } from '../../core/connection.js';
import type { Fields } from '../../core/fields.js';
import type { HttpVersion, RequestHead } from '../../core/head-parser.js';
import type { Limits } from '../../core/limits.js';
import { type ResponsePlan, bodyLength, errorPlan } from '../../core/response-plan.js';
import { ConnectionTrace, type TraceOptions } from '../../core/connection-trace.js';
import type { AccessLogEntry } from './access-log.js';
import { BodySender, releasePlan } from './body-sender.js';
import { type FileDataBudget, SHARED_FILE_DATA_BUDGET } from './file-data-budget.js';
import { serializeHead, wholeResponse } from './response-head.js';

export interface IncomingRequest {
  method: string;
  /** The request-target exactly as received. */
  target: string;
  /** '2.0' for a request that came over HTTP/2 (its method, target and Host from :method, :path and :authority). */
  version: HttpVersion | '2.0';
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

/** A body up to this size goes out in the same write as its head: one packet, one system call. */
const SMALL_BODY_BYTES = 64 * 1024;
/**
 * The lingering close (as nginx's lingering_time): after our final response has been handed to the
 * kernel, what the client still sends is read and dropped for at most this long and this many bytes,
 * so that our response is not lost to a reset, and then the connection is destroyed.
 */
const LINGER_MS = 2_000;
const MAX_LINGER_BYTES = 1024 * 1024;

/** What the wait timer waits for; see the table at the top. */
type Wait = 'idle' | 'head' | 'body' | 'linger';

/** The answer in progress, for the access log. */
interface Answer {
  head: RequestHead | null;
  startTime: number;
}

export class ServerConnection {
  readonly #socket: Socket;
  readonly #settings: ConnectionSettings;
  readonly #core: ServerConnectionCore;
  readonly #remoteAddress: string;
  readonly #trace: ConnectionTrace | null = null;
  /** Made when a body is first streamed from a file or a stream: most connections never need one. */
  #bodySender: BodySender | null = null;
  #answer: Answer | null = null;
  #pumping = false;
  /** The client is not reading what we sent: nothing more is read from it until it does. */
  #awaitingDrain = false;
  #lingerBytes = 0;
  #waitingFor: Wait | null = null;
  /** When the wait ends, in performance.now() milliseconds. */
  #waitDeadline = 0;
  #waitTimer: NodeJS.Timeout | null = null;
  /** When the wait timer fires: at or before the deadline. */
  #waitTimerDue = 0;
  /** See the constructor; used once, by the first head's wait. */
  #firstByteAt: number | null;

  /**
   * `firstByteAt` (performance.now()): when the first byte arrived, if it was read before this
   * driver existed (telling HTTP/1.1 from h2c): the first head's time counts from it.
   */
  constructor(socket: Socket, settings: ConnectionSettings, id: number, firstByteAt: number | null = null) {
    this.#firstByteAt = firstByteAt;
    this.#socket = socket;
    this.#settings = settings;
    this.#core = new ServerConnectionCore(settings.limits);
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
    this.#waitForState();
  }

  /** Graceful shutdown: idle connections end now, busy ones after their current response. */
  shutDown(): void {
    this.#core.shutDown();
    this.#pump();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #bodies(): BodySender {
    if (this.#bodySender !== null) return this.#bodySender;
    const socket = this.#socket;
    this.#bodySender = new BodySender(
      {
        write: (bytes, onWritten) => this.#write(bytes, onWritten),
        get destroyed() {
          return socket.destroyed;
        },
        get writableNeedDrain() {
          return socket.writableNeedDrain;
        },
        drainedOrClosed: () => drainedOrClosed(socket),
        destroy: () => socket.destroy(),
      },
      this.#settings.fileDataBudget ?? SHARED_FILE_DATA_BUDGET,
    );
    return this.#bodySender;
  }

  /** Every byte we send goes through here, so that --trace sees all of it. */
  #write(bytes: Buffer, onWritten?: () => void): boolean {
    this.#trace?.sent(bytes);
    return onWritten === undefined ? this.#socket.write(bytes) : this.#socket.write(bytes, onWritten);
  }

  #onData(chunk: Buffer): void {
    this.#trace?.received(chunk);
    if (this.#core.state === 'closing') {
      // Lingering after a final response: the bytes are read and dropped, up to a bound.
      this.#lingerBytes += chunk.length;
      if (this.#lingerBytes > MAX_LINGER_BYTES) this.#socket.destroy();
      return;
    }
    this.#core.receive(chunk);
    this.#pump();
  }

  #onPeerEnd(): void {
    this.#core.peerClosed();
    this.#pump();
  }

  #onClose(): void {
    this.#trace?.closed();
    this.#stopWaitTimer();
    this.#bodySender?.connectionClosed();
  }

  /** Takes events from the core until it needs more bytes or waits for an answer. */
  #pump(): void {
    if (this.#pumping) return; // the loop below goes on by itself
    this.#pumping = true;
    try {
      while (!this.#socket.destroyed && !this.#awaitingDrain) {
        const event = this.#core.next();
        switch (event.type) {
          case 'need-more':
            this.#waitForState();
            return;
          case 'stop-reading':
            this.#socket.pause();
            return;
          case 'body':
            continue; // discarded: a static server has no use for a request body
          case 'end':
            this.#endConnection();
            return;
          case 'answer':
            this.#ask(event.head);
            continue;
          case 'answer-with':
            this.#answer = { head: this.#core.currentHead, startTime: performance.now() };
            this.#respond(this.#answer, errorPlan(event.status));
            continue;
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Calls the handler. A handler that fails, or returns a plan that cannot be sent, costs its connection, never the process. */
  #ask(head: RequestHead): void {
    this.#stopWaiting();
    const answer: Answer = { head, startTime: performance.now() };
    this.#answer = answer;
    const request: IncomingRequest = {
      method: head.method,
      target: head.target,
      version: head.version,
      fields: head.fields,
      remoteAddress: this.#remoteAddress,
    };
    askHandler(this.#settings.handler, request, (plan) => this.#respondOrDestroy(answer, plan));
  }

  #respondOrDestroy(answer: Answer, plan: ResponsePlan): void {
    try {
      this.#respond(answer, plan);
    } catch {
      this.#socket.destroy();
    }
  }

  #respond(answer: Answer, plan: ResponsePlan): void {
    if (this.#socket.destroyed || this.#answer !== answer || this.#core.state !== 'answering') {
      releasePlan(plan);
      return;
    }
    let decision = this.#core.respond(plan.status, bodyLength(plan.body));
    if (decision.kind === 'replace') {
      releasePlan(plan);
      plan = errorPlan(decision.status);
      decision = this.#core.respond(plan.status, bodyLength(plan.body));
      if (decision.kind === 'replace') throw new Error('unreachable: an error plan replaced');
    }
    const { status, body } = plan;
    const sendsBody = decision.sendsBody;
    // Head and a small body in one buffer and one write: one packet, one syscall.
    const inOneWrite = !sendsBody || (body.kind === 'bytes' && body.bytes.length <= SMALL_BODY_BYTES);
    let message: Buffer;
    try {
      message = inOneWrite
        ? wholeResponse(plan, decision, sendsBody && body.kind === 'bytes' ? body.bytes : null)
        : Buffer.from(serializeHead(status, plan.fields, decision), 'latin1');
    } catch {
      // The handler's fields cannot be sent (a CR in a value…): a 500 instead.
      releasePlan(plan);
      this.#respond(answer, errorPlan(500));
      return;
    }
    this.#write(message);
    if (!sendsBody) {
      releasePlan(plan);
      this.#finishResponse(answer, status, 0);
      return;
    }
    switch (body.kind) {
      case 'empty':
        this.#finishResponse(answer, status, 0);
        return;
      case 'bytes':
        if (!inOneWrite) this.#write(body.bytes);
        this.#finishResponse(answer, status, body.bytes.length);
        return;
      case 'file':
        void this.#bodies()
          .sendFile(body.fd, body.pieces)
          .then((bytesSent) => {
            if (bytesSent !== null) this.#finishResponse(answer, status, bytesSent);
          });
        return;
      case 'stream':
        this.#bodies().sendStream(body.stream, decision.isChunked, (bytesSent) => this.#finishResponse(answer, status, bytesSent));
        return;
    }
  }

  #finishResponse(answer: Answer, status: number, bytesSent: number): void {
    this.#log(answer, status, bytesSent);
    this.#answer = null;
    switch (this.#core.responseSent()) {
      case 'close':
        this.#endConnection();
        return;
      case 'await-body':
        this.#pump(); // reads what is already here; 'need-more' starts the body's wait
        return;
      case 'read-next':
        if (this.#socket.writableNeedDrain) {
          // The client is not reading what we send: wait until it does before reading its next request.
          // The inactivity timer still runs meanwhile: a client that never reads is let go after stallMs.
          this.#awaitingDrain = true;
          this.#socket.pause();
          this.#socket.once('drain', () => {
            this.#awaitingDrain = false;
            this.#socket.resume();
            this.#pump();
          });
          return;
        }
        this.#socket.resume();
        this.#pump();
        return;
    }
  }

  #endConnection(): void {
    this.#stopWaitTimer();
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) return;
    if (this.#core.mayCloseAtOnce) {
      // Nothing more can come that a close would turn into a reset (see mayCloseAtOnce): close as
      // soon as the kernel has every byte, which for a small response is now. The kernel sends our
      // FIN after the data, so no shutdown call, no lingering, no wait for the client's FIN.
      if (socket.writableLength === 0) socket.destroy();
      else socket.end(() => socket.destroy());
      return;
    }
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
    this.#wait('linger', LINGER_MS);
  }

  /** `stallMs` without a read or a write: only an answer in progress (or an unread one, or lingering) is ended by it. */
  #onInactive(): void {
    const state = this.#core.state;
    if (state === 'answering' || state === 'closing' || this.#awaitingDrain) this.#socket.destroy();
  }

  /** Runs the wait the core's state calls for (see the table at the top). */
  #waitForState(): void {
    const { headersMs, keepAliveMs } = this.#settings.timeouts;
    switch (this.#core.state) {
      case 'idle':
        this.#wait('idle', keepAliveMs);
        return;
      case 'head':
        this.#wait('head', headersMs);
        return;
      case 'discarding':
        this.#wait('body', headersMs);
        return;
      case 'answering':
      case 'closing':
      case 'closed':
        return;
    }
  }

  /**
   * Starts a wait that ends `ms` from now, unless that wait is running already: a running deadline is
   * never extended, so a slowloris client trickling one byte at a time (or only empty lines) still
   * has to finish its head within headersMs of the first byte. Starting and stopping happen for
   * every request, so they only set a deadline; the timer that enforces it is rescheduled only when
   * it would fire too late, and when it fires early (a newer deadline) it sleeps again.
   */
  #wait(waitingFor: Wait, ms: number): void {
    if (waitingFor === this.#waitingFor) return;
    this.#waitingFor = waitingFor;
    const start = waitingFor === 'head' && this.#firstByteAt !== null ? this.#firstByteAt : performance.now();
    if (waitingFor === 'head') this.#firstByteAt = null;
    this.#waitDeadline = start + ms;
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
    const state = this.#core.state;
    switch (waitingFor) {
      case 'head':
        if (state !== 'head') return;
        this.#core.headTimedOut();
        this.#answer = { head: null, startTime: performance.now() };
        this.#respond(this.#answer, errorPlan(408));
        return;
      case 'idle':
        if (state === 'idle') this.#endConnection();
        return;
      case 'body':
        // The response is out, the body it answered is not: give up on the connection.
        if (state === 'discarding') {
          this.#core.bodyTimedOut();
          this.#endConnection();
        }
        return;
      case 'linger':
        this.#socket.destroy();
        return;
    }
  }

  #stopWaiting(): void {
    this.#waitingFor = null;
  }

  /** Lets go of the wait timer itself, once the connection is over. */
  #stopWaitTimer(): void {
    this.#waitingFor = null;
    if (this.#waitTimer !== null) clearTimeout(this.#waitTimer);
    this.#waitTimer = null;
  }

  #log(answer: Answer, status: number, bytesSent: number): void {
    const onAccess = this.#settings.onAccess;
    if (onAccess === undefined) return;
    const head = answer.head;
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
      durationMs: performance.now() - answer.startTime,
    });
  }
}

/**
 * Calls the handler and gives its plan to `deliver`: at once when the handler answers at once (a
 * hot file goes out without a trip through the microtask queue; `later` is false), otherwise when
 * its promise settles. A throw, a rejection or an answer that is not a plan becomes a 500.
 */
export function askHandler(handler: RequestHandler, request: IncomingRequest, deliver: (plan: ResponsePlan, later: boolean) => void): void {
  let plan: ResponsePlan | PromiseLike<ResponsePlan>;
  try {
    plan = handler(request);
  } catch {
    plan = errorPlan(500);
  }
  if (isPromiseLike(plan)) {
    plan.then(
      (resolved) => deliver(isPlan(resolved) ? resolved : errorPlan(500), true),
      () => deliver(errorPlan(500), true),
    );
  } else {
    deliver(isPlan(plan) ? plan : errorPlan(500), false);
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

function drainedOrClosed(socket: Socket): Promise<void> {
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
