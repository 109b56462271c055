/**
 * The client's connections: opening them (TCP, then a proxy's CONNECT tunnel and TLS when needed) and
 * keeping idle ones in a pool, the `Agent`, so that the next request to the same origin skips the
 * handshakes.
 *
 * Whether a connection may carry another request is decided in exactly one place, `decideReuse`,
 * with every reason written down next to its rule: a connection reused when it should not be is how
 * a client ends up reading the tail of one response as the head of the next.
 *
 * Failures are ClientErrors (client-errors.ts), each with a stable code.
 */
import { createHash } from 'node:crypto';
import { type OnReadOpts, type Socket, connect as connectTcp, isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type TLSSocket, connect as connectTls } from 'node:tls';
import type { BodyFraming } from '../core/framing.js';
import { DEFAULT_RESPONSE_LIMITS } from '../core/limits.js';
import { ResponseReader } from '../core/message-reader.js';
import { serializeRequestHead } from '../core/serializer.js';
import { escapeBytes } from '../core/trace.js';
import { ClientError, socketError } from './client-errors.js';
import { DEFAULT_CLIENT_TIMEOUTS, connectDeadline } from './client-timeouts.js';

// ---------------------------------------------------------------------------------------------
// What a connection is

export interface TlsDetails {
  /** "TLSv1.3", "TLSv1.2"… */
  protocol: string;
  /** The cipher suite's standard name, e.g. "TLS_AES_256_GCM_SHA384". */
  cipher: string;
  /** The protocol agreed by ALPN ("http/1.1"), or null when the server did not take part. */
  alpnProtocol: string | null;
  /** Whether the certificate chain and the host name were verified (false only with `insecure`). */
  verified: boolean;
  /** The certificate's subject and issuer common names, when it has them. */
  subject: string | null;
  issuer: string | null;
}

export interface ConnectionDetails {
  /** Numbered from 1 in the order the agent opened them, so -v can say which one is reused. */
  id: number;
  /** The host and port we connected to: the origin's, or the proxy's. */
  host: string;
  port: number;
  /** The peer's address and port as the socket reports them (after name resolution). */
  remoteAddress: string;
  remotePort: number;
  /** The proxy in between: `tunnel` for CONNECT (https), otherwise requests go to it in absolute form. */
  proxy: { url: URL; tunnel: boolean } | null;
  tls: TlsDetails | null;
  /** Milliseconds from the start of the request that opened the connection; appConnect is 0 without TLS. */
  timings: { nameLookup: number; connect: number; appConnect: number };
}

/** Where a request goes: its URL (whose scheme, host and port name the origin), and the proxy on the way, if any. */
export interface Route {
  target: URL;
  proxy: URL | null;
}

export interface TlsSettings {
  /** Do not verify the server's certificate (curl -k). */
  insecure?: boolean;
  /** Trust these PEM certificate authorities instead of the system's. */
  ca?: Buffer | string;
}

export interface OpenOptions extends TlsSettings {
  /** Aborting it destroys the connection being opened; its reason is the error. */
  signal: AbortSignal;
  /** performance.now() at the start of the request: connection timings are measured from it. */
  since: number;
  /** Sent in the CONNECT request to a proxy. */
  userAgent: string;
  /** DNS, TCP, a proxy's tunnel and TLS must be done within this time (default 10 s; 0: no limit). */
  connectTimeoutMs?: number;
}

export function defaultPort(url: URL): number {
  return url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
}

/** The host of a URL without the brackets of an IPv6 literal, as sockets want it. */
export function socketHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/**
 * Connections are interchangeable when they reach the same origin the same way with the same TLS
 * trust: plain HTTP through a proxy goes to the proxy whatever the origin, so those share one key.
 */
