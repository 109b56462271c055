/**
 * What every lab's grading shares: the options, the report, how the student's command gets the
 * host, port and file it should use (arguments and environment variables), and how a finished
 * program is summed up.
 */
import { escapeBytes } from '../core/trace.js';
import type { ItemResult, LabName, Rubric } from './rubrics.js';
import { type Program, describeExit } from './run-program.js';

export const GRADE_HOST = '127.0.0.1';

/** The environment variables a student's program may read instead of its arguments. */
export const ENV_HOST = 'SOCKHTTP_GRADE_HOST';
export const ENV_PORT = 'SOCKHTTP_GRADE_PORT';
export const ENV_FILE = 'SOCKHTTP_GRADE_FILE';

export interface GradeOptions {
  /** The student's program and its arguments; null when grading a server already running (url). */
  command: string[] | null;
  url: string | null;
  /** The port to use; 0: a free one chosen by the grader. */
  port: number;
  /** The time limit of each item: a client's whole run, each exchange with a server. */
  timeoutMs: number;
  /** How long a server has to start listening. */
  startTimeoutMs: number;
  /** The program's working directory. */
  cwd: string;
  /** The page the web server must serve (its bytes) and the client lab is served. */
  page: Buffer;
  pageName: string;
  /** Append the lab's arguments ({host} {port} …) when the command has no placeholder. */
  appendArguments: boolean;
  /** Run the program where gaia.cs.umass.edu resolves to 127.0.0.1 (lab-host.ts). */
  mapLabHost: boolean;
  /** Items left out (e.g. concurrency for the single-threaded phase of the web server). */
  skip: ReadonlySet<string>;
}

export interface ProgramSummary {
  /** How it ended: "exited with code 0", "was stopped after 10 s"… */
  ended: string;
  stdoutBytes: number;
  /** The last lines of its stderr, escaped. */
  stderrTail: string;
}

export interface GradeReport {
  lab: LabName;
  summary: string;
  command: string[] | null;
  /** Where the grader listened (client labs) or connected (server labs). */
  address: string;
  items: ItemResult[];
  score: number;
  maxScore: number;
  program: ProgramSummary | null;
  durationMs: number;
}

const PLACEHOLDER = /\{(host|port|file)\}/g;

/**
 * The command as run: {host}, {port} and {file} replaced in its arguments; when none appears, the
 * lab's default arguments appended (unless turned off), so `python3 client.py` becomes
 * `python3 client.py 127.0.0.1 PORT HelloWorld.html`.
 */
export function commandFor(
  rubric: Rubric,
  command: string[],
  values: { host: string; port: number; file: string },
  appendArguments: boolean,
): string[] {
  const fill = (text: string) => text.replace(PLACEHOLDER, (_match, name: 'host' | 'port' | 'file') => String(values[name]));
  const hasPlaceholder = command.some((argument) => /\{(host|port|file)\}/.test(argument));
  const filled = command.map(fill);
  return hasPlaceholder || !appendArguments ? filled : [...filled, ...rubric.defaultArguments.map(fill)];
}

/** The program's environment: ours, with the grading values, and Python told not to buffer its output. */
export function environmentFor(values: { host: string; port: number; file: string }): NodeJS.ProcessEnv {
  // PYTHONUNBUFFERED: a lab server's print() reaches the pipe at once, not when the program is stopped.
  return { ...process.env, [ENV_HOST]: values.host, [ENV_PORT]: String(values.port), [ENV_FILE]: values.file, PYTHONUNBUFFERED: '1' };
}

/** `stopped`: how the grader stopped a program that was still running ("was stopped after 10 s"), or null. */
export function summarizeProgram(program: Program, stopped: string | null): ProgramSummary {
  const stderr = program.stderr();
  const tail = stderr.subarray(Math.max(0, stderr.length - 400));
  const ended = program.startError !== null ? `could not be started (${program.startError})` : (stopped ?? describeExit(program.exit));
  return { ended, stdoutBytes: program.stdoutBytes, stderrTail: escapeBytes(tail) };
}

/** The last line the program wrote to stderr (a traceback's last line names the error), for a verdict. */
export function lastErrorLine(program: Program): string {
  const lines = program.stderr().toString('latin1').trimEnd().split('\n');
  const last = lines.at(-1) ?? '';
  return last === '' ? '' : `: "${escapeBytes(Buffer.from(last.slice(0, 160), 'latin1'))}"`;
}

export function finishReport(rubric: Rubric, fields: Omit<GradeReport, 'lab' | 'summary' | 'score' | 'maxScore'>): GradeReport {
  const score = fields.items.reduce((sum, item) => sum + item.points, 0);
  const maxScore = fields.items.reduce((sum, item) => sum + item.maxPoints, 0);
  return { lab: rubric.lab, summary: rubric.summary, score, maxScore, ...fields };
}

/** A mistake of the grading set-up, not of the student (a port in use, no unshare): exit code 3. */
export class GradeSetupError extends Error {}
