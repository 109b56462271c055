/**
 * `sockhttp get` as a curl user runs it (the real bin script, in a child process): request options,
 * response options, downloads with -o/-O/-C -/--progress/--limit-rate, redirects, compression,
 * retries, several URLs over one kept-alive connection, proxies from the environment and TLS. The
 * servers are node:http ones written here, nginx, python3 -m http.server and our own.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type Socket, connect, createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { request } from '../../src/index.js';
import { VERSION } from '../../src/version.js';
import { type CommandResult, commandExists, makeTempDir, runCli, runCommand, startPythonServer, runNginx } from '../helpers.js';
import { assertOneLine, readAll, splitResponse } from '../net/client/helpers.js';

/** Every run is bounded twice: by --max-time inside, and by runCli's kill timer outside. */
const MAX_TIME = ['--max-time', '15'];

function get(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CommandResult> {
  // A proxy in the tester's environment must not change what these tests mean.
  const env = options.env ?? withoutProxies(process.env);
  return runCli(['get', ...args, ...MAX_TIME], { env, ...(options.cwd !== undefined && { cwd: options.cwd }) });
}

function withoutProxies(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of Object.keys(copy)) if (/^(https?|all|no)_proxy$/i.test(name)) delete copy[name];
  return copy;
}

function assertSuccess(result: CommandResult): void {
  assert.equal(result.code, 0, `exit code; stderr: ${result.stderr}`);
  assert.equal(result.stderr, '');
}

function assertFailure(result: CommandResult, code: number): void {
  assert.equal(result.code, code, `exit code; stderr: ${result.stderr}`);
  assertOneLine(result.stderr);
  assert.equal(result.stdout.length, 0, `stdout should be empty, got ${JSON.stringify(result.stdout.toString('latin1').slice(0, 200))}`);
}

function pattern(size: number, seed = 0): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 8) + seed) & 0xff;
  return bytes;
}

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createNetServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------------------------
// A node:http server with one route per feature

/** The resumable file of /file: its bytes and validators, and how the server misbehaves. */
interface FileState {
  bytes: Buffer;
  etag: string | null;
  lastModified: string | null;
  /** Send only this many bytes of a full answer, then drop the connection. */
  cutAt: number | null;
  /** Ignore If-Range: answer every Range as if the validator matched (a broken server). */
  ignoreIfRange: boolean;
  /** Answer a Range with a 206 that starts at 0 (a broken server). */
  wrongStart: boolean;
  /** Answer everything with this status. */
  forceStatus: number | null;
}

interface FeatureServer {
  port: number;
  url(path: string, host?: string): string;
  connections(): number;
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: Buffer }>;
  file: FileState;
  flakyFailures: number;
  close(): Promise<void>;
}

const TEXT = Buffer.from('plain text, compressible, '.repeat(400));
const BIG = pattern(200_000);

