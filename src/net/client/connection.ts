/**
 * One connection of the client: opening it (TCP, then a proxy's CONNECT tunnel and TLS when needed),
 * reading from it into reused memory, and the Connection object an exchange attaches to. Failures are
 * ClientErrors (errors.ts), each with a stable code.
 */
import { type OnReadOpts, type Socket, connect as connectTcp, isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import { DEFAULT_RESPONSE_LIMITS } from '../../core/limits.js';
import { ResponseReader } from '../../core/message-reader.js';
import { tlsModule } from './builtins.js';
import { authorityOf, defaultPort, socketHost } from '../../core/origin.js';
import { serializeRequestHead } from '../../core/serializer.js';
import { escapeBytes } from '../../core/trace.js';
import { ClientError, socketError } from './errors.js';
import { proxyAuthorization } from './proxy.js';
import { ConnectDeadline, DEFAULT_CLIENT_TIMEOUTS, type OpeningAbort, PhaseTimer } from './timeouts.js';

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
  /** IPv4 or IPv6 only. */
  family?: 4 | 6;
  /** Another host and port to open the TCP connection to (RequestOptions.connectTo). */
  connectTo?: (host: string, port: number) => { host: string; port: number } | null;
  /** The protocols offered by ALPN over TLS, in order of preference (default: http/1.1 only). */
  alpnProtocols?: string[];
}

// ---------------------------------------------------------------------------------------------
// Opening a connection

/** The options of the steps of opening a connection, each stopped by the connect deadline. */
type StepOptions = Omit<OpenOptions, 'signal'> & { signal: OpeningAbort };

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

function openTcp(
  host: string,
  port: number,
  role: 'origin' | 'proxy',
  options: StepOptions & { readWithRegions: boolean },
): Promise<TcpResult> {
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
    const socket = connectTcp({
      host,
      port,
      ...(options.family !== undefined && { family: options.family }),
      ...(regions !== null && { onread: regions.onread }),
    });
    const unwatch = options.signal.watch(() => {
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

/**
 * Asks the proxy on `socket` for a tunnel to the origin (CONNECT, RFC 9110 §9.3.6) and resolves once it
 * answers 2xx; from then on the socket's bytes are the origin's. Any other answer, or a malformed one,
 * is 'proxy-failed' (curl's exit 97): the proxy refused, not the origin.
 */
function openTunnel(socket: Socket, route: Route & { proxy: URL }, options: StepOptions): Promise<void> {
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
          return finish(
            new ClientError('proxy-failed', `The ${where} refused the tunnel to ${authority}: ${event.head.status} ${reason}`.trimEnd()),
          );
        }
        // The tunnel's first bytes must come from the origin, and a TLS server speaks only after our hello.
        if (reader.bufferedBytes > 0)
          return finish(new ClientError('proxy-failed', `The ${where} sent bytes into the tunnel before TLS started`));
        return finish(null);
      }
    };
    const onEnd = () => finish(new ClientError('proxy-failed', `The ${where} closed the connection instead of opening a tunnel`));
    const onError = (error: Error) =>
      finish(new ClientError('proxy-failed', `The connection to the ${where} failed during CONNECT`, { cause: error }));
    const unwatch = options.signal.watch(() => finish(options.signal.reason));
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
function startTls(tcp: Socket, target: URL, options: StepOptions): Promise<{ socket: TLSSocket; details: TlsDetails; appConnect: number }> {
  const host = socketHost(target);
  const port = defaultPort(target);
  return new Promise((resolve, reject) => {
    if (options.signal.aborted) return reject(options.signal.reason);
    const socket = tlsModule().connect({
      socket: tcp,
      host, // the name the certificate is checked against
      // SNI names a host, never an address (RFC 6066 §3).
      ...(isIP(host) === 0 && { servername: host }),
      rejectUnauthorized: options.insecure !== true,
      ...(options.ca !== undefined && { ca: options.ca }),
      ALPNProtocols: options.alpnProtocols ?? ['http/1.1'],
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
    const unwatch = options.signal.watch(() => settle(options.signal.reason));
    // Whatever the socket says, a failure before the handshake ends is a handshake failure.
    const onError = (error: NodeJS.ErrnoException) => {
      const mapped = socketError(error, host, port);
      const isTls = mapped.code === 'tls-certificate' || mapped.code === 'tls-handshake';
      settle(
        isTls
          ? mapped
          : new ClientError('tls-handshake', `TLS handshake with ${host}:${port} failed (${error.code ?? error.message})`, {
              cause: error,
            }),
      );
    };
    const onEnd = () =>
      settle(new ClientError('tls-handshake', `TLS handshake with ${host}:${port} failed (the server closed the connection)`));
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
  const deadline = new ConnectDeadline(
    options.signal,
    options.connectTimeoutMs ?? DEFAULT_CLIENT_TIMEOUTS.connectMs,
    `${socketHost(peer)}:${defaultPort(peer)}`,
  );
  try {
    return await openConnectionSteps(route, key, id, { ...options, signal: deadline });
  } finally {
    deadline.clear();
  }
}

async function openConnectionSteps(route: Route, key: string, id: number, options: StepOptions): Promise<Connection> {
  const isHttps = route.target.protocol === 'https:';
  const peer = route.proxy ?? route.target;
  const override = options.connectTo?.(socketHost(peer), defaultPort(peer)) ?? null;
  const host = override?.host ?? socketHost(peer);
  const port = override?.port ?? defaultPort(peer);
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
  /** The clocks of its exchanges, one after the other: made by the first, kept armed between them (PhaseTimer). */
  #clock: PhaseTimer | null = null;
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
      this.#clock?.stop();
      this.#listener?.onClose();
      for (const handler of this.#closeHandlers) handler();
    });
  }

  detailsFor(reused: boolean): ConnectionDetails & { reused: boolean } {
    const which = reused ? 'reused' : 'fresh';
    this.#described[which] ??= { ...this.details, reused };
    return this.#described[which];
  }

  /** The headers and body clocks for the exchange about to run on this connection; it calls rest() when done. */
  clockFor(headersMs: number, bodyMs: number, onTimeout: (error: ClientError) => void): PhaseTimer {
    if (this.#clock === null) this.#clock = new PhaseTimer(headersMs, bodyMs, onTimeout);
    else this.#clock.reuse(headersMs, bodyMs, onTimeout);
    return this.#clock;
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
