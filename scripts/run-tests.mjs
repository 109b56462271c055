// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner; with --e2e, the
// browser tests (dist/test/**/*.e2e.js) instead. Other arguments filter the file paths.
// Listing the files ourselves keeps the command the same on every Node version >= 20.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function findTests(folder, suffix) {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return findTests(path, suffix);
    return entry.name.endsWith(suffix) ? [path] : [];
  });
}

const e2e = process.argv.includes('--e2e');
const suffix = e2e ? '.e2e.js' : '.test.js';
const only = process.argv.slice(2).filter((argument) => argument !== '--e2e');
const files = findTests('dist/test', suffix)
  .filter((file) => only.length === 0 || only.some((part) => file.includes(part)))
  .sort();
if (files.length === 0) {
  console.error(`run-tests: no ${suffix} files found under dist/test (did the build run?)`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
