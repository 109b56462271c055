/**
 * What `serve` offers the machinery around it: a health path for load balancers and probes, a
 * metrics path for Prometheus, and the listening socket a service manager passes down.
 */
import { type IncomingRequest, type ResponsePlan, createServer, errorPlan, prepareResponse } from '../index.js';
import type { HttpServer } from '../index.js';
import type { ServeMetrics } from './serve-metrics.js';
import { UsageError } from './options.js';

/** The first descriptor systemd passes (SD_LISTEN_FDS_START). */
const FIRST_PASSED_FD = 3;

/**
 * The listening socket handed down by systemd's socket activation (LISTEN_FDS, LISTEN_PID: sd_listen_fds(3))
 * or named by --fd; null to bind --host and --port. The variables are removed once read, as
 * sd_listen_fds does, so that a child process does not take the socket for its own.
 */
export function passedSocket(fdFlag: string | undefined): number | null {
  const { LISTEN_FDS: count, LISTEN_PID: pid } = process.env;
  delete process.env['LISTEN_FDS'];
  delete process.env['LISTEN_PID'];
  delete process.env['LISTEN_FDNAMES'];
  if (fdFlag !== undefined) {
    if (!/^\d{1,6}$/.test(fdFlag) || Number(fdFlag) < 3)
      throw new UsageError(`--fd must be a descriptor number from 3 up, not '${fdFlag}'`);
    return Number(fdFlag);
  }
  if (count === undefined || pid !== String(process.pid)) return null;
  if (!/^\d+$/.test(count) || Number(count) < 1) return null;
  // Only the first socket is served; a unit with more ListenStream= lines names them in vain.
  return FIRST_PASSED_FD;
}

export type ServingState = 'serving' | 'draining';

const TEXT_FIELDS = [
  ['Content-Type', 'text/plain; charset=utf-8'],
  ['Cache-Control', 'no-store'],
] as const;
const HEALTHY = prepareResponse(200, TEXT_FIELDS, { kind: 'bytes', bytes: Buffer.from('ok\n') });
const DRAINING = prepareResponse(503, [...TEXT_FIELDS, ['Retry-After', '1']], { kind: 'bytes', bytes: Buffer.from('draining\n') });

export interface OpsPaths {
  health: string | undefined;
  metrics: string | undefined;
}

/** The path of a request target, without its query. */
function pathOf(target: string): string {
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/** Whether the access log leaves this request out (probes and scrapes would drown the log). */
export function isOpsRequest(paths: OpsPaths, target: string): boolean {
  if (paths.health === undefined && paths.metrics === undefined) return false;
  const path = pathOf(target);
  return path === paths.health || path === paths.metrics;
}

/**
 * The intercept answering the health path (200 while serving, 503 once draining) and the metrics
 * path, before the files; undefined when neither is asked for. Both answer GET and HEAD only.
 */
export function opsIntercept(
  paths: OpsPaths,
  state: () => ServingState,
  metrics: ServeMetrics | null,
  server: () => HttpServer | null,
): ((request: IncomingRequest) => ResponsePlan | null) | undefined {
  if (paths.health === undefined && paths.metrics === undefined) return undefined;
  return (request) => {
    const path = pathOf(request.target);
    if (path !== paths.health && path !== paths.metrics) return null;
    if (request.method !== 'GET' && request.method !== 'HEAD') return errorPlan(405, [['Allow', 'GET, HEAD']]);
    if (path === paths.health) return state() === 'serving' ? HEALTHY : DRAINING;
    return metricsAnswer(metrics!, server);
  };
}

const METRICS_FIELDS = [
  ['Content-Type', 'text/plain; version=0.0.4; charset=utf-8'],
  ['Cache-Control', 'no-store'],
] as const;

function metricsAnswer(metrics: ServeMetrics, server: () => HttpServer | null): ResponsePlan {
  const text = metrics.render({ openConnections: () => server()?.connectionCount ?? 0 });
  return { status: 200, fields: METRICS_FIELDS, body: { kind: 'bytes', bytes: Buffer.from(text) } };
}

/**
 * --metrics-port: the metrics alone on a server of their own (loopback by default), so that the
 * site's port does not expose them. It answers only the metrics path; `render` gives the text (the
 * primary of --workers collects it from its workers, so it may take a moment).
 */
export async function startMetricsServer(
  path: string,
  host: string,
  port: number,
  render: () => string | Promise<string>,
): Promise<HttpServer> {
  const answer = (text: string): ResponsePlan => ({
    status: 200,
    fields: METRICS_FIELDS,
    body: { kind: 'bytes', bytes: Buffer.from(text) },
  });
  const server = createServer({
    handler: (request) => {
      if (pathOf(request.target) !== path) return errorPlan(404);
      if (request.method !== 'GET' && request.method !== 'HEAD') return errorPlan(405, [['Allow', 'GET, HEAD']]);
      const text = render();
      return typeof text === 'string' ? answer(text) : text.then(answer);
    },
  });
  await server.listen(port, host);
  return server;
}
