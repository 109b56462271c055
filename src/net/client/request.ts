/**
 * The HTTP/1.1 client: `request(url, options)` resolves with the response head and a streaming body.
 *
 * Theory of operation. One call of `request` is one or more *exchanges*, each a request and its
 * response on one connection: more than one when it follows redirects, retries, or finds that a
 * pooled connection was closed by the server meanwhile. An exchange takes an idle connection from the
 * agent (or opens one), writes the request, and reads the response with the core's ResponseReader.
 * The promise resolves at the final response's head; the body streams with backpressure. The
 * exchange itself is in exchange.ts, the clocks in timeouts.ts, content decoding in decoding.ts,
 * failures and their codes in errors.ts; opening connections in connection.ts, pooling them in
 * pool.ts.
 *
 * Without an `agent`, each request has a connection of its own and says "Connection: close": a pool
 * nobody asked for would keep sockets open behind the caller's back (a server's close() then waits
 * for them), so reuse is something a caller asks for by passing an Agent it will close.
 */
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { FieldLine, Fields } from '../../core/fields.js';
import type { HttpVersion } from '../../core/head-parser.js';
import { DEFAULT_RESPONSE_LIMITS, type Limits } from '../../core/limits.js';
import { isHttpUrl } from '../../core/origin.js';
import { serializeRequestHead } from '../../core/serializer.js';
import { VERSION } from '../../version.js';
import { Connection, type ConnectionDetails, type Route } from './connection.js';
import type { FrameRecord } from '../../core/h2/connection.js';
import type { HttpVersionChoice } from './h2-exchange.js';
import { Agent, connectionKey } from './pool.js';
import { decodeContent } from './decoding.js';
import { ClientError } from './errors.js';
import { Exchange, type ExchangeResult, type RequestContext, type RequestPlan } from './exchange.js';
import { DEFAULT_CLIENT_TIMEOUTS, Deadline } from './timeouts.js';
import { parseProxyUrl, proxyAuthorization } from './proxy.js';
import { discardBody, redirectPlan, redirectTarget, refererOf } from './redirects.js';

export { ClientError, type ClientErrorCode } from './errors.js';
export { DEFAULT_CLIENT_TIMEOUTS, type ClientTimeouts } from './timeouts.js';
export { Http2ClientError } from './errors.js';
export type { HttpVersionChoice } from './h2-exchange.js';

/** The HTTP version a response came in: HTTP/1.x, or '2' over HTTP/2. */
export type ResponseVersion = HttpVersion | '2';

export const USER_AGENT = `sockhttp/${VERSION}`;

/** Something that happened during a request, for -v and traces. */
export type ClientEvent =
  /** A connection is ready (new, or `reused` from the pool) and `head` is about to be written on it. */
  | { type: 'request'; url: URL; connection: ConnectionDetails; reused: boolean; head: Buffer; protocol?: 'h2' }
  /** A response head arrived: interim (1xx), redirect, retried or final. */
  | { type: 'response-head'; url: URL; status: number; reason: string; version: ResponseVersion; fields: Fields }
  /** The response is complete on the wire: the connection went back to the pool (`kept`) or was closed, and why. */
  | { type: 'connection-done'; connection: ConnectionDetails; kept: boolean; reason: string | null }
  | { type: 'redirect'; from: URL; to: URL; status: number; method: string }
  | { type: 'retry'; url: URL; attempt: number; delayMs: number; reason: string };

