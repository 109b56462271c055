/**
 * HTTPS end to end: `sockhttp serve --tls-cert --tls-key` with a self-signed certificate made per run
 * by openssl, driven by clients nobody here wrote (curl, node:https, raw node:tls sockets), and
 * `sockhttp get` / `request()` against it and against TCP servers that do not speak TLS.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type TLSSocket, connect as connectTls } from 'node:tls';
import { ClientError, request } from '../../../src/index.js';
import {
  type BackgroundProcess,
  CLI,
  type CommandResult,
  commandExists,
  makeTempDir,
  runCli,
  runCommand,
  startProcess,
} from '../../helpers.js';
import { assertOneLine, readAll, startRawServer } from '../client/helpers.js';
import { type ParsedResponse, parseResponseAt, patternBytes } from './helpers.js';

const hasOpenssl = commandExists('openssl');
const hasCurl = commandExists('curl');

/** Bounds every `sockhttp get` run from inside (its own --max-time); runCli's kill timer bounds it from outside. */
const MAX_TIME = ['--max-time', '15'];

const SMALL = Buffer.from('<!doctype html><title>tls</title><p>over TLS</p>\n');
/** Several TLS records (16 KiB each), so record boundaries fall inside the body. */
const LARGE = patternBytes(300_000);

interface TlsServer extends BackgroundProcess {
  port: number;
  stderr(): string;
}

/** `sockhttp serve ARGS… --port 0`, resolved once it prints its https:// URL (startCliServer waits for http://). */
async function startTlsServer(args: string[]): Promise<TlsServer> {
  const server = startProcess(process.execPath, [CLI, 'serve', ...args, '--port', '0']);
  let stderr = '';
  server.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    const match = await server.waitFor(/https:\/\/127\.0\.0\.1:(\d+)\//, 15_000);
    return Object.assign(server, { port: Number(match[1]), stderr: () => stderr });
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** A self-signed certificate (and its key) for `name`, in `folder`, with the given subjectAltName. */
async function makeCertificate(folder: string, prefix: string, name: string, altNames: string): Promise<{ cert: string; key: string }> {
  const cert = join(folder, `${prefix}-cert.pem`);
  const key = join(folder, `${prefix}-key.pem`);
  const args = [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=${altNames}`,
  ];
  const result = await runCommand('openssl', args, { timeoutMs: 60_000 });
  assert.equal(result.code, 0, `openssl failed: ${result.stderr}`);
  return { cert, key };
}

interface NodeHttpsAnswer {
  status: number;
  body: Buffer;
}

/** GET over node:https (an independent TLS + HTTP client), bounded by timeoutMs. */
function nodeHttpsGet(
  port: number,
  path: string,
  options: { ca?: Buffer | string; host?: string },
  timeoutMs = 15_000,
): Promise<NodeHttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(
      { host: options.host ?? 'localhost', port, path, agent: false, ...(options.ca !== undefined && { ca: options.ca }) },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** A node:tls client socket that keeps every byte and hands out complete responses one by one. */
class TlsConnection {
  #buffer = Buffer.alloc(0);
  #ended = false;
  #error: Error | null = null;
  readonly #waiters = new Set<() => void>();

  private constructor(readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#notify();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on('error', (error) => {
      this.#error = error;
      this.#notify();
    });
  }

  static open(port: number, ca: Buffer, alpn: string[] = ['http/1.1']): Promise<TlsConnection> {
    return new Promise((resolve, reject) => {
      const socket = connectTls({ host: '127.0.0.1', port, servername: 'localhost', ca, ALPNProtocols: alpn });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('no TLS handshake within 10 s'));
      }, 10_000);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new TlsConnection(socket));
      });
      const onError = (error: Error) => {
        clearTimeout(timer);
        reject(error);
      };
      socket.once('error', onError);
    });
  }

  get ended(): boolean {
    return this.#ended;
  }

  write(text: string): void {
    this.socket.write(text);
  }

  /** The next complete response (framed by Content-Length); rejects if the connection ends first or after timeoutMs. */
  readResponse(method = 'GET', timeoutMs = 10_000): Promise<ParsedResponse> {
    return new Promise((resolve, reject) => {
      const check = () => {
        let parsed: ReturnType<typeof parseResponseAt>;
        try {
          parsed = parseResponseAt(this.#buffer, 0, method);
        } catch (error) {
          finish();
          reject(error);
          return;
        }
        if (parsed !== null) {
          finish();
          const response = { ...parsed.response, body: Buffer.from(parsed.response.body) };
          this.#buffer = this.#buffer.subarray(parsed.end);
          resolve(response);
        } else if (this.#ended || this.#error !== null) {
          finish();
          reject(
            new Error(
              `connection ${this.#error ? `failed (${this.#error.message})` : 'ended'}; received ${JSON.stringify(this.#buffer.toString('latin1').slice(0, 200))}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no complete response within ${timeoutMs} ms`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** Writes `bytes` on a plain TCP connection and reports what came back and whether the server closed (bounded). */
function plainExchange(port: number, bytes: Buffer | string, timeoutMs = 10_000): Promise<{ received: Buffer; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let closedByServer = false;
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => (closedByServer = true));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') closedByServer = true;
      else {
        clearTimeout(timer);
        reject(error);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(chunks), closedByServer });
    });
  });
}

