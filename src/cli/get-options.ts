/**
 * `sockhttp get`'s command line: the options, the lab form HOST PORT FILENAME, and the Settings every
 * URL of the run shares (request options, what to show, where the bodies go).
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { parseArgs } from 'node:util';
import { ClientTraces, type FieldLine, type RequestOptions, bypassesProxy, parseProxyUrl, proxyFromEnvironment } from '../index.js';
import { type Content, readArgumentFile, requestContent, uploadContent, withQuery } from './get-content.js';
import type { CookieFile } from './get-cookies.js';
import { checkWriteOut } from './get-report.js';
import { UsageError, openTraceOrSay, parseNumber, withUsageErrors } from './options.js';

export const OPTIONS = {
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
  'connect-timeout': { type: 'string' },
  insecure: { type: 'boolean', short: 'k' },
  http2: { type: 'boolean' },
  'http2-prior-knowledge': { type: 'boolean' },
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
  user: { type: 'string', short: 'u' },
  netrc: { type: 'boolean', short: 'n' },
  'netrc-file': { type: 'string' },
  'netrc-optional': { type: 'boolean' },
  cookie: { type: 'string', short: 'b', multiple: true },
  'cookie-jar': { type: 'string', short: 'c' },
  form: { type: 'string', short: 'F', multiple: true },
  'upload-file': { type: 'string', short: 'T' },
  'dump-header': { type: 'string', short: 'D' },
  get: { type: 'boolean', short: 'G' },
  referer: { type: 'string', short: 'e' },
  'no-buffer': { type: 'boolean', short: 'N' },
  ipv4: { type: 'boolean', short: '4' },
  ipv6: { type: 'boolean', short: '6' },
  'fail-with-body': { type: 'boolean' },
  resolve: { type: 'string', multiple: true },
  'connect-to': { type: 'string', multiple: true },
  url: { type: 'string', multiple: true },
  'create-dirs': { type: 'boolean' },
  'output-dir': { type: 'string' },
  'remote-time': { type: 'boolean', short: 'R' },
  parallel: { type: 'boolean', short: 'Z' },
  'parallel-max': { type: 'string' },
  'etag-save': { type: 'string' },
  'etag-compare': { type: 'string' },
} as const;

export interface Job {
  url: string;
  /** -o FILE; with -O, taken from the URL when the job runs; undefined: stdout. */
  output: string | undefined;
  remoteName: boolean;
  /** --output-dir: where -O puts its file. */
  outputDir: string | undefined;
  /** -o -: stdout, asked for by name, so a binary body may go to a terminal. */
  explicitStdout: boolean;
}

export interface Settings {
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
  /** --fail-with-body: exit 22 on a status of 400 or more, the body written all the same. */
  failWithBody: boolean;
  /** -D FILE: the response heads go there too (- for stdout). */
  dumpHeader: string | null;
  createDirs: boolean;
  /** -R: the file gets the Last-Modified time of the response. */
  remoteTime: boolean;
  /** -Z: at most this many transfers at once; 1 without -Z. */
  parallel: number;
  /** -b and -c: the jar, and where -c writes it at the end. */
  cookies: CookieFile | null;
  cookieJar: string | null;
  etagSave: string | null;
  etagCompare: string | null;
  /** --netrc: login and password by machine name, when neither -u nor the URL gives them. */
  netrc: Map<string, { login: string; password: string }> | null;
}

/** The lab form names a host, a port and a file: three arguments, the second a number, the first not a URL. */
function isLabForm(positionals: string[]): boolean {
  const [host, port] = positionals;
  return positionals.length === 3 && /^\d+$/.test(port!) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(host!) && !host!.includes('/');
}

