/**
 * Every lab program, run as README's Labs section runs it (compiled, from dist/examples/), always
 * pointed at a local server: the stand-in for gaia.cs.umass.edu (test/fixtures/gaia) served by
 * python3's http.server and by ours, a temp folder for the lab web server, curl as the browser.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  EXAMPLES,
  GAIA_ROOT,
  PUBLIC_ROOT,
  type BackgroundProcess,
  commandExists,
  makeTempDir,
  rawExchange,
  runCli,
  runCommand,
  startCliServer,
  startProcess,
  startPythonServer,
  startStaticServer,
} from '../helpers.js';
import { assertOneLine, closedPort, splitResponse } from '../net/client/helpers.js';

const FILE1 = readFileSync(join(GAIA_ROOT, 'wireshark-labs', 'INTRO-wireshark-file1.html'));
const FILE3 = readFileSync(join(GAIA_ROOT, 'wireshark-labs', 'HTTP-wireshark-file3.html'));
const HAS_PYTHON = commandExists('python3');
const HAS_CURL = commandExists('curl');

function runExample(name: string, args: string[], timeoutMs = 20_000) {
  return runCommand(process.execPath, [join(EXAMPLES, `${name}.js`), ...args], { timeoutMs });
}

function startExample(name: string, args: string[]): BackgroundProcess {
  return startProcess(process.execPath, [join(EXAMPLES, `${name}.js`), ...args]);
}

/** What a GET lab program printed: a status line, then (after the head) exactly `file`. */
function assertPrintedResponse(stdout: Buffer, file: Buffer): void {
  const response = splitResponse(stdout);
  assert.match(response.statusLine, /^HTTP\/1\.[01] 200 OK$/);
  assert.equal(response.field('content-length'), String(file.length));
  assert.equal(response.body.length, file.length, `body: ${JSON.stringify(response.body.toString('latin1').slice(0, 200))}`);
  assert.ok(response.body.equals(file), 'the printed body differs from the file');
}

/**
 * `sendsResponseInOneWrite`: whether the server writes head and small body together. Ours does;
 * python's http.server writes the head and the body separately, so simple-get's single read may see
 * only the head — which is exactly the lab's lesson about one read not being enough in general.
 */
const gaiaServers: Array<{
  name: string;
  skip: string | false;
  sendsResponseInOneWrite: boolean;
  start(): Promise<{ port: number; stop(): Promise<unknown> }>;
}> = [
  {
    name: 'python3 -m http.server',
    skip: !HAS_PYTHON && 'python3 is not installed',
    sendsResponseInOneWrite: false,
    start: async () => {
      const python = await startPythonServer(GAIA_ROOT);
      return { port: python.port, stop: () => python.stop() };
    },
  },
  {
    name: 'our server',
    skip: false,
    sendsResponseInOneWrite: true,
    start: async () => {
      const ours = await startStaticServer(GAIA_ROOT);
      return { port: ours.port, stop: () => ours.close() };
    },
  },
];

