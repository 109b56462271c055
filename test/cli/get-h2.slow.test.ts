/**
 * `sockhttp get --http2` and `--http2-prior-knowledge`, the BUILT binary, against node:http2 (h2c
 * and TLS with ALPN) and nginx's `http2` listener: several URLs on one connection, -v naming the
 * protocol, -w '%{http_version}', --trace showing frames, exit codes for HTTP/2 failures.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type IncomingHttpHeaders, type ServerHttp2Stream, createSecureServer, createServer } from 'node:http2';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { commandExists, makeTempDir, runCli, runCommand, runNginx } from '../helpers.js';

function pattern(size: number, seed = 0): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 8) + seed) & 0xff;
  return bytes;
}

type Handler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

async function startNodeH2(handler: Handler, tls?: { cert: string; key: string }) {
  const server = tls ? createSecureServer({ ...tls, allowHTTP1: true }) : createServer();
  let sessions = 0;
  server.on('session', (session) => {
    sessions += 1;
    session.on('error', () => {});
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    handler(stream, headers);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    sessions: () => sessions,
    close: () => server.close(),
  };
}

const echoPath: Handler = (stream, headers) => {
  stream.respond({ ':status': 200, 'content-type': 'text/plain' });
  stream.end(`path ${headers[':path']}\n`);
};

describe('get over h2c (node:http2)', () => {
  let server: Awaited<ReturnType<typeof startNodeH2>>;
  before(async () => {
    server = await startNodeH2((stream, headers) => {
      if (headers[':path'] === '/reset') {
        stream.respond({ ':status': 200 });
        stream.write('some');
        setTimeout(() => stream.destroy(new Error('gone')), 20);
        return;
      }
      echoPath(stream, headers);
    });
  });
  after(() => server.close());

  test("three URLs with --http2-prior-knowledge: one connection, -w '%{http_version}' says 2", async () => {
    const before = server.sessions();
    const base = `http://127.0.0.1:${server.port}`;
    const result = await runCli(
      ['get', '--http2-prior-knowledge', '-s', '-w', 'v=%{http_version}\\n', `${base}/a`, `${base}/b`, `${base}/c`],
      {
        timeoutMs: 20_000,
      },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'path /a\nv=2\npath /b\nv=2\npath /c\nv=2\n');
    assert.equal(server.sessions() - before, 1);
  });

  test('-v says HTTP/2 and shows the request and response as curl does; -i shows HTTP/2 200', async () => {
    const result = await runCli(['get', '--http2-prior-knowledge', '-v', '-i', `http://127.0.0.1:${server.port}/v`], { timeoutMs: 20_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /\* using HTTP\/2/);
    assert.match(result.stderr, /> GET \/v HTTP\/2/);
    assert.match(result.stderr, /< HTTP\/2 200/);
    assert.match(result.stdout.toString(), /^HTTP\/2 200\r\n/);
  });

  test('--trace shows each frame: SETTINGS, HEADERS with its fields and codings, DATA with windows', async () => {
    const result = await runCli(['get', '--http2-prior-knowledge', '--trace', '--trace-body', '4', `http://127.0.0.1:${server.port}/t`], {
      timeoutMs: 20_000,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'path /t\n');
    assert.match(result.stderr, /#1 > SETTINGS\s+stream 0/);
    assert.match(result.stderr, /#1 > HEADERS\s+stream 1, \d+ bytes, END_STREAM END_HEADERS/);
    assert.match(result.stderr, /field\s+:path: \/t/);
    assert.match(result.stderr, /#1 < HEADERS/);
    assert.match(result.stderr, /field\s+:status: 200/);
    assert.match(result.stderr, /#1 < DATA/);
    assert.match(result.stderr, /#1 < {3}data +path…$/m, '--trace-body 4: the first 4 bytes of the body');
    assert.match(result.stderr, /window\s+connection window \d+/);
  });

  test('a stream the server resets: one line, exit 92 (curl: HTTP/2 stream error)', async () => {
    const result = await runCli(['get', '--http2-prior-knowledge', `http://127.0.0.1:${server.port}/reset`], { timeoutMs: 20_000 });
    assert.equal(result.code, 92, result.stderr);
    assert.match(result.stderr, /^sockhttp get: The server reset HTTP\/2 stream 1 \(INTERNAL_ERROR\)\n$/);
  });

  test('--http2 on plain http stays HTTP/1.1 (curl: no Upgrade), and this h2c-only server says so: exit 16 with prior knowledge against HTTP/1.1', async () => {
    const plain = createNetServer((socket) => {
      socket.on('error', () => {});
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\none');
    });
    plain.listen(0, '127.0.0.1');
    await once(plain, 'listening');
    try {
      const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/`;
      const http1 = await runCli(['get', '--http2', '-w', ' %{http_version}', url], { timeoutMs: 20_000 });
      assert.equal(http1.stdout.toString(), 'one 1.1');
      const prior = await runCli(['get', '--http2-prior-knowledge', url], { timeoutMs: 20_000 });
      assert.equal(prior.code, 16, prior.stderr);
      assert.match(prior.stderr, /answered in HTTP\/1\.x/);
    } finally {
      plain.close();
    }
  });
});

describe('get --http2 over TLS (node:http2)', { skip: !commandExists('openssl') && 'openssl is not installed' }, () => {
  const folder = makeTempDir('sockhttp-get-h2-tls-');
  let cert = '';
  after(() => folder.remove());
  before(async () => {
    cert = join(folder.path, 'cert.pem');
    const key = join(folder.path, 'key.pem');
    const made = await runCommand(
      'openssl',
      [
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
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { timeoutMs: 30_000 },
    );
    assert.equal(made.code, 0, made.stderr);
  });

  test('ALPN: -v says the server accepted h2, two URLs share the connection', async () => {
    const server = await startNodeH2(echoPath, {
      cert: readFileSync(cert, 'utf8'),
      key: readFileSync(join(folder.path, 'key.pem'), 'utf8'),
    });
    try {
      const base = `https://127.0.0.1:${server.port}`;
      const result = await runCli(['get', '--http2', '--cacert', cert, '-v', '-w', '%{http_version}\\n', `${base}/x`, `${base}/y`], {
        timeoutMs: 20_000,
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.toString(), 'path /x\n2\npath /y\n2\n');
      assert.match(result.stderr, /ALPN: h2/);
      assert.match(result.stderr, /\* ALPN: server accepted h2; using HTTP\/2/);
      assert.match(result.stderr, /Re-using connection #1 .*a new HTTP\/2 stream/);
      assert.equal(server.sessions(), 1);
    } finally {
      server.close();
    }
  });
});

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createNetServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** nginx 1.22 with `listen … http2` (h2c with prior knowledge), in a temporary prefix, stopped by its PID. */
async function startNginxH2(): Promise<{ port: number; root: string; stop(): Promise<void> }> {
  const prefix = makeTempDir('sockhttp-nginx-h2-');
  const root = join(prefix.path, 'root');
  mkdirSync(root);
  mkdirSync(join(prefix.path, 'logs'));
  chmodSync(prefix.path, 0o755);
  writeFileSync(join(root, 'file.bin'), pattern(300_000, 3));
  for (const name of ['a', 'b', 'c']) writeFileSync(join(root, `${name}.txt`), `nginx ${name}\n`);
  const port = await freePort();
  const config = `daemon off;
master_process off;
pid ${prefix.path}/nginx.pid;
error_log ${prefix.path}/logs/error.log error;
events { worker_connections 64; }
http {
  types { text/plain txt; application/octet-stream bin; }
  access_log off;
  client_body_temp_path ${prefix.path}/body;
  proxy_temp_path ${prefix.path}/proxy;
  fastcgi_temp_path ${prefix.path}/fastcgi;
  uwsgi_temp_path ${prefix.path}/uwsgi;
  scgi_temp_path ${prefix.path}/scgi;
  server {
    listen 127.0.0.1:${port} http2;
    root ${root};
    add_header X-Connection $connection always;
  }
}
`;
  const { stop } = await runNginx(prefix, config, port);
  return { port, root, stop };
}

