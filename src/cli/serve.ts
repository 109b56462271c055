/** `sockhttp serve [DIR]`: the static file server. */
import cluster from 'node:cluster';
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism, networkInterfaces } from 'node:os';
import { parseArgs } from 'node:util';
import { type AccessLogEntry, type FieldLine, type HttpServer, type LogFormat, type ServeStaticOptions, formatAccessLog, isFieldValue, isToken, serveStatic } from '../index.js';
import { UsageError, openTrace, parseNumber, withUsageErrors } from './options.js';

export const SERVE_HELP = `Usage: sockhttp serve [DIR] [options]

Serves the files of DIR (default: the current folder) over HTTP/1.1.

Options:
  -p, --port PORT          port to listen on (default: $PORT, else 13331; 0 takes a free port)
      --host HOST          address to listen on (default: 127.0.0.1; 0.0.0.0 for every network)
      --cache SECONDS      Cache-Control: public, max-age=SECONDS (default: no-cache, i.e. always
                           revalidate, which costs a 304 and never shows a stale file)
      --no-listing         no HTML listing for folders without index.html (404 instead)
      --dotfiles MODE      allow | deny: may names starting with "." be served and listed (default: deny)
      --symlinks MODE      follow-inside | deny: serve symlinks whose target lies inside DIR, or
                           no path through a symlink at all (default: follow-inside)
      --spa                single-page app: unknown paths get /index.html when the client accepts HTML
      --no-compress        no gzip/brotli (precompressed .br/.gz siblings and on the fly)
      --cors               Access-Control-Allow-Origin: * and answers to preflight OPTIONS
  -H, --header 'N: V'      add a field to every response (repeatable)
      --watch              reload open pages when a file under DIR changes
      --tls-cert FILE      serve HTTPS with this PEM certificate (needs --tls-key)
      --tls-key FILE       the PEM private key of --tls-cert
  -w, --workers N|auto     N processes sharing the port (auto: one per CPU; default: 1)
      --max-connections N  connections at once; more are closed at once (default: 10000)
      --headers-timeout S  a request head must arrive within S seconds of its first byte, and a
                           TLS handshake within S seconds of the connection (default: 10)
      --keep-alive-timeout S  an idle connection closes after S seconds (default: 5)
      --stall-timeout S    a request or response with no progress for S seconds ends (default: 30)
      --trace              show every byte of every connection on stderr, each line labelled
                           with its RFC 9112 element (request-line, field-line, chunk-size…)
      --trace-file FILE    write the trace to FILE instead (appended)
      --trace-body N       show the first N bytes of each body in the trace (default: 0)
      --log-format FORMAT  common | combined | json access log on stdout (default: common)
  -q, --quiet              no access log
  -h, --help               this help

Stop it with Ctrl-C (SIGINT) or SIGTERM: in-flight responses finish first.`;

const OPTIONS = {
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
  'trace-file': { type: 'string' },
  'trace-body': { type: 'string' },
  'log-format': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

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
}

function parseServeArgs(args: string[]): ServeConfig | 'help' {
  const { values, positionals } = withUsageErrors(() => parseArgs({ args, options: OPTIONS, allowPositionals: true }));
  if (values.help) return 'help';
  if (positionals.length > 1) throw new UsageError('serve takes one folder');
  const cacheSeconds = parseNumber(values.cache, '--cache', { max: 10 * 365 * 24 * 3600 });
  const certificate = values['tls-cert'];
  const key = values['tls-key'];
  if ((certificate === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const workers = values.workers === 'auto' ? availableParallelism() : (parseNumber(values.workers, '--workers', { min: 1, max: 256 }) ?? 1);
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
    if (colon <= 0 || !isToken(field[0]) || !isFieldValue(field[1])) throw new UsageError(`--header must look like 'Name: value', not '${line}'`);
    return field;
  });
  const traceBody = parseNumber(values['trace-body'], '--trace-body', { max: 1024 * 1024 }) ?? 0;
  const tracing = values.trace === true || values['trace-file'] !== undefined;
  return {
    trace: tracing ? { file: values['trace-file'] ?? null, bodyBytes: traceBody } : undefined,
    root: positionals[0] ?? '.',
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
      timeouts,
      ...(cacheSeconds !== undefined && { cacheControl: `public, max-age=${cacheSeconds}` }),
      ...optional('maxConnections', maxConnections),
    },
  };
}

