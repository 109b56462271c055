/**
 * What the fuzzers share: a seedable random source, so that a finding can be replayed from its
 * seed, and the command line (--minutes, --seed; a finding saved under fuzz/findings/, exit 1).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A small, seedable PRNG (mulberry32): an integer from 0 to limit - 1. */
export function makeRandom(seed: number): (limit: number) => number {
  let state = seed >>> 0;
  return (limit) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * limit);
  };
}

export interface FuzzFinding {
  input: Buffer;
  message: string;
  /** The finding's file name, before the seed: `<stem>-<seed>.bin`. */
  stem: string;
}

/**
 * Runs `fuzz` when the module at `moduleUrl` is the program started: `name` labels the output,
 * `unit` names what it counts (inputs, blocks).
 */
export function fuzzCommand(
  moduleUrl: string,
  name: string,
  unit: string,
  fuzz: (options: { seconds: number; seed: number }) => { inputs: number; finding: FuzzFinding | null },
): void {
  if (process.argv[1] !== fileURLToPath(moduleUrl)) return;
  const args = process.argv.slice(2);
  const option = (flag: string, fallback: number) => {
    const index = args.indexOf(flag);
    return index === -1 ? fallback : Number(args[index + 1]);
  };
  const minutes = option('--minutes', 1);
  const seed = option('--seed', Date.now() % 2 ** 31);
  console.log(`${name}: ${minutes} minute(s), seed ${seed}`);
  const { inputs, finding } = fuzz({ seconds: minutes * 60, seed });
  if (finding === null) {
    console.log(`${name}: ${inputs.toLocaleString('en-US')} ${unit}, no finding`);
    return;
  }
  const folder = fileURLToPath(new URL('../../fuzz/findings/', import.meta.url));
  mkdirSync(folder, { recursive: true });
  const file = `${folder}${finding.stem}-${seed}.bin`;
  writeFileSync(file, finding.input);
  console.error(`${name}: finding after ${inputs} ${unit}, saved to ${file}\n${finding.message}`);
  process.exit(1);
}
