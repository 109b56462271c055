import { openSync, writeSync } from 'node:fs';
import type * as util from 'node:util';
import type { TraceOptions } from '../index.js';

/** A command-line mistake: reported as one line, exit code 2. */
export class UsageError extends Error {}

interface OptionConfig {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean | string[] | boolean[];
}

interface Token {
  name: string;
  rawName: string;
  value: string | undefined;
  inlineValue: boolean;
}

/**
 * node:util's parseArgs as our commands call it (strict, allowPositionals: true): the same values,
 * positionals, defaults and errors (codes and messages, which withUsageErrors reads), written again
 * without its validation of the option table, which Node's ran at every start (63 options for
 * `get`), nor the loading of its module: 1 ms of a start. test/cli/options-start.test.ts holds it to
 * Node's on the commands' own tables.
 */
export const parseArgs = ((config: { args: string[]; options: Record<string, OptionConfig>; allowPositionals: true }) => {
  const { args, options } = config;
  const values: Record<string, unknown> = { __proto__: null } as never;
  const positionals: string[] = [];
  const has = (name: string) => Object.hasOwn(options, name);
  const typeOf = (name: string) => (has(name) ? options[name]!.type : undefined);
  const longFor = (short: string) => {
    for (const name in options) if (Object.hasOwn(options, name) && options[name]!.short === short) return name;
    return short;
  };
  const remaining = [...args];
  while (remaining.length > 0) {
    const arg = remaining.shift()!;
    let token: Token;
    if (arg === '--') {
      positionals.push(...remaining);
      break;
    }
    const isShort = arg.length >= 2 && arg[0] === '-' && arg[1] !== '-';
    if (isShort && arg.length === 2) {
      // -f, and its value in the next argument whatever it looks like (checked below)
      const name = longFor(arg[1]!);
      const takesValue = typeOf(name) === 'string' && remaining.length > 0;
      token = { name, rawName: arg, value: takesValue ? remaining.shift() : undefined, inlineValue: false };
    } else if (isShort && typeOf(longFor(arg[1]!)) !== 'string') {
      // -abc: -a -b -c; a string option in the middle takes the rest, -abfFILE is -a -b -fFILE
      const expanded: string[] = [];
      for (let index = 1; index < arg.length; index++) {
        const short = arg[index]!;
        if (typeOf(longFor(short)) !== 'string' || index === arg.length - 1) expanded.push(`-${short}`);
        else {
          expanded.push(`-${arg.slice(index)}`);
          break;
        }
      }
      remaining.unshift(...expanded);
      continue;
    } else if (isShort) {
      token = { name: longFor(arg[1]!), rawName: `-${arg[1]}`, value: arg.slice(2), inlineValue: true };
    } else if (arg.length > 2 && arg.startsWith('--') && !arg.includes('=', 3)) {
      const name = arg.slice(2);
      const takesValue = typeOf(name) === 'string' && remaining.length > 0;
      token = { name, rawName: arg, value: takesValue ? remaining.shift() : undefined, inlineValue: false };
    } else if (arg.length > 2 && arg.startsWith('--')) {
      const equals = arg.indexOf('=');
      const name = arg.slice(2, equals);
      token = { name, rawName: `--${name}`, value: arg.slice(equals + 1), inlineValue: true };
    } else {
      positionals.push(arg);
      continue;
    }
    checkToken(token, options);
    if (token.name === '__proto__') continue;
    const value = token.value ?? true;
    if (!options[token.name]!.multiple) values[token.name] = value;
    else if (values[token.name] === undefined) values[token.name] = [value];
    else (values[token.name] as unknown[]).push(value);
  }
  for (const name in options) {
    if (Object.hasOwn(options, name) && options[name]!.default !== undefined && values[name] === undefined)
      values[name] = options[name]!.default;
  }
  return { values, positionals };
}) as unknown as typeof util.parseArgs;

/** Node's checks of an option, in its order and words. */
function checkToken(token: Token, options: Record<string, OptionConfig>): void {
  if (!Object.hasOwn(options, token.name)) {
    const message = `Unknown option '${token.rawName}'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- "${token.rawName}"`;
    throw parseError('ERR_PARSE_ARGS_UNKNOWN_OPTION', message);
  }
  const { short, type } = options[token.name]!;
  const shortAndLong = `${short ? `-${short}, ` : ''}--${token.name}`;
  if (type === 'string' && typeof token.value !== 'string')
    throw parseError('ERR_PARSE_ARGS_INVALID_OPTION_VALUE', `Option '${shortAndLong} <value>' argument missing`);
  if (type === 'boolean' && token.value !== undefined)
    throw parseError('ERR_PARSE_ARGS_INVALID_OPTION_VALUE', `Option '${shortAndLong}' does not take an argument`);
  if (!token.inlineValue && token.value !== undefined && token.value.length > 1 && token.value[0] === '-') {
    const example = token.rawName.startsWith('--') ? `'${token.rawName}=-XYZ'` : `'--${token.name}=-XYZ' or '${token.rawName}-XYZ'`;
    const message = `Option '${token.rawName}' argument is ambiguous.\nDid you forget to specify the option argument for '${token.rawName}'?\nTo specify an option argument starting with a dash use ${example}.`;
    throw parseError('ERR_PARSE_ARGS_INVALID_OPTION_VALUE', message);
  }
}

function parseError(code: string, message: string): Error {
  return Object.assign(new TypeError(message), { code });
}

/** Runs parseArgs, turning its errors into one-line usage errors in our words, the flag named. */
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
 * Says that the command's start-up is over (serve: listening). bin/sockhttp.js, when it runs a bundle
 * with no code cache yet, makes the cache then, of the functions start-up ran, instead of at exit:
 * made at the end of a long serve, it held all that run compiled (585 kB after the test suite's,
 * 2.5 times the start-up's), deserialised at every start after. Without bin, nobody listens.
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