const hasNginx = commandExists('nginx') || existsSync('/usr/sbin/nginx');

describe('get --http2-prior-knowledge against nginx http2', { skip: !hasNginx && 'nginx is not installed' }, () => {
  let nginx: Awaited<ReturnType<typeof startNginxH2>>;
  const folder = makeTempDir('sockhttp-get-nginx-h2-');
  before(async () => {
    nginx = await startNginxH2();
  });
  after(async () => {
    await nginx?.stop();
    folder.remove();
  });

  test('three URLs on one connection (nginx numbers its connections), and a 300 KB file byte-exact', async () => {
    const base = `http://127.0.0.1:${nginx.port}`;
    const out = join(folder.path, 'file.bin');
    const result = await runCli(['get', '--http2-prior-knowledge', '-s', '-i', `${base}/a.txt`, `${base}/b.txt`, `${base}/c.txt`], {
      timeoutMs: 20_000,
    });
    assert.equal(result.code, 0, result.stderr);
    const numbers = [...result.stdout.toString().matchAll(/x-connection: (\d+)/g)].map((match) => match[1]);
    assert.equal(numbers.length, 3, result.stdout.toString());
    assert.equal(new Set(numbers).size, 1, `nginx saw connections ${numbers.join(', ')}`);
    assert.match(result.stdout.toString(), /^HTTP\/2 200\r\n/);
    const download = await runCli(
      ['get', '--http2-prior-knowledge', '-s', '-o', out, '-w', '%{http_version} %{size_download}', `${base}/file.bin`],
      {
        timeoutMs: 20_000,
      },
    );
    assert.equal(download.code, 0, download.stderr);
    assert.equal(download.stdout.toString(), '2 300000');
    assert.ok(readFileSync(out).equals(readFileSync(join(nginx.root, 'file.bin'))));
  });

  test('a 404 over h2 is a response, and --fail makes it exit 22', async () => {
    const result = await runCli(['get', '--http2-prior-knowledge', '-f', '-s', `http://127.0.0.1:${nginx.port}/missing`], {
      timeoutMs: 20_000,
    });
    assert.equal(result.code, 22);
  });
});
