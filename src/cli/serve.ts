/** `sockhttp serve [DIR]`: the static file server. */
import type { Cluster } from 'node:cluster';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import {
  type AccessLogEntry,
  type HttpServer,
  type ServeStaticOptions,
  type TraceOptions,
  formatAccessLog,
  reloadStatic,
  serveStatic,
  ensureLocalCertificate,
  localNames,
  openBrowser,
  renderQrCode,
} from '../index.js';
import { UsageError, openTraceOrSay, startUpDone } from './options.js';
import { SERVE_HELP } from './serve-help.js';
import { AccessLogSink, say } from './serve-log.js';
import { ServeMetrics, renderMetrics, sumSnapshots } from './serve-metrics.js';
import { type OpsPaths, type ServingState, isOpsRequest, opsIntercept, startMetricsServer } from './serve-ops.js';
import { type ServeConfig, parseServeArgs, reparse } from './serve-options.js';
import { runPrimary } from './serve-workers.js';
import { SiteFileError, isLoopback, plainHttpAuthWarning, redactCredentials } from './serve-site.js';

export { plainHttpAuthWarning };

// node:cluster (with child_process, ~15 ms to load) only under --workers: a worker is started with
// the primary's arguments, so a run without --workers is never one.
const loadBuiltin = createRequire(import.meta.url);
const clusterModule = (): Cluster => loadBuiltin('node:cluster') as Cluster;
const isClusterWorker = (config: { workers: number }) => config.workers > 1 && clusterModule().isWorker;

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
