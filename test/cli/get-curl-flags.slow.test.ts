/**
 * curl's everyday flags in `sockhttp get`, run as a user runs them (the built binary), each beside
 * curl itself with the same arguments where curl is installed: the same request on the wire, the
 * same files, the same exit code. The servers are a node:http server that echoes what it got, ours
 * (ranges, ETags) and python3 -m http.server (no ranges).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type BackgroundProcess,
  CLI,
  type RunningServer,
  type CommandResult,
  commandExists,
  makeTempDir,
  runCli,
  runCommand,
  startPythonServer,
  startStaticServer,
} from '../helpers.js';

const HAS_CURL = commandExists('curl');
const LIMIT = ['--max-time', '20'];

interface Echo {
  method: string;
  url: string;
  headers: string[];
  body: string;
}

function field(echo: Echo, name: string): string | undefined {
  for (let i = 0; i < echo.headers.length; i += 2) if (echo.headers[i]!.toLowerCase() === name) return echo.headers[i + 1];
  return undefined;
}

function names(echo: Echo): string[] {
  return echo.headers.filter((_, index) => index % 2 === 0).map((name) => name.toLowerCase());
}

/** The peer: echoes each request as JSON, and a few routes for cookies, redirects, binary bodies and slow ones. */
function handle(request: IncomingMessage, response: ServerResponse): void {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const url = request.url ?? '/';
    if (url === '/set') {
      response.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; Max-Age=3600', 'c=3; HttpOnly']);
      response.end('set\n');
    } else if (url === '/redirect') {
      response.writeHead(302, { Location: '/echo', 'Set-Cookie': 'r=9' }).end();
    } else if (url.startsWith('/loop/')) {
      response.writeHead(302, { Location: `/loop/${Number(url.slice(6)) + 1}` }).end();
    } else if (url === '/binary') {
      response.end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 13]));
    } else if (url === '/dated') {
      response.setHeader('Last-Modified', 'Tue, 01 Jan 2019 12:00:00 GMT');
      response.end('dated\n');
    } else if (url === '/slow') {
      response.writeHead(200, { 'Content-Length': '1000000' });
      response.write('x'.repeat(1000));
      const timer = setInterval(() => response.write('x'), 200);
      response.on('close', () => clearInterval(timer));
    } else {
      const echo: Echo = { method: request.method!, url, headers: request.rawHeaders, body: Buffer.concat(chunks).toString('latin1') };
      response.setHeader('Content-Type', 'application/json');
      response.end(JSON.stringify(echo));
    }
  });
}

