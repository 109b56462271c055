/**
 * The cost of counting one request for --metrics, per call of the access-log hook: the
 * hand-written counters of src/cli/serve-metrics.ts, and prom-client's labelled counters and
 * histogram for the same families when prom-client is installed (it is not a dependency: this is
 * how the choice was made). `node dist/bench/metrics-cost.js` after a build; a micro-measure, not
 * a load test. docs/deploy.md (Metrics) gives the figures.
 */
import { ServeMetrics } from '../src/cli/serve-metrics.js';
import type { AccessLogEntry } from '../src/index.js';

const CALLS = 2_000_000;
const ROUNDS = 5;

const methods = ['GET', 'GET', 'GET', 'HEAD'];
const statuses = [200, 200, 304, 404];
const entries: AccessLogEntry[] = Array.from({ length: 1024 }, (_, index) => ({
  remoteAddress: '127.0.0.1',
  time: new Date(),
  method: methods[index % 4]!,
  target: '/x',
  version: '1.1',
  status: statuses[(index >> 2) % 4]!,
  bytesSent: 1000 + index,
  referer: undefined,
  userAgent: undefined,
  durationMs: (index % 50) / 10,
}));

function measure(name: string, count: (entry: AccessLogEntry) => void): void {
  for (let index = 0; index < 200_000; index++) count(entries[index & 1023]!); // warm up
  const perCall: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    for (let index = 0; index < CALLS; index++) count(entries[index & 1023]!);
    perCall.push(Number(process.hrtime.bigint() - start) / CALLS);
  }
  perCall.sort((a, b) => a - b);
  console.log(`${name}: ${perCall[0]!.toFixed(1)} ns per request (best of ${ROUNDS}, median ${perCall[2]!.toFixed(1)})`);
}

const ours = new ServeMetrics();
measure('hand-written counters (serve-metrics.ts)', (entry) => ours.count(entry));

interface PromClient {
  Registry: new () => object;
  Counter: new (options: object) => { inc(labels: object, value?: number): void };
  Histogram: new (options: object) => { observe(value: number): void };
}
const moduleName = 'prom-client'; // not a dependency: found only where someone installed it
const prom = (await import(moduleName).catch(() => null)) as PromClient | null;
if (prom === null) {
  console.log('prom-client: not installed (npm install --no-save prom-client to compare)');
} else {
  const registers = [new prom.Registry()];
  const requests = new prom.Counter({ name: 'requests', help: 'h', labelNames: ['method', 'code', 'protocol'], registers });
  const bytes = new prom.Counter({ name: 'bytes', help: 'h', labelNames: ['protocol'], registers });
  const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  const duration = new prom.Histogram({ name: 'duration', help: 'h', buckets, registers });
  measure('prom-client counters and histogram', (entry) => {
    const protocol = entry.version === '1.0' ? 'http/1.0' : 'http/1.1';
    requests.inc({ method: entry.method, code: `${Math.floor(entry.status / 100)}xx`, protocol });
    bytes.inc({ protocol }, entry.bytesSent);
    duration.observe(entry.durationMs / 1000);
  });
}
