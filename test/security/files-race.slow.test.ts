/**
 * Attack: winning the race between the server's path checks and its read.
 *
 * A server that checks a path (realpath, then stat) and later opens the same path by name can be
 * fooled by anyone who can rename inside the folder: between two of those calls, the checked regular
 * file `secret-race.txt` becomes a symlink to a file outside the folder (rename(2) is atomic, so the
 * name always exists). A python3 helper swaps the two in a tight loop while the test requests the path
 * over and over (bounded in count and time). No answer may ever carry the outside file's marker —
 * neither during the race nor after the swapper stops with the symlink in place, which shows whether a
 * bad identity was kept in a cache (the server must re-verify, and answer 404 for a link that leads out).
 *
 * Two sizes: under 64 KiB (read whole and kept in memory) and over 64 KiB (a hot mid-size file, kept in
 * memory from its second request: static/hot-files.ts); and the larger one asked for with a Range,
 * which is always streamed from a descriptor.
 *
 *   base/root/secret-race.txt      alternately the hard link of stage/plain-* and a symlink to outside/*
 *   base/stage/plain-small.txt     the legitimate contents (no marker)
 *   base/outside/secret-*.txt      the marker
 */
import assert from 'node:assert/strict';
import { linkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningServer, commandExists } from '../helpers.js';
import {
  type Sandbox,
  type Swapper,
  hammer,
  makeSandbox,
  markedText,
  plainText,
  rawGet,
  startServer,
  startSwapper,
  uniqueMarker,
  withoutMarker,
  writeFiles,
} from './helpers.js';

const MARKER = uniqueMarker('race');
/** Bounds of the attack: the first leak ends it early. */
const MAX_REQUESTS = 20_000;
const MAX_MS = 10_000;
/** Requests after the swapper stopped with the symlink left in place. */
const REQUESTS_AFTER_STOP = 50;

const hasPython = commandExists('python3');

let sandbox: Sandbox;
let server: RunningServer;
let swapper: Swapper | undefined;

before(async () => {
  sandbox = makeSandbox();
  writeFiles(sandbox.stage, {
    'plain-small.txt': plainText(3_000, 1),
    'plain-large.txt': plainText(200 * 1024, 2),
  });
  writeFiles(sandbox.outside, {
    'secret-small.txt': markedText(MARKER, 3_000),
    'secret-large.txt': markedText(MARKER, 200 * 1024),
  });
  server = await startServer(sandbox.root);
});

after(async () => {
  await swapper?.stop().catch(() => {});
  await server?.close();
  sandbox?.remove();
});

async function raceFile(name: string, size: 'small' | 'large', fields: Record<string, string> = {}): Promise<void> {
  const target = join(sandbox.root, name);
  const plainSource = join(sandbox.stage, `plain-${size}.txt`);
  linkSync(plainSource, target);
  // Sanity: before the race the file is served, so a 404 during the race means the server refused.
  const before = await rawGet(server.port, `/${name}`);
  assert.equal(before.status, 200);

  swapper = await startSwapper({
    mode: 'rename',
    target,
    linkTo: join(sandbox.outside, `secret-${size}.txt`),
    plainSource,
    stage: sandbox.stage,
    final: 'link',
  });
  let result;
  let swaps;
  try {
    result = await hammer(server.port, `/${name}`, { maxRequests: MAX_REQUESTS, maxMs: MAX_MS, fields, check: withoutMarker(MARKER) });
  } finally {
    swaps = await swapper.stop();
    swapper = undefined;
  }
  assert.ok(swaps > 100, `the swapper made only ${swaps} swaps: the race did not run`);
  if (fields.Range !== undefined) assert.ok((result.statuses[206] ?? 0) > 0, `no 206 among ${JSON.stringify(result.statuses)}`);
  assert.equal(
    result.failure,
    undefined,
    `during the race (${swaps} swaps, statuses ${JSON.stringify(result.statuses)}): ${result.failure}`,
  );

  // The symlink that leads out is now in place for good: whatever the server remembered, it must not serve it.
  const afterStop = await hammer(server.port, `/${name}`, {
    maxRequests: REQUESTS_AFTER_STOP,
    maxMs: 10_000,
    connections: 1,
    fields,
    check: withoutMarker(MARKER),
  });
  assert.equal(afterStop.failure, undefined, `after the swapper stopped, with the symlink in place: ${afterStop.failure}`);
  assert.deepEqual(afterStop.statuses, { 404: REQUESTS_AFTER_STOP }, 'a symlink that leads out answers 404');
}

describe('a regular file swapped with a symlink that leads out, while it is requested', { skip: !hasPython && 'needs python3' }, () => {
  test('small file (< 64 KiB, served from memory): the marker never leaks', async () => {
    await raceFile('secret-race.txt', 'small');
  });

  test('larger file (> 64 KiB, a hot file served from memory): the marker never leaks', async () => {
    await raceFile('secret-race-large.txt', 'large');
  });

  test('larger file asked for with a Range (streamed from a descriptor): the marker never leaks', async () => {
    await raceFile('secret-race-range.txt', 'large', { Range: 'bytes=100-150000' });
  });
});