for (const gaia of gaiaServers) {
  describe(`simple-get and large-get against ${gaia.name} serving the gaia stand-in`, { skip: gaia.skip }, () => {
    let server: { port: number; stop(): Promise<unknown> };
    before(async () => {
      server = await gaia.start();
    });
    after(async () => {
      await server?.stop();
    });

    // simple-get does one read, as the lab does. It runs a few times (bounded): against a server that
    // writes the response at once, every run must show the whole of it; against one that writes the
    // head first, every run shows at least the status line and never anything but a prefix.
    test('simple-get prints what one read returns for the 81-byte file, on every run', async () => {
      for (let run = 1; run <= 8; run++) {
        const result = await runExample('simple-get', ['127.0.0.1', String(server.port)]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stderr, '');
        try {
          if (gaia.sendsResponseInOneWrite) {
            assertPrintedResponse(result.stdout, FILE1);
          } else {
            const printed = result.stdout.toString('latin1');
            assert.match(printed, /^HTTP\/1\.[01] 200 OK\r\n/);
            const headEnd = printed.indexOf('\r\n\r\n');
            if (headEnd !== -1)
              assert.ok(FILE1.toString('latin1').startsWith(printed.slice(headEnd + 4)), 'the body is not a prefix of the file');
          }
        } catch (error) {
          throw new Error(`run ${run}: ${(error as Error).message}; stdout: ${JSON.stringify(result.stdout.toString('latin1'))}`, {
            cause: error,
          });
        }
      }
    });

    test('large-get prints the whole 4500-byte body', async () => {
      const result = await runExample('large-get', ['127.0.0.1', String(server.port)]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
      assertPrintedResponse(result.stdout, FILE3);
    });
  });
}

describe('simple-get and large-get when nothing listens', () => {
  for (const name of ['simple-get', 'large-get']) {
    test(`${name} exits 1 with one line on stderr`, async () => {
      const port = await closedPort();
      const result = await runExample(name, ['127.0.0.1', String(port)]);
      assert.equal(result.code, 1);
      assertOneLine(result.stderr);
      assert.match(result.stderr, new RegExp(`^${name}: `));
      assert.equal(result.stdout.length, 0);
    });

    test(`${name} refuses a port that is not a number (exit 1, one line)`, async () => {
      const result = await runExample(name, ['127.0.0.1', 'http']);
      assert.equal(result.code, 1);
      assertOneLine(result.stderr);
      assert.equal(result.stdout.length, 0);
    });
  }
});

describe('simplest-server answered by curl', { skip: !HAS_CURL && 'curl is not installed' }, () => {
  let server: BackgroundProcess;
  let port = 0;
  before(async () => {
    server = startExample('simplest-server', ['0']);
    port = Number((await server.waitFor(/^Listening on http:\/\/127\.0\.0\.1:(\d+)\/$/m))[1]);
  });
  after(async () => {
    await server?.stop();
  });

  test('200, Content-Type: text/html; charset=UTF-8, the page; and it prints the request it received', async () => {
    const result = await runCommand('curl', ['-s', '-S', '-i', '--max-time', '15', `http://127.0.0.1:${port}/some/path`]);
    assert.equal(result.code, 0, result.stderr);
    const response = splitResponse(result.stdout);
    assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(response.field('content-type'), 'text/html; charset=UTF-8');
    assert.equal(response.field('content-length'), String(response.body.length));
    assert.match(response.body.toString('utf8'), /Congratulations/);

    const printed = (await server.waitFor(/--- request from [^\n]*---\n([\s\S]*?\r\n\r\n)/))[1]!;
    assert.match(printed, /^GET \/some\/path HTTP\/1\.1\r\n/);
    assert.match(printed, new RegExp(`\\r\\nHost: 127\\.0\\.0\\.1:${port}\\r\\n`));
    assert.match(printed, /\r\nUser-Agent: curl\//);
  });

  test('any method and target get the same page', async () => {
    const answer = splitResponse(await rawExchange(port, 'DELETE /anything?x=1 HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.equal(answer.statusLine, 'HTTP/1.1 200 OK');
    assert.match(answer.body.toString('utf8'), /Congratulations/);
  });

  test('control bytes in a request are printed escaped, never raw', async () => {
    const before = server.output().length;
    const answer = splitResponse(await rawExchange(port, 'GET /\x1b[2J HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.equal(answer.statusLine, 'HTTP/1.1 200 OK');
    await server.waitFor(/\\x1b\[2J/);
    assert.equal(server.output().slice(before).includes('\x1b'), false);
  });

  test('stops with exit code 0 on SIGTERM', async () => {
    assert.equal(await server.stop(), 0);
  });
});

/** A connected raw socket that collects everything until the server closes; resolves on 'end'. */
function openCollector(port: number): Promise<{ socket: Socket; write(text: string): void; done: Promise<Buffer> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    const done = new Promise<Buffer>((resolveDone) => {
      socket.on('end', () => resolveDone(Buffer.concat(chunks)));
      socket.on('close', () => resolveDone(Buffer.concat(chunks)));
    });
    socket.setTimeout(20_000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('connect', () => resolve({ socket, write: (text) => socket.write(text), done }));
  });
}

describe('lab-web-server, lab-client, and sockhttp get in the lab form', () => {
  const HELLO = Buffer.from('<html><head><title>Hello</title></head><body>Hello World! é</body></html>\n', 'utf8');
  const SECRET = 'TOP-SECRET-outside-the-folder';
  let temp: ReturnType<typeof makeTempDir>;
  let site = '';
  let server: BackgroundProcess;
  let port = 0;

  before(async () => {
    temp = makeTempDir('sockhttp-lab-');
    site = join(temp.path, 'site');
    mkdirSync(site);
    writeFileSync(join(site, 'HelloWorld.html'), HELLO);
    // Files the server must never hand out: beside the folder, and a dotfile inside it.
    writeFileSync(join(temp.path, 'x'), SECRET);
    writeFileSync(join(site, '.hidden'), SECRET);
    server = startExample('lab-web-server', ['0', site]);
    port = Number((await server.waitFor(/Ready to serve .* at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
  });
  after(async () => {
    await server?.stop();
    temp?.remove();
  });

  const get = (target: string) => rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);

  test('serves HelloWorld.html: 200 with header lines and the exact file', async () => {
    const response = splitResponse(await get('/HelloWorld.html'));
    assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
    assert.match(response.field('content-type') ?? '', /^text\/html/);
    assert.equal(response.field('content-length'), String(HELLO.length));
    assert.ok(response.body.equals(HELLO));
  });

  test('serves it to curl too', { skip: !HAS_CURL && 'curl is not installed' }, async () => {
    const result = await runCommand('curl', ['-s', '-S', '--max-time', '15', `http://127.0.0.1:${port}/HelloWorld.html`]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.equals(HELLO));
  });

  test('404 Not Found for a missing file', async () => {
    const response = splitResponse(await get('/missing.html'));
    assert.equal(response.statusLine, 'HTTP/1.1 404 Not Found');
    assert.match(response.body.toString('utf8'), /404 Not Found/);
  });

  for (const target of ['/../x', '/%2e%2e/x', '/%2E%2E/x', '/..%2fx', '/%2e%2e%2fx', '/.hidden', '/site/../../x']) {
    test(`refuses ${target} with 404 and never sends the outside file`, async () => {
      const bytes = await get(target);
      const response = splitResponse(bytes);
      assert.equal(response.statusLine, 'HTTP/1.1 404 Not Found');
      assert.equal(bytes.includes(SECRET), false);
    });
  }

  test('a malformed request gets a 400, not a crash, and the server goes on', async () => {
    const response = splitResponse(await rawExchange(port, 'GET /HelloWorld.html HTTP/1.1\r\n\r\n'));
    assert.match(response.statusLine, /^HTTP\/1\.1 400 /);
    assert.equal(splitResponse(await get('/HelloWorld.html')).statusLine, 'HTTP/1.1 200 OK');
  });

  test('two clients at the same time: both answered, one after the other, in the order they connected', async () => {
    const first = await openCollector(port);
    const second = await openCollector(port);
    const order: string[] = [];
    try {
      // The first client sends only part of its request, the second a whole one: a server that
      // takes one connection at a time finishes the first before it reads the second.
      first.write('GET /HelloWorld.html HTTP/1.1\r\n');
      second.write('GET /HelloWorld.html HTTP/1.1\r\nHost: b\r\n\r\n');
      void first.done.then(() => order.push('first'));
      void second.done.then(() => order.push('second'));
      await new Promise((resolve) => setTimeout(resolve, 100));
      first.write('Host: a\r\n\r\n');
      const [a, b] = await Promise.all([first.done, second.done]);
      for (const bytes of [a, b]) {
        const response = splitResponse(bytes);
        assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
        assert.ok(response.body.equals(HELLO));
      }
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(order, ['first', 'second']);
    } finally {
      first.socket.destroy();
      second.socket.destroy();
    }
  });

  test('lab-client prints the status line, the header lines and the body, and exits 0', async () => {
    const result = await runExample('lab-client', ['127.0.0.1', String(port), 'HelloWorld.html']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    const response = splitResponse(result.stdout);
    assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
    assert.match(response.field('content-type') ?? '', /^text\/html/);
    assert.equal(response.field('content-length'), String(HELLO.length));
    assert.ok(response.body.equals(HELLO));
  });

  test('lab-client shows a 404 the same way and still exits 0', async () => {
    const result = await runExample('lab-client', ['127.0.0.1', String(port), 'missing.html']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(splitResponse(result.stdout).statusLine, 'HTTP/1.1 404 Not Found');
  });

  test('sockhttp get HOST PORT FILENAME: the file on stdout; with --raw, exactly what lab-client prints', async () => {
    const plain = await runCli(['get', '127.0.0.1', String(port), 'HelloWorld.html', '--max-time', '15']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.ok(plain.stdout.equals(HELLO));

    const raw = await runCli(['get', '127.0.0.1', String(port), 'HelloWorld.html', '--raw', '--max-time', '15']);
    const lab = await runExample('lab-client', ['127.0.0.1', String(port), 'HelloWorld.html']);
    assert.equal(raw.code, 0, raw.stderr);
    assert.equal(lab.code, 0, lab.stderr);
    // The lab server sends no Date, so two answers to the same request are the same bytes.
    assert.equal(raw.stdout.toString('latin1'), lab.stdout.toString('latin1'));
    assert.equal(splitResponse(raw.stdout).statusLine, 'HTTP/1.1 200 OK');
  });

  test('the server printed each request line it answered', () => {
    assert.match(server.output(), /^GET \/HelloWorld\.html HTTP\/1\.1$/m);
    assert.match(server.output(), /^GET \/missing\.html HTTP\/1\.1$/m);
  });
});

describe('lab-client and sockhttp get when the server is down', () => {
  test('lab-client exits 1 with one line on stderr', async () => {
    const port = await closedPort();
    const result = await runExample('lab-client', ['127.0.0.1', String(port), 'HelloWorld.html']);
    assert.equal(result.code, 1);
    assertOneLine(result.stderr);
    assert.equal(result.stdout.length, 0);
  });

  test('sockhttp get in the lab form exits 7 with one line on stderr', async () => {
    const port = await closedPort();
    const result = await runCli(['get', '127.0.0.1', String(port), 'HelloWorld.html']);
    assert.equal(result.code, 7);
    assertOneLine(result.stderr);
    assert.equal(result.stdout.length, 0);
  });

  test('lab-client without its three arguments prints its usage', async () => {
    const result = await runExample('lab-client', ['127.0.0.1']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /usage: client SERVER_HOST SERVER_PORT FILENAME/);
  });
});

// public/ is being written by another engineer; until its HelloWorld.html exists these are skipped
// (visibly), not failed.
const PUBLIC_READY = existsSync(join(PUBLIC_ROOT, 'HelloWorld.html')) && existsSync(join(PUBLIC_ROOT, 'index.html'));

describe('sockhttp serve public/ (the multithreaded web server step)', {
  skip: !PUBLIC_READY && 'public/HelloWorld.html or public/index.html does not exist yet',
}, () => {
  let server: Awaited<ReturnType<typeof startCliServer>>;
  before(async () => {
    server = await startCliServer([PUBLIC_ROOT, '--quiet']);
  });
  after(async () => {
    await server?.stop();
  });

  test('serves /HelloWorld.html', async () => {
    const response = splitResponse(
      await rawExchange(server.port, 'GET /HelloWorld.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'),
    );
    assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
    assert.match(response.field('content-type') ?? '', /^text\/html/);
    assert.ok(response.body.equals(readFileSync(join(PUBLIC_ROOT, 'HelloWorld.html'))));
  });

  test('serves / with index.html', async () => {
    const response = splitResponse(await rawExchange(server.port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
    assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
    assert.ok(response.body.equals(readFileSync(join(PUBLIC_ROOT, 'index.html'))));
  });

  test('lab-client and sockhttp get read HelloWorld.html from it', async () => {
    const lab = await runExample('lab-client', ['127.0.0.1', String(server.port), 'HelloWorld.html']);
    assert.equal(lab.code, 0, lab.stderr);
    assert.ok(splitResponse(lab.stdout).body.equals(readFileSync(join(PUBLIC_ROOT, 'HelloWorld.html'))));
    const cli = await runCli(['get', '127.0.0.1', String(server.port), 'HelloWorld.html', '--max-time', '15']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.ok(cli.stdout.equals(readFileSync(join(PUBLIC_ROOT, 'HelloWorld.html'))));
  });
});
