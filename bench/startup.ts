/**
 * Start-up: how long `sockhttp get` of a small file and `sockhttp serve` (until it prints the line
 * saying where it listens) take as whole processes, beside `node -e 0` (Node's own start, the
 * floor), the least a Node client can do for the same GET (a `node:net` script: connect, write the
 * request, read until the server closes), and curl, in the same run. Runs alternate between them,
 * so a slow moment of a shared machine falls on each; medians, after one uncounted run of each. The
 * target (issue 16): get and serve within 1.2x of `node -e 0`.
 *
 *   node dist/bench/startup.js [--rounds N]   (against a sockhttp server it starts in-process)
 *
 * bench/client.ts runs the same measurement against its nginx.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SOCKHTTP = join(REPO, 'bin/sockhttp.js');
const TIMEOUT_MS = 20_000;

/** A process's wall time, spawned asynchronously: the server answering it may live in this process. */
function timeProcess(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: 'ignore', timeout: TIMEOUT_MS });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(performance.now() - started);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}`));
    });
  });
}

/**
 * From spawning `sockhttp serve` to its "Serving … at http://…" line (on stderr, where serve writes
 * every human message; stdout too, should that change); the server is then stopped.
 */
function timeServe(root: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [SOCKHTTP, 'serve', root, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    let output = '';
    let seen = false;
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      if (seen || !output.includes('http://')) return;
      seen = true;
      const elapsed = performance.now() - started;
      child.once('exit', () => resolve(elapsed));
      child.kill('SIGTERM');
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!output.includes('http://')) reject(new Error(`sockhttp serve exited (${code}) before listening`));
    });
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

export interface StartupFigures {
  rounds: number;
  /** Median milliseconds of each contender. */
  medians: Record<'node -e 0' | 'node:net GET script' | 'sockhttp get' | 'sockhttp serve' | 'curl', number>;
}

/** The node:net GET of `url`, as a script: the response read to its end, only its status line checked (exit 1 if not 200). */
function netGetScript(url: string): string {
  const { hostname, port, pathname } = new URL(url);
  const request = `GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`;
  return [
    `const socket = require('node:net').connect(${Number(port)}, ${JSON.stringify(hostname)}, () => socket.end(${JSON.stringify(request)}));`,
    "let head = '';",
    "socket.on('data', (chunk) => { if (head.length < 12) head += chunk.toString('latin1', 0, 12); });",
    "socket.on('end', () => { if (!head.startsWith('HTTP/1.1 200')) process.exitCode = 1; });",
    "socket.on('error', () => process.exit(1));",
    '',
  ].join('\n');
}

/** Times each contender `rounds` times, alternating; `url` is a small file; curl is left out when absent. */
export async function measureStartup(url: string, rounds: number): Promise<StartupFigures> {
  const root = mkdtempSync(join(tmpdir(), 'sockhttp-startup-'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>startup</title>\n');
  const netGet = join(root, 'net-get.cjs');
  writeFileSync(netGet, netGetScript(url));
  const hasCurl = spawnSync('sh', ['-c', 'command -v curl'], { stdio: 'ignore' }).status === 0;
  const times: Record<keyof StartupFigures['medians'], number[]> = {
    'node -e 0': [],
    'node:net GET script': [],
    'sockhttp get': [],
    'sockhttp serve': [],
    curl: [],
  };
  try {
    // One run of each first, not counted: files in the page cache, and sockhttp's code cache written
    // (bin/sockhttp.js makes it on a command's first run, as an install's first run would).
    await timeProcess(process.execPath, ['-e', '0']);
    await timeProcess(process.execPath, [netGet]);
    await timeProcess(process.execPath, [SOCKHTTP, 'get', '-s', '-o', '/dev/null', url]);
    await timeServe(root);
    for (let round = 0; round < rounds; round++) {
      times['node -e 0'].push(await timeProcess(process.execPath, ['-e', '0']));
      times['node:net GET script'].push(await timeProcess(process.execPath, [netGet]));
      times['sockhttp get'].push(await timeProcess(process.execPath, [SOCKHTTP, 'get', '-s', '-o', '/dev/null', url]));
      times['sockhttp serve'].push(await timeServe(root));
      if (hasCurl) times.curl.push(await timeProcess('curl', ['-s', '-o', '/dev/null', url]));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const medians = Object.fromEntries(
    Object.entries(times).map(([name, values]) => [name, values.length === 0 ? Number.NaN : median(values)]),
  );
  return { rounds, medians: medians as StartupFigures['medians'] };
}

/** The figures as table rows: each contender's median and its ratio to `node -e 0`. */
export function startupRows(figures: StartupFigures): string[][] {
  const floor = figures.medians['node -e 0'];
  return Object.entries(figures.medians).map(([name, ms]) => {
    const ratio = ms / floor;
    const target = name.startsWith('sockhttp') ? ` (≤ 1.2x: ${ratio <= 1.2 ? 'met' : 'not met'})` : '';
    return [name, Number.isFinite(ms) ? `${ms.toFixed(0)} ms` : 'n/a', Number.isFinite(ratio) ? `${ratio.toFixed(2)}x${target}` : 'n/a'];
  });
}

export function startupTable(figures: StartupFigures): string {
  const header = ['start-up', `median of ${figures.rounds}`, '÷ node -e 0'];
  return [header, header.map(() => '---'), ...startupRows(figures)].map((row) => `| ${row.join(' | ')} |`).join('\n');
}

async function standalone(): Promise<void> {
  const args = process.argv.slice(2);
  const roundsIndex = args.indexOf('--rounds');
  const rounds = roundsIndex === -1 ? 20 : Math.max(1, Math.min(200, Number(args[roundsIndex + 1]) || 20));
  const { serveStatic } = await import('../src/index.js');
  const root = mkdtempSync(join(tmpdir(), 'sockhttp-startup-files-'));
  writeFileSync(join(root, 'small.txt'), 'small\n');
  const server = await serveStatic({ root, port: 0, host: '127.0.0.1' });
  try {
    const figures = await measureStartup(`http://127.0.0.1:${server.address!.port}/small.txt`, rounds);
    console.log(startupTable(figures));
    console.log(`\nNode ${process.version}; ${rounds} alternating rounds; lower is better.`);
  } finally {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await standalone();
