/**
 * Gradescope's autograder results format (results.json, written to /autograder/results/ by the
 * course's run_autograder script): a top-level `score` and `execution_time`, an `output` for the
 * whole submission, and one entry in `tests` per rubric item with its `name`, `score`, `max_score`,
 * `status` and `output`. test/grade/gradescope-results.schema.json holds the documented schema
 * this is checked against.
 */
import { writeFileSync } from 'node:fs';
import type { GradeReport } from './grading.js';
import { exchangeText } from './report.js';

export type GradescopeVisibility = 'visible' | 'hidden' | 'after_due_date' | 'after_published';

export interface GradescopeTest {
  name: string;
  number: string;
  score: number;
  max_score: number;
  status: 'passed' | 'failed';
  output: string;
  output_format: 'text';
  visibility: GradescopeVisibility;
}

export interface GradescopeResults {
  score: number;
  execution_time: number;
  output: string;
  output_format: 'text';
  stdout_visibility: GradescopeVisibility;
  visibility: GradescopeVisibility;
  tests: GradescopeTest[];
}

export function gradescopeResults(report: GradeReport): GradescopeResults {
  const programLine =
    report.program === null
      ? ''
      : `\nThe program ${report.program.ended}.${report.program.stderrTail === '' ? '' : `\nIts last error output: ${report.program.stderrTail}`}`;
  return {
    score: report.score,
    execution_time: Math.max(1, Math.round(report.durationMs / 1000)),
    output: `sockhttp grade ${report.lab}: ${report.score}/${report.maxScore}\n${report.summary}${programLine}`,
    output_format: 'text',
    stdout_visibility: 'hidden',
    visibility: 'visible',
    tests: report.items.map((item, index) => {
      const exchange = exchangeText(item);
      return {
        name: `${report.lab} ${item.id}: ${item.title}`,
        number: String(index + 1),
        score: item.points,
        max_score: item.maxPoints,
        status: item.passed ? 'passed' : 'failed',
        output: `${item.passed ? 'PASS' : 'FAIL'}: ${item.verdict}${exchange === '' ? '' : `\n${exchange}`}`,
        output_format: 'text',
        visibility: 'visible',
      };
    }),
  };
}

/** When the grading could not run at all (a port in use…): zero, and why, for the student's page. */
export function gradescopeSetupFailure(message: string): GradescopeResults {
  return {
    score: 0,
    execution_time: 0,
    output: `sockhttp grade could not run: ${message}`,
    output_format: 'text',
    stdout_visibility: 'hidden',
    visibility: 'visible',
    tests: [],
  };
}

export function writeGradescopeResults(file: string, results: GradescopeResults): void {
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}
