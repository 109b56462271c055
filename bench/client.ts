/**
 * The client benchmark: sockhttp's client beside curl, against the same nginx, on loopback.
 *
 *   node dist/bench/client.js               (5 rounds)
 *   node dist/bench/client.js --quick       (1 round: a smoke test)
 *   node dist/bench/client.js --rounds 9
 *
 * Workloads (issue 4 sets the targets):
 *  - one 1 GiB download (a sparse file: nginx reads zeros from the page cache) written to /dev/null,
 *    then to a file: `curl -s -o OUT URL` against `node bin/sockhttp.js get -s URL -o OUT`, both timed
 *    as whole processes, start-up included, as a user would see them. Target: sockhttp ≤ 1.1× curl.
 *  - 1,000 sequential GETs of a 100-byte file on one kept-alive connection: one curl command line
 *    with the 1,000 URLs (curl reuses its connection) against a script on the library API
 *    (bench/client-sequential.ts: one Agent, `request()`, `for await` over each body). curl is
 *    timed as a process; the script times itself from its first request to its last body byte, so
 *    Node's own start-up (~50 ms, as long as curl's whole run) is left out; the process time is
 *    shown too. Target: ≤ 1.0× curl. `sockhttp get` with the same 1,000 URLs is shown as well.
 *
 *  - start-up (bench/startup.ts): `node -e 0`, `sockhttp get` of the small page, `sockhttp serve`
 *    until its listening line, and curl, as whole processes, 4 runs per round, alternating.
 *    Target: get and serve ≤ 1.2× `node -e 0`.
 *
 * The last column is each client's own account of the transfer (-w %{time_total}: from the start of
 * the request to the last byte), which leaves process start-up out: Node's own is ~70 ms and
 * sockhttp's modules take ~80 ms more, against a few ms for curl.
 *
 * Before anything is timed, every contender's answer is checked (status, size, one connection for
 * the 1,000 GETs), so a fast wrong answer can never win. Runs alternate (A B A B …) so that a slow
 * moment of the machine falls on both sides; the table shows medians and the ratios sockhttp ÷ curl
 * (times: lower is better). nginx is pinned to CPU 0 and the clients to CPU 1 when taskset exists.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nginxConfig } from './nginx.js';
import { freePort, waitForPort } from './ports.js';
import { measureStartup, startupTable } from './startup.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const roundsIndex = args.indexOf('--rounds');
const ROUNDS = QUICK ? 1 : roundsIndex === -1 ? 5 : Math.max(1, Math.min(50, Number(args[roundsIndex + 1]) || 5));
const HUGE_BYTES = 1024 * 1024 * 1024;
const SMALL_BYTES = 100;
const REQUESTS = 1000;
const RUN_TIMEOUT_MS = 120_000;

const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const PIN = has('taskset') && availableParallelism() >= 2;
const pinned = (cpu: string, command: string, commandArgs: string[]): [string, string[]] =>
  PIN ? ['taskset', ['-c', cpu, command, ...commandArgs]] : [command, commandArgs];
const SOCKHTTP = join(REPO, 'bin/sockhttp.js');
const SEQUENTIAL = join(REPO, 'dist/bench/client-sequential.js');

// ---------------------------------------------------------------------------------------------
// nginx, with a configuration and prefix of its own (as bench/load.ts starts it)

function makeDocroot(): string {
  const root = mkdtempSync(join(tmpdir(), 'sockhttp-client-bench-'));
  chmodSync(root, 0o755); // nginx's workers run as an unprivileged user and must read it
  const small = '<!doctype html><title>small</title><p>A small page of about one hundred bytes.</p>\n';
  writeFileSync(join(root, 'small.html'), small.padEnd(SMALL_BYTES, ' '));
  // 1 GiB, sparse: no disk space, reads as zeros.
  const fd = openSync(join(root, 'huge.bin'), 'w');
  ftruncateSync(fd, HUGE_BYTES);
  closeSync(fd);
  return root;
}

interface Nginx {
  port: number;
  stop(): Promise<void>;
}

async function startNginx(root: string): Promise<Nginx> {
  const port = freePort();
  const prefix = mkdtempSync(join(tmpdir(), 'sockhttp-client-bench-nginx-'));
  const [command, commandArgs] = pinned('0', 'nginx', ['-p', prefix, '-c', nginxConfig(prefix, root, port, 1), '-g', 'daemon off;']);
  const child: ChildProcess = spawn(command, commandArgs, { stdio: 'ignore' });
  const stop = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        rmSync(prefix, { recursive: true, force: true });
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      const killer = setTimeout(() => child.kill('SIGKILL'), 8_000);
      child.once('exit', () => {
        clearTimeout(killer);
        done();
      });
      child.kill('SIGQUIT'); // nginx's graceful stop; under taskset the PID is nginx's own
    });
  try {
    await waitForPort(port);
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, stop };
}

// ---------------------------------------------------------------------------------------------
// Running and timing a client

/** CPU seconds (user + system) of the children this process has waited for (/proc/self/stat). */
function childrenCpuSeconds(): number {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return Number.NaN;
  }
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Wall-clock seconds of the whole process. */
  seconds: number;
  /** CPU seconds (user + system) of the process. */
  cpuSeconds: number;
}

