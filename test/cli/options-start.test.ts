/**
 * The commands read their options with src/cli/options.ts's parseArgs, written again so that a start
 * does without node:util's (which checked the whole option table at every run). It must read every
 * command line as Node's does in strict mode with positionals: the same values and positionals, or
 * the same error (code and message, from which withUsageErrors names the flag).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseArgs as nodeParseArgs } from 'node:util';
import { OPTIONS as GET_OPTIONS } from '../../src/cli/get-options.js';
import { UsageError, parseArgs, withUsageErrors } from '../../src/cli/options.js';
import { SITE_OPTIONS } from '../../src/cli/serve-site.js';
import { OPTIONS as SERVE_OPTIONS } from '../../src/cli/serve.js';

type Options = Parameters<typeof nodeParseArgs>[0] extends infer C ? (C extends { options?: infer O } ? NonNullable<O> : never) : never;

/** Defaults and a short string option at the end of a group, which the commands' tables lack. */
const SYNTHETIC: Options = {
  flag: { type: 'boolean', short: 'f' },
  quiet: { type: 'boolean', short: 'q', default: false },
  name: { type: 'string', short: 'n', default: 'anon' },
  tag: { type: 'string', short: 't', multiple: true, default: ['x'] },
  verbose: { type: 'boolean', short: 'v', multiple: true },
};

function outcome(parse: () => unknown): unknown {
  try {
    return { result: parse() };
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    return { code, message };
  }
}

/** Deterministic pseudo-random numbers (a linear congruential generator): the same cases every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
}

/** Pieces of command lines made from a table's own names: every form of every option, and strays. */
function pieces(options: Options): string[] {
  const made = ['--', '-', 'file.txt', '-5', '--bogus', '--bogus=1', '-Z', '-zq', '--=x', '---x', '', 'http://example.com/', '-value'];
  for (const [name, config] of Object.entries(options)) {
    made.push(`--${name}`, `--${name}=v`, `--${name}=`, `--${name}=-v`);
    if (config.short !== undefined) made.push(`-${config.short}`, `-${config.short}value`, `-${config.short}-v`);
  }
  const shorts = Object.values(options).flatMap((config) => (config.short === undefined ? [] : [config.short]));
  for (let index = 0; index + 2 < shorts.length; index += 2) made.push(`-${shorts.slice(index, index + 3).join('')}`);
  return made;
}

function compare(options: Options, seed: number, count: number): void {
  const pool = pieces(options);
  const next = random(seed);
  for (let run = 0; run < count; run++) {
    const args = Array.from({ length: 1 + Math.floor(next() * 5) }, () => pool[Math.floor(next() * pool.length)]!);
    const config = { args, options, allowPositionals: true } as const;
    assert.deepEqual(
      outcome(() => parseArgs(config)),
      outcome(() => nodeParseArgs(config)),
      `sockhttp ${JSON.stringify(args)}`,
    );
  }
}

describe("the commands' parseArgs reads as node:util's does", () => {
  test("on get's options", () => compare(GET_OPTIONS, 1, 4000));
  test("on serve's options", () => compare({ ...SERVE_OPTIONS, ...SITE_OPTIONS }, 2, 4000));
  test('with defaults, multiple booleans and short groups', () => compare(SYNTHETIC, 3, 4000));

  test('values have no prototype, as Node gives them', () => {
    const { values } = parseArgs({ args: ['--flag'], options: SYNTHETIC, allowPositionals: true });
    assert.equal(Object.getPrototypeOf(values), null);
  });

  test('its errors become the same usage errors', () => {
    const said = (args: string[]) =>
      outcome(() => withUsageErrors(() => parseArgs({ args, options: GET_OPTIONS, allowPositionals: true })));
    assert.deepEqual(said(['--bogus']), { code: undefined, message: 'unknown option --bogus' });
    assert.deepEqual(said(['-o']), { code: undefined, message: '--output needs a value' });
    assert.deepEqual(said(['--retry', '-1']), {
      code: undefined,
      message: '--retry needs a value; for one that starts with "-", write --retry=VALUE',
    });
    assert.ok(
      (() => {
        try {
          withUsageErrors(() => parseArgs({ args: ['--silent=1'], options: GET_OPTIONS, allowPositionals: true }));
        } catch (error) {
          return error instanceof UsageError && error.message === '--silent takes no value';
        }
        return false;
      })(),
    );
  });
});
