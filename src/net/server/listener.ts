/**
 * The listening socket: accepts TCP connections and gives each one a ServerConnection. It also owns
 * graceful shutdown: stop accepting, let in-flight responses finish, then close what is left.
 */
import { type AddressInfo, type Server, type Socket, createServer as createTcpServer } from 'node:net';
import { CLIENT_PREFACE } from '../../core/h2/frames.js';
import type { H2Limits } from '../../core/h2/limits.js';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { createRequire } from 'node:module';
import { DEFAULT_REQUEST_LIMITS, type Limits } from '../../core/limits.js';
import type { AccessLogEntry } from './access-log.js';
import { FileDataBudget } from './file-data-budget.js';
import type { TraceOptions } from '../../core/connection-trace.js';
import { DEFAULT_TIMEOUTS, type RequestHandler, ServerConnection, type ServerTimeouts } from './connection.js';
import { H2ServerConnection } from './h2-connection.js';

// node:tls (~10 ms to load) only for a server that speaks TLS: a plain one starts without it.
const loadBuiltin = createRequire(import.meta.url);

export interface HttpServerOptions {
  handler: RequestHandler;
  limits?: Partial<Limits> | undefined;
  timeouts?: Partial<ServerTimeouts> | undefined;
  /** Called once per answered request (for access logs). */
  onAccess?: ((entry: AccessLogEntry) => void) | undefined;
  /** PEM certificate and key: serve HTTPS (node:tls) instead of plain TCP. */
  tls?: { cert: Buffer | string; key: Buffer | string } | undefined;
  /** Called when close() begins, before connections are ended (to end streams that never finish). */
  onClose?: (() => void) | undefined;
  /**
   * At most this many connections at once (default 10,000). Beyond it, new connections are closed
   * at once while those in hand go on being served.
   */
  maxConnections?: number | undefined;
  /** Trace every byte of every connection (--trace). */
  trace?: TraceOptions | undefined;
  /**
   * File data in flight (read from files, not yet taken by the kernel) for all connections of this
   * server together. By default every server of the process shares one budget of 64 MiB.
   */
  maxFileDataBytes?: number | undefined;
  /**
   * HTTP/2 (default on): chosen by ALPN over TLS ('h2' before 'http/1.1'), and on a plain port when
   * a connection starts with the HTTP/2 preface (h2c with prior knowledge). false: HTTP/1.1 only.
   */
  http2?: boolean | undefined;
  /** Limits of HTTP/2 connections (core/h2/limits.ts has the defaults and the attack each bounds). */
  http2Limits?: Partial<H2Limits> | undefined;
}

/** What the server keeps of each connection, whichever protocol it speaks. */
interface AcceptedConnection {
  shutDown(): void;
  destroy(): void;
}

export const DEFAULT_MAX_CONNECTIONS = 10_000;

export class HttpServer {
  readonly #tcpServer: Server;
  readonly #connections = new Set<AcceptedConnection>();
  readonly #onClose: (() => void) | undefined;
  /** Shared with every connection, which reads the handler per request: replacing it reaches them all. */
  readonly #settings: { handler: RequestHandler };
  /** Set by close(): called once the last connection has gone. */
  #whenEmpty: (() => void) | null = null;

