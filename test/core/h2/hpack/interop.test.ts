// Interoperability with an HPACK implementation nobody here wrote: hpack.js (Fedor Indutny's, used by
// the spdy package), on random field lists over many blocks, so both dynamic tables must stay in step.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { HpackDecoder, HpackEncoder } from '../../../../src/core/h2/hpack/index.js';
import { makeRandom } from '../../../../fuzz/common.js';

interface TheirField {
  name: string;
  value: string;
  neverIndex?: boolean;
}
interface TheirCompressor {
  write(fields: TheirField[]): void;
  read(): Buffer | null;
}
interface TheirDecompressor {
  write(block: Buffer): void;
  execute(callback?: (error: Error | null) => void): void;
  read(): TheirField | null;
}
const hpack = createRequire(import.meta.url)('hpack.js') as {
  compressor: { create(options: object): TheirCompressor };
  decompressor: { create(options: object): TheirDecompressor };
};

const NAMES = [
  ':status',
  ':method',
  ':path',
  ':authority',
  'content-type',
  'cache-control',
  'server',
  'vary',
  'date',
  'etag',
  'content-length',
  'last-modified',
  'authorization',
  'cookie',
  'set-cookie',
  'x-custom',
  'x-request-id',
  'accept-encoding',
];

/** Random field lists drawn from a small pool, so that fields repeat across blocks and get indexed. */
function randomBlocks(seed: number, count: number): [string, string][][] {
  const random = makeRandom(seed);
  const pool: [string, string][] = [];
  for (let i = 0; i < 60; i++) {
    const name = random(4) === 0 ? `x-${i}` : NAMES[random(NAMES.length)]!;
    const length = random(5) === 0 ? random(600) : random(40);
    // Any octet: both sides treat strings as latin1, one char per octet.
    const value = String.fromCharCode(...Array.from({ length }, () => (random(3) === 0 ? random(256) : 32 + random(95))));
    pool.push([name, value]);
  }
  pool.push([':method', 'GET'], [':path', '/'], ['accept-encoding', 'gzip, deflate']);
  return Array.from({ length: count }, () => Array.from({ length: random(12) }, () => pool[random(pool.length)]!));
}

function theirDecode(decompressor: TheirDecompressor, block: Buffer): [string, string][] {
  decompressor.write(block);
  let failure: Error | null = null;
  decompressor.execute((error) => {
    failure = error;
  });
  const fields: [string, string][] = [];
  for (let field = decompressor.read(); field !== null; field = decompressor.read()) fields.push([field.name, field.value]);
  assert.equal(failure, null);
  return fields;
}

function theirEncode(compressor: TheirCompressor, fields: [string, string][], neverIndex: boolean): Buffer {
  compressor.write(fields.map(([name, value]) => ({ name, value, neverIndex: neverIndex && name === 'authorization' })));
  const parts: Buffer[] = [];
  for (let part = compressor.read(); part !== null; part = compressor.read()) parts.push(part);
  return Buffer.concat(parts);
}

describe('interop with hpack.js', () => {
  for (const [seed, huffman, tableSize] of [
    [1, true, 4096],
    [2, false, 4096],
    [3, true, 256],
    [4, true, 0],
  ] as const) {
    test(`ours encodes, hpack.js decodes: 300 blocks (seed ${seed}, huffman ${huffman}, table ${tableSize})`, () => {
      const encoder = new HpackEncoder({ huffman });
      encoder.setMaxTableSize(tableSize);
      const theirs = hpack.decompressor.create({ table: { maxSize: 4096 } });
      for (const fields of randomBlocks(seed, 300)) {
        assert.deepEqual(theirDecode(theirs, encoder.encode(fields)), fields);
      }
      assert.ok(tableSize === 0 ? encoder.tableSize === 0 : encoder.tableEntries > 0);
    });

    test(`hpack.js encodes, ours decodes: 300 blocks (seed ${seed}, table ${tableSize})`, () => {
      const theirs = hpack.compressor.create({ table: { maxSize: tableSize } });
      const decoder = new HpackDecoder({ maxTableSize: tableSize, maxHeaderListSize: 1 << 20 });
      for (const fields of randomBlocks(seed, 300)) {
        assert.deepEqual(decoder.decode(theirEncode(theirs, fields, seed % 2 === 1)), { fields, tooLarge: false });
      }
    });
  }

  test('ours encodes with a table that shrinks then grows between blocks; hpack.js follows the size updates', () => {
    const encoder = new HpackEncoder();
    const theirs = hpack.decompressor.create({ table: { maxSize: 4096 } });
    const blocks = randomBlocks(9, 60);
    for (const [index, fields] of blocks.entries()) {
      if (index % 10 === 5) {
        encoder.setMaxTableSize(64);
        encoder.setMaxTableSize(4096);
      }
      const block = encoder.encode(fields);
      if (index % 10 === 5) assert.equal(block.subarray(0, 4).toString('hex'), '3f21' + '3fe1', 'the minimum, then the final size');
      assert.deepEqual(theirDecode(theirs, block), fields);
    }
  });
});
