/**
 * The file read ahead of the socket (src/net/server/file-read-ahead.ts), on its own: byte-exact
 * chunks in order (ranges and literal pieces), reading ahead only within the shared budget, a
 * truncated file failing the reader, and every budget byte given back however the reader ends.
 * Also HTTP/2's FileSource, which takes its file bodies from it.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FilePiece } from '../../../src/core/response-plan.js';
import { type BodySink, BodySender } from '../../../src/net/server/body-sender.js';
import { FileDataBudget } from '../../../src/net/server/file-data-budget.js';
import { FILE_READ_BYTES, FILE_READ_FLOOR_BYTES, FileReadAhead, type ReadAheadOptions } from '../../../src/net/server/file-read-ahead.js';
import { FileSource } from '../../../src/net/server/h2-body.js';
import { makeTempDir } from '../../helpers.js';
import { delay, patternBytes } from './helpers.js';

const FILE = patternBytes(3 * FILE_READ_BYTES + 1234);
let folder: ReturnType<typeof makeTempDir>;
let path: string;

before(() => {
  folder = makeTempDir('sockhttp-read-ahead-');
  path = join(folder.path, 'pattern.bin');
  writeFileSync(path, FILE);
});
after(() => folder?.remove());

interface Opened {
  reader: FileReadAhead;
  /** Resolves at the next onReady or onError. */
  nextEvent(): Promise<'ready' | 'error'>;
}

function open(pieces: FilePiece[], budget: FileDataBudget, options: ReadAheadOptions): Opened {
  const waiting: Array<(event: 'ready' | 'error') => void> = [];
  const fd = openSync(path, 'r');
  const reader = new FileReadAhead(
    fd,
    pieces,
    budget,
    options,
    () => waiting.shift()?.('ready'),
    () => waiting.shift()?.('error'),
  );
  return { reader, nextEvent: () => new Promise((resolve) => waiting.push(resolve)) };
}

/** Takes every chunk, finishing each at once; bounded by the number of reads the body needs. */
async function drain(opened: Opened): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let turns = 0; turns < 1000 && !opened.reader.done; turns++) {
    const chunk = opened.reader.shift();
    if (chunk === undefined) {
      assert.equal(await opened.nextEvent(), 'ready');
      continue;
    }
    parts.push(Buffer.from(chunk.bytes));
    opened.reader.finished(chunk);
    opened.reader.readAhead();
  }
  assert.ok(opened.reader.done, 'the reader did not finish');
  return Buffer.concat(parts);
}

/** Waits until the reader has nothing in flight and stops reading ahead: a bounded number of events. */
async function settle(opened: Opened, expectedReady: number): Promise<void> {
  for (let turns = 0; turns < 20 && opened.reader.readyBytes < expectedReady; turns++) await opened.nextEvent();
  await delay(20); // a read beyond the expected one would have finished by now
}

describe('FileReadAhead', () => {
  test('a whole file, ranges and literal pieces come out byte-exact and in order; the budget is all given back', async () => {
    const budget = new FileDataBudget(64 * 1024 * 1024);
    const head = Buffer.from('--boundary\r\n\r\n');
    const pieces: FilePiece[] = [
      head,
      { start: 0, length: FILE.length },
      Buffer.alloc(0),
      head,
      { start: 5, length: FILE_READ_BYTES + 7 },
      { start: FILE.length - 3, length: 3 },
      head,
    ];
    const expected = Buffer.concat([head, FILE, head, FILE.subarray(5, 5 + FILE_READ_BYTES + 7), FILE.subarray(-3), head]);
    for (const reuseBuffers of [true, false]) {
      const opened = open(pieces, budget, { maxBuffers: 3, reuseBuffers });
      assert.ok((await drain(opened)).equals(expected), `reuseBuffers ${reuseBuffers}`);
      opened.reader.release();
      assert.equal(budget.inUse, 0);
      assert.ok(opened.reader.settled);
    }
  });

  test('with budget, it reads ahead up to maxBuffers before anything is taken', async () => {
    const budget = new FileDataBudget(64 * 1024 * 1024);
    const opened = open([{ start: 0, length: FILE.length }], budget, { maxBuffers: 3, reuseBuffers: true });
    await settle(opened, 3 * FILE_READ_BYTES);
    assert.equal(opened.reader.readyBytes, 3 * FILE_READ_BYTES, 'three buffers read ahead');
    assert.equal(budget.inUse, 3 * FILE_READ_BYTES - FILE_READ_FLOOR_BYTES, 'all but one floor from the budget');
    // Taking one and finishing it lets the last read start, into the same buffer.
    const first = opened.reader.shift()!;
    opened.reader.finished(first);
    opened.reader.readAhead();
    await settle(opened, 2 * FILE_READ_BYTES + 1234);
    assert.equal(opened.reader.readyBytes, 2 * FILE_READ_BYTES + 1234);
    opened.reader.release();
    assert.equal(budget.inUse, 0);
  });

  test('with the budget spent, it holds one floor-sized buffer and reads nothing ahead', async () => {
    const budget = new FileDataBudget(0);
    const opened = open([{ start: 0, length: FILE.length }], budget, { maxBuffers: 3, reuseBuffers: true });
    await settle(opened, FILE_READ_FLOOR_BYTES);
    assert.equal(opened.reader.readyBytes, FILE_READ_FLOOR_BYTES, 'one read of the floor, none ahead');
    assert.equal(budget.inUse, 0);
    assert.ok((await drain(opened)).equals(FILE));
    opened.reader.release();
  });

  test('with a little budget left, the read ahead takes only what is left', async () => {
    const budget = new FileDataBudget(FILE_READ_BYTES);
    const opened = open([{ start: 0, length: FILE.length }], budget, { maxBuffers: 3, reuseBuffers: true });
    await settle(opened, FILE_READ_BYTES + FILE_READ_FLOOR_BYTES);
    // The first read: the floor and 240 KiB of the budget; the second: the 16 KiB that was left.
    assert.equal(opened.reader.readyBytes, FILE_READ_BYTES + FILE_READ_FLOOR_BYTES);
    assert.equal(budget.inUse, FILE_READ_BYTES);
    opened.reader.release();
    assert.equal(budget.inUse, 0);
  });

  test('a file shorter than planned fails the reader, and its budget comes back', async () => {
    const budget = new FileDataBudget(64 * 1024 * 1024);
    const opened = open([{ start: FILE.length - 100, length: 1000 }], budget, { maxBuffers: 3, reuseBuffers: true });
    let event = await opened.nextEvent();
    assert.equal(event, 'ready');
    assert.equal(opened.reader.shift()!.bytes.length, 100);
    event = await opened.nextEvent();
    assert.equal(event, 'error');
    assert.ok(opened.reader.failed);
    opened.reader.abandon();
    assert.equal(budget.inUse, 0);
  });

  test('chunks still held by the consumer keep their share after release(), and abandon() gives everything back', async () => {
    const budget = new FileDataBudget(64 * 1024 * 1024);
    const opened = open([{ start: 0, length: FILE.length }], budget, { maxBuffers: 3, reuseBuffers: true });
    await settle(opened, 3 * FILE_READ_BYTES);
    const held = opened.reader.shift()!; // as if in the socket's queue
    opened.reader.release();
    assert.equal(budget.inUse, held.share, 'only the chunk in the socket still counts');
    assert.ok(!opened.reader.settled);
    opened.reader.abandon(); // the connection closed: its write callbacks may never come
    assert.equal(budget.inUse, 0);
    opened.reader.finished(held); // a late callback gives nothing back twice
    assert.equal(budget.inUse, 0);
  });

  test('release() while a read is in flight: the read gives its share back when it ends', async () => {
    const budget = new FileDataBudget(64 * 1024 * 1024);
    const opened = open([{ start: 0, length: FILE.length }], budget, { maxBuffers: 3, reuseBuffers: true });
    opened.reader.release();
    for (let turns = 0; turns < 100 && budget.inUse > 0; turns++) await delay(5);
    assert.equal(budget.inUse, 0);
    assert.ok(opened.reader.settled);
  });
});

