/** `sockhttp serve`'s command line read into a configuration (and read again on SIGHUP). */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import {
  FRAMING_FIELDS,
  type FieldLine,
  type LocalCertificate,
  type LogFormat,
  type ServeStaticOptions,
  isFieldValue,
  isToken,
} from '../index.js';
import { UsageError, parseNumber, withUsageErrors } from './options.js';
import { passedSocket } from './serve-ops.js';
import { SITE_OPTIONS, SiteFileError, type SiteSettings, parseSiteArgs, withSpaFile } from './serve-site.js';

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

/** `{ [name]: value }` when the value is set, `{}` otherwise: for options that must stay absent. */
function optional<Name extends string, Value>(name: Name, value: Value | undefined): { [key in Name]?: Value } {
  return value === undefined ? {} : ({ [name]: value } as { [key in Name]: Value });
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], name: string, fallback: T): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${name} must be one of ${allowed.join(', ')}, not '${value}'`);
}

export interface ServeConfig {
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

export function parseServeArgs(args: string[]): ServeConfig | 'help' {
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

/** The configuration from the same arguments again (SIGHUP), or why it cannot be used. */
export function reparse(args: string[], current: ServeConfig): ServeConfig | string {
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