  constructor(options: HttpServerOptions) {
    const settings = {
      handler: options.handler,
      limits: { ...DEFAULT_REQUEST_LIMITS, ...options.limits },
      timeouts: { ...DEFAULT_TIMEOUTS, ...options.timeouts },
      onAccess: options.onAccess,
      trace: options.trace && { clock: () => new Date(), ...options.trace },
      fileDataBudget: options.maxFileDataBytes === undefined ? undefined : new FileDataBudget(options.maxFileDataBytes),
      h2Limits: options.http2Limits,
    };
    const http2 = options.http2 ?? true;
    this.#settings = settings;
    let acceptedCount = 0; // numbers connections in traces
    this.#onClose = options.onClose;
    const track = (socket: Socket, connection: AcceptedConnection) => {
      this.#connections.add(connection);
      socket.once('close', () => {
        this.#connections.delete(connection);
        if (this.#connections.size === 0) this.#whenEmpty?.();
      });
    };
    const accept = (socket: Socket) => {
      const id = ++acceptedCount;
      if (!http2) {
        track(socket, new ServerConnection(socket, settings, id));
      } else if (options.tls) {
        // RFC 9113 §3.2: over TLS, the protocol is the one ALPN chose.
        const isH2 = (socket as TLSSocket).alpnProtocol === 'h2';
        track(socket, isH2 ? new H2ServerConnection(socket, settings, id, null) : new ServerConnection(socket, settings, id));
      } else {
        // Until its first bytes tell the protocols apart, a shutdown is remembered and passed on to
        // the connection they choose: its first request is answered, then it closes (see
        // ServerConnectionCore.shutDown). Ending it here would reset a client whose request is on
        // its way; the wait is bounded by the sniffer's timers.
        let isShuttingDown = false;
        const undecided: AcceptedConnection = { shutDown: () => (isShuttingDown = true), destroy: () => socket.destroy() };
        track(socket, undecided);
        sniffPreface(socket, settings.timeouts, (isH2, bytes, firstByteAt) => {
          this.#connections.delete(undecided);
          let connection: AcceptedConnection;
          if (isH2) {
            connection = new H2ServerConnection(socket, settings, id, bytes);
          } else {
            // The head's time counts from its first byte, read here: a slowloris gains nothing.
            connection = new ServerConnection(socket, settings, id, firstByteAt);
            // What was read while telling the protocols apart is read again by the HTTP/1.1 driver.
            if (bytes.length > 0) socket.unshift(bytes);
          }
          track(socket, connection);
          if (isShuttingDown) connection.shutDown();
        });
      }
    };
    // allowHalfOpen: a client that shuts down its sending side after the request (as the lab
    // clients do) must still receive the whole response. noDelay: a response goes out as soon as it
    // is written (it is written in as few pieces as possible), set by node:net as it accepts.
    if (options.tls) {
      // The handshake is part of the request head's time: a client that connects and never sends its
      // ClientHello (or sends it slowly) is let go after headersMs, not Node's default of 120 s.
      const server = (loadBuiltin('node:tls') as typeof import('node:tls')).createServer(
        {
          allowHalfOpen: true,
          noDelay: true,
          cert: options.tls.cert,
          key: options.tls.key,
          ALPNProtocols: http2 ? ['h2', 'http/1.1'] : ['http/1.1'],
          handshakeTimeout: settings.timeouts.headersMs,
        },
        accept,
      );
      // A handshake that fails (a plain-HTTP client, a bad certificate on the other side) only ends that connection.
      server.on('tlsClientError', (_error, socket) => socket.destroy());
      this.#tcpServer = server;
    } else {
      this.#tcpServer = createTcpServer({ allowHalfOpen: true, noDelay: true }, accept);
    }
    // node:net closes connections beyond this limit as soon as they are accepted. When the process
    // runs out of file descriptors (EMFILE), libuv does the same with a reserved descriptor, so the
    // listener keeps going and recovers by itself once connections close.
    this.#tcpServer.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  }

  /** Starts listening. Port 0 takes a free port; the address actually bound is returned. */
  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.#tcpServer.once('error', onError);
      this.#tcpServer.listen({ port, host }, () => {
        this.#tcpServer.off('error', onError);
        // Once listening, an error is a failed accept (a connection reset before it was taken, a
        // short-lived lack of memory): it costs that connection, never the listener or the process.
        this.#tcpServer.on('error', () => {});
        resolve(this.#tcpServer.address() as AddressInfo);
      });
    });
  }

  /**
   * Listens on a socket a supervisor already bound and passed down as descriptor `fd` (systemd's
   * socket activation, LISTEN_FDS; or --fd). The socket stays the supervisor's to bind: no port is chosen here.
   */
  listenOnFd(fd: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.#tcpServer.once('error', onError);
      this.#tcpServer.listen({ fd }, () => {
        this.#tcpServer.off('error', onError);
        this.#tcpServer.on('error', () => {});
        resolve(this.#tcpServer.address() as AddressInfo);
      });
    });
  }

  /** Answers the next requests (on open connections too) with `handler`; requests under way finish with the old one. */
  replaceHandler(handler: RequestHandler): void {
    this.#settings.handler = handler;
  }

  /** New certificate and key for the next handshakes; connections already made keep theirs (node:tls setSecureContext). */
  replaceTls(tls: { cert: Buffer | string; key: Buffer | string }): void {
    if (!('setSecureContext' in this.#tcpServer)) throw new Error('this server does not serve TLS');
    (this.#tcpServer as TlsServer).setSecureContext({ cert: tls.cert, key: tls.key });
  }

  get address(): AddressInfo | null {
    return this.#tcpServer.address() as AddressInfo | null;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Stops accepting, ends idle connections, lets the others finish their current response, and
   * after `graceMs` destroys whatever is still open. Resolves when every connection is gone.
   */
  close(graceMs = 5_000): Promise<void> {
    this.#onClose?.();
    const listenerClosed = new Promise<void>((resolve) => this.#tcpServer.close(() => resolve()));
    const connectionsGone = new Promise<void>((resolve) => {
      if (this.#connections.size === 0) resolve();
      else this.#whenEmpty = resolve;
    });
    for (const connection of this.#connections) connection.shutDown();
    const deadline = setTimeout(() => {
      for (const connection of this.#connections) connection.destroy();
    }, graceMs);
    deadline.unref();
    return Promise.all([listenerClosed, connectionsGone]).then(() => clearTimeout(deadline));
  }
}

export function createServer(options: HttpServerOptions): HttpServer {
  return new HttpServer(options);
}

/**
 * h2c with prior knowledge (RFC 9113 §3.3): a plain connection is HTTP/2 if its first bytes are the
 * client preface. The bytes are compared as they come (a peer may send them in pieces); the first
 * byte that differs makes it HTTP/1.1, which for any real request is its first or second byte.
 * `decide` gets the bytes read so far. A connection that sends nothing is closed after keepAliveMs, as
 * the HTTP/1.1 driver closes an idle one; one that starts a preface must finish it within headersMs.
 */
function sniffPreface(socket: Socket, timeouts: ServerTimeouts, decide: (isH2: boolean, bytes: Buffer, firstByteAt: number) => void): void {
  let held: Buffer = Buffer.alloc(0);
  let firstByteAt = 0;
  let timer = setTimeout(() => socket.destroy(), timeouts.keepAliveMs);
  const finish = (isH2: boolean) => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.pause();
    decide(isH2, held, firstByteAt);
    socket.resume();
  };
  const onData = (chunk: Buffer) => {
    if (held.length === 0) {
      firstByteAt = performance.now();
      clearTimeout(timer);
      timer = setTimeout(() => socket.destroy(), timeouts.headersMs);
    }
    held = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
    const compared = Math.min(held.length, CLIENT_PREFACE.length);
    if (!held.subarray(0, compared).equals(CLIENT_PREFACE.subarray(0, compared))) finish(false);
    else if (compared === CLIENT_PREFACE.length) finish(true);
  };
  const onClose = () => clearTimeout(timer);
  socket.on('data', onData);
  socket.on('close', onClose);
  socket.on('error', () => socket.destroy());
}
