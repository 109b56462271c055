/**
 * `serve --workers N`: N processes (node:cluster) share the listening socket.
 *
 * A worker that dies is replaced; one that fails before it ever listened (port in use…) stops the
 * whole server, since its replacements would fail the same way. SIGTERM/SIGINT drain every worker,
 * then exit 0. SIGUSR1 is passed on to every worker (each reopens its --log-file).
 *
 * SIGHUP replaces the workers one at a time: the primary first checks that the new configuration
 * can be used (a bad serve.json keeps the old workers, with one line on stderr), then for each old
 * worker starts a new one, waits until it listens, and only then retires the old one, which stops
 * accepting and finishes its in-flight responses. The port never stops being served, and no
 * connection is dropped: each old connection ends after its current response.
 */
import type { Cluster, Worker } from 'node:cluster';
import { createRequire } from 'node:module';
import type { HttpServer } from '../index.js';
import { say } from './serve-log.js';
import type { MetricsSnapshot } from './serve-metrics.js';
import { UsageError } from './options.js';

export interface PrimaryHooks {
  /** The banner, once the first worker listens. */
  announce(port: number): void;
  /** Whether the configuration as it is now can be used: a reason if not. */
  check(): object | string;
  /**
   * --metrics-port: the primary serves the metrics, adding up what `collect` gathers from the
   * workers at each scrape. Throws (a usage error) if the port cannot be bound.
   */
  startMetrics?(collect: () => Promise<MetricsSnapshot[]>): Promise<HttpServer>;
}

/** How long a scrape waits for the workers' figures; a worker that does not answer is left out. */
const COLLECT_TIMEOUT_MS = 1_000;

export function runPrimary(count: number, hooks: PrimaryHooks): Promise<number> {
  // Loaded here, not at the top: node:cluster (with child_process) costs ~15 ms of start-up a serve
  // without --workers never needs (see serve.ts).
  const cluster = createRequire(import.meta.url)('node:cluster') as Cluster;
  return new Promise((resolve) => {
    let stopping = false;
    let printedBanner = false;
    let failedToStart = false;
    let reloading = false;
    const listened = new Set<number>();
    /** Workers replaced by a reload: their exit is expected. */
    const retiring = new Set<number>();
    /** Listening waiters of workers started by a reload. */
    const waiters = new Map<number, (listening: boolean) => void>();

    cluster.on('listening', (worker, address) => {
      listened.add(worker.id);
      waiters.get(worker.id)?.(true);
      if (!printedBanner) {
        printedBanner = true;
        hooks.announce(address.port);
      }
    });
    const liveWorkers = () =>
      Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined && !worker.isDead());
    const stopAll = () => {
      stopping = true;
      for (const worker of liveWorkers()) worker.process.kill('SIGTERM');
    };
    cluster.on('exit', (worker, code) => {
      const waiter = waiters.get(worker.id);
      if (waiter !== undefined) {
        // A worker started by a reload failed to start: the old ones go on serving.
        waiters.delete(worker.id);
        waiter(false);
      } else if (retiring.delete(worker.id)) {
        // replaced by a reload, as planned
      } else if (!stopping && !listened.has(worker.id)) {
        failedToStart = true; // it has said why on stderr
        stopAll();
      } else if (!stopping) {
        say(`sockhttp: worker ${worker.process.pid} exited (${code ?? 'signal'}); starting another`);
        cluster.fork();
        return;
      }
      if (liveWorkers().length === 0 && (stopping || failedToStart)) {
        // the metrics server would keep the process alive
        void Promise.resolve(metricsServer?.close(0)).then(() => resolve(failedToStart ? 1 : 0));
      }
    });

    /** A new worker, resolved true once it listens, false if it exits first. */
    const startReplacement = () =>
      new Promise<boolean>((settle) => {
        const worker = cluster.fork();
        waiters.set(worker.id, (listening) => {
          waiters.delete(worker.id);
          settle(listening);
        });
      });

    const reload = async () => {
      if (reloading || stopping) return;
      const checked = hooks.check();
      if (typeof checked === 'string') {
        say(`sockhttp: reload refused, still serving as before: ${checked}`);
        return;
      }
      reloading = true;
      try {
        const old = liveWorkers();
        for (const worker of old) {
          if (stopping) return;
          if (!(await startReplacement())) {
            say('sockhttp: reload stopped: a new worker could not start; the others serve as before');
            return;
          }
          retiring.add(worker.id);
          worker.send({ sockhttp: 'retire' });
        }
        say(`sockhttp: reloaded: ${old.length} workers replaced one at a time`);
      } finally {
        reloading = false;
      }
    };

    let metricsServer: HttpServer | null = null;
    let collectId = 0;
    const collect = () =>
      new Promise<MetricsSnapshot[]>((settle) => {
        const id = ++collectId;
        const asked = liveWorkers().filter((worker) => worker.isConnected());
        const got: MetricsSnapshot[] = [];
        const finish = () => {
          clearTimeout(timer);
          cluster.off('message', onMessage);
          settle(got);
        };
        const onMessage = (_worker: Worker, message: { sockhttp?: string; id?: number; snapshot?: MetricsSnapshot }) => {
          if (message?.sockhttp !== 'metrics-snapshot' || message.id !== id || message.snapshot === undefined) return;
          got.push(message.snapshot);
          if (got.length === asked.length) finish();
        };
        const timer = setTimeout(finish, COLLECT_TIMEOUT_MS);
        cluster.on('message', onMessage);
        if (asked.length === 0) finish();
        for (const worker of asked) worker.send({ sockhttp: 'metrics-request', id });
      });
    if (hooks.startMetrics) {
      hooks.startMetrics(collect).then(
        (server) => {
          metricsServer = server;
          if (stopping) void server.close(0);
        },
        (error: unknown) => {
          say(`sockhttp serve: ${error instanceof UsageError ? error.message : String(error)}`);
          failedToStart = true;
          stopAll();
        },
      );
    }
    const stop = () => {
      if (!stopping) stopAll();
      void metricsServer?.close(1_000);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    process.on('SIGHUP', () => void reload());
    process.on('SIGUSR1', () => {
      for (const worker of liveWorkers()) worker.process.kill('SIGUSR1');
    });
    for (let i = 0; i < count; i++) cluster.fork();
  });
}