export interface RequestOptions {
  method?: string;
  /** Extra request fields. A field given here replaces the default of the same name (Host, User-Agent…). */
  headers?: Iterable<FieldLine> | Record<string, string>;
  body?: Buffer | string;
  /** The whole request, redirects and retries included, connection to last body byte, must finish within this time ('timeout'; default: no limit). */
  timeoutMs?: number;
  /** DNS, TCP, a proxy's CONNECT tunnel and the TLS handshake must be done within this time ('connect-timeout'; default 10 s; 0: no limit). */
  connectTimeoutMs?: number;
  /** The final response head must arrive within this time of sending the request ('headers-timeout'; default 300 s; 0: no limit). */
  headersTimeoutMs?: number;
  /** While the body's reader wants more, no more than this time may pass without a byte of it ('body-timeout'; default 300 s; 0: no limit). */
  bodyTimeoutMs?: number;
  /** Receives every byte read from the connection, exactly as it arrived (for --raw and traces). */
  onRawBytes?: (bytes: Buffer) => void;
  /** Receives every byte written to the connection, exactly as sent (request heads and bodies). */
  onSentBytes?: (bytes: Buffer) => void;
  /** Hears what happens: connections, heads, redirects, retries (for -v). */
  onEvent?: (event: ClientEvent) => void;
  limits?: Partial<Limits>;
  /** The body may be at most this many bytes (after decoding the chunked framing); more is an error. */
  maxBodyBytes?: number;
  /**
   * Interim (1xx) responses accepted before the final one, per exchange (default 10); more is a
   * 'too-many-interim-responses' error. Their heads also count, together, against `limits.maxHeadBytes`.
   */
  maxInterimResponses?: number;
  /** HTTPS: do not verify the server's certificate (curl -k). */
  insecure?: boolean;
  /** HTTPS: trust these PEM certificate authorities instead of the system's. */
  ca?: Buffer | string;
  /** A pool to take connections from and give them back to. Without one, each request has its own connection. */
  agent?: Agent;
  /** Keep the connection for another request (default: true with an agent). False sends "Connection: close". */
  keepAlive?: boolean;
  /** A forward proxy (http://host:port), or a function choosing one per URL (see proxyFromEnvironment). */
  proxy?: string | URL | null | ((target: URL) => URL | null);
  /** Follow 301, 302, 303, 307 and 308 (default false: the redirect itself is the response). */
  followRedirects?: boolean;
  /** With followRedirects: each request after a redirect says Referer: the URL that redirected, without credentials or fragment (curl --referer ';auto'). */
  autoReferer?: boolean;
  /** With followRedirects: more redirects than this is a 'too-many-redirects' error (default 10). */
  maxRedirects?: number;
  /** Send Accept-Encoding: gzip, deflate, br and decode the body accordingly (curl --compressed). */
  decompress?: boolean;
  /** Read the body no faster than this, on average (curl --limit-rate). */
  maxBytesPerSecond?: number;
  /**
   * curl's choice of protocol: '1.1' (the default); '2' offers h2 by ALPN over https and falls back
   * to HTTP/1.1 when the server does not take it (plain http stays HTTP/1.1); '2-prior-knowledge'
   * speaks h2 at once, on http too. The response's `version` says which was used.
   */
  httpVersion?: HttpVersionChoice;
  /** HTTP/2: receives the frames of each connection as they are sent and received (for --trace). */
  onH2Frame?: (connection: ConnectionDetails, records: FrameRecord[]) => void;
  /** Retry this many times after a connection failure or a 5xx, for idempotent methods only (default 0). */
  retries?: number;
  /** The first wait before a retry, doubled each time up to 30 s (default 1000 ms). */
  retryDelayMs?: number;
  /** Default fields (Host, User-Agent, Accept…) not to send at all, by name in any case (curl -H 'Name:'). */
  omitFields?: readonly string[];
  /** The Cookie field for each request of the chain, redirects included (a cookie jar's answer), or null for none. */
  cookieHeader?: (url: URL) => string | null;
  /** Connect over IPv4 (4) or IPv6 (6) only (curl -4, -6). */
  family?: 4 | 6;
  /**
   * Where to open the TCP connection for a host and port instead of what they name (curl --resolve,
   * --connect-to); null: as named. The URL still gives Host, TLS's server name and the certificate check.
   */
  connectTo?: (host: string, port: number) => { host: string; port: number } | null;
}

export interface Timings {
  /** Milliseconds from the call of request(); connection phases are 0 on a reused connection, appConnect 0 without TLS. */
  nameLookup: number;
  connect: number;
  appConnect: number;
  /** The first byte of the response. */
  firstByte: number;
  /** The last byte of the response; null until then. */
  total: number | null;
}

