// What node:perf_hooks and the global `performance` are in the command-line bundles (see
// scripts/build.mjs): our modules read only performance.now(), the milliseconds since the process
// started. Node's module, loaded for it, brings ten more (timing entries, observers, histograms):
// 1 to 1.5 ms of a `get` start. The same monotonic clock, with its zero within a fraction of a
// millisecond of Node's: its readings are compared with one another only, never with Node's own
// timestamps (PerformanceEntry.startTime, Event.timeStamp), and nothing else of `performance` exists.
const origin = Number(process.hrtime.bigint()) / 1e6 - process.uptime() * 1e3;

export const performance = {
  now() {
    return Number(process.hrtime.bigint()) / 1e6 - origin;
  },
};
