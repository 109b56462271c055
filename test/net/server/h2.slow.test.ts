/**
 * HTTP/2 end to end with peers nobody here wrote: `sockhttp serve` over TLS (ALPN h2, RFC 9113 §3.2)
 * and on a plain port with prior knowledge (§3.3), driven by curl (--http2, --http2-prior-knowledge),
 * nghttp -nv, h2load and node:http2; --no-http2 falls back to HTTP/1.1; --trace shows the frames;
 * HttpServer.close() drains with GOAWAY while a stream is in flight.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as connectH2 } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer } from '../../../src/index.js';
import { type BackgroundProcess, CLI, commandExists, makeTempDir, runCommand, startProcess, startStaticServer } from '../../helpers.js';

const hasOpenssl = commandExists('openssl');
const hasCurl = commandExists('curl');
const hasNghttp = commandExists('nghttp');
const hasH2load = commandExists('h2load');

const INDEX = '<!doctype html><title>h2</title><link rel="stylesheet" href="/style.css"><p>over HTTP/2</p>\n';
const BIG = Buffer.alloc(2 * 1024 * 1024);
for (let index = 0; index < BIG.length; index++) BIG[index] = (index * 31 + (index >> 9)) & 0xff;

interface CliServer extends BackgroundProcess {
  port: number;
}

async function startCliServer(args: string[], scheme: 'http' | 'https'): Promise<CliServer> {
  const server = startProcess(process.execPath, [CLI, 'serve', ...args, '--port', '0']);
  try {
    const match = await server.waitFor(new RegExp(`${scheme}://127\\.0\\.0\\.1:(\\d+)/`), 15_000, 'stderr');
    return Object.assign(server, { port: Number(match[1]) });
  } catch (error) {
    await server.stop();
    throw error;
  }
}

async function makeCertificate(folder: string): Promise<{ cert: string; key: string }> {
  const cert = join(folder, 'cert.pem');
  const key = join(folder, 'key.pem');
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert];
  args.push('-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
  const result = await runCommand('openssl', args, { timeoutMs: 60_000 });
  assert.equal(result.code, 0, `openssl failed: ${result.stderr}`);
  return { cert, key };
}

/** curl's answer: the protocol version it used, the status and the body (-w prints them after the body). */
async function curlH2(args: string[]): Promise<{ version: string; status: number; body: Buffer; code: number | null; stderr: string }> {
  const result = await runCommand('curl', ['-s', '-S', '--max-time', '20', '-w', '\n%{http_version} %{http_code}', ...args], {
    timeoutMs: 30_000,
  });
  const text = result.stdout;
  const cut = text.lastIndexOf('\n');
  const [version, status] = text
    .subarray(cut + 1)
    .toString()
    .split(' ');
  return { version: version!, status: Number(status), body: text.subarray(0, cut), code: result.code, stderr: result.stderr };
}

let tree: ReturnType<typeof makeTempDir>;
let root: string;
let certificate: { cert: string; key: string };

before(async () => {
  tree = makeTempDir();
  root = join(tree.path, 'site');
  mkdirSync(root);
  writeFileSync(join(root, 'index.html'), INDEX);
  writeFileSync(join(root, 'style.css'), 'p { color: teal; }\n');
  writeFileSync(join(root, 'big.bin'), BIG);
  writeFileSync(join(root, 'words.txt'), 'hello world '.repeat(500));
  if (hasOpenssl) certificate = await makeCertificate(tree.path);
});

after(() => tree.remove());

