/**
 * Two sockhttp replicas behind a real load balancer (nginx with docs/deploy/nginx.conf, HAProxy with
 * docs/deploy/haproxy.cfg, each file itself with its ports replaced by free ones), loaded by wrk;
 * one replica gets SIGTERM in the middle. No request
 * may fail, and with --etag content a conditional request carrying one replica's ETag is answered
 * 304 by the other. The figures (requests, failures, latency while the replica stops) are printed
 * as test diagnostics.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type BackgroundProcess, CLI, PUBLIC_ROOT, REPO_ROOT, makeTempDir, runCommand, startProcess } from '../helpers.js';

const NGINX = '/usr/sbin/nginx';
const WRK = '/usr/bin/wrk';
const HAPROXY = '/usr/sbin/haproxy';

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; etag: string | undefined }> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port, path, headers, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode!, etag: response.headers.etag }));
    });
    outgoing.setTimeout(10_000, () => outgoing.destroy(new Error('timed out')));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`exited (${child.exitCode}) before listening`);
    const open = await new Promise<boolean>((done) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (open) return;
    await delay(50);
  }
  throw new Error(`nothing listens on port ${port}`);
}

/** The main config around docs/deploy/nginx.conf: everything nginx writes stays in the temp prefix. */
function mainConfig(prefix: string, site: string): string {
  return `worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log error;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  include ${site};
}
`;
}

interface WrkFigures {
  requests: number;
  non2xx: number;
  socketErrors: number;
  latency: Record<string, string>;
  raw: string;
}

function parseWrk(output: string): WrkFigures {
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? Number.NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = errors ? errors.slice(1).reduce((sum, value) => sum + Number(value), 0) : 0;
  const latency: Record<string, string> = {};
  for (const match of output.matchAll(/^\s+(50|75|90|99)%\s+(\S+)$/gm)) latency[`p${match[1]}`] = match[2]!;
  const line = /Latency\s+(\S+)\s+(\S+)\s+(\S+)/.exec(output);
  if (line) Object.assign(latency, { average: line[1], max: line[3] });
  return { requests, non2xx, socketErrors, latency, raw: output };
}

/** How to run one load balancer from a file of docs/deploy/, in a temp prefix, on free ports. */
interface FrontEnd {
  name: string;
  binary: string;
  skip: string | false;
  /** Seconds of --drain-delay for the replicas: above the front end's health-check interval when it has one. */
  drainDelay: string;
  /** Writes the config; returns the arguments that check it and those that run it in the foreground. */
  configure(prefix: string, replicaPorts: number[], front: number): { check: string[]; run: string[]; checked: RegExp };
  stopSignal: NodeJS.Signals;
}

/** The file of docs/deploy/ with its example ports replaced by free ones. */
function deployFile(name: string, replicaPorts: number[], front: number): string {
  return readFileSync(join(REPO_ROOT, 'docs', 'deploy', name), 'utf8')
    .replace('127.0.0.1:8081', `127.0.0.1:${replicaPorts[0]}`)
    .replace('127.0.0.1:8082', `127.0.0.1:${replicaPorts[1]}`)
    .replace('127.0.0.1:8080', `127.0.0.1:${front}`);
}

const FRONT_ENDS: FrontEnd[] = [
  {
    name: 'nginx',
    binary: NGINX,
    skip: !existsSync(NGINX) ? `nginx is not installed (${NGINX})` : false,
    // nginx (open source) has no active health checks: it retries on the refused connection.
    drainDelay: '0.5',
    configure(prefix, replicaPorts, front) {
      mkdirSync(join(prefix, 'logs'));
      writeFileSync(join(prefix, 'site.conf'), deployFile('nginx.conf', replicaPorts, front));
      writeFileSync(join(prefix, 'nginx.conf'), mainConfig(prefix, join(prefix, 'site.conf')));
      const config = ['-p', prefix, '-c', join(prefix, 'nginx.conf')];
      return { check: ['-t', ...config], run: [...config, '-g', 'daemon off;'], checked: /syntax is ok/ };
    },
    stopSignal: 'SIGQUIT',
  },
  {
    name: 'HAProxy',
    binary: HAPROXY,
    skip: !existsSync(HAPROXY) ? `haproxy is not installed (${HAPROXY}, Debian package haproxy)` : false,
    // checks every second, out after one failure: the replica answers 503 on /healthz for longer
    drainDelay: '1.5',
    configure(prefix, replicaPorts, front) {
      const file = join(prefix, 'haproxy.cfg');
      writeFileSync(file, deployFile('haproxy.cfg', replicaPorts, front));
      return { check: ['-c', '-f', file], run: ['-db', '-f', file], checked: /Configuration file is valid/ };
    },
    stopSignal: 'SIGUSR1', // HAProxy's soft stop
  },
];

const hasWrk = existsSync(WRK);

