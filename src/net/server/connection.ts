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
 * on every read and write) is armed once, the first time an answer does not go out at once, and only
 * acts while an answer is in progress; the waits share one timer that only moves when it would fire
 * too late (WaitTimer).
 */
import type { Socket } from 'node:net';
import { ServerConnectionCore } from '../../core/connection.js';
import type { RequestHead } from '../../core/head-parser.js';
import { type ResponsePlan, bodyLength, errorPlan } from '../../core/response-plan.js';
import { ConnectionTrace } from '../../core/connection-trace.js';
import { accessEntry } from './access-log.js';
import { BodySender, releasePlan, socketSink } from './body-sender.js';
import type { ConnectionSettings } from './connection-settings.js';
import { SHARED_FILE_DATA_BUDGET } from './file-data-budget.js';
import { serializeHead, wholeResponse } from './response-head.js';
import { holdUntilTurnEnds } from './turn-writes.js';
import { WaitTimer } from './wait-timer.js';
import { type PrefaceHandler, comparePreface } from './h2c-preface.js';
import { type IncomingRequest, handlerAnswer } from './request-handler.js';

// Where the drivers and the public API have always found them.
export type { IncomingRequest, RequestHandler } from './request-handler.js';
export type { PrefaceHandler } from './h2c-preface.js';
export { type ConnectionSettings, DEFAULT_TIMEOUTS, type ServerTimeouts } from './connection-settings.js';

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
  readonly #waits = new WaitTimer<Wait>((waitingFor) => this.#onWaitOver(waitingFor));
  /** Until the first bytes have told HTTP/1.1 from h2c (see PrefaceHandler); null once they have. */
  #onPreface: PrefaceHandler | null;
  /** The first bytes, while they are a beginning of the preface (a client sent "P", or "PRI *"…). */
  #held: Buffer | null = null;
  #isStallGuarded = false;
  // The socket's listeners, kept to be taken off it if it goes to the HTTP/2 driver. Assigned, not
  // written as named properties or fields: the CLI's bundle keeps function names (esbuild keepNames),
  // which costs an Object.defineProperty per connection for each function whose name is inferred.
  readonly #onDataListener: (chunk: Buffer) => void;
  readonly #onEndListener: () => void;
  readonly #onTimeoutListener: () => void;
  readonly #onCloseListener: () => void;

  constructor(socket: Socket, settings: ConnectionSettings, id: number, onPreface: PrefaceHandler | null = null) {
    this.#socket = socket;
    this.#settings = settings;
    this.#onPreface = onPreface;
    this.#core = new ServerConnectionCore(settings.limits);
    this.#remoteAddress = socket.remoteAddress ?? '-';
    if (settings.trace) {
      this.#trace = new ConnectionTrace(id, 'response', settings.trace);
      this.#trace.note(`connection from ${this.#remoteAddress} port ${socket.remotePort ?? '?'}`);
    }
    this.#onDataListener = (chunk: Buffer) => this.#onData(chunk);
    this.#onEndListener = () => this.#onPeerEnd();
    this.#onTimeoutListener = () => this.#onInactive();
    this.#onCloseListener = () => this.#onClose();
    socket.on('data', this.#onDataListener);
    socket.on('end', this.#onEndListener);
    socket.on('error', destroySocket);
    socket.on('close', this.#onCloseListener);
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
    this.#bodySender ??= new BodySender(
      socketSink(this.#socket, (bytes, onWritten) => this.#write(bytes, onWritten)),
      this.#settings.fileDataBudget ?? SHARED_FILE_DATA_BUDGET,
    );
    return this.#bodySender;
  }

  /** Every byte we send goes through here, so that --trace sees all of it. */
  #write(bytes: Buffer, onWritten?: () => void): boolean {
    this.#trace?.sent(bytes);
    return onWritten === undefined ? this.#socket.write(bytes) : this.#socket.write(bytes, onWritten);
  }

  #onData(received: Buffer): void {
    const chunk = this.#onPreface === null ? received : this.#tellProtocols(received);
    if (chunk === null) return;
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

  /**
   * The first bytes of a plain connection: HTTP/1.1 (returned, to be read), the HTTP/2 preface (the
   * socket goes to the HTTP/2 driver) or, rarely, a beginning of the preface (held). The first byte
   * of every request but a few methods (POST, PUT, PATCH…, "P" like "PRI") decides at once.
   */
  #tellProtocols(received: Buffer): Buffer | null {
    const bytes = this.#held === null ? received : Buffer.concat([this.#held, received]);
    const protocol = comparePreface(bytes);
    if (protocol === 'http/1.1') {
      this.#onPreface = null;
      this.#held = null;
      return bytes;
    }
    if (protocol === 'h2') {
      this.#handOver(this.#onPreface!, bytes);
      return null;
    }
    // Still the preface so far: it has headersMs from its first byte, as any head (a slowloris
    // sending "P" gains nothing). A preface not finished in time ends the connection.
    if (this.#held === null) this.#waits.start('head', this.#settings.timeouts.headersMs);
    this.#held = bytes;
    return null;
  }

  /** The connection is HTTP/2: the socket and the bytes read so far go to its driver. */
  #handOver(onPreface: PrefaceHandler, bytes: Buffer): void {
    this.#onPreface = null;
    this.#held = null;
    this.#waits.dispose();
    const socket = this.#socket;
    socket.off('data', this.#onDataListener);
    socket.off('end', this.#onEndListener);
    socket.off('timeout', this.#onTimeoutListener);
    socket.off('close', this.#onCloseListener);
    onPreface(bytes, this.#core.isShuttingDown, this.#trace);
  }

  #onPeerEnd(): void {
    if (this.#held !== null) {
      // A beginning of the preface, then the end: nothing more can come to finish it.
      const held = this.#held;
      this.#onPreface = null;
      this.#held = null;
      this.#trace?.received(held);
      this.#core.receive(held);
    }
    this.#onPreface = null;
    this.#core.peerClosed();
    this.#pump();
  }

  #onClose(): void {
    this.#trace?.closed();
    this.#waits.dispose();
    this.#bodySender?.connectionClosed();
    this.#settings.released?.(this);
  }

  /** Takes events from the core until it needs more bytes or waits for an answer. */
  #pump(): void {
    // The loop below goes on by itself; bytes held for telling the protocols apart are not HTTP/1.1 yet.
    if (this.#pumping || this.#held !== null) return;
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
            this.#answer = { head: this.#core.currentHead, startTime: this.#startTime() };
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
    this.#waits.stop();
    const answer: Answer = { head, startTime: this.#startTime() };
    this.#answer = answer;
    const request: IncomingRequest = {
      method: head.method,
      target: head.target,
      version: head.version,
      fields: head.fields,
      remoteAddress: this.#remoteAddress,
    };
    const plan = handlerAnswer(this.#settings.handler, request);
    if (plan instanceof Promise) plan.then((later) => this.#respondOrDestroy(answer, later));
    else this.#respondOrDestroy(answer, plan);
    // Still under way (a handler that answers later, a body sent from a file or a stream).
    if (this.#answer === answer) this.#guardStall();
  }

  /**
   * Arms the socket's inactivity timer (stallMs without a read or a write ends an answer in
   * progress, see #onInactive), once per connection, the first time an answer does not go out at
   * once: most connections answer each request in one write and never need it.
   */
  #guardStall(): void {
    if (this.#isStallGuarded) return;
    this.#isStallGuarded = true;
    this.#socket.on('timeout', this.#onTimeoutListener);
    this.#socket.setTimeout(this.#settings.timeouts.stallMs);
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
    // A response on a connection that stays open waits for the end of this turn (holdUntilTurnEnds).
    if (inOneWrite && decision.connection === null && !this.#socket.writableNeedDrain) holdUntilTurnEnds(this.#socket);
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
          this.#guardStall();
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
    this.#waits.dispose();
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) return;
    if (this.#core.mayCloseAtOnce) {
      // Nothing more can come that a close would turn into a reset (see mayCloseAtOnce): close as
      // soon as the kernel has every byte, which for a small response is now. The kernel sends our
      // FIN after the data, so no shutdown call, no lingering, no wait for the client's FIN. Over
      // TLS the end sends close_notify first (RFC 8446 §6.1), so a client sees a clean end.
      if (socket.writableLength === 0 && !isEncrypted(socket)) socket.destroy();
      else {
        this.#guardStall();
        socket.end(() => socket.destroy());
      }
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
      this.#guardStall();
      socket.pause();
      socket.once('finish', () => this.#linger());
    }
  }

  #linger(): void {
    if (this.#socket.destroyed) return;
    this.#socket.resume();
    this.#waits.start('linger', LINGER_MS);
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
        this.#waits.start('idle', keepAliveMs);
        return;
      case 'head':
        this.#waits.start('head', headersMs);
        return;
      case 'discarding':
        this.#waits.start('body', headersMs);
        return;
      case 'answering':
      case 'closing':
      case 'closed':
        return;
    }
  }

  #onWaitOver(waitingFor: Wait): void {
    if (this.#socket.destroyed) return;
    const state = this.#core.state;
    switch (waitingFor) {
      case 'head':
        if (this.#held !== null) {
          this.#socket.destroy(); // a preface begun and not finished in time
          return;
        }
        if (state !== 'head') return;
        this.#core.headTimedOut();
        this.#answer = { head: null, startTime: this.#startTime() };
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

  /** When an answer began, for the access log's duration: not read from the clock when nothing is logged. */
  #startTime(): number {
    return this.#settings.onAccess === undefined ? 0 : performance.now();
  }

  #log(answer: Answer, status: number, bytesSent: number): void {
    const onAccess = this.#settings.onAccess;
    if (onAccess === undefined) return;
    onAccess(accessEntry(this.#remoteAddress, answer.head, answer.head?.version ?? '1.1', status, bytesSent, answer.startTime));
  }
}

/** A TLSSocket (node:tls is not loaded to ask instanceof: a plain server starts without it). */
function isEncrypted(socket: Socket): boolean {
  return (socket as Socket & { encrypted?: boolean }).encrypted === true;
}

/** A socket error ends the connection; the 'close' that follows does the rest. */
function destroySocket(this: Socket): void {
  this.destroy();
}
