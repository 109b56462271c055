/**
 * The probes of `sockhttp check`: each sends exact bytes to the server under test, looks at exactly
 * what came back, and gives a verdict with the RFC section behind it. Together they catch the
 * classic mistakes of a lab web server by name: no Content-Length and no close, a body on HEAD,
 * "\n" instead of "\r\n", 200 for a missing file, serving "../".
 *
 * Every probe is bounded in time and memory (see wire.ts and answer.ts) and talks only to the host
 * and port of the URL it was given.
 */
import { randomBytes } from 'node:crypto';
import { escapeBytes } from '../core/trace.js';
import type { ParsedAnswer, ParsedResponse } from './answer.js';
import { MAX_KEPT_BYTES, type Target, type WireResult, exchange, exchangeInTurn, requestBytes } from './wire.js';

export type Verdict = 'PASS' | 'WARN' | 'FAIL' | 'SKIP';

export interface ProbeResult {
  id: string;
  verdict: Verdict;
  /** What was sent, in short. */
  sent: string;
  /** What came back, in short, and why that earns the verdict. */
  received: string;
  rfc: string;
}

export interface CheckOptions {
  /** How long one probe waits for an answer. */
  probeMs: number;
  /** How long an incomplete request is held open to see whether the server gives up on it. */
  slowMs: number;
  /** Called with each verdict as soon as it is known, so a report can be shown as it is made. */
  onResult?: (result: ProbeResult) => void;
}

/**
 * Text the server chose — its status line, reason phrase, field values — made safe to print: a
 * hostile server must not move the cursor, recolour the terminal or disguise the report (escape
 * sequences, C1 controls, bidirectional overrides). The parser decodes such text as latin1, so
 * this recovers the bytes, shows valid UTF-8 as letters and escapes everything else.
 */
const shown = (serverText: string) => escapeBytes(Buffer.from(serverText, 'latin1'));

export const describeResponse = (response: ParsedResponse | undefined) =>
  response === undefined ? 'no response' : `${response.status} ${shown(response.reason)}`.trim();

export function describeWire(result: WireResult, answer: ParsedAnswer): string {
  if (result.connectError !== null) return `cannot connect (${escapeBytes(Buffer.from(result.connectError))})`;
  if (answer.error !== null) return `a malformed response (${answer.error.message})${stoppedReading(result)}`;
  if (answer.responses.length === 0)
    return result.closed ? 'the connection closed without a response' : result.timedOut ? 'no response in time' : 'no response';
  return `${describeResponse(answer.responses[0])}${stoppedReading(result)}`;
}

/** Said when an exchange stopped listening before the server closed or time ran out. */
const stoppedReading = (result: WireResult) =>
  result.truncated ? `, then more than ${MAX_KEPT_BYTES / (1024 * 1024)} MiB that no response accounts for (check stopped reading)` : '';

/**
 * How many bytes the first head of `bytes` takes (up to and including its empty line, or all the
 * bytes when there is none), how many of its lines end with a lone LF, and whether an empty line
 * ended it. The head is walked line by line: a blank line in the body ("\n\n" in HTML) is not the
 * end of the head. (Exported for `sockhttp grade`, which reads request heads the same way.)
 */
export function readLineEndings(bytes: Buffer): { headBytes: number; bareLineFeeds: number; hasEmptyLine: boolean } {
  let bareLineFeeds = 0;
  let lineStart = 0;
  for (;;) {
    const lineFeed = bytes.indexOf(0x0a, lineStart);
    if (lineFeed === -1) return { headBytes: bytes.length, bareLineFeeds, hasEmptyLine: false };
    const isBare = lineFeed === 0 || bytes[lineFeed - 1] !== 0x0d;
    if (isBare) bareLineFeeds++;
    if ((isBare ? lineFeed : lineFeed - 1) === lineStart) return { headBytes: lineFeed + 1, bareLineFeeds, hasEmptyLine: true };
    lineStart = lineFeed + 1;
  }
}

/** The shared first exchange: a plain GET of the URL, read until the response is complete or the server closes. */
export interface BaseExchange {
  request: string;
  result: WireResult;
  answer: ParsedAnswer;
  response: ParsedResponse | undefined;
}

