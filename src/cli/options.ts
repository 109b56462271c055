import { openSync, writeSync } from 'node:fs';
import type { TraceOptions } from '../index.js';

/** A command-line mistake: reported as one line, exit code 2. */
export class UsageError extends Error {}

/** Runs node:util's parseArgs, turning its errors into one-line usage errors in our words, the flag named. */
export function withUsageErrors<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const flag = /--[a-zA-Z][\w-]*/.exec(message)?.[0] ?? /(?<![\w-])-[a-zA-Z]/.exec(message)?.[0];
    switch (code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new UsageError(`unknown option ${flag ?? ''}`.trim());
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
        if (flag === undefined) throw new UsageError('an option is missing its value');
        // "--retry -1": the value starts with "-", so it reads as another option.
        if (message.includes('ambiguous')) throw new UsageError(`${flag} needs a value; for one that starts with "-", write ${flag}=VALUE`);
        throw new UsageError(message.includes('does not take') ? `${flag} takes no value` : `${flag} needs a value`);
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
        throw new UsageError(`unexpected argument${flag === undefined ? '' : ` ${flag}`}`);
      default:
        throw new UsageError(message.split('\n')[0]!);
    }
  }
}

/** Opens the --trace-file, or says in one line why it cannot (a UsageError: the flag names a path that cannot be written). */
export function openTraceOrSay(file: string | null, bodyBytes: number): TraceOptions {
  try {
    return openTrace(file, bodyBytes);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'its folder does not exist' : 'it cannot be written';
    throw new UsageError(`--trace-file ${file}: ${reason}`);
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

/**
 * Calls `use` with process.stdout or process.stderr when something first reads it (at once if Node
 * has not made it a lazy property). Node makes the stream on first read, and that costs: 2 ms for a
 * pipe, whose net.Socket it builds. A command that may never write to it (serve's stdout until the
 * first request, a `get -o FILE`) can still put its error listener on it before anyone writes.
 */
export function whenStdioMade(name: 'stdout' | 'stderr', use: (stream: NodeJS.WriteStream) => void): void {
  const property = Object.getOwnPropertyDescriptor(process, name);
  const make = property?.get;
  if (make === undefined || !property!.configurable) {
    use(process[name]);
    return;
  }
  Object.defineProperty(process, name, {
    ...property,
    get() {
      // Node's own getter from now on (it keeps the stream it made).
      Object.defineProperty(process, name, property!);
      const stream = make.call(process) as NodeJS.WriteStream;
      use(stream);
      return stream;
    },
  });
}

/**
 * Says that what the command runs at every start is done (serve: listening; get: a transfer that
 * succeeded). bin/sockhttp.js, when it runs a bundle with no code cache yet, makes the cache then,
 * of the functions compiled so far, and never at exit for these two commands. Made at the end of a
 * long serve, it held all that run compiled (585 kB after the test suite's, 2.5 times the
 * start-up's), deserialised at every start after; made at the exit of a first `get --help`, it
 * lacked the request's path (129 kB against 217 kB), which then cost ~3 ms at every start. Without
 * bin, nobody listens; a second call does nothing (bin's listener is gone after the first).
 */
export function startUpDone(): void {
  process.emit('sockhttp:started-up' as never);
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
