/**
 * sockhttp's library API: an HTTP/1.1 server and client on node:net, and the pure protocol core
 * they are built on.
 *
 * @example Serve a folder
 * import { serveStatic } from 'sockhttp';
 * const server = await serveStatic({ root: 'public', port: 13331 });
 * console.log(`http://127.0.0.1:${server.address!.port}/`);
 *
 * @example Fetch a URL
 * import { request } from 'sockhttp';
 * const response = await request('http://127.0.0.1:13331/HelloWorld.html');
 * for await (const chunk of response.body) process.stdout.write(chunk);
 */
import type { Limits } from './core/limits.js';
import type { AccessLogEntry } from './net/server/access-log.js';
import { HttpServer } from './net/server/listener.js';
import { DEFAULT_TIMEOUTS, type ServerTimeouts } from './net/server/connection.js';
import type { TraceOptions } from './core/connection-trace.js';
import { type StaticOptions, createStaticHandler } from './static/handler.js';
import { LIVE_RELOAD_PATH, LIVE_RELOAD_SNIPPET, LiveReload } from './net/server/live-reload.js';
import { BasicAuth } from './site/auth.js';
import type { IncomingRequest, RequestHandler } from './net/server/connection.js';
import type { ResponsePlan } from './core/response-plan.js';

export { Fields, type FieldLine } from './core/fields.js';
export { isToken, isFieldValue } from './core/chars.js';
export { HttpProtocolError, type ProtocolErrorCode, type ErrorSide } from './core/errors.js';
export { DEFAULT_REQUEST_LIMITS, DEFAULT_RESPONSE_LIMITS, type Limits } from './core/limits.js';
export { type RequestHead, type ResponseHead, type HttpVersion, parseRequestHead, parseResponseHead } from './core/head-parser.js';
export { type BodyFraming, announcedContentLength, decideRequestBodyLength, decideResponseBodyLength } from './core/framing.js';
export {
  ServerConnectionCore,
  type ServerConnectionState,
  type ServerEvent,
  decideServerReuse,
  decideResponseFraming,
} from './core/connection.js';
export { RequestReader, ResponseReader, type ReaderEvent } from './core/message-reader.js';
export { serializeRequestHead, serializeResponseHead, encodeChunk } from './core/serializer.js';
export { formatHttpDate, parseHttpDate } from './core/http-date.js';
export { escapeBytes } from './core/trace.js';
export type { TraceOptions } from './core/connection-trace.js';
export { ClientTraces } from './net/client/traces.js';
export { type ResponsePlan, type ResponseBody, errorPlan, prepareResponse } from './core/response-plan.js';
export { HttpServer, createServer, type HttpServerOptions, DEFAULT_MAX_CONNECTIONS } from './net/server/listener.js';
export { type IncomingRequest, type RequestHandler, type ServerTimeouts, DEFAULT_TIMEOUTS } from './net/server/connection.js';
export { type AccessLogEntry, type LogFormat, formatAccessLog } from './net/server/access-log.js';
export {
  request,
  DEFAULT_CLIENT_TIMEOUTS,
  type ClientTimeouts,
  USER_AGENT,
  ClientError,
  type ClientErrorCode,
  type ClientEvent,
  type ClientResponse,
  type RequestOptions,
  type Timings,
  Http2ClientError,
  type HttpVersionChoice,
  type ResponseVersion,
} from './net/client/request.js';
export { Agent, type AgentOptions, decideReuse, type ExchangeOutcome, type ReuseVerdict } from './net/client/pool.js';
export type { ConnectionDetails, TlsDetails } from './net/client/connection.js';
export { proxyFromEnvironment, bypassesProxy, parseProxyUrl } from './net/client/proxy.js';
export { defaultPort, isHttpUrl, socketHost } from './core/origin.js';
export { createStaticHandler, type StaticOptions, type StaticHandler } from './static/handler.js';
export { loadSiteConfig, SiteConfigError, type LoadedSiteConfig } from './site/config.js';
export { SiteRules, type ServeJson, type RouteDecision, replaceFields, FRAMING_FIELDS } from './site/rules.js';
export { BasicAuth, AuthConfigError, type BasicAuthOptions, decodeBasic } from './site/auth.js';
export { ensureLocalCertificate, certificateFolder, localNames, type LocalCertificate } from './site/certificate.js';
export { renderQrCode, openBrowser } from './site/terminal.js';