export async function get(
  target: Target,
  options: CheckOptions,
  extraFields: Array<[string, string]> = [],
  path = target.path,
  method = 'GET',
): Promise<BaseExchange> {
  const request = requestBytes(method, path, [['Host', target.authority], ['User-Agent', 'sockhttp-check'], ...extraFields]);
  const result = await exchange(target, request, { waitMs: options.probeMs, methods: [method], stopWhenAnswered: true });
  return { request, result, answer: result.answer, response: result.answer.responses[0] };
}

const firstLine = (request: string) => request.slice(0, request.indexOf('\r\n'));

export async function runProbes(target: Target, options: CheckOptions): Promise<ProbeResult[]> {
  const base = await get(target, options);
  const results: ProbeResult[] = [];
  const add = (id: string, verdict: Verdict, sent: string, received: string, rfc: string) => {
    const result: ProbeResult = { id, verdict, sent, received, rfc };
    results.push(result);
    options.onResult?.(result);
  };

  if (base.result.connectError !== null) {
    add(
      'connect',
      'FAIL',
      `connect to ${target.host}:${target.port}`,
      `cannot connect (${escapeBytes(Buffer.from(base.result.connectError))})`,
      'RFC 9112 §9.1',
    );
    return results;
  }
  judgeBaseExchange(base, add);
  const response = base.response;
  // A mistyped file name answers 404 with a perfectly good head: grading the server on it would
  // report a pass for a page that is not there. The URL itself must answer 2xx first.
  if (response !== undefined && (response.status < 200 || response.status > 299)) {
    const reason = response.reason === '' ? '' : ` ${shown(response.reason)}`;
    add(
      'target',
      'FAIL',
      firstLine(base.request),
      `the URL answered ${response.status}${reason}, not 2xx: check the path (the other probes need a page that is there)`,
      'RFC 9110 §15.3',
    );
    return results;
  }

  await probeHead(target, options, base, add);
  await probeNotFound(target, options, add);
  await probeMalformed(target, options, add);
  await probeHostRequired(target, options, add);
  await probeKeepAlive(target, options, add);
  await probePipelining(target, options, add);
  await probeConnectionClose(target, options, add);
  await probeTraversal(target, options, add);
  await probeConditional(target, options, response, add);
  await probeRanges(target, options, response, add);
  await probeStalledClient(target, options, add);
  // Last, because it holds a connection for a long time: a server that serves one connection at a
  // time would make every other probe wait for it.
  await probeSlowRequest(target, options, add);
  return results;
}

/** The verdicts read from the first plain GET: status-line, line-endings, framing, content-length, date, content-type. */
export function judgeBaseExchange(base: BaseExchange, add: Add): void {
  const sentGet = firstLine(base.request);
  // status-line: HTTP-version SP status-code SP [reason-phrase], where
  // reason-phrase = *( HTAB / SP / VCHAR / obs-text ): no control characters.
  const statusLine = base.result.bytes.toString('latin1', 0, Math.max(0, base.result.bytes.indexOf(0x0a)));
  const statusLineText = statusLine.endsWith('\r') ? statusLine.slice(0, -1) : statusLine;
  if (/^HTTP\/1\.[01] [1-5]\d\d(?: [\t\x20-\x7e\x80-\xff]*)?$/.test(statusLineText)) {
    add('status-line', 'PASS', sentGet, `"${shown(statusLineText)}"`, 'RFC 9112 §4');
  } else {
    add(
      'status-line',
      'FAIL',
      sentGet,
      base.result.bytes.length === 0
        ? describeWire(base.result, base.answer)
        : `"${shown(statusLineText.slice(0, 60))}" is not an HTTP/1.x status line`,
      'RFC 9112 §4',
    );
  }

  // line-endings: a sender ends every line of the head with CRLF; a lone LF is the classic mistake.
  const { headBytes, bareLineFeeds } = readLineEndings(base.result.bytes);
  if (headBytes === 0) add('line-endings', 'SKIP', sentGet, 'no response head', 'RFC 9112 §2.2');
  else if (bareLineFeeds > 0)
    add('line-endings', 'FAIL', sentGet, `${bareLineFeeds} line(s) end with "\\n" instead of "\\r\\n"`, 'RFC 9112 §2.2');
  else add('line-endings', 'PASS', sentGet, 'every line ends with "\\r\\n"', 'RFC 9112 §2.2');

  const response = base.response;
  if (response === undefined) {
    add('response', 'FAIL', sentGet, describeWire(base.result, base.answer), 'RFC 9112 §4');
  } else {
    judgeFraming(base, add, sentGet);
    const date = response.fields.get('date');
    add(
      'date',
      date === undefined ? 'FAIL' : 'PASS',
      sentGet,
      date === undefined ? 'no Date field (an origin server with a clock must send one)' : `Date: ${shown(date)}`,
      'RFC 9110 §6.6.1',
    );
    const contentType = response.fields.get('content-type');
    add(
      'content-type',
      contentType === undefined ? 'WARN' : 'PASS',
      sentGet,
      contentType === undefined ? 'no Content-Type: the client has to guess' : `Content-Type: ${shown(contentType)}`,
      'RFC 9110 §8.3',
    );
  }
}

