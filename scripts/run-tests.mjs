// Runs compiled test files with node's test runner:
//   (no flag)  the fast suite, dist/test/**/*.test.js except the slow ones: a developer's answer
//   --slow     the slow suite, dist/test/**/*.slow.test.js (soak, races, large files, installs)
//   --e2e      the browser tests, dist/test/**/*.e2e.js
// Other arguments filter the file paths. Listing the files ourselves keeps the command the same on
// every Node version >= 20.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function findTests(folder, accept) {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return findTests(path, accept);
    return accept(entry.name) ? [path] : [];
  });
}

const flags = new Set(process.argv.slice(2).filter((argument) => argument.startsWith('--')));
const only = process.argv.slice(2).filter((argument) => !argument.startsWith('--'));
const suite = flags.has('--e2e') ? 'e2e' : flags.has('--slow') ? 'slow' : 'fast';
const accepts = {
  fast: (name) => name.endsWith('.test.js') && !name.endsWith('.slow.test.js'),
  slow: (name) => name.endsWith('.slow.test.js'),
  e2e: (name) => name.endsWith('.e2e.js'),
};
const files = findTests('dist/test', accepts[suite])
  .filter((file) => only.length === 0 || only.some((part) => file.includes(part)))
  .sort();
if (files.length === 0) {
  console.error(`run-tests: no ${suite} test files found under dist/test (did the build run?)`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