function run(command: string, commandArgs: string[]): Run {
  const [pinnedCommand, pinnedArgs] = pinned('1', command, commandArgs);
  const cpuBefore = childrenCpuSeconds();
  const started = process.hrtime.bigint();
  const result = spawnSync(pinnedCommand, pinnedArgs, { encoding: 'utf8', timeout: RUN_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuSeconds = childrenCpuSeconds() - cpuBefore;
  if (result.error) throw new Error(`${command} ${commandArgs.slice(0, 3).join(' ')}…: ${result.error.message}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, seconds, cpuSeconds };
}

function expect(condition: boolean, what: string, got: Run): void {
  if (!condition)
    throw new Error(
      `check failed: ${what} (exit ${got.status}; stdout ${JSON.stringify(got.stdout.slice(0, 200))}; stderr ${JSON.stringify(got.stderr.slice(0, 300))})`,
    );
}

// ---------------------------------------------------------------------------------------------
// The contenders

interface Timed {
  seconds: number;
  cpuSeconds: number;
  processSeconds: number;
  /** From the request to the last byte, as the client itself reports it (-w %{time_total}): start-up left out. */
  transferSeconds: number;
  /** The library script's own CPU time (user + system) per request over the same span, in µs. */
  cpuMicrosPerRequest?: number;
}

interface Contender {
  /** Runs once and returns the time that counts, the CPU time, and the client's own -w %{time_total} when it has one. */
  time(): Timed;
  /** Runs once and throws unless the answer is right. */
  check(): void;
}

function fileDownloads(url: string, out: string): Record<'curl' | 'sockhttp', Contender> {
  const clean = () => rmSync(out, { force: true });
  const sizeOf = () => statSync(out, { throwIfNoEntry: false })?.size ?? -1;
  const timed = (command: string, commandArgs: string[]) => (): Timed => {
    clean(); // unlinking the last 1 GiB file is not part of anyone's time
    const result = run(command, [...commandArgs, '-w', '%{time_total}']);
    expect(result.status === 0 && sizeOf() === HUGE_BYTES, `${command} wrote ${HUGE_BYTES} bytes to ${out}`, result);
    clean();
    return {
      seconds: result.seconds,
      cpuSeconds: result.cpuSeconds,
      processSeconds: result.seconds,
      transferSeconds: Number(result.stdout),
    };
  };
  const curl = timed('curl', ['-s', '-o', out, url]);
  const sockhttp = timed(process.execPath, [SOCKHTTP, 'get', '-s', url, '-o', out]);
  return { curl: { time: curl, check: () => void curl() }, sockhttp: { time: sockhttp, check: () => void sockhttp() } };
}

function nullDownloads(url: string): Record<'curl' | 'sockhttp', Contender> {
  const expected = `200 ${HUGE_BYTES}`;
  const make = (command: string, commandArgs: string[]): Contender => ({
    time: () => {
      const result = run(command, [...commandArgs, '-w', '%{time_total}']);
      expect(result.status === 0, `${command} exits 0`, result);
      return {
        seconds: result.seconds,
        cpuSeconds: result.cpuSeconds,
        processSeconds: result.seconds,
        transferSeconds: Number(result.stdout),
      };
    },
    check: () => {
      const result = run(command, [...commandArgs, '-w', '%{http_code} %{size_download}']);
      expect(result.status === 0 && result.stdout.trim() === expected, `${command} reports "${expected}"`, result);
    },
  });
  return {
    curl: make('curl', ['-s', '-o', '/dev/null', url]),
    sockhttp: make(process.execPath, [SOCKHTTP, 'get', '-s', url, '-o', '/dev/null']),
  };
}

function sequentialGets(url: string): Record<'curl' | 'sockhttp' | 'sockhttp get', Contender> {
  const urls = Array.from({ length: REQUESTS }, () => url);
  const perUrlReport = urls.flatMap((each) => ['-o', '/dev/null', each]);
  const goodLines = (stdout: string, pattern: RegExp) => stdout.split('\n').filter((line) => pattern.test(line)).length;
  return {
    curl: {
      time: () => {
        const result = run('curl', ['-s', ...urls]);
        expect(
          result.status === 0 && result.stdout.length === REQUESTS * SMALL_BYTES,
          `curl receives ${REQUESTS} × ${SMALL_BYTES} bytes`,
          result,
        );
        return { seconds: result.seconds, cpuSeconds: result.cpuSeconds, processSeconds: result.seconds, transferSeconds: Number.NaN };
      },
      check: () => {
        // %{num_connects}: 1 for the transfer that opened the connection, 0 for those that reused it.
        const result = run('curl', ['-s', '-w', '%{http_code} %{size_download} %{num_connects}\n', ...perUrlReport]);
        const lines = result.stdout.trim().split('\n');
        const connects = lines.reduce((sum, line) => sum + Number(line.split(' ')[2]), 0);
        expect(
          goodLines(result.stdout, new RegExp(`^200 ${SMALL_BYTES} [01]$`)) === REQUESTS && connects === 1,
          `curl: ${REQUESTS} × 200 on one connection`,
          result,
        );
      },
    },
    sockhttp: {
      time: () => {
        const result = run(process.execPath, [SEQUENTIAL, url, String(REQUESTS), String(SMALL_BYTES)]);
        const report = JSON.parse(result.stdout) as { elapsedMs: number; cpuMicrosPerRequest: number; good: number; connections: number };
        expect(
          result.status === 0 && report.good === REQUESTS && report.connections === 1,
          `the library script: ${REQUESTS} × 200 on one connection`,
          result,
        );
        return {
          seconds: report.elapsedMs / 1000,
          cpuSeconds: result.cpuSeconds,
          processSeconds: result.seconds,
          transferSeconds: report.elapsedMs / 1000,
          cpuMicrosPerRequest: report.cpuMicrosPerRequest,
        };
      },
      check: () => {
        const result = run(process.execPath, [SEQUENTIAL, url, String(REQUESTS), String(SMALL_BYTES)]);
        expect(
          result.status === 0 && /"good":1000,"connections":1}/.test(result.stdout),
          `the library script: ${REQUESTS} × 200 on one connection`,
          result,
        );
      },
    },
    'sockhttp get': {
      time: () => {
        const result = run(process.execPath, [SOCKHTTP, 'get', '-s', ...urls]);
        expect(
          result.status === 0 && result.stdout.length === REQUESTS * SMALL_BYTES,
          `sockhttp get receives ${REQUESTS} × ${SMALL_BYTES} bytes`,
          result,
        );
        return { seconds: result.seconds, cpuSeconds: result.cpuSeconds, processSeconds: result.seconds, transferSeconds: Number.NaN };
      },
      check: () => {
        const result = run(process.execPath, [SOCKHTTP, 'get', '-s', '-v', '-w', '%{http_code} %{size_download}\n', ...perUrlReport]);
        const reused = result.stderr.split('\n').filter((line) => line.startsWith('* Re-using connection #1 ')).length;
        expect(
          goodLines(result.stdout, new RegExp(`^200 ${SMALL_BYTES}$`)) === REQUESTS && reused === REQUESTS - 1,
          `sockhttp get: ${REQUESTS} × 200 on one connection`,
          result,
        );
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
};
const seconds = (value: number) => (Number.isFinite(value) ? `${value.toFixed(3)} s` : 'n/a');
const ratio = (ours: number, theirs: number) =>
  Number.isFinite(ours) && Number.isFinite(theirs) && theirs > 0 ? ours / theirs : Number.NaN;

interface Workload {
  title: string;
  target: number;
  contenders: Record<string, Contender>;
  /** What the time is for each contender, for the table's notes. */
  note: string;
  /** Whether both report -w %{time_total} (the transfer without process start-up). */
  transfer: boolean;
}

async function main(): Promise<void> {
  if (!has('nginx')) {
    console.log(
      'bench:client skipped: nginx is not installed (apt-get install nginx); it is the server every client here is measured against.',
    );
    return;
  }
  if (!has('curl')) {
    console.log('bench:client skipped: curl is not installed (apt-get install curl); it is what the client is compared with.');
    return;
  }
  const root = makeDocroot();
  const outputs = mkdtempSync(join(tmpdir(), 'sockhttp-client-bench-out-'));
  let nginx: Nginx | null = null;
  const stopAll = async () => {
    await nginx?.stop();
    nginx = null;
    rmSync(root, { recursive: true, force: true });
    rmSync(outputs, { recursive: true, force: true });
  };
  const onSignal = () => void stopAll().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    nginx = await startNginx(root);
    const base = `http://127.0.0.1:${nginx.port}`;
    const workloads: Workload[] = [
      {
        title: '1 GiB download to /dev/null',
        target: 1.1,
        contenders: nullDownloads(`${base}/huge.bin`),
        note: 'process wall time',
        transfer: true,
      },
      {
        title: '1 GiB download to a file',
        target: 1.1,
        contenders: fileDownloads(`${base}/huge.bin`, join(outputs, 'huge.out')),
        note: 'process wall time',
        transfer: true,
      },
      {
        title: `${REQUESTS.toLocaleString('en-US')} sequential GETs, one connection`,
        target: 1.0,
        contenders: sequentialGets(`${base}/small.html`),
        note: 'curl: process; library: first request to last byte',
        transfer: false,
      },
    ];
    for (const workload of workloads) for (const contender of Object.values(workload.contenders)) contender.check();
    console.log(
      `Checked every answer. ${ROUNDS} round(s), alternating; nginx on CPU 0, clients on CPU 1: ${PIN ? 'yes' : 'no (no taskset)'}.`,
    );

    const rows: string[][] = [];
    const notes: string[] = [];
    for (const workload of workloads) {
      const times = new Map<string, { seconds: number[]; cpu: number[]; process: number[]; transfer: number[] }>();
      const libraryCpu: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, contender] of Object.entries(workload.contenders)) {
          const result = contender.time();
          const entry = times.get(name) ?? { seconds: [], cpu: [], process: [], transfer: [] };
          entry.transfer.push(result.transferSeconds);
          entry.seconds.push(result.seconds);
          entry.cpu.push(result.cpuSeconds);
          entry.process.push(result.processSeconds);
          times.set(name, entry);
          if (result.cpuMicrosPerRequest !== undefined) libraryCpu.push(result.cpuMicrosPerRequest);
        }
      }
      const curl = times.get('curl')!;
      const curlSeconds = median(curl.seconds);
      for (const [name, entry] of times) {
        if (name === 'curl') continue;
        const value = ratio(median(entry.seconds), curlSeconds);
        const processNote = median(entry.process) !== median(entry.seconds) ? ` (process ${seconds(median(entry.process))})` : '';
        const isTarget = name === 'sockhttp';
        rows.push([
          `${workload.title}: ${name}`,
          seconds(curlSeconds),
          `${seconds(median(entry.seconds))}${processNote}`,
          Number.isFinite(value) ? `${value.toFixed(2)}x` : 'n/a',
          isTarget ? `≤ ${workload.target.toFixed(1)}x: ${value <= workload.target ? 'met' : 'not met'}` : '(for information)',
          `${seconds(median(curl.cpu))} / ${seconds(median(entry.cpu))}`,
          workload.transfer
            ? `${seconds(median(curl.transfer))} / ${seconds(median(entry.transfer))} (${ratio(median(entry.transfer), median(curl.transfer)).toFixed(2)}x)`
            : '',
        ]);
      }
      if (libraryCpu.length > 0) {
        notes.push(
          `${workload.title}: the library's CPU per request (process.cpuUsage, first request to last byte, JIT warm-up included): ${median(libraryCpu).toFixed(0)} µs; curl's whole process: ${((median(curl.cpu) / REQUESTS) * 1e6).toFixed(0)} µs per request.`,
        );
      }
      console.log(`  done: ${workload.title} (${workload.note})`);
    }
    const header = ['workload', 'curl', 'sockhttp', 'sockhttp / curl', 'target', 'CPU curl / sockhttp', '-w %{time_total} curl / sockhttp'];
    const lines = [header, header.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`);
    console.log(`\n${lines.join('\n')}\n`);
    for (const note of notes) console.log(note);
    console.log(
      `${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${availableParallelism()} CPUs; medians of ${ROUNDS} round(s); time ratios, lower is better.`,
    );
    // Start-up (issue 16): whole processes beside `node -e 0` and curl, alternating, in this same run.
    const startup = await measureStartup(`${base}/small.html`, ROUNDS * 4);
    console.log(`\n${startupTable(startup)}\n`);
    console.log('Start-up: get of the small page to /dev/null, serve until its listening line; target ≤ 1.2x node -e 0.');
  } finally {
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().catch((error: Error) => {
  console.error(`bench:client: ${error.message}`);
  process.exit(1);
});