export function connectionKey(route: Route, tls: TlsSettings): string {
  if (route.proxy !== null && route.target.protocol === 'http:') return `http-proxy ${route.proxy.href}`;
  const origin = `${route.target.protocol}//${route.target.hostname}:${defaultPort(route.target)}`;
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
      digest = createHash('sha256').update(ca).digest('hex');
      if (CA_TEXT_DIGESTS.size >= CA_TEXT_DIGESTS_MAX) CA_TEXT_DIGESTS.clear();
      CA_TEXT_DIGESTS.set(ca, digest);
    }
    return digest;
  }
  const known = CA_BUFFER_DIGESTS.get(ca);
  if (known !== undefined && known.bytes.equals(ca)) return known.digest;
  const digest = createHash('sha256').update(ca).digest('hex');
  CA_BUFFER_DIGESTS.set(ca, { bytes: Buffer.from(ca), digest });
  return digest;
}

// ---------------------------------------------------------------------------------------------
// Opening a connection

/** Calls `onAbort` if `signal` aborts before the returned function is called. */
function watchAbort(signal: AbortSignal, onAbort: () => void): () => void {
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

interface TcpResult {
  socket: Socket;
  /** Where the socket's bytes are read into, when it is read with `onread` (not under TLS). */
  regions: ReadRegions | null;
  nameLookup: number;
  connect: number;
}

/** Receives a chunk read from a socket; answers whether it keeps a reference to the chunk's memory. */
export type ChunkReceiver = (chunk: Buffer) => boolean;

/** A slab of read memory: large enough for the biggest reads a loopback socket gives (~100-400 KiB). */
const SLAB_BYTES = 256 * 1024;
/** A read is never offered less room than this; what is left of a slab below it starts a new slab. */
const MIN_READ_BYTES = 64 * 1024;
/** Reads up to this size are handed on as copies, from Node's shared pool of small buffers. */
const COPY_UP_TO_BYTES = 4 * 1024;

/**
 * Memory for reading a plain TCP socket with net's `onread` option: the kernel copies received bytes
 * straight into a region of a slab we own, and the chunk handed on is a view of it, without the
 * allocation, Readable push and 'data' event that a socket's default reading costs per chunk
 * (measured on loopback: 1 GiB in 0.22-0.35 s of a region read again and again, against 0.45-0.63 s
 * with 'data' events).
 *
 * The rule that keeps this safe: memory that someone may still hold is never read into again.
 * Small reads are handed on as copies, so their region is free at once. A large read is lent: the
 * receiver says whether it kept a reference (a body chunk waiting in a Readable's buffer does; a
 * chunk written to a file before the receiver returns does not). When it did, the next region
 * starts after the kept bytes, or in a new slab when too little room is left.
 *
 *   slab:  [ bytes of earlier kept reads | region (the next read goes here), ≥ MIN_READ_BYTES ]
 */
export class ReadRegions {
  #slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  /** Where the next read goes: #slab[#start, end of slab). */
  #start = 0;
  #receiver: ChunkReceiver;

  constructor(receiver: ChunkReceiver) {
    this.#receiver = receiver;
  }

  /** Sends the chunks read from now on to `receiver`. */
  set receiver(receiver: ChunkReceiver) {
    this.#receiver = receiver;
  }

  /** The `onread` option of net.connect. */
  get onread(): OnReadOpts {
    return {
      // Asked once when the socket starts reading, then after each read: the memory for the next one.
      buffer: () => this.#slab.subarray(this.#start),
      // Flow control is the receiver's (socket.pause()); `false` here would pause the socket too.
      callback: (bytesRead) => {
        this.#received(bytesRead);
        return true;
      },
    };
  }

  #received(bytesRead: number): void {
    const chunk = this.#slab.subarray(this.#start, this.#start + bytesRead);
    if (bytesRead <= COPY_UP_TO_BYTES) {
      const copy = Buffer.allocUnsafe(bytesRead); // from Node's pool of small buffers
      chunk.copy(copy);
      this.#receiver(copy);
      return;
    }
    if (!this.#receiver(chunk)) return;
    this.#start += bytesRead;
    if (SLAB_BYTES - this.#start < MIN_READ_BYTES) {
      this.#slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.#start = 0;
    }
  }
}

function openTcp(host: string, port: number, role: 'origin' | 'proxy', options: OpenOptions & { readWithRegions: boolean }): Promise<TcpResult> {
  return new Promise((resolve, reject) => {
    if (options.signal.aborted) return reject(options.signal.reason);
    // Until a Connection takes the socket over, a byte from the server is one nobody asked for
    // (servers speak after the request): the socket is of no use, as in Connection.
    const regions = options.readWithRegions
      ? new ReadRegions(() => {
          socket.destroy();
          return false;
        })
      : null;
    const socket = connectTcp({ host, port, ...(regions !== null && { onread: regions.onread }) });
    const unwatch = watchAbort(options.signal, () => {
      socket.destroy();
      reject(options.signal.reason);
    });
    // An IP address needs no lookup.
    let nameLookup: number | null = isIP(host) === 0 ? null : 0;
    socket.once('lookup', (error) => {
      if (error === null) nameLookup = performance.now() - options.since;
    });
    const onError = (error: NodeJS.ErrnoException) => {
      unwatch();
      reject(socketError(error, host, port, role));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      unwatch();
      socket.off('error', onError);
      const connected = performance.now() - options.since;
      resolve({ socket, regions, nameLookup: nameLookup ?? connected, connect: connected });
    });
  });
}

