/**
 * Attack: winning the race between path checks with a whole directory.
 *
 * A python3 helper exchanges a real directory inside the folder with a symlink to a directory
 * outside it, atomically and in a tight loop, with renameat2(RENAME_EXCHANGE). A server that checks
 * `dir/page.html` by path and then opens it by path (or reads a directory it checked a moment ago)
 * can be made to serve, or list, the outside directory. While the exchange runs, the test requests
 * (bounded in count and time):
 *  - `/dir/page.html`  — a file under the exchanged directory;
 *  - `/sub/`           — the directory's index.html;
 *  - `/list/`          — the listing, which must never show the outside directory's entry names.
 * Afterwards, with the symlink left in place, every answer is a 404 without the marker (nothing kept
 * in a cache may lead out).
 *
 *   base/root/{dir,sub,list}/            real directories (exchanged with base/stage/*-link)
 *   base/stage/{dir,sub,list}-link    →  base/outside/{dir,sub,list}
 *   base/outside/dir/page.html, sub/index.html   the marker
 *   base/outside/list/MARKER-entry-NN.txt        names that must never be listed
 */
import assert from 'node:assert/strict';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningServer, commandExists } from '../helpers.js';
import {
  type Sandbox,
  type Swapper,
  hammer,
  makeSandbox,
  markedText,
  rawGet,
  startServer,
  startSwapper,
  uniqueMarker,
  withoutMarker,
  writeFiles,
} from './helpers.js';

const MARKER = uniqueMarker('race-dir');
const MAX_REQUESTS = 20_000;
const MAX_MS = 10_000;
const REQUESTS_AFTER_STOP = 50;
const OUTSIDE_ENTRIES = 24;

const hasPython = commandExists('python3');

let sandbox: Sandbox;
let server: RunningServer;
let swapper: Swapper | undefined;

before(async () => {
  sandbox = makeSandbox();
  writeFiles(sandbox.root, {
    'dir/page.html': '<p>the page inside</p>\n',
    'sub/index.html': '<p>the index inside</p>\n',
    'list/inside-a.txt': 'a\n',
    'list/inside-b.txt': 'b\n',
  });
  writeFiles(sandbox.outside, {
    'dir/page.html': `<p>${markedText(MARKER, 2_000)}</p>\n`,
    'sub/index.html': `<p>${markedText(MARKER, 2_000)}</p>\n`,
    ...Object.fromEntries(
      Array.from({ length: OUTSIDE_ENTRIES }, (_, index) => [`list/${MARKER}-entry-${String(index).padStart(2, '0')}.txt`, 'x\n']),
    ),
  });
  for (const name of ['dir', 'sub', 'list']) symlinkSync(join(sandbox.outside, name), join(sandbox.stage, `${name}-link`));
  server = await startServer(sandbox.root);
});

after(async () => {
  await swapper?.stop().catch(() => {});
  await server?.close();
  sandbox?.remove();
});

async function raceDirectory(directory: string, requestTarget: string, expectBefore: (body: string) => boolean): Promise<void> {
  const before = await rawGet(server.port, requestTarget);
  assert.equal(before.status, 200, 'served before the race');
  assert.ok(expectBefore(before.body.toString('utf8')), 'the inside version before the race');

  swapper = await startSwapper({
    mode: 'exchange',
    target: join(sandbox.root, directory),
    other: join(sandbox.stage, `${directory}-link`),
    final: 'link',
  });
  let result;
  let swaps;
  try {
    result = await hammer(server.port, requestTarget, { maxRequests: MAX_REQUESTS, maxMs: MAX_MS, check: withoutMarker(MARKER) });
  } finally {
    swaps = await swapper.stop();
    swapper = undefined;
  }
  assert.ok(swaps > 100, `the swapper made only ${swaps} exchanges: the race did not run`);
  assert.equal(
    result.failure,
    undefined,
    `during the race (${swaps} exchanges, statuses ${JSON.stringify(result.statuses)}): ${result.failure}`,
  );

  const afterStop = await hammer(server.port, requestTarget, {
    maxRequests: REQUESTS_AFTER_STOP,
    maxMs: 10_000,
    connections: 1,
    check: withoutMarker(MARKER),
  });
  assert.equal(afterStop.failure, undefined, `after the swapper stopped, with the symlink in place: ${afterStop.failure}`);
  assert.deepEqual(afterStop.statuses, { 404: REQUESTS_AFTER_STOP }, 'a directory that leads out answers 404');
}

describe('a directory exchanged with a symlink to an outside directory, while it is requested', {
  skip: !hasPython && 'needs python3',
}, () => {
  test('/dir/page.html never serves the outside page', async () => {
    await raceDirectory('dir', '/dir/page.html', (body) => body.includes('the page inside'));
  });

  test('/sub/ never serves the outside index.html', async () => {
    await raceDirectory('sub', '/sub/', (body) => body.includes('the index inside'));
  });

  test('the listing of /list/ never shows the outside directory’s entry names', async () => {
    await raceDirectory('list', '/list/', (body) => body.includes('inside-a.txt'));
  });
});
