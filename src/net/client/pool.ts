/**
 * The client's pool of idle connections, the `Agent`, so that the next request to the same origin
 * skips the handshakes; and whether a connection may carry another request, decided in exactly one
 * place, `decideReuse`, with every reason written down next to its rule: a connection reused when it
 * should not be is how a client ends up reading the tail of one response as the head of the next.
 */
import type { BodyFraming } from '../../core/framing.js';
import { defaultPort, socketHost } from '../../core/origin.js';
import { cryptoModule } from './builtins.js';
import { type Connection, type OpenOptions, type Route, type TlsSettings, openConnection } from './connection.js';

/**
 * Connections are interchangeable when they reach the same origin the same way with the same TLS
 * trust: plain HTTP through a proxy goes to the proxy whatever the origin, so those share one key.
 */
export function connectionKey(route: Route, tls: TlsSettings & Pick<OpenOptions, 'family' | 'connectTo'>): string {
  if (route.proxy !== null && route.target.protocol === 'http:') return `http-proxy ${route.proxy.href}`;
  let origin = `${route.target.protocol}//${route.target.hostname}:${defaultPort(route.target)}`;
  // A connection opened elsewhere than the URL names (--resolve, --connect-to, -4/-6) serves only requests that ask for the same.
  if (tls.family !== undefined || tls.connectTo !== undefined) {
    const peer = route.proxy ?? route.target;
    const override = tls.connectTo?.(socketHost(peer), defaultPort(peer)) ?? null;
    origin += ` at ${override === null ? '-' : `${override.host}:${override.port}`} ipv${tls.family ?? 'any'}`;
  }
  const via = route.proxy === null ? 'direct' : `tunnel ${route.proxy.href}`;
  if (route.target.protocol !== 'https:') return `${origin} ${via}`;
  const ca = tls.ca === undefined ? 'system' : digestOf(tls.ca);
  return `${origin} ${via} insecure=${tls.insecure === true} ca=${ca}`;
}

/**
 * SHA-256 of each set of CA certificates seen, so that a key costs a lookup rather than a hash per
 * request. Strings are compared by value; a Buffer by identity, then by content (memcmp), so one
 * changed in place is hashed again rather than mistaken for the old trust.
 */
const CA_TEXT_DIGESTS = new Map<string, string>();
const CA_TEXT_DIGESTS_MAX = 64;
const CA_BUFFER_DIGESTS = new WeakMap<Buffer, { bytes: Buffer; digest: string }>();

function digestOf(ca: Buffer | string): string {
  if (typeof ca === 'string') {
    let digest = CA_TEXT_DIGESTS.get(ca);
    if (digest === undefined) {
      digest = cryptoModule().createHash('sha256').update(ca).digest('hex');
      if (CA_TEXT_DIGESTS.size >= CA_TEXT_DIGESTS_MAX) CA_TEXT_DIGESTS.clear();
      CA_TEXT_DIGESTS.set(ca, digest);
    }
    return digest;
  }
  const known = CA_BUFFER_DIGESTS.get(ca);
  if (known?.bytes.equals(ca)) return known.digest;
  const digest = cryptoModule().createHash('sha256').update(ca).digest('hex');
  CA_BUFFER_DIGESTS.set(ca, { bytes: Buffer.from(ca), digest });
  return digest;
}

// ---------------------------------------------------------------------------------------------
// May the connection carry another request?

/** What is known about an exchange when it ends. */
export interface ExchangeOutcome {
  method: string;
  status: number;
  /** The response was read to the end of its framing (not cut short, not abandoned by the reader). */
  complete: boolean;
  framing: BodyFraming;
  /**
   * The response head's own verdict, from the core's reader: false for "Connection: close", for HTTP/1.0
   * without "keep-alive" (RFC 9112 §9.3), and for framing that spoils the connection (both
   * Transfer-Encoding and Content-Length, RFC 9112 §6.3 ¶3; a close-delimited body).
   */
  responseKeepAlive: boolean;
  /** We sent "Connection: close". */
  requestClose: boolean;
  /** Every byte of the request had been handed to the kernel when the response ended. */
  requestSent: boolean;
  /** Bytes received beyond the end of the response. */
  extraBytes: number;
  /** The response head announced a body (Content-Length above 0, or Transfer-Encoding), whatever the method. */
  announcedBody: boolean;
  /** The server's "Keep-Alive: timeout=N" in milliseconds, when it sent one. */
  keepAliveTimeoutMs: number | null;
  /** The connection is still open both ways. */
  open: boolean;
}