/** The Proxy-Authorization value for a proxy URL with user:password in it (RFC 9110 §11.7.2, Basic). */
export function proxyAuthorization(proxy: URL): string | null {
  if (proxy.username === '' && proxy.password === '') return null;
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
}

/** host:port as a request target in authority-form (RFC 9112 §3.2.3), IPv6 literals in brackets. */
export function authorityOf(url: URL): string {
  return `${url.hostname}:${defaultPort(url)}`;
}

/**
 * Asks the proxy on `socket` for a tunnel to the origin (CONNECT, RFC 9110 §9.3.6) and resolves once it
 * answers 2xx; from then on the socket's bytes are the origin's. Any other answer, or a malformed one,
 * is 'proxy-failed' (curl's exit 97): the proxy refused, not the origin.
 */
function openTunnel(socket: Socket, route: Route & { proxy: URL }, options: OpenOptions): Promise<void> {
  const authority = authorityOf(route.target);
  const fields: Array<[string, string]> = [
    ['Host', authority],
    ['User-Agent', options.userAgent],
  ];
  const authorization = proxyAuthorization(route.proxy);
  if (authorization !== null) fields.push(['Proxy-Authorization', authorization]);
  const reader = new ResponseReader(DEFAULT_RESPONSE_LIMITS);
  reader.expectResponseTo('CONNECT');
  const where = `proxy ${route.proxy.host}`;

  return new Promise<void>((resolve, reject) => {
    if (options.signal.aborted) return reject(options.signal.reason);
    const finish = (error: unknown) => {
      unwatch();
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      if (error === null) return resolve();
      socket.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      reader.push(chunk);
      for (;;) {
        let event;
        try {
          event = reader.next();
        } catch (error) {
          return finish(new ClientError('proxy-failed', `Malformed answer from the ${where} to CONNECT`, { cause: error }));
        }
        if (event.type === 'need-more' || event.type === 'closed' || event.type === 'paused') return;
        if (event.type !== 'head' || event.head.status < 200) continue; // the rest of an interim 1xx
        if (event.head.status >= 300) {
          // The reason phrase may hold C1 controls (obs-text): escaped, as this message reaches terminals.
          const reason = escapeBytes(Buffer.from(event.head.reason, 'latin1'));
          return finish(new ClientError('proxy-failed', `The ${where} refused the tunnel to ${authority}: ${event.head.status} ${reason}`.trimEnd()));
        }
        // The tunnel's first bytes must come from the origin, and a TLS server speaks only after our hello.
        if (reader.bufferedBytes > 0) return finish(new ClientError('proxy-failed', `The ${where} sent bytes into the tunnel before TLS started`));
        return finish(null);
      }
    };
    const onEnd = () => finish(new ClientError('proxy-failed', `The ${where} closed the connection instead of opening a tunnel`));
    const onError = (error: Error) => finish(new ClientError('proxy-failed', `The connection to the ${where} failed during CONNECT`, { cause: error }));
    const unwatch = watchAbort(options.signal, () => finish(options.signal.reason));
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
    socket.write(serializeRequestHead('CONNECT', authority, fields));
  });
}

