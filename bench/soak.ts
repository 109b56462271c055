/**
 * The soak test: `sockhttp serve` under a mixed, partly hostile load on loopback for a set time.
 * Legitimate clients (node:http keep-alive agents and one-shot connections) fetch and check files
 * while hostile ones trickle heads (slowloris), send garbage, oversized heads and smuggling
 * attempts, flood pipelined requests without reading, and reset downloads halfway.
 *
 *   npm run soak -- --minutes 5
 *
 * It prints requests, errors and the server's RSS every few seconds, and fails (exit 1) on any 5xx,
 * any error on a legitimate request, or memory that keeps growing. Every loop ends at the deadline.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const minutesIndex = args.indexOf('--minutes');
const MINUTES = minutesIndex === -1 ? 1 : Number(args[minutesIndex + 1]);
const DEADLINE = Date.now() + MINUTES * 60_000;
const SAMPLE_MS = 5_000;

const stats = { legitimate: 0, legitimateErrors: 0, serverErrors: 0, hostile: 0, firstError: '' };
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const running = () => Date.now() < DEADLINE;

function makeDocroot(): { root: string; files: Map<string, Buffer> } {
  const root = mkdtempSync(join(tmpdir(), 'sockhttp-soak-'));
  chmodSync(root, 0o755);
  const files = new Map<string, Buffer>([
    ['/small.html', Buffer.from('<!doctype html><title>soak</title><p>small</p>\n')],
    ['/page.html', Buffer.from(`<!doctype html><title>page</title>${'<p>a paragraph of text for the soak test</p>\n'.repeat(100)}`)],
    ['/big.bin', Buffer.alloc(5 * 1024 * 1024, 7)],
  ]);
  for (const [path, bytes] of files) writeFileSync(join(root, path), bytes);
  return { root, files };
}

function startServer(root: string): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, 'bin/sockhttp.js'), 'serve', root, '--port', '0', '--quiet', '--headers-timeout', '3', '--keep-alive-timeout', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout!.once('data', (chunk: Buffer) => {
      const match = /127\.0\.0\.1:(\d+)/.exec(chunk.toString());
      if (match) resolve({ child, port: Number(match[1]) });
      else reject(new Error(`unexpected banner: ${chunk.toString()}`));
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code})`)));
  });
}

function rssMegabytes(pid: number): number {
  const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) / 1024;
}

function legitimateError(message: string): void {
  stats.legitimateErrors++;
  stats.firstError ||= message;
}

/** A well-behaved client: GETs (and conditional GETs) over a node:http agent, checking every byte. */
async function legitimateClient(port: number, files: Map<string, Buffer>, keepAlive: boolean): Promise<void> {
  const agent = new Agent({ keepAlive, maxSockets: 1 });
  const paths = [...files.keys()];
  for (let i = 0; running(); i++) {
    const path = paths[i % paths.length]!;
    await new Promise<void>((resolve) => {
      const request = get({ host: '127.0.0.1', port, path, agent, headers: keepAlive ? {} : { Connection: 'close' } }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          stats.legitimate++;
          if ((response.statusCode ?? 0) >= 500) stats.serverErrors++;
          if (response.statusCode !== 200 || !Buffer.concat(chunks).equals(files.get(path)!)) legitimateError(`${path}: ${response.statusCode}, ${Buffer.concat(chunks).length} bytes`);
          resolve();
        });
        response.on('error', (error) => {
          legitimateError(`${path}: ${error.message}`);
          resolve();
        });
      });
      request.setTimeout(15_000, () => request.destroy(new Error('timed out')));
      request.on('error', (error) => {
        legitimateError(`${path}: ${error.message}`);
        resolve();
      });
    });
  }
  agent.destroy();
}

/** Opens a raw connection, lets `behave` misbehave on it, and always closes it. */
function rawConnection(port: number, behave: (socket: import('node:net').Socket) => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      if (/^HTTP\/1\.1 5\d\d/m.test(chunk.toString('latin1'))) stats.serverErrors++;
    });
    socket.once('connect', () => {
      behave(socket)
        .catch(() => {})
        .finally(() => {
          socket.destroy();
          stats.hostile++;
          resolve();
        });
    });
    socket.once('error', () => resolve());
  });
}