export type ReuseVerdict = { reusable: true; idleMs: number | null } | { reusable: false; reason: string };

/**
 * A server's idle timeout minus this is how long we may keep its connection: a request sent just as
 * the server gives up on the connection is lost (undici keeps the same one-second margin).
 */
const KEEP_ALIVE_MARGIN_MS = 1_000;

/** Every reason a connection may not be reused, in one place. */
export function decideReuse(outcome: ExchangeOutcome): ReuseVerdict {
  const no = (reason: string): ReuseVerdict => ({ reusable: false, reason });
  // The next response would begin with what is left of this one.
  if (!outcome.complete) return no('the response was not read to its end');
  // After 101 the connection speaks another protocol; after CONNECT 2xx it is a tunnel (RFC 9110 §7.8, §9.3.6).
  if (outcome.status === 101 || (outcome.method === 'CONNECT' && outcome.status >= 200 && outcome.status < 300))
    return no('the connection changed protocol');
  // A body delimited by the close has used the connection up (RFC 9112 §6.3, item 8).
  if (outcome.framing.kind === 'until-close') return no('the body was delimited by closing the connection');
  if (outcome.requestClose) return no('we asked to close it (Connection: close)');
  if (!outcome.responseKeepAlive) return no('the server asked to close it (Connection: close, HTTP/1.0) or its framing was ambiguous');
  // The server answered before reading all of our request: the rest of it would reach the server
  // as the start of the next request.
  if (!outcome.requestSent) return no('the response came before the request was sent in full');
  // More bytes than the framing said: whatever they are, the next response would be misread.
  if (outcome.extraBytes > 0) return no('the server sent bytes after the end of the response');
  // A HEAD response has no body (RFC 9110 §9.3.2), but a broken server may send the one it
  // announced, later than we look; it would be read as the next response (undici closes after
  // every HEAD for this reason, nodejs/undici#258; we do so only when a body was announced).
  if (outcome.method === 'HEAD' && outcome.announcedBody) return no('a HEAD response announced a body a broken server might still send');
  // The server closed or reset it while we read the response: nothing more can be sent on it.
  if (!outcome.open) return no('the server closed the connection');
  if (outcome.keepAliveTimeoutMs !== null) {
    const idleMs = outcome.keepAliveTimeoutMs - KEEP_ALIVE_MARGIN_MS;
    if (idleMs <= 0) return no('the server keeps idle connections too briefly');
    return { reusable: true, idleMs };
  }
  return { reusable: true, idleMs: null };
}

/** The timeout of a "Keep-Alive: timeout=5, max=100" field (RFC 2068 §19.7.1.1, still widely sent), in ms. */
export function parseKeepAliveTimeout(value: string | undefined): number | null {
  if (value === undefined) return null;
  const match = /(?:^|[,;\s])timeout\s*=\s*"?(\d{1,9})"?/i.exec(value);
  return match ? Number(match[1]) * 1000 : null;
}

// ---------------------------------------------------------------------------------------------
// The pool

export interface AgentOptions {
  /**
   * How long an idle connection is kept for the next request, in ms (default 4000). Servers close idle
   * connections after a few seconds (sockhttp serve and node:http after 5); staying below that avoids
   * sending a request on a connection the server is closing.
   */
  idleTimeoutMs?: number;
  /** Idle connections kept per origin (default 8); 0 keeps none, so every request gets its own connection. */
  maxIdlePerOrigin?: number;
}

/**
 * A pool of idle connections, keyed by origin (and proxy and TLS trust), shared by every request made
 * with `{ agent }`. Idle connections do not keep the process alive (like node:http's agent), and
 * `close()` ends them.
 *
 * @example
 * const agent = new Agent();
 * for (const path of ['/a', '/b']) {
 *   const response = await request(`http://127.0.0.1:8080${path}`, { agent });
 *   for await (const chunk of response.body) process.stdout.write(chunk);
 * }
 * agent.close();
 */
export class Agent {
  readonly #idleTimeoutMs: number;
  readonly #maxIdlePerOrigin: number;
  /** Idle connections per key, least recently used first. */
  readonly #idle = new Map<string, Connection[]>();
  /**
   * One timer for the whole pool closes idle connections once their time is up; a request never
   * uses one past its time anyway (takeIdle checks), so the timer may be late but not early. A timer
   * per release and per take cost a Timeout, closures and map entries on every request.
   */
  #sweepTimer: NodeJS.Timeout | null = null;
  /** performance.now() at which #sweepTimer fires. */
  #sweepAt = Number.POSITIVE_INFINITY;
  #opened = 0;
  #closed = false;
  readonly #closeHooks = new Set<() => void>();

