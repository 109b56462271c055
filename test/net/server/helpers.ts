/**
 * Helpers for the end-to-end server tests: an independent parser of response bytes (so a test never
 * judges our server with our own parser), a raw socket that can read responses one by one and tell a
 * server close from a timeout, a counting downloader, RSS sampling, and clients nobody here wrote
 * (curl, Python's http.client) driven as child processes.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { dirname, join } from 'node:path';
import { runCommand } from '../../helpers.js';

export interface ParsedResponse {
  version: string;
  status: number;
  reason: string;
  /** Field lines in order, names as received. */
  fields: Array<[string, string]>;
  /** The value of the first field line named `name` (case-insensitive). */
  field(name: string): string | undefined;
  /** The head as text, up to and without the empty line. */
  headText: string;
  body: Buffer;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const STATUS_LINE = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/;

/**
 * Parses one response starting at `offset`, framed by Content-Length (our server always sends it).
 * Returns null while incomplete; throws on bytes that are not a response.
 */
export function parseResponseAt(bytes: Buffer, offset: number, method = 'GET'): { response: ParsedResponse; end: number } | null {
  const headEnd = bytes.indexOf(HEAD_END, offset);
  if (headEnd === -1) return null;
  const headText = bytes.toString('latin1', offset, headEnd);
  const [statusLine, ...lines] = headText.split('\r\n');
  const match = STATUS_LINE.exec(statusLine!);
  if (match === null) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
  const fields = lines.map((line): [string, string] => {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`not a field line: ${JSON.stringify(line)}`);
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  const field = (name: string) => fields.find(([fieldName]) => fieldName.toLowerCase() === name.toLowerCase())?.[1];
  const status = Number(match[2]);
  if (field('transfer-encoding') !== undefined) throw new Error('unexpected Transfer-Encoding in a response of ours');
  const hasNoBody = method === 'HEAD' || status < 200 || status === 204 || status === 304;
  const contentLength = field('content-length');
  let bodyLength = 0;
  if (!hasNoBody) {
    if (contentLength === undefined || !/^\d+$/.test(contentLength)) throw new Error(`missing or bad Content-Length: ${contentLength}`);
    bodyLength = Number(contentLength);
  }
  const bodyStart = headEnd + 4;
  if (bytes.length < bodyStart + bodyLength) return null;
  const response: ParsedResponse = {
    version: match[1]!,
    status,
    reason: match[3] ?? '',
    fields,
    field,
    headText,
    body: bytes.subarray(bodyStart, bodyStart + bodyLength),
  };
  return { response, end: bodyStart + bodyLength };
}

/** Every complete response in `bytes`, read against `methods` in order (GET when not given), and the bytes left over. */
export function parseResponses(bytes: Buffer, methods: string[] = []): { responses: ParsedResponse[]; rest: Buffer } {
  const responses: ParsedResponse[] = [];
  let offset = 0;
  for (let index = 0; index < 1_000 && offset < bytes.length; index++) {
    const parsed = parseResponseAt(bytes, offset, methods[index] ?? 'GET');
    if (parsed === null) break;
    responses.push(parsed.response);
    offset = parsed.end;
  }
  return { responses, rest: bytes.subarray(offset) };
}

/** Exactly one complete response and nothing after it. */
export function parseSingleResponse(bytes: Buffer, method = 'GET'): ParsedResponse {
  const { responses, rest } = parseResponses(bytes, [method]);
  if (responses.length !== 1 || rest.length !== 0) {
    throw new Error(
      `expected exactly one response, got ${responses.length} and ${rest.length} extra bytes: ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}`,
    );
  }
  return responses[0]!;
}

/**
 * A client socket that keeps every byte and can be asked, one at a time, for the next response; it
 * also tells "the server ended the connection" apart from "nothing happened before the deadline".
 */
export class RawConnection {
  readonly socket: Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #serverEnded = false;
  #closed = false;
  #error: Error | null = null;
  readonly #listeners = new Set<() => void>();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#notify();
    });
    socket.on('end', () => {
      this.#serverEnded = true;
      this.#notify();
    });
    socket.on('error', (error) => {
      this.#error = error;
      this.#notify();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#notify();
    });
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  /** True once the server has shut its side (FIN) or the socket is gone. */
  get serverEnded(): boolean {
    return this.#serverEnded || this.#closed;
  }

  /** Received bytes not yet taken by readResponse. */
  get pendingBytes(): Buffer {
    return this.#buffer;
  }

  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** The next complete response; rejects if the connection ends first or after timeoutMs. */
  async readResponse(method = 'GET', timeoutMs = 5_000): Promise<ParsedResponse> {
    let parsed: ReturnType<typeof parseResponseAt> = null;
    const ready = await this.#waitUntil(() => {
      parsed = parseResponseAt(this.#buffer, 0, method);
      return parsed !== null || this.serverEnded || this.#error !== null;
    }, timeoutMs);
    if (parsed === null) {
      const state = !ready
        ? `no complete response within ${timeoutMs} ms`
        : this.#error
          ? `error ${this.#error.message}`
          : 'the server ended the connection';
      throw new Error(`${state}; received: ${JSON.stringify(this.#buffer.toString('latin1').slice(0, 300))}`);
    }
    const { response, end } = parsed as { response: ParsedResponse; end: number };
    // Copy the body: the buffer it points into is about to be replaced.
    const body = Buffer.from(response.body);
    this.#buffer = this.#buffer.subarray(end);
    return { ...response, body };
  }

  /** Resolves true once the server ends the connection, false if it is still open after timeoutMs. */
  waitForServerEnd(timeoutMs = 5_000): Promise<boolean> {
    return this.#waitUntil(() => this.serverEnded, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  #waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (condition()) {
        resolve(true);
        return;
      }
      const check = () => {
        if (!condition()) return;
        finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (result: boolean) => {
        clearTimeout(timer);
        this.#listeners.delete(check);
        resolve(result);
      };
      this.#listeners.add(check);
    });
  }
}

