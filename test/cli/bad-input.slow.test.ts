/**
 * Bad input to any command: one line on stderr in our words, the flag named, the documented exit
 * code, and never a stack trace. Run as a user runs it: the built binary.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CLI, makeTempDir, runCli, startCliServer } from '../helpers.js';

const STACK = /\n\s+at |node:internal|Error: |throw /;

function assertOneLine(stderr: string, pattern: RegExp): void {
  assert.doesNotMatch(stderr, STACK, `a stack trace: ${stderr}`);
  assert.equal(stderr.trimEnd().split('\n').length, 1, `more than one line: ${stderr}`);
  assert.match(stderr, pattern);
}

describe('every command, every kind of bad flag: one line, exit 2', () => {
  const cases: [string, string[], RegExp][] = [
    ['get: an unknown flag', ['get', '--bogus', 'http://127.0.0.1:9/'], /^sockhttp get: unknown option --bogus/],
    ['get: a short unknown flag', ['get', '-z', 'http://127.0.0.1:9/'], /unknown option -z/],
    [
      'get: a value that starts with "-"',
      ['get', '--retry', '-1', 'http://127.0.0.1:9/'],
      /--retry needs a value; for one that starts with "-", write --retry=VALUE/,
    ],
    ['get: a missing value', ['get', 'http://127.0.0.1:9/', '--retry'], /--retry needs a value/],
    [
      'get: a trace file in a folder that does not exist',
      ['get', '--trace-file', '/missing/dir/t', 'http://127.0.0.1:9/'],
      /--trace-file \/missing\/dir\/t: its folder does not exist/,
    ],
    ['get: -u without a password', ['get', '-u', 'bob', 'http://127.0.0.1:9/'], /-u bob: give USER:PASSWORD/],
    [
      'get: a --resolve without an address',
      ['get', '--resolve', 'a.example:80', 'http://127.0.0.1:9/'],
      /--resolve must look like HOST:PORT:ADDRESS/,
    ],
    ['get: a --connect-to with a bad port', ['get', '--connect-to', 'a:x:b:1', 'http://127.0.0.1:9/'], /--connect-to must look like/],
    [
      'get: --parallel-max 0',
      ['get', '-Z', '--parallel-max', '0', 'http://127.0.0.1:9/'],
      /--parallel-max must be a whole number from 1 to 300/,
    ],
    ['get: -4 and -6 together', ['get', '-4', '-6', 'http://127.0.0.1:9/'], /use -4 or -6, not both/],
    ['get: -F without a name', ['get', '-F', 'novalue', 'http://127.0.0.1:9/'], /-F must look like NAME=VALUE/],
    ['get: -F with -d', ['get', '-F', 'a=1', '-d', 'b=2', 'http://127.0.0.1:9/'], /use one of -d\/--data-binary\/--json, -F and -T/],
    [
      'get: a --netrc-file that does not exist',
      ['get', '--netrc-file', '/missing/netrc', 'http://127.0.0.1:9/'],
      /--netrc-file \/missing\/netrc: cannot read it/,
    ],
    ['serve: an unknown flag', ['serve', '--bogus'], /^sockhttp serve: unknown option --bogus/],
    ['serve: a value for a flag that takes none', ['serve', '--quiet=3'], /--quiet takes no value/],
    ['serve: --health not a path', ['serve', '--health', 'healthz'], /--health must be a path such as \/healthz, not 'healthz'/],
    ['serve: --metrics with a query', ['serve', '--metrics', '/m?x'], /--metrics must be a path/],
    ['serve: --etag of no known kind', ['serve', '--etag', 'weak'], /--etag must be one of mtime, content, not 'weak'/],
    ['serve: --drain-delay not a number', ['serve', '--drain-delay', 'soon'], /--drain-delay must be a number/],
    ['serve: --metrics-host without --metrics-port', ['serve', '--metrics-host', '0.0.0.0'], /--metrics-host goes with --metrics-port/],
    ['serve: --fd below 3', ['serve', '--fd', '2'], /--fd must be a descriptor number from 3 up, not '2'/],
    [
      'check: a timeout that is not a number',
      ['check', '--timeout', 'abc', 'http://127.0.0.1:9/'],
      /--timeout must be a number from 0\.1 to 120, not 'abc'/,
    ],
    ['check: a slow timeout of 0', ['check', '--slow-timeout', '0', 'http://127.0.0.1:9/'], /--slow-timeout must be a number/],
    ['check: an unknown flag', ['check', '--bogus', 'http://127.0.0.1:9/'], /^sockhttp check: unknown option --bogus/],
    ['grade: an unknown flag', ['grade', 'web-server', '--bogus', '--', 'true'], /unknown option --bogus/],
  ];
  for (const [what, args, pattern] of cases) {
    test(what, async () => {
      const result = await runCli(args, { timeoutMs: 30_000 });
      assert.equal(result.code, 2, `exit ${result.code}: ${result.stderr}`);
      assertOneLine(result.stderr.toString(), pattern);
    });
  }

  test('serve: a trace file in a folder that does not exist is named, not blamed on the served folder', async () => {
    const result = await runCli(['serve', '.', '--port', '0', '--trace-file', '/missing/dir/t.log'], { timeoutMs: 30_000 });
    assert.equal(result.code, 2);
    assertOneLine(result.stderr.toString(), /^sockhttp serve: --trace-file \/missing\/dir\/t\.log: its folder does not exist/);
  });
});

describe('the version and the bare command', () => {
  for (const args of [['--version'], ['-v'], ['-V'], ['get', '--version'], ['serve', '--version']]) {
    test(`sockhttp ${args.join(' ')} prints the version`, async () => {
      const result = await runCli(args, { timeoutMs: 30_000 });
      assert.equal(result.code, 0);
      assert.match(result.stdout.toString(), /^\d+\.\d+\.\d+\n$/);
    });
  }

  test('sockhttp alone prints the usage, says why it does not serve, and exits 2', async () => {
    const result = await runCli([], { timeoutMs: 30_000 });
    assert.equal(result.code, 2);
    assert.match(result.stdout.toString(), /never starts\nlistening on a port unless told to/);
  });
});

describe('sockhttp get | head -c 10', () => {
  test('a reader that goes away ends the download quietly with exit 23 (curl’s)', async () => {
    const folder = makeTempDir();
    writeFileSync(join(folder.path, 'big.bin'), Buffer.alloc(4 * 1024 * 1024, 7));
    const server = await startCliServer([folder.path, '--quiet']);
    try {
      const child = spawn(process.execPath, [CLI, 'get', `http://127.0.0.1:${server.port}/big.bin`, '--limit-rate', '1M'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      // Read the first bytes, then go away as `head -c 10` does.
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.stdout.destroy();
      const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
      assert.equal(code, 23, stderr);
      assert.equal(stderr, '', 'nothing is said: there is nobody left to tell');
    } finally {
      await server.stop();
      folder.remove();
    }
  });
});

describe('sockhttp get with its stderr gone (2>&1 | head -c 0)', () => {
  test('a message that cannot be written costs nothing: the documented exit code, no crash', async () => {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused, which is exit 7.
    const child = spawn(process.execPath, [CLI, 'get', '--retry', '0', 'http://127.0.0.1:9/'], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
    assert.equal(code, 7);
  });
});
