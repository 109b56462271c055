/**
 * `sockhttp get`: fetch URLs as curl does (its option names, its exit codes), or the lab form
 * HOST PORT FILENAME. Built on the library: request() does the protocol, redirects, retries and
 * decoding; this file turns options into request options and writes what comes back.
 *
 * Several URLs on one command line share one Agent, so requests to the same host:port reuse one
 * kept-alive connection; the agent is closed at the end.
 */
import { createWriteStream } from 'node:fs';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
// cli-progress is CommonJS: its exports come as one default object.
import cliProgress, { type Options as BarOptions, type Params as BarParams } from 'cli-progress';
import {
  Agent,
  ClientError,
  ClientTraces,
  type ClientErrorCode,
  type ClientEvent,
  type ClientResponse,
  type FieldLine,
  type Fields,
  type RequestOptions,
  USER_AGENT,
  bypassesProxy,
  parseHttpDate,
  parseProxyUrl,
  proxyFromEnvironment,
  request,
} from '../index.js';
import { UsageError, openTrace, parseNumber, withUsageErrors } from './options.js';

/** Failures of the command itself rather than of the request; each has its exit code. */
type CommandFailure = 'usage' | 'write-failed' | 'read-failed' | 'http-error' | 'range-error';

/** Exit codes: curl's numbers where curl has one, so scripts written for curl read them the same way. */
export const EXIT_CODES: Readonly<Record<ClientErrorCode | CommandFailure, number>> = Object.freeze({
  'unsupported-protocol': 1,
  usage: 2,
  'bad-request': 2,
  'bad-url': 3,
  'proxy-unknown-host': 5,
  'unknown-host': 6,
  'connect-refused': 7,
  'connect-failed': 7,
  'bad-response': 8,
  'incomplete-body': 18,
  'http-error': 22,
  'write-failed': 23,
  'read-failed': 26,
  timeout: 28,
  'range-error': 33,
  'tls-handshake': 35,
  'too-many-redirects': 47,
  'connection-reset': 56,
  'empty-response': 52,
  'tls-certificate': 60,
  'bad-content-encoding': 61,
  'body-too-large': 63,
  'proxy-failed': 97,
  'head-too-large': 100,
});

export const GET_HELP = `Usage: sockhttp get URL... [options]
       sockhttp get HOST PORT FILENAME [options]   (the lab client: GET /FILENAME)

Fetches each URL over HTTP/1.1 and writes the bodies to stdout. Several URLs to the same
host:port share one kept-alive connection.

Request:
  -X, --request METHOD     request method (default: GET, or POST with a body)
  -H, --header 'N: V'      add a request field (repeatable)
  -d, --data DATA          send DATA as a form (POST, application/x-www-form-urlencoded);
                           @FILE reads a file without its line breaks; several are joined with &
      --data-binary DATA   the same, sent exactly as given; @FILE reads a file byte for byte
      --json JSON          send JSON (POST; Content-Type and Accept: application/json); @FILE too
  -I, --head               send HEAD and show the response head
  -A, --user-agent NAME    User-Agent (default: ${USER_AGENT})
      --compressed         ask for gzip, deflate or br and decode the body
  -L, --location           follow redirects (301, 302, 303, 307, 308)
      --max-redirs N       with -L, at most N redirects (default 10)
      --retry N            retry after a connection failure or a 5xx, N times at most, for
                           idempotent methods (GET, HEAD, PUT, DELETE…); waits 1 s, 2 s, 4 s… (≤ 30 s)
      --retry-delay SECONDS  the first wait of --retry (default 1); it doubles each time
  -x, --proxy URL          use this HTTP proxy (default: $http_proxy, $https_proxy, $all_proxy)
      --noproxy LIST       hosts reached without the proxy (default: $no_proxy)
  -m, --max-time SECONDS   give up on a URL after this long (default: no limit)
  -k, --insecure           HTTPS: do not verify the server's certificate
      --cacert FILE        HTTPS: trust the PEM certificate authorities in FILE

Response:
  -i, --include            show the response head(s) before the body
      --raw                show the response exactly as it arrived, bytes and framing included
  -o, --output FILE        write the body to FILE, written beside it and renamed when complete
                           (one -o per URL, in order)
  -O, --remote-name        write each body to a file named after the last segment of its URL
  -C, --continue-at -      resume an interrupted -o/-O download safely (Range with If-Range)
      --limit-rate RATE    read at most RATE bytes per second (suffix K, M or G: 1024, 1024², 1024³)
      --max-filesize BYTES fail rather than receive a body larger than this
  -f, --fail               for a status of 400 or more, write no body and exit 22
  -s, --silent             no progress bar, no error messages
  -S, --show-error         with -s, still show error messages
      --progress           show the progress bar even when stderr is not a terminal
  -v, --verbose            show connections, TLS, and the request and response heads on stderr
  -w, --write-out FORMAT   print FORMAT after each URL: %{http_code} %{http_version}
                           %{content_type} %{size_download} %{time_namelookup} %{time_connect}
                           %{time_appconnect} %{time_starttransfer} %{time_total} %{url}
                           %{url_effective} %{num_redirects} %{remote_ip} %{remote_port}
                           %{exitcode} %{errormsg} %{json}; \\n \\t \\\\ and %% as in curl
      --json-output        print a JSON object per URL after its body: status, headers, timings
      --trace              show every byte sent and received on stderr, each line labelled with
                           its RFC 9112 element (request-line, field-line, chunk-size…)
      --trace-file FILE    write the trace to FILE instead (appended)
      --trace-body N       show the first N bytes of each body in the trace (default: 0)
  -h, --help               this help

Exit codes:
  0  success (any HTTP status without --fail)
  1  unsupported protocol (http: and https: are supported)
  2  usage error
  3  malformed URL
  5  the proxy's host cannot be resolved
  6  unknown host
  7  cannot connect (to the server or the proxy)
  8  malformed response
 18  body shorter than announced
 22  HTTP error status with --fail (or with -C - when a partial download is kept)
 23  cannot write the output (or no file name in the URL for -O)
 26  cannot read a --data @FILE
 28  timeout (--max-time)
 33  cannot resume safely: the server's range does not continue the partial file
 35  TLS handshake failed
 47  too many redirects (--max-redirs)
 52  the server closed the connection without a response
 56  connection reset during the response
 60  untrusted certificate (see --cacert, -k)
 61  the body does not decode (--compressed)
 63  body over --max-filesize
 97  the proxy refused or botched the CONNECT tunnel
100  response head too large`;

