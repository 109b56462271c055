/**
 * The load benchmark: sockhttp beside nginx, a cached node:http server and the floor of node:net
 * (a constant answer per request: what Node's own sockets cost), on loopback, same
 * generated docroot, same run. Every workload runs for each server in turn (A B C A B C …) for
 * several rounds; the table shows medians and the ratios sockhttp ÷ peer.
 *
 *   npm run bench                 (3 rounds of 5 s per workload)
 *   npm run bench -- --quick      (1 round of 2 s: a smoke test)
 *   npm run bench -- --only a,c   (some workloads)
 *   npm run bench -- --only i,j,k,l (the HTTP/2 ones: h2load over h2c, sockhttp beside nginx's http2)
 *   npm run bench -- --baseline DIR (also another build: DIR/bin/sockhttp.js, e.g. a copy of the
 *                                    repository before a change, run in turn with the others)
 *
 * Before anything is timed, every server's answer to every URL is checked (status and length), so
 * a fast wrong answer can never win. Servers are pinned to CPU 0 and the load generator to CPU 1
 * when taskset exists, so they do not fight over a core.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, writeFileSync, ftruncateSync, readFileSync, readdirSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { H2_WORKLOADS, checkH2, runH2load } from './h2.js';
import { nginxConfig } from './nginx.js';
import { freePort, waitForPort } from './ports.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const ROUNDS = QUICK ? 1 : 3;
const SECONDS = QUICK ? 2 : 5;
const onlyIndex = args.indexOf('--only');
const ONLY = onlyIndex === -1 ? null : new Set(args[onlyIndex + 1]!.split(','));
const baselineIndex = args.indexOf('--baseline');
/** A copy of another build (its bin/ and dist/), to compare old and new in the same run. */
const BASELINE = baselineIndex === -1 ? null : args[baselineIndex + 1]!;

const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const PIN = has('taskset') && availableParallelism() >= 2;
const pinned = (cpu: string, command: string, commandArgs: string[]): [string, string[]] =>
  PIN ? ['taskset', ['-c', cpu, command, ...commandArgs]] : [command, commandArgs];

/** nginx+ofc is nginx with open_file_cache, as its users tune it: the peer to beat. */
/**
 * node:net floor is no server (bench/peers/node-net-floor.ts): a constant answer per request, the
 * least Node's sockets cost, shown so that what sockhttp adds to them is on the table.
 */
type ServerName = 'sockhttp' | 'nginx' | 'nginx+ofc' | 'node:http' | 'node:net floor' | 'sockhttp@baseline';

interface RunningServer {
  name: ServerName;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// The docroot

function makeDocroot(): string {
  const root = mkdtempSync(join(tmpdir(), 'sockhttp-bench-'));
  chmodSync(root, 0o755); // nginx's workers run as an unprivileged user and must read it
  const small = '<!doctype html><title>small</title><p>A small page of about one hundred bytes.</p>\n';
  writeFileSync(join(root, 'small.html'), small.padEnd(100, ' '));
  const paragraph = '<p>HTTP/1.1 moves representations of resources between clients and servers over a reliable connection.</p>\n';
  writeFileSync(join(root, 'page.html'), `<!doctype html><title>page</title>\n${paragraph.repeat(60)}`.slice(0, 4500));
  const big = Buffer.alloc(10 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  writeFileSync(join(root, 'big.bin'), big);
  writeFileSync(join(root, 'mid.bin'), big.subarray(0, 1024 * 1024));
  // 1 GiB, sparse: no disk space, reads as zeros.
  const fd = openSync(join(root, 'huge.bin'), 'w');
  ftruncateSync(fd, 1024 * 1024 * 1024);
  closeSync(fd);
  return root;
}

// ---------------------------------------------------------------------------------------------
// Servers

function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const killer = setTimeout(() => child.kill('SIGKILL'), 8_000);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill(signal);
  });
}

