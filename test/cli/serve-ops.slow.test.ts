/**
 * `sockhttp serve` under operations, run as the built binary: stdout for the access log alone, a
 * closed log pipe, --log-file with SIGUSR1, --health and draining on SIGTERM, --metrics, SIGHUP.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { request } from 'node:http';
import { Agent } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { CLI, type BackgroundProcess, commandExists, makeTempDir, runCommand, startCliServer, startProcess } from '../helpers.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, options: { headers?: Record<string, string>; agent?: Agent } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port, path, headers: options.headers, agent: options.agent ?? false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
    });
    outgoing.setTimeout(10_000, () => outgoing.destroy(new Error('timed out')));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await delay(25);
  }
  return check();
}

/** The PIDs of a process's children (its cluster workers), from /proc. */
function workerPids(parent: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const fields = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ');
      if (Number(fields[1]) === parent) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** A port that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let folder: ReturnType<typeof makeTempDir>;
before(() => {
  folder = makeTempDir();
  writeFileSync(join(folder.path, 'x.txt'), 'ops\n');
});
after(() => folder?.remove());

async function withCli(args: string[], body: (cli: BackgroundProcess & { port: number }) => Promise<void>): Promise<void> {
  const cli = await startCliServer([folder.path, ...args]);
  try {
    await body(cli);
  } finally {
    await cli.stop('SIGKILL');
  }
}

describe('stdout carries the access log alone', () => {
  test('--log-format json: every stdout line is JSON; the banner is on stderr', async () => {
    await withCli(['--log-format', 'json'], async (cli) => {
      for (const path of ['/x.txt', '/missing', '/x.txt?q=1']) await get(cli.port, path);
      await cli.waitFor(/q=1/);
      const lines = cli.output().trim().split('\n');
      assert.equal(lines.length, 3);
      for (const line of lines) assert.equal(typeof (JSON.parse(line) as { status: number }).status, 'number');
      assert.match(cli.errors(), /^Serving /);
    });
  });

  test('a closed log pipe (serve | head -1): one line on stderr, requests go on', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', folder.path, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      assert.ok(await waitUntil(() => /127\.0\.0\.1:\d+/.test(stderr), 10_000), stderr);
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(stderr)![1]);
      child.stdout.destroy(); // the reader goes away, as head does after its line
      for (let index = 0; index < 20; index++) assert.equal((await get(port, '/x.txt')).status, 200);
      assert.ok(await waitUntil(() => /cannot be written/.test(stderr), 5_000), stderr);
      assert.equal(child.exitCode, null, 'still running');
      assert.equal(stderr.match(/cannot be written/g)!.length, 1, stderr);
      assert.match(stderr, /the access log on stdout cannot be written \(EPIPE\); dropping it, still serving/);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'close');
    }
  });
});

describe('--log-file', () => {
  test('appends there; SIGUSR1 reopens it after logrotate renames it', async () => {
    const logs = makeTempDir();
    const file = join(logs.path, 'access.log');
    try {
      await withCli(['--log-file', file], async (cli) => {
        await get(cli.port, '/x.txt?first');
        assert.ok(await waitUntil(() => existsSync(file) && readFileSync(file, 'utf8').includes('first'), 5_000));
        renameSync(file, `${file}.1`);
        cli.child.kill('SIGUSR1');
        assert.ok(await waitUntil(() => existsSync(file), 5_000), 'a new file after SIGUSR1');
        await get(cli.port, '/x.txt?second');
        assert.ok(await waitUntil(() => readFileSync(file, 'utf8').includes('second'), 5_000));
        assert.doesNotMatch(readFileSync(`${file}.1`, 'utf8'), /second/);
        assert.equal(cli.output(), '', 'nothing on stdout');
      });
    } finally {
      logs.remove();
    }
  });

  test('a log file that cannot be opened: one line, exit 1', async () => {
    const cli = await import('../helpers.js').then(({ runCli }) =>
      runCli(['serve', folder.path, '--port', '0', '--log-file', '/nonexistent-folder/access.log'], { timeoutMs: 10_000 }),
    );
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /^sockhttp serve: --log-file \/nonexistent-folder\/access\.log: cannot open it \(ENOENT\)\n$/);
  });
});