const OPTIONS = {
  include: { type: 'boolean', short: 'i' },
  raw: { type: 'boolean' },
  output: { type: 'string', short: 'o', multiple: true },
  'remote-name': { type: 'boolean', short: 'O' },
  request: { type: 'string', short: 'X' },
  header: { type: 'string', short: 'H', multiple: true },
  data: { type: 'string', short: 'd', multiple: true },
  'data-binary': { type: 'string', multiple: true },
  json: { type: 'string', multiple: true },
  head: { type: 'boolean', short: 'I' },
  'user-agent': { type: 'string', short: 'A' },
  compressed: { type: 'boolean' },
  location: { type: 'boolean', short: 'L' },
  'max-redirs': { type: 'string' },
  retry: { type: 'string' },
  'retry-delay': { type: 'string' },
  proxy: { type: 'string', short: 'x' },
  noproxy: { type: 'string' },
  'max-time': { type: 'string', short: 'm' },
  insecure: { type: 'boolean', short: 'k' },
  cacert: { type: 'string' },
  'continue-at': { type: 'string', short: 'C' },
  'limit-rate': { type: 'string' },
  'max-filesize': { type: 'string' },
  fail: { type: 'boolean', short: 'f' },
  silent: { type: 'boolean', short: 's' },
  'show-error': { type: 'boolean', short: 'S' },
  progress: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  'write-out': { type: 'string', short: 'w' },
  'json-output': { type: 'boolean' },
  trace: { type: 'boolean' },
  'trace-file': { type: 'string' },
  'trace-body': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A failure of the command (not of the request), with the kind that picks its exit code. */
class CommandError extends Error {
  readonly kind: CommandFailure;

  constructor(kind: CommandFailure, message: string) {
    super(message);
    this.kind = kind;
  }
}

// ---------------------------------------------------------------------------------------------
// The command line

interface Job {
  url: string;
  /** -o FILE; with -O, taken from the URL when the job runs; undefined: stdout. */
  output: string | undefined;
  remoteName: boolean;
}

interface Settings {
  jobs: Job[];
  /** Options shared by every request (method, fields, body, limits, TLS, proxy…). */
  requestOptions: RequestOptions;
  /** -i or -I: the head(s) before the body. */
  showHead: boolean;
  raw: boolean;
  verbose: boolean;
  silent: boolean;
  showErrors: boolean;
  fail: boolean;
  resume: boolean;
  progress: 'auto' | 'always' | 'never';
  writeOut: string | null;
  jsonOutput: boolean;
  /** --trace: every connection's bytes, labelled. */
  traces: ClientTraces | null;
}

/** The lab form names a host, a port and a file: three arguments, the second a number, the first not a URL. */
function isLabForm(positionals: string[]): boolean {
  const [host, port] = positionals;
  return positionals.length === 3 && /^\d+$/.test(port!) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(host!) && !host!.includes('/');
}

function urlsFromPositionals(positionals: string[]): string[] {
  if (positionals.length === 0) throw new UsageError('a URL is needed');
  if (isLabForm(positionals)) {
    const [host, port, fileName] = positionals as [string, string, string];
    parseNumber(port, 'PORT', { min: 1, max: 65535 });
    const path = fileName.startsWith('/') ? fileName : `/${fileName}`;
    return [`http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`];
  }
  return positionals.map((url) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`));
}

function jobsFrom(urls: string[], outputs: string[], remoteName: boolean): Job[] {
  if (remoteName && outputs.length > 0) throw new UsageError('use -o or -O, not both');
  if (outputs.length > 0 && outputs.length !== urls.length) throw new UsageError(`give one -o per URL (${urls.length} URLs, ${outputs.length} -o)`);
  return urls.map((url, index) => ({ url, output: outputs[index], remoteName }));
}

function parseHeader(line: string): [string, string] {
  const colon = line.indexOf(':');
  if (colon <= 0) throw new UsageError(`a header must look like 'Name: value', not '${line}'`);
  return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
}

/** "100K", "1.5M", "2048": bytes per second, with curl's 1024-based suffixes. */
function parseRate(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kmg])?$/i.exec(text.trim());
  const scale = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match?.[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  const rate = match ? Number(match[1]) * scale : Number.NaN;
  if (!(rate >= 1)) throw new UsageError(`--limit-rate must be a rate such as 100K or 1M, not '${text}'`);
  return rate;
}

async function readArgumentFile(reference: string, what: string): Promise<Buffer> {
  const path = reference.slice(1);
  try {
    if (path === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    }
    return await readFile(path);
  } catch (error) {
    throw new CommandError('read-failed', `cannot read ${what} ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/**
 * The request content of -d, --data-binary and --json, and the fields that describe it. As in curl,
 * -d @FILE drops the file's line breaks, several -d are joined with '&', and JSON pieces are
 * concatenated.
 */
async function requestContent(values: { data?: string[]; 'data-binary'?: string[]; json?: string[] }): Promise<{ body: Buffer; fields: FieldLine[] } | null> {
  const forms = [...(values.data ?? []).map((value) => ({ value, exact: false })), ...(values['data-binary'] ?? []).map((value) => ({ value, exact: true }))];
  const json = values.json ?? [];
  if (forms.length > 0 && json.length > 0) throw new UsageError('use --json or -d/--data-binary, not both');
  if (json.length > 0) {
    const pieces = await Promise.all(json.map((value) => (value.startsWith('@') ? readArgumentFile(value, '--json') : Buffer.from(value, 'utf8'))));
    return { body: Buffer.concat(pieces), fields: [['Content-Type', 'application/json'], ['Accept', 'application/json']] };
  }
  if (forms.length === 0) return null;
  const pieces = await Promise.all(
    forms.map(async ({ value, exact }) => {
      if (!value.startsWith('@')) return Buffer.from(value, 'utf8');
      const bytes = await readArgumentFile(value, exact ? '--data-binary' : '--data');
      return exact ? bytes : Buffer.from(bytes.toString('latin1').replace(/[\r\n]/g, ''), 'latin1');
    }),
  );
  const joined = pieces.flatMap((piece, index) => (index === 0 ? [piece] : [Buffer.from('&'), piece]));
  return { body: Buffer.concat(joined), fields: [['Content-Type', 'application/x-www-form-urlencoded']] };
}

/** The caller's fields first; a default (from -A or the content) only when no -H gave that field. */
function withDefaults(given: FieldLine[], defaults: FieldLine[]): FieldLine[] {
  const names = new Set(given.map(([name]) => name.toLowerCase()));
  return [...given, ...defaults.filter(([name]) => !names.has(name.toLowerCase()))];
}

function chooseMethod(explicit: string | undefined, head: boolean, hasContent: boolean): string {
  if (head && hasContent) throw new UsageError('-I sends HEAD, which has no content: drop -d/--json');
  if (explicit !== undefined) return explicit;
  if (head) return 'HEAD';
  return hasContent ? 'POST' : 'GET';
}

const WRITE_OUT_VARIABLES = new Set([
  'http_code',
  'response_code',
  'http_version',
  'content_type',
  'size_download',
  'time_namelookup',
  'time_connect',
  'time_appconnect',
  'time_starttransfer',
  'time_total',
  'url',
  'url_effective',
  'num_redirects',
  'remote_ip',
  'remote_port',
  'exitcode',
  'errormsg',
  'json',
]);

function checkWriteOut(format: string): string {
  for (const [, name] of format.matchAll(/%\{([^}]*)\}/g)) {
    if (!WRITE_OUT_VARIABLES.has(name!)) throw new UsageError(`unknown --write-out variable %{${name}}`);
  }
  return format;
}

function proxyOption(values: { proxy?: string; noproxy?: string }): RequestOptions['proxy'] {
  const noProxy = values.noproxy;
  return (target: URL) => {
    if (values.proxy === undefined) {
      const env = noProxy === undefined ? process.env : { ...process.env, no_proxy: noProxy, NO_PROXY: noProxy };
      return proxyFromEnvironment(target, env);
    }
    if (values.proxy === '' || (noProxy !== undefined && bypassesProxy(target, noProxy))) return null;
    return parseProxyUrl(values.proxy);
  };
}

type ParsedValues = ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** -C - resumes into a file, the body alone, as the server sent it. */
function wantsResume(values: ParsedValues, jobs: Job[]): boolean {
  const value = values['continue-at'];
  if (value === undefined) return false;
  if (value !== '-') throw new UsageError("only '-C -' is supported: the offset is the size of the partial download");
  if (jobs.some((job) => job.output === undefined && !job.remoteName)) throw new UsageError('-C - resumes a file: give -o FILE or -O');
  if (values.include || values.raw || values.compressed) throw new UsageError('-C - cannot be combined with -i, --raw or --compressed (the file holds the body alone, as sent)');
  return true;
}

async function readCaFile(path: string | undefined): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  return readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read --cacert ${path} (${error.code ?? error.message})`);
  });
}

/** The request options every URL of the command line shares. */
async function requestOptionsFrom(values: ParsedValues): Promise<RequestOptions> {
  const maxTime = parseNumber(values['max-time'], '--max-time', { min: 0.001, max: 2_000_000, integer: false });
  const maxFileSize = parseNumber(values['max-filesize'], '--max-filesize', { min: 0 });
  const maxRedirects = parseNumber(values['max-redirs'], '--max-redirs', { min: 0, max: 1000 });
  const retries = parseNumber(values.retry, '--retry', { min: 0, max: 100 });
  const retryDelay = parseNumber(values['retry-delay'], '--retry-delay', { min: 0, max: 3600, integer: false });
  const content = await requestContent(values);
  const userAgent: FieldLine[] = values['user-agent'] === undefined ? [] : [['User-Agent', values['user-agent']]];
  const ca = await readCaFile(values.cacert);
  return {
    method: chooseMethod(values.request, values.head === true, content !== null),
    headers: withDefaults((values.header ?? []).map(parseHeader), [...userAgent, ...(content?.fields ?? [])]),
    proxy: proxyOption(values),
    ...(content && { body: content.body }),
    ...(maxTime !== undefined && { timeoutMs: maxTime * 1000 }),
    ...(maxFileSize !== undefined && { maxBodyBytes: maxFileSize }),
    ...(values.insecure && { insecure: true }),
    ...(ca && { ca }),
    ...(values.location && { followRedirects: true }),
    ...(maxRedirects !== undefined && { maxRedirects }),
    ...(values.compressed && { decompress: true }),
    ...(values['limit-rate'] !== undefined && { maxBytesPerSecond: parseRate(values['limit-rate']) }),
    ...(retries !== undefined && { retries }),
    ...(retryDelay !== undefined && { retryDelayMs: retryDelay * 1000 }),
  };
}

async function parseSettings(args: string[]): Promise<Settings | 'help'> {
  const { values, positionals } = withUsageErrors(() => parseArgs({ args, options: OPTIONS, allowPositionals: true }));
  if (values.help) return 'help';
  const jobs = jobsFrom(urlsFromPositionals(positionals), values.output ?? [], values['remote-name'] === true);
  const resume = wantsResume(values, jobs);
  return {
    jobs,
    requestOptions: await requestOptionsFrom(values),
    showHead: values.include === true || values.head === true,
    raw: values.raw === true,
    verbose: values.verbose === true,
    silent: values.silent === true,
    showErrors: values.silent !== true || values['show-error'] === true,
    fail: values.fail === true,
    resume,
    progress: values.silent ? 'never' : values.progress ? 'always' : 'auto',
    writeOut: values['write-out'] === undefined ? null : checkWriteOut(values['write-out']),
    jsonOutput: values['json-output'] === true,
    traces: tracesFrom(values['trace'] === true, values['trace-file'], values['trace-body']),
  };
}

function tracesFrom(trace: boolean, file: string | undefined, bodyBytes: string | undefined): ClientTraces | null {
  if (!trace && file === undefined) return null;
  return new ClientTraces(openTrace(file ?? null, parseNumber(bodyBytes, '--trace-body', { max: 1024 * 1024 }) ?? 0));
}

// ---------------------------------------------------------------------------------------------
// What -v, -i and the warnings show

function headText(statusLine: string, fields: Iterable<FieldLine>): string {
  let text = `${statusLine}\r\n`;
  for (const [name, value] of fields) text += `${name}: ${value}\r\n`;
  return `${text}\r\n`;
}

function connectionLines(event: Extract<ClientEvent, { type: 'request' }>): string[] {
  const { connection } = event;
  if (event.reused) return [`* Re-using connection #${connection.id} to ${connection.host} port ${connection.port}`];
  const peer = connection.proxy === null ? connection.host : `proxy ${connection.host}`;
  const lines = [`* Connected to ${peer} (${connection.remoteAddress}) port ${connection.remotePort} (#${connection.id})`];
  if (connection.proxy?.tunnel) lines.push(`* CONNECT tunnel to ${event.url.host} established`);
  const tls = connection.tls;
  if (tls !== null) {
    lines.push(`* TLS connection using ${tls.protocol} / ${tls.cipher}, ALPN: ${tls.alpnProtocol ?? 'none'}`);
    const names = `subject ${tls.subject ?? '?'}, issuer ${tls.issuer ?? '?'}`;
    lines.push(`* Server certificate: ${names}; ${tls.verified ? 'verified' : 'NOT verified (--insecure)'}`);
  }
  return lines;
}

/** The -v listener: `*` lines about connections, `>` the request head, `<` the response heads. */
function verboseLines(event: ClientEvent): string[] {
  switch (event.type) {
    case 'request': {
      const head = event.head.toString('latin1').split('\r\n').slice(0, -2);
      return [...connectionLines(event), ...head.map((line) => `> ${line}`), '>'];
    }
    case 'response-head': {
      const lines = headText(`HTTP/${event.version} ${event.status} ${event.reason}`.trimEnd(), event.fields).split('\r\n').slice(0, -2);
      return [...lines.map((line) => `< ${line}`), '<'];
    }
    case 'connection-done':
      return [event.kept ? `* Connection #${event.connection.id} kept for reuse` : `* Closing connection #${event.connection.id}: ${event.reason}`];
    case 'redirect':
      return [`* Following the ${event.status} redirect to ${event.to.href} with ${event.method}`];
    case 'retry':
      return [];
  }
}

// ---------------------------------------------------------------------------------------------
// The progress bar (cli-progress)

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** One line: bar, percent, bytes, rate and time left; bytes and rate alone when the size is unknown. */
function progressLine(options: BarOptions, params: BarParams, startValue: number): string {
  const seconds = Math.max((Date.now() - params.startTime) / 1000, 0.001);
  const rate = `${formatBytes(Math.round((params.value - startValue) / seconds))}/s`;
  if (params.total <= 0) return `${formatBytes(params.value)} | ${rate}`;
  const parts = [
    `[${cliProgress.Format.BarFormat(params.progress, options)}] ${`${Math.floor(params.progress * 100)}%`.padStart(4)}`,
    `${formatBytes(params.value)} of ${formatBytes(params.total)}`,
    rate,
  ];
  if (params.value >= params.total) parts.push('done');
  else if (Number.isFinite(params.eta) && params.value > startValue) parts.push(`${cliProgress.Format.TimeFormat(params.eta, options, 1)} left`);
  return parts.join(' | ');
}

interface Progress {
  update(value: number): void;
  stop(): void;
}

/** A bar on stderr when it is a terminal (curl shows its meter there too), or always with --progress. */
function startProgress(settings: Settings, toStdout: boolean, total: number, startValue: number): Progress | null {
  const onTerminal = process.stderr.isTTY === true && !(toStdout && process.stdout.isTTY === true);
  if (settings.progress === 'never' || (settings.progress === 'auto' && !onTerminal)) return null;
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: (options, params) => progressLine(options, params, startValue),
    barsize: 24,
    fps: 10,
    etaBuffer: 20,
    // Not a terminal (--progress into a file or pipe): a line now and then instead of redrawing.
    noTTYOutput: process.stderr.isTTY !== true,
    notTTYSchedule: 1_000,
    // cli-progress would otherwise listen for SIGINT and so stop Ctrl-C from ending the command.
    gracefulExit: false,
  });
  bar.start(total, startValue);
  return { update: (value) => bar.update(value), stop: () => bar.stop() };
}