export interface ClientResponse {
  status: number;
  reason: string;
  version: ResponseVersion;
  fields: Fields;
  /** HTTP/2: the trailer section, once the body has ended with one (null before or without). */
  readonly trailers?: Fields | null;
  /** The message body (chunked framing removed; content coding too with `decompress`). Errors surface as a ClientError on the stream. */
  body: Readable;
  /** The URL this response answers: the request's, or that of the last redirect followed. */
  url: string;
  /** How many redirects were followed to get here. */
  redirects: number;
  /** The connection that carried the response; `reused` when it had carried an earlier one. */
  connection: ConnectionDetails & { reused: boolean };
  timings: Timings;
  /** Body bytes received so far, without the chunked framing and before content decoding (curl's size_download). */
  readonly bodyBytesReceived: number;
  /**
   * Hands the body to `write`, chunk by chunk as it arrives, instead of through `body`; resolves
   * when the body is complete, rejects with the error `body` would have carried (or with what
   * `write` threw, which ends the request). Faster than reading `body` for a large download: the
   * chunks are lent, not given, so none is queued or copied, and the socket's read memory is used
   * again. `write` must therefore be done with a chunk when it returns (a synchronous file write, a
   * hash update) and must not keep it. Use one of `body` and `consumeBody`, not both.
   *
   * @example
   * const fd = openSync('big.iso', 'w');
   * await response.consumeBody((chunk) => writeSync(fd, chunk));
   */
  consumeBody(write: (chunk: Buffer) => void): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// The request: redirects and retries around exchanges

/** Connections made for a request that came without an agent: never kept. */
const NO_POOL = new Agent({ maxIdlePerOrigin: 0 });

/**
 * Sends a request and resolves with the response head and a streaming body.
 *
 * @example
 * const response = await request('http://127.0.0.1:13331/HelloWorld.html');
 * console.log(response.status, response.fields.get('content-type'));
 * for await (const chunk of response.body) process.stdout.write(chunk);
 *
 * @example Several requests over one kept-alive connection
 * const agent = new Agent();
 * const first = await request('http://127.0.0.1:13331/a.html', { agent });
 * for await (const chunk of first.body) process.stdout.write(chunk);
 * const second = await request('http://127.0.0.1:13331/b.html', { agent }); // same connection
 * for await (const chunk of second.body) process.stdout.write(chunk);
 * agent.close();
 */
export async function request(url: string | URL, options: RequestOptions = {}): Promise<ClientResponse> {
  const since = performance.now();
  const deadline = new Deadline(options.timeoutMs);
  try {
    const agent = options.agent ?? NO_POOL;
    const context: RequestContext = {
      options,
      agent,
      keepAlive: (options.keepAlive ?? options.agent !== undefined) && agent.keepsConnections,
      signal: deadline.signal,
      since,
      limits: options.limits === undefined ? DEFAULT_RESPONSE_LIMITS : { ...DEFAULT_RESPONSE_LIMITS, ...options.limits },
    };
    const target = parseUrl(url, options);
    const plan = firstPlan(target, options);
    // Most requests follow no redirect and retry nothing: one exchange, without the loops' promises.
    const isSingleExchange = options.followRedirects !== true && !((options.retries ?? 0) > 0);
    const { response, exchange: last } = isSingleExchange
      ? await exchange(target, plan, context)
      : await followRedirects(target, plan, context);
    if (options.decompress) {
      response.body = decodeContent(response);
      // Decoded chunks come from zlib, not from the socket: they are read from the stream.
      response.consumeBody = (write) => consumeStream(response.body, write);
    }
    if (deadline.hasTimer) void last.whenFinished().then(() => deadline.clear());
    return response;
  } catch (error) {
    deadline.clear();
    throw error;
  }
}

async function consumeStream(body: Readable, write: (chunk: Buffer) => void): Promise<void> {
  for await (const chunk of body) write(chunk as Buffer);
}

/**
 * Parsed URLs by the string they came from, for requests whose URL object never reaches the
 * caller's code (no hook that is handed it): a client polling or crawling asks for the same few
 * URLs again and again, and new URL() (ada, then Node's JavaScript around it) is among the costliest
 * steps of a small request until the JIT has warmed up. Keyed by the exact string; bounded: emptied
 * when full. A URL object given by the caller is used as it is.
 */
const PARSED_URLS = new Map<string, URL>();
const PARSED_URLS_MAX = 256;
/** Longer URLs (data in the query) are parsed each time: the cache stays small in bytes too. */
const PARSED_URL_MAX_LENGTH = 2048;

/** Whether the request's URL object is handed to any of the caller's hooks (which could change it). */
function urlEscapes(options: RequestOptions): boolean {
  return options.onEvent !== undefined || options.cookieHeader !== undefined || typeof options.proxy === 'function';
}

function parseUrl(url: string | URL, options: RequestOptions): URL {
  if (typeof url === 'string' && url.length <= PARSED_URL_MAX_LENGTH && !urlEscapes(options)) {
    const known = PARSED_URLS.get(url);
    if (known !== undefined) return known;
    const parsed = checkedUrl(url);
    if (PARSED_URLS.size >= PARSED_URLS_MAX) PARSED_URLS.clear();
    PARSED_URLS.set(url, parsed);
    return parsed;
  }
  return checkedUrl(url);
}

function checkedUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch {
    throw new ClientError('bad-url', `Not a valid URL: ${String(url)}`);
  }
  if (!isHttpUrl(parsed)) throw new ClientError('unsupported-protocol', `Unsupported protocol: ${parsed.protocol}`);
  if (parsed.hostname === '') throw new ClientError('bad-url', 'The URL has no host');
  return parsed;
}