function urlsFromPositionals(positionals: string[]): string[] {
  if (positionals.length === 0) throw new UsageError('a URL is needed');
  const [first, second] = positionals;
  // "get 127.0.0.1 20840": the lab form with its file name forgotten would otherwise fetch two URLs,
  // the second being host 20840 on port 80.
  if (positionals.length === 2 && /^\d+$/.test(second!) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(first!) && !first!.includes('/')) {
    throw new UsageError(`HOST PORT without a FILENAME: the lab form is 'sockhttp get ${first} ${second} FILENAME'`);
  }
  if (isLabForm(positionals)) {
    const [host, port, fileName] = positionals as [string, string, string];
    parseNumber(port, 'PORT', { min: 1, max: 65535 });
    const path = fileName.startsWith('/') ? fileName : `/${fileName}`;
    return [`http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`];
  }
  return positionals.map((url) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`));
}

function jobsFrom(urls: string[], outputs: string[], remoteName: boolean, outputDir: string | undefined): Job[] {
  if (remoteName && outputs.length > 0) throw new UsageError('use -o or -O, not both');
  if (outputs.length > 0 && outputs.length !== urls.length)
    throw new UsageError(`give one -o per URL (${urls.length} URLs, ${outputs.length} -o)`);
  // "-o -" is stdout, as in curl; --output-dir is where relative -o and -O names go.
  const placed = (name: string | undefined) =>
    name === undefined || name === '-' ? undefined : outputDir === undefined || isAbsolute(name) ? name : join(outputDir, name);
  return urls.map((url, index) => ({ url, output: placed(outputs[index]), remoteName, outputDir, explicitStdout: outputs[index] === '-' }));
}

/**
 * -H as curl reads it: 'Name: value' sends the field; 'Name:' with nothing after it removes a field
 * the client would send by default (Host, User-Agent, Accept…) and sends none; 'Name;' sends it empty.
 */
function parseHeaders(lines: readonly string[]): { fields: FieldLine[]; omitted: string[] } {
  const fields: FieldLine[] = [];
  const omitted: string[] = [];
  for (const line of lines) {
    const empty = /^([^:;\s]+);\s*$/.exec(line);
    if (empty) {
      fields.push([empty[1]!, '']);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new UsageError(`a header must look like 'Name: value', not '${line}'`);
    const [name, value] = [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
    if (value === '') omitted.push(name);
    else fields.push([name, value]);
  }
  return { fields, omitted };
}

/** "100K", "1.5M", "2048": bytes per second, with curl's 1024-based suffixes. */
function parseRate(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kmg])?$/i.exec(text.trim());
  const scale = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match?.[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  const rate = match ? Number(match[1]) * scale : Number.NaN;
  if (!(rate >= 1)) throw new UsageError(`--limit-rate must be a rate such as 100K or 1M, not '${text}'`);
  return rate;
}

/** The caller's fields first; a default (from -A or the content) only when no -H gave that field (or removed it). */
function withDefaults(given: FieldLine[], defaults: FieldLine[], omitted: readonly string[]): FieldLine[] {
  const names = new Set([...given.map(([name]) => name.toLowerCase()), ...omitted.map((name) => name.toLowerCase())]);
  return [...given, ...defaults.filter(([name]) => !names.has(name.toLowerCase()))];
}

function chooseMethod(explicit: string | undefined, head: boolean, hasContent: boolean): string {
  if (head && hasContent) throw new UsageError('-I sends HEAD, which has no content: drop -d/--json');
  if (explicit !== undefined) return explicit;
  if (head) return 'HEAD';
  return hasContent ? 'POST' : 'GET';
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
  if (values.include || values.raw || values.compressed)
    throw new UsageError('-C - cannot be combined with -i, --raw or --compressed (the file holds the body alone, as sent)');
  return true;
}

async function readCaFile(path: string | undefined): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  return readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read --cacert ${path} (${error.code ?? error.message})`);
  });
}

/** -u USER:PASSWORD as Basic credentials (RFC 7617); without a password curl would prompt, which a script cannot answer. */
function basicAuthorization(user: string): string {
  if (!user.includes(':')) throw new UsageError(`-u ${user}: give USER:PASSWORD (sockhttp does not prompt for the password)`);
  return `Basic ${Buffer.from(user, 'utf8').toString('base64')}`;
}