/** `http2`: nginx on an h2c-only port. sockhttp's plain port answers h2c beside HTTP/1.1 as it is. */
async function startServer(name: ServerName, root: string, workers = 1, http2 = false): Promise<RunningServer> {
  const port = freePort();
  let child: ChildProcess;
  let cleanup = () => {};
  const cpus = workers > 1 ? '0,1' : '0';
  if (name === 'sockhttp' || name === 'sockhttp@baseline') {
    const [command, commandArgs] = pinned(cpus, process.execPath, [
      join(name === 'sockhttp' ? REPO : BASELINE!, 'bin/sockhttp.js'),
      'serve',
      root,
      '--port',
      String(port),
      '--quiet',
      ...(workers > 1 ? ['--workers', String(workers)] : []),
    ]);
    child = spawn(command, commandArgs, { stdio: 'ignore' });
  } else if (name === 'node:http' || name === 'node:net floor') {
    const peer = name === 'node:http' ? 'node-http-cached.js' : 'node-net-floor.js';
    const [command, commandArgs] = pinned(cpus, process.execPath, [join(REPO, 'dist/bench/peers', peer), root, String(port)]);
    child = spawn(command, commandArgs, { stdio: 'ignore' });
  } else {
    const prefix = mkdtempSync(join(tmpdir(), 'sockhttp-bench-nginx-'));
    const config = nginxConfig(prefix, root, port, workers, { tuned: name === 'nginx+ofc', http2 });
    const [command, commandArgs] = pinned(cpus, 'nginx', ['-p', prefix, '-c', config, '-g', 'daemon off;']);
    child = spawn(command, commandArgs, { stdio: 'ignore' });
    cleanup = () => rmSync(prefix, { recursive: true, force: true });
  }
  await waitForPort(port);
  return {
    name,
    port,
    process: child,
    stop: async () => {
      await stopProcess(child, name.startsWith('nginx') ? 'SIGQUIT' : 'SIGTERM');
      cleanup();
    },
  };
}

/** Every process of a server (a primary and its workers): for CPU time and memory. */
function processTree(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    try {
      for (const task of readdirSync(`/proc/${pids[i]}/task`)) {
        const children = readFileSync(`/proc/${pids[i]}/task/${task}/children`, 'utf8').trim();
        if (children !== '') pids.push(...children.split(/\s+/).map(Number));
      }
    } catch {
      // the process is gone
    }
  }
  return pids;
}

/** CPU seconds (user + system) used so far by a process tree. */
function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const member of processTree(pid)) {
    try {
      const fields = readFileSync(`/proc/${member}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / 100;
}

/** Resident memory of a process tree, in MB. */
function rssMegabytes(pid: number): number {
  let kilobytes = 0;
  for (const member of processTree(pid)) {
    try {
      const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${member}/status`, 'utf8'));
      kilobytes += Number(match?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kilobytes / 1024;
}

/** The server's real PID: under taskset, the child execs the server, so the PID is the same. */
const serverPid = (server: RunningServer) => server.process.pid!;

// ---------------------------------------------------------------------------------------------
// Checks and load

function check(server: RunningServer, path: string, expectedStatus: number, expectedLength: number): void {
  const result = spawnSync(
    'curl',
    ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `http://127.0.0.1:${server.port}${path}`],
    { encoding: 'utf8' },
  );
  const [status, size] = result.stdout.split(' ').map(Number);
  if (status !== expectedStatus || (expectedLength >= 0 && size !== expectedLength)) {
    throw new Error(`${server.name} answered ${path} with ${status} and ${size} bytes; expected ${expectedStatus} and ${expectedLength}`);
  }
}

interface LoadResult {
  requestsPerSecond: number;
  megabytesPerSecond: number;
  errors: number;
  cpuMicrosecondsPerRequest: number;
  /** The 99th percentile of latency, in milliseconds (wrk --latency). */
  p99Milliseconds: number;
}

function parseWrk(output: string): Omit<LoadResult, 'cpuMicrosecondsPerRequest'> & { requests: number } {
  const requestsPerSecond = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? 0);
  const transfer = /Transfer\/sec:\s+([\d.]+)(\w+)/.exec(output);
  const unit = transfer?.[2] ?? 'B';
  const scale = unit === 'GB' ? 1024 : unit === 'MB' ? 1 : unit === 'KB' ? 1 / 1024 : 1 / 1024 / 1024;
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const errors = socketErrors ? Number(socketErrors[1]) + Number(socketErrors[3]) + Number(socketErrors[4]) : 0;
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)\b/m.exec(output);
  const p99Milliseconds = p99 ? Number(p99[1]) * (p99[2] === 'us' ? 0.001 : p99[2] === 's' ? 1000 : 1) : NaN;
  return { requestsPerSecond, megabytesPerSecond: Number(transfer?.[1] ?? 0) * scale, errors, requests, p99Milliseconds };
}

