/**
 * The HTTP/2 workloads of `npm run bench`: h2load against sockhttp's h2c (a plain port, the client
 * sending the connection preface at once: prior knowledge, RFC 9113 §3.3) and nginx's
 * `listen … http2` on a plain port, which speaks only h2c. Same docroot as the HTTP/1.1 workloads.
 *
 * load.ts owns the servers and the CPU accounting; this file only knows h2load: how to check an
 * answer with it, how to time a workload, and how to read its report.
 */
import { spawn, spawnSync } from 'node:child_process';

export interface H2Target {
  name: string;
  port: number;
}

export interface H2Workload {
  id: string;
  title: string;
  path: string;
  /** The file's length: the check asks for exactly this many bytes of DATA. */
  length: number;
  clients: number;
  /** Concurrent streams per client (h2load -m). */
  streams: number;
  unit: 'req/s' | 'MB/s';
}

export const H2_WORKLOADS: H2Workload[] = [
  {
    id: 'i',
    title: '(i) h2c: 100 B file, 10 clients × 10 streams',
    path: '/small.html',
    length: 100,
    clients: 10,
    streams: 10,
    unit: 'req/s',
  },
  {
    id: 'j',
    title: '(j) h2c: 4.5 KB page, 10 clients × 10 streams',
    path: '/page.html',
    length: 4500,
    clients: 10,
    streams: 10,
    unit: 'req/s',
  },
  {
    id: 'k',
    title: '(k) h2c: 10 MiB file, 4 clients × 1 stream',
    path: '/big.bin',
    length: 10 * 1024 * 1024,
    clients: 4,
    streams: 1,
    unit: 'MB/s',
  },
  {
    id: 'l',
    title: '(l) h2c: 1 MiB file, 4 clients × 1 stream',
    path: '/mid.bin',
    length: 1024 * 1024,
    clients: 4,
    streams: 1,
    unit: 'MB/s',
  },
];

export interface H2loadReport {
  seconds: number;
  requestsPerSecond: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  /** Answers by status class: 2xx, 3xx, 4xx, 5xx. */
  statusClasses: [number, number, number, number];
  dataBytes: number;
}

/** Reads h2load's summary (nghttp2 1.52: "finished in …", "requests: …", "status codes: …", "traffic: …"). */
export function parseH2load(output: string): H2loadReport {
  // A run shorter than a millisecond (one request to a fast server) is reported in "us".
  const finished = /finished in ([\d.]+)(us|ms|s), ([\d.]+) req\/s/.exec(output);
  const requests = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(output);
  const statuses = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(output);
  const data = /\((\d+)\) data/.exec(output);
  if (!finished || !requests || !statuses || !data) throw new Error(`h2load printed no summary:\n${output}`);
  const number = (match: RegExpExecArray, index: number) => Number(match[index]);
  return {
    seconds: number(finished, 1) / { us: 1e6, ms: 1e3, s: 1 }[finished[2] as 'us' | 'ms' | 's'],
    requestsPerSecond: number(finished, 3),
    done: number(requests, 1),
    succeeded: number(requests, 2),
    failed: number(requests, 3),
    errored: number(requests, 4),
    timeout: number(requests, 5),
    statusClasses: [number(statuses, 1), number(statuses, 2), number(statuses, 3), number(statuses, 4)],
    dataBytes: number(data, 1),
  };
}

const url = (target: H2Target, path: string) => `http://127.0.0.1:${target.port}${path}`;

/** One request over h2c before anything is timed: a 2xx with exactly `length` bytes of DATA, or throws. */
export function checkH2(target: H2Target, path: string, length: number): void {
  const result = spawnSync('h2load', ['-n', '1', '-c', '1', '-T', '10', url(target, path)], { encoding: 'utf8', timeout: 30_000 });
  const report = parseH2load(result.stdout ?? '');
  if (report.succeeded !== 1 || report.statusClasses[0] !== 1 || report.dataBytes !== length) {
    throw new Error(
      `${target.name} answered ${path} over h2c with ${report.statusClasses.join('/')} (2xx/3xx/4xx/5xx) and ${report.dataBytes} bytes; expected one 2xx of ${length}`,
    );
  }
}

export interface H2Options {
  seconds: number;
  /** Wraps a command to pin it to a CPU (taskset) when load.ts can. */
  pinned(cpu: string, command: string, commandArgs: string[]): [string, string[]];
  /** CPU seconds (user + system) used so far by the server. */
  cpuSeconds(): number;
}

export interface H2Result {
  value: number;
  cpuMicrosecondsPerRequest: number;
  /** Streams that did not end well (reset, errored, timed out), if any: printed beside the table. */
  problems: string | null;
}

/** Runs one workload for `seconds` (h2load -D) on CPU 1 and reads its figures. */
export function runH2load(target: H2Target, workload: H2Workload, options: H2Options): Promise<H2Result> {
  return new Promise((resolve, reject) => {
    const h2loadArgs = ['-c', String(workload.clients), '-m', String(workload.streams), '-D', String(options.seconds), '-T', '10'];
    const [command, commandArgs] = options.pinned('1', 'h2load', [...h2loadArgs, url(target, workload.path)]);
    const cpuBefore = options.cpuSeconds();
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
    // h2load stops on its own after -D; this only guards against a server that never answers.
    const killer = setTimeout(() => child.kill('SIGKILL'), (options.seconds + 30) * 1000);
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', () => {
      clearTimeout(killer);
      const cpu = options.cpuSeconds() - cpuBefore;
      let report: H2loadReport;
      try {
        report = parseH2load(output);
      } catch (error) {
        reject(error);
        return;
      }
      // A fast wrong answer must never win: any status but 2xx voids the run.
      const [, redirects, clientErrors, serverErrors] = report.statusClasses;
      if (redirects + clientErrors + serverErrors > 0) {
        reject(new Error(`${target.name} answered ${workload.path} with ${report.statusClasses.join('/')} (2xx/3xx/4xx/5xx) under load`));
        return;
      }
      const problems =
        report.failed + report.errored + report.timeout > 0
          ? `${report.failed} failed, ${report.errored} errored, ${report.timeout} timed out of ${report.done}`
          : null;
      const value = workload.unit === 'MB/s' ? report.dataBytes / 1024 / 1024 / report.seconds : report.requestsPerSecond;
      resolve({ value, cpuMicrosecondsPerRequest: report.done > 0 ? (cpu * 1e6) / report.done : 0, problems });
    });
  });
}
