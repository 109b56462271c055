/**
 * The soak test: `sockhttp serve` under a mixed, partly hostile load on loopback for a set time.
 * Legitimate clients (node:http keep-alive agents and one-shot connections) fetch and check files
 * while hostile ones trickle heads (slowloris) or lone CR and LF, send garbage (a TLS ClientHello
 * on the plain port), oversized heads and smuggling attempts, flood pipelined requests without
 * reading, reset downloads halfway, announce a body that never comes and reset, read large files
 * slowly, and open TLS connections that never say hello (on a second, HTTPS server, when openssl
 * can make a certificate). A writer of the folder races renames against the server: a file swapped
 * in a loop with a symlink to a secret outside the folder, requested all the while.
 *
 *   npm run soak -- --minutes 5
 *
 * It prints requests, errors, the server's RSS and open descriptors every few seconds, and fails
 * (exit 1) on any 5xx, any error on a legitimate request, any byte of the outside secret served,
 * memory that keeps growing, descriptors
 * left open at the end, or a hostile connection held longer than its timeout allows. Every loop
 * ends at the deadline.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
/** The server's --headers-timeout, in seconds: what a connection that never sends a request may cost. */
const HEADERS_TIMEOUT_S = 3;

const stats = {
  legitimate: 0,
  legitimateErrors: 0,
  serverErrors: 0,
  hostile: 0,
  overstayed: 0,
  raced: 0,
  leaks: 0,
  firstError: '',
  firstOverstay: '',
};
/** The content of the secret outside the folder: it must never be served. */
const SECRET = 'SOAK-OUTSIDE-SECRET-4f1c';
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
  writeFileSync(`${root}-secret.txt`, SECRET);
  writeFileSync(join(root, 'race.txt'), 'a public file, swapped with a symlink to a secret\n');
  return { root, files };
}

/**
 * The folder's writer: swaps race.txt, in a loop until the deadline, between a regular file and a
 * symlink to the secret outside the folder, each time with rename(2) (python3, so the swaps run
 * while the server works, not between its turns).
 */
function startSwapper(root: string): ChildProcess {
  const script = [
    'import os, sys, time',
    'root, secret, deadline = sys.argv[1], sys.argv[2], float(sys.argv[3])',
    "target, link, plain = (os.path.join(root, n) for n in ('race.txt', '.swap-link', '.swap-plain'))",
    'while time.time() < deadline:',
    '    for path in (link, plain):',
    '        if os.path.lexists(path): os.unlink(path)',
    '    os.symlink(secret, link)',
    '    os.rename(link, target)',
    "    with open(plain, 'w') as f: f.write('a public file, swapped with a symlink to a secret\\n')",
    '    os.rename(plain, target)',
  ].join('\n');
  return spawn('python3', ['-c', script, root, `${root}-secret.txt`, String(DEADLINE / 1000)], { stdio: 'ignore' });
}

/** Requests race.txt while it is swapped: the secret's bytes must never come back. */
async function racingClient(port: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  while (running()) {
    await new Promise<void>((resolve) => {
      const request = get({ host: '127.0.0.1', port, path: '/race.txt', agent }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          stats.raced++;
          if (Buffer.concat(chunks).includes(SECRET)) stats.leaks++;
          resolve();
        });
        response.on('error', () => resolve());
      });
      request.setTimeout(15_000, () => request.destroy(new Error('timed out')));
      request.on('error', () => resolve());
    });
  }
  agent.destroy();
}

