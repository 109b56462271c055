/**
 * One server-side HTTP/2 connection: a socket joined to the core's H2Connection (RFC 9113). The core
 * decides what each frame means; this file moves bytes, calls the same RequestHandler as HTTP/1.1
 * with each request, sends each ResponsePlan as HEADERS and DATA, and runs the timers.
 *
 * Sending. Each response with a body is a DataSource (h2-body.ts). Streams with bytes ready and a
 * window open take turns (round-robin), one frame of at most the peer's SETTINGS_MAX_FRAME_SIZE per
 * turn, while the socket takes what we write (writableNeedDrain stops the round; 'drain' resumes it).
 * So a big file on one stream cannot starve the others, and the socket's buffer holds at most one
 * frame beyond its high-water mark.
 *
 * Waits (one at a time, the first that applies; a WaitTimer as for HTTP/1.1, so no timer is made per stream):
 *   preface   headersMs from the connection until the client's preface and SETTINGS
 *   idle      keepAliveMs without an open stream: GOAWAY NO_ERROR, then close
 *   stall     stallMs during which streams have bytes to send but the peer's window stays shut
 *             (a zero-window peer holds our buffers): GOAWAY ENHANCE_YOUR_CALM, then close
 * and the socket's inactivity timer (stallMs without a read or write while streams are open: the
 * peer does not read at all).
 */
import type { Socket } from 'node:net';
import { Fields } from '../../core/fields.js';
import { H2Connection, type H2Event } from '../../core/h2/connection.js';
import { HpackDecoder, HpackEncoder } from '../../core/h2/hpack/index.js';
import type { H2Limits } from '../../core/h2/limits.js';
import { type FieldPair, type RequestPseudo, fieldsToSend } from '../../core/h2/semantics.js';
import { decideResponseFraming } from '../../core/connection.js';
import { ConnectionTrace } from '../../core/connection-trace.js';
import { type ResponsePlan, bodyLength, errorPlan, isPrepared } from '../../core/response-plan.js';
import { accessEntry } from './access-log.js';
import { releasePlan } from './body-sender.js';
import { httpDateNow } from './clock.js';
import type { ConnectionSettings } from './connection-settings.js';
import { type IncomingRequest, handlerAnswer } from './request-handler.js';
import { SHARED_FILE_DATA_BUDGET } from './file-data-budget.js';
import { BytesSource, type DataSource, FileSource, StreamSource } from './h2-body.js';
import { WaitTimer } from './wait-timer.js';

export interface H2ConnectionSettings extends ConnectionSettings {
  h2Limits?: Partial<H2Limits> | undefined;
}

/** The most DATA one stream sends in its turn of the round-robin. */
const TURN_BYTES = 64 * 1024;

/** After GOAWAY and the socket's end, the peer has this long to close before the socket is destroyed. */
const CLOSE_GRACE_MS = 2_000;

/** Fields only the socket layer sets (as response-head.ts does for HTTP/1.1). */
const FIELDS_WE_SET = new Set(['content-length', 'transfer-encoding', 'connection', 'date', 'keep-alive']);

/** A prepared plan's fields as HTTP/2 sends them: made once per plan (a static file's version), not per request. */
const PREPARED_H2_FIELDS = new WeakMap<ResponsePlan, readonly FieldPair[]>();

/** The plan's fields ready for HEADERS (before Date and content-length); throws if one cannot be sent. */
function h2Fields(plan: ResponsePlan): readonly FieldPair[] {
  const cached = PREPARED_H2_FIELDS.get(plan);
  if (cached !== undefined) return cached;
  const fields = fieldsToSend(plan.fields.filter(([name]) => !FIELDS_WE_SET.has(name.toLowerCase())));
  if (isPrepared(plan)) PREPARED_H2_FIELDS.set(plan, fields);
  return fields;
}

/** One request on its stream, from the handler's call to the last DATA frame. */
interface StreamAnswer {
  readonly streamId: number;
  readonly request: IncomingRequest | null;
  readonly startTime: number;
  status: number;
  bytesSent: number;
  source: DataSource | null;
  /** The handler's plan has not come yet. */
  waiting: boolean;
}