describe('sockhttp serve over TLS: ALPN picks h2', { skip: !hasOpenssl && 'openssl is not installed' }, () => {
  let server: CliServer;
  let traceFile: string;
  before(async () => {
    traceFile = join(tree.path, 'trace.txt');
    server = await startCliServer(
      [root, '--tls-cert', certificate.cert, '--tls-key', certificate.key, '--trace-file', traceFile, '--trace-body', '12'],
      'https',
    );
  });
  after(() => server.stop());

  test('curl --http2: HTTP/2, the page, a range, HEAD', { skip: !hasCurl && 'curl is not installed' }, async () => {
    const base = `https://127.0.0.1:${server.port}`;
    const page = await curlH2(['--http2', '--cacert', certificate.cert, `${base}/`]);
    assert.equal(page.code, 0, page.stderr);
    assert.equal(page.version, '2');
    assert.equal(page.status, 200);
    assert.equal(page.body.toString(), INDEX);
    const range = await curlH2(['--http2', '--cacert', certificate.cert, '-r', '100-199', `${base}/big.bin`]);
    assert.equal(range.status, 206);
    assert.ok(range.body.equals(BIG.subarray(100, 200)));
    const head = await curlH2(['--http2', '--cacert', certificate.cert, '-I', `${base}/big.bin`]);
    assert.equal(head.status, 200);
    assert.match(head.body.toString(), new RegExp(`content-length: ${BIG.length}`));
    const big = await curlH2(['--http2', '--cacert', certificate.cert, `${base}/big.bin`]);
    assert.ok(big.body.equals(BIG), 'the big file arrives whole');
  });

  test('node:http2 over TLS: ALPN h2, several streams at once', async () => {
    const session = connectH2(`https://127.0.0.1:${server.port}`, { ca: readFileSync(certificate.cert) });
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('connect', () => resolve());
        session.once('error', reject);
      });
      assert.equal(session.alpnProtocol, 'h2');
      const fetchOne = (path: string) =>
        new Promise<Buffer>((resolve, reject) => {
          const stream = session.request({ ':path': path });
          const parts: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => parts.push(chunk));
          stream.on('end', () => resolve(Buffer.concat(parts)));
          stream.on('error', reject);
        });
      const [big, page, style] = await Promise.all([fetchOne('/big.bin'), fetchOne('/'), fetchOne('/style.css')]);
      assert.ok(big.equals(BIG));
      assert.equal(page.toString(), INDEX);
      assert.equal(style.toString(), 'p { color: teal; }\n');
    } finally {
      session.close();
    }
  });

  test('nghttp -nv: the exchange completes', { skip: !hasNghttp && 'nghttp is not installed' }, async () => {
    const result = await runCommand('nghttp', ['-nv', '-t', '15', `https://127.0.0.1:${server.port}/`], { timeoutMs: 30_000 });
    const output = result.stdout.toString();
    assert.equal(result.code, 0, output + result.stderr);
    assert.match(output, /recv \(stream_id=\d+\) :status: 200/);
    assert.match(output, /recv SETTINGS frame/);
    assert.doesNotMatch(output, /GOAWAY[^\n]*error_code=(?!NO_ERROR)/);
  });

  test('h2load: 200 requests over 4 connections × 10 streams all succeed', { skip: !hasH2load && 'h2load is not installed' }, async () => {
    const result = await runCommand('h2load', ['-n', '200', '-c', '4', '-m', '10', `https://127.0.0.1:${server.port}/style.css`], {
      timeoutMs: 60_000,
    });
    const output = result.stdout.toString();
    assert.match(output, /requests: 200 total, 200 started, 200 done, 200 succeeded, 0 failed, 0 errored/, output);
    assert.match(output, /status codes: 200 2xx/);
  });

  test('--trace-file shows each frame: type, stream, fields with their HPACK coding, windows, the first bytes of DATA', () => {
    const trace = readFileSync(traceFile, 'utf8');
    assert.match(trace, /HTTP\/2 \(RFC 9113\)/);
    assert.match(trace, /< HEADERS +stream \d+, \d+ bytes, END_STREAM END_HEADERS/);
    assert.match(trace, /< +field +:method: GET +indexed \(RFC 7541 §6\.1\)/);
    assert.match(trace, /> DATA +stream \d+, \d+ bytes/);
    assert.match(trace, /> {3}data +<!doctype ht…$/m, '--trace-body 12: the first 12 bytes of the page');
    assert.match(trace, /window +connection window \d+/);
    assert.match(trace, /> SETTINGS +stream 0, \d+ bytes, SETTINGS_MAX_CONCURRENT_STREAMS=100/);
  });
});

describe('sockhttp serve --no-http2 over TLS', { skip: !hasOpenssl && 'openssl is not installed' }, () => {
  test('ALPN offers http/1.1 only: curl --http2 falls back', { skip: !hasCurl && 'curl is not installed' }, async () => {
    const server = await startCliServer([root, '--tls-cert', certificate.cert, '--tls-key', certificate.key, '--no-http2', '-q'], 'https');
    try {
      const page = await curlH2(['--http2', '--cacert', certificate.cert, `https://127.0.0.1:${server.port}/`]);
      assert.equal(page.version, '1.1');
      assert.equal(page.body.toString(), INDEX);
    } finally {
      await server.stop();
    }
  });
});