for (const frontEnd of FRONT_ENDS) {
  describe(`two replicas behind ${frontEnd.name}`, { skip: frontEnd.skip || (!hasWrk && `wrk is not installed (${WRK})`) }, () => {
    let prefix: ReturnType<typeof makeTempDir>;
    let balancer: ChildProcess | undefined;
    let balancerOutput = '';
    let front: number;
    let run: string[];
    let check: string[];
    let checked: RegExp;
    const replicas: (BackgroundProcess & { port: number })[] = [];

    before(async () => {
      prefix = makeTempDir('sockhttp-lb-');
      chmodSync(prefix.path, 0o755);
      const ports = [await freePort(), await freePort()];
      front = await freePort();
      for (const [index, port] of ports.entries()) {
        // Copies of one folder made at different times: mtime-based ETags would differ.
        const root = join(prefix.path, `www${index}`);
        cpSync(PUBLIC_ROOT, root, { recursive: true });
        const when = new Date(Date.UTC(2024, 0, 1 + index));
        for (const name of readdirSync(root, { recursive: true }) as string[]) utimesSync(join(root, name), when, when);
        const args = ['serve', root, '--port', String(port), '-q', '--etag', 'content', '--health', '/healthz'];
        const child = startProcess(process.execPath, [CLI, ...args, '--drain-delay', frontEnd.drainDelay]);
        await child.waitFor(/Serving /, 10_000, 'stderr');
        replicas.push(Object.assign(child, { port }));
      }
      ({ run, check, checked } = frontEnd.configure(prefix.path, ports, front));
    });

    after(async () => {
      if (balancer !== undefined && balancer.exitCode === null && balancer.signalCode === null) {
        const exited = new Promise((done) => balancer!.once('exit', done));
        balancer.kill(frontEnd.stopSignal);
        const killer = setTimeout(() => balancer!.kill('SIGKILL'), 8_000);
        await exited;
        clearTimeout(killer);
      }
      for (const replica of replicas) await replica.stop('SIGKILL');
      prefix?.remove();
    });

    test(`${frontEnd.name} accepts its file of docs/deploy/, and starts`, async () => {
      const result = await runCommand(frontEnd.binary, check, { timeoutMs: 20_000 });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout.toString() + result.stderr, checked);
      balancer = spawn(frontEnd.binary, run, { stdio: ['ignore', 'pipe', 'pipe'] });
      balancer.stdout!.on('data', (chunk: Buffer) => (balancerOutput += chunk.toString()));
      balancer.stderr!.on('data', (chunk: Buffer) => (balancerOutput += chunk.toString()));
      await waitForPort(front, balancer).catch((error: Error) => {
        throw new Error(`${error.message}: ${balancerOutput}`);
      });
      // both replicas in service before the load starts (HAProxy needs its first checks)
      await delay(1_200);
    });

    test(`the ETag of one replica is answered 304 by the other, directly and through ${frontEnd.name}`, async () => {
      const [first, second] = replicas;
      const fromFirst = await get(first!.port, '/HelloWorld.html');
      const fromSecond = await get(second!.port, '/HelloWorld.html');
      assert.equal(fromFirst.status, 200);
      assert.equal(fromFirst.etag, fromSecond.etag);
      assert.equal((await get(second!.port, '/HelloWorld.html', { 'If-None-Match': fromFirst.etag! })).status, 304);
      assert.equal((await get(first!.port, '/HelloWorld.html', { 'If-None-Match': fromSecond.etag! })).status, 304);
      // through the load balancer, whichever replica answers
      for (let index = 0; index < 6; index++) {
        assert.equal((await get(front, '/HelloWorld.html', { 'If-None-Match': fromFirst.etag! })).status, 304);
      }
    });

    test('SIGTERM to one replica under wrk load: zero failed requests', async (context) => {
      const wrk = runCommand(WRK, ['-t1', '-c8', '-d4s', '--latency', '--timeout', '5s', `http://127.0.0.1:${front}/HelloWorld.html`], {
        timeoutMs: 30_000,
      });
      // A bounded client loop beside wrk measures each request's latency around the stop.
      const stopAt = performance.now() + 1_000;
      const samples: { at: number; ms: number; status: number | 'error' }[] = [];
      const loop = (async () => {
        const end = performance.now() + 3_500;
        while (performance.now() < end && samples.length < 20_000) {
          const started = performance.now();
          const status = await get(front, '/HelloWorld.html').then(
            (answer) => answer.status,
            () => 'error' as const,
          );
          samples.push({ at: started - stopAt, ms: performance.now() - started, status });
        }
      })();
      await delay(1_000);
      const [stopped, survivor] = replicas;
      const exitCode = await stopped!.stop('SIGTERM');
      const [result] = await Promise.all([wrk, loop]);
      assert.equal(result.code, 0, result.stderr);
      const figures = parseWrk(result.stdout.toString());
      const failedInLoop = samples.filter((sample) => sample.status !== 200).length;
      const around = samples
        .filter((sample) => sample.at >= -100 && sample.at <= 2_000)
        .map((sample) => sample.ms)
        .sort((a, b) => a - b);
      const quantile = (q: number) => around[Math.min(around.length - 1, Math.floor(q * around.length))]?.toFixed(2);
      context.diagnostic(
        `${frontEnd.name} + wrk: ${figures.requests} requests, ${figures.non2xx} non-2xx/3xx, ${figures.socketErrors} socket errors; latency ${JSON.stringify(figures.latency)}`,
      );
      context.diagnostic(
        `${frontEnd.name} + client loop: ${samples.length} requests, ${failedInLoop} failed; from the SIGTERM to 2 s after: ${around.length} requests, p50 ${quantile(0.5)} ms, p99 ${quantile(0.99)} ms, max ${around.at(-1)?.toFixed(2)} ms`,
      );
      assert.equal(exitCode, 0, 'the stopped replica drained and exited 0');
      assert.ok(figures.requests > 100, figures.raw);
      assert.equal(figures.non2xx, 0, figures.raw);
      assert.equal(figures.socketErrors, 0, figures.raw);
      assert.equal(failedInLoop, 0, JSON.stringify(samples.filter((sample) => sample.status !== 200).slice(0, 5)));
      assert.ok(around.length > 0, 'requests were made while the replica stopped');
      // the survivor serves alone now
      assert.equal((await get(survivor!.port, '/HelloWorld.html')).status, 200);
      assert.equal((await get(front, '/HelloWorld.html')).status, 200);
    });
  });
}