function assertFailure(result: CommandResult, code: number): void {
  assert.equal(result.code, code, `exit code; stderr: ${result.stderr}`);
  assertOneLine(result.stderr);
  assert.equal(result.stdout.length, 0, `stdout should be empty, got ${JSON.stringify(result.stdout.toString('latin1').slice(0, 200))}`);
}

function assertSuccess(result: CommandResult, body: Buffer): void {
  assert.equal(result.code, 0, `exit code; stderr: ${result.stderr}`);
  assert.equal(result.stderr, '');
  assert.ok(result.stdout.equals(body), `body differs: ${result.stdout.length} bytes, expected ${body.length}`);
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<ClientError> {
  const error = await promise.then(
    () => assert.fail(`expected a ClientError '${code}', but the request succeeded`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof ClientError, `expected a ClientError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  return error;
}

describe('HTTPS: sockhttp serve --tls-cert --tls-key', {
  skip: !hasOpenssl && 'openssl is not installed (needed to make a test certificate)',
}, () => {
  let folder: ReturnType<typeof makeTempDir>;
  let site: string;
  let local: { cert: string; key: string };
  let other: { cert: string; key: string };
  let localCa: Buffer;
  let otherCa: Buffer;
  let server: TlsServer;
  let otherServer: TlsServer;
  const url = (path: string, host = 'localhost') => `https://${host}:${server.port}${path}`;

  before(async () => {
    folder = makeTempDir('sockhttp-https-');
    site = join(folder.path, 'site');
    const certs = join(folder.path, 'certs');
    mkdirSync(site);
    mkdirSync(certs);
    writeFileSync(join(site, 'page.html'), SMALL);
    writeFileSync(join(site, 'large.bin'), LARGE);
    local = await makeCertificate(certs, 'localhost', 'localhost', 'DNS:localhost,IP:127.0.0.1');
    other = await makeCertificate(certs, 'other', 'other.example', 'DNS:other.example');
    localCa = readFileSync(local.cert);
    otherCa = readFileSync(other.cert);
    server = await startTlsServer([site, '--quiet', '--tls-cert', local.cert, '--tls-key', local.key]);
    otherServer = await startTlsServer([site, '--quiet', '--tls-cert', other.cert, '--tls-key', other.key]);
  });

  after(async () => {
    await server?.stop();
    await otherServer?.stop();
    folder?.remove();
  });

  describe('curl', { skip: !hasCurl && 'curl is not installed' }, () => {
    test('with --cacert: 200 and the exact bytes, small and large', async () => {
      for (const [path, bytes] of [
        ['/page.html', SMALL],
        ['/large.bin', LARGE],
      ] as const) {
        const result = await runCommand('curl', ['-s', '-S', '--max-time', '20', '--cacert', local.cert, '-o', '-', '-w', '', url(path)], {
          timeoutMs: 30_000,
        });
        assert.equal(result.code, 0, result.stderr);
        assert.ok(result.stdout.equals(bytes), `${path}: ${result.stdout.length} bytes, expected ${bytes.length}`);
        const status = await runCommand(
          'curl',
          ['-s', '-S', '--max-time', '20', '--cacert', local.cert, '-o', '/dev/null', '-w', '%{http_code} %{scheme}', url(path)],
          { timeoutMs: 30_000 },
        );
        assert.equal(status.stdout.toString(), '200 HTTPS');
      }
    });

    test('without --cacert: verification fails (curl exit 60)', async () => {
      const result = await runCommand('curl', ['-s', '--max-time', '20', url('/page.html')], { timeoutMs: 30_000 });
      assert.equal(result.code, 60, result.stderr);
      assert.equal(result.stdout.length, 0);
    });

    test('a certificate for other.example does not pass for localhost (curl exit 60, even with --cacert)', async () => {
      const result = await runCommand(
        'curl',
        ['-s', '--max-time', '20', '--cacert', other.cert, `https://localhost:${otherServer.port}/page.html`],
        { timeoutMs: 30_000 },
      );
      assert.equal(result.code, 60, result.stderr);
    });
  });

  describe('node:https', () => {
    test('get with ca: 200 and the exact bytes, by name and by IP address', async () => {
      for (const host of ['localhost', '127.0.0.1']) {
        const small = await nodeHttpsGet(server.port, '/page.html', { ca: localCa, host });
        assert.equal(small.status, 200);
        assert.ok(small.body.equals(SMALL));
      }
      const large = await nodeHttpsGet(server.port, '/large.bin', { ca: localCa });
      assert.equal(large.status, 200);
      assert.ok(large.body.equals(LARGE), `large: ${large.body.length} bytes`);
    });

    test('get without ca: rejected as self-signed', async () => {
      await assert.rejects(nodeHttpsGet(server.port, '/page.html', {}), (error: NodeJS.ErrnoException) => {
        assert.equal(error.code, 'DEPTH_ZERO_SELF_SIGNED_CERT', error.message);
        return true;
      });
    });
  });

  describe('raw node:tls sockets', () => {
    test('ALPN: a client offering h2 and http/1.1 is given h2 (HTTP/2, test/net/server/h2.slow.test.ts); one offering http/1.1 gets http/1.1', async () => {
      const both = await TlsConnection.open(server.port, localCa, ['h2', 'http/1.1']);
      try {
        assert.equal(both.socket.alpnProtocol, 'h2');
      } finally {
        both.destroy();
      }
      const http11 = await TlsConnection.open(server.port, localCa, ['http/1.1']);
      try {
        assert.equal(http11.socket.alpnProtocol, 'http/1.1');
      } finally {
        http11.destroy();
      }
    });

    test('keep-alive: two requests, one after the other, on one TLS connection', async () => {
      const connection = await TlsConnection.open(server.port, localCa);
      try {
        connection.write('GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n');
        const first = await connection.readResponse();
        assert.equal(first.status, 200);
        assert.ok(first.body.equals(SMALL));
        assert.notEqual(first.field('connection')?.toLowerCase(), 'close');
        assert.equal(connection.ended, false, 'the server ended the connection after the first response');
        connection.write('GET /large.bin HTTP/1.1\r\nHost: localhost\r\n\r\n');
        const second = await connection.readResponse();
        assert.equal(second.status, 200);
        assert.ok(second.body.equals(LARGE), `second body: ${second.body.length} bytes`);
        connection.write('GET /missing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
        const third = await connection.readResponse();
        assert.equal(third.status, 404);
      } finally {
        connection.destroy();
      }
    });

    test('pipelining: three requests in one write are answered in order', async () => {
      const connection = await TlsConnection.open(server.port, localCa);
      try {
        connection.write(
          'GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n' +
            'HEAD /large.bin HTTP/1.1\r\nHost: localhost\r\n\r\n' +
            'GET /nothing-here HTTP/1.1\r\nHost: localhost\r\n\r\n',
        );
        const first = await connection.readResponse('GET');
        const second = await connection.readResponse('HEAD');
        const third = await connection.readResponse('GET');
        assert.deepEqual([first.status, second.status, third.status], [200, 200, 404]);
        assert.ok(first.body.equals(SMALL));
        assert.equal(second.field('content-length'), String(LARGE.length));
      } finally {
        connection.destroy();
      }
    });

    test('plain HTTP and other non-TLS bytes on the TLS port: connection dropped, server stays up and serves the next TLS request', async () => {
      const plain = await plainExchange(server.port, 'GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n');
      assert.equal(plain.closedByServer, true, 'the server did not close the plain-HTTP connection');
      assert.ok(!plain.received.toString('latin1').startsWith('HTTP/'), 'the server answered plain HTTP on its TLS port');
      assert.ok(!plain.received.includes(SMALL), 'the file was sent in clear');

      const garbage = await plainExchange(server.port, Buffer.alloc(4096, 0xff));
      assert.equal(garbage.closedByServer, true);

      // A handshake abandoned half-way: a ClientHello, then the client goes.
      await new Promise<void>((resolve) => {
        const socket = connectTls({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: localCa });
        socket.on('error', () => {});
        socket.once('connect', () => setTimeout(() => socket.destroy(), 20));
        socket.once('close', () => resolve());
      });

      assert.equal(server.child.exitCode, null, `the server exited; stderr: ${server.stderr()}`);
      assert.equal(server.child.signalCode, null);
      const next = await nodeHttpsGet(server.port, '/page.html', { ca: localCa });
      assert.equal(next.status, 200);
      assert.ok(next.body.equals(SMALL));
      assert.equal(server.stderr(), '', 'the server wrote to stderr');
    });
  });

  describe('sockhttp get', () => {
    test('no --cacert: exit 60, one line on stderr, nothing on stdout', async () => {
      const result = await runCli(['get', url('/page.html'), ...MAX_TIME]);
      assertFailure(result, 60);
    });

    test('--cacert cert.pem: exit 0 and the exact bytes', async () => {
      assertSuccess(await runCli(['get', '--cacert', local.cert, url('/page.html'), ...MAX_TIME]), SMALL);
      assertSuccess(await runCli(['get', '--cacert', local.cert, url('/large.bin'), ...MAX_TIME]), LARGE);
    });

    test('-k: exit 0 and the exact bytes without any CA', async () => {
      assertSuccess(await runCli(['get', '-k', url('/page.html'), ...MAX_TIME]), SMALL);
      assertSuccess(await runCli(['get', '--insecure', url('/large.bin'), ...MAX_TIME]), LARGE);
    });

    test('https://127.0.0.1 with --cacert: the IP subjectAltName is accepted', async () => {
      assertSuccess(await runCli(['get', '--cacert', local.cert, url('/page.html', '127.0.0.1'), ...MAX_TIME]), SMALL);
    });

    test('a certificate for other.example, asked for as localhost or 127.0.0.1: exit 60 even with its own --cacert', async () => {
      for (const host of ['localhost', '127.0.0.1']) {
        const result = await runCli(['get', '--cacert', other.cert, `https://${host}:${otherServer.port}/`, ...MAX_TIME]);
        assertFailure(result, 60);
      }
      // -k skips the name check too.
      assertSuccess(await runCli(['get', '-k', `https://localhost:${otherServer.port}/page.html`, ...MAX_TIME]), SMALL);
    });

    test('--cacert with the wrong CA: exit 60', async () => {
      assertFailure(await runCli(['get', '--cacert', other.cert, url('/page.html'), ...MAX_TIME]), 60);
    });

    test('--cacert of a missing file: usage error, exit 2', async () => {
      assertFailure(await runCli(['get', '--cacert', join(folder.path, 'no-such.pem'), url('/page.html'), ...MAX_TIME]), 2);
    });

    test('a TCP server that writes garbage instead of a handshake: exit 35 (tls-handshake)', async () => {
      const raw = await startRawServer({ pieces: ['this is not TLS at all\r\n\r\n'], waitForRequestHead: false, after: 'keep-open' });
      try {
        assertFailure(await runCli(['get', '-k', `https://127.0.0.1:${raw.port}/`, ...MAX_TIME]), 35);
      } finally {
        await raw.close();
      }
    });

    test('a plain HTTP server answering the ClientHello with an HTTP response: exit 35', async () => {
      const raw = await startRawServer({
        pieces: ['HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'],
        waitForRequestHead: false,
      });
      try {
        assertFailure(await runCli(['get', '-k', `https://127.0.0.1:${raw.port}/`, ...MAX_TIME]), 35);
      } finally {
        await raw.close();
      }
    });

    test('a TCP server that closes during the handshake: exit 35, as curl reports it', async () => {
      const raw = await startRawServer({ pieces: [], waitForRequestHead: false, after: 'end' });
      try {
        assertFailure(await runCli(['get', '-k', `https://127.0.0.1:${raw.port}/`, ...MAX_TIME]), 35);
      } finally {
        await raw.close();
      }
    });
  });

  describe('request() (the library)', () => {
    test('{ ca }: 200 and the exact bytes', async () => {
      const response = await request(url('/large.bin'), { ca: localCa, timeoutMs: 15_000 });
      assert.equal(response.status, 200);
      assert.equal(response.fields.get('content-length'), String(LARGE.length));
      assert.ok((await readAll(response.body)).equals(LARGE));
    });

    test('{ insecure: true }: 200 and the exact bytes', async () => {
      const response = await request(url('/page.html'), { insecure: true, timeoutMs: 15_000 });
      assert.equal(response.status, 200);
      assert.ok((await readAll(response.body)).equals(SMALL));
    });

    test('neither: a ClientError tls-certificate', async () => {
      await rejectsWithCode(request(url('/page.html'), { timeoutMs: 15_000 }), 'tls-certificate');
    });

    test('the wrong name (other.example served for localhost): tls-certificate', async () => {
      await rejectsWithCode(
        request(`https://localhost:${otherServer.port}/page.html`, { ca: otherCa, timeoutMs: 15_000 }),
        'tls-certificate',
      );
    });

    test('a TCP server that writes garbage: tls-handshake', async () => {
      const raw = await startRawServer({ pieces: ['this is not TLS at all\r\n\r\n'], waitForRequestHead: false, after: 'keep-open' });
      try {
        await rejectsWithCode(request(`https://127.0.0.1:${raw.port}/`, { insecure: true, timeoutMs: 15_000 }), 'tls-handshake');
      } finally {
        await raw.close();
      }
    });

    test('a TCP server that closes during the handshake: tls-handshake', async () => {
      const raw = await startRawServer({ pieces: [], waitForRequestHead: false, after: 'end' });
      try {
        await rejectsWithCode(request(`https://127.0.0.1:${raw.port}/`, { insecure: true, timeoutMs: 15_000 }), 'tls-handshake');
      } finally {
        await raw.close();
      }
    });
  });

  describe('serve: TLS options', () => {
    test('--tls-cert without --tls-key (and the reverse): usage error, exit 2', async () => {
      for (const args of [
        ['--tls-cert', local.cert],
        ['--tls-key', local.key],
      ]) {
        const result = await runCli(['serve', site, '--port', '0', ...args], { timeoutMs: 15_000 });
        assertFailure(result, 2);
      }
    });

    test('a missing certificate or key file: exit 1, one line naming the file', async () => {
      const missing = join(folder.path, 'missing.pem');
      for (const args of [
        ['--tls-cert', missing, '--tls-key', local.key],
        ['--tls-cert', local.cert, '--tls-key', missing],
      ]) {
        const result = await runCli(['serve', site, '--port', '0', ...args], { timeoutMs: 15_000 });
        assertFailure(result, 1);
        assert.ok(result.stderr.includes(missing), result.stderr);
      }
    });

    test('a certificate that is not PEM, or a key that does not match: exit 1, one line', async () => {
      const notPem = join(folder.path, 'not.pem');
      writeFileSync(notPem, 'this is not a certificate\n');
      for (const args of [
        ['--tls-cert', notPem, '--tls-key', local.key],
        ['--tls-cert', local.cert, '--tls-key', notPem],
        ['--tls-cert', local.cert, '--tls-key', other.key],
      ]) {
        const result = await runCli(['serve', site, '--port', '0', ...args], { timeoutMs: 15_000 });
        assertFailure(result, 1);
      }
    });

    test('TLS with --workers 2: one https:// banner, and curl --cacert gets the bytes', {
      skip: !hasCurl && 'curl is not installed',
    }, async () => {
      const workers = await startTlsServer([site, '--quiet', '--workers', '2', '--tls-cert', local.cert, '--tls-key', local.key]);
      let exitCode: number | null;
      try {
        for (let i = 0; i < 4; i++) {
          const result = await runCommand(
            'curl',
            ['-s', '-S', '--max-time', '20', '--cacert', local.cert, `https://localhost:${workers.port}/page.html`],
            { timeoutMs: 30_000 },
          );
          assert.equal(result.code, 0, result.stderr);
          assert.ok(result.stdout.equals(SMALL));
        }
        assert.equal(
          workers
            .output()
            .split('\n')
            .filter((line) => line !== '').length,
          1,
          workers.output(),
        );
      } finally {
        exitCode = await workers.stop();
      }
      assert.equal(exitCode, 0, 'SIGTERM should end the primary with 0');
    });
  });
});
