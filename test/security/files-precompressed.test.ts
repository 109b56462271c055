/**
 * Attack: a precompressed sibling swapped for a symlink after the server has described the file.
 *
 * The server finds `notes.txt.gz` next to `notes.txt` on the first request and remembers it. Someone
 * who can write in the folder then replaces `notes.txt.gz` with a symlink to a file outside the
 * folder. A server that re-checks the sibling by path (stat follows the link) and opens it by path
 * sends the outside file as "gzip". Every later answer must be free of the outside file's marker
 * (checked on the raw bytes, never decoded), and still be notes.txt itself, in whatever coding.
 *
 * Two sizes: a small sibling (read into memory) and a sibling over 64 KiB (streamed from a descriptor).
 *
 *   base/root/notes.txt, notes.txt.gz                 (small)
 *   base/root/big-notes.txt, big-notes.txt.gz         (> 64 KiB, gzip level 0 so the sibling is large too)
 *   base/outside/secret.gz, big-secret.gz             (plain text holding the marker)
 */
import assert from 'node:assert/strict';
import { renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import type { RunningServer } from '../helpers.js';
import {
  type RawAnswer,
  type Sandbox,
  makeSandbox,
  markedText,
  plainText,
  rawGet,
  startServer,
  uniqueMarker,
  writeFiles,
} from './helpers.js';

const MARKER = uniqueMarker('precompressed');
const NOTES = plainText(4_000, 3);
const BIG_NOTES = plainText(200 * 1024, 5);
const LARGE = 64 * 1024;
/** Requests made after the swap: the leak, if any, shows on the first; the rest check nothing was cached. */
const REQUESTS_AFTER_SWAP = 20;

let sandbox: Sandbox;
let server: RunningServer;

before(async () => {
  sandbox = makeSandbox();
  writeFiles(sandbox.root, {
    'notes.txt': NOTES,
    'notes.txt.gz': gzipSync(NOTES),
    'big-notes.txt': BIG_NOTES,
    'big-notes.txt.gz': gzipSync(BIG_NOTES, { level: 0 }),
  });
  writeFiles(sandbox.outside, {
    'secret.gz': markedText(MARKER, 3_000),
    'big-secret.gz': markedText(MARKER, 300 * 1024),
  });
  server = await startServer(sandbox.root);
});

after(async () => {
  await server?.close();
  sandbox?.remove();
});

/** The body as the client would read it; throws if it is not the expected notes in the announced coding. */
function decoded(answer: RawAnswer): string {
  const coding = answer.field('content-encoding');
  if (coding === undefined) return answer.body.toString('utf8');
  if (coding === 'gzip') return gunzipSync(answer.body).toString('utf8');
  if (coding === 'br') return brotliDecompressSync(answer.body).toString('utf8');
  throw new Error(`unexpected Content-Encoding ${coding}`);
}

/** Replaces `name` (a sibling inside the root) with a symlink to `outsideName`, atomically (rename over it). */
function swapForSymlink(name: string, outsideName: string): void {
  const temporary = join(sandbox.stage, `${name}.link`);
  symlinkSync(join(sandbox.outside, outsideName), temporary);
  renameSync(temporary, join(sandbox.root, name));
}

async function expectNoLeakAfterSwap(
  target: string,
  sibling: string,
  outsideName: string,
  expected: string,
  minimumSiblingBytes: number,
): Promise<void> {
  const acceptGzip = { 'Accept-Encoding': 'gzip' };
  // First request: the sibling is found and served, so the server has described the file and its sibling.
  const first = await rawGet(server.port, target, acceptGzip);
  assert.equal(first.status, 200);
  assert.equal(first.field('content-encoding'), 'gzip', 'the precompressed sibling is served before the swap');
  assert.ok(first.body.length >= minimumSiblingBytes, `the sibling is ${first.body.length} bytes`);
  assert.equal(decoded(first), expected);

  swapForSymlink(sibling, outsideName);
  for (let index = 0; index < REQUESTS_AFTER_SWAP; index++) {
    const answer = await rawGet(server.port, target, acceptGzip);
    assert.ok(
      !answer.raw.includes(MARKER),
      `request ${index + 1} after the swap sent the outside file (status ${answer.status}, Content-Encoding ${answer.field('content-encoding')})`,
    );
    assert.equal(answer.status, 200, `request ${index + 1} after the swap`);
    assert.equal(decoded(answer), expected, `request ${index + 1} after the swap: not the file asked for`);
  }
  // And without Accept-Encoding the file itself is still served.
  const identity = await rawGet(server.port, target);
  assert.equal(identity.status, 200);
  assert.equal(identity.field('content-encoding'), undefined);
  assert.equal(identity.body.toString('utf8'), expected);
}

describe('a precompressed sibling replaced by a symlink that leads out', () => {
  test('small sibling (served from memory): the outside file is never sent', async () => {
    await expectNoLeakAfterSwap('/notes.txt', 'notes.txt.gz', 'secret.gz', NOTES, 1);
  });

  test('large sibling (> 64 KiB, streamed): the outside file is never sent', async () => {
    await expectNoLeakAfterSwap('/big-notes.txt', 'big-notes.txt.gz', 'big-secret.gz', BIG_NOTES, LARGE + 1);
  });
});