export async function runServe(args: string[]): Promise<number> {
  let config: ServeConfig | 'help';
  try {
    config = parseServeArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`sockhttp serve: ${error.message} (try 'sockhttp serve --help')\n`);
    return 2;
  }
  if (config === 'help') {
    process.stdout.write(`${SERVE_HELP}\n`);
    return 0;
  }
  if (config.workers > 1 && cluster.isPrimary) return runPrimary(config);
  const code = await serveUntilSignal(config);
  // A cluster worker's channel to the primary would keep it alive: let go of it too.
  if (cluster.isWorker) cluster.worker!.disconnect();
  return code;
}

function banner(config: ServeConfig, port: number): string {
  const scheme = config.tlsFiles ? 'https' : 'http';
  const urls = urlsFor(config.host, port).map((url) => url.replace(/^http/, scheme));
  const workers = config.workers > 1 ? ` with ${config.workers} workers` : '';
  return `Serving ${config.root} at ${urls.join(' ')}${workers}\n`;
}

/** Runs one server until SIGINT or SIGTERM, then drains it. */
async function serveUntilSignal(config: ServeConfig): Promise<number> {
  const { root, host, port } = config;
  const logFormat = config.logFormat;
  let server: HttpServer;
  try {
    if (!(await stat(root)).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    const tls = config.tlsFiles && { cert: await readTlsFile(config.tlsFiles.cert), key: await readTlsFile(config.tlsFiles.key) };
    const trace = config.trace && openTrace(config.trace.file, config.trace.bodyBytes);
    server = await serveStatic({
      ...config.options,
      ...(trace && { trace }),
      root,
      host,
      port,
      ...(tls && { tls }),
      ...(!config.quiet && { onAccess: (entry: AccessLogEntry) => process.stdout.write(`${formatAccessLog(entry, logFormat)}\n`) }),
    });
  } catch (error) {
    process.stderr.write(`sockhttp: ${startupError(error as NodeJS.ErrnoException, root, host, port)}\n`);
    return 1;
  }
  const stopped = new Promise<number>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close(5_000).then(() => resolve(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  // The banner comes after the signal handlers: whoever reads it may send a signal at once.
  // Under --workers the primary prints it once, not every worker.
  if (!cluster.isWorker) process.stdout.write(banner(config, server.address!.port));
  return stopped;
}

class TlsFileError extends Error {}

async function readTlsFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new TlsFileError(`cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * --workers N: N processes (node:cluster) share the listening socket. A worker that dies is
 * replaced; one that fails before it ever listened (port in use…) stops the whole server, since
 * its replacements would fail the same way. SIGTERM/SIGINT drain every worker, then exit 0.
 */
function runPrimary(config: ServeConfig): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    let printedBanner = false;
    const listened = new Set<number>();
    const fork = () => cluster.fork();
    cluster.on('listening', (worker, address) => {
      listened.add(worker.id);
      if (!printedBanner) {
        printedBanner = true;
        process.stdout.write(banner(config, address.port));
      }
    });
    let failedToStart = false;
    const liveWorkers = () => Object.values(cluster.workers ?? {}).filter((worker) => worker !== undefined && !worker.isDead());
    const stopAll = () => {
      stopping = true;
      for (const worker of liveWorkers()) worker!.process.kill('SIGTERM');
    };
    cluster.on('exit', (worker, code) => {
      if (!stopping && !listened.has(worker.id)) {
        failedToStart = true; // it has said why on stderr
        stopAll();
      } else if (!stopping) {
        process.stderr.write(`sockhttp: worker ${worker.process.pid} exited (${code ?? 'signal'}); starting another\n`);
        fork();
        return;
      }
      if (liveWorkers().length === 0) resolve(failedToStart ? 1 : 0);
    });
    const stop = () => {
      if (!stopping) stopAll();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    for (let i = 0; i < config.workers; i++) fork();
  });
}
