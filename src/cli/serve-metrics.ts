/**
 * `serve --metrics PATH`: counters in Prometheus's text exposition format (version 0.0.4), which is
 * a text format, not a protocol: a few lines per metric family, written here.
 *
 * Counting sits on the hot path (once per answered request, in the access-log hook), so it is a
 * few array increments: the labels are small closed sets (the methods RFC 9110 defines and "other",
 * the status class, the protocol), each turned into an index, never a string built per request.
 * Everything else is read when someone scrapes: open connections from the server, open file
 * descriptors from /proc/self/fd. `prom-client` 15 was measured against this for the same
 * families (bench/metrics-cost.ts; docs/deploy.md, Metrics): 1.1–1.4 µs per request for its
 * labelled counters and histogram, against 14–36 ns here.
 *
 * Under --workers each worker counts its own requests. With --metrics-port the primary serves the
 * metrics: on each scrape it asks every worker for its figures (IPC) and adds them up. With
 * --metrics PATH on the site's port, a scrape reaches one worker and sees its figures alone.
 */
import { readdirSync } from 'node:fs';
import type { AccessLogEntry } from '../index.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'other'] as const;
const METHOD_INDEX = new Map<string, number>(METHODS.map((method, index) => [method, index]));
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
/** The protocol label, so that HTTP/2 counts beside HTTP/1.1 once it is served. */
const PROTOCOLS = ['http/1.0', 'http/1.1', 'h2'] as const;
/** Request duration buckets in seconds: a static file answers in well under a millisecond when hot. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricsSources {
  /** Connections open now. */
  openConnections(): number;
}

export class ServeMetrics {
  /** Requests by [method][class][protocol], flattened. */
  readonly #requests = new Float64Array(METHODS.length * CLASSES.length * PROTOCOLS.length);
  readonly #bytesSent = new Float64Array(PROTOCOLS.length);
  /** Cumulative counts are made at scrape time; here each request bumps one bucket (the last one is +Inf). */
  readonly #durationBuckets = new Float64Array(DURATION_BUCKETS.length + 1);
  #durationSum = 0;
  #cacheHits = 0;
  #cacheMisses = 0;

