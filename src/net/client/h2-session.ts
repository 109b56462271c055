/**
 * One HTTP/2 connection of the client (RFC 9113): the core's H2Connection on a socket, carrying
 * many streams at once. The core does the protocol; this file owns the socket, the clock it stamps
 * bytes with, which stream a frame's event belongs to, and when a stream may start.
 *
 * Theory of operation. A session is a ConnectionListener on a Connection (connection.ts). Bytes
 * from the server go to the core, whose events are handed to the stream they name (an
 * H2StreamListener, h2-exchange.ts); what the core queued in answer is written after each turn.
 * A stream starts at once while fewer than the server's SETTINGS_MAX_CONCURRENT_STREAMS are open
 * (§5.1.2), otherwise it waits in a queue, first come first served.
 *
 * Backpressure (§6.9). The core runs with autoStreamWindowUpdate off: a stream's DATA counts as
 * consumed only when its reader has room for it (or once the reader wants more), and the core then
 * gives that stream's window back. A reader that does not read stops its stream after one window;
 * the connection's own window is given back by the core at once, so a slow reader on one stream
 * does not stop the others.
 *
 * GOAWAY (§6.8). Streams above the server's last stream id were not processed: they fail with an
 * `unprocessed` error, which the exchange retries on a new connection; the session takes no new
 * streams and closes when the last one ends.
 */
import { performance } from 'node:perf_hooks';
import { H2Connection, type FrameRecord, type H2Event } from '../../core/h2/connection.js';
import { ERROR_CODE_VALUES, errorCodeName } from '../../core/h2/errors.js';
import { HpackDecoder, HpackEncoder } from '../../core/h2/hpack/index.js';
import type { FieldPair } from '../../core/h2/semantics.js';
import type { Connection, ConnectionListener } from './connection.js';
import { ClientError, Http2ClientError } from './errors.js';

// Defined beside ClientError, so that request.ts can name it without loading this module.
export { Http2ClientError };

/** What a stream hears from its session. */
export interface H2StreamListener {
  onResponse(status: number, fields: FieldPair[], endStream: boolean): void;
  onData(data: Buffer, endStream: boolean): void;
  onTrailers(fields: FieldPair[]): void;
  /** The stream ended abnormally; nothing more comes. */
  onFailure(error: ClientError): void;
  /** Windows grew: request body bytes waiting for flow control may go. */
  onWindow(): void;
  /** Whether the body's reader wants more now (false: its DATA is not reported consumed yet). */
  readonly wantsData: boolean;
}

export interface H2SessionOptions {
  /** Called with the frames of each turn, for --trace. */
  onFrames?: ((records: FrameRecord[]) => void) | undefined;
  /** Close once no stream is open (a request without an agent); otherwise after idleTimeoutMs idle. */
  closeWhenIdle: boolean;
  idleTimeoutMs: number;
  /**
   * The server's preface (its SETTINGS, §3.4) must arrive within this time of the connection
   * opening, or the session fails with SETTINGS_TIMEOUT (0: no limit). A silent server otherwise
   * holds each request until its headers timeout.
   */
  prefaceTimeoutMs: number;
  /** Called once when the session can take no more streams (GOAWAY, closed, failed). */
  onUnusable?: (() => void) | undefined;
}

/** Before the server's SETTINGS arrive its limit is unknown (§6.5.2: unlimited); we assume the RFC's recommended minimum. */
const ASSUMED_MAX_CONCURRENT_STREAMS = 100;
/** Request body bytes queued on the socket before a sender waits for 'drain'. */
const MAX_WRITE_BUFFER_BYTES = 256 * 1024;
/**
 * Our receive windows (§6.9.2). The stream window bounds what one response may have in flight, and
 * so what we buffer for a reader that stops; the connection window, all streams together (it is
 * given back at once, so it limits speed, not memory). 50 MB from our own h2c server over loopback,
 * best of 4 per run, on a loaded 2-core machine: 76-209 MB/s with the RFC's 65,535 for both;
 * 189-304 MB/s with 256 KiB / 1 MiB; 1 MiB / 4 MiB and 4 MiB / 16 MiB did no better.
 */
export const CLIENT_STREAM_WINDOW = 256 * 1024;
export const CLIENT_CONNECTION_WINDOW = 1024 * 1024;