/** HOST:PORT:ADDRESS (--resolve) or HOST:PORT:HOST2:PORT2 (--connect-to) split at ':', a bracketed IPv6 address kept whole. */
function splitHostPorts(text: string): string[] {
  const parts: string[] = [];
  let rest = text;
  for (;;) {
    const close = rest.startsWith('[') ? rest.indexOf(']') : -1;
    const colon = rest.indexOf(':', close + 1);
    if (colon === -1) {
      parts.push(rest);
      return parts;
    }
    parts.push(rest.slice(0, colon));
    rest = rest.slice(colon + 1);
  }
}

function unbracket(host: string): string {
  return host.replace(/^\[|\]$/g, '');
}

type ConnectTo = NonNullable<RequestOptions['connectTo']>;

/**
 * --resolve HOST:PORT:ADDRESS pins a name to an address (the port stays); --connect-to
 * HOST:PORT:HOST2:PORT2 sends the connection elsewhere (an empty part matches any, or keeps the
 * original). --resolve is looked at first, then --connect-to, as curl does.
 */
function connectToOption(resolves: readonly string[], connectTos: readonly string[]): ConnectTo | undefined {
  if (resolves.length === 0 && connectTos.length === 0) return undefined;
  const pins = resolves.map((text) => {
    const parts = splitHostPorts(text);
    if (parts.length > 3) parts.splice(2, parts.length, parts.slice(2).join(':')); // an IPv6 address without brackets
    const port = Number(parts[1]);
    if (parts.length < 3 || parts[0] === '' || !Number.isInteger(port) || port < 1 || port > 65535 || parts[2] === '')
      throw new UsageError(`--resolve must look like HOST:PORT:ADDRESS, not '${text}'`);
    return { host: unbracket(parts[0]!).toLowerCase(), port, address: unbracket(parts[2]!.split(',')[0]!) };
  });
  const moves = connectTos.map((text) => {
    const parts = splitHostPorts(text);
    const [fromPort, toPort] = [parts[1] === '' ? null : Number(parts[1]), parts[3] === '' ? null : Number(parts[3])];
    const badPort = (port: number | null) => port !== null && !(Number.isInteger(port) && port >= 1 && port <= 65535);
    if (parts.length !== 4 || badPort(fromPort) || badPort(toPort))
      throw new UsageError(`--connect-to must look like HOST:PORT:HOST2:PORT2, not '${text}'`);
    return { host: unbracket(parts[0]!).toLowerCase(), port: fromPort, toHost: unbracket(parts[2]!), toPort };
  });
  return (host, port) => {
    const name = host.toLowerCase();
    const pin = pins.find((entry) => entry.host === name && entry.port === port);
    if (pin !== undefined) return { host: pin.address, port };
    const move = moves.find((entry) => (entry.host === '' || entry.host === name) && (entry.port === null || entry.port === port));
    if (move === undefined) return null;
    return { host: move.toHost === '' ? host : move.toHost, port: move.toPort ?? port };
  };
}

/** The name the `default` entry of a netrc file is kept under: NUL is in no host name. */
const NETRC_DEFAULT = '\0default';

/** The credentials --netrc gives for `host`: its machine entry, or else the `default` one (as curl). */
export function netrcEntry(netrc: NonNullable<Settings['netrc']>, host: string): { login: string; password: string } | undefined {
  return netrc.get(host.toLowerCase()) ?? netrc.get(NETRC_DEFAULT);
}

/**
 * The netrc library reads `machine NAME` followed by name-value pairs, and knows nothing of
 * `default`, a keyword without a name that stands for every other machine: it would misread what
 * follows (or fail, when the file starts with it). Rewritten as `machine \0default`, token by
 * token as the library reads them, after removing comments as it does.
 */
function withDefaultAsMachine(text: string): string {
  const tokens = text
    .split('\n')
    .map((line) => (line.includes('#') ? line.slice(0, line.indexOf('#')) : line))
    .join('\n')
    .split(/[ \t\n\r]+/)
    .filter((token) => token !== '');
  const rewritten: string[] = [];
  for (let index = 0; index < tokens.length; ) {
    if (tokens[index] === 'default') {
      rewritten.push('machine', NETRC_DEFAULT);
      index += 1;
    } else {
      rewritten.push(...tokens.slice(index, index + 2));
      index += 2;
    }
  }
  return rewritten.join(' ');
}

