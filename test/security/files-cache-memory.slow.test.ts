/**
 * Attack: making the path and 404 caches pin whole request heads.
 *
 * The handler remembers request paths (found files and missing ones) in bounded maps of up to 10,000
 * entries. If a key is a slice of the decoded request head (V8 keeps a sliced string's parent alive),
 * each entry silently holds the whole head: a client that asks for distinct paths with a ~60 KB field
 * each makes 10,000 entries hold ~600 MB. "Every cache has a bound, a key that does not pin larger
 * objects" (STYLE.md). The server runs as `sockhttp serve` in a child process; its RSS is read from
 * /proc/PID/status.
 *
 * GC-insensitive: a warm-up phase first sends exactly the same traffic (same sizes, same number of
 * requests) to a single path, so the young generation and the allocator reach their steady size; the
 * measured phase then differs only in that every path is new. Only what the caches keep can grow.
 * Half the measured paths are missing (the 404 cache), half resolve to an existing file through a
 * distinct spelling, `/dN/../file.txt` (the path cache).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess, startCliServer } from '../helpers.js';
import { delay, readRssBytes } from '../net/server/helpers.js';
import { type Sandbox, hammer, makeSandbox, writeFiles } from './helpers.js';

const REQUESTS = 2_500;
/** Under the 64 KiB head limit with the request line and Host. */
const FIELD_BYTES = 60_000;
/** Pinned heads would add ~60 KB per request (~150 MB in all); the caches' own entries need well under 1 MB. */
const MAX_GROWTH_BYTES = 60 * 1000 * 1000;
const MAX_MS = 60_000;

const canReadRss = existsSync('/proc/self/status');

let sandbox: Sandbox;
let cli: (BackgroundProcess & { port: number }) | undefined;

before(async () => {
  sandbox = makeSandbox();
  writeFiles(sandbox.root, { 'file.txt': 'a small file\n' });
  if (canReadRss) cli = await startCliServer([sandbox.root, '--quiet']);
});

after(async () => {
  await cli?.stop();
  sandbox?.remove();
});

/** The server's RSS once it has been idle for a moment: the lowest of a few readings. */
async function settledRss(pid: number): Promise<number> {
  let lowest = Number.POSITIVE_INFINITY;
  for (let reading = 0; reading < 5; reading++) {
    await delay(200);
    lowest = Math.min(lowest, readRssBytes(pid) ?? Number.POSITIVE_INFINITY);
  }
  assert.ok(Number.isFinite(lowest), 'could not read the server RSS');
  return lowest;
}

describe('the path and 404 caches do not pin request heads', { skip: !canReadRss && 'needs /proc/PID/status (Linux)' }, () => {
  test(`${REQUESTS} distinct paths with a ${FIELD_BYTES / 1000} KB field each grow the server by less than ${MAX_GROWTH_BYTES / 1e6} MB`, async (t) => {
    const pid = cli!.child.pid!;
    const fields = { 'X-Padding': 'p'.repeat(FIELD_BYTES) };
    const options = (check: (status: number) => boolean) => ({
      maxRequests: REQUESTS,
      maxMs: MAX_MS,
      connections: 4,
      fields,
      check: (response: { status: number }) => (check(response.status) ? undefined : `unexpected status ${response.status}`),
    });

    // Warm-up: the same traffic to one path, which adds one cache entry at most.
    const warmUp = await hammer(
      cli!.port,
      '/missing-warm-up',
      options((status) => status === 404),
    );
    assert.equal(warmUp.failure, undefined);
    assert.equal(warmUp.requests, REQUESTS, 'the warm-up did not finish in time');
    const before = await settledRss(pid);

    const measured = await hammer(
      cli!.port,
      (index) => (index % 2 === 0 ? `/missing-${index}` : `/d${index}/../file.txt`),
      options((status) => status === 404 || status === 200),
    );
    assert.equal(measured.failure, undefined);
    assert.equal(measured.requests, REQUESTS, 'the measured phase did not finish in time');
    assert.ok((measured.statuses[200] ?? 0) > 0 && (measured.statuses[404] ?? 0) > 0, JSON.stringify(measured.statuses));
    const afterwards = await settledRss(pid);

    const growth = afterwards - before;
    t.diagnostic(
      `server RSS: ${(before / 1e6).toFixed(1)} → ${(afterwards / 1e6).toFixed(1)} MB (${(growth / 1e6).toFixed(1)} MB for ${REQUESTS} requests)`,
    );
    assert.ok(
      growth < MAX_GROWTH_BYTES,
      `the server grew by ${(growth / 1e6).toFixed(1)} MB (${(growth / REQUESTS / 1000).toFixed(1)} KB per request): from ${(before / 1e6).toFixed(1)} to ${(afterwards / 1e6).toFixed(1)} MB`,
    );
  });
});
