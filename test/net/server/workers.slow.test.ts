/**
 * `sockhttp serve --workers N`: N cluster processes share one port. The primary prints one banner,
 * replaces a worker that dies, drains every worker on SIGTERM and exits 0, and stops everything
 * (exit 1) when the workers cannot listen. Processes are found through /proc (Linux).
 */
import assert from 'node:assert/strict';
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { type Server, createServer, connect } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess, type CommandResult, makeTempDir, runCli, startCliServer } from '../../helpers.js';
import { assertOneLine } from '../client/helpers.js';
import { RawConnection, delay, download } from './helpers.js';

const hasProc = existsSync('/proc/self/task');
const BIG = 50 * 1024 * 1024;
const PAGE = Buffer.from('<!doctype html><title>workers</title><p>served by a worker</p>\n');

/** The PIDs of the children of `pid`, from /proc/PID/task/TID/children (every thread's list). */
function childrenOf(pid: number): number[] {
  const children = new Set<number>();
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  for (const task of tasks) {
    try {
      for (const word of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(/\s+/)) {
        if (word !== '') children.add(Number(word));
      }
    } catch {
      // the thread ended meanwhile
    }
  }
  return [...children].sort((a, b) => a - b);
}

/** Every live process whose command line contains `marker` (a unique temporary path: ours alone). */
function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (/^State:\s+Z/m.test(status)) continue; // a zombie has already exited
      if (
        readFileSync(`/proc/${entry}/cmdline`, 'utf8')
          .split('\0')
          .some((argument) => argument.includes(marker))
      )
        found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Polls `condition` every intervalMs until it holds (true) or timeoutMs passes (false). */
async function waitUntil(condition: () => boolean, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const attempts = Math.ceil(timeoutMs / intervalMs);
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (condition()) return true;
    await delay(intervalMs);
  }
  return condition();
}

/** Resolves with the exit code once the process exits, or 'timeout' after timeoutMs. */
function exitOf(process_: BackgroundProcess, timeoutMs: number): Promise<number | null | 'timeout'> {
  const child = process_.child;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Tries a TCP connection: 'refused', 'connected' (closed again at once) or 'other'. */
function tryConnect(port: number): Promise<'refused' | 'connected' | 'other'> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('other');
    }, 2_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(error.code === 'ECONNREFUSED' ? 'refused' : 'other');
    });
  });
}

/** Socket inodes of TCP connections established on local port `port` (from /proc/net/tcp{,6}). */
function establishedInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines: string[];
    try {
      lines = readFileSync(table, 'utf8').split('\n').slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const columns = line.trim().split(/\s+/);
      if (columns.length < 10) continue;
      const localPort = columns[1]!.split(':')[1];
      if (localPort === portHex && columns[3] === '01') inodes.add(columns[9]!);
    }
  }
  return inodes;
}

/** How many of `inodes` process `pid` holds open. */
function socketsHeldBy(pid: number, inodes: Set<string>): number {
  let count = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match !== null && inodes.has(match[1]!)) count++;
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return 0;
  }
  return count;
}

function assertUsageError(result: CommandResult): void {
  assert.equal(result.code, 2, `exit code; stderr: ${result.stderr}`);
  assertOneLine(result.stderr);
  assert.equal(result.stdout.length, 0);
}

