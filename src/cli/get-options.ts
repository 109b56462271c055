/**
 * `sockhttp get`'s command line: the options, the lab form HOST PORT FILENAME, and the Settings every
 * URL of the run shares (request options, what to show, where the bodies go).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ClientTraces, type FieldLine, type RequestOptions, bypassesProxy, parseProxyUrl, proxyFromEnvironment } from '../index.js';
import { CommandError } from './get-errors.js';
import { checkWriteOut } from './get-report.js';
import { UsageError, openTraceOrSay, parseNumber, withUsageErrors } from './options.js';

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
} as const;

export interface Job {
  url: string;
  /** -o FILE; with -O, taken from the URL when the job runs; undefined: stdout. */
  output: string | undefined;
  remoteName: boolean;
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

function jobsFrom(urls: string[], outputs: string[], remoteName: boolean): Job[] {
  if (remoteName && outputs.length > 0) throw new UsageError('use -o or -O, not both');
  if (outputs.length > 0 && outputs.length !== urls.length)
    throw new UsageError(`give one -o per URL (${urls.length} URLs, ${outputs.length} -o)`);
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
    throw new CommandError(
      'read-failed',
      `cannot read ${what} ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
}

/**
 * The request content of -d, --data-binary and --json, and the fields that describe it. As in curl,
 * -d @FILE drops the file's line breaks, several -d are joined with '&', and JSON pieces are
 * concatenated.
 */
async function requestContent(values: {
  data?: string[];
  'data-binary'?: string[];
  json?: string[];
}): Promise<{ body: Buffer; fields: FieldLine[] } | null> {
  const forms = [
    ...(values.data ?? []).map((value) => ({ value, exact: false })),
    ...(values['data-binary'] ?? []).map((value) => ({ value, exact: true })),
  ];
  const json = values.json ?? [];
  if (forms.length > 0 && json.length > 0) throw new UsageError('use --json or -d/--data-binary, not both');
  if (json.length > 0) {
    const pieces = await Promise.all(
      json.map((value) => (value.startsWith('@') ? readArgumentFile(value, '--json') : Buffer.from(value, 'utf8'))),
    );
    return {
      body: Buffer.concat(pieces),
      fields: [
        ['Content-Type', 'application/json'],
        ['Accept', 'application/json'],
      ],
    };
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

/** The request options every URL of the command line shares. */
async function requestOptionsFrom(values: ParsedValues): Promise<RequestOptions> {
  const maxTime = parseNumber(values['max-time'], '--max-time', { min: 0.001, max: 2_000_000, integer: false });
  const connectTimeout = parseNumber(values['connect-timeout'], '--connect-timeout', { min: 0.001, max: 2_000_000, integer: false });
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
    ...(connectTimeout !== undefined && { connectTimeoutMs: connectTimeout * 1000 }),
    ...(maxFileSize !== undefined && { maxBodyBytes: maxFileSize }),
    ...(values.insecure && { insecure: true }),
    ...(values['http2-prior-knowledge'] ? { httpVersion: '2-prior-knowledge' as const } : values.http2 && { httpVersion: '2' as const }),
    ...(ca && { ca }),
    ...(values.location && { followRedirects: true }),
    ...(maxRedirects !== undefined && { maxRedirects }),
    ...(values.compressed && { decompress: true }),
    ...(values['limit-rate'] !== undefined && { maxBytesPerSecond: parseRate(values['limit-rate']) }),
    ...(retries !== undefined && { retries }),
    ...(retryDelay !== undefined && { retryDelayMs: retryDelay * 1000 }),
  };
}

export async function parseSettings(args: string[]): Promise<Settings | 'help'> {
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
  return new ClientTraces(openTraceOrSay(file ?? null, parseNumber(bodyBytes, '--trace-body', { max: 1024 * 1024 }) ?? 0));
}
