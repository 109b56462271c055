/** `sockhttp serve [DIR]`: the static file server. */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism, networkInterfaces } from 'node:os';
import { parseArgs } from 'node:util';
import {
  type AccessLogEntry,
  type FieldLine,
  type HttpServer,
  type LogFormat,
  type ServeStaticOptions,
  formatAccessLog,
  isFieldValue,
  isToken,
  serveStatic,
} from '../index.js';
import {
  AuthConfigError,
  BasicAuth,
  FRAMING_FIELDS,
  type LoadedSiteConfig,
  type LocalCertificate,
  SiteConfigError,
  SiteRules,
  type TraceOptions,
  ensureLocalCertificate,
  loadSiteConfig,
  localNames,
  openBrowser,
  renderQrCode,
} from '../index.js';
import { UsageError, openTraceOrSay, parseNumber, withUsageErrors } from './options.js';

export const SERVE_HELP = `Usage: sockhttp serve [DIR] [options]

Serves the files of DIR (default: the current folder) over HTTP/1.1 and HTTP/2.

Options:
  -p, --port PORT          port to listen on (default: $PORT, else 13331; 0 takes a free port)
      --host HOST          address to listen on (default: 127.0.0.1; 0.0.0.0 for every network)
      --cache SECONDS      Cache-Control: public, max-age=SECONDS (default: no-cache, i.e. always
                           revalidate, which costs a 304 and never shows a stale file)
      --no-listing         no HTML listing for folders without index.html (404 instead)
      --dotfiles MODE      allow | deny: may names starting with "." be served and listed (default: deny)
      --symlinks MODE      follow-inside | deny: serve symlinks whose target lies inside DIR, or
                           no path through a symlink at all (default: follow-inside)
      --spa [FILE]         single-page app: a navigation to a path that matches no file gets FILE
                           (default index.html; --spa=FILE, or FILE ending in .html) with Cache-Control:
                           no-cache; paths with a file extension, and non-HTML requests, get a real 404
      --no-compress        no gzip/brotli (precompressed .br/.gz siblings and on the fly)
      --cors               Access-Control-Allow-Origin: * and answers to preflight OPTIONS
  -H, --header 'N: V'      set a field on every response, replacing the server's own (repeatable)
      --watch              reload open pages when a file under DIR changes
      --tls-cert FILE      serve HTTPS with this PEM certificate (needs --tls-key)
      --tls-key FILE       the PEM private key of --tls-cert
      --http2              HTTP/2 (the default): over TLS when ALPN picks h2, and on a plain port for
                           clients with prior knowledge (curl --http2-prior-knowledge)
      --no-http2           HTTP/1.1 only
  -w, --workers N|auto     N processes sharing the port (auto: one per CPU; default: 1)
      --max-connections N  connections at once; more are closed at once (default: 10000)
      --headers-timeout S  a request head must arrive within S seconds of its first byte, and a
                           TLS handshake within S seconds of the connection (default: 10)
      --keep-alive-timeout S  an idle connection closes after S seconds (default: 5)
      --stall-timeout S    a request or response with no progress for S seconds ends (default: 30)
      --trace              show every byte of every connection on stderr, each line labelled
                           with its RFC 9112 element (request-line, field-line, chunk-size…), and
                           over HTTP/2 each frame with its fields and how HPACK coded them
      --trace-file FILE    write the trace to FILE instead (appended)
      --trace-body N       show the first N bytes of each body in the trace (default: 0)
      --log-format FORMAT  common | combined | json access log on stdout (default: common)
  -q, --quiet              no access log
  -h, --help               this help

Site options (serve.json and what static-server users expect):
      --config FILE        read the serve.json rules from FILE (default: DIR/serve.json if present);
                           flags override it; the file itself is never served
      --no-clean-urls      /about does not serve about.html
      --auth USER:PASS     HTTP Basic authentication (repeatable)
      --auth-file FILE     users from an htpasswd file (bcrypt or SHA-crypt hashes)
      --isolation          cross-origin isolation: COOP same-origin, COEP require-corp
      --https              HTTPS with a self-signed certificate for localhost and this machine's
                           addresses, kept in the user's cache folder (or --tls-cert/--tls-key)
      --archives           offer each listed folder as a streamed .tar.gz and .zip
      --open               open the server's URL in the browser

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
  http2: { type: 'boolean' },
  'no-http2': { type: 'boolean' },
  'trace-file': { type: 'string' },
  'trace-body': { type: 'string' },
  'log-format': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

// ---- Site options (serve.json, clean URLs, auth, HTTPS, archives, QR, --open) -------------------
const SITE_OPTIONS = {
  config: { type: 'string' },
  'no-clean-urls': { type: 'boolean' },
  'spa-file': { type: 'string' },
  auth: { type: 'string', multiple: true },
  'auth-file': { type: 'string' },
  isolation: { type: 'boolean' },
  https: { type: 'boolean' },
  archives: { type: 'boolean' },
  open: { type: 'boolean' },
} as const;

/** `--spa FILE` (FILE ending in .html or .htm) and `--spa=FILE` become `--spa-file FILE`: parseArgs has no optional values. */
function withSpaFile(args: string[]): string[] {
  const out: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    const next = args[index + 1];
    if (arg.startsWith('--spa=')) out.push('--spa-file', arg.slice('--spa='.length));
    else if (arg === '--spa' && next !== undefined && !next.startsWith('-') && /\.html?$/i.test(next)) {
      out.push('--spa-file', next);
      index++;
    } else out.push(arg);
  }
  return out;
}

/** A serve.json or --auth-file that cannot be used: one line, exit code 1. */
class SiteFileError extends Error {}

interface SiteSettings {
  /** The folder to serve after serve.json's `public`. */
  root: string;
  https: boolean;
  open: boolean;
  options: Pick<
    ServeStaticOptions,
    'site' | 'cleanUrls' | 'etag' | 'auth' | 'isolation' | 'archives' | 'hiddenFiles' | 'spa' | 'listing' | 'symlinks'
  >;
}

type ParsedValues = ReturnType<
  typeof parseArgs<{ args: string[]; options: typeof OPTIONS & typeof SITE_OPTIONS; allowPositionals: true }>
>['values'];

/** serve.json first, then the flags over it. */
function parseSiteArgs(values: ParsedValues, folder: string): SiteSettings {
  let loaded: LoadedSiteConfig | null;
  try {
    loaded = loadSiteConfig(folder, values.config);
  } catch (error) {
    if (error instanceof SiteConfigError) throw new SiteFileError(error.message);
    throw error;
  }
  const config = loaded?.config ?? {};
  let authFile: string | undefined;
  if (values['auth-file'] !== undefined) {
    try {
      authFile = readFileSync(values['auth-file'], 'utf8');
    } catch (error) {
      throw new SiteFileError(`${values['auth-file']}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  let auth: BasicAuth | undefined;
  if (values.auth !== undefined || authFile !== undefined) {
    try {
      auth = new BasicAuth({ credentials: values.auth ?? [], htpasswd: authFile ?? '' });
    } catch (error) {
      if (!(error instanceof AuthConfigError)) throw error;
      if (values.auth?.some((pair) => pair.indexOf(':') <= 0)) throw new UsageError('--auth must look like USER:PASSWORD');
      throw new SiteFileError(`${values['auth-file'] ?? '--auth'}: ${error.message}`);
    }
  }
  const spa = values['spa-file'] ?? (values.spa === true ? true : undefined);
  return {
    root: loaded?.root ?? folder,
    https: values.https === true,
    open: values.open === true,
    options: {
      // --no-clean-urls also turns off serve.json's clean-URL redirects
      ...(loaded && {
        site: values['no-clean-urls'] ? new SiteRules({ ...config, cleanUrls: false }) : loaded.rules,
        hiddenFiles: [loaded.file],
      }),
      cleanUrls: values['no-clean-urls'] ? false : config.cleanUrls !== false,
      ...(config.etag === false && { etag: false }),
      ...(auth && { auth }),
      ...(values.isolation && { isolation: true }),
      ...(values.archives && { archives: true }),
      ...(spa !== undefined && { spa }),
      ...(config.directoryListing === false && { listing: false }),
      ...(config.symlinks !== undefined && values.symlinks === undefined && { symlinks: config.symlinks ? 'follow-inside' : 'deny' }),
    },
  };
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');

