// `npm run build`: compiles with tsc, then records that the build succeeded (dist/.build-stamp).
// With --if-stale (npm start), it compiles only when a source is newer than that record, so a start
// with nothing changed costs milliseconds instead of a full compile; --check only tells.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const STAMP = join('dist', '.build-stamp');
const INPUTS = ['src', 'test', 'examples', 'bench', 'fuzz', 'tsconfig.json', 'package.json'];

function newestChange(path) {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (stats === undefined) return 0;
  if (!stats.isDirectory()) return stats.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestChange(join(path, name))), stats.mtimeMs);
}

const built = statSync(STAMP, { throwIfNoEntry: false })?.mtimeMs ?? 0;
const isStale = Math.max(...INPUTS.map(newestChange)) >= built;
// --check: only say, by the exit code, whether a build is needed (1) or not (0).
if (process.argv.includes('--check')) process.exit(isStale ? 1 : 0);
if (process.argv.includes('--if-stale') && !isStale) process.exit(0);
// A clean output folder: a test file moved or removed must not live on as a stale compiled copy.
rmSync('dist', { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
writeFileSync(STAMP, `${new Date().toISOString()}\n`);