  constructor(options: AgentOptions = {}) {
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 4_000;
    this.#maxIdlePerOrigin = options.maxIdlePerOrigin ?? 8;
  }

  /** Whether a connection given back may be kept (so requests should not ask to close). */
  get keepsConnections(): boolean {
    return !this.#closed && this.#maxIdlePerOrigin > 0;
  }

  /** Connections opened so far. */
  get connectionsOpened(): number {
    return this.#opened;
  }

  /** Idle connections in the pool now. */
  get idleConnections(): number {
    let count = 0;
    for (const list of this.#idle.values()) count += list.length;
    return count;
  }

  /** The most recently used idle connection for `key` (the least likely to have been closed), or null. */
  takeIdle(key: string): Connection | null {
    const list = this.#idle.get(key);
    const now = performance.now();
    while (list !== undefined && list.length > 0) {
      const connection = list.pop()!;
      if (list.length === 0) this.#idle.delete(key);
      const usableUntil = connection.idleUntil!;
      connection.idleUntil = null;
      if (!connection.isOpen || now >= usableUntil) {
        connection.destroy();
        continue;
      }
      connection.socket.ref();
      return connection;
    }
    return null;
  }

  /** Opens a new connection for `route`, numbered by this agent. */
  async open(route: Route, key: string, options: OpenOptions): Promise<Connection> {
    this.#opened += 1;
    const connection = await openConnection(route, key, this.#opened, options);
    // A connection the server closes while it is idle leaves the pool at once.
    connection.onClose(() => {
      if (connection.idleUntil !== null) this.#forget(connection);
    });
    return connection;
  }

  /**
   * Takes back a connection that decideReuse allowed; `idleMs` is the server's own limit, if it gave
   * one. Returns whether the connection was kept (rather than closed: pool full or closed).
   */
  release(connection: Connection, idleMs: number | null = null): boolean {
    const list = this.#idle.get(connection.key) ?? [];
    if (!this.keepsConnections || !connection.isOpen || list.length >= this.#maxIdlePerOrigin) {
      connection.destroy();
      return false;
    }
    const socket = connection.socket;
    socket.resume(); // flowing, so that the server's close (or stray bytes) is noticed at once
    socket.unref();
    connection.idleUntil = performance.now() + Math.min(this.#idleTimeoutMs, idleMs ?? Number.POSITIVE_INFINITY);
    list.push(connection);
    if (list.length === 1) this.#idle.set(connection.key, list);
    if (connection.idleUntil < this.#sweepAt) this.#scheduleSweep(connection.idleUntil);
    return true;
  }

  /** Runs `hook` when the agent is closed (the HTTP/2 sessions of h2-exchange.ts end with it). */
  whenClosed(hook: () => void): void {
    this.#closeHooks.add(hook);
  }

  /** Closes every idle connection; connections in use are closed when given back. */
  close(): void {
    this.#closed = true;
    for (const hook of this.#closeHooks) hook();
    this.#closeHooks.clear();
    if (this.#sweepTimer !== null) clearTimeout(this.#sweepTimer);
    this.#sweepTimer = null;
    this.#sweepAt = Number.POSITIVE_INFINITY;
    for (const list of this.#idle.values()) for (const connection of [...list]) connection.destroy();
    this.#idle.clear();
  }

  #forget(connection: Connection): void {
    connection.idleUntil = null;
    const list = this.#idle.get(connection.key);
    const index = list?.indexOf(connection) ?? -1;
    if (index !== -1) list!.splice(index, 1);
    if (list?.length === 0) this.#idle.delete(connection.key);
  }

  #scheduleSweep(at: number): void {
    if (this.#sweepTimer !== null) clearTimeout(this.#sweepTimer);
    this.#sweepAt = at;
    this.#sweepTimer = setTimeout(() => this.#sweep(), Math.max(0, at - performance.now()) + 1);
    this.#sweepTimer.unref(); // idle connections do not keep the process alive
  }

  /** Closes the idle connections whose time is up, and sets the timer for the next one. */
  #sweep(): void {
    this.#sweepTimer = null;
    this.#sweepAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const list of [...this.#idle.values()]) {
      for (const connection of [...list]) {
        const usableUntil = connection.idleUntil!; // set for every connection in the pool
        if (usableUntil <= now) {
          this.#forget(connection);
          connection.destroy();
        } else next = Math.min(next, usableUntil);
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.#scheduleSweep(next);
  }
}
