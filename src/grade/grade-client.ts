/**
 * Grading the client labs (simple-get, large-get, client): the grader listens with a recording
 * server, runs the student's program pointed at it, and grades the request the program sent and
 * what it printed. The program has the item time limit to end by itself; then its group is stopped.
 */
import { LARGE_FILE, LARGE_FILE_BODY_PIECES, LARGE_FILE_PAUSE_MS, SMALL_FILE, piecewiseAnswer, wholeAnswer } from './lab-pages.js';
import { mapLabHost } from './lab-host.js';
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
import { QUIET_MS, startRecordingServer } from './recording-server.js';
import { type RequestExpectation, comparableText, judgeRequest, printedPieces, printedSummary } from './request-judge.js';
import { LAB_HOST_NAME, LARGE_FILE_PATH, RUBRICS, SMALL_FILE_PATH, Scorecard } from './rubrics.js';
import { Program, describeExit, freePort } from './run-program.js';

type ClientLab = 'simple-get' | 'large-get' | 'client';

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function expectationFor(lab: ClientLab, port: number, pageName: string): RequestExpectation {
  if (lab === 'client') {
    return {
      requestLine: new RegExp(`^GET /${escapeRegExp(pageName)} HTTP/1\\.[01]$`),
      requestLineText: `GET /${pageName} HTTP/1.1`,
      // The server it was told to use, with or without the port (RFC 9110 §7.2).
      acceptsHost: (value) => new RegExp(`^(?:127\\.0\\.0\\.1|localhost)(?::${port})?$`, 'i').test(value),
      hostText: `${GRADE_HOST}:${port}`,
      hostOptionalForHttp10: true,
    };
  }
  const path = lab === 'simple-get' ? SMALL_FILE_PATH : LARGE_FILE_PATH;
  return {
    requestLine: new RegExp(`^GET ${escapeRegExp(path)} HTTP/1\\.1$`),
    requestLineText: `GET ${path} HTTP/1.1`,
    acceptsHost: (value) => value.toLowerCase() === LAB_HOST_NAME,
    hostText: LAB_HOST_NAME,
    hostOptionalForHttp10: false,
  };
}

export async function gradeClientLab(lab: ClientLab, options: GradeOptions): Promise<GradeReport> {
  const rubric = RUBRICS[lab];
  const started = performance.now();
  const port = options.port === 0 ? await freePort() : options.port;
  const answer = lab === 'large-get' ? piecewiseAnswer() : wholeAnswer(lab === 'simple-get' ? SMALL_FILE : options.page);
  const mapping = options.mapLabHost ? mapLabHost() : null;
  let server;
  try {
    server = await startRecordingServer(port, answer, LARGE_FILE_PAUSE_MS);
  } catch (error) {
    mapping?.remove();
    throw new GradeSetupError(`cannot listen on ${GRADE_HOST}:${port}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const values = { host: GRADE_HOST, port, file: options.pageName };
  const command = commandFor(rubric, options.command!, values, options.appendArguments);
  const program = new Program(mapping === null ? command : mapping.wrap(command), { cwd: options.cwd, env: environmentFor(values) });
  const card = new Scorecard(rubric);
  let stoppedAfterMs: number | null = null;
  // The program's time limit, plus the time the grader itself takes: the pauses between the pieces
  // of the large file, and the quiet second before a head without its empty line is answered.
  const runLimitMs = options.timeoutMs + QUIET_MS + (answer.length - 1) * LARGE_FILE_PAUSE_MS;
  try {
    if (await program.endsWithin(runLimitMs)) {
      if (program.startError !== null) card.fail('ends', `the program could not be started (${program.startError})`);
      else if (program.exit?.code === 0) card.pass('ends', 'the program ended by itself (exit code 0)');
      else card.fail('ends', `the program ${describeExit(program.exit)}${lastErrorLine(program)}`);
    } else {
      stoppedAfterMs = runLimitMs;
      card.fail('ends', `still running after ${runLimitMs / 1000} s: stopped (it waits for something that never comes)`);
    }
  } finally {
    await program.stop();
    await server.close();
    mapping?.remove();
  }

  const connection = server.connections[0];
  if (connection === undefined && stoppedAfterMs === null && program.startError === null)
    card.fail('ends', `the program ${describeExit(program.exit)} without ever connecting`);
  const summary = summarizeProgram(program, stoppedAfterMs === null ? null : `was stopped after ${stoppedAfterMs / 1000} s`);
  const noConnection =
    program.startError !== null
      ? `the program could not be started (${program.startError})`
      : `the program never connected to ${GRADE_HOST}:${port} (it ${summary.ended}${lastErrorLine(program)})`;
  judgeRequest(card, connection, expectationFor(lab, port, options.pageName), noConnection);
  judgePrinted(lab, card, program, options.page);
  return finishReport(rubric, {
    command,
    address: `${GRADE_HOST}:${port}`,
    items: card.finish('not graded', options.skip),
    program: summary,
    durationMs: performance.now() - started,
  });
}

function judgePrinted(lab: ClientLab, card: Scorecard, program: Program, page: Buffer): void {
  const stdout = program.stdout();
  const printed = comparableText(stdout);
  const shown = printedSummary(stdout, program.stdoutBytes);
  const hasStatusLine = printed.includes('HTTP/1.1 200 OK');
  if (lab === 'large-get') {
    card.record(
      'printed',
      hasStatusLine,
      hasStatusLine ? 'the status line is printed' : 'no "HTTP/1.1 200 OK" in what the program printed',
      '',
      shown,
    );
    const pieces = printedPieces(printed, LARGE_FILE_BODY_PIECES);
    const piecesText = `${pieces} of ${LARGE_FILE_BODY_PIECES.length} pieces`;
    if (pieces === LARGE_FILE_BODY_PIECES.length)
      card.pass(
        'read-to-close',
        `the whole file (${LARGE_FILE.length.toLocaleString('en-US')} bytes, ${piecesText}) is printed`,
        'the file in pieces, then a close',
        shown,
      );
    else if (pieces === 0)
      card.fail('read-to-close', 'the file is not in what the program printed', 'the file in pieces, then a close', shown);
    else
      card.fail(
        'read-to-close',
        `one recv: only ${piecesText} of the file printed — read until the server closes the connection, not once`,
        'the file in pieces, then a close',
        shown,
      );
    return;
  }
  const id = lab === 'client' ? 'displays-response' : 'printed';
  const file = lab === 'client' ? page : SMALL_FILE;
  const hasFile = printed.includes(comparableText(file));
  const verdict =
    hasStatusLine && hasFile
      ? 'the status line and the whole file are printed'
      : !hasStatusLine && !hasFile
        ? 'neither the status line nor the file is in what the program printed'
        : hasStatusLine
          ? 'the status line is printed, but not the whole file'
          : 'the file is printed, but not the status line';
  card.record(id, hasStatusLine && hasFile, verdict, `200 OK and ${file.length} bytes of file`, shown);
}
