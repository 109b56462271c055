/** `sockhttp serve`, run as a child process exactly as a user would run it. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, ftruncateSync, openSync, readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess, CLI, REPO_ROOT, makeTempDir, rawExchange, runCli, startCliServer, startProcess } from '../helpers.js';
import { download, writeTree } from '../net/server/helpers.js';

const HELLO = 'hello from the CLI test\n';
const LARGE_BYTES = 64 * 1024 * 1024;

let folder: ReturnType<typeof makeTempDir>;

before(() => {
  folder = makeTempDir();
  writeTree(folder.path, { 'x.txt': HELLO, 'docs/index.html': '<p>docs</p>\n' });
  const fd = openSync(join(folder.path, 'large.bin'), 'w');
  try {
    ftruncateSync(fd, LARGE_BYTES);
  } finally {
    closeSync(fd);
  }
});

after(() => folder?.remove());

type CliServer = BackgroundProcess & { port: number };

/** Starts `sockhttp serve`, runs `body`, and always stops the process; resolves once its stdout is closed. */
async function withCli(args: string[], body: (cli: CliServer, closed: Promise<unknown>) => Promise<void>): Promise<void> {
  const cli = await startCliServer(args);
  const closed = once(cli.child, 'close');
  try {
    await body(cli, closed);
  } finally {
    await cli.stop();
  }
}

/** GETs a path with fetch and returns the body, so the server has answered (and logged) before we look. */
async function fetchText(port: number, path: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { redirect: 'manual' });
  return { status: response.status, text: await response.text() };
}

const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const COMMON_LOG_LINE = new RegExp(
  `^127\\.0\\.0\\.1 - - \\[(\\d{2})/${MONTH}/(\\d{4}):(\\d{2}):(\\d{2}):(\\d{2}) \\+0000\\] "([^"]*)" (\\d{3}) (\\d+|-)$`,
);

/** stdout carries the access log alone: every line of it is a log line. */
function logLines(output: string): string[] {
  return output.split('\n').filter((line) => line !== '');
}