export class H2Session implements ConnectionListener {
  readonly connection: Connection;
  readonly #core: H2Connection;
  readonly #options: H2SessionOptions;
  readonly #streams = new Map<number, H2StreamListener>();
  /** Streams waiting for a slot under the server's concurrency limit, in order. */
  readonly #waiting: Array<() => void> = [];
  /** DATA bytes delivered to a full reader, per stream, reported consumed once it wants more. */
  readonly #unconsumed = new Map<number, number>();
  #settingsReceived = false;
  #receivedAny = false;
  /** Slots given by waitForSlot whose stream is not open yet: they count against the limit. */
  #reservedSlots = 0;
  #usable = true;
  #closed = false;
  /** Streams opened on this session so far: the first is the one that opened the connection. */
  #streamsOpened = 0;
  #idleTimer: NodeJS.Timeout | null = null;
  #prefaceTimer: NodeJS.Timeout | null = null;
  #drainWaiters: Array<() => void> = [];

  constructor(connection: Connection, options: H2SessionOptions) {
    this.connection = connection;
    this.#options = options;
    this.#core = new H2Connection({
      role: 'client',
      encoder: new HpackEncoder(),
      decoder: new HpackDecoder(),
      recordFrames: options.onFrames !== undefined,
      autoStreamWindowUpdate: false,
      initialConnectionWindow: CLIENT_CONNECTION_WINDOW,
      limits: { initialWindowSize: CLIENT_STREAM_WINDOW },
    });
    connection.attach(this);
    connection.socket.resume();
    connection.socket.on('drain', () => {
      this.#core.outputDrained();
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const wake of waiters) wake();
    });
    if (options.prefaceTimeoutMs > 0 && options.prefaceTimeoutMs < Number.POSITIVE_INFINITY) {
      this.#prefaceTimer = setTimeout(() => {
        this.#prefaceTimer = null;
        const seconds = options.prefaceTimeoutMs / 1000;
        this.#lost(
          new Http2ClientError('http2-error', 'SETTINGS_TIMEOUT', `The server sent no HTTP/2 SETTINGS within ${seconds} s of connecting`),
        );
      }, options.prefaceTimeoutMs);
      this.#prefaceTimer.unref();
    }
    // The preface and our SETTINGS go with the first request (open() writes them), so that a
    // trace shows them after the request event that introduces the connection.
  }

  /** Whether a new stream may be opened on this session. */
  get isUsable(): boolean {
    return this.#usable && !this.#closed && this.connection.isOpen;
  }

  get streamsOpened(): number {
    return this.#streamsOpened;
  }

  get activeStreams(): number {
    return this.#streams.size;
  }

  /**
   * Resolves when a stream may be opened (now, or when one ends), with the slot reserved until
   * open() or releaseSlot(); rejects if the session becomes unusable first.
   */
  waitForSlot(): Promise<void> {
    if (!this.isUsable) return Promise.reject(this.#unusableError());
    if (this.#hasSlot()) {
      this.#reservedSlots += 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push(() => {
        if (!this.isUsable) return reject(this.#unusableError());
        this.#reservedSlots += 1;
        resolve();
      });
    });
  }

  /** A slot reserved by waitForSlot that will not be used. */
  releaseSlot(): void {
    if (this.#reservedSlots > 0) this.#reservedSlots -= 1;
    this.#wakeWaiting();
    this.#closeIfDone();
  }

  /** Opens a stream with the request's fields; throws an unprocessed Http2ClientError when the session cannot. */
  open(fields: readonly FieldPair[], endStream: boolean, listener: H2StreamListener): number {
    if (this.#reservedSlots > 0) this.#reservedSlots -= 1;
    if (!this.isUsable) throw this.#unusableError();
    let streamId: number;
    try {
      streamId = this.#core.request(fields, endStream);
    } catch (error) {
      this.#flush();
      throw new Http2ClientError('bad-request', 'INTERNAL_ERROR', `The request cannot be sent over HTTP/2: ${(error as Error).message}`);
    }
    this.#streamsOpened += 1;
    this.#streams.set(streamId, listener);
    this.#clearIdleTimer();
    this.connection.socket.ref();
    this.#flush();
    return streamId;
  }

  /** How many body bytes may go on the stream now (flow control, and the socket's own buffer). */
  sendableBytes(streamId: number): number {
    if (this.isWriteBufferFull) return 0;
    return this.#core.sendableBytes(streamId);
  }

  sendData(streamId: number, data: Buffer, endStream: boolean): void {
    this.#core.sendData(streamId, data, endStream);
    this.#flush();
  }

  get isWriteBufferFull(): boolean {
    return this.connection.socket.writableLength > MAX_WRITE_BUFFER_BYTES;
  }

  /** Resolves when the socket has room again (or at once if it has). */
  whenWritable(): Promise<void> {
    if (this.connection.socket.writableLength <= MAX_WRITE_BUFFER_BYTES || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Ends a stream from our side (RST_STREAM CANCEL, §8.1): its reader gave up, or a clock ran out. */
  cancel(streamId: number): void {
    if (!this.#streams.has(streamId)) return;
    this.#core.reset(streamId, 'CANCEL');
    this.#endStream(streamId);
    this.#flush();
  }

  /**
   * The response is complete but our request body is not (§8.1): the rest of it is not sent, and
   * RST_STREAM CANCEL closes our side, or the stream would stay half open at both ends and count
   * against the server's concurrency limit for ever.
   */
  abandonRequestBody(streamId: number): void {
    this.#core.reset(streamId, 'CANCEL');
    this.#flush();
  }

  /** The stream's reader wants more: what it was given meanwhile is consumed, and its window may grow. */
  bodyWanted(streamId: number): void {
    const bytes = this.#unconsumed.get(streamId);
    if (bytes === undefined || this.#closed) return;
    this.#unconsumed.delete(streamId);
    if (!this.#streams.has(streamId)) return;
    this.#core.consumed(streamId, bytes);
    this.#flush();
  }

  /** Sends GOAWAY and closes once it is written. */
  close(): void {
    if (this.#closed) return;
    this.#becomeUnusable();
    if (this.connection.isOpen) {
      this.#core.goAway('NO_ERROR');
      this.#flush();
    }
    this.#closed = true;
    this.#clearIdleTimer();
    if (this.#prefaceTimer !== null) clearTimeout(this.#prefaceTimer);
    this.#prefaceTimer = null;
    this.connection.socket.end();
    // A server that never closes its side is not waited for.
    setTimeout(() => this.connection.destroy(), 1_000).unref();
    this.#failAll(new Http2ClientError('connection-reset', 'NO_ERROR', 'The HTTP/2 connection was closed by the client'));
  }

  // ---- ConnectionListener ----

  onData(chunk: Buffer): boolean {
    if (!this.#receivedAny) {
      this.#receivedAny = true;
      // §3.3: a server that does not speak h2 answers the preface as a broken HTTP/1.1 request.
      if (chunk.subarray(0, 5).toString('latin1') === 'HTTP/') {
        this.#lost(
          new Http2ClientError(
            'http2-error',
            'PROTOCOL_ERROR',
            'The server answered in HTTP/1.x: it does not speak HTTP/2 here (prior knowledge assumed it did)',
          ),
        );
        return false;
      }
    }
    const events = this.#core.receive(chunk, performance.now());
    for (const event of events) this.#handle(event);
    this.#flush();
    // The core's frame reader and the events' data may be views of the chunk.
    return true;
  }

  onEnd(): void {
    this.#lost(new ClientError('connection-reset', 'The server closed the HTTP/2 connection during the response'));
  }

  onError(error: NodeJS.ErrnoException): void {
    this.#lost(new ClientError('connection-reset', `The HTTP/2 connection failed (${error.code ?? error.message})`, { cause: error }));
  }

  onClose(): void {
    this.#lost(new ClientError('connection-reset', 'The HTTP/2 connection closed during the response'));
  }

  // ---- events ----

  #handle(event: H2Event): void {
    switch (event.type) {
      case 'response':
        this.#streams.get(event.streamId)?.onResponse(event.status, event.fields, event.endStream);
        if (event.endStream) this.#endStream(event.streamId);
        return;
      case 'data': {
        const listener = this.#streams.get(event.streamId);
        if (listener === undefined) return;
        listener.onData(event.data, event.endStream);
        if (event.endStream) this.#endStream(event.streamId);
        else this.#consumeOrHold(event.streamId, event.data.length, listener);
        return;
      }
      case 'trailers':
        this.#streams.get(event.streamId)?.onTrailers(event.fields);
        this.#endStream(event.streamId);
        return;
      case 'stream-reset': {
        const listener = this.#streams.get(event.streamId);
        if (listener === undefined) return;
        this.#endStream(event.streamId);
        const name = errorCodeName(event.errorCode);
        if (event.byPeer) {
          // §8.7: REFUSED_STREAM means the server did nothing with the request.
          const refused = event.errorCode === ERROR_CODE_VALUES.REFUSED_STREAM;
          listener.onFailure(
            new Http2ClientError('stream-reset', name, `The server reset HTTP/2 stream ${event.streamId} (${name})`, refused),
          );
        } else {
          listener.onFailure(
            new Http2ClientError(
              'bad-response',
              name,
              `Malformed HTTP/2 response on stream ${event.streamId}: ${event.message} (RFC 9113, ${name}); the stream was reset`,
            ),
          );
        }
        return;
      }
      case 'window-update':
        if (event.streamId === 0) for (const listener of [...this.#streams.values()]) listener.onWindow();
        else this.#streams.get(event.streamId)?.onWindow();
        return;
      case 'settings':
        this.#settingsReceived = true;
        if (this.#prefaceTimer !== null) clearTimeout(this.#prefaceTimer);
        this.#prefaceTimer = null;
        this.#wakeWaiting();
        return;
      case 'ping-ack':
        return;
      case 'goaway': {
        this.#becomeUnusable();
        const name = errorCodeName(event.errorCode);
        for (const [streamId, listener] of [...this.#streams]) {
          if (streamId <= event.lastStreamId) continue;
          this.#endStream(streamId);
          listener.onFailure(
            new Http2ClientError(
              'http2-error',
              name,
              `The server is closing the HTTP/2 connection (GOAWAY ${name}) and did not process the request`,
              true,
            ),
          );
        }
        this.#closeIfDone();
        return;
      }
      case 'connection-error': {
        const { code, message } = event.error;
        this.#becomeUnusable();
        this.#failAll(new Http2ClientError('http2-error', code, `HTTP/2 connection error from the server (${code}): ${message}`));
        this.#flush();
        this.#closed = true;
        this.connection.socket.end();
        setTimeout(() => this.connection.destroy(), 1_000).unref();
        return;
      }
    }
  }

  #hasSlot(): boolean {
    const limit = this.#settingsReceived ? this.#core.peerSettings.maxConcurrentStreams : ASSUMED_MAX_CONCURRENT_STREAMS;
    return this.#streams.size + this.#reservedSlots < limit;
  }

  #wakeWaiting(): void {
    while (this.#waiting.length > 0 && (this.#hasSlot() || !this.isUsable)) this.#waiting.shift()!();
  }

  /** A reader with room consumes at once; a full one (or one held by --limit-rate) later, in bodyWanted. */
  #consumeOrHold(streamId: number, bytes: number, listener: H2StreamListener): void {
    if (!this.#streams.has(streamId)) return; // the delivery failed it (a body over its limit)
    if (this.#unconsumed.has(streamId) || !listener.wantsData) {
      this.#unconsumed.set(streamId, (this.#unconsumed.get(streamId) ?? 0) + bytes);
    } else {
      this.#core.consumed(streamId, bytes);
    }
  }

  #endStream(streamId: number): void {
    if (!this.#streams.delete(streamId)) return;
    this.#unconsumed.delete(streamId);
    // Woken after the current turn: a waiter opening a stream at once must not run inside #handle.
    queueMicrotask(() => {
      this.#wakeWaiting();
      this.#closeIfDone();
    });
  }

  #closeIfDone(): void {
    if (this.#closed || this.#streams.size > 0 || this.#waiting.length > 0 || this.#reservedSlots > 0) return;
    if (!this.#usable || this.#options.closeWhenIdle) return this.close();
    // Idle: the socket does not keep the process alive, and the session ends after a while.
    this.connection.socket.unref();
    this.#clearIdleTimer();
    this.#idleTimer = setTimeout(() => this.close(), this.#options.idleTimeoutMs);
    this.#idleTimer.unref();
  }

  #clearIdleTimer(): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  #becomeUnusable(): void {
    if (!this.#usable) return;
    this.#usable = false;
    this.#options.onUnusable?.();
    this.#wakeWaiting();
  }

  #unusableError(): Http2ClientError {
    return new Http2ClientError('http2-error', 'REFUSED_STREAM', 'The HTTP/2 connection takes no more streams', true);
  }

  #lost(error: ClientError): void {
    this.#becomeUnusable();
    this.#clearIdleTimer();
    if (this.#prefaceTimer !== null) clearTimeout(this.#prefaceTimer);
    this.#prefaceTimer = null;
    if (!this.#closed) {
      this.#closed = true;
      this.connection.destroy();
    }
    this.#failAll(error);
  }

  #failAll(error: ClientError): void {
    // Senders waiting for the socket to drain stop waiting: their streams have failed.
    const drainWaiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of drainWaiters) wake();
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    this.#unconsumed.clear();
    for (const listener of streams) listener.onFailure(error);
    this.#wakeWaiting();
  }

  // ---- output ----

  /** Writes what the core queued, and hands its frame records to --trace. */
  #flush(): void {
    const output = this.#core.takeOutput();
    if (this.#options.onFrames !== undefined) {
      const records = this.#core.takeFrameRecords();
      if (records.length > 0) this.#options.onFrames(records);
    }
    if (output.length === 0 || this.connection.socket.destroyed) return;
    const bytes = output.length === 1 ? output[0]! : Buffer.concat(output);
    if (this.connection.socket.write(bytes)) this.#core.outputDrained();
  }
}
