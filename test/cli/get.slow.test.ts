/**
 * `sockhttp get`, run as a user runs it (the real bin script in a child process), against our server,
 * python3's http.server, and raw servers that send exact bytes or record what they were sent.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GAIA_ROOT, type RunningServer, commandExists, makeTempDir, runCli, startPythonServer, startStaticServer } from '../helpers.js';
import {
  type RawAnswer,
  type RawServer,
  answerBytes,
  assertOneLine,
  closedPort,
  splitEvery,
  splitResponse,
  startRawServer,
} from '../net/client/helpers.js';

const FILE1_NAME = 'wireshark-labs/INTRO-wireshark-file1.html';
const FILE3_NAME = 'wireshark-labs/HTTP-wireshark-file3.html';
const FILE1 = readFileSync(join(GAIA_ROOT, FILE1_NAME));
const FILE3 = readFileSync(join(GAIA_ROOT, FILE3_NAME));

/** Every run is bounded twice: by --max-time inside, and by runCli's kill timer outside. */
const MAX_TIME = ['--max-time', '15'];

async function withRawServer<T>(answer: RawAnswer, body: (server: RawServer) => Promise<T>): Promise<T> {
  const server = await startRawServer(answer);
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

/** A failed run: the expected exit code, one line on stderr, nothing on stdout. */
function assertFailure(result: Awaited<ReturnType<typeof runCli>>, code: number): void {
  assert.equal(result.code, code, `exit code; stderr: ${result.stderr}`);
  assertOneLine(result.stderr);
  assert.equal(result.stdout.length, 0, `stdout should be empty, got ${JSON.stringify(result.stdout.toString('latin1').slice(0, 200))}`);
}

function assertSuccess(result: Awaited<ReturnType<typeof runCli>>): void {
  assert.equal(result.code, 0, `exit code; stderr: ${result.stderr}`);
  assert.equal(result.stderr, '');
}

describe('sockhttp get against our server', () => {
  let server: RunningServer;
  before(async () => {
    server = await startStaticServer(GAIA_ROOT);
  });
  after(async () => {
    await server?.close();
  });

  test('URL form: the body on stdout, byte-exact', async () => {
    const result = await runCli(['get', server.url(`/${FILE1_NAME}`), ...MAX_TIME]);
    assertSuccess(result);
    assert.deepEqual(result.stdout, FILE1);
  });

  test('URL form, the 4500-byte file', async () => {
    const result = await runCli(['get', server.url(`/${FILE3_NAME}`), ...MAX_TIME]);
    assertSuccess(result);
    assert.deepEqual(result.stdout, FILE3);
  });

  test('a URL without a scheme is taken as http://', async () => {
    const result = await runCli(['get', `127.0.0.1:${server.port}/${FILE1_NAME}`, ...MAX_TIME]);
    assertSuccess(result);
    assert.deepEqual(result.stdout, FILE1);
  });

  test('lab form HOST PORT FILENAME', async () => {
    const result = await runCli(['get', '127.0.0.1', String(server.port), FILE1_NAME, ...MAX_TIME]);
    assertSuccess(result);
    assert.deepEqual(result.stdout, FILE1);
  });

  test('lab form with a leading slash in FILENAME', async () => {
    const result = await runCli(['get', '127.0.0.1', String(server.port), `/${FILE3_NAME}`, ...MAX_TIME]);
    assertSuccess(result);
    assert.deepEqual(result.stdout, FILE3);
  });

  test('-i: the status line and the fields, an empty line, then the body', async () => {
    const result = await runCli(['get', '-i', server.url(`/${FILE1_NAME}`), ...MAX_TIME]);
    assertSuccess(result);
    const response = splitResponse(result.stdout);
    assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(response.field('content-length'), '81');
    assert.match(response.field('content-type') ?? '', /^text\/html/);
    for (const line of response.fieldLines) assert.match(line, /^[A-Za-z0-9-]+: /);
    assert.deepEqual(response.body, FILE1);
  });

  test('--include is the long form of -i', async () => {
    const result = await runCli(['get', '--include', server.url(`/${FILE3_NAME}`), ...MAX_TIME]);
    assertSuccess(result);
    assert.deepEqual(splitResponse(result.stdout).body, FILE3);
  });

  test('a 404 exits 0, like curl without --fail, with the error page on stdout', async () => {
    const result = await runCli(['get', server.url('/no-such-file.html'), ...MAX_TIME]);
    assertSuccess(result);
    assert.ok(result.stdout.length > 0);
    const included = await runCli(['get', '-i', server.url('/no-such-file.html'), ...MAX_TIME]);
    assertSuccess(included);
    assert.equal(splitResponse(included.stdout).statusLine, 'HTTP/1.1 404 Not Found');
  });

  test('-X HEAD against our server: nothing on stdout, exit 0', async () => {
    const result = await runCli(['get', '-X', 'HEAD', server.url(`/${FILE3_NAME}`), ...MAX_TIME]);
    assertSuccess(result);
    assert.equal(result.stdout.length, 0);
  });

  describe('-o FILE', () => {
    let folder: ReturnType<typeof makeTempDir>;
    before(() => {
      folder = makeTempDir('sockhttp-get-');
    });
    after(() => folder?.remove());

    test('writes the body to FILE, nothing to stdout, and no other file beside it', async () => {
      const destination = join(folder.path, 'ok', 'file3.html');
      const sub = join(folder.path, 'ok');
      mkdirSync(sub);
      const result = await runCli(['get', '-o', destination, server.url(`/${FILE3_NAME}`), ...MAX_TIME]);
      assertSuccess(result);
      assert.equal(result.stdout.length, 0);
      assert.deepEqual(readFileSync(destination), FILE3);
      assert.deepEqual(readdirSync(sub), ['file3.html']);
    });

    test('--output replaces an existing file', async () => {
      const destination = join(folder.path, 'replaced.html');
      writeFileSync(destination, 'old contents, longer than the new file '.repeat(10));
      const result = await runCli(['get', '--output', destination, server.url(`/${FILE1_NAME}`), ...MAX_TIME]);
      assertSuccess(result);
      assert.deepEqual(readFileSync(destination), FILE1);
    });

    test('-o /dev/null works', { skip: !existsSync('/dev/null') && 'no /dev/null here' }, async () => {
      const result = await runCli(['get', '-o', '/dev/null', server.url(`/${FILE3_NAME}`), ...MAX_TIME]);
      assertSuccess(result);
      assert.equal(result.stdout.length, 0);
    });

    test('-i with -o puts the head in the file too', async () => {
      const destination = join(folder.path, 'with-head.txt');
      const result = await runCli(['get', '-i', '-o', destination, server.url(`/${FILE1_NAME}`), ...MAX_TIME]);
      assertSuccess(result);
      const response = splitResponse(readFileSync(destination));
      assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
      assert.deepEqual(response.body, FILE1);
    });
  });
});

describe('sockhttp get against python3 -m http.server', { skip: !commandExists('python3') && 'python3 is not installed' }, () => {
  let python: Awaited<ReturnType<typeof startPythonServer>>;
  before(async () => {
    python = await startPythonServer(GAIA_ROOT);
  });
  after(async () => {
    await python?.stop();
  });

  test('URL form: byte-exact body', async () => {
    const result = await runCli(['get', `http://127.0.0.1:${python.port}/${FILE3_NAME}`, ...MAX_TIME]);
    assertSuccess(result);
    assert.deepEqual(result.stdout, FILE3);
  });

  test('lab form HOST PORT FILENAME', async () => {
    const result = await runCli(['get', '127.0.0.1', String(python.port), FILE1_NAME, ...MAX_TIME]);
    assertSuccess(result);
    assert.deepEqual(result.stdout, FILE1);
  });

  test("-i shows python's HTTP/1.0 status line and its fields", async () => {
    const result = await runCli(['get', '-i', `http://127.0.0.1:${python.port}/${FILE1_NAME}`, ...MAX_TIME]);
    assertSuccess(result);
    const response = splitResponse(result.stdout);
    assert.equal(response.statusLine, 'HTTP/1.0 200 OK');
    assert.match(response.field('server') ?? '', /Python/);
    assert.equal(response.field('content-length'), '81');
    assert.deepEqual(response.body, FILE1);
  });

  test('--raw shows the response exactly as python sent it', async () => {
    const result = await runCli(['get', '--raw', `http://127.0.0.1:${python.port}/${FILE1_NAME}`, ...MAX_TIME]);
    assertSuccess(result);
    const response = splitResponse(result.stdout);
    assert.equal(response.statusLine, 'HTTP/1.0 200 OK');
    assert.deepEqual(response.body, FILE1);
  });
});

describe('sockhttp get against raw servers', () => {
  const CHUNKED: RawAnswer = {
    pieces: [
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n',
      ...splitEvery('5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n', 9),
    ],
    delayMs: 2,
    after: 'end',
  };

  test('a chunked body is decoded on stdout', async () => {
    await withRawServer(CHUNKED, async (server) => {
      const result = await runCli(['get', server.url('/'), ...MAX_TIME]);
      assertSuccess(result);
      assert.equal(result.stdout.toString('latin1'), 'hello, world');
    });
  });

  test('--raw prints the response bytes exactly as sent, chunk framing included', async () => {
    await withRawServer(CHUNKED, async (server) => {
      const result = await runCli(['get', '--raw', server.url('/'), ...MAX_TIME]);
      assertSuccess(result);
      assert.equal(result.stdout.toString('latin1'), answerBytes(CHUNKED).toString('latin1'));
      assert.match(result.stdout.toString('latin1'), /\r\n5;ext=1\r\nhello\r\n/);
    });
  });

  test('--raw with a bare-LF, close-delimited response', async () => {
    const answer: RawAnswer = { pieces: ['HTTP/1.0 200 OK\n', 'Content-Type: text/html\n\n', '<p>hi</p>\n'], delayMs: 2, after: 'end' };
    await withRawServer(answer, async (server) => {
      const result = await runCli(['get', '--raw', server.url('/'), ...MAX_TIME]);
      assertSuccess(result);
      assert.deepEqual(result.stdout, answerBytes(answer));
    });
  });

  test('-X HEAD sends HEAD and does not wait for the announced body', async () => {
    await withRawServer({ pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n'], after: 'keep-open' }, async (server) => {
      const result = await runCli(['get', '-X', 'HEAD', server.url('/page.html'), ...MAX_TIME]);
      assertSuccess(result);
      assert.equal(result.stdout.length, 0);
      assert.match(await server.requestHead(0), /^HEAD \/page\.html HTTP\/1\.1\r\n/);
    });
  });

  test("-H 'X-Test: 1' (repeatable) reaches the server; --request is the long form of -X", async () => {
    await withRawServer({ pieces: ['HTTP/1.1 204 No Content\r\n\r\n'] }, async (server) => {
      const result = await runCli([
        'get',
        '-H',
        'X-Test: 1',
        '--header',
        'X-Other:  two words ',
        '--request',
        'DELETE',
        server.url('/thing'),
        ...MAX_TIME,
      ]);
      assertSuccess(result);
      const lines = (await server.requestHead(0)).split('\r\n');
      assert.equal(lines[0], 'DELETE /thing HTTP/1.1');
      assert.ok(lines.includes('X-Test: 1'), lines.join('|'));
      assert.ok(lines.includes('X-Other: two words'), lines.join('|'));
    });
  });

  test('-H replaces a default field of the same name (Host)', async () => {
    await withRawServer({ pieces: ['HTTP/1.1 204 No Content\r\n\r\n'] }, async (server) => {
      const result = await runCli(['get', '-H', 'Host: gaia.cs.umass.edu', server.url('/'), ...MAX_TIME]);
      assertSuccess(result);
      const hosts = (await server.requestHead(0)).split('\r\n').filter((line) => /^host:/i.test(line));
      assert.deepEqual(hosts, ['Host: gaia.cs.umass.edu']);
    });
  });

  test('a header without a colon is a usage error (2) and nothing is sent', async () => {
    await withRawServer({ pieces: ['HTTP/1.1 204 No Content\r\n\r\n'] }, async (server) => {
      const result = await runCli(['get', '-H', 'no colon here', server.url('/'), ...MAX_TIME]);
      assertFailure(result, 2);
      assert.equal(server.received().length, 0);
    });
  });

  describe('-o FILE when the download fails', () => {
    let folder: ReturnType<typeof makeTempDir>;
    before(() => {
      folder = makeTempDir('sockhttp-get-fail-');
    });
    after(() => folder?.remove());
    const SHORT: RawAnswer = { pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n', FILE3], after: 'end' };

    test('exits 18 and leaves no file at FILE and no partial file beside it', async () => {
      const sub = join(folder.path, 'fresh');
      mkdirSync(sub);
      await withRawServer(SHORT, async (server) => {
        const result = await runCli(['get', '-o', join(sub, 'download.html'), server.url('/'), ...MAX_TIME]);
        assertFailure(result, 18);
      });
      assert.equal(existsSync(join(sub, 'download.html')), false);
      assert.deepEqual(readdirSync(sub), []);
    });

    test('an existing FILE is left as it was', async () => {
      const sub = join(folder.path, 'existing');
      mkdirSync(sub);
      const destination = join(sub, 'download.html');
      writeFileSync(destination, 'the previous, complete download');
      await withRawServer(SHORT, async (server) => {
        const result = await runCli(['get', '-o', destination, server.url('/'), ...MAX_TIME]);
        assertFailure(result, 18);
      });
      assert.equal(readFileSync(destination, 'utf8'), 'the previous, complete download');
      assert.deepEqual(readdirSync(sub), ['download.html']);
    });

    test('a chunked body cut short: exit 18, no file', async () => {
      const sub = join(folder.path, 'chunked');
      mkdirSync(sub);
      await withRawServer(
        { pieces: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', '5\r\nhello\r\n100\r\nnot 256 bytes'], after: 'end' },
        async (server) => {
          const result = await runCli(['get', '-o', join(sub, 'x.txt'), server.url('/'), ...MAX_TIME]);
          assertFailure(result, 18);
        },
      );
      assert.deepEqual(readdirSync(sub), []);
    });
  });
});

describe('sockhttp get exit codes: each failure is one line on stderr, nothing on stdout', () => {
  test('7 when the connection is refused', async () => {
    const port = await closedPort();
    assertFailure(await runCli(['get', `http://127.0.0.1:${port}/`, ...MAX_TIME]), 7);
    assertFailure(await runCli(['get', '127.0.0.1', String(port), 'HelloWorld.html', ...MAX_TIME]), 7);
  });

  // `.invalid` can never resolve (RFC 6761 §6.4), so no traffic leaves the machine. The resolver here
  // answers ENOTFOUND, and EAI_AGAIN (no network at all) maps to the same code, so 6 is expected.
  test('6 for an unknown host', async () => {
    assertFailure(await runCli(['get', 'http://nonexistent.invalid/', ...MAX_TIME]), 6);
  });

  test('28 with --max-time 0.3 against a server that never answers', async () => {
    await withRawServer({ pieces: [], after: 'keep-open' }, async (server) => {
      assertFailure(await runCli(['get', '--max-time', '0.3', server.url('/')]), 28);
      assertFailure(await runCli(['get', '-m', '0.3', server.url('/')]), 28);
    });
  });

  test('28 when the body stalls past --max-time', async () => {
    await withRawServer({ pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'], after: 'keep-open' }, async (server) => {
      const result = await runCli(['get', '--max-time', '0.3', server.url('/')]);
      assert.equal(result.code, 28, result.stderr);
      assertOneLine(result.stderr);
    });
  });

  for (const [name, bytes] of [
    ['a malformed status line', 'HTTP/1.1 OK\r\n\r\n'],
    ['not HTTP at all', 'SSH-2.0-OpenSSH_9.6\r\n\r\n'],
    ['conflicting Content-Length values', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
  ] as const) {
    test(`8 for ${name}`, async () => {
      await withRawServer({ pieces: [bytes], after: 'end' }, async (server) => {
        assertFailure(await runCli(['get', server.url('/'), ...MAX_TIME]), 8);
      });
    });
  }

  test('8 for a malformed chunk in the same packet as the head (not a crash)', async () => {
    await withRawServer(
      { pieces: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'], after: 'end' },
      async (server) => {
        assertFailure(await runCli(['get', server.url('/'), ...MAX_TIME]), 8);
      },
    );
  });

  test('18 when the body is shorter than Content-Length', async () => {
    await withRawServer({ pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n', 'short'], after: 'end' }, async (server) => {
      const result = await runCli(['get', server.url('/'), ...MAX_TIME]);
      // The bytes that did arrive may already be on stdout (like curl); the error is one line.
      assert.equal(result.code, 18, result.stderr);
      assertOneLine(result.stderr);
      assert.ok('short'.startsWith(result.stdout.toString('latin1')), JSON.stringify(result.stdout.toString('latin1')));
    });
  });

  for (const url of ['http://', 'http://[::1', 'http://exa mple.com/']) {
    test(`3 for the malformed URL ${JSON.stringify(url)}`, async () => {
      assertFailure(await runCli(['get', url, ...MAX_TIME]), 3);
    });
  }

  test('1 for an unsupported protocol', async () => {
    assertFailure(await runCli(['get', 'ftp://127.0.0.1/file.txt', ...MAX_TIME]), 1);
  });

  for (const [name, args] of [
    ['no URL', ['get']],
    ['an unknown option', ['get', '--bogus', 'http://127.0.0.1:9/']],
    // Several positionals are several URLs now (see get-features.test.ts); the lab form is three
    // with a number second, and that number must still be a port.
    ['a lab-form port out of range', ['get', '127.0.0.1', '70000', 'HelloWorld.html']],
    ['a lab-form port of 0', ['get', '127.0.0.1', '0', 'HelloWorld.html']],
    ['two URLs and three -o', ['get', '-o', 'a', '-o', 'b', '-o', 'c', 'http://127.0.0.1:9/a', 'http://127.0.0.1:9/b']],
    ['-o and -O together', ['get', '-o', 'a', '-O', 'http://127.0.0.1:9/a']],
    ['--max-time that is not a number', ['get', '--max-time', 'soon', 'http://127.0.0.1:9/']],
    ['-o without its value', ['get', 'http://127.0.0.1:9/', '-o']],
  ] as const) {
    test(`2 for a usage error: ${name}`, async () => {
      assertFailure(await runCli([...args]), 2);
    });
  }

  test('--help mentions every option and every exit code, and exits 0', async () => {
    const result = await runCli(['get', '--help']);
    assertSuccess(result);
    const help = result.stdout.toString('utf8');
    for (const option of [
      '-i',
      '--include',
      '--raw',
      '-o',
      '--output',
      '-X',
      '--request',
      '-H',
      '--header',
      '-m',
      '--max-time',
      '-h',
      '--help',
    ]) {
      assert.match(help, new RegExp(`(^|[\\s,])${option}\\b`), `--help does not mention ${option}`);
    }
    assert.match(help, /HOST PORT FILENAME/);
    // The exit codes of the README's table, each with a word of its meaning next to it.
    const codes: Array<[number, RegExp]> = [
      [0, /success/i],
      [1, /protocol/i],
      [2, /usage/i],
      [3, /URL/],
      [6, /host/i],
      [7, /connect/i],
      [8, /malformed response/i],
      [18, /shorter/i],
      [23, /write/i],
      [28, /timeout/i],
      [56, /reset/i],
    ];
    for (const [code, meaning] of codes) {
      assert.match(
        help,
        new RegExp(`(^|\\s)${code} +[^\\d\\n]*${meaning.source}`, meaning.flags),
        `--help does not explain exit code ${code}`,
      );
    }
    const short = await runCli(['get', '-h']);
    assertSuccess(short);
    assert.equal(short.stdout.toString('utf8'), help);
  });
});