function runWrk(server: RunningServer, path: string, connections: number, closeEach: boolean): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const wrkArgs = [
      '-t1',
      '--latency',
      `-c${connections}`,
      `-d${SECONDS}s`,
      ...(closeEach ? ['-H', 'Connection: close'] : []),
      `http://127.0.0.1:${server.port}${path}`,
    ];
    const [command, commandArgs] = pinned('1', 'wrk', wrkArgs);
    const cpuBefore = cpuSeconds(serverPid(server));
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', () => {
      const cpu = cpuSeconds(serverPid(server)) - cpuBefore;
      const parsed = parseWrk(output);
      resolve({ ...parsed, cpuMicrosecondsPerRequest: parsed.requests > 0 ? (cpu * 1e6) / parsed.requests : 0 });
    });
  });
}

/** Downloads the 1 GiB file once with curl; MB/s. */
function downloadHuge(server: RunningServer): number {
  const [command, commandArgs] = pinned('1', 'curl', [
    '-s',
    '-o',
    '/dev/null',
    '-w',
    '%{size_download} %{time_total}',
    `http://127.0.0.1:${server.port}/huge.bin`,
  ]);
  const result = spawnSync(command, commandArgs, { encoding: 'utf8' });
  const [size, seconds] = result.stdout.split(' ').map(Number);
  if (size !== 1024 * 1024 * 1024) throw new Error(`${server.name}: the 1 GiB download got ${size} bytes`);
  return size! / 1024 / 1024 / seconds!;
}

/** RSS idle, then with 1,000 idle keep-alive connections that have each made one request. */
async function idleConnectionsMemory(server: RunningServer): Promise<{ idle: number; withConnections: number }> {
  const pid = serverPid(server);
  const idle = rssMegabytes(pid);
  const sockets: Socket[] = [];
  for (let i = 0; i < 1000; i++) {
    sockets.push(
      await new Promise<Socket>((resolve, reject) => {
        const socket = connect({ port: server.port, host: '127.0.0.1' });
        socket.once('error', reject);
        socket.once('connect', () => {
          socket.write('GET /small.html HTTP/1.1\r\nHost: bench\r\n\r\n');
          socket.once('data', () => resolve(socket));
        });
      }),
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const withConnections = rssMegabytes(pid);
  for (const socket of sockets) socket.destroy();
  return { idle, withConnections };
}

// ---------------------------------------------------------------------------------------------

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
};
const format = (value: number, digits = 0) =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a';
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');

interface Workload {
  id: string;
  title: string;
  path: string;
  connections: number;
  closeEach: boolean;
  unit: 'req/s' | 'MB/s';
}

const WORKLOADS: Workload[] = [
  { id: 'a', title: '(a) 100 B file, keep-alive, 50 connections', path: '/small.html', connections: 50, closeEach: false, unit: 'req/s' },
  { id: 'b', title: '(b) 100 B file, a new connection per request', path: '/small.html', connections: 50, closeEach: true, unit: 'req/s' },
  { id: 'c', title: '(c) 4.5 KB page, keep-alive', path: '/page.html', connections: 50, closeEach: false, unit: 'req/s' },
  { id: 'd', title: '(d) 10 MiB file, 4 connections', path: '/big.bin', connections: 4, closeEach: false, unit: 'MB/s' },
  { id: 'g', title: '(g) 404, keep-alive', path: '/missing.html', connections: 50, closeEach: false, unit: 'req/s' },
];

/** Medians per server for one workload. */
type Figures = Map<ServerName, { value: number; p99: number; cpu: number }>;

const PEERS: ServerName[] = [
  'nginx',
  'nginx+ofc',
  'node:http',
  'node:net floor',
  ...(BASELINE === null ? [] : (['sockhttp@baseline'] as const)),
];

/** One table row: our figure, each peer's, the ratios, p99 and CPU µs/req for everyone. */
function row(title: string, unit: string, figures: Figures): string[] {
  const ours = figures.get('sockhttp');
  const everyone: ServerName[] = ['sockhttp', ...PEERS];
  const each = (pick: (entry: { value: number; p99: number; cpu: number }) => number, digits: number) =>
    everyone.map((name) => format(figures.has(name) ? pick(figures.get(name)!) : NaN, digits)).join(' / ');
  return [
    title,
    `${format(ours?.value ?? NaN)} ${unit}`,
    ...PEERS.map((name) => format(figures.get(name)?.value ?? NaN)),
    ...PEERS.map((name) => ratio(ours?.value ?? NaN, figures.get(name)?.value ?? NaN)),
    each((entry) => entry.p99, 2),
    each((entry) => entry.cpu, 1),
  ];
}

async function measure(servers: RunningServer[], workload: Workload): Promise<Figures> {
  const samples = new Map<ServerName, { value: number[]; p99: number[]; cpu: number[] }>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const server of servers) {
      const result = await runWrk(server, workload.path, workload.connections, workload.closeEach);
      if (result.errors > 0) console.log(`  ${server.name}: ${result.errors} socket errors in ${workload.id}`);
      const entry = samples.get(server.name) ?? { value: [], p99: [], cpu: [] };
      entry.value.push(workload.unit === 'MB/s' ? result.megabytesPerSecond : result.requestsPerSecond);
      entry.p99.push(result.p99Milliseconds);
      entry.cpu.push(result.cpuMicrosecondsPerRequest);
      samples.set(server.name, entry);
    }
  }
  const figures: Figures = new Map();
  for (const [name, entry] of samples) figures.set(name, { value: median(entry.value), p99: median(entry.p99), cpu: median(entry.cpu) });
  return figures;
}