const halfRequest = (target: Target) => `GET ${target.path} HTTP/1.1\r\nHost: ${target.authority}\r\n`;
const HALF_REQUEST_SENT = '"GET … HTTP/1.1\\r\\nHost: …\\r\\n" and nothing more';

export type Add = (id: string, verdict: Verdict, sent: string, received: string, rfc: string) => void;

/** framing and content-length: can a client tell where the body ends, and is the length right? */
function judgeFraming(base: BaseExchange, add: Add, sentGet: string): void {
  const response = base.response!;
  const contentLength = response.fields.get('content-length');
  const isChunked = (response.fields.get('transfer-encoding') ?? '').toLowerCase().includes('chunked');
  if (contentLength === undefined && !isChunked) {
    if (base.result.closed)
      add('framing', 'PASS', sentGet, 'no Content-Length, and the server closed the connection to end the body', 'RFC 9112 §6.3');
    else add('framing', 'FAIL', sentGet, 'no Content-Length and no close: the client cannot tell where the body ends', 'RFC 9112 §6.3');
    return;
  }
  add(
    'framing',
    'PASS',
    sentGet,
    contentLength !== undefined ? `Content-Length: ${contentLength}` : 'Transfer-Encoding: chunked',
    'RFC 9112 §6.3',
  );
  if (contentLength === undefined) return;
  if (!response.complete) {
    add('content-length', 'FAIL', sentGet, `Content-Length: ${contentLength}, but only ${response.bodyLength} bytes came`, 'RFC 9110 §8.6');
  } else if (base.answer.extraBytes > 0) {
    add(
      'content-length',
      'FAIL',
      sentGet,
      `${base.answer.extraBytes} bytes more than Content-Length: ${contentLength} followed the body`,
      'RFC 9110 §8.6',
    );
  } else {
    add('content-length', 'PASS', sentGet, `${response.bodyLength} body bytes, as announced`, 'RFC 9110 §8.6');
  }
}

async function probeHead(target: Target, options: CheckOptions, base: BaseExchange, add: Add): Promise<void> {
  const request = requestBytes('HEAD', target.path, [['Host', target.authority]]);
  // Wait a moment past the head: a body sent by mistake arrives right behind it.
  const result = await exchange(target, request, { waitMs: Math.min(options.probeMs, 1_000), methods: ['HEAD'] });
  const answer = result.answer;
  const response = answer.responses[0];
  const sent = firstLine(request);
  if (response === undefined) {
    add('head', 'FAIL', sent, describeWire(result, answer), 'RFC 9110 §9.3.2');
    return;
  }
  if (answer.extraBytes > 0) {
    add('head', 'FAIL', sent, `${response.status} followed by ${answer.extraBytes} bytes: a body on HEAD`, 'RFC 9110 §9.3.2');
  } else if (base.response !== undefined && Math.floor(base.response.status / 100) !== Math.floor(response.status / 100)) {
    add('head', 'WARN', sent, `${response.status}, where GET gave ${base.response.status}`, 'RFC 9110 §9.3.2');
  } else {
    add('head', 'PASS', sent, `${describeResponse(response)} and no body`, 'RFC 9110 §9.3.2');
  }
}