describe('sockhttp serve', () => {
  test('prints the URL it serves at on stderr, and serves there', async () => {
    await withCli([folder.path], async (cli) => {
      const [firstLine] = cli.errors().split('\n');
      assert.equal(cli.output(), '', 'nothing on stdout before a request');
      assert.equal(firstLine, `Serving ${folder.path} at http://127.0.0.1:${cli.port}/`);
      const { status, text } = await fetchText(cli.port, '/x.txt');
      assert.equal(status, 200);
      assert.equal(text, HELLO);
    });
  });

  test('one access log line per request, in Common Log Format', async () => {
    await withCli([folder.path], async (cli) => {
      const before = Date.now();
      await fetchText(cli.port, '/x.txt');
      await fetchText(cli.port, '/missing.txt');
      await fetchText(cli.port, '/docs?x=1');
      await cli.waitFor(/"GET \/docs\?x=1 HTTP\/1\.1" 301 .*\n/);
      const lines = logLines(cli.output());
      assert.equal(lines.length, 3, cli.output());
      const matches = lines.map((line) => COMMON_LOG_LINE.exec(line));
      for (const [index, match] of matches.entries()) assert.ok(match, `not Common Log Format: ${lines[index]}`);
      assert.deepEqual(
        matches.map((match) => [match![7], match![8]]),
        [
          ['GET /x.txt HTTP/1.1', '200'],
          ['GET /missing.txt HTTP/1.1', '404'],
          ['GET /docs?x=1 HTTP/1.1', '301'],
        ],
      );
      // The byte count is the body size.
      assert.equal(matches[0]![9], String(Buffer.byteLength(HELLO)));
      assert.ok(Number(matches[1]![9]) > 0);
      // The time is UTC and now (to the day, whatever the machine's speed).
      const [, day, month, year] = matches[0]!;
      const logged = Date.UTC(Number(year), MONTH.slice(1, -1).split('|').indexOf(month!), Number(day));
      const today = (time: number) => Date.UTC(new Date(time).getUTCFullYear(), new Date(time).getUTCMonth(), new Date(time).getUTCDate());
      assert.ok(logged === today(before) || logged === today(Date.now()), `logged day ${day}/${month}/${year}`);
    });
  });

  test('the access log escapes what the peer sent (quotes, backslashes, bytes outside ASCII)', async () => {
    await withCli([folder.path, '--log-format', 'combined'], async (cli) => {
      const request = Buffer.from(
        'GET /x.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: a"b\\c\u00e9\r\nConnection: close\r\n\r\n',
        'latin1',
      );
      assert.match((await rawExchange(cli.port, request)).toString('latin1'), /^HTTP\/1\.1 200 /);
      await cli.waitFor(/" 200 .*\n/);
      const [line] = logLines(cli.output());
      assert.ok(line!.endsWith(' "-" "a\\"b\\\\c\\xe9"'), line);
    });
  });

  test('--quiet: no access log', async () => {
    let output = '';
    await withCli([folder.path, '--quiet'], async (cli, closed) => {
      assert.equal((await fetchText(cli.port, '/x.txt')).status, 200);
      assert.equal((await fetchText(cli.port, '/missing.txt')).status, 404);
      assert.equal(await cli.stop(), 0);
      await closed; // every byte it wrote to stdout has been read
      output = cli.output();
    });
    assert.equal(output, '');
  });

  test('-q is --quiet', async () => {
    let output = '';
    await withCli([folder.path, '-q'], async (cli, closed) => {
      assert.equal((await fetchText(cli.port, '/x.txt')).status, 200);
      await cli.stop();
      await closed;
      output = cli.output();
    });
    assert.deepEqual(logLines(output), []);
  });

  test('--log-format json: one JSON object per request', async () => {
    await withCli([folder.path, '--log-format', 'json'], async (cli) => {
      await fetchText(cli.port, '/x.txt');
      await cli.waitFor(/^\{.*\}$/m);
      const lines = logLines(cli.output());
      assert.equal(lines.length, 1);
      const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
      assert.equal(entry['method'], 'GET');
      assert.equal(entry['target'], '/x.txt');
      assert.equal(entry['version'], '1.1');
      assert.equal(entry['status'], 200);
      assert.equal(entry['bytesSent'], Buffer.byteLength(HELLO));
      assert.equal(entry['remoteAddress'], '127.0.0.1');
      assert.equal(typeof entry['time'], 'string');
      assert.ok(!Number.isNaN(Date.parse(entry['time'] as string)));
    });
  });

  test('--log-format combined adds referer and user agent', async () => {
    await withCli([folder.path, '--log-format', 'combined'], async (cli) => {
      await fetch(`http://127.0.0.1:${cli.port}/x.txt`, { headers: { 'user-agent': 'cli-test/1.0', referer: 'http://example.com/' } }).then(
        (response) => response.text(),
      );
      await cli.waitFor(/cli-test/);
      const [line] = logLines(cli.output());
      assert.match(line!, /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/x\.txt HTTP\/1\.1" 200 \d+ "http:\/\/example\.com\/" "cli-test\/1\.0"$/);
    });
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} → exit code 0`, async () => {
      const cli = await startCliServer([folder.path, '--quiet']);
      try {
        assert.equal((await fetchText(cli.port, '/x.txt')).status, 200);
      } finally {
        assert.equal(await cli.stop(signal), 0);
      }
      assert.equal(cli.child.exitCode, 0);
    });

    test(`${signal} during a large download: the download completes, then exit code 0`, async () => {
      const cli = await startCliServer([folder.path, '--quiet']);
      let stopping: Promise<number | null> | null = null;
      try {
        const result = await download(cli.port, '/large.bin', {
          hash: false,
          keepAlive: true,
          timeoutMs: 60_000,
          onBody(_total, socket) {
            if (stopping !== null) return;
            // Hold the rest of the file back while the signal arrives.
            socket.pause();
            stopping = cli.stop(signal);
            setTimeout(() => socket.resume(), 300);
          },
        });
        assert.equal(result.status, 200);
        assert.equal(result.bodyBytes, LARGE_BYTES);
        assert.equal(result.closedByServer, true);
        assert.notEqual(stopping, null);
        assert.equal(await stopping, 0);
      } finally {
        await cli.stop('SIGKILL');
      }
    });
  }

  // A supervisor (or a test) may signal the server the moment it prints its URL. The signal must
  // already be handled then: otherwise the default action kills the process (no drain, no exit 0).
  test('SIGTERM sent the moment the URL is printed → exit code 0, every time', async () => {
    const results: Array<string> = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      const cli = await startCliServer([folder.path, '--quiet']);
      const code = await cli.stop('SIGTERM');
      results.push(code === 0 ? 'exit 0' : `exit ${code} signal ${cli.child.signalCode}`);
    }
    assert.deepEqual(
      results.filter((result) => result !== 'exit 0'),
      [],
      `of 20 servers signalled right after printing their URL, ${results.filter((result) => result !== 'exit 0').length} died of the signal`,
    );
  });

  test('a port already in use: one line on stderr, exit code 1', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as { port: number }).port;
      const result = await runCli(['serve', folder.path, '--port', String(port)]);
      assert.equal(result.code, 1);
      const lines = result.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, new RegExp(`\\b${port}\\b`));
      assert.match(lines[0]!, /in use/);
      assert.equal(result.stdout.toString(), '');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  test('a missing DIR: one line on stderr, exit code 1', async () => {
    const missing = join(folder.path, 'no-such-folder');
    const result = await runCli(['serve', missing, '--port', '0']);
    assert.equal(result.code, 1);
    assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /no such folder/);
    assert.equal(result.stdout.toString(), '');
  });

  test('a file as DIR: one line on stderr, exit code 1', async () => {
    const result = await runCli(['serve', join(folder.path, 'x.txt'), '--port', '0']);
    assert.equal(result.code, 1);
    assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /not a folder/);
    assert.equal(result.stdout.toString(), '');
  });

  // DIR stands for the test folder.
  const usageErrors: Array<[name: string, args: string[], env?: NodeJS.ProcessEnv]> = [
    ['--port abc', ['DIR', '--port', 'abc']],
    ['--port -1', ['DIR', '--port=-1']],
    ['--port 65536', ['DIR', '--port', '65536']],
    ['--port 1.5', ['DIR', '--port', '1.5']],
    ['an unknown flag', ['DIR', '--no-such-flag']],
    ['--dotfiles maybe', ['DIR', '--dotfiles', 'maybe', '--port', '0']],
    ['--log-format xml', ['DIR', '--log-format', 'xml', '--port', '0']],
    ['two folders', ['DIR', 'DIR', '--port', '0']],
    ['PORT=abc in the environment', ['DIR'], { ...process.env, PORT: 'abc' }],
  ];
  for (const [name, args, env] of usageErrors) {
    test(`${name}: one line on stderr, exit code 2`, async () => {
      const result = await runCli(['serve', ...args.map((arg) => (arg === 'DIR' ? folder.path : arg))], env ? { env } : {});
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, /^sockhttp serve: /);
      assert.equal(result.stdout.toString(), '');
    });
  }

  test('PORT from the environment is used when --port is absent', async () => {
    const cli = startProcess(process.execPath, [CLI, 'serve', folder.path, '--quiet'], { env: { ...process.env, PORT: '0' } });
    try {
      const match = await cli.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\//, 10_000, 'stderr');
      const port = Number(match[1]);
      // Port 0 took a free port: not the default 13331.
      assert.ok(port > 0 && port !== 13331, `port ${port}`);
      const { status, text } = await fetchText(port, '/x.txt');
      assert.equal(status, 200);
      assert.equal(text, HELLO);
    } finally {
      assert.equal(await cli.stop(), 0);
    }
  });

  test('--port wins over PORT', async () => {
    const cli = startProcess(process.execPath, [CLI, 'serve', folder.path, '--quiet', '--port', '0'], {
      env: { ...process.env, PORT: 'abc' },
    });
    try {
      const match = await cli.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\//, 10_000, 'stderr');
      assert.equal((await fetchText(Number(match[1]), '/x.txt')).text, HELLO);
    } finally {
      assert.equal(await cli.stop(), 0);
    }
  });

  test('--help lists every flag the command accepts', async () => {
    // The flags are read from the option table parseArgs is given, so a new flag cannot be left out of --help.
    const source = readFileSync(join(REPO_ROOT, 'src', 'cli', 'serve-options.ts'), 'utf8');
    const table = /const OPTIONS = \{([\s\S]*?)\} as const;/.exec(source)?.[1] ?? '';
    const flags = [...table.matchAll(/^\s*'?([a-z][a-z-]*)'?: \{ type: '\w+'(?:, short: '(\w)')?/gm)].map((match) => ({
      long: match[1]!,
      short: match[2],
    }));
    assert.ok(flags.length >= 6 && flags.some((flag) => flag.long === 'port'), `could not read the option table: ${JSON.stringify(flags)}`);

    const result = await runCli(['serve', '--help']);
    assert.equal(result.code, 0);
    const help = result.stdout.toString();
    assert.match(help, /^Usage: sockhttp serve \[DIR\]/);
    for (const { long, short } of flags) {
      assert.match(help, new RegExp(`(^|[\\s,])--${long}\\b`, 'm'), `--help does not mention --${long}`);
      if (short !== undefined) assert.ok(help.includes(`-${short}, --${long}`), `--help does not mention -${short} for --${long}`);
    }
    for (const value of ['allow', 'deny', 'common', 'combined', 'json', 'PORT']) {
      assert.ok(help.includes(value), `--help does not mention ${value}`);
    }
    const short = await runCli(['serve', '-h']);
    assert.equal(short.code, 0);
    assert.equal(short.stdout.toString(), help);
  });

  test("--dotfiles allow serves dotfiles; the default doesn't", async () => {
    writeTree(folder.path, { '.env': 'DOTFILE=1\n' });
    await withCli([folder.path, '--quiet'], async (cli) => {
      assert.equal((await fetchText(cli.port, '/.env')).status, 404);
    });
    await withCli([folder.path, '--quiet', '--dotfiles', 'allow'], async (cli) => {
      const { status, text } = await fetchText(cli.port, '/.env');
      assert.equal(status, 200);
      assert.equal(text, 'DOTFILE=1\n');
    });
  });
});
