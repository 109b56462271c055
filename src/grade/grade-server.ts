/**
 * Grading the server labs (simplest-server, web-server): the student's program is started on the
 * port (13331 by default, as the lab says), the grader waits until it listens, then talks to it like
 * a browser, with the exchanges and probes of `sockhttp check` (src/check/): the first GET and its
 * status-line verdict, not-found, and the stalled-client probe for concurrency. A server already
 * running can be graded by URL instead.
 */
import { randomBytes } from 'node:crypto';
import {
  type Add,
  type BaseExchange,
  type CheckOptions,
  type ProbeResult,
  describeWire,
  get,
  judgeBaseExchange,
  probeNotFound,
  probeStalledClient,
} from '../check/probes.js';
import { type Target, exchange, requestBytes } from '../check/wire.js';
import {
  GRADE_HOST,
  type GradeOptions,
  type GradeReport,
  GradeSetupError,
  commandFor,
  environmentFor,
  finishReport,
  lastErrorLine,
  summarizeProgram,
} from './grading.js';
import { shownBytes } from './request-judge.js';
import { bodyOf, fieldValue, judgeHead, splitLeniently } from './response-judge.js';
import { RUBRICS, Scorecard } from './rubrics.js';
import { Program, describeExit, freePort, isPortFree, waitUntilListening } from './run-program.js';

type ServerLab = 'simplest-server' | 'web-server';

/** How long a server has to print the request it answered. */
const PRINT_WAIT_MS = 1_000;

export function targetFor(host: string, port: number, path: string): Target {
  return { host, port, isTls: false, insecure: false, authority: `${host}:${port}`, path };
}

/** Runs check's probes one at a time and hands back each result. */
async function probe(run: (add: Add) => void | Promise<void>): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  await run((id, verdict, sent, received, rfc) => results.push({ id, verdict, sent, received, rfc }));
  return results;
}

export async function gradeServerLab(lab: ServerLab, options: GradeOptions, urlTarget: Target | null): Promise<GradeReport> {
  const rubric = RUBRICS[lab];
  const started = performance.now();
  const card = new Scorecard(rubric);
  let program: Program | null = null;
  let command: string[] | null = null;
  let target: Target;
  let runningAtEnd = false;
  const skip = new Set(options.skip);
  if (urlTarget !== null) {
    target = urlTarget;
    skip.add('listening');
  } else {
    const port = options.port === 0 ? await freePort() : options.port;
    if (!(await isPortFree(port)))
      throw new GradeSetupError(`port ${port} is already in use by another program: stop it, or choose another with --port`);
    const values = { host: GRADE_HOST, port, file: options.pageName };
    command = commandFor(rubric, options.command!, values, options.appendArguments);
    target = targetFor(GRADE_HOST, port, lab === 'web-server' ? `/${encodeURI(options.pageName)}` : '/');
    program = new Program(command, { cwd: options.cwd, env: environmentFor(values) });
  }
  try {
    let isListening = true;
    if (program !== null) {
      const outcome = await waitUntilListening(program, target.port, options.startTimeoutMs);
      isListening = outcome.listening;
      if (outcome.listening) card.pass('listening', `listening on port ${target.port} after ${(outcome.afterMs / 1000).toFixed(1)} s`);
      else card.fail('listening', `the program ${outcome.why}${lastErrorLine(program)}`);
    }
    if (isListening) {
      const checkOptions: CheckOptions = { probeMs: options.timeoutMs, slowMs: options.timeoutMs };
      if (lab === 'simplest-server') await gradeSimplestServer(card, target, checkOptions, program);
      else await gradeWebServer(card, target, checkOptions, options.page, skip);
    }
  } finally {
    runningAtEnd = program?.exit === null;
    await program?.stop();
  }
  const why =
    program === null
      ? 'not graded'
      : `not graded: the program ${program.startError !== null ? `could not be started (${program.startError})` : describeExit(program.exit)}`;
  // A server that died on the way fails the items after it: each says so.
  const items = card
    .finish(why, skip)
    .map((item) =>
      item.passed || program === null || runningAtEnd || item.id === 'listening' || item.verdict === why
        ? item
        : { ...item, verdict: `${item.verdict} — the program ${describeExit(program.exit)}${lastErrorLine(program)}` },
    );
  return finishReport(rubric, {
    command,
    address: `${target.host}:${target.port}`,
    items,
    program: program === null ? null : summarizeProgram(program, runningAtEnd ? 'was stopped at the end of grading' : null),
    durationMs: performance.now() - started,
  });
}

/** status-line, header-lines, blank-line and crlf from the first GET, shared by both labs. */
function judgeFirstAnswer(card: Scorecard, base: BaseExchange): ReturnType<typeof splitLeniently> {
  const sent = base.request.slice(0, base.request.indexOf('\r\n'));
  const statusLine = base.result.bytes.length === 0 ? undefined : judgeStatusLine(base);
  if (statusLine === undefined) card.fail('status-line', describeWire(base.result, base.answer), sent);
  else
    card.record(
      'status-line',
      statusLine.verdict === 'PASS',
      statusLine.verdict === 'PASS' ? 'a well-formed status line' : 'not an HTTP/1.x status line',
      sent,
      statusLine.received,
    );
  const split = splitLeniently(base.result.bytes);
  if (split.statusLine === null) return split;
  const head = judgeHead(split);
  card.record('header-lines', head.headerLines.passed, head.headerLines.verdict, sent, head.headerLines.shown);
  card.record('blank-line', head.blankLine.passed, head.blankLine.verdict, sent, head.blankLine.shown);
  card.record('crlf', head.crlf.passed, head.crlf.verdict, sent, head.crlf.shown);
  return split;
}