export interface ServeStaticOptions extends StaticOptions {
  /** Default 13331, the port of the labs; 0 takes a free port. */
  port?: number;
  /** Default 127.0.0.1: only this computer. "0.0.0.0" to be reached from others. */
  host?: string;
  /** Reload open pages when a file under the root changes. */
  watch?: boolean;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: Buffer | string; key: Buffer | string };
  onAccess?: (entry: AccessLogEntry) => void;
  limits?: Partial<Limits>;
  timeouts?: Partial<ServerTimeouts>;
  maxConnections?: number;
  /** Trace every byte of every connection (--trace). */
  trace?: TraceOptions;
  /** File data in flight for all connections together (default: the process's shared 64 MiB). */
  maxFileDataBytes?: number;
  /** HTTP/2 by ALPN over TLS and h2c with prior knowledge on a plain port (default true). */
  http2?: boolean;
  /**
   * Listen on this already-bound socket descriptor (systemd socket activation, a supervisor's --fd)
   * instead of binding `host` and `port`.
   */
  fd?: number;
  /**
   * Asked first for every request: a plan answers it (a health or metrics path), null lets the
   * files answer. It must answer synchronously and cheaply: it runs before every request.
   */
  intercept?: (request: IncomingRequest) => ResponsePlan | null;
}

/** What reloadStatic needs to build a server's handler again: kept by serveStatic, per server. */
const RELOADERS = new WeakMap<HttpServer, (options: ServeStaticOptions) => Promise<void>>();

/** Serves the files of `root` over HTTP/1.1 and resolves once the server is listening. */
export async function serveStatic(options: ServeStaticOptions): Promise<HttpServer> {
  const stallMs = options.timeouts?.stallMs ?? DEFAULT_TIMEOUTS.stallMs;
  const liveReload = options.watch
    ? new LiveReload(options.root, Math.min(15_000, stallMs / 2), { ignoreHidden: options.dotfiles !== 'allow' })
    : null;
  try {
    // One BasicAuth for the files and the live-reload stream, so that both need the same credentials.
    const auth = options.auth === undefined || options.auth instanceof BasicAuth ? options.auth : new BasicAuth(options.auth);
    const staticHandler = await createStaticHandler({
      ...options,
      ...(auth && { auth }),
      ...(liveReload && { htmlSnippet: LIVE_RELOAD_SNIPPET }),
    });
    const server = new HttpServer({
      handler: composeHandler(options, auth, staticHandler, liveReload),
      onAccess: options.onAccess,
      limits: options.limits,
      timeouts: options.timeouts,
      tls: options.tls,
      onClose: () => liveReload?.close(),
      maxConnections: options.maxConnections,
      trace: options.trace,
      maxFileDataBytes: options.maxFileDataBytes,
      http2: options.http2,
    });
    if (options.fd === undefined) await server.listen(options.port ?? 13331, options.host ?? '127.0.0.1');
    else await server.listenOnFd(options.fd);
    RELOADERS.set(server, async (next) => {
      // Built whole before it replaces anything: a folder or file that fails leaves the old one serving.
      const nextAuth = next.auth === undefined || next.auth instanceof BasicAuth ? next.auth : new BasicAuth(next.auth);
      const nextHandler = await createStaticHandler({
        ...next,
        ...(nextAuth && { auth: nextAuth }),
        ...(liveReload && { htmlSnippet: LIVE_RELOAD_SNIPPET }),
      });
      if (next.tls) server.replaceTls(next.tls);
      server.replaceHandler(composeHandler(next, nextAuth, nextHandler, liveReload));
    });
    return server;
  } catch (error) {
    liveReload?.close(); // a watcher left open would keep the process alive after a failed start
    throw error;
  }
}

/** The intercept (health, metrics), then the live-reload stream, then the files. */
function composeHandler(
  options: ServeStaticOptions,
  auth: BasicAuth | undefined,
  staticHandler: (request: IncomingRequest) => ResponsePlan | Promise<ResponsePlan>,
  liveReload: LiveReload | null,
): RequestHandler {
  const intercept = options.intercept;
  // Without valid credentials the event stream's path goes to the static handler, which answers 401.
  const mayWatch = (request: IncomingRequest) => auth === undefined || auth.allows(request.fields.get('authorization')) === true;
  const files: RequestHandler = (request) =>
    (liveReload !== null && request.target.startsWith(LIVE_RELOAD_PATH) && mayWatch(request)
      ? liveReload.answer(request.method, request.target)
      : null) ?? staticHandler(request);
  return intercept === undefined ? files : (request) => intercept(request) ?? files(request);
}

/**
 * Builds the handler of a server made by serveStatic again from `options` (a changed serve.json, new
 * files, a new certificate) and swaps it in: connections stay open, requests under way finish with
 * the old one, the next ones get the new one, and every file cache starts empty. The listening
 * address and the live-reload watcher stay as they were. Rejects, changing nothing, if the new
 * options cannot be used.
 */
export async function reloadStatic(server: HttpServer, options: ServeStaticOptions): Promise<void> {
  const reload = RELOADERS.get(server);
  if (reload === undefined) throw new Error('reloadStatic takes a server made by serveStatic');
  await reload(options);
}