/**
 * The h2load workloads: sockhttp's plain port (already running, h2c beside HTTP/1.1) against nginx
 * and nginx+ofc started again with `listen … http2`. Servers take turns as in measure(). No p99:
 * h2load reports no percentiles.
 */
async function measureH2(running: RunningServer[], root: string, workloads: typeof H2_WORKLOADS): Promise<string[][]> {
  const servers = running.filter((server) => server.name === 'sockhttp');
  const nginxes: RunningServer[] = [];
  try {
    if (has('nginx')) for (const name of ['nginx', 'nginx+ofc'] as const) nginxes.push(await startServer(name, root, 1, true));
    servers.push(...nginxes);
    for (const server of servers) for (const workload of workloads) checkH2(server, workload.path, workload.length);
    console.log(`Checked every h2c answer (${servers.map((server) => server.name).join(', ')}).`);
    const rows: string[][] = [];
    for (const workload of workloads) {
      const samples = new Map<ServerName, { value: number[]; cpu: number[] }>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const server of servers) {
          const result = await runH2load(server, workload, {
            seconds: SECONDS,
            pinned,
            cpuSeconds: () => cpuSeconds(serverPid(server)),
          });
          if (result.problems !== null) console.log(`  ${server.name}: ${result.problems} in ${workload.id}`);
          const entry = samples.get(server.name) ?? { value: [], cpu: [] };
          entry.value.push(result.value);
          entry.cpu.push(result.cpuMicrosecondsPerRequest);
          samples.set(server.name, entry);
        }
      }
      const figures: Figures = new Map();
      for (const [name, entry] of samples) figures.set(name, { value: median(entry.value), p99: NaN, cpu: median(entry.cpu) });
      rows.push(row(workload.title, workload.unit, figures));
      console.log(`  done: ${workload.title}`);
    }
    return rows;
  } finally {
    for (const server of nginxes) await server.stop();
  }
}

