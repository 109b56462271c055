/**
 * A 1 GiB file through `sockhttp serve` in a child process: every byte arrives, and the server's
 * memory stays bounded (the file streams with backpressure; it is never read whole). The file is
 * sparse (ftruncate), so it costs no disk and reads as zeros.
 */
import assert from 'node:assert/strict';
import { closeSync, existsSync, ftruncateSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess, commandExists, makeTempDir, runCommand, startCliServer } from '../../helpers.js';
import { delay, download, readRssBytes, sampleRss } from './helpers.js';

const GIB = 1024 * 1024 * 1024;
const MAX_RSS_BYTES = 150 * 1000 * 1000;
/** How much the server's RSS may move while a client is not reading (GC and allocator noise). */
const MAX_RSS_GROWTH_WHILE_PAUSED = 40 * 1000 * 1000;

const canSampleRss = existsSync('/proc/self/status');

describe('a 1 GiB file from `sockhttp serve`', { skip: !canSampleRss && 'needs /proc/PID/status (Linux)' }, () => {
  let folder: ReturnType<typeof makeTempDir>;
  let cli: (BackgroundProcess & { port: number }) | undefined;
  let pid: number;

  before(async () => {
    folder = makeTempDir();
    const fd = openSync(join(folder.path, 'huge.bin'), 'w');
    try {
      ftruncateSync(fd, GIB);
    } finally {
      closeSync(fd);
    }
    cli = await startCliServer([folder.path, '--quiet']);
    pid = cli.child.pid!;
  });

  after(async () => {
    await cli?.stop();
    folder?.remove();
  });

  test('curl downloads exactly 1 GiB while the server stays under 150 MB', {
    skip: !commandExists('curl') && 'curl is not installed',
  }, async () => {
    const sampler = sampleRss(pid, 100);
    let result;
    try {
      result = await runCommand(
        'curl',
        [
          '-s',
          '-S',
          '--max-time',
          '170',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code} %{size_download}',
          `http://127.0.0.1:${cli!.port}/huge.bin`,
        ],
        { timeoutMs: 180_000 },
      );
    } finally {
      sampler.stop();
    }
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), `200 ${GIB}`);
    const samples = sampler.samples();
    assert.ok(samples.length >= 2, 'no RSS samples');
    const maximum = Math.max(...samples);
    assert.ok(maximum < MAX_RSS_BYTES, `server RSS reached ${(maximum / 1e6).toFixed(1)} MB`);
  });

  test('a raw socket counts exactly 1 GiB of body after a Content-Length of 1 GiB', async () => {
    const sampler = sampleRss(pid, 100);
    let result;
    try {
      result = await download(cli!.port, '/huge.bin', { hash: false, timeoutMs: 180_000 });
    } finally {
      sampler.stop();
    }
    assert.equal(result.status, 200);
    assert.equal(result.head.field('content-length'), String(GIB));
    assert.equal(result.head.field('content-type'), 'application/octet-stream');
    assert.equal(result.bodyBytes, GIB);
    assert.equal(result.closedByServer, true);
    const maximum = Math.max(...sampler.samples());
    assert.ok(maximum < MAX_RSS_BYTES, `server RSS reached ${(maximum / 1e6).toFixed(1)} MB`);
  });

  test('a reader that stops reading mid-download does not make the server grow, and still gets every byte', async () => {
    const PAUSE_AT = 64 * 1024 * 1024;
    let pauseSamples: number[] | null = null;
    let rssAtPause: number | null = null;
    const overall = sampleRss(pid, 100);
    let result;
    try {
      result = await download(cli!.port, '/huge.bin', {
        hash: false,
        timeoutMs: 180_000,
        onBody(total, socket) {
          if (pauseSamples !== null || total < PAUSE_AT) return;
          pauseSamples = [];
          socket.pause();
          rssAtPause = readRssBytes(pid);
          const duringPause = sampleRss(pid, 100);
          // Long enough for every buffer between the file and us to fill up, many times over.
          void delay(1_500).then(() => {
            pauseSamples = duringPause.stop();
            socket.resume();
          });
        },
      });
    } finally {
      overall.stop();
    }
    assert.equal(result.status, 200);
    assert.equal(result.bodyBytes, GIB);
    assert.ok(pauseSamples !== null && rssAtPause !== null, 'the reader never paused');
    const samples = pauseSamples as number[];
    assert.ok(samples.length >= 5, `only ${samples.length} samples during the pause`);
    const growth = Math.max(...samples) - (rssAtPause as number);
    assert.ok(growth < MAX_RSS_GROWTH_WHILE_PAUSED, `server RSS grew by ${(growth / 1e6).toFixed(1)} MB while the reader was paused`);
    const maximum = Math.max(...overall.samples());
    assert.ok(maximum < MAX_RSS_BYTES, `server RSS reached ${(maximum / 1e6).toFixed(1)} MB`);
  });
});