function startServer(root: string, extraArgs: string[] = []): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const serveArgs = [
      'serve',
      root,
      '--port',
      '0',
      '--quiet',
      '--headers-timeout',
      String(HEADERS_TIMEOUT_S),
      '--keep-alive-timeout',
      '2',
      ...extraArgs,
    ];
    // The banner is on stderr (stdout carries the access log alone); the rest of stderr is passed on.
    const child = spawn(process.execPath, [join(REPO, 'bin/sockhttp.js'), ...serveArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.once('data', (chunk: Buffer) => {
      const match = /127\.0\.0\.1:(\d+)/.exec(chunk.toString());
      if (match) resolve({ child, port: Number(match[1]) });
      else reject(new Error(`unexpected banner: ${chunk.toString()}`));
      child.stderr!.pipe(process.stderr);
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code})`)));
  });
}

/** A self-signed certificate in `folder` for the HTTPS server, or null without openssl. */
function makeCertificate(folder: string): { cert: string; key: string } | null {
  const cert = join(folder, 'soak-cert.pem');
  const key = join(folder, 'soak-key.pem');
  const made = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'],
    { stdio: 'ignore' },
  );
  return made.status === 0 ? { cert, key } : null;
}

function openDescriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
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
          if (response.statusCode !== 200 || !Buffer.concat(chunks).equals(files.get(path)!))
            legitimateError(`${path}: ${response.statusCode}, ${Buffer.concat(chunks).length} bytes`);
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

/** Waits until the server closes `socket` (true) or `ms` have passed (false). */
function closedWithin(socket: import('node:net').Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function overstayed(what: string): void {
  stats.overstayed++;
  stats.firstOverstay ||= what;
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
    socket.write(
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    await pause(100);
  },
  // a pipelining flood that never reads
  async (socket) => {
    socket.pause();
    const request = 'GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(500);
    for (let i = 0; i < 20 && running(); i++) socket.write(request);
    await pause(1_000);
  },
  // lone CR and LF, one every 100 ms: the head deadline runs from the first one
  async (socket) => {
    for (let i = 0; i < 100 && running() && !socket.destroyed; i++) {
      socket.write(i % 2 === 0 ? '\r' : '\n');
      await pause(100);
    }
    if (!socket.destroyed && running()) overstayed('a CR/LF trickle');
  },
  // a TLS ClientHello on the plain port: 400 at once, not after the head timeout
  async (socket) => {
    socket.write(Buffer.from('16030100c4010000c00303', 'hex'));
    if (!(await closedWithin(socket, 1_000))) overstayed('a ClientHello on the plain port');
  },
  // a GET announcing a body that never comes, then a reset (once leaked a file descriptor)
  async (socket) => {
    socket.pause();
    socket.write('GET /big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n');
    await pause(200);
    socket.resetAndDestroy();
  },
  // a slow reader of a large file: 16 KiB every 200 ms for 3 s
  async (socket) => {
    socket.pause();
    socket.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
    for (let i = 0; i < 15 && running() && !socket.destroyed; i++) {
      await pause(200);
      socket.read(16 * 1024);
    }
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

/** Connections to the HTTPS server that never send a ClientHello: each must be let go after the head timeout. */
async function silentTlsClient(port: number): Promise<void> {
  while (running()) {
    await rawConnection(port, async (socket) => {
      if (!(await closedWithin(socket, (HEADERS_TIMEOUT_S + 2) * 1000))) overstayed('a TLS connection that never said hello');
    });
  }
}

async function main(): Promise<void> {
  const { root, files } = makeDocroot();
  const { child, port } = await startServer(root);
  const certificate = makeCertificate(root);
  const tlsServer = certificate === null ? null : await startServer(root, ['--tls-cert', certificate.cert, '--tls-key', certificate.key]);
  const samples: number[] = [];
  const start = Date.now();
  const startDescriptors = openDescriptors(child.pid!);
  let endDescriptors = startDescriptors;
  console.log(
    `soak: ${MINUTES} minute(s) against sockhttp on port ${port} (pid ${child.pid})${tlsServer ? `, silent TLS on port ${tlsServer.port}` : ''}`,
  );
  const sampler = setInterval(() => {
    const rss = rssMegabytes(child.pid!);
    samples.push(rss);
    console.log(
      `  ${Math.round((Date.now() - start) / 1000)} s: ${stats.legitimate} legitimate requests, ${stats.legitimateErrors} errors, ${stats.serverErrors} 5xx, ${stats.hostile} hostile connections, RSS ${rss.toFixed(1)} MB, ${openDescriptors(child.pid!)} descriptors`,
    );
  }, SAMPLE_MS);
  const swapper = startSwapper(root);
  try {
    await Promise.all([
      racingClient(port),
      ...Array.from({ length: 6 }, () => legitimateClient(port, files, true)),
      ...Array.from({ length: 2 }, () => legitimateClient(port, files, false)),
      ...Array.from({ length: 4 }, (_, which) => hostileClient(port, which)),
      ...(tlsServer ? Array.from({ length: 4 }, () => silentTlsClient(tlsServer.port)) : []),
    ]);
    // Every client is gone: what the server still holds after a moment (lingering closes end) is a leak.
    for (let i = 0; i < 50 && openDescriptors(child.pid!) > startDescriptors; i++) await pause(100);
    endDescriptors = openDescriptors(child.pid!);
  } finally {
    clearInterval(sampler);
    swapper.kill('SIGTERM');
    child.kill('SIGTERM');
    tlsServer?.child.kill('SIGTERM');
    rmSync(root, { recursive: true, force: true });
    rmSync(`${root}-secret.txt`, { force: true });
  }
  // Memory that keeps growing: the last samples well above the highest of the first half.
  const half = samples.slice(0, Math.max(1, Math.floor(samples.length / 2)));
  const lastThird = samples.slice(Math.floor((samples.length * 2) / 3));
  const growth = lastThird.length > 0 ? Math.min(...lastThird) - Math.max(...half) : 0;
  const failures = [
    stats.serverErrors > 0 && `${stats.serverErrors} responses with a 5xx status`,
    stats.legitimateErrors > 0 && `${stats.legitimateErrors} errors on legitimate requests (first: ${stats.firstError})`,
    stats.legitimate === 0 && 'no legitimate request completed',
    stats.leaks > 0 && `the secret outside the folder was served ${stats.leaks} times (of ${stats.raced} racing requests)`,
    growth > 30 && `memory kept growing: +${growth.toFixed(1)} MB after the first half`,
    endDescriptors > startDescriptors && `${endDescriptors - startDescriptors} descriptors still open after every client left`,
    stats.overstayed > 0 && `${stats.overstayed} hostile connections held longer than their timeout (first: ${stats.firstOverstay})`,
  ].filter(Boolean);
  console.log(
    `soak: ${stats.legitimate} legitimate requests, ${stats.hostile} hostile connections, ${stats.raced} racing a swapped file (${stats.leaks} leaks), RSS ${samples.map((rss) => rss.toFixed(0)).join(' → ')} MB`,
  );
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