describe('sockhttp get: curl flags, beside curl', () => {
  const dir = makeTempDir();
  const files = join(dir.path, 'files');
  let echo: Server;
  let base = '';
  let ours: RunningServer;
  let python: BackgroundProcess & { port: number };
  const big = Buffer.from(Array.from({ length: 3000 }, (_, i) => `${i}\n`).join(''));

  before(async () => {
    await runCommand('mkdir', ['-p', files]);
    writeFileSync(join(files, 'big.txt'), big);
    writeFileSync(join(files, 'a.txt'), 'hello\n');
    echo = createServer(handle);
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
    ours = await startStaticServer(files);
    python = await startPythonServer(files);
  });
  after(async () => {
    echo.closeAllConnections();
    echo.close();
    await ours.close();
    await python.stop();
    dir.remove();
  });

  const get = (args: string[]) => runCli(['get', ...LIMIT, ...args], { cwd: dir.path, timeoutMs: 30_000 });
  const curl = (args: string[]) => runCommand('curl', ['-sS', ...LIMIT, ...args], { cwd: dir.path, timeoutMs: 30_000 });
  const echoOf = (result: CommandResult): Echo => JSON.parse(result.stdout.toString()) as Echo;
  const ourUrl = (path: string) => `http://127.0.0.1:${ours.port}${path}`;
  const pythonUrl = (path: string) => `http://127.0.0.1:${python.port}${path}`;

  /** Runs both with the same arguments; returns both, the exit codes already compared. */
  async function both(args: string[]): Promise<{ mine: CommandResult; theirs: CommandResult | null }> {
    const mine = await get(args);
    if (!HAS_CURL) return { mine, theirs: null };
    const theirs = await curl(args);
    assert.equal(
      mine.code,
      theirs.code,
      `exit codes differ for ${args.join(' ')}: ours ${mine.code} (${mine.stderr}), curl ${theirs.code}`,
    );
    return { mine, theirs };
  }

  test('-u USER:PASSWORD sends Basic credentials; -e sends Referer', async () => {
    const { mine, theirs } = await both(['-u', 'bob:s3cret', '-e', 'http://from.example/', `${base}/echo`]);
    for (const result of [mine, theirs ?? mine]) {
      assert.equal(field(echoOf(result), 'authorization'), `Basic ${Buffer.from('bob:s3cret').toString('base64')}`);
      assert.equal(field(echoOf(result), 'referer'), 'http://from.example/');
    }
  });

  test("-H 'Name:' removes a default field, -H 'Name;' sends it empty", async () => {
    const { mine, theirs } = await both(['-H', 'User-Agent:', '-H', 'Accept:', '-H', 'X-Empty;', `${base}/echo`]);
    for (const result of [mine, theirs ?? mine]) {
      const seen = echoOf(result);
      assert.ok(!names(seen).includes('user-agent') && !names(seen).includes('accept'), JSON.stringify(seen.headers));
      assert.equal(field(seen, 'x-empty'), '');
    }
  });

  test('-G puts -d in the query and sends GET', async () => {
    const { mine, theirs } = await both(['-G', '-d', 'a=1', '-d', 'b=two', `${base}/echo?x=0`]);
    for (const result of [mine, theirs ?? mine]) {
      assert.equal(echoOf(result).method, 'GET');
      assert.equal(echoOf(result).url, '/echo?x=0&a=1&b=two');
      assert.equal(echoOf(result).body, '');
    }
  });

  test('-F sends multipart parts: text, a file with @ and ;type=, text from a file with <', async () => {
    writeFileSync(join(dir.path, 'note.txt'), 'file body\n');
    const args = ['-F', 'name=value', '-F', 'up=@note.txt;type=text/x-note', '-F', 'inline=<note.txt', `${base}/echo`];
    const { mine, theirs } = await both(args);
    for (const result of [mine, theirs ?? mine]) {
      const seen = echoOf(result);
      assert.equal(seen.method, 'POST');
      const boundary = /boundary=(.+)$/.exec(field(seen, 'content-type') ?? '')?.[1];
      assert.ok(boundary, field(seen, 'content-type'));
      const parts = seen.body.split(`--${boundary}`).slice(1, -1);
      assert.equal(parts.length, 3);
      assert.match(parts[0]!, /name="name"\r\n\r\nvalue\r\n$/);
      assert.match(parts[1]!, /name="up"; filename="note.txt"\r\nContent-Type: text\/x-note\r\n\r\nfile body\n\r\n$/);
      // A text part's bytes as they are, line breaks included (curl's way, not the HTML standard's CRLF).
      assert.match(parts[2]!, /name="inline"\r\n\r\nfile body\n\r\n$/);
      assert.equal(Number(field(seen, 'content-length')), Buffer.byteLength(seen.body, 'latin1'));
    }
  });

  test('-T FILE PUTs the file, its name added to a URL ending in /', async () => {
    writeFileSync(join(dir.path, 'put.txt'), 'put me\n');
    const { mine, theirs } = await both(['-T', 'put.txt', `${base}/up/`]);
    for (const result of [mine, theirs ?? mine]) {
      assert.deepEqual([echoOf(result).method, echoOf(result).url, echoOf(result).body], ['PUT', '/up/put.txt', 'put me\n']);
    }
  });

  test('-c writes a Netscape cookie file that curl reads, and -b reads the one curl writes; redirects set cookies too', async () => {
    assert.equal((await get(['-c', 'ours.jar', `${base}/set`])).code, 0);
    const jar = readFileSync(join(dir.path, 'ours.jar'), 'utf8');
    assert.match(jar, /^127\.0\.0\.1\tFALSE\t\/\tFALSE\t0\ta\t1$/m);
    assert.match(jar, /^127\.0\.0\.1\tFALSE\t\/\tFALSE\t\d{10}\tb\t2$/m);
    assert.match(jar, /^#HttpOnly_127\.0\.0\.1\tFALSE\t\/\tFALSE\t0\tc\t3$/m);
    const mine = await get(['-b', 'ours.jar', '-c', 'ours.jar', '-L', `${base}/redirect`]);
    assert.equal(field(echoOf(mine), 'cookie'), 'a=1; b=2; c=3; r=9');
    assert.equal((await get(['-b', 'x=1; y=2', `${base}/echo`])).stdout.includes('"x=1; y=2"'), true);
    if (!HAS_CURL) return;
    const theirs = await curl(['-b', 'ours.jar', `${base}/echo`]);
    assert.deepEqual(field(echoOf(theirs), 'cookie')?.split('; ').sort(), ['a=1', 'b=2', 'c=3', 'r=9']);
    await curl(['-c', 'curl.jar', `${base}/set`]);
    const fromCurl = await get(['-b', 'curl.jar', `${base}/echo`]);
    assert.deepEqual(field(echoOf(fromCurl), 'cookie')?.split('; ').sort(), ['a=1', 'b=2', 'c=3']);
  });

  test('-D FILE and -D - write the response head', async () => {
    const { mine } = await both(['-D', 'head.txt', '-o', 'body.txt', ourUrl('/a.txt')]);
    assert.equal(mine.code, 0);
    assert.match(readFileSync(join(dir.path, 'head.txt'), 'utf8'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n$/);
    assert.equal(readFileSync(join(dir.path, 'body.txt'), 'utf8'), 'hello\n');
    const dashed = await get(['-D', '-', ourUrl('/a.txt')]);
    assert.match(dashed.stdout.toString(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello\n$/);
  });

  test('-o - is stdout; --output-dir and --create-dirs place the file; -R gives it the server time', async () => {
    const dashed = await get(['-o', '-', ourUrl('/a.txt')]);
    assert.equal(dashed.stdout.toString(), 'hello\n');
    assert.ok(!existsSync(join(dir.path, '-')));
    const { mine } = await both(['-R', '--create-dirs', '--output-dir', 'deep/er', '-O', `${base}/dated`]);
    assert.equal(mine.code, 0);
    assert.equal(readFileSync(join(dir.path, 'deep/er/dated'), 'utf8'), 'dated\n');
    assert.equal(statSync(join(dir.path, 'deep/er/dated')).mtime.toISOString(), '2019-01-01T12:00:00.000Z');
  });

  test('--fail-with-body writes the body and exits 22; -sfI on a 404 prints the head and exits 22', async () => {
    const { mine, theirs } = await both(['--fail-with-body', ourUrl('/missing')]);
    assert.equal(mine.code, 22);
    assert.match(mine.stdout.toString(), /<html/);
    if (theirs) assert.match(theirs.stdout.toString(), /<html/);
    const head = await both(['-sfI', ourUrl('/missing')]);
    assert.match(head.mine.stdout.toString(), /^HTTP\/1\.1 404 Not Found\r\n/);
    assert.equal(head.mine.stderr, '');
    if (head.theirs) assert.match(head.theirs.stdout.toString(), /^HTTP\/1\.1 404 Not Found\r\n/);
  });

  test('%{num_redirects} counts the redirects followed when --max-redirs is exceeded (exit 47)', async () => {
    const { mine, theirs } = await both(['-L', '--max-redirs', '2', '-w', '%{num_redirects}', '-o', '/dev/null', `${base}/loop/0`]);
    assert.equal(mine.code, 47);
    assert.equal(mine.stdout.toString(), '2');
    if (theirs) assert.equal(theirs.stdout.toString(), '2');
  });

  test('a URL with an unknown scheme is exit 1', async () => {
    const { mine } = await both(['gopherx://127.0.0.1/']);
    assert.equal(mine.code, 1);
  });

  test('--resolve and --connect-to send the connection elsewhere, Host as the URL says', async () => {
    const port = (echo.address() as AddressInfo).port;
    const resolved = await both(['--resolve', `pinned.example:${port}:127.0.0.1`, `http://pinned.example:${port}/echo`]);
    assert.equal(field(echoOf(resolved.mine), 'host'), `pinned.example:${port}`);
    const moved = await both(['--connect-to', `moved.example:80:127.0.0.1:${port}`, 'http://moved.example/echo']);
    assert.equal(field(echoOf(moved.mine), 'host'), 'moved.example');
    assert.equal((await get(['-4', `${base}/echo`])).code, 0);
  });

  test('--url, -Z with --parallel-max, -N', async () => {
    const { mine } = await both([
      '-Z',
      '--parallel-max',
      '2',
      '-N',
      '--url',
      ourUrl('/a.txt'),
      '--url',
      ourUrl('/a.txt'),
      ourUrl('/a.txt'),
    ]);
    assert.equal(mine.stdout.toString(), 'hello\n'.repeat(3));
  });

  test("-w @FILE reads the format; -w '%{json}' is one JSON object", async () => {
    writeFileSync(join(dir.path, 'format.txt'), '%{http_code} %{size_download}\\n');
    const { mine, theirs } = await both(['-s', '-o', '/dev/null', '-w', '@format.txt', ourUrl('/a.txt')]);
    assert.equal(mine.stdout.toString(), '200 6\n');
    if (theirs) assert.equal(theirs.stdout.toString(), mine.stdout.toString());
    const json = JSON.parse((await get(['-s', '-o', '/dev/null', '-w', '%{json}', ourUrl('/a.txt')])).stdout.toString());
    assert.equal(json.http_code, 200);
  });

  test('--etag-save then --etag-compare gets a 304', async () => {
    const { mine } = await both(['--etag-save', 'etag.txt', '-o', '/dev/null', ourUrl('/a.txt')]);
    assert.equal(mine.code, 0);
    assert.match(readFileSync(join(dir.path, 'etag.txt'), 'utf8'), /^"[^"]+"\n$/);
    const again = await both(['--etag-compare', 'etag.txt', '-w', '%{http_code}', '-o', '/dev/null', ourUrl('/a.txt')]);
    assert.equal(again.mine.stdout.toString(), '304');
    if (again.theirs) assert.equal(again.theirs.stdout.toString(), '304');
  });

  test('--netrc-file gives the credentials for the URL host', async () => {
    writeFileSync(join(dir.path, 'netrc'), 'machine 127.0.0.1 login ann password pw1\nmachine other.example login x password y\n');
    const { mine, theirs } = await both(['--netrc-file', 'netrc', `${base}/echo`]);
    for (const result of [mine, theirs ?? mine])
      assert.equal(field(echoOf(result), 'authorization'), `Basic ${Buffer.from('ann:pw1').toString('base64')}`);
  });

  test('-C - resumes a partial file another tool left, exits 0 on a whole one, and 33 against a server without ranges', async () => {
    const partial = join(dir.path, 'partial.txt');
    writeFileSync(partial, big.subarray(0, 1000));
    assert.equal((await get(['-C', '-', '-o', 'partial.txt', ourUrl('/big.txt')])).code, 0);
    assert.deepEqual(readFileSync(partial), big);
    const whole = await both(['-C', '-', '-o', 'partial.txt', ourUrl('/big.txt')]);
    assert.equal(whole.mine.code, 0);
    assert.deepEqual(readFileSync(partial), big);
    writeFileSync(partial, big.subarray(0, 1000));
    const refused = await both(['-C', '-', '-o', 'partial.txt', pythonUrl('/big.txt')]);
    assert.equal(refused.mine.code, 33);
    assert.equal(readFileSync(partial).length, 1000);
  });

  test('a binary body bound for a terminal is refused (exit 23) unless -o - says so', async (t) => {
    if (!commandExists('script')) return t.skip('no script(1) to give the command a terminal');
    const run = (extra: string) =>
      runCommand('script', ['-qec', `${process.execPath} ${CLI} get ${extra} ${base}/binary`, '/dev/null'], { timeoutMs: 30_000 });
    const refused = await run('');
    assert.equal(refused.code, 23, refused.stdout.toString());
    assert.match(refused.stdout.toString(), /binary/);
    const forced = await run('-o -');
    assert.equal(forced.code, 0);
  });

  test('Ctrl-C stops a download at once with a message and exit 130, leaving no hidden partial file', async () => {
    const child = spawn(process.execPath, [CLI, 'get', '-o', 'slow.bin', `${base}/slow`], {
      cwd: dir.path,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 10_000;
    while (!readdirSync(dir.path).some((name) => name.includes('slow.bin')) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const sentAt = Date.now();
    child.kill('SIGINT');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(killer);
    assert.equal(code, 130);
    assert.ok(Date.now() - sentAt < 1500, `took ${Date.now() - sentAt} ms`);
    assert.match(stderr, /interrupted/);
    assert.deepEqual(
      readdirSync(dir.path).filter((name) => name.includes('slow.bin')),
      [],
    );
  });
});