/** --netrc, --netrc-file: machine names to credentials, read by the netrc library. */
async function netrcFrom(values: ParsedValues): Promise<Settings['netrc']> {
  if (!values.netrc && values['netrc-file'] === undefined && !values['netrc-optional']) return null;
  const path = values['netrc-file'] ?? join(homedir(), '.netrc');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (values['netrc-file'] === undefined) return new Map(); // curl: a missing ~/.netrc is no error
    throw new UsageError(`--netrc-file ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const machines = (await import('netrc')).default.parse(withDefaultAsMachine(text));
  const found = new Map<string, { login: string; password: string }>();
  for (const [machine, entry] of Object.entries(machines)) {
    if (entry.login !== undefined) found.set(machine.toLowerCase(), { login: entry.login, password: entry.password ?? '' });
  }
  return found;
}

/** The request options every URL of the command line shares. */
async function requestOptionsFrom(values: ParsedValues, content: Content | null, cookies: CookieFile | null): Promise<RequestOptions> {
  const maxTime = parseNumber(values['max-time'], '--max-time', { min: 0.001, max: 2_000_000, integer: false });
  const connectTimeout = parseNumber(values['connect-timeout'], '--connect-timeout', { min: 0.001, max: 2_000_000, integer: false });
  const maxFileSize = parseNumber(values['max-filesize'], '--max-filesize', { min: 0 });
  const maxRedirects = parseNumber(values['max-redirs'], '--max-redirs', { min: 0, max: 1000 });
  const retries = parseNumber(values.retry, '--retry', { min: 0, max: 100 });
  const retryDelay = parseNumber(values['retry-delay'], '--retry-delay', { min: 0, max: 3600, integer: false });
  const defaults: FieldLine[] = [];
  if (values['user-agent'] !== undefined) defaults.push(['User-Agent', values['user-agent']]);
  if (values.user !== undefined) defaults.push(['Authorization', basicAuthorization(values.user)]);
  // curl's -e 'URL;auto' (or ';auto' alone): URL, if any, for the first request, then with -L each
  // request names the URL that redirected to it. curl cuts the argument where ';auto' starts.
  const auto = values.referer?.indexOf(';auto') ?? -1;
  const referer = auto === -1 ? values.referer : values.referer!.slice(0, auto);
  if (referer !== undefined && referer !== '') defaults.push(['Referer', referer]);
  const ca = await readCaFile(values.cacert);
  const { fields, omitted } = parseHeaders(values.header ?? []);
  if (values.ipv4 && values.ipv6) throw new UsageError('use -4 or -6, not both');
  const connectTo = connectToOption(values.resolve ?? [], values['connect-to'] ?? []);
  const method = values['upload-file'] !== undefined && values.request === undefined && !values.head ? 'PUT' : undefined;
  return {
    method: method ?? chooseMethod(values.request, values.head === true, content !== null),
    headers: withDefaults(fields, [...defaults, ...(content?.fields ?? [])], omitted),
    proxy: proxyOption(values),
    ...(omitted.length > 0 && { omitFields: omitted }),
    ...(content && { body: content.body }),
    ...(cookies && { cookieHeader: (url: URL) => cookies.header(url) }),
    ...(values.ipv4 && { family: 4 as const }),
    ...(values.ipv6 && { family: 6 as const }),
    ...(connectTo && { connectTo }),
    ...(maxTime !== undefined && { timeoutMs: maxTime * 1000 }),
    ...(connectTimeout !== undefined && { connectTimeoutMs: connectTimeout * 1000 }),
    ...(maxFileSize !== undefined && { maxBodyBytes: maxFileSize }),
    ...(values.insecure && { insecure: true }),
    ...(values['http2-prior-knowledge'] ? { httpVersion: '2-prior-knowledge' as const } : values.http2 && { httpVersion: '2' as const }),
    ...(ca && { ca }),
    ...(values.location && { followRedirects: true }),
    ...(auto !== -1 && { autoReferer: true }),
    ...(maxRedirects !== undefined && { maxRedirects }),
    ...(values.compressed && { decompress: true }),
    ...(values['limit-rate'] !== undefined && { maxBytesPerSecond: parseRate(values['limit-rate']) }),
    ...(retries !== undefined && { retries }),
    ...(retryDelay !== undefined && { retryDelayMs: retryDelay * 1000 }),
  };
}

/** The content of the request: -d/--json, -F or -T (one kind at a time); -G moves -d into the query instead. */
async function contentFrom(values: ParsedValues): Promise<Content | null> {
  const kinds = [
    (values.data ?? []).length + (values['data-binary'] ?? []).length + (values.json ?? []).length > 0,
    (values.form ?? []).length > 0,
    values['upload-file'] !== undefined,
  ].filter(Boolean).length;
  if (kinds > 1) throw new UsageError('use one of -d/--data-binary/--json, -F and -T');
  if (values['upload-file'] !== undefined) return null; // read per URL, which may need its name
  if ((values.form ?? []).length > 0) {
    if (values.get) throw new UsageError('-G puts -d in the query; it cannot carry -F');
    return (await import('./get-form.js')).formContent(values.form!);
  }
  return requestContent(values);
}

/** -w @FILE reads the format from a file (@- from stdin). */
async function writeOutFormat(value: string | undefined): Promise<string | null> {
  if (value === undefined) return null;
  if (!value.startsWith('@')) return checkWriteOut(value);
  return checkWriteOut((await readArgumentFile(value, '-w')).toString('utf8'));
}

export async function parseSettings(args: string[]): Promise<Settings | 'help'> {
  const { values, positionals } = withUsageErrors(() => parseArgs({ args, options: OPTIONS, allowPositionals: true }));
  if (values.help) return 'help';
  let urls = urlsFromPositionals([...positionals, ...(values.url ?? [])]);
  let content = await contentFrom(values);
  if (values.get) {
    urls = urls.map((url) => withQuery(url, content));
    content = null;
  }
  if (values['upload-file'] !== undefined) {
    const uploads = await Promise.all(urls.map((url) => uploadContent(values['upload-file']!, url)));
    urls = uploads.map((upload) => upload.url);
    content = { body: uploads[0]!.body, fields: [] };
  }
  const jobs = jobsFrom(urls, values.output ?? [], values['remote-name'] === true, values['output-dir']);
  const resume = wantsResume(values, jobs);
  // tough-cookie (and its public suffix list) is loaded only for a run that keeps cookies.
  const wantsCookies = values.cookie !== undefined || values['cookie-jar'] !== undefined;
  const cookies = wantsCookies ? (await import('./get-cookies.js')).CookieFile.from(values.cookie ?? []) : null;
  const parallelMax = parseNumber(values['parallel-max'], '--parallel-max', { min: 1, max: 300 }) ?? 50;
  return {
    jobs,
    requestOptions: await requestOptionsFrom(values, content, cookies),
    showHead: values.include === true || values.head === true,
    raw: values.raw === true,
    verbose: values.verbose === true,
    silent: values.silent === true,
    showErrors: values.silent !== true || values['show-error'] === true,
    fail: values.fail === true || values['fail-with-body'] === true,
    failWithBody: values['fail-with-body'] === true,
    resume,
    progress: values.silent ? 'never' : values.progress ? 'always' : 'auto',
    writeOut: await writeOutFormat(values['write-out']),
    jsonOutput: values['json-output'] === true,
    traces: tracesFrom(values['trace'] === true, values['trace-file'], values['trace-body']),
    dumpHeader: values['dump-header'] ?? null,
    createDirs: values['create-dirs'] === true,
    remoteTime: values['remote-time'] === true,
    parallel: values.parallel ? parallelMax : 1,
    cookies,
    cookieJar: values['cookie-jar'] ?? null,
    etagSave: values['etag-save'] ?? null,
    etagCompare: values['etag-compare'] ?? null,
    netrc: values.user === undefined ? await netrcFrom(values) : null,
  };
}

function tracesFrom(trace: boolean, file: string | undefined, bodyBytes: string | undefined): ClientTraces | null {
  if (!trace && file === undefined) return null;
  return new ClientTraces(openTraceOrSay(file ?? null, parseNumber(bodyBytes, '--trace-body', { max: 1024 * 1024 }) ?? 0));
}