export async function probeNotFound(target: Target, options: CheckOptions, add: Add): Promise<void> {
  const missing = `/sockhttp-check-${randomBytes(6).toString('hex')}.html`;
  const { request, result, answer, response } = await get(target, options, [], missing);
  const sent = firstLine(request);
  if (response === undefined) add('not-found', 'FAIL', sent, describeWire(result, answer), 'RFC 9110 §15.5.5');
  else if (response.status === 404) add('not-found', 'PASS', sent, describeResponse(response), 'RFC 9110 §15.5.5');
  else if (response.status >= 200 && response.status < 300)
    add('not-found', 'FAIL', sent, `${describeResponse(response)} for a file that does not exist`, 'RFC 9110 §15.5.5');
  else add('not-found', 'WARN', sent, `${describeResponse(response)} rather than 404`, 'RFC 9110 §15.5.5');
}

async function probeMalformed(target: Target, options: CheckOptions, add: Add): Promise<void> {
  const request = 'GET this is not a request line\r\n\r\n';
  const result = await exchange(target, request, { waitMs: options.probeMs, methods: ['GET'], stopWhenAnswered: true });
  const answer = result.answer;
  const response = answer.responses[0];
  const sent = '"GET this is not a request line"';
  if (response?.status === 400) add('malformed', 'PASS', sent, '400 Bad Request', 'RFC 9112 §3');
  else if (response !== undefined && response.status >= 200 && response.status < 300)
    add('malformed', 'FAIL', sent, `${describeResponse(response)} to a malformed request`, 'RFC 9112 §3');
  else if (response !== undefined) add('malformed', 'WARN', sent, `${describeResponse(response)} rather than 400`, 'RFC 9112 §3');
  else if (result.timedOut)
    add('malformed', 'FAIL', sent, `no answer in ${options.probeMs / 1000} s: the server hangs on a malformed request`, 'RFC 9112 §3');
  else add('malformed', 'WARN', sent, result.closed ? 'the connection closed without a 400' : describeWire(result, answer), 'RFC 9112 §3');
}

async function probeHostRequired(target: Target, options: CheckOptions, add: Add): Promise<void> {
  const request = requestBytes('GET', target.path, []);
  const result = await exchange(target, request, { waitMs: options.probeMs, methods: ['GET'], stopWhenAnswered: true });
  const answer = result.answer;
  const response = answer.responses[0];
  const sent = `${firstLine(request)} without Host`;
  if (response?.status === 400) add('host-required', 'PASS', sent, '400 Bad Request', 'RFC 9112 §3.2');
  else if (response !== undefined && response.status < 400)
    add('host-required', 'FAIL', sent, `${describeResponse(response)}: an HTTP/1.1 request without Host must get 400`, 'RFC 9112 §3.2');
  else
    add(
      'host-required',
      'WARN',
      sent,
      response === undefined ? describeWire(result, answer) : `${describeResponse(response)} rather than 400`,
      'RFC 9112 §3.2',
    );
}

async function probeKeepAlive(target: Target, options: CheckOptions, add: Add): Promise<void> {
  // Two requests on one connection, the second sent only after the first answer arrives.
  const one = requestBytes('GET', target.path, [['Host', target.authority]]);
  const result = await exchangeInTurn(target, [one, one], options.probeMs);
  const sent = `${firstLine(one)}, twice on one connection`;
  if (result.answered === 2) add('keep-alive', 'PASS', sent, 'both answered on the same connection', 'RFC 9112 §9.3');
  else if (result.answered === 1)
    add('keep-alive', 'WARN', sent, 'the connection closed after the first response: no persistent connections', 'RFC 9112 §9.3');
  else add('keep-alive', 'FAIL', sent, 'the first request was not answered', 'RFC 9112 §9.3');
}

