/**
 * Slow readers of large files share one budget of file data in flight (64 MiB for the process), so
 * their number does not multiply the server's memory: 400 clients that ask for a 100 MB file and
 * never read leave `sockhttp serve` (a child process, its RSS read from /proc) within the budget plus
 * a small floor per connection, while it goes on serving others and lets go of every descriptor after.
 *
 * Bounded: 400 sockets, a few seconds of sampling, every process and socket closed in `after`/`finally`.
 */
import assert from 'node:assert/strict';
import { closeSync, existsSync, ftruncateSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer, createStaticHandler } from '../../src/index.js';
import { type BackgroundProcess, makeTempDir, startCliServer } from '../helpers.js';
import { delay, download, patternBytes, readRssBytes, sampleRss, sha256 } from '../net/server/helpers.js';

const canReadProc = existsSync('/proc/self/status') && existsSync('/proc/self/fd');
const MB = 1000 * 1000;
const READERS = 400;
const PATTERN = patternBytes(3 * 1024 * 1024 + 123);

let folder: ReturnType<typeof makeTempDir>;

before(() => {
  folder = makeTempDir('sockhttp-slow-readers-');
  const fd = openSync(join(folder.path, 'hundred.bin'), 'w');
  ftruncateSync(fd, 100 * 1024 * 1024);
  closeSync(fd);
  writeFileSync(join(folder.path, 'page.html'), '<!doctype html><title>page</title><p>still served</p>\n');
  writeFileSync(join(folder.path, 'pattern.bin'), PATTERN);
});

after(() => folder?.remove());

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

describe('many slow readers of a large file', { skip: !canReadProc && 'needs /proc (Linux)' }, () => {
  let cli: (BackgroundProcess & { port: number }) | undefined;

  before(async () => {
    cli = await startCliServer([folder.path, '--quiet']);
  });

  after(async () => {
    await cli?.stop();
  });

  test(`${READERS} readers that never read: the file data held stays within the shared budget`, async (t) => {
    const pid = cli!.child.pid!;
    assert.equal((await download(cli!.port, '/page.html', { timeoutMs: 10_000 })).status, 200); // warm
    const baselineFds = readdirSync(`/proc/${pid}/fd`).length;
    const idle = readRssBytes(pid)!;
    const sockets: Socket[] = [];
    const sampler = sampleRss(pid, 100);
    let samples: number[];
    try {
      for (let index = 0; index < READERS; index++) {
        const socket = await openSocket(cli!.port);
        socket.pause(); // reads nothing: everything the server sends waits in buffers
        socket.write('GET /hundred.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
        sockets.push(socket);
      }
      await delay(3_000); // every reader's buffers fill up meanwhile
      const served = await download(cli!.port, '/page.html', { timeoutMs: 10_000 });
      assert.equal(served.status, 200, 'another client was not served meanwhile');
    } finally {
      samples = sampler.stop();
      for (const socket of sockets) socket.destroy();
    }
    const growth = Math.max(...samples) - idle;
    t.diagnostic(`server RSS: idle ${(idle / MB).toFixed(1)} MB, growth with ${READERS} slow readers ${(growth / MB).toFixed(1)} MB`);
    // Before the shared budget each reader held about 0.55 MB (a 256 KiB read ahead and a 256 KiB
    // write): 400 of them, about 220 MB, plus what each connection costs anyway (about 0.1 MB).
    // Now: at most 64 MiB of file data, plus 2 × 16 KiB per connection, plus that cost: measured
    // +118 to +151 MB on a busy 2-core machine (and +242 MB before).
    assert.ok(growth < 175 * MB, `the server grew by ${(growth / MB).toFixed(1)} MB`);
    const deadline = Date.now() + 10_000;
    while (readdirSync(`/proc/${pid}/fd`).length > baselineFds && Date.now() < deadline) await delay(50);
    assert.ok(readdirSync(`/proc/${pid}/fd`).length <= baselineFds, 'the server still holds descriptors of the readers');
  });
});

describe('a budget that is spent', () => {
  test('with no budget left at all, every connection still moves on with its floor: 4 downloads at once are byte-exact', async () => {
    const handler = await createStaticHandler({ root: folder.path });
    const server = createServer({ handler, maxFileDataBytes: 0 });
    const { port } = await server.listen(0);
    try {
      const results = await Promise.all(Array.from({ length: 4 }, () => download(port, '/pattern.bin', { timeoutMs: 30_000 })));
      for (const result of results) {
        assert.equal(result.status, 200);
        assert.equal(result.bodyBytes, PATTERN.length);
        assert.equal(result.sha256, sha256(PATTERN));
      }
    } finally {
      await server.close(1_000);
    }
  });
});
