/** `sockhttp serve [DIR]`: the static file server. */
import type { Cluster } from 'node:cluster';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { availableParallelism, networkInterfaces } from 'node:os';
import { parseArgs } from 'node:util';
import {
  type AccessLogEntry,
  type FieldLine,
  type HttpServer,
  type LogFormat,
  type ServeStaticOptions,
  formatAccessLog,
  reloadStatic,
  isFieldValue,
  isToken,
  serveStatic,
} from '../index.js';
import {
  FRAMING_FIELDS,
  type LocalCertificate,
  type TraceOptions,
  ensureLocalCertificate,
  localNames,
  openBrowser,
  renderQrCode,
} from '../index.js';
import { UsageError, openTraceOrSay, parseNumber, startUpDone, withUsageErrors } from './options.js';
import { SERVE_HELP } from './serve-help.js';
import { AccessLogSink, say } from './serve-log.js';
import { ServeMetrics, renderMetrics, sumSnapshots } from './serve-metrics.js';
import { type OpsPaths, type ServingState, isOpsRequest, opsIntercept, passedSocket, startMetricsServer } from './serve-ops.js';
import { runPrimary } from './serve-workers.js';
import {
  SITE_OPTIONS,
  SiteFileError,
  type SiteSettings,
  isLoopback,
  parseSiteArgs,
  plainHttpAuthWarning,
  redactCredentials,
  withSpaFile,
} from './serve-site.js';

export { plainHttpAuthWarning };

// node:cluster (with child_process, ~15 ms to load) only under --workers: a worker is started with
// the primary's arguments, so a run without --workers is never one.
const loadBuiltin = createRequire(import.meta.url);
const clusterModule = (): Cluster => loadBuiltin('node:cluster') as Cluster;
const isClusterWorker = (config: { workers: number }) => config.workers > 1 && clusterModule().isWorker;