async function probePipelining(target: Target, options: CheckOptions, add: Add): Promise<void> {
  const missing = `/sockhttp-check-${randomBytes(6).toString('hex')}.html`;
  const both = requestBytes('GET', target.path, [['Host', target.authority]]) + requestBytes('GET', missing, [['Host', target.authority]]);
  const result = await exchange(target, both, { waitMs: options.probeMs, methods: ['GET', 'GET'], stopWhenAnswered: true });
  const answer = result.answer;
  const statuses = answer.responses.map((response) => response.status);
  const sent = `GET ${target.path} and GET ${missing} in one write`;
  if (statuses.length === 2 && statuses[1] === 404 && statuses[0] !== 404)
    add('pipelining', 'PASS', sent, `${statuses.join(' then ')}, in order`, 'RFC 9112 §9.3.2');
  else if (statuses.length === 2 && statuses[0] === 404 && statuses[1] !== 404)
    add('pipelining', 'FAIL', sent, `${statuses.join(' then ')}: answered out of order`, 'RFC 9112 §9.3.2');
  else if (statuses.length === 2) add('pipelining', 'WARN', sent, `${statuses.join(' then ')}: cannot tell the order`, 'RFC 9112 §9.3.2');
  else if (statuses.length === 1)
    add(
      'pipelining',
      'WARN',
      sent,
      result.closed ? 'only the first was answered before the connection closed' : 'only the first response arrived in time',
      'RFC 9112 §9.3.2',
    );
  else add('pipelining', 'FAIL', sent, describeWire(result, answer), 'RFC 9112 §9.3.2');
}

async function probeConnectionClose(target: Target, options: CheckOptions, add: Add): Promise<void> {
  const request = requestBytes('GET', target.path, [
    ['Host', target.authority],
    ['Connection', 'close'],
  ]);
  // Waits for the close itself: a server that ignores "close" leaves the connection open.
  const result = await exchange(target, request, { waitMs: Math.min(options.probeMs, 3_000), methods: ['GET'] });
  const answer = result.answer;
  const sent = `${firstLine(request)} with Connection: close`;
  if (answer.responses.length === 0) add('connection-close', 'FAIL', sent, describeWire(result, answer), 'RFC 9112 §9.6');
  else if (result.closed)
    add('connection-close', 'PASS', sent, `${describeResponse(answer.responses[0])}, then the server closed`, 'RFC 9112 §9.6');
  else if (result.truncated) add('connection-close', 'FAIL', sent, describeWire(result, answer), 'RFC 9112 §9.6');
  else add('connection-close', 'FAIL', sent, `${describeResponse(answer.responses[0])}, but the connection stayed open`, 'RFC 9112 §9.6');
}

async function probeTraversal(target: Target, options: CheckOptions, add: Add): Promise<void> {
  const attempts = [
    '/../../../../../../etc/passwd',
    '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd',
    '/..\\..\\..\\..\\..\\etc\\passwd',
  ];
  for (const path of attempts) {
    const { response } = await get(target, options, [], path);
    if (response !== undefined && response.status === 200 && /root:[^:\n]*:0:0:/.test(response.body.toString('latin1'))) {
      add(
        'traversal',
        'FAIL',
        `GET ${path}`,
        '200 with the contents of /etc/passwd: files outside the served folder are readable',
        'RFC 9110 §17.3',
      );
      return;
    }
  }
  add(
    'traversal',
    'PASS',
    `GET ${attempts[0]} and ${attempts.length - 1} encoded forms`,
    'no file outside the served folder came back',
    'RFC 9110 §17.3',
  );
}

async function probeConditional(target: Target, options: CheckOptions, base: ParsedResponse | undefined, add: Add): Promise<void> {
  const etag = base?.fields.get('etag');
  const lastModified = base?.fields.get('last-modified');
  if (base === undefined || base.status !== 200 || (etag === undefined && lastModified === undefined)) {
    add(
      'conditional',
      'SKIP',
      'GET with If-None-Match / If-Modified-Since',
      'the page has no ETag or Last-Modified to revalidate',
      'RFC 9110 §13.1',
    );
    return;
  }
  const field: [string, string] = etag !== undefined ? ['If-None-Match', etag] : ['If-Modified-Since', lastModified!];
  const { response } = await get(target, options, [field]);
  const sent = `GET ${target.path} with ${field[0]}: ${shown(field[1])}`;
  if (response?.status === 304)
    add(
      'conditional',
      response.bodyLength === 0 ? 'PASS' : 'FAIL',
      sent,
      response.bodyLength === 0 ? '304 Not Modified' : '304 with a body',
      'RFC 9110 §13.1',
    );
  else add('conditional', 'WARN', sent, `${describeResponse(response)}: the unchanged page was sent again`, 'RFC 9110 §13.1');
}

