/**
 * `sockhttp grade` as a command: programs that crash, never listen or hang get a clear verdict and
 * never a hung grader; the whole process group is stopped (also on Ctrl-C); a server already running
 * is graded by URL; the lab's host name can be mapped to loopback; Gradescope's results.json matches
 * its documented schema; bad input is one line and exit code 2, a port in use exit code 3.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isListening } from '../../src/grade/run-program.js';
import { CLI, REPO_ROOT, makeTempDir, runCli, startProcess } from '../helpers.js';
import { assertOneLine, closedPort } from '../net/client/helpers.js';
import { HAS_PYTHON, LABS, assertFullMarks, grade } from './grade-helpers.js';
import { type Schema, validate } from './json-schema.js';

const skip = !HAS_PYTHON && 'python3 is not installed';
const SCHEMA = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'grade', 'gradescope-results.schema.json'), 'utf8')) as Schema;

/** Whether a process is gone (or a zombie waiting to be reaped). */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  for (let waited = 0; waited < timeoutMs; waited += 100) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return condition();
}

describe('programs that fail to run get a clear verdict', { skip }, () => {
  test('a server that never listens: listening fails after the time limit, nothing else is graded', async () => {
    const run = await grade('web-server', ['python3', 'broken/server_never_listens.py'], ['--start-timeout', '1']);
    assert.match(run.item('listening').verdict, /not listening on port \d+ after 1 s/);
    assert.deepEqual(
      run.failed,
      run.report.items.map((item) => item.id),
    );
    assert.ok(run.report.items.slice(1).every((item) => item.verdict.startsWith('not graded')));
    assert.equal(run.report.score, 0);
    assert.equal(run.code, 1);
  });

  test('a server that crashes: its exit code and its last error line', async () => {
    const run = await grade('simplest-server', ['python3', 'broken/server_crashes.py']);
    assert.match(run.item('listening').verdict, /exited with code 1 without listening on port \d+: "AttributeError: .*listne/);
    assert.equal(run.report.score, 0);
  });

  test("a program's output cannot drive the terminal: the report shows it escaped", async () => {
    const result = await runCli(
      ['grade', 'simplest-server', '--port', '0', '--no-args', '--', 'sh', '-c', 'printf "\\033[2J\\033]0;pwned\\007 boom\\n" >&2; exit 1'],
      { cwd: LABS },
    );
    const table = result.stdout.toString('utf8');
    assert.equal(result.code, 1);
    assert.match(table, /exited with code 1 without listening on port \d+: "\\x1b\[2J\\x1b\]0;pwned\\x07 boom"/);
    assert.doesNotMatch(table, /[\x00-\x08\x0b-\x1f\x7f]/);
  });

  test('a program that cannot be started', async () => {
    const run = await grade('simple-get', ['./no-such-program']);
    assert.match(run.item('request-line').verdict, /could not be started \(ENOENT\)/);
    assert.equal(run.report.score, 0);
    assert.equal(run.code, 1);
  });

  test('a client that hangs is stopped with everything it started', async () => {
    const run = await grade('simple-get', ['python3', 'broken/client_hangs.py'], ['--timeout', '3']);
    assert.deepEqual(run.failed, ['ends']);
    assert.match(run.item('ends').verdict, /still running after 4 s: stopped/);
    assert.match(run.report.program!.ended, /was stopped after 4 s/);
    const helper = Number(/helper pid (\d+)/.exec(run.report.program!.stderrTail)?.[1]);
    assert.ok(helper > 0, run.report.program!.stderrTail);
    assert.ok(await until(() => isGone(helper), 5_000), `the helper process ${helper} outlived the grading`);
  });
});

describe('Ctrl-C', { skip }, () => {
  test('stops the grading and the student server with it (exit 130)', async () => {
    const port = await closedPort();
    const grader = startProcess(process.execPath, [CLI, 'grade', 'web-server', '--port', String(port), '--', 'python3', 'web_server.py'], {
      cwd: LABS,
    });
    try {
      assert.ok(await until(() => isListening(port), 10_000), 'the student server never listened');
      const exited = new Promise<number | null>((resolve) => grader.child.once('exit', (code) => resolve(code)));
      grader.child.kill('SIGINT');
      assert.equal(await exited, 130);
      assert.ok(await until(async () => !(await isListening(port)), 5_000), 'the student server outlived the grader');
    } finally {
      await grader.stop('SIGKILL');
    }
  });
});

describe('a server already running, graded by URL', { skip }, () => {
  test('web-server URL --file: full marks, no listening item', async () => {
    const port = await closedPort();
    const server = startProcess('python3', ['web_server.py', String(port)], { cwd: LABS });
    try {
      await server.waitFor(/Ready to serve/);
      const run = await grade('web-server', [], [`http://127.0.0.1:${port}/`, '--file', join(LABS, 'HelloWorld.html')]);
      assertFullMarks(run);
      assert.ok(!run.report.items.some((item) => item.id === 'listening'));
      assert.equal(run.report.program, null);
    } finally {
      await server.stop();
    }
  });
});

describe('the page', { skip }, () => {
  test('a folder without HelloWorld.html: the grader writes its own there, and removes it after', async () => {
    const folder = makeTempDir();
    try {
      const run = await grade('web-server', ['python3', join(LABS, 'web_server.py')], ['--dir', folder.path]);
      assertFullMarks(run);
      assert.equal(existsSync(join(folder.path, 'HelloWorld.html')), false);
    } finally {
      folder.remove();
    }
  });
});

describe('--map-lab-host', { skip }, () => {
  test('a client that hard-codes gaia.cs.umass.edu reaches the grader', async (context) => {
    const run = await grade('simple-get', ['python3', 'simple_get_lab_host.py'], ['--map-lab-host', '--no-args']);
    if (run.code === 3) {
      context.skip('unprivileged user namespaces are not allowed here');
      return;
    }
    assertFullMarks(run);
  });
});

describe('--gradescope FILE', { skip }, () => {
  test("writes results.json in Gradescope's documented format", async () => {
    const folder = makeTempDir();
    try {
      const file = join(folder.path, 'results.json');
      const run = await grade('web-server', ['python3', 'broken/web_server_no_404.py'], ['--gradescope', file]);
      const results = JSON.parse(readFileSync(file, 'utf8')) as {
        score: number;
        tests: Array<{ name: string; score: number; max_score: number; output: string; status: string }>;
      };
      assert.deepEqual(validate(SCHEMA, results), []);
      assert.equal(results.tests.length, run.report.items.length);
      assert.equal(results.score, run.report.score);
      assert.equal(
        results.score,
        results.tests.reduce((sum, test) => sum + test.score, 0),
      );
      const notFound = results.tests.find((test) => test.name.startsWith('web-server not-found'))!;
      assert.equal(notFound.score, 0);
      assert.equal(notFound.max_score, 2);
      assert.equal(notFound.status, 'failed');
      assert.match(notFound.output, /^FAIL: 200 OK for a file that does not exist/);
      assert.ok(
        results.tests.filter((test) => test !== notFound).every((test) => test.score === test.max_score && test.status === 'passed'),
      );
    } finally {
      folder.remove();
    }
  });

  test('the schema refuses what Gradescope would not read', () => {
    assert.notDeepEqual(validate(SCHEMA, { tests: [{ name: 'a', score: '1', max_score: 1, output: '' }] }), []);
    assert.notDeepEqual(validate(SCHEMA, { tests: [{ name: 'a', score: 1, max_score: 1 }] }), []);
    assert.notDeepEqual(validate(SCHEMA, { tests: [], visibility: 'public' }), []);
    assert.notDeepEqual(validate(SCHEMA, { tests: [], maxScore: 3 }), []);
    assert.deepEqual(
      validate(SCHEMA, {
        score: 2,
        tests: [{ name: 'a', score: 2, max_score: 2, output: 'ok', visibility: 'after_due_date', output_format: 'md' }],
        execution_time: 3,
        stdout_visibility: 'hidden',
      }),
      [],
    );
  });
});

describe('bad input and set-up problems', () => {
  const usageCases: Array<[string, string[], RegExp]> = [
    ['no lab', ['grade'], /name the lab to grade/],
    ['an unknown lab', ['grade', 'ftp-server', '--', 'true'], /unknown lab 'ftp-server'/],
    ['no program', ['grade', 'simple-get'], /give the program to run after --/],
    ['a URL for a client lab', ['grade', 'client', 'http://127.0.0.1:1/'], /put the program to run after --/],
    ['a URL and a program', ['grade', 'web-server', 'http://127.0.0.1:1/', '--', 'true'], /either a URL or a program/],
    ['a bad port', ['grade', 'web-server', '--port', '70000', '--', 'true'], /--port must be a whole number from 0 to 65535/],
    ['a bad time limit', ['grade', 'web-server', '--timeout', 'soon', '--', 'true'], /--timeout must be a number/],
    [
      'a bad start time limit',
      ['grade', 'web-server', '--start-timeout', '0', '--', 'true'],
      /--start-timeout must be a number from 0.5 to 600/,
    ],
    [
      'an unknown item to skip',
      ['grade', 'web-server', '--skip', 'speed', '--', 'true'],
      /--skip speed: the web-server items are listening, /,
    ],
    ['an unknown option', ['grade', 'web-server', '--colour', '--', 'true'], /unknown option --colour/],
    ['--map-lab-host for a server', ['grade', 'web-server', '--map-lab-host', '--', 'true'], /--map-lab-host is for the client labs/],
    [
      'a missing --file',
      ['grade', 'client', '--file', '/nonexistent/HelloWorld.html', '--', 'true'],
      /--file \/nonexistent\/HelloWorld.html: cannot read it \(ENOENT\)/,
    ],
  ];
  for (const [name, args, message] of usageCases) {
    test(`${name}: one line, exit 2`, async () => {
      const result = await runCli(args);
      assert.equal(result.code, 2);
      assertOneLine(result.stderr);
      assert.match(result.stderr, message);
    });
  }

  test('--help', async () => {
    const result = await runCli(['grade', '--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout.toString(), /SOCKHTTP_GRADE_PORT/);
  });

  test('a port in use: one line, exit 3, and a Gradescope file that says so', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as { port: number }).port;
    const folder = makeTempDir();
    try {
      const file = join(folder.path, 'results.json');
      const result = await runCli(['grade', 'web-server', '--port', String(port), '--gradescope', file, '--', 'true'], { cwd: LABS });
      assert.equal(result.code, 3);
      assertOneLine(result.stderr);
      assert.match(result.stderr, new RegExp(`port ${port} is already in use`));
      assert.ok(existsSync(file));
      const results = JSON.parse(readFileSync(file, 'utf8')) as { score: number; output: string };
      assert.deepEqual(validate(SCHEMA, results), []);
      assert.equal(results.score, 0);
      assert.match(results.output, /already in use/);
    } finally {
      folder.remove();
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