function commonName(entity: unknown): string | null {
  const name = (entity as { CN?: unknown } | undefined)?.CN;
  return typeof name === 'string' ? name : Array.isArray(name) ? String(name[0]) : null;
}

/** The TLS handshake over an open TCP socket (direct, or inside a tunnel). */
function startTls(tcp: Socket, target: URL, options: OpenOptions): Promise<{ socket: TLSSocket; details: TlsDetails; appConnect: number }> {
  const host = socketHost(target);
  const port = defaultPort(target);
  return new Promise((resolve, reject) => {
    if (options.signal.aborted) return reject(options.signal.reason);
    const socket = connectTls({
      socket: tcp,
      host, // the name the certificate is checked against
      // SNI names a host, never an address (RFC 6066 §3).
      ...(isIP(host) === 0 && { servername: host }),
      rejectUnauthorized: options.insecure !== true,
      ...(options.ca !== undefined && { ca: options.ca }),
      ALPNProtocols: ['http/1.1'],
    });
    const settle = (error: unknown) => {
      unwatch();
      socket.off('error', onError);
      socket.off('end', onEnd);
      if (error === null) return;
      // A socket that ends during the handshake reports an error right after: it is this one.
      socket.on('error', () => {});
      socket.destroy();
      reject(error);
    };
    const unwatch = watchAbort(options.signal, () => settle(options.signal.reason));
    // Whatever the socket says, a failure before the handshake ends is a handshake failure.
    const onError = (error: NodeJS.ErrnoException) => {
      const mapped = socketError(error, host, port);
      const isTls = mapped.code === 'tls-certificate' || mapped.code === 'tls-handshake';
      settle(isTls ? mapped : new ClientError('tls-handshake', `TLS handshake with ${host}:${port} failed (${error.code ?? error.message})`, { cause: error }));
    };
    const onEnd = () => settle(new ClientError('tls-handshake', `TLS handshake with ${host}:${port} failed (the server closed the connection)`));
    socket.once('error', onError);
    socket.once('end', onEnd);
    socket.once('secureConnect', () => {
      settle(null);
      resolve({ socket, details: tlsDetails(socket), appConnect: performance.now() - options.since });
    });
  });
}

function tlsDetails(socket: TLSSocket): TlsDetails {
  const certificate = socket.getPeerCertificate();
  const cipher = socket.getCipher();
  return {
    protocol: socket.getProtocol() ?? 'unknown',
    cipher: cipher.standardName ?? cipher.name,
    alpnProtocol: typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : null,
    verified: socket.authorized,
    subject: commonName(certificate?.subject),
    issuer: commonName(certificate?.issuer),
  };
}

/**
 * Opens a connection along `route`: TCP to the origin or the proxy, a tunnel for https through a
 * proxy, TLS; all of it within the connect timeout.
 */
export async function openConnection(route: Route, key: string, id: number, options: OpenOptions): Promise<Connection> {
  const peer = route.proxy ?? route.target;
  const deadline = connectDeadline(options.signal, options.connectTimeoutMs ?? DEFAULT_CLIENT_TIMEOUTS.connectMs, `${socketHost(peer)}:${defaultPort(peer)}`);
  try {
    return await openConnectionSteps(route, key, id, { ...options, signal: deadline.signal });
  } finally {
    deadline.clear();
  }
}