describe('sockhttp serve --workers 2', { skip: !hasProc && 'needs /proc (Linux) to see the worker processes' }, () => {
  let folder: ReturnType<typeof makeTempDir>;
  let cli: (BackgroundProcess & { port: number }) | undefined;
  let primaryPid: number;
  let stderr = '';

  before(async () => {
    folder = makeTempDir('sockhttp-workers-');
    writeFileSync(join(folder.path, 'page.html'), PAGE);
    const fd = openSync(join(folder.path, 'big.bin'), 'w');
    try {
      ftruncateSync(fd, BIG); // sparse: no disk, reads as zeros
    } finally {
      closeSync(fd);
    }
    cli = await startCliServer([folder.path, '--workers', '2', '--quiet']);
    cli.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    primaryPid = cli.child.pid!;
    assert.ok(
      await waitUntil(() => childrenOf(primaryPid).length === 2, 15_000),
      `expected 2 workers, have ${childrenOf(primaryPid).join(', ')}`,
    );
  });

  after(async () => {
    await cli?.stop();
    // Whatever of ours outlived the primary (a bug) is stopped here, by PID.
    if (folder !== undefined) {
      for (const pid of processesWith(folder.path)) process.kill(pid, 'SIGKILL');
      folder.remove();
    }
  });

  test('two worker processes, children of the primary, and exactly one banner line', async () => {
    const workers = childrenOf(primaryPid);
    assert.equal(workers.length, 2, `children: ${workers.join(', ')}`);
    for (const pid of workers) {
      assert.ok(readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(folder.path), `child ${pid} is not a sockhttp worker`);
    }
    // Give a second banner (from the second worker) every chance to show up before counting.
    await delay(300);
    const lines = cli!
      .errors()
      .split('\n')
      .filter((line) => line.startsWith('Serving '));
    assert.equal(lines.length, 1, `stderr: ${JSON.stringify(cli!.errors())}`);
    assert.equal(cli!.output(), '', 'stdout carries the access log alone');
    assert.match(lines[0]!, new RegExp(`^Serving .* at http://127\\.0\\.0\\.1:${cli!.port}/ with 2 workers$`));
  });

  test('50 sequential requests, each on a new connection, all 200 with the exact bytes', async () => {
    for (let i = 0; i < 50; i++) {
      const result = await download(cli!.port, '/page.html', { timeoutMs: 15_000 });
      assert.equal(result.status, 200, `request ${i}`);
      assert.equal(result.bodyBytes, PAGE.length, `request ${i}`);
      assert.equal(result.closedByServer, true);
    }
  });

  test('connections are shared between both workers', async () => {
    const connections: RawConnection[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const connection = await RawConnection.open(cli!.port);
        connections.push(connection);
        connection.write('GET /page.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
        assert.equal((await connection.readResponse()).status, 200);
      }
      // Every connection is kept alive, so each is now held by the worker that accepted it.
      const inodes = establishedInodes(cli!.port);
      const held = childrenOf(primaryPid).map((pid) => socketsHeldBy(pid, inodes));
      assert.equal(held.length, 2);
      assert.equal(held[0]! + held[1]!, 6, `held per worker: ${held.join(', ')}`);
      assert.ok(
        held.every((count) => count > 0),
        `one worker got every connection: ${held.join(', ')}`,
      );
    } finally {
      for (const connection of connections) connection.destroy();
    }
  });

  test('a worker killed with SIGKILL is replaced, and requests still succeed', async () => {
    const before = childrenOf(primaryPid);
    assert.equal(before.length, 2);
    const victim = before[0]!;
    process.kill(victim, 'SIGKILL');
    const replaced = await waitUntil(() => {
      const now = childrenOf(primaryPid);
      return now.length === 2 && !now.includes(victim);
    }, 15_000);
    const now = childrenOf(primaryPid);
    assert.ok(replaced, `children after the kill: ${now.join(', ')} (killed ${victim})`);
    assert.ok(now.includes(before[1]!), 'the other worker should still be there');
    assert.ok(stderr.includes(`worker ${victim} exited`), `stderr: ${stderr}`);
    assert.equal(cli!.child.exitCode, null, 'the primary exited');
    for (let i = 0; i < 10; i++) {
      const result = await download(cli!.port, '/page.html', { timeoutMs: 15_000 });
      assert.equal(result.status, 200, `request ${i} after the replacement`);
      assert.equal(result.bodyBytes, PAGE.length);
    }
  });

  test('SIGTERM: stops accepting, an in-flight 50 MB download completes, exit 0, no worker left', async () => {
    const workers = childrenOf(primaryPid);
    assert.equal(workers.length, 2);
    let paused: (() => void) | null = null;
    const pausedOnce = new Promise<void>((resolve) => (paused = resolve));
    let resume: (() => void) | null = null;
    const downloading = download(cli!.port, '/big.bin', {
      hash: false,
      timeoutMs: 60_000,
      onBody: (_total, socket) => {
        if (paused === null) return;
        // Hold the download at its first bytes until the drain has begun.
        socket.pause();
        resume = () => socket.resume();
        paused();
        paused = null;
      },
    });
    await pausedOnce;
    let refused = false;
    try {
      process.kill(primaryPid, 'SIGTERM');
      // The drain has begun once the port stops accepting; wait for that (bounded), well inside the 5 s grace.
      for (let attempt = 0; attempt < 20 && !refused; attempt++) {
        refused = (await tryConnect(cli!.port)) === 'refused';
        if (!refused) await delay(100);
      }
    } finally {
      resume!();
    }
    const result = await downloading;
    assert.equal(result.status, 200);
    assert.equal(result.head.field('content-length'), String(BIG));
    assert.equal(result.bodyBytes, BIG, 'the in-flight download was cut short');
    assert.ok(refused, 'new connections were still accepted after SIGTERM');
    const code = await exitOf(cli!, 20_000);
    assert.equal(code, 0, `primary exit; stderr: ${stderr}`);
    await waitUntil(() => processesWith(folder.path).length === 0, 5_000);
    assert.deepEqual(processesWith(folder.path), [], 'processes left behind after the primary exited');
  });
});