function firstPlan(target: URL, options: RequestOptions): RequestPlan {
  const fields: FieldLine[] =
    options.headers === undefined
      ? []
      : Symbol.iterator in options.headers
        ? [...(options.headers as Iterable<FieldLine>)]
        : Object.entries(options.headers);
  // user:password in the URL is Basic authentication (RFC 9110 §11.2), unless the caller gave some.
  if ((target.username !== '' || target.password !== '') && !fields.some(([name]) => name.toLowerCase() === 'authorization')) {
    const credentials = `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`;
    fields.push(['Authorization', `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`]);
  }
  const body = typeof options.body === 'string' ? Buffer.from(options.body, 'utf8') : (options.body ?? Buffer.alloc(0));
  return { method: options.method ?? 'GET', fields, body };
}

async function followRedirects(first: URL, plan: RequestPlan, context: RequestContext): Promise<ExchangeResult> {
  const maxRedirects = context.options.maxRedirects ?? 10;
  let target = first;
  for (let redirects = 0; ; redirects++) {
    const result = await exchangeWithRetries(target, plan, context);
    result.response.redirects = redirects;
    const next = context.options.followRedirects ? redirectTarget(result.response, target) : null;
    if (next === null) return result;
    if (redirects >= maxRedirects) {
      result.response.body.destroy();
      throw new ClientError('too-many-redirects', `More than ${maxRedirects} redirects (the last one to ${next.href})`);
    }
    await discardBody(result.response.body);
    const status = result.response.status;
    plan = redirectPlan(plan, status, target, next);
    if (context.options.autoReferer)
      plan = { ...plan, fields: [...plan.fields.filter(([name]) => name.toLowerCase() !== 'referer'), ['Referer', refererOf(target)]] };
    context.options.onEvent?.({ type: 'redirect', from: target, to: next, status, method: plan.method });
    target = next;
  }
}

