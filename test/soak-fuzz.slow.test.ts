/**
 * The soak test and the fuzzer, run as `npm run soak` and `npm run fuzz` run them (the compiled
 * scripts in child processes), only shorter: 15 s of mixed legitimate and hostile load, and 3 s of
 * seeded fuzzing. Both must end by themselves with exit code 0 and say so.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, runCommand } from './helpers.js';

test('the soak test, 15 s: no 5xx, no failed legitimate request, no memory growth', async (t) => {
  const result = await runCommand(process.execPath, [join(REPO_ROOT, 'dist', 'bench', 'soak.js'), '--minutes', '0.25'], {
    timeoutMs: 60_000,
  });
  const stdout = result.stdout.toString('utf8');
  assert.equal(result.signal, null, `the soak test did not end by itself; stdout: ${stdout}`);
  assert.equal(result.code, 0, `stdout: ${stdout}\nstderr: ${result.stderr}`);
  assert.match(stdout, /^soak: passed$/m);
  // It did real work: legitimate requests, hostile connections and requests racing the swapped file all happened.
  const summary =
    /^soak: (\d+) legitimate requests, (\d+) hostile connections, (\d+) racing a swapped file \((\d+) leaks\), RSS (.*) MB$/m.exec(stdout);
  assert.ok(summary !== null, stdout);
  assert.ok(Number(summary[1]) > 0 && Number(summary[2]) > 0 && Number(summary[3]) > 0, summary[0]);
  assert.equal(summary[4], '0', summary[0]);
  t.diagnostic(summary[0]);
});

test('the fuzzer, 3 s with seed 99: no finding', async (t) => {
  const result = await runCommand(process.execPath, [join(REPO_ROOT, 'dist', 'fuzz', 'parsers.js'), '--minutes', '0.05', '--seed', '99'], {
    timeoutMs: 60_000,
  });
  const stdout = result.stdout.toString('utf8');
  assert.equal(result.signal, null, `the fuzzer did not end by itself; stdout: ${stdout}`);
  assert.equal(result.code, 0, `stdout: ${stdout}\nstderr: ${result.stderr}`);
  assert.match(stdout, /^fuzz: 0\.05 minute\(s\), seed 99$/m);
  const summary = /^fuzz: ([\d,]+) inputs, no finding$/m.exec(stdout);
  assert.ok(summary !== null, stdout);
  assert.ok(Number(summary[1]!.replace(/,/g, '')) > 100, summary[0]);
  t.diagnostic(summary[0]);
});
