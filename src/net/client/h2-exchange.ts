/**
 * A request over HTTP/2 (RFC 9113 §8) on a stream of an H2Session (h2-session.ts): the same
 * ClientResponse the HTTP/1.1 exchange gives, with version '2', the trailer section, the same
 * clocks (timeouts.ts), backpressure through the session's held-back WINDOW_UPDATE, and
 * --limit-rate. Which requests come here, on which session: h2-pool.ts.
 */
import { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { Fields } from '../../core/fields.js';
import { type FieldPair, fieldsToSend } from '../../core/h2/semantics.js';
import type { Route } from './connection.js';
import { ClientError } from './errors.js';
import { type ExchangeResult, type RequestContext, type RequestPlan, Throttle } from './exchange.js';
import type { H2Session, H2StreamListener } from './h2-session.js';
import { type ClientResponse, type Timings, USER_AGENT } from './request.js';
import { DEFAULT_CLIENT_TIMEOUTS, NEVER_ABORTED, PhaseTimer } from './timeouts.js';

export type HttpVersionChoice = '1.1' | '2' | '2-prior-knowledge';

/**
 * Request options the `cli` branch adds to request() (curl -4/-6, --resolve/--connect-to,
 * -H 'Name:', cookie jars), read here when present so that they apply over HTTP/2 as soon as both
 * branches meet; until then they are never set.
 */
export interface ForwardedOptions {
  family?: 4 | 6;
  connectTo?: (host: string, port: number) => { host: string; port: number } | null;
  omitFields?: readonly string[];
  cookieHeader?: (url: URL) => string | null;
}

export function forwarded(context: RequestContext): ForwardedOptions {
  return context.options as ForwardedOptions;
}

const DEFAULT_MAX_INTERIM_RESPONSES = 10;

// ---------------------------------------------------------------------------------------------
// One request on one stream

type StreamPhase = 'waiting' | 'body' | 'done' | 'failed';

/** Fields that an HTTP/2 request carries as pseudo-header fields or not at all (§8.2.2, §8.3.1). */
const REPLACED_BY_PSEUDO = new Set(['host']);

function requestFields(route: Route, plan: RequestPlan, context: RequestContext): { fields: FieldPair[]; shown: string } {
  const target = route.target;
  let authority = target.host;
  const defaults: Array<[string, string]> = [
    ['user-agent', USER_AGENT],
    ['accept', '*/*'],
  ];
  if (context.options.decompress) defaults.push(['accept-encoding', 'gzip, deflate, br']);
  const given = new Set(plan.fields.map(([name]) => name.toLowerCase()));
  const { omitFields, cookieHeader } = forwarded(context);
  for (const name of omitFields ?? []) given.add(name.toLowerCase());
  const regular: Array<readonly [string, string]> = defaults.filter(([name]) => !given.has(name));
  // §8.2.3: cookies may go as separate fields; the jar's is one more.
  const fromJar = cookieHeader?.(target) ?? null;
  if (fromJar !== null && fromJar !== '') regular.push(['cookie', fromJar]);
  for (const [name, value] of plan.fields) {
    // §8.3.1: the Host of HTTP/1.1 is :authority here; a caller's Host replaces the URL's.
    if (REPLACED_BY_PSEUDO.has(name.toLowerCase())) authority = value.trim();
    else regular.push([name, value]);
  }
  const definesContent = plan.method === 'POST' || plan.method === 'PUT' || plan.method === 'PATCH';
  if ((plan.body.length > 0 || definesContent) && !given.has('content-length')) regular.push(['content-length', String(plan.body.length)]);
  const path = `${target.pathname}${target.search}` || '/';
  let ready: FieldPair[];
  try {
    ready = fieldsToSend(regular);
  } catch (error) {
    throw new ClientError('bad-request', `A request field cannot be sent: ${(error as Error).message}`, { cause: error });
  }
  const fields: FieldPair[] = [
    [':method', plan.method],
    [':scheme', target.protocol === 'https:' ? 'https' : 'http'],
    [':authority', authority],
    [':path', path],
    ...ready,
  ];
  // For -v: the request as curl shows an HTTP/2 one, in HTTP/1.1's shape.
  let shown = `${plan.method} ${path} HTTP/2\r\nHost: ${authority}\r\n`;
  for (const [name, value] of ready) shown += `${name}: ${value}\r\n`;
  return { fields, shown: `${shown}\r\n` };
}

export class H2Exchange implements H2StreamListener {
  readonly #session: H2Session;
  readonly #reused: boolean;
  readonly #route: Route;
  readonly #plan: RequestPlan;
  readonly #context: RequestContext;
  readonly #clock: PhaseTimer;
  readonly #timings: Timings;
  #phase: StreamPhase = 'waiting';
  #streamId = 0;
  #body: H2ResponseBody | null = null;
  #bodyBytes = 0;
  #interimResponses = 0;
  /** The body's Readable is full (backpressure). */
  #readerFull = false;
  /** --limit-rate: reading waits until this timer fires. */
  #throttleTimer: NodeJS.Timeout | null = null;
  readonly #throttle: Throttle | null;
  #trailers: Fields | null = null;
  #windowWaiter: (() => void) | null = null;
  /** Every byte of the request, END_STREAM included, has been handed to the session. */
  #requestSent = false;
  #resolve: (result: ExchangeResult) => void = () => {};
  #reject: (error: Error) => void = () => {};
  #onAbort: (() => void) | null = null;
  #finished: { promise: Promise<void>; resolve: () => void } | null = null;

  constructor(session: H2Session, reused: boolean, route: Route, plan: RequestPlan, context: RequestContext) {
    this.#session = session;
    this.#reused = reused;
    this.#route = route;
    this.#plan = plan;
    this.#context = context;
    const { headersTimeoutMs = DEFAULT_CLIENT_TIMEOUTS.headersMs, bodyTimeoutMs = DEFAULT_CLIENT_TIMEOUTS.bodyMs } = context.options;
    this.#clock = new PhaseTimer(headersTimeoutMs, bodyTimeoutMs, (error) => this.#fail(error, true));
    const rate = context.options.maxBytesPerSecond;
    this.#throttle = rate === undefined ? null : new Throttle(rate);
    const connected = session.connection.details.timings;
    this.#timings = reused
      ? { nameLookup: 0, connect: 0, appConnect: 0, firstByte: 0, total: null }
      : { nameLookup: connected.nameLookup, connect: connected.connect, appConnect: connected.appConnect, firstByte: 0, total: null };
  }

  /** Whether the server may send more: the reader is not full and --limit-rate does not wait. */
  get wantsData(): boolean {
    return !this.#readerFull && this.#throttleTimer === null;
  }

  whenFinished(): Promise<void> {
    if (this.#phase === 'done' || this.#phase === 'failed') return Promise.resolve();
    if (this.#finished === null) {
      let resolve = () => {};
      const promise = new Promise<void>((settle) => (resolve = settle));
      this.#finished = { promise, resolve };
    }
    return this.#finished.promise;
  }

  run(): Promise<ExchangeResult> {
    return new Promise<ExchangeResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
      const { signal, options } = this.#context;
      const hasBody = this.#plan.body.length > 0;
      this.#requestSent = !hasBody;
      let shown: string;
      try {
        if (signal.aborted) throw signal.reason;
        let fields: FieldPair[];
        ({ fields, shown } = requestFields(this.#route, this.#plan, this.#context));
        options.onEvent?.({
          type: 'request',
          url: this.#route.target,
          connection: this.#session.connection.details,
          reused: this.#reused,
          head: Buffer.from(shown, 'latin1'),
          protocol: 'h2',
        });
        this.#streamId = this.#session.open(fields, !hasBody, this);
      } catch (error) {
        this.#session.releaseSlot();
        return this.#fail(error as Error, false);
      }
      if (signal !== NEVER_ABORTED) {
        this.#onAbort = () => this.#fail(signal.reason as ClientError, true);
        signal.addEventListener('abort', this.#onAbort, { once: true });
      }
      this.#clock.startHead();
      if (hasBody) void this.#sendBody();
    });
  }

  /** The request's content in DATA frames, as flow control (§6.9) and the socket allow. */
  async #sendBody(): Promise<void> {
    const body = this.#plan.body;
    let offset = 0;
    while (offset < body.length) {
      if (this.#phase === 'done' || this.#phase === 'failed') return;
      const size = Math.min(this.#session.sendableBytes(this.#streamId), body.length - offset);
      if (size === 0) {
        // Waiting for the socket's buffer to drain, or else for the server to open its window.
        if (this.#session.isWriteBufferFull) await this.#session.whenWritable();
        else await new Promise<void>((wake) => (this.#windowWaiter = wake));
        this.#windowWaiter = null;
        continue;
      }
      const end = offset + size;
      try {
        this.#session.sendData(this.#streamId, body.subarray(offset, end), end === body.length);
      } catch {
        return; // the stream ended meanwhile (answered early, or reset): its failure is reported there
      }
      offset = end;
    }
    this.#requestSent = true;
  }

  onWindow(): void {
    this.#windowWaiter?.();
  }

  onResponse(status: number, pairs: FieldPair[], endStream: boolean): void {
    if (this.#phase !== 'waiting') return;
    const fields = new Fields(pairs);
    const { options } = this.#context;
    if (status < 200) {
      this.#interimResponses += 1;
      const maxInterim = options.maxInterimResponses ?? DEFAULT_MAX_INTERIM_RESPONSES;
      if (this.#interimResponses > maxInterim) {
        return this.#fail(
          new ClientError('too-many-interim-responses', `The server sent more than ${maxInterim} interim (1xx) responses`),
          true,
        );
      }
      options.onEvent?.({ type: 'response-head', url: this.#route.target, status, reason: '', version: '2', fields });
      return;
    }
    this.#timings.firstByte = performance.now() - this.#context.since;
    options.onEvent?.({ type: 'response-head', url: this.#route.target, status, reason: '', version: '2', fields });
    const maxBodyBytes = options.maxBodyBytes ?? Number.POSITIVE_INFINITY;
    const declared = Number(fields.get('content-length') ?? '0');
    if (this.#plan.method !== 'HEAD' && declared > maxBodyBytes) {
      return this.#fail(
        new ClientError('body-too-large', `The body (${declared} bytes) is larger than the limit of ${maxBodyBytes}`),
        true,
      );
    }
    this.#phase = 'body';
    this.#clock.startBody();
    const body = new H2ResponseBody(this);
    this.#body = body;
    const exchange = this;
    const response: ClientResponse = {
      status,
      reason: '',
      version: '2',
      fields,
      body,
      url: this.#route.target.href,
      redirects: 0,
      connection: { ...this.#session.connection.details, reused: this.#reused },
      timings: this.#timings,
      get bodyBytesReceived() {
        return exchange.#bodyBytes;
      },
      get trailers() {
        return exchange.#trailers;
      },
      consumeBody: async (write) => {
        for await (const chunk of body) write(chunk);
      },
    };
    this.#resolve({ response, exchange: this });
    if (endStream) this.#finish();
  }

  onData(data: Buffer, endStream: boolean): void {
    if (this.#phase !== 'body') return;
    this.#bodyBytes += data.length;
    this.#clock.progress();
    const maxBodyBytes = this.#context.options.maxBodyBytes ?? Number.POSITIVE_INFINITY;
    if (this.#bodyBytes > maxBodyBytes) {
      return this.#fail(new ClientError('body-too-large', `The body is larger than the limit of ${maxBodyBytes} bytes`), true);
    }
    if (data.length > 0 && !this.#body!.deliver(data)) {
      this.#readerFull = true;
      this.#clock.pause();
    }
    // --limit-rate: the stream's WINDOW_UPDATE is held back while the rate is ahead (h2-session.ts).
    const waitMs = this.#throttle?.delayAfter(data.length) ?? 0;
    if (waitMs > 0 && !endStream) {
      this.#clock.pause();
      if (this.#throttleTimer !== null) clearTimeout(this.#throttleTimer);
      this.#throttleTimer = setTimeout(() => {
        this.#throttleTimer = null;
        this.#readMore();
      }, waitMs);
    }
    if (endStream) this.#finish();
  }

  onTrailers(pairs: FieldPair[]): void {
    if (this.#phase !== 'body') return;
    this.#trailers = new Fields(pairs);
    this.#finish();
  }

  onFailure(error: ClientError): void {
    this.#fail(error, false);
  }

  /** The body's reader wants more. */
  bodyWanted(): void {
    this.#readerFull = false;
    this.#readMore();
  }

  #readMore(): void {
    if (this.#phase !== 'body' || !this.wantsData) return;
    this.#clock.resume();
    this.#session.bodyWanted(this.#streamId);
  }

  /** The body's reader gave up before its end: the stream is cancelled. */
  bodyDestroyed(): void {
    if (this.#phase === 'body') this.#fail(null, true);
  }

  #finish(): void {
    if (this.#phase !== 'body') return;
    this.#phase = 'done';
    if (!this.#requestSent) {
      this.#session.abandonRequestBody(this.#streamId);
      this.#windowWaiter?.();
    }
    this.#timings.total = performance.now() - this.#context.since;
    this.#cleanUp();
    this.#finished?.resolve();
    this.#body!.complete();
  }

  /** Ends the stream with `error` (null: its reader gave up); `cancel`: reset it on the wire too. */
  #fail(error: Error | null, cancel: boolean): void {
    if (this.#phase === 'done' || this.#phase === 'failed') return;
    const wasWaiting = this.#phase === 'waiting';
    this.#phase = 'failed';
    this.#cleanUp();
    if (cancel && this.#streamId !== 0) this.#session.cancel(this.#streamId);
    this.#windowWaiter?.();
    this.#finished?.resolve();
    const reported = error ?? new ClientError('connection-reset', 'The exchange was abandoned');
    if (wasWaiting) this.#reject(reported);
    else if (error !== null) this.#body!.destroy(error);
  }

  #cleanUp(): void {
    this.#clock.stop();
    if (this.#throttleTimer !== null) clearTimeout(this.#throttleTimer);
    this.#throttleTimer = null;
    if (this.#onAbort !== null) this.#context.signal.removeEventListener('abort', this.#onAbort);
    this.#onAbort = null;
  }
}

function ignoreError(): void {}

/** The body of a response on a stream; reading it is what lets the server send more (h2-session.ts). */
class H2ResponseBody extends Readable {
  readonly #exchange: H2Exchange;
  #complete = false;

  constructor(exchange: H2Exchange) {
    super();
    this.#exchange = exchange;
    this.on('error', ignoreError);
  }

  deliver(data: Buffer): boolean {
    return this.push(data);
  }

  complete(): void {
    this.#complete = true;
    this.push(null);
  }

  override _read(): void {
    this.#exchange.bodyWanted();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#complete) this.#exchange.bodyDestroyed();
    callback(error);
  }
}