function serveFile(req: IncomingMessage, res: ServerResponse, file: FileState): void {
  if (file.forceStatus !== null) return void res.writeHead(file.forceStatus).end('no');
  const headers: Record<string, string> = { 'Accept-Ranges': 'bytes' };
  if (file.etag !== null) headers.ETag = file.etag;
  if (file.lastModified !== null) headers['Last-Modified'] = file.lastModified;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'];
  const validatorMatches = ifRange === undefined || ifRange === file.etag || ifRange === file.lastModified;
  if (range && (validatorMatches || file.ignoreIfRange)) {
    const start = Number(range[1]);
    if (start >= file.bytes.length) {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${file.bytes.length}` });
      return void res.end();
    }
    const from = file.wrongStart ? 0 : start;
    res.writeHead(206, {
      ...headers,
      'Content-Range': `bytes ${from}-${file.bytes.length - 1}/${file.bytes.length}`,
      'Content-Length': String(file.bytes.length - from),
    });
    return void res.end(file.bytes.subarray(from));
  }
  res.writeHead(200, { ...headers, 'Content-Length': String(file.bytes.length) });
  if (file.cutAt === null) return void res.end(file.bytes);
  res.write(file.bytes.subarray(0, file.cutAt), () => setTimeout(() => res.destroy(), 20));
}

async function startFeatureServer(): Promise<FeatureServer> {
  let connections = 0;
  const state = {
    requests: [] as FeatureServer['requests'],
    file: {
      bytes: pattern(100_000),
      etag: '"v1"',
      lastModified: null,
      cutAt: null,
      ignoreIfRange: false,
      wrongStart: false,
      forceStatus: null,
    } as FileState,
    flakyFailures: 0,
  };
  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const url = new URL(req.url!, 'http://x');
    const status = /^\/status\/(\d{3})$/.exec(url.pathname)?.[1];
    const redirect = /^\/redirect\/(\d{3})$/.exec(url.pathname)?.[1];
    if (status) return void res.writeHead(Number(status)).end(`status ${status}\n`);
    if (redirect) return void res.writeHead(Number(redirect), { Location: url.searchParams.get('to') ?? '/echo' }).end('moved\n');
    if (url.pathname.startsWith('/text/'))
      return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`text of ${url.pathname.slice(6)}\n`);
    switch (url.pathname) {
      case '/echo':
        res.setHeader('Content-Type', 'application/json');
        return void res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: body.toString('latin1') }));
      case '/loop':
        return void res.writeHead(302, { Location: '/loop' }).end();
      case '/gzip':
        return void res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Type': 'text/plain' }).end(gzipSync(TEXT));
      case '/big':
        return void res.writeHead(200, { 'Content-Length': String(BIG.length) }).end(BIG);
      case '/file':
        return serveFile(req, res, state.file);
      case '/flaky':
        if (state.flakyFailures > 0) {
          state.flakyFailures -= 1;
          return void res.writeHead(503).end('busy\n');
        }
        return void res.end('ok\n');
      default:
        return void res.writeHead(404).end('not found\n');
    }
  };
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      state.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      handle(req, res, body);
    });
  });
  server.on('connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: (path, host = '127.0.0.1') => `http://${host}:${port}${path}`,
    connections: () => connections,
    get requests() {
      return state.requests;
    },
    get file() {
      return state.file;
    },
    set file(value: FileState) {
      state.file = value;
    },
    get flakyFailures() {
      return state.flakyFailures;
    },
    set flakyFailures(value: number) {
      state.flakyFailures = value;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let server: FeatureServer;
before(async () => {
  server = await startFeatureServer();
});
after(async () => {
  await server?.close();
});

function lastRequest() {
  return server.requests.at(-1)!;
}

function echoOf(result: CommandResult): { method: string; url: string; headers: Record<string, string>; body: string } {
  return JSON.parse(result.stdout.toString('utf8'));
}

// ---------------------------------------------------------------------------------------------

describe('request options: -X, -H, -d, --data-binary, --json, -I, -A', () => {
  const folder = makeTempDir('sockhttp-get-data-');
  after(() => folder.remove());

  test('a default User-Agent of sockhttp/VERSION; -A replaces it', async () => {
    const plain = await get([server.url('/echo')]);
    assertSuccess(plain);
    assert.equal(echoOf(plain).headers['user-agent'], `sockhttp/${VERSION}`);
    const named = await get(['-A', 'curl-like/1.0', server.url('/echo')]);
    assert.equal(echoOf(named).headers['user-agent'], 'curl-like/1.0');
  });

  test('-d sends a form with POST; several -d are joined with &', async () => {
    const result = await get(['-d', 'a=1', '-d', 'b=two words', server.url('/echo')]);
    assertSuccess(result);
    const echo = echoOf(result);
    assert.equal(echo.method, 'POST');
    assert.equal(echo.body, 'a=1&b=two words');
    assert.equal(echo.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(echo.headers['content-length'], '15');
  });

  test('-d @FILE drops line breaks; --data-binary @FILE sends the file byte for byte', async () => {
    const path = join(folder.path, 'data.txt');
    writeFileSync(path, 'line one\r\nline two\n');
    assert.equal(echoOf(await get(['-d', `@${path}`, server.url('/echo')])).body, 'line oneline two');
    assert.equal(echoOf(await get(['--data-binary', `@${path}`, server.url('/echo')])).body, 'line one\r\nline two\n');
  });

  test('--json sends JSON with Content-Type and Accept: application/json', async () => {
    const echo = echoOf(await get(['--json', '{"name":"value"}', server.url('/echo')]));
    assert.equal(echo.method, 'POST');
    assert.equal(echo.body, '{"name":"value"}');
    assert.equal(echo.headers['content-type'], 'application/json');
    assert.equal(echo.headers.accept, 'application/json');
  });

  test('-X picks the method; -H overrides the Content-Type a body implies', async () => {
    const echo = echoOf(await get(['-X', 'PUT', '-H', 'Content-Type: text/plain', '-d', 'x', server.url('/echo')]));
    assert.equal(echo.method, 'PUT');
    assert.equal(echo.headers['content-type'], 'text/plain');
  });

  test('-I sends HEAD and shows the response head, no body', async () => {
    const result = await get(['-I', server.url('/text/a')]);
    assertSuccess(result);
    assert.equal(lastRequest().method, 'HEAD');
    const response = splitResponse(result.stdout);
    assert.equal(response.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(response.field('content-type'), 'text/plain');
    assert.equal(response.body.length, 0);
  });

  test('-I with -d is a usage error (2); a missing -d @FILE is exit 26', async () => {
    assertFailure(await get(['-I', '-d', 'x', server.url('/echo')]), 2);
    assertFailure(await get(['-d', `@${join(folder.path, 'missing.txt')}`, server.url('/echo')]), 26);
  });
});

describe('response options: -i, -v, -s, -S, --fail, -w, --json-output', () => {
  test('-v: the connection, the request head (>) and the response head (<) on stderr', async () => {
    const result = await get(['-v', server.url('/text/v')]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'text of v\n');
    const lines = result.stderr.split('\n');
    assert.ok(lines.includes(`* Connected to 127.0.0.1 (127.0.0.1) port ${server.port} (#1)`), result.stderr);
    assert.ok(lines.includes('> GET /text/v HTTP/1.1'), result.stderr);
    assert.ok(lines.includes(`> Host: 127.0.0.1:${server.port}`), result.stderr);
    assert.ok(lines.includes('< HTTP/1.1 200 OK'), result.stderr);
    assert.ok(lines.includes('< Content-Type: text/plain'), result.stderr);
  });

  test('--fail: exit 22 for a 404, no body on stdout, and no file for -o', async () => {
    const folder = makeTempDir('sockhttp-get-fail-');
    try {
      assertFailure(await get(['--fail', server.url('/status/404')]), 22);
      assertFailure(await get(['-f', '-o', join(folder.path, 'page.html'), server.url('/status/500')]), 22);
      assert.deepEqual(readdirSync(folder.path), []);
      const ok = await get(['--fail', server.url('/status/200')]);
      assertSuccess(ok);
      // Without --fail an error status is still a successful transfer, as in curl.
      assertSuccess(await get([server.url('/status/404')]));
    } finally {
      folder.remove();
    }
  });

  test('-s hides error messages, -S brings them back', async () => {
    const port = await freePort();
    const silent = await get(['-s', `http://127.0.0.1:${port}/`]);
    assert.equal(silent.code, 7);
    assert.equal(silent.stderr, '');
    assertFailure(await get(['-s', '-S', `http://127.0.0.1:${port}/`]), 7);
  });

  test('-w with the transfer variables, after the body', async () => {
    const format =
      '\\n%{http_code} %{size_download} %{num_redirects} %{url_effective} %{content_type} %{remote_ip} %{remote_port} %{http_version} %{exitcode}|%{time_namelookup} %{time_connect} %{time_appconnect} %{time_starttransfer} %{time_total}\\n';
    const result = await get(['-L', '-w', format, server.url(`/redirect/302?to=${encodeURIComponent('/text/w')}`)]);
    assertSuccess(result);
    const [body, written] = result.stdout.toString().split('\n\n') as [string, string];
    assert.equal(body, 'text of w');
    const [fields, times] = written.trim().split('|') as [string, string];
    assert.deepEqual(fields.split(' '), [
      '200',
      '10',
      '1',
      server.url('/text/w'),
      'text/plain',
      '127.0.0.1',
      String(server.port),
      '1.1',
      '0',
    ]);
    const [nameLookup, connect, appConnect, firstByte, total] = times.split(' ').map(Number) as [number, number, number, number, number];
    assert.equal(appConnect, 0, 'no TLS');
    assert.ok(nameLookup <= connect && connect <= firstByte && firstByte <= total && total < 15, times);
  });

  test('-w after a failure: http_code 000, the exit code and the message', async () => {
    const port = await freePort();
    const result = await get(['-w', '%{http_code} %{exitcode}', `http://127.0.0.1:${port}/`]);
    assert.equal(result.code, 7);
    assert.equal(result.stdout.toString(), '000 7');
  });

  test('an unknown -w variable is a usage error', async () => {
    assertFailure(await get(['-w', '%{no_such_thing}', server.url('/text/x')]), 2);
  });

  test('--json-output: one JSON object per URL with status, headers and timings', async () => {
    const result = await get(['--json-output', '-o', '/dev/null', '-o', '/dev/null', server.url('/text/j'), server.url('/status/404')]);
    assertSuccess(result);
    const objects = result.stdout
      .toString()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(objects.length, 2);
    assert.equal(objects[0].http_code, 200);
    assert.deepEqual(objects[0].headers['content-type'], ['text/plain']);
    assert.equal(objects[0].size_download, 10);
    assert.equal(typeof objects[0].time_total, 'number');
    assert.equal(objects[1].http_code, 404);
    assert.equal(objects[1].url_effective, server.url('/status/404'));
  });

  test('-i -L shows the redirect head and the final head before the body', async () => {
    const result = await get(['-i', '-L', server.url(`/redirect/301?to=${encodeURIComponent('/text/i')}`)]);
    assertSuccess(result);
    const text = result.stdout.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 301 Moved Permanently\r\n[\s\S]*?\r\n\r\nHTTP\/1\.1 200 OK\r\n[\s\S]*?\r\n\r\ntext of i\n$/);
  });
});

describe('several URLs: one kept-alive connection per host:port', () => {
  test('three URLs: three bodies in order, one TCP connection, "Re-using connection" with -v', async () => {
    const before = server.connections();
    const result = await get(['-v', server.url('/text/a'), server.url('/text/b'), server.url('/text/c')]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'text of a\ntext of b\ntext of c\n');
    assert.equal(server.connections() - before, 1);
    assert.equal(result.stderr.match(/^\* Re-using connection #1 to 127\.0\.0\.1 port \d+$/gm)?.length, 2, result.stderr);
    // Keep-alive while more requests follow; the last one says Connection: close.
    const connectionFields = server.requests.slice(-3).map((r) => r.headers.connection);
    assert.deepEqual(connectionFields, [undefined, undefined, 'close']);
  });

  test('two hosts: one connection each', async () => {
    const before = server.connections();
    const result = await get([server.url('/text/a'), server.url('/text/b', 'localhost'), server.url('/text/c')]);
    assertSuccess(result);
    assert.equal(server.connections() - before, 2);
  });

  test('HOST PORT FILENAME is the lab form only when the second argument is a port and the first is no URL', async () => {
    const lab = await get(['127.0.0.1', String(server.port), 'text/lab']);
    assertSuccess(lab);
    assert.equal(lab.stdout.toString(), 'text of lab\n');
    const urls = await get([server.url('/text/1'), `127.0.0.1:${server.port}/text/2`, server.url('/text/3')]);
    assertSuccess(urls);
    assert.equal(urls.stdout.toString(), 'text of 1\ntext of 2\ntext of 3\n');
  });

  test('the first failure stops the run with its exit code', async () => {
    const result = await get(['--fail', server.url('/text/a'), server.url('/status/404'), server.url('/text/c')]);
    assert.equal(result.code, 22);
    assert.equal(result.stdout.toString(), 'text of a\n');
  });
});

describe('downloads: -o, -O, --progress, --limit-rate', () => {
  const folder = makeTempDir('sockhttp-get-download-');
  after(() => folder.remove());

  test('one -o per URL, in order', async () => {
    const sub = join(folder.path, 'pairs');
    mkdirSync(sub);
    const result = await get(['-o', join(sub, 'a.txt'), '-o', join(sub, 'b.txt'), server.url('/text/a'), server.url('/text/b')]);
    assertSuccess(result);
    assert.equal(readFileSync(join(sub, 'a.txt'), 'utf8'), 'text of a\n');
    assert.equal(readFileSync(join(sub, 'b.txt'), 'utf8'), 'text of b\n');
    assert.deepEqual(readdirSync(sub).sort(), ['a.txt', 'b.txt']);
  });

  test('-O names the file after the last segment of the URL, decoded', async () => {
    const sub = join(folder.path, 'remote');
    mkdirSync(sub);
    assertSuccess(await get(['-O', server.url('/text/report.txt'), server.url('/text/my%20file.txt')], { cwd: sub }));
    assert.deepEqual(readdirSync(sub).sort(), ['my file.txt', 'report.txt']);
    assert.equal(readFileSync(join(sub, 'report.txt'), 'utf8'), 'text of report.txt\n');
  });

  for (const [name, path] of [
    ['an empty last segment', '/text/'],
    ['a dot name', '/text/.bashrc'],
    ['an encoded ..', '/text/%2e%2e'],
    ['an encoded slash', '/text/a%2Fb'],
  ] as const) {
    test(`-O refuses ${name} (exit 23) and writes nothing`, async () => {
      const sub = join(folder.path, `refuse-${name.replace(/\W+/g, '-')}`);
      mkdirSync(sub);
      assertFailure(await get(['-O', server.url(path)], { cwd: sub }), 23);
      assert.deepEqual(readdirSync(sub), []);
    });
  }

  test('--progress draws a bar on stderr with bytes, percent and rate; -s hides it; without a terminal there is none', async () => {
    const destination = join(folder.path, 'big.bin');
    const shown = await get(['--progress', '-o', destination, server.url('/big')]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.ok(readFileSync(destination).equals(BIG));
    const last = shown.stderr.trim().split('\n').at(-1)!;
    assert.match(last, /\[=+\] 100% \| 195\.3 KiB of 195\.3 KiB \| [\d.]+ (B|KiB|MiB|GiB)\/s \| done/);
    assert.equal((await get(['-s', '--progress', '-o', destination, server.url('/big')])).stderr, '');
    assertSuccess(await get(['-o', destination, server.url('/big')]));
  });

  test('--limit-rate 100K: 200 KB take at least about a second, and arrive whole', async () => {
    const destination = join(folder.path, 'slow.bin');
    const started = performance.now();
    const result = await get(['--limit-rate', '100K', '-o', destination, server.url('/big')]);
    const seconds = (performance.now() - started) / 1000;
    assertSuccess(result);
    assert.ok(readFileSync(destination).equals(BIG));
    // A loose lower bound only: one socket read may run ahead of the rate; the machine is noisy.
    assert.ok(seconds >= 0.9, `took only ${seconds.toFixed(2)} s`);
  });

  test('--limit-rate that is not a rate is a usage error', async () => {
    assertFailure(await get(['--limit-rate', 'fast', server.url('/big')]), 2);
  });
});

describe('-C -: resuming a download safely', () => {
  const folder = makeTempDir('sockhttp-get-resume-');
  after(() => folder.remove());
  const V1 = pattern(100_000, 1);
  const V2 = pattern(100_000, 2);
  let counter = 0;

  function freshFile(bytes: Buffer, etag: string | null, extra: Partial<FileState> = {}): void {
    server.file = { bytes, etag, lastModified: null, cutAt: null, ignoreIfRange: false, wrongStart: false, forceStatus: null, ...extra };
  }

  /** A folder with a partial download of V1 (40 000 bytes) and its resume record, made by an interrupted run. */
  async function interrupted(): Promise<{ dir: string; destination: string; partial: string; record: string }> {
    const dir = join(folder.path, `case-${counter++}`);
    mkdirSync(dir);
    const destination = join(dir, 'file.bin');
    freshFile(V1, '"v1"', { cutAt: 40_000 });
    const result = await get(['-C', '-', '-o', destination, server.url('/file')]);
    assert.equal(result.code, 18, result.stderr);
    const partial = join(dir, '.file.bin.sockhttp-partial');
    const record = join(dir, '.file.bin.sockhttp-resume.json');
    assert.equal(existsSync(destination), false, 'an interrupted download is never at FILE');
    assert.ok(readFileSync(partial).equals(V1.subarray(0, 40_000)));
    assert.deepEqual(JSON.parse(readFileSync(record, 'utf8')), { url: server.url('/file'), validator: '"v1"', total: 100_000 });
    return { dir, destination, partial, record };
  }

  test('an interrupted download resumes with Range and If-Range, and the file comes out whole', async () => {
    const { dir, destination } = await interrupted();
    freshFile(V1, '"v1"');
    const result = await get(['-C', '-', '-o', destination, server.url('/file')]);
    assertSuccess(result);
    assert.ok(readFileSync(destination).equals(V1));
    assert.deepEqual(readdirSync(dir), ['file.bin']);
    assert.equal(lastRequest().headers.range, 'bytes=40000-');
    assert.equal(lastRequest().headers['if-range'], '"v1"');
  });

  test('the file changed on the server (If-Range does not match, 200): rewritten from scratch, never appended to', async () => {
    const { dir, destination } = await interrupted();
    freshFile(V2, '"v2"');
    const result = await get(['-C', '-', '-o', destination, server.url('/file')]);
    assertSuccess(result);
    assert.ok(readFileSync(destination).equals(V2), 'the new version, whole, and nothing of the old one');
    assert.deepEqual(readdirSync(dir), ['file.bin']);
  });

  test('a server that ignores If-Range and sends a 206 of a file of another size: exit 33, the partial file untouched', async () => {
    const { dir, destination, partial, record } = await interrupted();
    freshFile(pattern(120_000, 3), '"v3"', { ignoreIfRange: true });
    assertFailure(await get(['-C', '-', '-o', destination, server.url('/file')]), 33);
    assert.ok(readFileSync(partial).equals(V1.subarray(0, 40_000)));
    assert.equal(JSON.parse(readFileSync(record, 'utf8')).validator, '"v1"');
    assert.equal(existsSync(destination), false);
    assert.equal(readdirSync(dir).length, 2);
  });

  test('a 206 of the same size but a new ETag: exit 33, not appended', async () => {
    const { partial, destination } = await interrupted();
    freshFile(V2, '"v2"', { ignoreIfRange: true });
    assertFailure(await get(['-C', '-', '-o', destination, server.url('/file')]), 33);
    assert.ok(readFileSync(partial).equals(V1.subarray(0, 40_000)));
  });

  test('a 206 that does not start where the partial file ends: exit 33', async () => {
    const { partial, destination } = await interrupted();
    freshFile(V1, '"v1"', { wrongStart: true });
    assertFailure(await get(['-C', '-', '-o', destination, server.url('/file')]), 33);
    assert.equal(readFileSync(partial).length, 40_000);
  });

  test('a partial file that is already whole: 416 means done', async () => {
    const { dir, destination, partial } = await interrupted();
    writeFileSync(partial, V1); // as if the connection broke after the last byte
    freshFile(V1, '"v1"');
    const result = await get(['-C', '-', '-o', destination, server.url('/file')]);
    assertSuccess(result);
    assert.equal(lastRequest().headers.range, 'bytes=100000-');
    assert.ok(readFileSync(destination).equals(V1));
    assert.deepEqual(readdirSync(dir), ['file.bin']);
  });

  test('an error status while resuming: exit 22, the partial download kept for later', async () => {
    const { partial, record, destination } = await interrupted();
    freshFile(V1, '"v1"', { forceStatus: 503 });
    assertFailure(await get(['-C', '-', '-o', destination, server.url('/file')]), 22);
    assert.equal(readFileSync(partial).length, 40_000);
    assert.ok(existsSync(record));
  });

  test('without a strong validator nothing can be resumed safely: a failed download leaves nothing behind', async () => {
    const dir = join(folder.path, 'weak');
    mkdirSync(dir);
    freshFile(V1, 'W/"weak"', { cutAt: 40_000 });
    assert.equal((await get(['-C', '-', '-o', join(dir, 'file.bin'), server.url('/file')])).code, 18);
    assert.deepEqual(readdirSync(dir), []);
  });

  test('Last-Modified is the validator when there is no ETag (if it is at least a second older than Date)', async () => {
    const dir = join(folder.path, 'dated');
    mkdirSync(dir);
    const lastModified = new Date(Date.now() - 3_600_000).toUTCString();
    freshFile(V1, null, { cutAt: 40_000, lastModified });
    const destination = join(dir, 'file.bin');
    assert.equal((await get(['-C', '-', '-o', destination, server.url('/file')])).code, 18);
    freshFile(V1, null, { lastModified });
    assertSuccess(await get(['-C', '-', '-o', destination, server.url('/file')]));
    assert.equal(lastRequest().headers['if-range'], lastModified);
    assert.ok(readFileSync(destination).equals(V1));
  });

  test('-C needs -o or -O, takes only "-", and does not mix with -i', async () => {
    assertFailure(await get(['-C', '-', server.url('/file')]), 2);
    assertFailure(await get(['-C', '100', '-o', join(folder.path, 'x'), server.url('/file')]), 2);
    assertFailure(await get(['-C', '-', '-i', '-o', join(folder.path, 'x'), server.url('/file')]), 2);
  });
});

describe('redirects with -L', () => {
  test('without -L the redirect is the answer; with -L it is followed', async () => {
    const plain = await get([server.url('/redirect/302')]);
    assertSuccess(plain);
    assert.equal(plain.stdout.toString(), 'moved\n');
    const followed = await get(['-L', server.url(`/redirect/302?to=${encodeURIComponent('/text/there')}`)]);
    assertSuccess(followed);
    assert.equal(followed.stdout.toString(), 'text of there\n');
  });

  test('-d then 303: GET without the content; -d then 307: POST with it', async () => {
    const seeOther = echoOf(await get(['-L', '-d', 'x=1', server.url('/redirect/303')]));
    assert.equal(seeOther.method, 'GET');
    assert.equal(seeOther.body, '');
    assert.equal(seeOther.headers['content-type'], undefined);
    const temporary = echoOf(await get(['-L', '-d', 'x=1', server.url('/redirect/307')]));
    assert.equal(temporary.method, 'POST');
    assert.equal(temporary.body, 'x=1');
  });

  test('--max-redirs exceeded: exit 47', async () => {
    assertFailure(await get(['-L', '--max-redirs', '2', server.url('/loop')]), 47);
  });

  test('Authorization is dropped when the redirect goes to another host', async () => {
    const elsewhere = server.url('/echo', 'localhost');
    const echo = echoOf(
      await get(['-L', '-H', 'Authorization: Bearer secret', server.url(`/redirect/302?to=${encodeURIComponent(elsewhere)}`)]),
    );
    assert.equal(echo.headers.authorization, undefined);
    const same = echoOf(await get(['-L', '-H', 'Authorization: Bearer secret', server.url('/redirect/302')]));
    assert.equal(same.headers.authorization, 'Bearer secret');
  });
});

describe('--compressed and --retry', () => {
  test('--compressed asks for gzip, deflate, br and decodes; without it the bytes stay encoded', async () => {
    const decoded = await get(['--compressed', server.url('/gzip')]);
    assertSuccess(decoded);
    assert.ok(decoded.stdout.equals(TEXT));
    assert.equal(lastRequest().headers['accept-encoding'], 'gzip, deflate, br');
    const raw = await get([server.url('/gzip')]);
    assert.ok(raw.stdout.equals(gzipSync(TEXT)), 'the gzip bytes as the server sent them');
  });

  test('--retry after two 503s: the third answer, and a warning per retry', async () => {
    server.flakyFailures = 2;
    const result = await get(['--retry', '3', '--retry-delay', '0.05', server.url('/flaky')]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'ok\n');
    assert.equal(result.stderr.match(/retry \d in/g)?.length, 2, result.stderr);
  });

  test('--retry against a refused port: retried, then exit 7; the default wait is about a second', async () => {
    const port = await freePort();
    const started = performance.now();
    const result = await get(['--retry', '1', `http://127.0.0.1:${port}/`]);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(result.code, 7);
    assert.equal(result.stderr.trim().split('\n').length, 2, result.stderr);
    assert.ok(seconds >= 0.9, `took only ${seconds.toFixed(2)} s`);
  });
});

describe('--help', () => {
  test('lists the new options and their exit codes', async () => {
    const result = await get(['--help']);
    const help = result.stdout.toString();
    for (const option of [
      '-d',
      '--data-binary',
      '--json',
      '-I',
      '-A',
      '-v',
      '-s',
      '-f',
      '--fail',
      '-w',
      '--json-output',
      '-O',
      '-C',
      '--progress',
      '--limit-rate',
      '-L',
      '--max-redirs',
      '--compressed',
      '--retry',
      '-x',
      '--noproxy',
    ]) {
      assert.match(help, new RegExp(`(^|[\\s,])${option}\\b`), `--help does not mention ${option}`);
    }
    for (const [code, meaning] of [
      [5, /proxy/],
      [22, /--fail/],
      [26, /read/],
      [33, /resume/],
      [47, /redirects/],
      [52, /without a response/],
      [61, /decode/],
      [97, /proxy/],
    ] as const) {
      assert.match(help, new RegExp(`(^|\\s)${code} +[^\\n]*${meaning.source}`), `exit code ${code}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Proxies and TLS

interface Proxy {
  port: number;
  seen: string[];
  refuse: boolean;
  close(): Promise<void>;
}

/** A forward proxy on node:http. It alone knows where origin.test is: 127.0.0.1. */
async function startProxy(): Promise<Proxy> {
  const mapHost = (host: string) => (host === 'origin.test' ? '127.0.0.1' : host);
  const sockets = new Set<Socket>();
  const state = { seen: [] as string[], refuse: false };
  const proxy = createHttpServer((req, res) => {
    state.seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url!);
    const upstream = httpRequest(
      {
        host: mapHost(target.hostname),
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: req.method,
        headers: { ...req.headers, connection: 'close' },
        agent: false,
      },
      (answer) => {
        const { connection: _connection, ...headers } = answer.headers;
        res.writeHead(answer.statusCode!, headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  proxy.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  proxy.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    state.seen.push(`CONNECT ${req.url}`);
    client.on('error', () => {});
    if (state.refuse) return client.end('HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n');
    const colon = req.url!.lastIndexOf(':');
    const upstream = connect(Number(req.url!.slice(colon + 1)), mapHost(req.url!.slice(0, colon)), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => sockets.delete(upstream));
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  return {
    port: (proxy.address() as { port: number }).port,
    get seen() {
      return state.seen;
    },
    get refuse() {
      return state.refuse;
    },
    set refuse(value: boolean) {
      state.refuse = value;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}

const hasOpenssl = commandExists('openssl');

describe('proxies (http_proxy, https_proxy, no_proxy) and TLS', () => {
  let proxy: Proxy;
  let tls: { port: number; close(): Promise<void>; connections(): number } | null = null;
  const certs = makeTempDir('sockhttp-get-tls-');
  const caPath = join(certs.path, 'cert.pem');
  before(async () => {
    proxy = await startProxy();
    if (!hasOpenssl) return;
    const key = join(certs.path, 'key.pem');
    const args = [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      caPath,
      '-days',
      '1',
      '-subj',
      '/CN=origin.test',
      '-addext',
      'subjectAltName=DNS:origin.test,IP:127.0.0.1',
    ];
    const made = await runCommand('openssl', args, { timeoutMs: 60_000 });
    assert.equal(made.code, 0, made.stderr);
    let connections = 0;
    const https = createHttpsServer({ cert: readFileSync(caPath), key: readFileSync(key) }, (req, res) => res.end(`secure ${req.url}\n`));
    https.on('secureConnection', () => connections++);
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    tls = {
      port: (https.address() as { port: number }).port,
      connections: () => connections,
      close: async () => {
        https.closeAllConnections();
        await new Promise<void>((resolve) => https.close(() => resolve()));
      },
    };
  });
  after(async () => {
    await proxy?.close();
    await tls?.close();
    certs.remove();
  });

  const env = (extra: Record<string, string>) => ({ ...withoutProxies(process.env), ...extra });

  test('http_proxy: the request goes to the proxy in absolute form (origin.test resolves only there)', async () => {
    const target = `http://origin.test:${server.port}/text/proxied`;
    const result = await get([target], { env: env({ http_proxy: `http://127.0.0.1:${proxy.port}` }) });
    assertSuccess(result);
    assert.equal(result.stdout.toString(), 'text of proxied\n');
    assert.equal(proxy.seen.at(-1), `GET ${target}`);
  });

  test('no_proxy: a listed host is reached directly (here: origin.test cannot be resolved, exit 6)', async () => {
    const before = proxy.seen.length;
    const result = await get([`http://origin.test:${server.port}/text/x`], {
      env: env({ http_proxy: `http://127.0.0.1:${proxy.port}`, no_proxy: 'example.com,origin.test' }),
    });
    assertFailure(result, 6);
    assert.equal(proxy.seen.length, before);
  });

  test('-x overrides the environment; --noproxy lists direct hosts', async () => {
    const viaOption = await get(['-x', `127.0.0.1:${proxy.port}`, `http://origin.test:${server.port}/text/x`], {
      env: env({ http_proxy: 'http://nonexistent.invalid:1' }),
    });
    assertSuccess(viaOption);
    const bypassed = await get(['-x', `127.0.0.1:${proxy.port}`, '--noproxy', '127.0.0.1', server.url('/text/direct')]);
    assertSuccess(bypassed);
    assert.notEqual(proxy.seen.at(-1), `GET ${server.url('/text/direct')}`);
  });

  test('a proxy that cannot be resolved: exit 5; one that refuses connections: exit 7', async () => {
    assertFailure(await get([`http://origin.test:${server.port}/`], { env: env({ http_proxy: 'http://nonexistent.invalid:3128' }) }), 5);
    const port = await freePort();
    assertFailure(await get([`http://origin.test:${server.port}/`], { env: env({ http_proxy: `http://127.0.0.1:${port}` }) }), 7);
  });

  test('https_proxy: a CONNECT tunnel, TLS to the origin inside it, verified with --cacert', {
    skip: !hasOpenssl && 'openssl is not installed',
  }, async () => {
    const target = `https://origin.test:${tls!.port}/inside`;
    const result = await get(['-v', '--cacert', caPath, target], { env: env({ HTTPS_PROXY: `http://127.0.0.1:${proxy.port}` }) });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'secure /inside\n');
    assert.equal(proxy.seen.at(-1), `CONNECT origin.test:${tls!.port}`);
    assert.match(result.stderr, new RegExp(`^\\* Connected to proxy 127\\.0\\.0\\.1 \\(127\\.0\\.0\\.1\\) port ${proxy.port}`, 'm'));
    assert.match(result.stderr, new RegExp(`^\\* CONNECT tunnel to origin\\.test:${tls!.port} established$`, 'm'));
    assert.match(result.stderr, /^\* TLS connection using TLSv1\.[23] \/ \S+/m);
    assert.match(result.stderr, /; verified$/m);
  });

  test('a proxy that refuses the tunnel: exit 97', { skip: !hasOpenssl && 'openssl is not installed' }, async () => {
    proxy.refuse = true;
    try {
      assertFailure(
        await get(['--cacert', caPath, `https://origin.test:${tls!.port}/`], {
          env: env({ https_proxy: `http://127.0.0.1:${proxy.port}` }),
        }),
        97,
      );
    } finally {
      proxy.refuse = false;
    }
  });

  test('HTTPS directly: -v shows TLS, and two URLs share one TLS connection', {
    skip: !hasOpenssl && 'openssl is not installed',
  }, async () => {
    const before = tls!.connections();
    const url = (path: string) => `https://127.0.0.1:${tls!.port}${path}`;
    const result = await get(['-v', '--cacert', caPath, url('/one'), url('/two')]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'secure /one\nsecure /two\n');
    assert.equal(tls!.connections() - before, 1);
    assert.match(result.stderr, /^\* Re-using connection #1/m);
    assert.match(result.stderr, /^\* Server certificate: subject origin\.test, issuer origin\.test; verified$/m);
  });
});

// ---------------------------------------------------------------------------------------------
// Servers nobody here wrote

interface Nginx {
  port: number;
  root: string;
  stop(): Promise<void>;
}

/** nginx from a config written in a temporary prefix, on a free port, as one process we stop by its PID. */
async function startNginx(): Promise<Nginx> {
  const prefix = makeTempDir('sockhttp-nginx-');
  const root = join(prefix.path, 'root');
  mkdirSync(root);
  mkdirSync(join(prefix.path, 'logs'));
  chmodSync(prefix.path, 0o755);
  writeFileSync(join(root, 'file.bin'), pattern(300_000, 7));
  writeFileSync(join(root, 'text.txt'), TEXT);
  writeFileSync(join(root, 'a.txt'), 'nginx a\n');
  writeFileSync(join(root, 'b.txt'), 'nginx b\n');
  const port = await freePort();
  const config = `daemon off;
master_process off;
pid ${prefix.path}/nginx.pid;
error_log ${prefix.path}/logs/error.log error;
events { worker_connections 64; }
http {
  types { text/plain txt; application/octet-stream bin; }
  access_log off;
  keepalive_timeout 10s;
  client_body_temp_path ${prefix.path}/body;
  proxy_temp_path ${prefix.path}/proxy;
  fastcgi_temp_path ${prefix.path}/fastcgi;
  uwsgi_temp_path ${prefix.path}/uwsgi;
  scgi_temp_path ${prefix.path}/scgi;
  gzip on;
  gzip_types text/plain;
  gzip_min_length 1;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    add_header X-Connection $connection always;
    location = /moved { return 301 /text.txt; }
  }
}
`;
  const { stop } = await runNginx(prefix, config, port);
  return { port, root, stop };
}

const hasNginx = commandExists('nginx') || existsSync('/usr/sbin/nginx');

describe('against nginx', { skip: !hasNginx && 'nginx is not installed (apt-get install nginx-light)' }, () => {
  let nginx: Nginx;
  const folder = makeTempDir('sockhttp-get-nginx-');
  before(async () => {
    nginx = await startNginx();
  });
  after(async () => {
    await nginx?.stop();
    folder.remove();
  });
  const url = (path: string) => `http://127.0.0.1:${nginx.port}${path}`;

  test('three URLs over one connection: nginx numbers its connections, and all three carry the same number', async () => {
    const result = await get([
      '--json-output',
      '-o',
      '/dev/null',
      '-o',
      '/dev/null',
      '-o',
      '/dev/null',
      url('/a.txt'),
      url('/b.txt'),
      url('/a.txt'),
    ]);
    assertSuccess(result);
    const reports = result.stdout
      .toString()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const numbers = reports.map((report) => report.headers['x-connection'][0]);
    assert.equal(numbers.length, 3);
    assert.equal(new Set(numbers).size, 1, `nginx saw connections ${numbers.join(', ')}`);
  });

  test("-C -: a partial download continues with nginx's 206, byte-exact", async () => {
    const whole = readFileSync(join(nginx.root, 'file.bin'));
    const head = await request(url('/file.bin'), { method: 'HEAD', timeoutMs: 10_000 });
    await readAll(head.body);
    const etag = head.fields.get('etag')!;
    assert.match(etag, /^"[^"]+"$/, 'nginx sends a strong ETag');
    const destination = join(folder.path, 'file.bin');
    writeFileSync(join(folder.path, '.file.bin.sockhttp-partial'), whole.subarray(0, 123_456));
    writeFileSync(
      join(folder.path, '.file.bin.sockhttp-resume.json'),
      JSON.stringify({ url: url('/file.bin'), validator: etag, total: whole.length }),
    );
    const result = await get(['-v', '-C', '-', '-o', destination, url('/file.bin')]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /^< HTTP\/1\.1 206 Partial Content$/m);
    assert.ok(readFileSync(destination).equals(whole));
    assert.deepEqual(readdirSync(folder.path), ['file.bin']);
  });

  test('-C - with a stale validator: nginx answers 200 and the file is downloaded afresh', async () => {
    const whole = readFileSync(join(nginx.root, 'file.bin'));
    const destination = join(folder.path, 'stale.bin');
    writeFileSync(join(folder.path, '.stale.bin.sockhttp-partial'), Buffer.alloc(50_000, 0x55));
    writeFileSync(
      join(folder.path, '.stale.bin.sockhttp-resume.json'),
      JSON.stringify({ url: url('/file.bin'), validator: '"an-old-version"', total: whole.length }),
    );
    const result = await get(['-C', '-', '-o', destination, url('/file.bin')]);
    assertSuccess(result);
    assert.ok(readFileSync(destination).equals(whole));
  });

  test('--compressed: nginx gzips, we decode; -w size_download counts the compressed bytes', async () => {
    const result = await get(['--compressed', '-w', '\n%{size_download}', url('/text.txt')]);
    assertSuccess(result);
    const text = result.stdout.toString('latin1');
    const cut = text.lastIndexOf('\n');
    assert.equal(text.slice(0, cut), TEXT.toString('latin1'));
    assert.ok(Number(text.slice(cut + 1)) < TEXT.length / 4, `size_download ${text.slice(cut + 1)}`);
  });

  test("-L follows nginx's 301 (over the same connection); -I shows nginx's head", async () => {
    const followed = await get(['-L', '-v', url('/moved')]);
    assert.equal(followed.code, 0, followed.stderr);
    assert.ok(followed.stdout.equals(TEXT));
    assert.match(followed.stderr, /^\* Re-using connection #1/m);
    const head = await get(['-I', url('/a.txt')]);
    assertSuccess(head);
    assert.match(splitResponse(head.stdout).field('server') ?? '', /^nginx/);
  });
});

describe('against python3 -m http.server', { skip: !commandExists('python3') && 'python3 is not installed' }, () => {
  let python: Awaited<ReturnType<typeof startPythonServer>>;
  const site = makeTempDir('sockhttp-get-python-');
  const BODY = pattern(80_000, 9);
  before(async () => {
    writeFileSync(join(site.path, 'one.txt'), 'python one\n');
    writeFileSync(join(site.path, 'two.txt'), 'python two\n');
    writeFileSync(join(site.path, 'data.bin'), BODY);
    python = await startPythonServer(site.path);
  });
  after(async () => {
    await python?.stop();
    site.remove();
  });
  const url = (path: string) => `http://127.0.0.1:${python.port}${path}`;

  test('two URLs: HTTP/1.0 answers, so each gets its own connection, and -v says why', async () => {
    const result = await get(['-v', url('/one.txt'), url('/two.txt')]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'python one\npython two\n');
    assert.doesNotMatch(result.stderr, /Re-using/);
    assert.match(result.stderr, /^\* Closing connection #1: the server asked to close it/m);
  });

  test('-O into the current folder', async () => {
    const dir = makeTempDir('sockhttp-get-python-O-');
    try {
      assertSuccess(await get(['-O', url('/data.bin')], { cwd: dir.path }));
      assert.ok(readFileSync(join(dir.path, 'data.bin')).equals(BODY));
    } finally {
      dir.remove();
    }
  });

  test('-C - against a server without ranges: its 200 replaces the partial data, nothing is appended', async () => {
    const dir = makeTempDir('sockhttp-get-python-C-');
    try {
      const head = await request(url('/data.bin'), { method: 'HEAD', timeoutMs: 10_000 });
      await readAll(head.body);
      const destination = join(dir.path, 'data.bin');
      writeFileSync(join(dir.path, '.data.bin.sockhttp-partial'), BODY.subarray(0, 30_000));
      writeFileSync(
        join(dir.path, '.data.bin.sockhttp-resume.json'),
        JSON.stringify({ url: url('/data.bin'), validator: head.fields.get('last-modified'), total: BODY.length }),
      );
      assertSuccess(await get(['-C', '-', '-o', destination, url('/data.bin')]));
      assert.ok(readFileSync(destination).equals(BODY));
      assert.deepEqual(readdirSync(dir.path), ['data.bin']);
    } finally {
      dir.remove();
    }
  });
});