export interface DownloadResult {
  status: number;
  head: ParsedResponse;
  /** Body bytes received (everything after the head, until the server closed). */
  bodyBytes: number;
  /** The body's SHA-256 in hex; '' when hashing was turned off. */
  sha256: string;
  /** True if the server closed the connection; false if we gave up at the deadline. */
  closedByServer: boolean;
}

export interface DownloadOptions {
  timeoutMs?: number;
  /** Leave out `Connection: close`, so only the server decides when the connection ends. */
  keepAlive?: boolean;
  /** Hash the body (default true); off for very large downloads, where only the count matters. */
  hash?: boolean;
  /** Called after each chunk of body bytes, with the running total; may pause the socket. */
  onBody?: (totalBodyBytes: number, socket: Socket) => void;
}

/**
 * GETs `target` (with `Connection: close` unless keepAlive) on a raw socket and counts (and hashes) the body bytes
 * without keeping them, so a file of any size can be checked.
 */
export function download(port: number, target: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const hash = options.hash === false ? null : createHash('sha256');
    let headBuffer: Buffer = Buffer.alloc(0);
    let head: ParsedResponse | null = null;
    let bodyBytes = 0;
    let closedByServer = false;
    const timer = setTimeout(() => socket.destroy(), options.timeoutMs ?? 60_000);
    const takeBody = (chunk: Buffer) => {
      if (chunk.length === 0) return;
      bodyBytes += chunk.length;
      hash?.update(chunk);
      options.onBody?.(bodyBytes, socket);
    };
    const connection = options.keepAlive ? '' : 'Connection: close\r\n';
    socket.on('connect', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${connection}\r\n`));
    socket.on('data', (chunk: Buffer) => {
      if (head !== null) {
        takeBody(chunk);
        return;
      }
      headBuffer = Buffer.concat([headBuffer, chunk]);
      const headEnd = headBuffer.indexOf(HEAD_END);
      if (headEnd === -1) return;
      // Parse the head alone (as a HEAD response: no body expected), then count what follows it.
      head = parseResponseAt(headBuffer.subarray(0, headEnd + 4), 0, 'HEAD')!.response;
      takeBody(headBuffer.subarray(headEnd + 4));
      headBuffer = Buffer.alloc(0);
    });
    socket.on('end', () => (closedByServer = true));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET') reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (head === null) {
        reject(new Error(`no response head; received ${JSON.stringify(headBuffer.toString('latin1').slice(0, 200))}`));
        return;
      }
      resolve({ status: head.status, head, bodyBytes, sha256: hash?.digest('hex') ?? '', closedByServer });
    });
  });
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The resident set size of a process in bytes, from /proc/PID/status (Linux); null if unreadable. */
export function readRssBytes(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

export interface RssSampler {
  /** Stops sampling and returns the samples (bytes). */
  stop(): number[];
  samples(): number[];
}

/** Samples a process's RSS every intervalMs, at most maxSamples times (it stops by itself after that). */
export function sampleRss(pid: number, intervalMs = 100, maxSamples = 3_000): RssSampler {
  const samples: number[] = [];
  const take = () => {
    const rss = readRssBytes(pid);
    if (rss !== null) samples.push(rss);
    if (samples.length >= maxSamples) clearInterval(timer);
  };
  const timer = setInterval(take, intervalMs);
  take();
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
    samples: () => samples,
  };
}

/** A fixed modification time for fixtures, so Last-Modified can be checked exactly. */
export const FIXTURE_MTIME = new Date('2021-03-04T05:06:07Z');
export const FIXTURE_MTIME_HTTP = 'Thu, 04 Mar 2021 05:06:07 GMT';

/** Writes `files` (relative path → contents) under `root`, every file with FIXTURE_MTIME. */
export function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [relativePath, contents] of Object.entries(files)) {
    const path = join(root, relativePath);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, contents);
    utimesSync(path, FIXTURE_MTIME, FIXTURE_MTIME);
  }
}

/** `bytes` of a repeating, position-dependent pattern: a misplaced or missing chunk changes the hash. */
export function patternBytes(length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + (i >>> 8) * 7 + (i >>> 16)) & 0xff;
  return bytes;
}

export interface CurlResult {
  exitCode: number | null;
  responses: ParsedResponse[];
  stdout: Buffer;
  stderr: string;
}

/** Runs `curl -s -S -i ARGS…`; the responses it prints (with -i) are parsed, interim 1xx ones included. */
export async function curl(args: string[], method = 'GET'): Promise<CurlResult> {
  const result = await runCommand('curl', ['-s', '-S', '-i', '--max-time', '20', ...args], { timeoutMs: 30_000 });
  const methods = Array.from({ length: 10 }, () => method);
  const { responses } = parseResponses(result.stdout, methods);
  return { exitCode: result.code, responses, stdout: result.stdout, stderr: result.stderr };
}

export interface PythonRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface PythonResponse {
  status: number;
  version: number;
  headers: Array<[string, string]>;
  body: Buffer;
  /** The local port of the connection after the response, or null if http.client closed it. */
  localPort: number | null;
}

/** The Python side: http.client (stdlib), requests in order on one HTTPConnection, answers as JSON. */
const PYTHON_CLIENT = `
import base64, http.client, json, sys
spec = json.loads(sys.argv[1])
connection = http.client.HTTPConnection('127.0.0.1', spec['port'], timeout=10)
answers = []
for request in spec['requests']:
    body = request.get('body')
    connection.request(request['method'], request['path'], body=None if body is None else body.encode(), headers=request.get('headers', {}))
    response = connection.getresponse()
    data = response.read()
    answers.append({
        'status': response.status,
        'version': response.version,
        'headers': response.getheaders(),
        'body': base64.b64encode(data).decode(),
        'localPort': connection.sock.getsockname()[1] if connection.sock else None,
    })
connection.close()
print(json.dumps(answers))
`;

/** Sends `requests` in order over one http.client connection (it reconnects by itself if the server closes). */
export async function pythonRequests(port: number, requests: PythonRequest[]): Promise<PythonResponse[]> {
  const result = await runCommand('python3', ['-c', PYTHON_CLIENT, JSON.stringify({ port, requests })], { timeoutMs: 30_000 });
  if (result.code !== 0) throw new Error(`python3 failed (${result.code}): ${result.stderr}`);
  const answers = JSON.parse(result.stdout.toString('utf8')) as Array<Omit<PythonResponse, 'body'> & { body: string }>;
  return answers.map((answer) => ({ ...answer, body: Buffer.from(answer.body, 'base64') }));
}

/** The value of a header in a Python answer (case-insensitive). */
export function pythonField(response: PythonResponse, name: string): string | undefined {
  return response.headers.find(([fieldName]) => fieldName.toLowerCase() === name.toLowerCase())?.[1];
}

/** An RFC 9110 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT". */
export const IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