describe('sockhttp serve --workers: startup', { skip: !hasProc && 'needs /proc (Linux) to see the worker processes' }, () => {
  let folder: ReturnType<typeof makeTempDir>;
  let blocker: Server | undefined;

  before(() => {
    folder = makeTempDir('sockhttp-workers-start-');
    writeFileSync(join(folder.path, 'page.html'), PAGE);
  });

  after(async () => {
    if (blocker !== undefined) await new Promise<void>((resolve) => blocker!.close(() => resolve()));
    for (const pid of processesWith(folder.path)) process.kill(pid, 'SIGKILL');
    folder?.remove();
  });

  test('--workers 2 on a port already in use: exit 1, says so, no process left', async () => {
    const server = createServer();
    blocker = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as { port: number }).port;
    const result = await runCli(['serve', folder.path, '--workers', '2', '--port', String(port)], { timeoutMs: 20_000 });
    assert.equal(result.code, 1, `exit code (null: killed after 20 s); stderr: ${result.stderr}`);
    assert.match(result.stderr, /already in use/);
    assert.equal(result.stdout.length, 0, 'no banner for a server that never listened');
    assert.ok(
      await waitUntil(() => processesWith(folder.path).length === 0, 5_000),
      `left behind: ${processesWith(folder.path).join(', ')}`,
    );
  });

  test('--workers auto: one worker per CPU (os.availableParallelism())', async () => {
    const expected = availableParallelism();
    const cli = await startCliServer([folder.path, '--workers', 'auto', '--quiet']);
    let code: number | null;
    try {
      const pid = cli.child.pid!;
      if (expected > 1) {
        assert.ok(
          await waitUntil(() => childrenOf(pid).length === expected, 15_000),
          `expected ${expected} workers, have ${childrenOf(pid).length}`,
        );
        assert.match(cli.errors(), new RegExp(` with ${expected} workers\\n`));
      } else {
        assert.equal(childrenOf(pid).length, 0, 'one CPU: no cluster, no children');
      }
      const result = await download(cli.port, '/page.html', { timeoutMs: 15_000 });
      assert.equal(result.status, 200);
    } finally {
      code = await cli.stop();
    }
    assert.equal(code, 0);
    assert.ok(await waitUntil(() => processesWith(folder.path).length === 0, 5_000));
  });

  for (const value of ['0', 'x', '-1', '1.5', '257', '']) {
    test(`--workers '${value}': usage error, exit 2`, async () => {
      assertUsageError(await runCli(['serve', folder.path, '--workers', value, '--port', '0'], { timeoutMs: 15_000 }));
    });
  }
});
