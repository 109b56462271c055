/**
 * The report of `sockhttp grade` for people (a table with points) and for scripts (JSON). Every
 * text that came from the student's program was escaped where it was read; the last guard below
 * escapes anything that slipped through, so a program cannot drive the teacher's terminal.
 */
import { escapeBytes } from '../core/trace.js';
import type { GradeReport } from './grading.js';
import type { ItemResult } from './rubrics.js';

const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
export const printable = (text: string): string => text.replace(UNPRINTABLE, (character) => escapeBytes(Buffer.from(character)));

/** The report with every text made printable. */
export function printableReport(report: GradeReport): GradeReport {
  const item = (result: ItemResult): ItemResult => ({
    ...result,
    verdict: printable(result.verdict),
    sent: printable(result.sent),
    received: printable(result.received),
  });
  return {
    ...report,
    command: report.command?.map(printable) ?? null,
    items: report.items.map(item),
    program:
      report.program === null
        ? null
        : { ...report.program, ended: printable(report.program.ended), stderrTail: printable(report.program.stderrTail) },
  };
}

const GREEN = '\x1b[32m';
const RED = '\x1b[31m';
const RESET = '\x1b[0m';

/** "sent  →  received", "sent: …" or "received: …", or nothing when the item has neither. */
export function exchangeText(item: ItemResult): string {
  if (item.sent === '' && item.received === '') return '';
  if (item.received === '') return `sent: ${item.sent}`;
  if (item.sent === '') return `received: ${item.received}`;
  return `${item.sent}  →  ${item.received}`;
}

export function formatTable(report: GradeReport, color: boolean): string {
  const width = Math.max(...report.items.map((item) => item.id.length), 8);
  const lines = [
    `sockhttp grade ${report.lab}${report.command === null ? '' : ` -- ${report.command.join(' ')}`}`,
    `${report.summary} (${report.address})`,
    '',
  ];
  for (const item of report.items) {
    const mark = item.passed ? 'PASS' : 'FAIL';
    const shown = color ? `${item.passed ? GREEN : RED}${mark}${RESET}` : mark;
    const exchange = exchangeText(item);
    lines.push(
      `${shown}  ${`${item.points}/${item.maxPoints}`.padStart(5)}  ${item.id.padEnd(width)}  ${item.verdict}${exchange === '' ? '' : `  [${exchange}]`}`,
    );
  }
  lines.push('');
  if (report.program !== null) {
    lines.push(`The program ${report.program.ended}; it printed ${report.program.stdoutBytes.toLocaleString('en-US')} bytes.`);
  }
  lines.push(`Score: ${report.score}/${report.maxScore}`);
  return `${lines.join('\n')}\n`;
}

export function formatJson(report: GradeReport): string {
  return `${JSON.stringify({ ...report, durationMs: Math.round(report.durationMs), fullMarks: report.score === report.maxScore }, null, 2)}\n`;
}