describe('--health and draining', () => {
  test('200 while serving, not logged; on SIGTERM 503 for --drain-delay while files are still served, then exit 0', async () => {
    await withCli(['--health', '/healthz', '--drain-delay', '1'], async (cli) => {
      const healthy = await get(cli.port, '/healthz');
      assert.equal(healthy.status, 200);
      assert.equal(healthy.body, 'ok\n');
      await get(cli.port, '/x.txt?after-health');
      await cli.waitFor(/after-health/);
      assert.doesNotMatch(cli.output(), /healthz/);
      const started = Date.now();
      const exited = once(cli.child, 'exit');
      cli.child.kill('SIGTERM');
      assert.ok(await waitUntil(async () => (await get(cli.port, '/healthz')).status === 503, 900), 'health turns 503 first');
      assert.equal((await get(cli.port, '/x.txt')).status, 200, 'files are still served while draining');
      const [code] = await exited;
      assert.equal(code, 0);
      assert.ok(Date.now() - started >= 900, `closed after the drain delay (${Date.now() - started} ms)`);
    });
  });

  test('an in-flight response finishes after SIGTERM', async () => {
    const big = join(folder.path, 'big.bin');
    writeFileSync(big, Buffer.alloc(16 * 1024 * 1024, 7));
    await withCli(['--health', '/healthz', '--drain-delay', '0.2'], async (cli) => {
      const received = new Promise<number>((resolve, reject) => {
        const outgoing = request({ host: '127.0.0.1', port: cli.port, path: '/big.bin', agent: false }, (response) => {
          let bytes = 0;
          response.pause();
          // a slow reader: the SIGTERM lands while the body is on its way
          setTimeout(() => {
            cli.child.kill('SIGTERM');
            response.resume();
          }, 200);
          response.on('data', (chunk: Buffer) => (bytes += chunk.length));
          response.on('end', () => resolve(bytes));
          response.on('error', reject);
        });
        outgoing.on('error', reject);
        outgoing.end();
      });
      assert.equal(await received, 16 * 1024 * 1024);
      const [code] = await once(cli.child, 'exit');
      assert.equal(code, 0);
    });
  });
});

describe('--metrics', () => {
  test('Prometheus text on the same port: requests by method and class, bytes, connections, durations, cache, descriptors', async () => {
    await withCli(['--metrics', '/metrics', '-q'], async (cli) => {
      await get(cli.port, '/x.txt');
      await get(cli.port, '/x.txt');
      await get(cli.port, '/missing');
      const scraped = await get(cli.port, '/metrics');
      assert.equal(scraped.status, 200);
      assert.match(String(scraped.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      const text = scraped.body;
      assert.match(text, /^sockhttp_requests_total\{method="GET",code="2xx",protocol="http\/1\.1"\} 2$/m);
      assert.match(text, /^sockhttp_requests_total\{method="GET",code="4xx",protocol="http\/1\.1"\} 1$/m);
      assert.match(text, /^sockhttp_response_body_bytes_total\{protocol="http\/1\.1"\} \d+$/m);
      assert.match(text, /^sockhttp_open_connections [1-9]\d*$/m);
      assert.match(text, /^sockhttp_request_duration_seconds_count 3$/m);
      assert.match(text, /^sockhttp_request_duration_seconds_bucket\{le="\+Inf"\} 3$/m);
      assert.match(text, /^sockhttp_file_cache_lookups_total\{result="hit"\} 1$/m);
      assert.match(text, /^sockhttp_file_cache_lookups_total\{result="miss"\} 1$/m);
      assert.match(text, /^process_open_fds \d+$/m);
      // every sample line parses as the exposition format says
      for (const line of text.trim().split('\n')) assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [\d.e+-]+)$/);
      // the scrape itself is not counted
      assert.match((await get(cli.port, '/metrics')).body, /^sockhttp_request_duration_seconds_count 3$/m);
    });
  });

  test('--metrics-port: on loopback, a port of its own; the site port does not answer the path', async () => {
    const probe = await freePort();
    await withCli(['--metrics-port', String(probe)], async (cli) => {
      await cli.waitFor(/Metrics at http:\/\/127\.0\.0\.1:\d+\/metrics/, 10_000, 'stderr');
      await get(cli.port, '/x.txt');
      assert.equal((await get(cli.port, '/metrics')).status, 404);
      const scraped = await get(probe, '/metrics');
      assert.equal(scraped.status, 200);
      assert.match(scraped.body, /^sockhttp_requests_total\{method="GET",code="2xx",protocol="http\/1\.1"\} 1$/m);
      assert.equal((await get(probe, '/x.txt')).status, 404);
    });
  });
});

