/**
 * The listening socket: accepts TCP connections and gives each one a ServerConnection. It also owns
 * graceful shutdown: stop accepting, let in-flight responses finish, then close what is left.
 */
import { type AddressInfo, type Server, type Socket, createServer as createTcpServer } from 'node:net';
import type { H2Limits } from '../../core/h2/limits.js';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { createRequire } from 'node:module';
import { DEFAULT_REQUEST_LIMITS, type Limits } from '../../core/limits.js';
import type { AccessLogEntry } from './access-log.js';
import { FileDataBudget } from './file-data-budget.js';
import type { TraceOptions } from '../../core/connection-trace.js';
import { DEFAULT_TIMEOUTS, type PrefaceHandler, type RequestHandler, ServerConnection, type ServerTimeouts } from './connection.js';
import { type H2ConnectionSettings, H2ServerConnection } from './h2-connection.js';

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
    const settings: H2ConnectionSettings = {
      handler: options.handler,
      limits: { ...DEFAULT_REQUEST_LIMITS, ...options.limits },
      timeouts: { ...DEFAULT_TIMEOUTS, ...options.timeouts },
      onAccess: options.onAccess,
      trace: options.trace && { clock: () => new Date(), ...options.trace },
      fileDataBudget: options.maxFileDataBytes === undefined ? undefined : new FileDataBudget(options.maxFileDataBytes),
      h2Limits: options.http2Limits,
      // An HTTP/1.1 connection says when its socket has closed (one 'close' listener, not two).
      released: (connection) => this.#release(connection),
    };
    const http2 = options.http2 ?? true;
    this.#settings = settings;
    let acceptedCount = 0; // numbers connections in traces
    this.#onClose = options.onClose;
    /** An HTTP/2 connection is counted until its socket closes. */
    const trackH2 = (socket: Socket, connection: H2ServerConnection) => {
      this.#connections.add(connection);
      socket.once('close', () => this.#release(connection));
    };
    const accept = (socket: Socket) => {
      const id = ++acceptedCount;
      if (options.tls && http2 && (socket as TLSSocket).alpnProtocol === 'h2') {
        // RFC 9113 §3.2: over TLS, the protocol is the one ALPN chose.
        trackH2(socket, new H2ServerConnection(socket, settings, id, null));
        return;
      }
      // On a plain port with HTTP/2 on, the HTTP/1.1 driver tells h2c from HTTP/1.1 by the first
      // bytes and hands the socket over for the preface. A shutdown before they came is passed on
      // with them: the HTTP/2 driver then sends GOAWAY, as the HTTP/1.1 one answers its first
      // request and closes (ServerConnectionCore.shutDown): ending the connection before would
      // reset a client whose request is on its way.
      const onPreface: PrefaceHandler | null =
        http2 && !options.tls
          ? (bytes, isShuttingDown, trace) => {
              this.#connections.delete(connection);
              const h2 = new H2ServerConnection(socket, settings, id, bytes, trace);
              trackH2(socket, h2);
              if (isShuttingDown) h2.shutDown();
            }
          : null;
      const connection = new ServerConnection(socket, settings, id, onPreface);
      this.#connections.add(connection);
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

  #release(connection: AcceptedConnection): void {
    this.#connections.delete(connection);
    if (this.#connections.size === 0) this.#whenEmpty?.();
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
