/**
 * One exchange of the client: a request written on a connection and its response read with the
 * core's ResponseReader. The promise of run() settles at the final response head; the body follows
 * as a Readable (ResponseBody, response.ts) or through consumeBody, and failures after the head go there.
 *
 * Memory. Plain TCP sockets are read into memory the connection owns (ReadRegions, connection.ts), and
 * body chunks are views of it, never copies. Whether a region may be read into again depends on
 * who still holds its bytes: onData answers that for every chunk. A chunk pushed into the body
 * Readable is held (until its reader is done with it, which nobody can tell), so the next read goes
 * elsewhere; a chunk handed to consumeBody's receiver is not, which is what makes consumeBody the
 * fast way to write a large body to a file.
 *
 * Backpressure. When nobody reads the body, the socket is paused and the server's sends wait in
 * TCP, not in our memory; the body clock (timeouts.ts) stops meanwhile. When the reader
 * reports the end of the response, decideReuse (pool.ts) says whether the connection goes back to
 * the pool or is closed.
 */
import { performance } from 'node:perf_hooks';
import type { FieldLine, Fields } from '../../core/fields.js';
import { type BodyFraming, announcedContentLength } from '../../core/framing.js';
import type { HttpVersion } from '../../core/head-parser.js';
import type { Limits } from '../../core/limits.js';
import { ResponseReader } from '../../core/message-reader.js';
import type { Connection, ConnectionListener, Route } from './connection.js';
import { type Agent, decideReuse, parseKeepAliveTimeout } from './pool.js';
import type { ClientResponse, RequestOptions, Timings } from './request.js';
import { ClientError, protocolError, socketError } from './errors.js';
import { DEFAULT_CLIENT_TIMEOUTS, NEVER_ABORTED, type PhaseTimer } from './timeouts.js';
import { ExchangeResponse, ResponseBody } from './response.js';

/** What is sent in one exchange: it changes along redirects. */
export interface RequestPlan {
  method: string;
  /** The caller's fields (the defaults are added per exchange). */
  fields: FieldLine[];
  body: Buffer;
}

/** What every exchange of one request() shares. */
export interface RequestContext {
  options: RequestOptions;
  agent: Agent;
  keepAlive: boolean;
  signal: AbortSignal;
  since: number;
  limits: Limits;
}

export interface ExchangeResult {
  response: ClientResponse;
  /** The HTTP/1.1 Exchange, or an HTTP/2 stream's (h2-exchange.ts). */
  exchange: Pick<Exchange, 'whenFinished'>;
}

/** Paces reading to a rate: after each piece, how long to wait so the bytes so far are not ahead of it. */
export class Throttle {
  readonly #bytesPerSecond: number;
  readonly #start = performance.now();
  #bytes = 0;

  constructor(bytesPerSecond: number) {
    this.#bytesPerSecond = bytesPerSecond;
  }