describe('sockhttp serve on a plain port: h2c with prior knowledge', () => {
  let server: CliServer;
  before(async () => {
    server = await startCliServer([root, '-q'], 'http');
  });
  after(() => server.stop());

  test('curl --http2-prior-knowledge', { skip: !hasCurl && 'curl is not installed' }, async () => {
    const page = await curlH2(['--http2-prior-knowledge', `http://127.0.0.1:${server.port}/`]);
    assert.equal(page.code, 0, page.stderr);
    assert.equal(page.version, '2');
    assert.equal(page.body.toString(), INDEX);
    const plain = await curlH2([`http://127.0.0.1:${server.port}/`]);
    assert.equal(plain.version, '1.1', 'HTTP/1.1 on the same port');
  });

  test('the same plans as HTTP/1.1: compression, conditional GET', { skip: !hasCurl && 'curl is not installed' }, async () => {
    const url = `http://127.0.0.1:${server.port}/words.txt`;
    const compressed = await runCommand('curl', [
      '-s',
      '-S',
      '--max-time',
      '20',
      '--http2-prior-knowledge',
      '--compressed',
      '-D',
      '-',
      url,
    ]);
    const text = compressed.stdout.toString('latin1');
    assert.match(text, /^HTTP\/2 200/);
    assert.match(text, /\r\ncontent-encoding: (br|gzip)\r\n/);
    assert.ok(text.endsWith('hello world '.repeat(500)), 'curl decompressed the body');
    const etag = /\r\netag: ("[^"]+")\r\n/.exec(text)?.[1];
    assert.ok(etag !== undefined);
    const conditional = await runCommand('curl', [
      '-s',
      '-S',
      '--max-time',
      '20',
      '--http2-prior-knowledge',
      '--compressed',
      '-D',
      '-',
      '-H',
      `If-None-Match: ${etag}`,
      url,
    ]);
    assert.match(conditional.stdout.toString('latin1'), /^HTTP\/2 304/);
  });

  test('nghttp -nv and h2load over h2c', { skip: (!hasNghttp || !hasH2load) && 'nghttp2-client is not installed' }, async () => {
    const result = await runCommand('nghttp', ['-nv', '-t', '15', `http://127.0.0.1:${server.port}/big.bin`], { timeoutMs: 30_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout.toString(), /recv \(stream_id=\d+\) :status: 200/);
    const load = await runCommand('h2load', ['-n', '100', '-c', '2', '-m', '10', `http://127.0.0.1:${server.port}/`], {
      timeoutMs: 60_000,
    });
    assert.match(load.stdout.toString(), /100 succeeded, 0 failed/, load.stdout.toString());
  });
});

describe('a client that sends requests and never reads the answers', () => {
  test('the server stops reading from it: answers do not pile up in memory', async () => {
    let asked = 0;
    const server = createServer({
      handler: () => {
        asked++;
        // A value that differs every time cannot become a one-byte HPACK index: each answer is
        // about 150 bytes, 60 MB for all of them, far more than the kernel's buffers hold.
        return { status: 204, fields: [['X-Padding', `${asked}${'p'.repeat(200)}`]], body: { kind: 'empty' } };
      },
      // Every request of a socket read is taken before any is answered: room for all of them, so
      // that only the output decides when reading stops.
      http2Limits: { maxConcurrentStreams: 100_000 },
    });
    await server.listen(0);
    const socket = connectTcp(server.address!.port, '127.0.0.1');
    socket.on('error', () => {});
    try {
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      // HEADERS on streams 1, 3, 5…, each a complete request (END_STREAM), by hand: :method GET,
      // :scheme http, :path / (static indexes 2, 6, 4), :authority as a literal with name index 1.
      const block = Buffer.from([0x82, 0x86, 0x84, 0x01, 0x01, 0x78]);
      const count = 400_000;
      const requests = Buffer.alloc(count * (9 + block.length));
      for (let index = 0; index < count; index++) {
        const offset = index * (9 + block.length);
        requests.writeUIntBE(block.length, offset, 3);
        requests[offset + 3] = 0x1;
        requests[offset + 4] = 0x5;
        requests.writeUInt32BE(index * 2 + 1, offset + 5);
        block.copy(requests, offset + 9);
      }
      socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
      socket.write(requests);
      // Nothing is read: the kernel's buffers fill, and then the server must stop asking for more.
      let previous = -1;
      for (let round = 0; round < 40 && asked !== previous; round++) {
        previous = asked;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      assert.equal(asked, previous, 'the server went on reading requests whose answers nobody reads');
      assert.ok(asked < count, `answered ${asked} of ${count}`);
    } finally {
      socket.destroy();
      await server.close(1_000);
    }
  });
});

describe('graceful shutdown over HTTP/2', () => {
  test('close(): GOAWAY with the last stream id; the stream in flight finishes', async () => {
    const server = await startStaticServer(root);
    const session = connectH2(`http://127.0.0.1:${server.port}`, { settings: { initialWindowSize: 65_535 } });
    let goAway: number | null = null;
    session.on('goaway', (code) => {
      goAway = code;
    });
    session.on('error', () => {});
    let closing: Promise<void> | null = null;
    const body = await new Promise<Buffer>((resolve, reject) => {
      const stream = session.request({ ':path': '/big.bin' });
      const parts: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => {
        parts.push(chunk);
        closing ??= server.close();
      });
      stream.on('end', () => resolve(Buffer.concat(parts)));
      stream.on('error', reject);
    });
    assert.ok(body.equals(BIG), 'the response in flight arrives whole');
    assert.equal(goAway, 0, 'GOAWAY NO_ERROR');
    session.destroy();
    await closing;
  });
});