async function probeRanges(target: Target, options: CheckOptions, base: ParsedResponse | undefined, add: Add): Promise<void> {
  if (base === undefined || base.status !== 200 || !(base.fields.get('accept-ranges') ?? '').includes('bytes')) {
    add('range', 'SKIP', 'GET with Range', 'the server does not claim Accept-Ranges: bytes', 'RFC 9110 §14');
    return;
  }
  const { response } = await get(target, options, [['Range', 'bytes=0-0']]);
  const contentRange = response?.fields.get('content-range');
  if (response?.status === 206 && response.bodyLength === 1 && contentRange?.startsWith('bytes 0-0/')) {
    add('range', 'PASS', `GET ${target.path} with Range: bytes=0-0`, `206, ${shown(contentRange)}, 1 byte`, 'RFC 9110 §14.2');
  } else {
    add(
      'range',
      'FAIL',
      `GET ${target.path} with Range: bytes=0-0`,
      `${describeResponse(response)}${contentRange ? `, ${shown(contentRange)}` : ''}, ${response?.bodyLength ?? 0} bytes`,
      'RFC 9110 §14.2',
    );
  }
  const beyond = await get(target, options, [['Range', 'bytes=999999999999-']]);
  const unsatisfiable = beyond.response;
  const unsatisfiableRange = unsatisfiable?.fields.get('content-range') ?? '';
  if (unsatisfiable?.status === 416 && unsatisfiableRange.startsWith('bytes */')) {
    add('range-416', 'PASS', 'Range: bytes=999999999999-', `416, ${shown(unsatisfiableRange)}`, 'RFC 9110 §15.5.17');
  } else {
    add(
      'range-416',
      'WARN',
      'Range: bytes=999999999999-',
      `${describeResponse(unsatisfiable)} rather than 416 with Content-Range: bytes */SIZE`,
      'RFC 9110 §15.5.17',
    );
  }
}

/**
 * `stalledBytes`: what the stalled client sends (half a request by default). `sockhttp grade` sends
 * nothing at all, because a lab server that does one `recv` would answer half a request at once.
 */
export async function probeStalledClient(
  target: Target,
  options: CheckOptions,
  add: Add,
  stalledBytes = halfRequest(target),
): Promise<void> {
  // A connection sits on half a request, held open for as long as this probe lasts; meanwhile
  // another client must get an answer. Only whether response bytes come is judged here (whether a
  // body ends properly is the framing probe's business).
  const holder = new AbortController();
  const held = exchange(target, stalledBytes, { waitMs: options.probeMs * 2, methods: ['GET'], signal: holder.signal });
  await new Promise((resolve) => setTimeout(resolve, 100)); // let the held connection arrive first
  const { result, answer } = await get(target, options);
  holder.abort();
  await held;
  const sent = `GET ${target.path} while another connection sits on half a request`;
  if (result.firstByteMs !== null)
    add('concurrency', 'PASS', sent, `${describeWire(result, answer)}: one stalled client does not block others`, 'RFC 9112 §9');
  else
    add(
      'concurrency',
      'FAIL',
      sent,
      `no answer in ${options.probeMs / 1000} s: a stalled client blocks everyone (one connection at a time)`,
      'RFC 9112 §9',
    );
}

async function probeSlowRequest(target: Target, options: CheckOptions, add: Add): Promise<void> {
  const result = await exchange(target, halfRequest(target), { waitMs: options.slowMs, methods: ['GET'] });
  const answer = result.answer;
  if (result.closed || answer.responses.length > 0) {
    const status = answer.responses[0]?.status;
    add(
      'slow-request',
      'PASS',
      HALF_REQUEST_SENT,
      status === undefined ? 'the server closed the connection' : `${status} then close`,
      'RFC 9112 §9.5',
    );
  } else {
    add(
      'slow-request',
      'WARN',
      HALF_REQUEST_SENT,
      `still open after ${options.slowMs / 1000} s: slow clients can hold connections forever (slowloris)`,
      'RFC 9112 §9.5',
    );
  }
}