/** The start-up warning when Basic credentials would cross a network in clear text, else null. */
export function plainHttpAuthWarning(host: string, hasTls: boolean, hasAuth: boolean): string | null {
  if (!hasAuth || hasTls || isLoopback(host)) return null;
  return `--auth over plain HTTP on ${host}: passwords cross the network readable by anyone on it; add --https`;
}

/** Start-up lines about the site options: plain-HTTP passwords, the certificate, the QR code. */
async function announceSite(config: ServeConfig, port: number): Promise<void> {
  const { site } = config;
  const scheme = config.tlsFiles ? 'https' : 'http';
  const warning = plainHttpAuthWarning(config.host, config.tlsFiles !== null, site.options.auth !== undefined);
  if (warning !== null) process.stderr.write(`sockhttp: warning: ${warning}\n`);
  if (config.certificate) {
    const { certificate } = config;
    process.stdout.write(
      `HTTPS certificate ${certificate.created ? 'made' : 'reused'}: ${certificate.certFile}\n  SHA-256 ${certificate.fingerprint256}\n`,
    );
  }
  const networkUrl = urlsFor(config.host, port)
    .map((url) => url.replace(/^http/, scheme))
    .find((url) => !/\/\/(127\.|\[::1\]|localhost)/.test(url));
  if (networkUrl !== undefined && process.stdout.isTTY) process.stdout.write(`${await renderQrCode(networkUrl)}\n`);
  if (site.open) {
    const local = `${scheme}://${isLoopback(config.host) || config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host}:${port}/`;
    await openBrowser(local).catch(() => process.stderr.write(`sockhttp: could not open a browser; visit ${local}\n`));
  }
}

/** Under --trace with --auth, credentials never reach the trace: the Authorization value is masked. */
function redactCredentials(trace: TraceOptions): TraceOptions {
  return {
    ...trace,
    write: (text) => trace.write(text.replace(/((?:proxy-)?authorization:\s*)[^\r\n]*?(?=\\r\\n|\r?\n|$)/gi, '$1[redacted]')),
  };
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
  return {
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
    },
  };
}

export async function runServe(args: string[]): Promise<number> {
  let config: ServeConfig | 'help';
  try {
    config = parseServeArgs(args);
  } catch (error) {
    if (error instanceof SiteFileError) {
      process.stderr.write(`sockhttp serve: ${error.message}\n`);
      return 1;
    }
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`sockhttp serve: ${error.message} (try 'sockhttp serve --help')\n`);
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
      process.stderr.write(`sockhttp: cannot make an HTTPS certificate: ${(error as Error).message}\n`);
      return 1;
    }
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
    const opened = config.trace && openTraceOrSay(config.trace.file, config.trace.bodyBytes);
    const trace = opened && config.options.auth ? redactCredentials(opened) : opened;
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
    if (error instanceof UsageError) {
      process.stderr.write(`sockhttp serve: ${error.message}\n`);
      return 2;
    }
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
  if (!cluster.isWorker) {
    process.stdout.write(banner(config, server.address!.port));
    await announceSite(config, server.address!.port);
  }
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
        void announceSite(config, address.port);
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