type Wait = 'preface' | 'idle' | 'stall';

export class H2ServerConnection {
  readonly #socket: Socket;
  readonly #settings: H2ConnectionSettings;
  readonly #core: H2Connection;
  readonly #remoteAddress: string;
  readonly #trace: ConnectionTrace | null = null;
  readonly #answers = new Map<number, StreamAnswer>();
  /** Streams whose source has bytes ready or is done; visited round-robin. */
  #sending: number[] = [];
  #turn = 0;
  #awaitingDrain = false;
  #ending = false;
  /** A flush is due at the end of this turn of the event loop (see #flushSoon). */
  #isFlushDue = false;
  #shuttingDown = false;
  readonly #waits = new WaitTimer<Wait>((waitingFor) => this.#onWaitOver(waitingFor));

  /** `initialBytes`: what was read before the connection was known to be HTTP/2 (h2c's preface). */
  constructor(
    socket: Socket,
    settings: H2ConnectionSettings,
    id: number,
    initialBytes: Buffer | null,
    trace: ConnectionTrace | null = null,
  ) {
    this.#socket = socket;
    this.#settings = settings;
    this.#remoteAddress = socket.remoteAddress ?? '-';
    if (settings.trace !== undefined) {
      this.#trace = trace ?? new ConnectionTrace(id, 'response', settings.trace);
      if (trace === null) this.#trace.note(`connection from ${this.#remoteAddress} port ${socket.remotePort ?? '?'}`);
      this.#trace.note('HTTP/2 (RFC 9113)');
    }
    const limits = settings.h2Limits;
    this.#core = new H2Connection({
      role: 'server',
      encoder: new HpackEncoder(),
      decoder: new HpackDecoder({
        maxHeaderListSize: limits?.maxHeaderListSize ?? 64 * 1024,
        maxTableSize: limits?.headerTableSize ?? 4096,
      }),
      limits,
      recordFrames: this.#trace !== null,
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onPeerEnd());
    socket.on('error', () => socket.destroy());
    socket.on('timeout', () => this.#onInactive());
    socket.on('drain', () => this.#onDrain());
    socket.setTimeout(settings.timeouts.stallMs);
    socket.on('close', () => this.#onClose());
    this.#waits.start('preface', settings.timeouts.headersMs);
    this.#flush();
    if (initialBytes !== null && initialBytes.length > 0) this.#onData(initialBytes);
  }

  /** Graceful shutdown (HttpServer.close): GOAWAY with the last stream id; streams in progress finish. */
  shutDown(): void {
    this.#shuttingDown = true;
    if (this.#socket.destroyed) return;
    this.#core.goAway('NO_ERROR');
    this.#flush();
    this.#endIfDone();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#ending) return;
    this.#guard(() => {
      const events = this.#core.receive(chunk, performance.now());
      for (const event of events) this.#onEvent(event);
    });
  }

  /**
   * Runs a step, then sends what it made possible. A fault of ours (a bug, a plan that cannot be
   * sent) costs this connection, never the process.
   */
  #guard(step: () => void): void {
    try {
      step();
      this.#pump();
      this.#flushSoon();
      this.#updateWait();
    } catch {
      this.#socket.destroy();
    }
  }

