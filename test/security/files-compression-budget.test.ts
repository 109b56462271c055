/**
 * Attack: making the server compress without limit.
 *
 * On-the-fly compression costs CPU and memory per request (the whole file is read and compressed
 * in memory, up to 8 MiB). 16 concurrent requests for 16 distinct large compressible files would
 * start 16 compressions at once — and an attacker would ask for more. The server keeps a small
 * budget of concurrent compressions (about the number of cores); a request that finds the budget
 * spent gets the identity coding instead. So: every answer is correct (decoded when it carries
 * Content-Encoding), and NOT every one of the 16 was compressed on the fly.
 *
 * Timing: with a budget, whether a given request is compressed depends on what is in flight when it
 * arrives, so the number compressed varies; with 16 requests started together and ~3 MiB to compress
 * each, at least one must find the budget spent. The server runs as `sockhttp serve` in a child process.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { type BackgroundProcess, startCliServer } from '../helpers.js';
import { type RawAnswer, type Sandbox, makeSandbox, plainText, rawGet, writeFiles } from './helpers.js';

const FILES = 16;
const FILE_BYTES = 3 * 1024 * 1024;
const LIVENESS_MS = 60_000;

let sandbox: Sandbox;
let cli: (BackgroundProcess & { port: number }) | undefined;
const digests = new Map<string, string>();

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

before(async () => {
  sandbox = makeSandbox();
  const files: Record<string, string> = {};
  for (let index = 0; index < FILES; index++) {
    const content = plainText(FILE_BYTES, index + 1);
    files[`text-${index}.txt`] = content;
    digests.set(`/text-${index}.txt`, sha256(content));
  }
  writeFiles(sandbox.root, files);
  cli = await startCliServer([sandbox.root, '--quiet']);
});

after(async () => {
  await cli?.stop();
  sandbox?.remove();
});

function decodedBody(answer: RawAnswer): Buffer {
  const coding = answer.field('content-encoding');
  if (coding === undefined) return answer.body;
  if (coding === 'br') return brotliDecompressSync(answer.body);
  if (coding === 'gzip') return gunzipSync(answer.body);
  throw new Error(`unexpected Content-Encoding ${coding}`);
}

describe('on-the-fly compression has a budget', () => {
  test(`${FILES} concurrent brotli requests for distinct ${FILE_BYTES / 1024 / 1024} MiB texts: all correct, not all compressed`, async () => {
    const targets = [...digests.keys()];
    const answers = await Promise.all(targets.map((target) => rawGet(cli!.port, target, { 'Accept-Encoding': 'br' }, LIVENESS_MS)));
    let compressed = 0;
    answers.forEach((answer, index) => {
      const target = targets[index]!;
      assert.equal(answer.status, 200, target);
      const coding = answer.field('content-encoding');
      assert.ok(coding === undefined || coding === 'br', `${target}: Content-Encoding ${coding}`);
      if (coding === 'br') compressed++;
      assert.equal(sha256(decodedBody(answer)), digests.get(target), `${target}: the body is not the file`);
    });
    assert.ok(compressed < FILES, `all ${FILES} responses were compressed on the fly: no budget`);
  });
});