  /** Counts one answered request: the access-log hook calls it. */
  count(entry: AccessLogEntry): void {
    const method = METHOD_INDEX.get(entry.method) ?? METHODS.length - 1;
    const statusClass = Math.min(4, Math.max(0, Math.floor(entry.status / 100) - 1));
    const protocol = entry.version === '1.0' ? 0 : entry.version === '2' || entry.version === '2.0' ? 2 : 1;
    this.#requests[(method * CLASSES.length + statusClass) * PROTOCOLS.length + protocol]!++;
    this.#bytesSent[protocol]! += entry.bytesSent;
    const seconds = entry.durationMs / 1000;
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]!) bucket++;
    this.#durationBuckets[bucket]!++;
    this.#durationSum += seconds;
  }

  /** The static handler's lookups of file bytes in memory. */
  countCacheLookup(hit: boolean): void {
    if (hit) this.#cacheHits++;
    else this.#cacheMisses++;
  }

  /** The figures as plain data: what a worker sends its primary under --workers. */
  snapshot(openConnections: number): MetricsSnapshot {
    return {
      requests: [...this.#requests],
      bytesSent: [...this.#bytesSent],
      durationBuckets: [...this.#durationBuckets],
      durationSum: this.#durationSum,
      cacheHits: this.#cacheHits,
      cacheMisses: this.#cacheMisses,
      openConnections,
      openDescriptors: openDescriptors(),
    };
  }

  /** The exposition text of this process. */
  render(sources: MetricsSources): string {
    return renderMetrics(this.snapshot(sources.openConnections()));
  }
}

/** What one process has counted, as plain data (structured-clone safe, for IPC). */
export interface MetricsSnapshot {
  requests: number[];
  bytesSent: number[];
  durationBuckets: number[];
  durationSum: number;
  cacheHits: number;
  cacheMisses: number;
  openConnections: number;
  openDescriptors: number | null;
}

/** The sum of several processes' figures (--workers): counters, histograms and gauges all add up. */
export function sumSnapshots(snapshots: readonly MetricsSnapshot[]): MetricsSnapshot {
  const total = new ServeMetrics().snapshot(0);
  total.openDescriptors = null;
  const addInto = (into: number[], from: readonly number[]) => {
    for (let index = 0; index < into.length; index++) into[index]! += from[index] ?? 0;
  };
  for (const snapshot of snapshots) {
    addInto(total.requests, snapshot.requests);
    addInto(total.bytesSent, snapshot.bytesSent);
    addInto(total.durationBuckets, snapshot.durationBuckets);
    total.durationSum += snapshot.durationSum;
    total.cacheHits += snapshot.cacheHits;
    total.cacheMisses += snapshot.cacheMisses;
    total.openConnections += snapshot.openConnections;
    if (snapshot.openDescriptors !== null) total.openDescriptors = (total.openDescriptors ?? 0) + snapshot.openDescriptors;
  }
  return total;
}

/** Prometheus's text exposition format (0.0.4) of a snapshot. */
export function renderMetrics(figures: MetricsSnapshot): string {
  const lines: string[] = [];
  const family = (name: string, type: string, help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

  family('sockhttp_requests_total', 'counter', 'Requests answered, by method, status class and protocol.');
  for (const [m, method] of METHODS.entries()) {
    for (const [c, statusClass] of CLASSES.entries()) {
      for (const [p, protocol] of PROTOCOLS.entries()) {
        const value = figures.requests[(m * CLASSES.length + c) * PROTOCOLS.length + p]!;
        if (value > 0) lines.push(`sockhttp_requests_total{method="${method}",code="${statusClass}",protocol="${protocol}"} ${value}`);
      }
    }
  }
  family('sockhttp_response_body_bytes_total', 'counter', 'Bytes of response bodies sent, by protocol.');
  for (const [p, protocol] of PROTOCOLS.entries()) {
    if (p === 1 || figures.bytesSent[p]! > 0)
      lines.push(`sockhttp_response_body_bytes_total{protocol="${protocol}"} ${figures.bytesSent[p]}`);
  }
  family('sockhttp_open_connections', 'gauge', 'Client connections open now.');
  lines.push(`sockhttp_open_connections ${figures.openConnections}`);
  family('sockhttp_request_duration_seconds', 'histogram', 'From the first byte of a request to the last byte of its response.');
  let cumulative = 0;
  for (const [index, bound] of DURATION_BUCKETS.entries()) {
    cumulative += figures.durationBuckets[index]!;
    lines.push(`sockhttp_request_duration_seconds_bucket{le="${bound}"} ${cumulative}`);
  }
  cumulative += figures.durationBuckets[DURATION_BUCKETS.length]!;
  lines.push(`sockhttp_request_duration_seconds_bucket{le="+Inf"} ${cumulative}`);
  lines.push(`sockhttp_request_duration_seconds_sum ${figures.durationSum}`);
  lines.push(`sockhttp_request_duration_seconds_count ${cumulative}`);
  family('sockhttp_file_cache_lookups_total', 'counter', 'Lookups of file bytes kept in memory (small files, compressed bodies).');
  lines.push(`sockhttp_file_cache_lookups_total{result="hit"} ${figures.cacheHits}`);
  lines.push(`sockhttp_file_cache_lookups_total{result="miss"} ${figures.cacheMisses}`);
  if (figures.openDescriptors !== null) {
    family('process_open_fds', 'gauge', 'Open file descriptors of the serving processes.');
    lines.push(`process_open_fds ${figures.openDescriptors}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Entries of /proc/self/fd, less the one readdir itself holds open; null where /proc is missing. */
function openDescriptors(): number | null {
  try {
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return null;
  }
}