describe('HTTP/2 FileSource', () => {
  test('reads the next chunk while the current one is being framed, and gives the budget back on release', async () => {
    const budget = new FileDataBudget(64 * 1024 * 1024);
    let readies = 0;
    const fd = openSync(path, 'r');
    const source = new FileSource(
      fd,
      [{ start: 0, length: FILE.length }],
      budget,
      () => readies++,
      () => assert.fail('no error expected'),
    );
    for (let turns = 0; turns < 100 && source.readyBytes < 2 * FILE_READ_BYTES; turns++) await delay(5);
    assert.equal(source.readyBytes, 2 * FILE_READ_BYTES, 'one chunk and one read ahead');
    assert.equal(readies, 2);
    const parts: Buffer[] = [];
    for (let turns = 0; turns < 10_000 && !source.done; turns++) {
      if (source.readyBytes === 0) {
        await delay(1);
        continue;
      }
      parts.push(Buffer.from(source.take(16 * 1024)));
    }
    assert.ok(Buffer.concat(parts).equals(FILE));
    source.release();
    source.release();
    assert.equal(budget.inUse, 0);
  });

  test('released mid-body: every budget byte comes back and the descriptor is closed once', async () => {
    const budget = new FileDataBudget(64 * 1024 * 1024);
    const fd = openSync(path, 'r');
    const source = new FileSource(
      fd,
      [{ start: 0, length: FILE.length }],
      budget,
      () => {},
      () => {},
    );
    for (let turns = 0; turns < 100 && source.readyBytes === 0; turns++) await delay(5);
    source.take(1000);
    source.release();
    for (let turns = 0; turns < 100 && budget.inUse > 0; turns++) await delay(5);
    assert.equal(budget.inUse, 0);
    await delay(20);
    assert.throws(() => closeSync(fd), /EBADF/);
  });
});

describe('HTTP/1.1 BodySender', () => {
  test('a socket that closes without giving its buffers back: the sender stops, and the budget and descriptor are released', async () => {
    const budget = new FileDataBudget(64 * 1024 * 1024);
    let destroyed = false;
    let written = 0;
    // Takes every write and never calls back: as a destroyed socket whose callbacks never come.
    const sink: BodySink = {
      write: (bytes) => {
        written += bytes.length;
        return true;
      },
      get destroyed() {
        return destroyed;
      },
      writableNeedDrain: false,
      drainedOrClosed: () => new Promise(() => {}),
      destroy: () => {
        destroyed = true;
      },
    };
    const sender = new BodySender(sink, budget);
    const fd = openSync(path, 'r');
    const sent = sender.sendFile(fd, [{ start: 0, length: FILE.length }]);
    for (let turns = 0; turns < 100 && written < 3 * FILE_READ_BYTES; turns++) await delay(5);
    assert.equal(written, 3 * FILE_READ_BYTES, 'every buffer is in the socket, none came back');
    destroyed = true;
    sender.connectionClosed();
    assert.equal(await Promise.race([sent, delay(2_000).then(() => 'still waiting')]), null);
    assert.equal(budget.inUse, 0);
    await delay(20);
    assert.throws(() => closeSync(fd), /EBADF/);
  });
});