export const OPTIONS = {
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  cache: { type: 'string' },
  'no-listing': { type: 'boolean' },
  dotfiles: { type: 'string' },
  symlinks: { type: 'string' },
  spa: { type: 'boolean' },
  'no-compress': { type: 'boolean' },
  cors: { type: 'boolean' },
  header: { type: 'string', short: 'H', multiple: true },
  watch: { type: 'boolean' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  workers: { type: 'string', short: 'w' },
  'max-connections': { type: 'string' },
  'headers-timeout': { type: 'string' },
  'keep-alive-timeout': { type: 'string' },
  'stall-timeout': { type: 'string' },
  trace: { type: 'boolean' },
  http2: { type: 'boolean' },
  'no-http2': { type: 'boolean' },
  'trace-file': { type: 'string' },
  'trace-body': { type: 'string' },
  'log-format': { type: 'string' },
  'log-file': { type: 'string' },
  etag: { type: 'string' },
  health: { type: 'string' },
  'drain-delay': { type: 'string' },
  metrics: { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  fd: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Start-up lines about the site options: plain-HTTP passwords, the certificate, the QR code. */
async function announceSite(config: ServeConfig, port: number): Promise<void> {
  const { site } = config;
  const scheme = config.tlsFiles ? 'https' : 'http';
  const warning = plainHttpAuthWarning(config.host, config.tlsFiles !== null, site.options.auth !== undefined);
  if (warning !== null) say(`sockhttp: warning: ${warning}`);
  if (config.certificate) {
    const { certificate } = config;
    say(`HTTPS certificate ${certificate.created ? 'made' : 'reused'}: ${certificate.certFile}\n  SHA-256 ${certificate.fingerprint256}`);
  }
  const networkUrl = urlsFor(config.host, port)
    .map((url) => url.replace(/^http/, scheme))
    .find((url) => !/\/\/(127\.|\[::1\]|localhost)/.test(url));
  if (networkUrl !== undefined && process.stderr.isTTY) say(await renderQrCode(networkUrl));
  if (site.open) {
    const local = `${scheme}://${isLoopback(config.host) || config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host}:${port}/`;
    await openBrowser(local).catch(() => say(`sockhttp: could not open a browser; visit ${local}`));
  }
}

// ---- end of site options ------------------------------------------------------------------------

/** `{ [name]: value }` when the value is set, `{}` otherwise: for options that must stay absent. */
function optional<Name extends string, Value>(name: Name, value: Value | undefined): { [key in Name]?: Value } {
  return value === undefined ? {} : ({ [name]: value } as { [key in Name]: Value });
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], name: string, fallback: T): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${name} must be one of ${allowed.join(', ')}, not '${value}'`);
}

/** The URLs people can open: the loopback one, plus every network address when listening on all of them. */
function urlsFor(host: string, port: number): string[] {
  const format = (address: string) => `http://${address.includes(':') ? `[${address}]` : address}:${port}/`;
  if (host !== '0.0.0.0' && host !== '::') return [format(host)];
  const addresses = Object.values(networkInterfaces())
    .flat()
    .filter((entry) => entry !== undefined && (host === '::' || entry.family === 'IPv4'))
    .map((entry) => entry!.address);
  return addresses.map(format);
}

function startupError(error: NodeJS.ErrnoException, root: string, host: string, port: number): string {
  switch (error.code) {
    case 'EADDRINUSE':
      return `port ${port} on ${host} is already in use (EADDRINUSE); choose another with --port`;
    case 'EACCES':
    case 'EPERM':
      return `no permission to listen on ${host}:${port} (${error.code}); ports below 1024 need privileges`;
    case 'EADDRNOTAVAIL':
      return `${host} is not an address of this computer (EADDRNOTAVAIL)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve host ${host}`;
    case 'ENOENT':
      return `${root}: no such folder`;
    case 'ENOTDIR':
      return `${root}: not a folder`;
    case undefined:
      return error instanceof TlsFileError ? `TLS: ${error.message}` : `cannot start: ${error.message}`;
    default:
      return `cannot start: ${error.message}`;
  }
}

interface ServeConfig {
  /** --trace: to stderr (null) or to a file; absent when off. */
  trace: { file: string | null; bodyBytes: number } | undefined;
  root: string;
  host: string;
  port: number;
  workers: number;
  tlsFiles: { cert: string; key: string } | null;
  logFormat: LogFormat;
  quiet: boolean;
  options: Omit<ServeStaticOptions, 'root' | 'host' | 'port' | 'tls' | 'onAccess'>;
  /** Site options (serve.json, --https, --open…). */
  site: SiteSettings;
  /** --https without --tls-cert: the certificate from the cache (made before any worker starts). */
  certificate: LocalCertificate | null;
  /** --log-file: the access log goes there (null: stdout). */
  logFile: string | null;
  health: string | undefined;
  metrics: string | undefined;
  /** --metrics-port: the metrics on a server of their own. */
  metricsListen: { host: string; port: number } | null;
  /** How long SIGTERM answers the health path 503 before the server closes. */
  drainDelayMs: number;
  /** --fd, or systemd's LISTEN_FDS: a listening socket passed down; null to bind host and port. */
  fd: number | null;
}

/** A path the server answers itself (--health, --metrics): absolute, printable, no query. */
function opsPath(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (!/^\/[\x21-\x7e]*$/.test(value) || value.includes('?') || value.includes('#'))
    throw new UsageError(`${name} must be a path such as /healthz, not '${value}'`);
  return value;
}

function parseServeArgs(args: string[]): ServeConfig | 'help' {
  const { values, positionals } = withUsageErrors(() =>
    parseArgs({ args: withSpaFile(args), options: { ...OPTIONS, ...SITE_OPTIONS }, allowPositionals: true }),
  );
  if (values.help) return 'help';
  if (positionals.length > 1) throw new UsageError('serve takes one folder');
  const cacheSeconds = parseNumber(values.cache, '--cache', { max: 10 * 365 * 24 * 3600 });
  const certificate = values['tls-cert'];
  const key = values['tls-key'];
  if ((certificate === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const workers =
    values.workers === 'auto' ? availableParallelism() : (parseNumber(values.workers, '--workers', { min: 1, max: 256 }) ?? 1);
  const seconds = (text: string | undefined, name: string) => {
    const value = parseNumber(text, name, { min: 0.001, max: 86_400, integer: false });
    return value === undefined ? undefined : Math.round(value * 1000);
  };
  const timeouts = {
    ...optional('headersMs', seconds(values['headers-timeout'], '--headers-timeout')),
    ...optional('keepAliveMs', seconds(values['keep-alive-timeout'], '--keep-alive-timeout')),
    ...optional('stallMs', seconds(values['stall-timeout'], '--stall-timeout')),
  };
  const maxConnections = parseNumber(values['max-connections'], '--max-connections', { min: 1, max: 1_000_000 });
  const headers = (values.header ?? []).map((line): FieldLine => {
    const colon = line.indexOf(':');
    const field: FieldLine = [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
    if (colon <= 0 || !isToken(field[0]) || !isFieldValue(field[1]))
      throw new UsageError(`--header must look like 'Name: value', not '${line}'`);
    if (FRAMING_FIELDS.has(field[0].toLowerCase())) throw new UsageError(`--header cannot set ${field[0]}: the server sets it itself`);
    return field;
  });
  const traceBody = parseNumber(values['trace-body'], '--trace-body', { max: 1024 * 1024 }) ?? 0;
  const tracing = values.trace === true || values['trace-file'] !== undefined;
  const site = parseSiteArgs(values, positionals[0] ?? '.');
  const etag = oneOf<'mtime' | 'content'>(values.etag, ['mtime', 'content'], '--etag', 'mtime');
  const health = opsPath(values.health, '--health');
  const metricsPort = parseNumber(values['metrics-port'], '--metrics-port', { max: 65535 });
  const metrics = opsPath(values.metrics, '--metrics') ?? (metricsPort === undefined ? undefined : '/metrics');
  if (values['metrics-host'] !== undefined && metricsPort === undefined) throw new UsageError('--metrics-host goes with --metrics-port');
  const drainDelay = parseNumber(values['drain-delay'], '--drain-delay', { min: 0, max: 3600, integer: false });
  const drainDelayMs = drainDelay === undefined ? (health === undefined ? 0 : 2_000) : Math.round(drainDelay * 1000);
  const fd = passedSocket(values.fd);
  if (fd !== null && workers > 1)
    throw new UsageError('--workers cannot share a socket passed down (--fd, LISTEN_FDS); run one process per socket');
  return {
    logFile: values['log-file'] ?? null,
    health,
    metrics,
    metricsListen: metricsPort === undefined ? null : { host: values['metrics-host'] ?? '127.0.0.1', port: metricsPort },
    drainDelayMs,
    fd,
    site,
    certificate: null,
    trace: tracing ? { file: values['trace-file'] ?? null, bodyBytes: traceBody } : undefined,
    root: site.root,
    host: values.host ?? '127.0.0.1',
    port: parseNumber(values.port ?? process.env['PORT'], 'port', { max: 65535 }) ?? 13331,
    workers,
    tlsFiles: certificate !== undefined && key !== undefined ? { cert: certificate, key } : null,
    logFormat: oneOf<LogFormat>(values['log-format'], ['common', 'combined', 'json'], '--log-format', 'common'),
    quiet: values.quiet === true,
    options: {
      dotfiles: oneOf<'allow' | 'deny'>(values.dotfiles, ['allow', 'deny'], '--dotfiles', 'deny'),
      symlinks: oneOf<'follow-inside' | 'deny'>(values.symlinks, ['follow-inside', 'deny'], '--symlinks', 'follow-inside'),
      listing: !values['no-listing'],
      spa: values.spa === true,
      compress: !values['no-compress'],
      cors: values.cors === true,
      headers,
      watch: values.watch === true,
      http2: values['no-http2'] !== true,
      timeouts,
      ...(cacheSeconds !== undefined && { cacheControl: `public, max-age=${cacheSeconds}` }),
      ...optional('maxConnections', maxConnections),
      ...site.options,
      ...(etag === 'content' && { etag: 'content' as const }),
    },
  };
}

export async function runServe(args: string[]): Promise<number> {
  let config: ServeConfig | 'help';
  try {
    config = parseServeArgs(args);
  } catch (error) {
    if (error instanceof SiteFileError) {
      say(`sockhttp serve: ${error.message}`);
      return 1;
    }
    if (!(error instanceof UsageError)) throw error;
    say(`sockhttp serve: ${error.message} (try 'sockhttp serve --help')`);
    return 2;
  }
  if (config === 'help') {
    process.stdout.write(`${SERVE_HELP}\n`);
    return 0;
  }
  if (config.site.https && config.tlsFiles === null) {
    try {
      const names = [...new Set([...localNames(), ...(config.host === '0.0.0.0' || config.host === '::' ? [] : [config.host])])];
      config.certificate = await ensureLocalCertificate(names);
      config.tlsFiles = { cert: config.certificate.certFile, key: config.certificate.keyFile };
    } catch (error) {
      say(`sockhttp: cannot make an HTTPS certificate: ${(error as Error).message}`);
      return 1;
    }
  }
  if (config.workers > 1 && clusterModule().isPrimary) {
    const primaryConfig = config;
    let primaryMetrics: HttpServer | null = null;
    return runPrimary(config.workers, {
      announce: (port) => {
        say(banner(primaryConfig, port));
        if (primaryMetrics !== null) say(metricsBanner(primaryMetrics, primaryConfig));
        void announceSite(primaryConfig, port);
      },
      ...(config.metricsListen !== null && {
        startMetrics: async (collect) => {
          primaryMetrics = await listenForMetrics(primaryConfig, async () => renderMetrics(sumSnapshots(await collect())));
          return primaryMetrics;
        },
      }),
      // The primary checks a new configuration before it replaces any worker; the workers read it as they start.
      check: () => reparse(args, config),
    });
  }
  const code = await serveUntilSignal(config, args);
  // A cluster worker's channel to the primary would keep it alive: let go of it too.
  if (isClusterWorker(config)) clusterModule().worker!.disconnect();
  return code;
}

function banner(config: ServeConfig, port: number, address?: string): string {
  const scheme = config.tlsFiles ? 'https' : 'http';
  const host = config.fd === null ? config.host : (address ?? config.host);
  const urls = urlsFor(host, port).map((url) => url.replace(/^http/, scheme));
  const workers = config.workers > 1 ? ` with ${config.workers} workers` : '';
  const passed = config.fd === null ? '' : ` (socket ${config.fd} passed down)`;
  return `Serving ${config.root} at ${urls.join(' ')}${workers}${passed}`;
}

/** The configuration from the same arguments again (SIGHUP), or why it cannot be used. */
function reparse(args: string[], current: ServeConfig): ServeConfig | string {
  try {
    const next = parseServeArgs(args);
    if (next === 'help') return 'no configuration';
    // What was settled at start stays: the socket, and the certificate made for --https.
    next.fd = current.fd;
    next.certificate = current.certificate;
    if (next.site.https && next.tlsFiles === null) next.tlsFiles = current.tlsFiles;
    return next;
  } catch (error) {
    if (error instanceof SiteFileError || error instanceof UsageError) return error.message;
    throw error;
  }
}

/** What stays with the process across reloads: the log, the counters, the health state. */
interface ProcessHooks {
  onAccess: ((entry: AccessLogEntry) => void) | undefined;
  intercept: ServeStaticOptions['intercept'];
  onCacheLookup: ((hit: boolean) => void) | undefined;
  trace: TraceOptions | undefined;
}

/** The options of serveStatic for `config`, with the certificate and key read now. */
async function staticOptionsFor(config: ServeConfig, hooks: ProcessHooks): Promise<ServeStaticOptions> {
  const tls = config.tlsFiles && { cert: await readTlsFile(config.tlsFiles.cert), key: await readTlsFile(config.tlsFiles.key) };
  return {
    ...config.options,
    ...(hooks.trace && { trace: hooks.trace }),
    root: config.root,
    host: config.host,
    port: config.port,
    ...(config.fd !== null && { fd: config.fd }),
    ...(tls && { tls }),
    ...(hooks.onAccess && { onAccess: hooks.onAccess }),
    ...(hooks.intercept && { intercept: hooks.intercept }),
    ...(hooks.onCacheLookup && { onCacheLookup: hooks.onCacheLookup }),
  };
}

/** Runs one server until SIGINT or SIGTERM, then drains it; SIGHUP reloads it, SIGUSR1 reopens the log file. */
async function serveUntilSignal(config: ServeConfig, args: string[]): Promise<number> {
  const { root, host, port } = config;
  const logFormat = config.logFormat;
  let server: HttpServer | null = null;
  let metricsServer: HttpServer | null = null;
  let state: ServingState = 'serving';
  const paths: OpsPaths = { health: config.health, metrics: config.metricsListen === null ? config.metrics : undefined };
  const metrics = config.metrics === undefined ? null : new ServeMetrics();
  let log: AccessLogSink | null = null;
  let hooks: ProcessHooks;
  try {
    // Synchronous: at start nothing else is waiting, and a first call into the thread pool would start its threads.
    if (!statSync(root).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    if (!config.quiet) log = await openLog(config.logFile);
    const opened = config.trace && openTraceOrSay(config.trace.file, config.trace.bodyBytes);
    const trace = opened && config.options.auth ? redactCredentials(opened) : opened;
    const sink = log;
    hooks = {
      onAccess:
        sink === null && metrics === null
          ? undefined
          : (entry: AccessLogEntry) => {
              if (isOpsRequest(paths, entry.target)) return;
              metrics?.count(entry);
              sink?.write(formatAccessLog(entry, logFormat));
            },
      intercept: opsIntercept(
        paths,
        () => state,
        metrics,
        () => server,
      ),
      onCacheLookup: metrics === null ? undefined : (hit) => metrics.countCacheLookup(hit),
      trace: trace || undefined,
    };
    server = await serveStatic(await staticOptionsFor(config, hooks));
    // Under --workers the primary serves --metrics-port and asks each worker for its figures.
    if (config.metricsListen !== null && metrics !== null && !isClusterWorker(config)) {
      const render = () => metrics.render({ openConnections: () => server?.connectionCount ?? 0 });
      metricsServer = await listenForMetrics(config, render);
    }
  } catch (error) {
    await server?.close(0);
    if (error instanceof UsageError) {
      say(`sockhttp serve: ${error.message}`);
      return 2;
    }
    if (error instanceof LogFileError) {
      say(`sockhttp serve: ${error.message}`);
      return 1;
    }
    say(`sockhttp: ${startupError(error as NodeJS.ErrnoException, root, host, port)}`);
    return 1;
  }
  const running = server;
  const reload = async () => {
    const next = reparse(args, config);
    if (typeof next === 'string') {
      say(`sockhttp: reload refused, still serving as before: ${next}`);
      return;
    }
    try {
      await reloadStatic(running, await staticOptionsFor(next, hooks));
      say('sockhttp: reloaded (configuration, certificate, file caches)');
    } catch (error) {
      const reason = error instanceof TlsFileError ? `TLS: ${error.message}` : (error as Error).message;
      say(`sockhttp: reload refused, still serving as before: ${reason}`);
    }
  };
  const onHangUp = () => {
    // Under --workers the primary replaces the workers; a worker leaves SIGHUP to it.
    if (!isClusterWorker(config)) void reload();
  };
  const onUser1 = () => void log?.reopen();
  process.on('SIGHUP', onHangUp);
  process.on('SIGUSR1', onUser1);
  const stopped = new Promise<number>((resolve) => {
    const stop = (delayMs: number) => {
      process.off('SIGINT', onInterrupt);
      process.off('SIGTERM', onTerminate);
      process.off('message', onMessage);
      // Load balancers see the health path fail first and stop sending; only then does the listener close.
      state = 'draining';
      setTimeout(() => {
        void Promise.all([running.close(5_000), metricsServer?.close(1_000)]).then(() => {
          process.off('SIGHUP', onHangUp);
          process.off('SIGUSR1', onUser1);
          resolve(0);
        });
      }, delayMs);
    };
    const onInterrupt = () => stop(0);
    const onTerminate = () => stop(config.drainDelayMs);
    // The primary retires a worker it has replaced (SIGHUP): no health delay, its successor already serves.
    const onMessage = (message: unknown) => {
      const request = message as { sockhttp?: string; id?: number } | null;
      if (request?.sockhttp === 'retire') stop(0);
      if (request?.sockhttp === 'metrics-request' && metrics !== null) {
        process.send?.({ sockhttp: 'metrics-snapshot', id: request.id, snapshot: metrics.snapshot(running.connectionCount) });
      }
    };
    process.on('SIGINT', onInterrupt);
    process.on('SIGTERM', onTerminate);
    process.on('message', onMessage);
  });
  // The banner comes after the signal handlers: whoever reads it may send a signal at once.
  // Under --workers the primary prints it once, not every worker.
  if (!isClusterWorker(config)) {
    const address = running.address!;
    say(banner(config, address.port, address.address));
    if (metricsServer !== null) say(metricsBanner(metricsServer, config));
    await announceSite(config, address.port);
  }
  startUpDone();
  return stopped;
}

const metricsBanner = (server: HttpServer, config: ServeConfig) =>
  `Metrics at http://${urlHost(server.address!.address)}:${server.address!.port}${config.metrics}`;

const urlHost = (address: string) => (address.includes(':') ? `[${address}]` : address);

/** --metrics-port's server, or a usage error naming the flag when its address cannot be bound. */
async function listenForMetrics(config: ServeConfig, render: () => string | Promise<string>): Promise<HttpServer> {
  const { host, port } = config.metricsListen!;
  try {
    return await startMetricsServer(config.metrics!, host, port, render);
  } catch (error) {
    throw new UsageError(`--metrics-port: ${startupError(error as NodeJS.ErrnoException, config.root, host, port)}`);
  }
}

class LogFileError extends Error {}

async function openLog(file: string | null): Promise<AccessLogSink> {
  try {
    return await AccessLogSink.open(file);
  } catch (error) {
    throw new LogFileError(`--log-file ${file}: cannot open it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

class TlsFileError extends Error {}

async function readTlsFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new TlsFileError(`cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