async function openConnectionSteps(route: Route, key: string, id: number, options: OpenOptions): Promise<Connection> {
  const isHttps = route.target.protocol === 'https:';
  const peer = route.proxy ?? route.target;
  const host = socketHost(peer);
  const port = defaultPort(peer);
  // TLS reads the TCP socket itself (node:tls has no onread for a socket it is given).
  const tcp = await openTcp(host, port, route.proxy === null ? 'origin' : 'proxy', { ...options, readWithRegions: !isHttps });
  // Errors surface on the TLS socket once it wraps this one; this listener keeps a late one on the
  // raw socket from being an uncaught exception.
  tcp.socket.on('error', () => {});
  let socket: Socket = tcp.socket;
  let tls: TlsDetails | null = null;
  let appConnect = 0;
  try {
    if (isHttps && route.proxy !== null) await openTunnel(tcp.socket, route as Route & { proxy: URL }, options);
    if (isHttps) ({ socket, details: tls, appConnect } = await startTls(tcp.socket, route.target, options));
  } catch (error) {
    tcp.socket.destroy();
    throw error;
  }
  const details: ConnectionDetails = {
    id,
    host,
    port,
    remoteAddress: tcp.socket.remoteAddress ?? host,
    remotePort: tcp.socket.remotePort ?? port,
    proxy: route.proxy === null ? null : { url: route.proxy, tunnel: isHttps },
    tls,
    timings: { nameLookup: tcp.nameLookup, connect: tcp.connect, appConnect },
  };
  return new Connection(socket, key, details, tcp.regions);
}

// ---------------------------------------------------------------------------------------------
// A connection and whoever is using it

/** What an exchange (a request and its response) hears from the connection it runs on. */
export interface ConnectionListener {
  /**
   * Bytes from the server. The answer says whether the listener keeps a reference to the chunk's
   * memory after returning (see ReadRegions): when it does not, that memory is read into again.
   */
  onData(chunk: Buffer): boolean;
  onEnd(): void;
  onError(error: NodeJS.ErrnoException): void;
  onClose(): void;
}

/**
 * One socket and its details. The socket's listeners are installed once, here, and forward to the
 * exchange attached at the moment; with nobody attached (idle in the pool), any byte or end from the
 * server makes the connection useless, and it is closed.
 */
export class Connection {
  readonly socket: Socket;
  readonly key: string;
  readonly details: ConnectionDetails;
  /** While the connection is idle in an Agent's pool: performance.now() after which it may not be used. */
  idleUntil: number | null = null;
  /** The details with `reused`, for responses: made once per connection and kind, not per response. */
  #described: { fresh?: ConnectionDetails & { reused: boolean }; reused?: ConnectionDetails & { reused: boolean } } = {};
  #listener: ConnectionListener | null = null;
  readonly #closeHandlers = new Set<() => void>();

  constructor(socket: Socket, key: string, details: ConnectionDetails, regions: ReadRegions | null = null) {
    this.socket = socket;
    this.key = key;
    this.details = details;
    socket.setNoDelay(true);
    const receive = (chunk: Buffer): boolean => {
      if (this.#listener !== null) return this.#listener.onData(chunk);
      socket.destroy();
      return false;
    };
    if (regions !== null) regions.receiver = receive;
    else socket.on('data', receive);
    socket.on('end', () => (this.#listener === null ? socket.destroy() : this.#listener.onEnd()));
    socket.on('error', (error: NodeJS.ErrnoException) => this.#listener?.onError(error));
    socket.on('close', () => {
      this.#listener?.onClose();
      for (const handler of this.#closeHandlers) handler();
    });
  }

  detailsFor(reused: boolean): ConnectionDetails & { reused: boolean } {
    return reused ? (this.#described.reused ??= { ...this.details, reused }) : (this.#described.fresh ??= { ...this.details, reused });
  }

  attach(listener: ConnectionListener): void {
    this.#listener = listener;
  }

  detach(): void {
    this.#listener = null;
  }

  onClose(handler: () => void): () => void {
    this.#closeHandlers.add(handler);
    return () => this.#closeHandlers.delete(handler);
  }

  /** Open both ways, with nothing pending from the server. */
  get isOpen(): boolean {
    const socket = this.socket;
    return !socket.destroyed && socket.readable && socket.writable && !socket.readableEnded && !socket.writableEnded;
  }

  destroy(): void {
    this.socket.destroy();
  }
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
  if (outcome.status === 101 || (outcome.method === 'CONNECT' && outcome.status >= 200 && outcome.status < 300)) return no('the connection changed protocol');
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

  /** Closes every idle connection; connections in use are closed when given back. */
  close(): void {
    this.#closed = true;
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