const HOSTILE: Array<(socket: import('node:net').Socket) => Promise<void>> = [
  // slowloris: a head that trickles and never ends
  async (socket) => {
    socket.write('GET /small.html HTTP/1.1\r\nHost: x\r\n');
    for (let i = 0; i < 20 && running() && !socket.destroyed; i++) {
      socket.write('X-a: b\r\n');
      await pause(250);
    }
  },
  // garbage
  async (socket) => {
    socket.write(Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37) % 256)));
    await pause(100);
  },
  // an oversized head
  async (socket) => {
    socket.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`);
    await pause(100);
  },
  // smuggling attempts
  async (socket) => {
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n');
    await pause(100);
  },
  // a pipelining flood that never reads
  async (socket) => {
    socket.pause();
    const request = 'GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(500);
    for (let i = 0; i < 20 && running(); i++) socket.write(request);
    await pause(1_000);
  },
  // a download reset halfway
  async (socket) => {
    socket.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => {
      let received = 0;
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > 1024 * 1024) resolve(undefined);
      });
      setTimeout(resolve, 3_000);
    });
    socket.resetAndDestroy();
  },
];

async function hostileClient(port: number, which: number): Promise<void> {
  for (let i = which; running(); i++) await rawConnection(port, HOSTILE[i % HOSTILE.length]!);
}

async function main(): Promise<void> {
  const { root, files } = makeDocroot();
  const { child, port } = await startServer(root);
  const samples: number[] = [];
  const start = Date.now();
  console.log(`soak: ${MINUTES} minute(s) against sockhttp on port ${port} (pid ${child.pid})`);
  const sampler = setInterval(() => {
    const rss = rssMegabytes(child.pid!);
    samples.push(rss);
    console.log(
      `  ${Math.round((Date.now() - start) / 1000)} s: ${stats.legitimate} legitimate requests, ${stats.legitimateErrors} errors, ${stats.serverErrors} 5xx, ${stats.hostile} hostile connections, RSS ${rss.toFixed(1)} MB`,
    );
  }, SAMPLE_MS);
  try {
    await Promise.all([
      ...Array.from({ length: 6 }, () => legitimateClient(port, files, true)),
      ...Array.from({ length: 2 }, () => legitimateClient(port, files, false)),
      ...Array.from({ length: 4 }, (_, which) => hostileClient(port, which)),
    ]);
  } finally {
    clearInterval(sampler);
    child.kill('SIGTERM');
    rmSync(root, { recursive: true, force: true });
  }
  // Memory that keeps growing: the last samples well above the highest of the first half.
  const half = samples.slice(0, Math.max(1, Math.floor(samples.length / 2)));
  const lastThird = samples.slice(Math.floor((samples.length * 2) / 3));
  const growth = lastThird.length > 0 ? Math.min(...lastThird) - Math.max(...half) : 0;
  const failures = [
    stats.serverErrors > 0 && `${stats.serverErrors} responses with a 5xx status`,
    stats.legitimateErrors > 0 && `${stats.legitimateErrors} errors on legitimate requests (first: ${stats.firstError})`,
    stats.legitimate === 0 && 'no legitimate request completed',
    growth > 30 && `memory kept growing: +${growth.toFixed(1)} MB after the first half`,
  ].filter(Boolean);
  console.log(`soak: ${stats.legitimate} legitimate requests, ${stats.hostile} hostile connections, RSS ${samples.map((rss) => rss.toFixed(0)).join(' → ')} MB`);
  if (failures.length > 0) {
    console.error(`soak: FAILED: ${failures.join('; ')}`);
    process.exit(1);
  }
  console.log('soak: passed');
}

main().catch((error: Error) => {
  console.error(`soak: ${error.message}`);
  process.exit(1);
});