async function main(): Promise<void> {
  if (!has('wrk')) throw new Error('wrk is needed (apt-get install wrk)');
  const names: ServerName[] = [
    'sockhttp',
    ...(has('nginx') ? (['nginx', 'nginx+ofc'] as const) : []),
    'node:http',
    'node:net floor',
    ...(BASELINE === null ? [] : (['sockhttp@baseline'] as const)),
  ];
  if (!has('nginx')) console.log('nginx is not installed (apt-get install nginx): it is left out of this run.');
  const root = makeDocroot();
  const rows: string[][] = [];
  const servers: RunningServer[] = [];
  try {
    for (const name of names) servers.push(await startServer(name, root));
    for (const server of servers) {
      check(server, '/small.html', 200, 100);
      check(server, '/page.html', 200, 4500);
      check(server, '/big.bin', 200, 10 * 1024 * 1024);
      check(server, '/missing.html', 404, -1);
    }
    console.log(
      `Checked every answer. ${ROUNDS} round(s) of ${SECONDS} s per workload; servers on CPU 0, wrk on CPU 1: ${PIN ? 'yes' : 'no (no taskset)'}.`,
    );
    for (const workload of WORKLOADS) {
      if (ONLY && !ONLY.has(workload.id)) continue;
      rows.push(row(workload.title, workload.unit, await measure(servers, workload)));
      console.log(`  done: ${workload.title}`);
    }
    if (!ONLY || ONLY.has('e')) {
      // One untimed download first: whoever goes first would otherwise pay for filling the page cache.
      const downloaders = servers.filter((server) => server.name !== 'node:http' && server.name !== 'node:net floor');
      downloadHuge(downloaders[0]!);
      const speeds = new Map<ServerName, number[]>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const server of downloaders) speeds.set(server.name, [...(speeds.get(server.name) ?? []), downloadHuge(server)]);
      }
      const figures: Figures = new Map();
      for (const [name, values] of speeds) figures.set(name, { value: median(values), p99: NaN, cpu: NaN });
      rows.push(row('(e) one 1 GiB download with curl', 'MB/s', figures));
    }
    if (!ONLY || ONLY.has('f')) {
      for (const server of servers) {
        const memory = await idleConnectionsMemory(server);
        rows.push([
          `(f) RSS idle → with 1,000 idle connections: ${server.name}`,
          `${format(memory.idle, 1)} → ${format(memory.withConnections, 1)} MB (+${format(memory.withConnections - memory.idle, 1)})`,
        ]);
      }
    }
    const h2Workloads = H2_WORKLOADS.filter((workload) => !ONLY || ONLY.has(workload.id));
    if (h2Workloads.length > 0) {
      if (has('h2load')) rows.push(...(await measureH2(servers, root, h2Workloads)));
      else console.log('h2load is not installed (apt-get install nghttp2-client): the HTTP/2 workloads are left out.');
    }
    for (const server of servers.splice(0)) await server.stop();
    if ((!ONLY || ONLY.has('h')) && has('nginx')) {
      // Both cores serve here, so wrk is not pinned away from them: the same for every server.
      for (const name of ['sockhttp', 'nginx', 'nginx+ofc'] as const) servers.push(await startServer(name, root, 2));
      for (const server of servers) check(server, '/small.html', 200, 100);
      const workload = WORKLOADS.find((candidate) => candidate.id === 'a')!;
      rows.push(row('(h) 100 B keep-alive, 2 workers each', 'req/s', await measure(servers, workload)));
    }
  } finally {
    // Whatever happened, every server this run started is stopped.
    for (const server of servers) await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
  const header = [
    'workload',
    'sockhttp',
    ...PEERS,
    ...PEERS.map((name) => `vs ${name}`),
    `p99 ms (${['ours', ...PEERS].join(' / ')})`,
    `CPU µs/req (${['ours', ...PEERS].join(' / ')})`,
  ];
  const padded = rows.map((cells) => [...cells, ...header.slice(cells.length).map(() => '')]);
  const lines = [header, header.map(() => '---'), ...padded].map((cells) => `| ${cells.join(' | ')} |`);
  console.log(`\n${lines.join('\n')}\n`);
  console.log(
    `${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${availableParallelism()} CPUs; medians of ${ROUNDS} round(s) of ${SECONDS} s; wrk -t1; h2load -t1 over h2c (prior knowledge), nginx with listen … http2. nginx+ofc: open_file_cache max=1000 inactive=20s; open_file_cache_valid 1s.`,
  );
}

main().catch((error: Error) => {
  console.error(`bench: ${error.message}`);
  process.exit(1);
});