  delayAfter(bytes: number): number {
    this.#bytes += bytes;
    const dueAt = (this.#bytes / this.#bytesPerSecond) * 1000;
    return Math.max(0, dueAt - (performance.now() - this.#start));
  }
}

type ExchangeState = 'waiting' | 'body' | 'done' | 'failed';

const DEFAULT_MAX_INTERIM_RESPONSES = 10;

/**
 * A request and its response on one connection. States: 'waiting' for the final response head,
 * 'body' while its body arrives, then 'done' (connection released) or 'failed' (connection closed).
 * The promise of run() settles at the head; failures after it go to the body stream.
 */
export class Exchange implements ConnectionListener {
  readonly #connection: Connection;
  readonly #reused: boolean;
  readonly #route: Route;
  readonly #plan: RequestPlan;
  readonly #head: Buffer;
  readonly #context: RequestContext;
  readonly #reader: ResponseReader;
  readonly #throttle: Throttle | null;
  readonly #timings: Timings;
  /** The headers and body clocks: the connection's, lent to this exchange until it ends. */
  readonly #clock: PhaseTimer;
  #state: ExchangeState = 'waiting';
  #response: { status: number; framing: BodyFraming; keepAlive: boolean; fields: Fields } | null = null;
  #body: ResponseBody | null = null;
  /** The body's reader wants more; false while its buffer is full (backpressure). */
  #wantsData = true;
  #throttleTimer: NodeJS.Timeout | null = null;
  /** Whether the chunk being handled in onData is still referenced once it returns. */
  #keptChunk = false;
  /** consumeBody's receiver, and how to settle its promise; null while the body goes to the Readable. */
  #sink: { write: (chunk: Buffer) => void; resolve: () => void; reject: (error: Error) => void } | null = null;
  #bodyBytes = 0;
  #receivedBytes = 0;
  #interimResponses = 0;
  #resolve: (result: ExchangeResult) => void = () => {};
  #reject: (error: Error) => void = () => {};
  /** Made only for whoever asks (a request with a deadline to clear). */
  #finished: { promise: Promise<void>; resolve: () => void } | null = null;
  #onAbort: (() => void) | null = null;

  constructor(connection: Connection, reused: boolean, route: Route, plan: RequestPlan, head: Buffer, context: RequestContext) {
    this.#connection = connection;
    this.#reused = reused;
    this.#route = route;
    this.#plan = plan;
    this.#head = head;
    this.#context = context;
    this.#reader = new ResponseReader(context.limits);
    this.#reader.expectResponseTo(plan.method);
    const rate = context.options.maxBytesPerSecond;
    this.#throttle = rate === undefined ? null : new Throttle(rate);
    const { headersTimeoutMs = DEFAULT_CLIENT_TIMEOUTS.headersMs, bodyTimeoutMs = DEFAULT_CLIENT_TIMEOUTS.bodyMs } = context.options;
    this.#clock = connection.clockFor(headersTimeoutMs, bodyTimeoutMs, (error) => this.#fail(error));
    const connected = connection.details.timings;
    this.#timings = reused
      ? { nameLookup: 0, connect: 0, appConnect: 0, firstByte: 0, total: null }
      : { nameLookup: connected.nameLookup, connect: connected.connect, appConnect: connected.appConnect, firstByte: 0, total: null };
  }

  /** Settles when the exchange ends on the wire: its response read whole, or failed. */
  whenFinished(): Promise<void> {
    if (this.#state === 'done' || this.#state === 'failed') return Promise.resolve();
    if (this.#finished === null) {
      let resolve = () => {};
      const promise = new Promise<void>((settle) => (resolve = settle));
      this.#finished = { promise, resolve };
    }
    return this.#finished.promise;
  }

  /** Bytes received from the server during this exchange. */
  get receivedBytes(): number {
    return this.#receivedBytes;
  }

  run(): Promise<ExchangeResult> {
    return new Promise<ExchangeResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
      const { signal, options } = this.#context;
      if (signal.aborted) return this.#fail(signal.reason as ClientError);
      if (signal !== NEVER_ABORTED) {
        this.#onAbort = () => this.#fail(signal.reason as ClientError);
        signal.addEventListener('abort', this.#onAbort, { once: true });
      }
      this.#connection.attach(this);
      this.#connection.socket.resume();
      // The head may be shared (PLAIN_HEADS): the hooks get copies of their own.
      if (options.onEvent !== undefined) {
        options.onEvent({
          type: 'request',
          url: this.#route.target,
          connection: this.#connection.details,
          reused: this.#reused,
          head: Buffer.from(this.#head),
        });
      }
      const bytes = this.#plan.body.length > 0 ? Buffer.concat([this.#head, this.#plan.body]) : this.#head;
      if (options.onSentBytes !== undefined) options.onSentBytes(Buffer.from(bytes));
      // Whether all of it reached the kernel is read from writableLength when the response ends.
      this.#connection.socket.write(bytes);
      this.#clock.startHead();
    });
  }

  onData(chunk: Buffer): boolean {
    if (this.#receivedBytes === 0) this.#timings.firstByte = performance.now() - this.#context.since;
    this.#receivedBytes += chunk.length;
    const onRawBytes = this.#context.options.onRawBytes;
    onRawBytes?.(chunk);
    this.#keptChunk = onRawBytes !== undefined; // the caller's hook may keep what it is given
    this.#reader.push(chunk);
    this.#pump();
    // The reader holds on to bytes it could not use yet (a head or chunk-size line cut short).
    return this.#keptChunk || this.#reader.bufferedBytes > 0;
  }

  onEnd(): void {
    this.#reader.peerClosed();
    this.#pump();
  }

  onError(error: NodeJS.ErrnoException): void {
    if (this.#state === 'waiting') this.#fail(socketError(error, this.#connection.details.host, this.#connection.details.port));
    else this.#fail(new ClientError('connection-reset', 'The connection failed during the response', { cause: error }));
  }

  onClose(): void {
    this.#fail(new ClientError('connection-reset', 'The connection closed during the response'));
  }

  #pump(): void {
    while (this.#state === 'waiting' || this.#state === 'body') {
      let event;
      try {
        event = this.#reader.next();
      } catch (error) {
        return this.#fail(protocolError(error));
      }
      switch (event.type) {
        case 'need-more':
        case 'paused':
          return;
        case 'head':
          this.#onHead(event.head.status, event.head.reason, event.head.version, event.head.fields, event.framing, event.keepAlive);
          break;
        case 'body':
          this.#onBody(event.data);
          break;
        case 'end':
          if (this.#state === 'body') this.#finish(); // otherwise the end of an interim response
          break;
        case 'closed':
          return this.#fail(new ClientError('empty-response', 'The server closed the connection without a response'));
      }
    }
  }

  #onHead(status: number, reason: string, version: HttpVersion, fields: Fields, framing: BodyFraming, keepAlive: boolean): void {
    const isInterim = status < 200 && status !== 101; // interim responses come before the final one (RFC 9110 §15.2)
    if (isInterim && !this.#acceptInterim()) return;
    this.#context.options.onEvent?.({ type: 'response-head', url: this.#route.target, status, reason, version, fields });
    if (isInterim) return;
    const maxBodyBytes = this.#context.options.maxBodyBytes ?? Number.POSITIVE_INFINITY;
    if (framing.kind === 'length' && framing.length > maxBodyBytes) {
      return this.#fail(
        new ClientError('body-too-large', `The body (${framing.length} bytes) is larger than the limit of ${maxBodyBytes}`),
      );
    }
    this.#response = { status, framing, keepAlive, fields };
    this.#state = 'body';
    this.#clock.startBody();
    const body = new ResponseBody(this);
    this.#body = body;
    const response = new ExchangeResponse(this, status, reason, version, fields, body, this.#connection.detailsFor(this.#reused));
    this.#resolve({ response, exchange: this });
  }

  /**
   * Whether one more interim response is acceptable. RFC 9110 §15.2 sets no bound on how many may
   * come, so a server could send "100 Continue" forever and hold the client (and, in `get -i`,
   * every head) for as long as it likes: at most maxInterimResponses are taken (Go's net/http takes
   * 5), and together their heads may be no larger than one head may be. Interim responses have no
   * body, so the bytes the reader has consumed so far are exactly theirs.
   */
  #acceptInterim(): boolean {
    this.#interimResponses += 1;
    const maxInterim = this.#context.options.maxInterimResponses ?? DEFAULT_MAX_INTERIM_RESPONSES;
    if (this.#interimResponses > maxInterim) {
      this.#fail(new ClientError('too-many-interim-responses', `The server sent more than ${maxInterim} interim (1xx) responses`));
      return false;
    }
    const interimBytes = this.#receivedBytes - this.#reader.bufferedBytes;
    if (interimBytes > this.#context.limits.maxHeadBytes) {
      this.#fail(
        new ClientError(
          'head-too-large',
          `The interim (1xx) responses take ${interimBytes} bytes, more than the head limit of ${this.#context.limits.maxHeadBytes}`,
        ),
      );
      return false;
    }
    return true;
  }

  /** Body bytes received so far (ClientResponse.bodyBytesReceived). */
  get bodyBytes(): number {
    return this.#bodyBytes;
  }

  /** ClientResponse.consumeBody. */
  consumeBody(write: (chunk: Buffer) => void): Promise<void> {
    return this.#consumeBody(write);
  }

  get url(): string {
    return this.#route.target.href;
  }

  get timings(): Timings {
    return this.#timings;
  }

  /** ResponseBody: its reader wants more. */
  bodyWanted(): void {
    this.#wantsData = true;
    this.#resumeSocket();
  }

  /** ResponseBody: destroyed, by its reader or after its end. A reader that gives up on the body gives up on the connection too. */
  bodyDestroyed(): void {
    if (this.#state === 'body') this.#fail(null);
  }

  #consumeBody(write: (chunk: Buffer) => void): Promise<void> {
    const body = this.#body!;
    return new Promise<void>((resolve, reject) => {
      try {
        // What reached the Readable before the caller chose to consume goes first.
        for (let chunk = body.read() as Buffer | null; chunk !== null; chunk = body.read() as Buffer | null) write(chunk);
      } catch (error) {
        this.#fail(error as Error);
        return reject(error as Error);
      }
      if (this.#state === 'done') return resolve();
      if (this.#state === 'failed') return reject(body.errored ?? new ClientError('connection-reset', 'The exchange was abandoned'));
      this.#sink = { write, resolve, reject };
      this.#wantsData = true;
      this.#resumeSocket();
    });
  }

  #onBody(data: Buffer): void {
    this.#bodyBytes += data.length;
    this.#clock.progress();
    const maxBodyBytes = this.#context.options.maxBodyBytes ?? Number.POSITIVE_INFINITY;
    if (this.#bodyBytes > maxBodyBytes)
      return this.#fail(new ClientError('body-too-large', `The body is larger than the limit of ${maxBodyBytes} bytes`));
    if (this.#sink !== null) {
      try {
        this.#sink.write(data); // lent: done with when write returns
      } catch (error) {
        return this.#fail(error as Error);
      }
    } else {
      this.#keptChunk = true; // the Readable's buffer holds the view until its reader takes it
      if (!this.#body!.deliver(data)) {
        this.#wantsData = false;
        this.#connection.socket.pause();
        this.#clock.pause();
      }
    }
    const waitMs = this.#throttle?.delayAfter(data.length) ?? 0;
    if (waitMs > 0) {
      this.#connection.socket.pause();
      this.#clock.pause();
      if (this.#throttleTimer !== null) clearTimeout(this.#throttleTimer);
      this.#throttleTimer = setTimeout(() => {
        this.#throttleTimer = null;
        this.#resumeSocket();
      }, waitMs);
    }
  }

  #resumeSocket(): void {
    if (this.#state !== 'body' || !this.#wantsData || this.#throttleTimer !== null) return;
    this.#connection.socket.resume();
    this.#clock.resume();
  }

  #finish(): void {
    this.#state = 'done';
    this.#timings.total = performance.now() - this.#context.since;
    this.#cleanUp();
    const head = this.#response!;
    const verdict = decideReuse({
      method: this.#plan.method,
      status: head.status,
      complete: true,
      framing: head.framing,
      responseKeepAlive: head.keepAlive,
      requestClose: !this.#context.keepAlive,
      requestSent: this.#connection.socket.writableLength === 0,
      extraBytes: this.#reader.bufferedBytes,
      announcedBody: head.fields.has('transfer-encoding') || (announcedContentLength(head.fields) ?? 0) > 0,
      keepAliveTimeoutMs: parseKeepAliveTimeout(head.fields.get('keep-alive')),
      open: this.#connection.isOpen,
    });
    const kept = verdict.reusable && this.#context.agent.release(this.#connection, verdict.idleMs);
    if (!verdict.reusable) this.#connection.destroy();
    this.#context.options.onEvent?.({
      type: 'connection-done',
      connection: this.#connection.details,
      kept,
      reason: verdict.reusable ? (kept ? null : 'the pool keeps no connection') : verdict.reason,
    });
    this.#finished?.resolve();
    this.#body!.complete();
    this.#sink?.resolve();
  }

  /**
   * Ends the exchange with `error` (null: the body's reader gave up; not a ClientError: consumeBody's
   * receiver threw it) and closes the connection.
   */
  #fail(error: Error | null): void {
    if (this.#state === 'done' || this.#state === 'failed') return;
    const wasWaiting = this.#state === 'waiting';
    this.#state = 'failed';
    this.#cleanUp();
    this.#connection.destroy();
    this.#finished?.resolve();
    const reported = error ?? new ClientError('connection-reset', 'The exchange was abandoned');
    if (wasWaiting) this.#reject(reported);
    else if (error !== null) this.#body!.destroy(error);
    this.#sink?.reject(reported);
  }

  #cleanUp(): void {
    this.#clock.rest();
    if (this.#onAbort !== null) this.#context.signal.removeEventListener('abort', this.#onAbort);
    if (this.#throttleTimer !== null) clearTimeout(this.#throttleTimer);
    this.#throttleTimer = null;
    this.#connection.detach();
  }
}