// ---------------------------------------------------------------------------------------------
// Where the body goes

async function writeToStdout(source: AsyncIterable<Buffer>, prefix: string): Promise<void> {
  const stdout = new Writable({
    write: (chunk, _encoding, callback) => (process.stdout.write(chunk) ? callback() : process.stdout.once('drain', () => callback())),
  });
  if (prefix !== '') process.stdout.write(prefix);
  await pipeline(source, stdout);
}

interface FileWrite {
  destination: string;
  /** Where the bytes go until complete (the destination itself for a device such as /dev/null). */
  partial: string;
  /** Write from this byte of `partial` on, keeping what is before it (a resumed download). */
  appendAt: number;
  /** On failure, leave `partial` for a later -C - (its resume record is written). */
  keepOnFailure: boolean;
  /** When set, `partial` must be exactly this long before it is renamed. */
  expectedSize: number | null;
}

function partialPath(destination: string): string {
  return join(dirname(destination), `.${basename(destination)}.sockhttp-partial`);
}

function writeError(destination: string, error: unknown): CommandError {
  return new CommandError('write-failed', `cannot write ${destination}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
}

/**
 * A regular file is written under a temporary name beside it and renamed once complete, so an
 * interrupted download never leaves a truncated file that looks whole. Something that is not a
 * regular file (/dev/null, a pipe) is written straight to.
 */
async function planFileWrite(destination: string): Promise<FileWrite> {
  const existing = await stat(destination).catch(() => null);
  const inPlace = existing !== null && !existing.isFile();
  return { destination, partial: inPlace ? destination : partialPath(destination), appendAt: 0, keepOnFailure: false, expectedSize: null };
}

async function writeToFile(plan: FileWrite, source: AsyncIterable<Buffer>, prefix: string): Promise<void> {
  const inPlace = plan.partial === plan.destination;
  try {
    const file = plan.appendAt > 0 ? createWriteStream(plan.partial, { flags: 'r+', start: plan.appendAt }) : createWriteStream(plan.partial);
    if (prefix !== '') file.write(prefix);
    await pipeline(source, file);
    if (plan.expectedSize !== null) {
      const { size } = await stat(plan.partial);
      if (size !== plan.expectedSize) throw new CommandError('range-error', `the download of ${plan.destination} has ${size} bytes, not the ${plan.expectedSize} announced`);
    }
    if (!inPlace) await rename(plan.partial, plan.destination);
  } catch (error) {
    if (!inPlace && !plan.keepOnFailure) await rm(plan.partial, { force: true });
    if (error instanceof ClientError || error instanceof CommandError) throw error;
    throw writeError(plan.destination, error);
  }
}

/** The file name -O takes from a URL: its last path segment, decoded; never empty, hidden, or a path. */
function remoteFileName(url: string): string {
  if (!URL.canParse(url)) throw new ClientError('bad-url', `Not a valid URL: ${url}`);
  const { pathname } = new URL(url);
  const segment = pathname.slice(pathname.lastIndexOf('/') + 1);
  let name = segment;
  try {
    name = decodeURIComponent(segment);
  } catch {
    // not valid percent-encoding: the segment as it is
  }
  // A name starting with '.' would be hidden, or '.' or '..' themselves; a decoded '/' or NUL would
  // leave the current folder or cut the name.
  if (name === '' || name.startsWith('.') || /[/\\\0]/.test(name)) {
    throw new CommandError('write-failed', `-O: no usable file name in ${url} (the last segment is empty, starts with a dot, or holds a separator)`);
  }
  return name;
}

// ---------------------------------------------------------------------------------------------
// -C -: resuming a download safely

/** What is known about a partial download, stored beside it in .NAME.sockhttp-resume.json. */
interface ResumeRecord {
  url: string;
  /** A strong validator of the representation: the ETag, else a strong Last-Modified. */
  validator: string;
  /** The full size of the representation. */
  total: number;
}

/** The URL as the record names it: without user:password, which have no business on disk. */
function recordedUrl(url: string): string {
  const parsed = URL.canParse(url) ? new URL(url) : null;
  if (parsed === null) return url;
  parsed.username = '';
  parsed.password = '';
  return parsed.href;
}

function resumeRecordPath(destination: string): string {
  return join(dirname(destination), `.${basename(destination)}.sockhttp-resume.json`);
}

/** The partial download and its record, when both exist, agree, and belong to `url`; otherwise null. */
async function loadResume(destination: string, url: string): Promise<{ record: ResumeRecord; size: number } | null> {
  const partial = await stat(partialPath(destination)).catch(() => null);
  if (partial === null || !partial.isFile()) return null;
  let record: ResumeRecord;
  try {
    record = JSON.parse(await readFile(resumeRecordPath(destination), 'utf8')) as ResumeRecord;
  } catch {
    return null;
  }
  const valid = record.url === recordedUrl(url) && typeof record.validator === 'string' && record.validator !== '' && Number.isSafeInteger(record.total);
  if (!valid || partial.size > record.total) return null;
  return { record, size: partial.size };
}

async function saveResumeRecord(destination: string, record: ResumeRecord): Promise<void> {
  const path = resumeRecordPath(destination);
  await writeFile(`${path}.tmp`, `${JSON.stringify(record)}\n`);
  await rename(`${path}.tmp`, path);
}

async function forgetResume(destination: string): Promise<void> {
  await rm(resumeRecordPath(destination), { force: true });
}

/**
 * The validator If-Range may carry (RFC 9110 §13.1.5): a strong ETag; else Last-Modified, but only
 * when it is strong, that is at least a second before the response's Date (§8.8.2.2).
 */
function strongValidator(fields: Fields): string | null {
  const etag = fields.get('etag');
  if (etag !== undefined && /^"[^"]*"$/.test(etag)) return etag;
  if (etag !== undefined) return null; // a weak ETag: the representation may change without it changing
  const lastModified = fields.get('last-modified');
  const date = fields.get('date');
  if (lastModified === undefined || date === undefined) return null;
  const modifiedAt = parseHttpDate(lastModified, Date.now());
  const sentAt = parseHttpDate(date, Date.now());
  return modifiedAt !== null && sentAt !== null && sentAt - modifiedAt >= 1000 ? lastModified : null;
}

/**
 * Whether a 206 continues the partial download exactly: one range, starting at `offset`, running to
 * the end of a representation of the recorded size, with the recorded ETag if it names one.
 */
function continuesPartial(response: ClientResponse, record: ResumeRecord, offset: number): string | null {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.fields.get('content-range') ?? '');
  if (match === null) return 'the 206 response has no single byte range (Content-Range)';
  const [start, end, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (start !== offset) return `the range starts at byte ${start}, not at ${offset}`;
  if (total !== record.total) return `the file is now ${total} bytes, not ${record.total}`;
  if (end !== total - 1) return `the range ends at byte ${end}, before the end of the file`;
  const etag = response.fields.get('etag');
  if (etag !== undefined && record.validator.startsWith('"') && etag !== record.validator) return 'the ETag changed';
  return null;
}

/**
 * For -C -, how the response is written. The partial file is appended to only after the 206 has
 * been checked; a 200 means the representation changed (If-Range did not match) and the download
 * starts over; a 416 naming exactly the recorded size means the partial file is already whole.
 * Otherwise (an error status) the partial download is kept untouched for a later try.
 */
async function planResume(
  response: ClientResponse,
  destination: string,
  url: string,
  state: { record: ResumeRecord; size: number } | null,
): Promise<FileWrite | 'complete'> {
  const plan = await planFileWrite(destination);
  if (state !== null && response.status === 206) {
    const problem = continuesPartial(response, state.record, state.size);
    if (problem !== null) throw new CommandError('range-error', `cannot resume ${destination}: ${problem}; the partial download is kept`);
    return { ...plan, appendAt: state.size, keepOnFailure: true, expectedSize: state.record.total };
  }
  if (state !== null && response.status === 416) {
    const whole = response.fields.get('content-range') === `bytes */${state.size}` && state.size === state.record.total;
    if (!whole) throw new CommandError('range-error', `cannot resume ${destination}: the server refused the range (416); the partial download is kept`);
    return 'complete';
  }
  if (state !== null && (response.status < 200 || response.status >= 300)) {
    throw new CommandError('http-error', `the server answered ${response.status}; the partial download of ${destination} is kept for a later -C -`);
  }
  if (response.status === 206) throw new CommandError('range-error', `the server sent a range (206) that was not asked for`);
  // A new download: forget the old record before the partial file is replaced, then describe the
  // new one before its first byte is written, so a record never describes bytes it did not see.
  await forgetResume(destination);
  const validator = strongValidator(response.fields);
  const length = response.fields.get('content-length');
  const total = length !== undefined && /^\d+$/.test(length) && !response.fields.has('content-encoding') ? Number(length) : null;
  if (response.status !== 200 || validator === null || total === null || plan.partial === destination) return plan;
  await saveResumeRecord(destination, { url: recordedUrl(url), validator, total });
  return { ...plan, keepOnFailure: true, expectedSize: total };
}

// ---------------------------------------------------------------------------------------------
// One URL

interface Transfer {
  url: string;
  response: ClientResponse | null;
  exitCode: number;
  error: string | null;
  startedAt: number;
}

function seconds(milliseconds: number): number {
  return Math.round(milliseconds * 1000) / 1_000_000;
}

/** The -w variables of a transfer (also the --json-output object and %{json}). */
function transferVariables(transfer: Transfer): Record<string, string | number | null> {
  const response = transfer.response;
  const timings = response?.timings;
  const total = timings?.total ?? performance.now() - transfer.startedAt;
  return {
    url: transfer.url,
    url_effective: response?.url ?? transfer.url,
    http_code: response?.status ?? 0,
    response_code: response?.status ?? 0,
    http_version: response?.version ?? null,
    content_type: response?.fields.get('content-type') ?? null,
    size_download: response?.bodyBytesReceived ?? 0,
    num_redirects: response?.redirects ?? 0,
    remote_ip: response?.connection.remoteAddress ?? null,
    remote_port: response?.connection.remotePort ?? null,
    time_namelookup: seconds(timings?.nameLookup ?? 0),
    time_connect: seconds(timings?.connect ?? 0),
    time_appconnect: seconds(timings?.appConnect ?? 0),
    time_starttransfer: seconds(timings?.firstByte ?? 0),
    time_total: seconds(total),
    exitcode: transfer.exitCode,
    errormsg: transfer.error,
  };
}

function jsonReport(transfer: Transfer): string {
  const headers: Record<string, string[]> = {};
  for (const [name, value] of transfer.response?.fields ?? []) (headers[name.toLowerCase()] ??= []).push(value);
  return JSON.stringify({ ...transferVariables(transfer), headers });
}

/** -w FORMAT with its variables and curl's backslash escapes. */
function expandWriteOut(format: string, transfer: Transfer): string {
  const variables = transferVariables(transfer);
  return format.replace(/%\{([^}]*)\}|%%|\\([ntr\\])/g, (match, name: string | undefined, escape: string | undefined) => {
    if (escape !== undefined) return { n: '\n', t: '\t', r: '\r', '\\': '\\' }[escape]!;
    if (match === '%%') return '%';
    if (name === 'json') return jsonReport(transfer);
    if (name === 'http_code' || name === 'response_code') return String(variables[name]).padStart(3, '0');
    const value = variables[name!];
    return value === null || value === undefined ? '' : String(value);
  });
}

/** The body as received: -i puts the heads before it; --raw shows the bytes of the wire instead. */
function bodySource(response: ClientResponse, rawChunks: Buffer[] | null, progress: Progress | null, startValue: number): AsyncIterable<Buffer> {
  async function* source() {
    for await (const chunk of response.body) {
      progress?.update(startValue + response.bodyBytesReceived);
      if (rawChunks !== null) yield* rawChunks.splice(0);
      else yield chunk as Buffer;
    }
    if (rawChunks !== null) yield* rawChunks.splice(0);
  }
  return source();
}

function bodyTotal(response: ClientResponse, startValue: number): number {
  const range = /\/(\d+)$/.exec(response.fields.get('content-range') ?? '');
  if (response.status === 206 && range) return Number(range[1]);
  const length = response.fields.get('content-length');
  return response.fields.has('transfer-encoding') || length === undefined ? 0 : startValue + Number(length);
}

/** -v lines, the heads -i shows (those of a retried attempt forgotten), and a warning per retry. */
function onClientEvent(event: ClientEvent, settings: Settings, heads: string[]): void {
  if (settings.verbose) for (const line of verboseLines(event)) process.stderr.write(`${line}\n`);
  if (event.type === 'response-head') heads.push(headText(`HTTP/${event.version} ${event.status} ${event.reason}`.trimEnd(), event.fields));
  if (event.type === 'retry') {
    heads.length = 0;
    if (!settings.silent) process.stderr.write(`sockhttp get: ${event.reason}; retry ${event.attempt} in ${event.delayMs / 1000} s\n`);
  }
}

/** What one URL's run knows besides its response: where the body goes and what to show before it. */
interface Delivery {
  url: string;
  /** The file (-o, -O), or undefined for stdout. */
  destination: string | undefined;
  /** The partial download -C - continues, if there is a usable one. */
  resume: { record: ResumeRecord; size: number } | null;
  /** Every response head, for -i. */
  heads: string[];
  /** The bytes as received, for --raw. */
  rawChunks: Buffer[] | null;
}

async function fetchOne(job: Job, settings: Settings, transfer: Transfer, agent: Agent, keepAlive: boolean): Promise<void> {
  const destination = job.remoteName ? remoteFileName(job.url) : job.output;
  const delivery: Delivery = {
    url: job.url,
    destination,
    resume: settings.resume ? await loadResume(destination!, job.url) : null,
    heads: [],
    rawChunks: settings.raw ? [] : null,
  };
  // A range of the partial download's representation, or the whole of a changed one: If-Range
  // makes the server choose (RFC 9110 §13.1.5, §14.2).
  const state = delivery.resume;
  const resumeFields: FieldLine[] = state === null ? [] : [['Range', `bytes=${state.size}-`], ['If-Range', state.record.validator]];
  const base = settings.requestOptions;
  const response = await request(job.url, {
    ...base,
    headers: [...(base.headers as FieldLine[]), ...resumeFields],
    agent,
    keepAlive,
    onRawBytes: (bytes: Buffer) => {
      delivery.rawChunks?.push(bytes);
      settings.traces?.received(bytes);
    },
    ...(settings.traces && { onSentBytes: (bytes: Buffer) => settings.traces!.sent(bytes) }),
    onEvent: (event) => {
      settings.traces?.onEvent(event);
      onClientEvent(event, settings, delivery.heads);
    },
  });
  transfer.response = response;
  try {
    await writeResponse(response, delivery, settings);
  } catch (error) {
    response.body.destroy(); // whatever went wrong, the rest of the body is not wanted
    throw error;
  }
}

async function writeResponse(response: ClientResponse, delivery: Delivery, settings: Settings): Promise<void> {
  const { destination } = delivery;
  let file: FileWrite | 'complete' | null = null;
  // -C - looks first: its 416 ("you have it all already") is a success, not a --fail error.
  if (settings.resume) file = await planResume(response, destination!, delivery.url, delivery.resume);
  if (settings.fail && response.status >= 400) {
    throw new CommandError('http-error', `${`the server answered ${response.status} ${response.reason}`.trimEnd()} (--fail)`);
  }
  if (file === 'complete') {
    response.body.destroy();
    await rename(partialPath(destination!), destination!).catch((error: unknown) => {
      throw writeError(destination!, error);
    });
    await forgetResume(destination!);
    return;
  }
  file ??= destination === undefined ? null : await planFileWrite(destination);
  const startValue = file?.appendAt ?? 0;
  const progress = startProgress(settings, file === null, bodyTotal(response, startValue), startValue);
  const prefix = settings.showHead && !settings.raw ? delivery.heads.join('') : '';
  try {
    const source = bodySource(response, delivery.rawChunks, progress, startValue);
    if (file === null) await writeToStdout(source, prefix);
    else await writeToFile(file, source, prefix);
  } finally {
    progress?.stop();
  }
  if (file !== null && file.keepOnFailure) await forgetResume(file.destination);
}

function exitCodeOf(error: unknown): { code: number; message: string } | null {
  if (error instanceof UsageError) return { code: EXIT_CODES.usage, message: `${error.message} (try 'sockhttp get --help')` };
  if (error instanceof ClientError) return { code: EXIT_CODES[error.code], message: error.message };
  if (error instanceof CommandError) return { code: EXIT_CODES[error.kind], message: error.message };
  return null;
}

async function runJob(job: Job, settings: Settings, agent: Agent, keepAlive: boolean): Promise<number> {
  const transfer: Transfer = { url: job.url, response: null, exitCode: 0, error: null, startedAt: performance.now() };
  try {
    await fetchOne(job, settings, transfer, agent, keepAlive);
  } catch (error) {
    const failure = exitCodeOf(error);
    if (failure === null) throw error;
    transfer.exitCode = failure.code;
    transfer.error = failure.message;
    if (settings.showErrors) process.stderr.write(`sockhttp get: ${failure.message}\n`);
  }
  if (settings.writeOut !== null) process.stdout.write(expandWriteOut(settings.writeOut, transfer));
  if (settings.jsonOutput) process.stdout.write(`${jsonReport(transfer)}\n`);
  return transfer.exitCode;
}

export async function runGet(args: string[]): Promise<number> {
  let settings: Settings | 'help';
  try {
    settings = await parseSettings(args);
  } catch (error) {
    const failure = exitCodeOf(error);
    if (failure === null) throw error;
    process.stderr.write(`sockhttp get: ${failure.message}\n`);
    return failure.code;
  }
  if (settings === 'help') {
    process.stdout.write(`${GET_HELP}\n`);
    return 0;
  }
  const agent = new Agent();
  try {
    // One URL after another, stopping at the first failure (curl's --fail-early). The connection
    // is kept alive while more requests may follow, and the last one says Connection: close.
    for (const [index, job] of settings.jobs.entries()) {
      const isLast = index === settings.jobs.length - 1;
      const code = await runJob(job, settings, agent, !isLast || settings.requestOptions.followRedirects === true);
      if (code !== 0) return code;
    }
    return 0;
  } finally {
    agent.close();
    settings.traces?.closeAll();
  }
}