/** Methods whose repetition does no harm (RFC 9110 §9.2.2): the only ones retried automatically (RFC 9112 §9.3.1). */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** Failures after which the request may succeed if sent again (curl's "transient" ones, timeouts included). */
const RETRIED_FAILURES = new Set([
  'connect-refused',
  'connect-failed',
  'connect-timeout',
  'headers-timeout',
  'connection-reset',
  'empty-response',
]);
const MAX_RETRY_DELAY_MS = 30_000;

/** The wait before retry number `attempt` (0 for the first): doubling from `baseMs`, never above 30 s. */
export function retryDelay(attempt: number, baseMs = 1_000): number {
  return Math.min(baseMs * 2 ** attempt, MAX_RETRY_DELAY_MS);
}

async function exchangeWithRetries(target: URL, plan: RequestPlan, context: RequestContext): Promise<ExchangeResult> {
  const retries = IDEMPOTENT_METHODS.has(plan.method) ? (context.options.retries ?? 0) : 0;
  for (let attempt = 0; ; attempt++) {
    let reason: string;
    try {
      const result = await exchange(target, plan, context);
      if (result.response.status < 500 || attempt >= retries) return result;
      reason = `the server answered ${result.response.status}`;
      await discardBody(result.response.body);
    } catch (error) {
      if (!(error instanceof ClientError) || !RETRIED_FAILURES.has(error.code) || attempt >= retries) throw error;
      reason = error.message;
    }
    const delayMs = retryDelay(attempt, context.options.retryDelayMs);
    context.options.onEvent?.({ type: 'retry', url: target, attempt: attempt + 1, delayMs, reason });
    await sleep(delayMs, undefined, { signal: context.signal }).catch(() => {
      throw context.signal.reason;
    });
  }
}

function routeFor(target: URL, options: RequestOptions): Route {
  const chosen = typeof options.proxy === 'function' ? options.proxy(target) : options.proxy;
  const proxy = chosen === null || chosen === undefined ? null : parseProxyUrl(chosen);
  return { target, proxy };
}

/**
 * The HTTP/2 client (h2-pool.ts, its sessions, HPACK), loaded by the first request that wants it:
 * an HTTP/1.1 request does without it (evaluating it was 1 ms of a `sockhttp get` start).
 */
let h2Pool: Promise<typeof import('./h2-pool.js')> | undefined;

/** Whether a request with these options goes (or tries to go) over HTTP/2. */
export function wantsHttp2(route: Route, choice: HttpVersionChoice | undefined): boolean {
  if (choice === undefined || choice === '1.1') return false;
  // Plain http through a proxy goes to the proxy in HTTP/1.1 absolute form.
  if (route.proxy !== null && route.target.protocol === 'http:') return false;
  return choice === '2-prior-knowledge' || route.target.protocol === 'https:';
}

/**
 * One exchange on a pooled connection if there is one, else on a new one. A pooled connection the
 * server closed while it was idle fails before a byte of response arrives; the request is then sent
 * once more on a new connection, for idempotent methods only (RFC 9112 §9.3.1).
 */
async function exchange(target: URL, plan: RequestPlan, context: RequestContext): Promise<ExchangeResult> {
  const route = routeFor(target, context.options);
  const head = requestHead(route, withCookies(plan, target, context.options), context);
  const key = connectionKey(route, context.options);
  if (wantsHttp2(route, context.options.httpVersion)) {
    h2Pool ??= import('./h2-pool.js');
    const result = await (await h2Pool).h2Exchange(route, key, plan, context);
    if (result instanceof Connection) return new Exchange(result, false, route, plan, head, context).run();
    if (result !== null) return result;
  }
  const pooled = context.agent.takeIdle(key);
  if (pooled !== null) {
    const attempt = new Exchange(pooled, true, route, plan, head, context);
    try {
      return await attempt.run();
    } catch (error) {
      // A server that closed the idle connection fails it at once; one that took the request and
      // said nothing until the headers timeout is slow, not gone: that is not sent again here.
      const isSilence = error instanceof ClientError && error.code === 'headers-timeout';
      if (attempt.receivedBytes > 0 || isSilence || !IDEMPOTENT_METHODS.has(plan.method) || context.signal.aborted) throw error;
    }
  }
  const opened = await context.agent.open(route, key, {
    signal: context.signal,
    since: context.since,
    userAgent: USER_AGENT,
    connectTimeoutMs: context.options.connectTimeoutMs ?? DEFAULT_CLIENT_TIMEOUTS.connectMs,
    ...(context.options.family !== undefined && { family: context.options.family }),
    ...(context.options.connectTo !== undefined && { connectTo: context.options.connectTo }),
    ...(context.options.insecure !== undefined && { insecure: context.options.insecure }),
    ...(context.options.ca !== undefined && { ca: context.options.ca }),
  });
  return new Exchange(opened, false, route, plan, head, context).run();
}

/** The plan with the cookie jar's Cookie for this hop, joined to one the caller gave (one Cookie field, RFC 6265 §5.4). */
function withCookies(plan: RequestPlan, target: URL, options: RequestOptions): RequestPlan {
  const fromJar = options.cookieHeader?.(target) ?? null;
  if (fromJar === null || fromJar === '') return plan;
  const given = plan.fields.find(([name]) => name.toLowerCase() === 'cookie');
  const others = plan.fields.filter(([name]) => name.toLowerCase() !== 'cookie');
  return { ...plan, fields: [...others, ['Cookie', given === undefined ? fromJar : `${given[1]}; ${fromJar}`]] };
}

// ---------------------------------------------------------------------------------------------
// One exchange

/**
 * Serialized heads of plain requests (no fields of the caller's, no content, no proxy), by method,
 * URL and the two options that change them: a client polling or crawling sends the same few heads
 * again and again, and building one (fields, validation, encoding) costs more than the lookup.
 * Bounded: emptied when full.
 */
const PLAIN_HEADS = new Map<string, Buffer>();
const PLAIN_HEADS_MAX = 256;

/** The request head, from PLAIN_HEADS when it is a plain request seen before. */
function requestHead(route: Route, plan: RequestPlan, context: RequestContext): Buffer {
  if (plan.fields.length > 0 || plan.body.length > 0 || route.proxy !== null || context.options.omitFields !== undefined)
    return buildRequestHead(route, plan, context);
  const key = `${context.keepAlive ? 'k' : 'c'}${context.options.decompress ? 'd' : 'i'} ${plan.method} ${route.target.href}`;
  let head = PLAIN_HEADS.get(key);
  if (head === undefined) {
    head = buildRequestHead(route, plan, context);
    if (PLAIN_HEADS.size >= PLAIN_HEADS_MAX) PLAIN_HEADS.clear();
    PLAIN_HEADS.set(key, head);
  }
  return head;
}

/** The request head: defaults, then the caller's fields, which replace defaults of the same name. */
function buildRequestHead(route: Route, plan: RequestPlan, context: RequestContext): Buffer {
  const target = route.target;
  const defaults: FieldLine[] = [
    ['Host', target.host],
    ['User-Agent', USER_AGENT],
    ['Accept', '*/*'],
  ];
  if (context.options.decompress) defaults.push(['Accept-Encoding', 'gzip, deflate, br']);
  // HTTP/1.1 connections persist by default (RFC 9112 §9.3); "close" tells the server not to wait for another request.
  if (!context.keepAlive) defaults.push(['Connection', 'close']);
  const viaProxy = route.proxy !== null && target.protocol === 'http:';
  const authorization = viaProxy ? proxyAuthorization(route.proxy!) : null;
  if (authorization !== null) defaults.push(['Proxy-Authorization', authorization]);
  const given = new Set(plan.fields.map(([name]) => name.toLowerCase()));
  for (const name of context.options.omitFields ?? []) given.add(name.toLowerCase());
  const fields = defaults.filter(([name]) => !given.has(name.toLowerCase()));
  fields.push(...plan.fields);
  // Content-Length for any content, and 0 for methods that define content but have none (RFC 9110 §8.6).
  const definesContent = plan.method === 'POST' || plan.method === 'PUT' || plan.method === 'PATCH';
  if ((plan.body.length > 0 || definesContent) && !given.has('content-length') && !given.has('transfer-encoding')) {
    fields.push(['Content-Length', String(plan.body.length)]);
  }
  // Through a proxy, the target is the absolute URI (RFC 9112 §3.2.2); otherwise the origin-form path.
  const path = `${target.pathname}${target.search}` || '/';
  const requestTarget = viaProxy ? `${target.protocol}//${target.host}${path}` : path;
  try {
    return serializeRequestHead(plan.method, requestTarget, fields);
  } catch (error) {
    throw new ClientError('bad-request', (error as Error).message, { cause: error });
  }
}
