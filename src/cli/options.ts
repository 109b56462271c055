import { openSync, writeSync } from 'node:fs';
import type { TraceOptions } from '../index.js';

/** A command-line mistake: reported as one line, exit code 2. */
export class UsageError extends Error {}

/** Runs node:util's parseArgs, turning its errors into one-line usage errors. */
export function withUsageErrors<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]);
  }
}

export function parseNumber(
  text: string | undefined,
  name: string,
  { min = 0, max = Number.MAX_SAFE_INTEGER, integer = true } = {},
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
    throw new UsageError(`${name} must be a ${integer ? 'whole ' : ''}number from ${min} to ${max}, not '${text}'`);
  }
  return value;
}

/** Whether to colour output written to a stream: a terminal, and NO_COLOR unset (no-color.org). */
export function wantsColor(stream: { isTTY?: boolean }): boolean {
  return stream.isTTY === true && (process.env['NO_COLOR'] ?? '') === '';
}

/** Where --trace goes: stderr (coloured on a terminal) or a file opened for appending. */
export function openTrace(file: string | null, bodyBytes: number): TraceOptions {
  if (file === null)
    return { write: (text) => process.stderr.write(text), color: wantsColor(process.stderr), bodyBytes, clock: () => new Date() };
  const descriptor = openSync(file, 'a');
  return { write: (text) => writeSync(descriptor, text), color: false, bodyBytes, clock: () => new Date() };
}
