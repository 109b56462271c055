/** Running `sockhttp grade … --json` as a teacher would (the real bin script), and reading its report. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FIXTURES, commandExists, runCli } from '../helpers.js';

export const LABS = join(FIXTURES, 'labs');
export const HAS_PYTHON = commandExists('python3');

export interface Item {
  id: string;
  title: string;
  points: number;
  maxPoints: number;
  passed: boolean;
  verdict: string;
  sent: string;
  received: string;
}

export interface Report {
  lab: string;
  command: string[] | null;
  address: string;
  items: Item[];
  score: number;
  maxScore: number;
  fullMarks: boolean;
  program: { ended: string; stdoutBytes: number; stderrTail: string } | null;
}

export interface GradeRun {
  code: number | null;
  report: Report;
  stderr: string;
  /** The ids of the items that failed, in rubric order. */
  failed: string[];
  item(id: string): Item;
}

/**
 * `sockhttp grade LAB --json --port 0 OPTIONS… -- COMMAND…`, run in test/fixtures/labs (bounded: a
 * grading that hangs fails here instead of hanging the suite).
 */
export async function grade(lab: string, command: string[], options: string[] = [], cwd = LABS): Promise<GradeRun> {
  const args = ['grade', lab, '--json', '--port', '0', ...options, ...(command.length > 0 ? ['--', ...command] : [])];
  const result = await runCli(args, { cwd, timeoutMs: 120_000 });
  assert.equal(result.signal, null, `grade was killed (it did not end by itself): ${result.stderr}`);
  let report: Report;
  try {
    report = JSON.parse(result.stdout.toString('utf8')) as Report;
  } catch {
    assert.fail(`not JSON (exit ${result.code}): ${result.stdout.toString('utf8').slice(0, 500)} ${result.stderr}`);
  }
  return {
    code: result.code,
    report,
    stderr: result.stderr,
    failed: report.items.filter((item) => !item.passed).map((item) => item.id),
    item(id) {
      const found = report.items.find((item) => item.id === id);
      assert.ok(found !== undefined, `no item ${id} in ${report.items.map((item) => item.id).join(', ')}`);
      return found;
    },
  };
}

/** Full marks: every item passed, the score is the maximum, and the exit code is 0. */
export function assertFullMarks(run: GradeRun): void {
  assert.deepEqual(
    run.failed,
    [],
    JSON.stringify(
      run.report.items.filter((item) => !item.passed),
      null,
      2,
    ),
  );
  assert.equal(run.report.score, run.report.maxScore);
  assert.equal(run.report.fullMarks, true);
  assert.equal(run.code, 0);
}