describe('--metrics-port under --workers', () => {
  test('the primary adds up the figures of every worker', async () => {
    const metricsPort = await freePort();
    const cli = await startCliServer([folder.path, '-q', '--workers', '2', '--metrics-port', String(metricsPort)]);
    try {
      await cli.waitFor(/Metrics at http:\/\/127\.0\.0\.1:\d+\/metrics/, 10_000, 'stderr');
      // new connections each time: the cluster spreads them over both workers
      for (let index = 0; index < 20; index++) assert.equal((await get(cli.port, '/x.txt')).status, 200);
      const text = (await get(metricsPort, '/metrics')).body;
      assert.match(text, /^sockhttp_requests_total\{method="GET",code="2xx",protocol="http\/1\.1"\} 20$/m, text);
      assert.match(text, /^sockhttp_request_duration_seconds_count 20$/m);
      assert.match(text, /^process_open_fds \d+$/m);
    } finally {
      await cli.stop();
    }
  });
});

describe('SIGHUP', () => {
  test('reloads serve.json without dropping a connection; a bad one keeps the old rules with one line on stderr', async () => {
    const site = makeTempDir();
    writeFileSync(join(site.path, 'x.txt'), 'site\n');
    const rules = (value: string) => JSON.stringify({ headers: [{ source: '**/*.txt', headers: [{ key: 'X-Rules', value }] }] });
    writeFileSync(join(site.path, 'serve.json'), rules('one'));
    const cli = await startCliServer([site.path, '-q']);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const sockets = new Set<unknown>();
      agent.on('free', (socket) => sockets.add(socket));
      const first = await get(cli.port, '/x.txt', { agent });
      assert.equal(first.headers['x-rules'], 'one');
      writeFileSync(join(site.path, 'serve.json'), rules('two'));
      cli.child.kill('SIGHUP');
      await cli.waitFor(/reloaded/, 10_000, 'stderr');
      const second = await get(cli.port, '/x.txt', { agent });
      assert.equal(second.headers['x-rules'], 'two');
      writeFileSync(join(site.path, 'serve.json'), '{ "headers": [ broken');
      cli.child.kill('SIGHUP');
      await cli.waitFor(/reload refused, still serving as before: .*serve\.json/, 10_000, 'stderr');
      const third = await get(cli.port, '/x.txt', { agent });
      assert.equal(third.headers['x-rules'], 'two');
      assert.equal(sockets.size, 1, 'the same keep-alive connection served across the reloads');
      assert.equal(cli.errors().match(/reload refused/g)!.length, 1);
    } finally {
      agent.destroy();
      await cli.stop('SIGKILL');
      site.remove();
    }
  });

  test('reloads the TLS certificate and key: new handshakes get the new one, an open TLS connection goes on', {
    skip: !commandExists('openssl') && 'openssl is not installed',
  }, async () => {
    const certs = makeTempDir();
    const make = async (name: string) => {
      const result = await runCommand(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-days',
          '1',
          '-subj',
          `/CN=${name}`,
          '-keyout',
          join(certs.path, `${name}.key`),
          '-out',
          join(certs.path, `${name}.crt`),
        ],
        { timeoutMs: 30_000 },
      );
      assert.equal(result.code, 0, result.stderr);
    };
    await make('first');
    await make('second');
    const certFile = join(certs.path, 'live.crt');
    const keyFile = join(certs.path, 'live.key');
    copyFileSync(join(certs.path, 'first.crt'), certFile);
    copyFileSync(join(certs.path, 'first.key'), keyFile);
    const cli = startProcess(process.execPath, [
      CLI,
      'serve',
      folder.path,
      '-q',
      '--port',
      '0',
      '--tls-cert',
      certFile,
      '--tls-key',
      keyFile,
    ]);
    const subjectOf = (socket: TLSSocket) => socket.getPeerCertificate().subject.CN;
    /** One request on an open TLS socket, answered with its status line. */
    const ask = (socket: TLSSocket) =>
      new Promise<string>((resolve, reject) => {
        let text = '';
        const onData = (chunk: Buffer) => {
          text += chunk.toString('latin1');
          if (text.includes('\r\n\r\n') && text.endsWith('ops\n')) {
            socket.off('data', onData);
            resolve(text.slice(0, text.indexOf('\r\n')));
          }
        };
        socket.on('data', onData);
        socket.once('error', reject);
        socket.write('GET /x.txt HTTP/1.1\r\nHost: localhost\r\n\r\n');
      });
    const open = (port: number) =>
      new Promise<TLSSocket>((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(socket));
        socket.once('error', reject);
      });
    try {
      const [, port] = await cli.waitFor(/https:\/\/127\.0\.0\.1:(\d+)\//, 10_000, 'stderr');
      const before = await open(Number(port));
      assert.equal(subjectOf(before), 'first');
      assert.equal(await ask(before), 'HTTP/1.1 200 OK');
      copyFileSync(join(certs.path, 'second.crt'), certFile);
      copyFileSync(join(certs.path, 'second.key'), keyFile);
      cli.child.kill('SIGHUP');
      await cli.waitFor(/reloaded/, 10_000, 'stderr');
      const afterReload = await open(Number(port));
      assert.equal(subjectOf(afterReload), 'second');
      assert.equal(await ask(afterReload), 'HTTP/1.1 200 OK');
      assert.equal(await ask(before), 'HTTP/1.1 200 OK', 'the connection made before the reload still serves');
      // A key that does not go with the certificate: refused, the second certificate stays.
      copyFileSync(join(certs.path, 'first.key'), keyFile);
      cli.child.kill('SIGHUP');
      await cli.waitFor(/reload refused, still serving as before/, 10_000, 'stderr');
      const third = await open(Number(port));
      assert.equal(subjectOf(third), 'second');
      for (const socket of [before, afterReload, third]) socket.destroy();
    } finally {
      await cli.stop('SIGKILL');
      certs.remove();
    }
  });

  test('--workers 2: the workers are replaced one at a time while requests go on', async () => {
    const cli = await startCliServer([folder.path, '-q', '--workers', '2']);
    try {
      let failures = 0;
      let answered = 0;
      let running = true;
      const reasons: string[] = [];
      const load = (async () => {
        while (running) {
          try {
            const answer = await get(cli.port, '/x.txt');
            if (answer.status === 200) answered++;
            else {
              failures++;
              reasons.push(`status ${answer.status}`);
            }
          } catch (error) {
            failures++;
            reasons.push((error as Error).message);
          }
        }
      })();
      await delay(200);
      const before = workerPids(cli.child.pid!);
      assert.equal(before.length, 2);
      cli.child.kill('SIGHUP');
      await cli.waitFor(/reloaded: 2 workers replaced one at a time/, 20_000, 'stderr');
      assert.ok(await waitUntil(() => workerPids(cli.child.pid!).length === 2, 10_000));
      const afterReload = workerPids(cli.child.pid!);
      assert.deepEqual(
        afterReload.filter((pid) => before.includes(pid)),
        [],
        'every worker is a new process',
      );
      await delay(200);
      running = false;
      await load;
      assert.equal(failures, 0, `${failures} failed of ${answered + failures}: ${reasons.join('; ')}`);
      assert.ok(answered > 10, `answered ${answered}`);
    } finally {
      await cli.stop();
    }
  });
});