/** check's status-line verdict, read from the first exchange. */
function judgeStatusLine(base: BaseExchange): ProbeResult | undefined {
  const results: ProbeResult[] = [];
  judgeBaseExchange(base, (id, verdict, sent, received, rfc) => results.push({ id, verdict, sent, received, rfc }));
  return results.find((result) => result.id === 'status-line');
}

async function gradeSimplestServer(card: Scorecard, target: Target, options: CheckOptions, program: Program | null): Promise<void> {
  const path = `/sockhttp-grade-${randomBytes(4).toString('hex')}`;
  const base = await get(target, options, [], path);
  const split = judgeFirstAnswer(card, base);
  if (split.statusLine !== null) {
    const body = bodyOf(base, split);
    card.record(
      'page',
      body.length > 0,
      body.length > 0 ? `a page of ${body.length} bytes after the head` : 'nothing after the head',
      `GET ${path}`,
      shownBytes(body.subarray(0, 40)),
    );
  }
  if (program === null) return;
  const requestLine = `GET ${path} HTTP/1.1`;
  for (let waited = 0; waited < PRINT_WAIT_MS && !program.stdout().includes(requestLine); waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const printed = program.stdout().includes(requestLine);
  card.record(
    'prints-request',
    printed,
    printed ? 'the request line it received is printed' : `"${requestLine}" is not in what the program printed (is its output flushed?)`,
    requestLine,
    `printed ${program.stdoutBytes} bytes`,
  );
}

async function gradeWebServer(
  card: Scorecard,
  target: Target,
  options: CheckOptions,
  page: Buffer,
  skip: ReadonlySet<string>,
): Promise<void> {
  const base = await get(target, options);
  const sent = `GET ${target.path}`;
  const split = judgeFirstAnswer(card, base);
  if (split.statusLine !== null) {
    const body = bodyOf(base, split);
    const isExact = body.equals(page);
    if (split.status === 200 && isExact)
      card.pass('hello-file', `200 and the ${page.length} bytes of the file, exactly`, sent, `${split.status}, ${body.length} bytes`);
    else if (split.status !== 200)
      card.fail('hello-file', `status ${split.status ?? '(none)'} for a file that exists`, sent, shownBytes(split.statusLine.raw));
    else
      card.fail(
        'hello-file',
        `the body is not the file: ${body.length} bytes, where the file has ${page.length}`,
        sent,
        shownBytes(body.subarray(0, 40)),
      );
    const contentType = fieldValue(split, 'content-type');
    if (contentType !== undefined && /^text\/html\b/i.test(contentType))
      card.pass('content-type', `Content-Type: ${contentType}`, sent, shownBytes(Buffer.from(contentType, 'latin1')));
    else
      card.fail(
        'content-type',
        contentType === undefined ? 'no Content-Type field: the browser has to guess' : `Content-Type: ${contentType}, not text/html`,
        sent,
      );
  }
  const notFound = (await probe((add) => probeNotFound(target, options, add)))[0]!;
  if (notFound.verdict === 'PASS') card.pass('not-found', 'a missing file gets 404 Not Found', notFound.sent, notFound.received);
  else card.fail('not-found', notFound.received, notFound.sent);
  await gradeHead(card, target, options);
  if (!skip.has('concurrency')) {
    // The stalled client sends nothing at all: a lab server that does one recv() would answer half
    // a request at once, and so never show that it serves one connection at a time.
    const concurrency = (await probe((add) => probeStalledClient(target, options, add, '')))[0]!;
    const sent = `GET ${target.path} while another connection sends nothing`;
    if (concurrency.verdict === 'PASS') card.pass('concurrency', 'a silent client does not block a second one', sent, concurrency.received);
    else card.fail('concurrency', concurrency.received, sent);
  }
}

/**
 * HEAD: a status line and a head, and not one byte of body. check's head probe also needs a
 * well-framed head; here a head without its empty line is the blank-line item's business.
 */
async function gradeHead(card: Scorecard, target: Target, options: CheckOptions): Promise<void> {
  const request = requestBytes('HEAD', target.path, [['Host', target.authority]]);
  const result = await exchange(target, request, { waitMs: Math.min(options.probeMs, 1_000), methods: ['HEAD'] });
  const split = splitLeniently(result.bytes);
  const sent = `HEAD ${target.path}`;
  if (split.statusLine === null || split.status === null)
    card.fail(
      'head',
      result.bytes.length === 0 ? describeWire(result, result.answer) : 'no status line',
      sent,
      shownBytes(result.bytes.subarray(0, 40)),
    );
  else if (split.body.length > 0)
    card.fail(
      'head',
      `a body on HEAD: ${split.body.length} bytes after the head (RFC 9110 §9.3.2)`,
      sent,
      shownBytes(split.body.subarray(0, 40)),
    );
  else card.pass('head', `${split.status} and no body`, sent, shownBytes(split.statusLine.raw));
}