  #onEvent(event: H2Event): void {
    switch (event.type) {
      case 'request':
        this.#ask(event.streamId, event.pseudo, event.fields);
        return;
      case 'request-too-large':
        // RFC 9113 §10.5.1: a header list beyond our limit gets 431 on its stream (HPACK state is intact).
        this.#startAnswer(event.streamId, null).waiting = false;
        this.#respond(event.streamId, errorPlan(431));
        return;
      case 'stream-reset':
        this.#endAnswer(event.streamId, true);
        return;
      case 'window-update':
        return; // the pump that follows every receive sends what the window allows
      case 'goaway':
        this.#shuttingDown = true;
        this.#endIfDone();
        return;
      case 'connection-error':
        this.#trace?.note(`connection error ${event.error.code}: ${event.error.message}`);
        this.#closeConnection();
        return;
      case 'data': // request bodies are not read by a static server; the core gives the window back
      case 'trailers':
      case 'settings':
      case 'ping-ack':
        return;
    }
  }

  #startAnswer(streamId: number, request: IncomingRequest | null): StreamAnswer {
    const answer: StreamAnswer = { streamId, request, startTime: performance.now(), status: 0, bytesSent: 0, source: null, waiting: true };
    this.#answers.set(streamId, answer);
    return answer;
  }

  #ask(streamId: number, pseudo: RequestPseudo, fields: FieldPair[]): void {
    const requestFields = new Fields();
    // §8.3.1: :authority stands for Host; a Host field of its own, if any, comes after.
    if (pseudo.authority !== null && !fields.some(([name]) => name === 'host')) requestFields.append('host', pseudo.authority);
    for (const [name, value] of fields) requestFields.append(name, value);
    const request: IncomingRequest = {
      method: pseudo.method,
      target: pseudo.path ?? pseudo.authority ?? '',
      version: '2.0',
      fields: requestFields,
      remoteAddress: this.#remoteAddress,
    };
    const answer = this.#startAnswer(streamId, request);
    const plan = handlerAnswer(this.#settings.handler, request);
    if (plan instanceof Promise) {
      void plan.then((resolved) => this.#respondLater(answer, resolved));
    } else {
      answer.waiting = false;
      this.#respond(streamId, plan);
    }
  }

  #respondLater(answer: StreamAnswer, plan: ResponsePlan): void {
    answer.waiting = false;
    if (this.#answers.get(answer.streamId) !== answer || this.#socket.destroyed) {
      releasePlan(plan); // the stream was reset, or the connection lost, meanwhile
      return;
    }
    this.#guard(() => this.#respond(answer.streamId, plan));
  }

  #respond(streamId: number, plan: ResponsePlan): void {
    const answer = this.#answers.get(streamId)!;
    if (!this.#core.canSend(streamId)) {
      releasePlan(plan);
      this.#endAnswer(streamId, true);
      return;
    }
    const method = answer.request?.method ?? 'GET';
    const length = bodyLength(plan.body);
    const framing = decideResponseFraming(method, '1.1', plan.status, length, true);
    let fields: FieldPair[];
    try {
      fields = [...h2Fields(plan)];
    } catch {
      releasePlan(plan);
      this.#respond(streamId, errorPlan(500));
      return;
    }
    fields.push(['date', httpDateNow()]);
    if (framing.contentLength !== null) fields.push(['content-length', String(framing.contentLength)]);
    answer.status = plan.status;
    this.#core.respond(streamId, plan.status, fields, !framing.sendsBody);
    if (!framing.sendsBody) {
      releasePlan(plan);
      this.#endAnswer(streamId, false);
      return;
    }
    const body = plan.body;
    const onReady = () => this.#onSourceReady(streamId);
    const onError = () => this.#onSourceError(streamId);
    switch (body.kind) {
      case 'empty':
        this.#core.sendData(streamId, Buffer.alloc(0), true);
        this.#endAnswer(streamId, false);
        return;
      case 'bytes':
        answer.source = new BytesSource(body.bytes);
        break;
      case 'file':
        answer.source = new FileSource(body.fd, body.pieces, this.#settings.fileDataBudget ?? SHARED_FILE_DATA_BUDGET, onReady, onError);
        break;
      case 'stream':
        answer.source = new StreamSource(body.stream, onReady, onError);
        break;
    }
    this.#sending.push(streamId);
  }

  #onSourceReady(streamId: number): void {
    if (!this.#answers.has(streamId) || this.#socket.destroyed) return;
    this.#guard(() => {
      if (!this.#sending.includes(streamId)) this.#sending.push(streamId);
    });
  }

  /** A file shorter than planned, a stream that failed: the client must not take the body as complete. */
  #onSourceError(streamId: number): void {
    if (!this.#answers.has(streamId)) return;
    this.#guard(() => {
      this.#core.reset(streamId, 'INTERNAL_ERROR');
      this.#endAnswer(streamId, true);
    });
  }

  /**
   * Round-robin over the streams with something to send: one frame each per turn, as long as the
   * socket takes what we write and windows are open.
   */
  #pump(): void {
    // One frame per turn, and no larger than TURN_BYTES even if the peer allows larger frames: a
    // stream with a big body in memory must not hold the connection while others wait.
    const frameSize = Math.min(this.#core.peerSettings.maxFrameSize, TURN_BYTES);
    let idleTurns = 0;
    while (this.#sending.length > 0 && !this.#awaitingDrain && !this.#socket.destroyed && idleTurns < this.#sending.length) {
      if (this.#turn >= this.#sending.length) this.#turn = 0;
      const streamId = this.#sending[this.#turn]!;
      const answer = this.#answers.get(streamId);
      const source = answer?.source;
      if (answer === undefined || source == null) {
        this.#sending.splice(this.#turn, 1);
        continue;
      }
      const room = Math.min(this.#core.sendableBytes(streamId), frameSize);
      if (source.done) {
        this.#core.sendData(streamId, Buffer.alloc(0), true);
        this.#sending.splice(this.#turn, 1);
        this.#endAnswer(streamId, false);
        idleTurns = 0;
        continue;
      }
      if (room === 0 || source.readyBytes === 0) {
        this.#turn++;
        idleTurns++;
        continue;
      }
      const piece = source.take(room);
      answer.bytesSent += piece.length;
      const last = source.done;
      this.#core.sendData(streamId, piece, last);
      if (last) {
        this.#sending.splice(this.#turn, 1);
        this.#endAnswer(streamId, false);
      } else {
        this.#turn++;
      }
      idleTurns = 0;
      // A big body goes out as it is framed, so that the socket's backpressure stops the loop.
      if (this.#core.outputBytes >= TURN_BYTES) this.#flush();
    }
  }

  /**
   * Flushes once, after every callback of this turn of the event loop: the answers of the streams
   * a client sent together (h2load and browsers send ten or more at once) leave in one write instead
   * of one system call each (measured: 20,000 writev for 20,000 requests of 10 streams per
   * connection before; one per turn now).
   */
  #flushSoon(): void {
    if (this.#isFlushDue || this.#core.outputBytes === 0) return;
    this.#isFlushDue = true;
    setImmediate(() => {
      this.#isFlushDue = false;
      this.#guard(() => this.#flush());
    });
  }

  /** Every frame the core has queued goes to the socket (and to the trace). */
  #flush(): void {
    this.#traceFrames();
    const output = this.#core.takeOutput();
    if (output.length === 0 || this.#socket.destroyed) return;
    let taken = true;
    if (output.length === 1) {
      taken = this.#socket.write(output[0]!);
    } else {
      this.#socket.cork();
      for (const bytes of output) taken = this.#socket.write(bytes);
      this.#socket.uncork();
    }
    if (taken && !this.#socket.writableNeedDrain) {
      this.#core.outputDrained();
    } else if (!this.#awaitingDrain) {
      // The peer is not reading what we send: nothing more is read from it until it does, so that
      // requests answered without DATA (HEAD, 304) cannot pile answers up in our output.
      this.#awaitingDrain = true;
      this.#socket.pause();
    }
  }

  #onDrain(): void {
    this.#awaitingDrain = false;
    this.#socket.resume();
    this.#core.outputDrained();
    this.#guard(() => {});
  }

  #traceFrames(): void {
    if (this.#trace === null) return;
    this.#trace.frames(this.#core.takeFrameRecords());
  }

  /** A stream's answer is over: logged once, its source released once. */
  #endAnswer(streamId: number, wasReset: boolean): void {
    const answer = this.#answers.get(streamId);
    if (answer === undefined) return;
    this.#answers.delete(streamId);
    answer.source?.release();
    if (answer.status !== 0 || !wasReset) this.#log(answer);
    if (!answer.waiting) this.#endIfDone();
  }

  #endIfDone(): void {
    if (this.#shuttingDown && this.#answers.size === 0 && this.#core.activeStreamCount === 0) this.#closeConnection();
  }

  /** Sends what is queued (a GOAWAY), ends our side, and destroys the socket if the peer does not close. */
  #closeConnection(): void {
    if (this.#ending) return;
    this.#ending = true;
    this.#waits.dispose();
    this.#flush();
    for (const streamId of [...this.#answers.keys()]) this.#endAnswer(streamId, true);
    const socket = this.#socket;
    if (socket.destroyed) return;
    socket.end();
    // Paused while waiting for a drain, the socket would never see the peer's close: a writable
    // that is ending emits no more 'drain'. What still arrives is read and dropped (#onData).
    socket.resume();
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  #onPeerEnd(): void {
    // The client closed its side of the TCP connection. HTTP/2 has no use for a half-closed
    // connection (RFC 9113 §5.1 half-closes streams, not connections): a client that cannot send
    // can no longer acknowledge SETTINGS nor open flow-control windows, so a stream waiting on a
    // window would wait until the stall timer, holding its file. What is queued goes out, then the
    // connection closes and every answer in progress is released.
    this.#shuttingDown = true;
    this.#closeConnection();
  }

  #onClose(): void {
    this.#waits.dispose();
    this.#traceFrames();
    for (const streamId of [...this.#answers.keys()]) this.#endAnswer(streamId, true);
    this.#trace?.closed();
  }

  /** stallMs without a read or a write: a peer that stops reading while streams are open is let go. */
  #onInactive(): void {
    // A shut window is the stall timer's to judge (it says why with GOAWAY); this is a peer that does not read.
    if (this.#waits.waitingFor === 'stall') return;
    if (this.#answers.size > 0 || this.#ending) this.#socket.destroy();
  }

  /** Picks the timer the connection's state calls for (see the table at the top). */
  #updateWait(): void {
    if (this.#ending || this.#socket.destroyed) return;
    const { headersMs, keepAliveMs, stallMs } = this.#settings.timeouts;
    if (!this.#core.prefaceReceived) {
      this.#waits.start('preface', headersMs);
    } else if (this.#answers.size === 0) {
      this.#waits.start('idle', keepAliveMs);
    } else if (this.#isStalled()) {
      this.#waits.start('stall', stallMs);
    } else {
      this.#waits.stop();
    }
  }

  /** Bytes are ready to send and no stream may send them: the peer's windows are shut. */
  #isStalled(): boolean {
    let ready = false;
    for (const streamId of this.#sending) {
      const source = this.#answers.get(streamId)?.source;
      if (source == null || source.readyBytes === 0) continue;
      if (this.#core.sendableBytes(streamId) > 0) return false;
      ready = true;
    }
    return ready && !this.#awaitingDrain;
  }

  #onWaitOver(waitingFor: Wait): void {
    if (this.#socket.destroyed) return;
    switch (waitingFor) {
      case 'preface':
        this.#trace?.note('no HTTP/2 preface in time');
        this.#socket.destroy();
        return;
      case 'idle':
        this.#core.goAway('NO_ERROR');
        this.#closeConnection();
        return;
      case 'stall':
        // A peer that keeps its window shut holds our read buffers and its streams' descriptors.
        this.#trace?.note('the peer kept its flow-control window shut');
        this.#core.goAway('ENHANCE_YOUR_CALM', 'flow-control window shut too long');
        this.#closeConnection();
        return;
    }
  }

  #log(answer: StreamAnswer): void {
    const onAccess = this.#settings.onAccess;
    if (onAccess === undefined) return;
    onAccess(accessEntry(this.#remoteAddress, answer.request, '2.0', answer.status, answer.bytesSent, answer.startTime));
  }
}
