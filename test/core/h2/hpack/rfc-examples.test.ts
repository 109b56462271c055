import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type FieldCoding, HpackDecoder, HpackEncoder } from '../../../../src/core/h2/hpack/index.js';
import {
  type AppendixExample,
  C2_LITERALS,
  C3_REQUESTS,
  C4_REQUESTS_HUFFMAN,
  C5_RESPONSES,
  C6_RESPONSES_HUFFMAN,
} from './rfc7541-examples.js';

const GROUPS = [
  { name: 'C.3 requests without Huffman', examples: C3_REQUESTS, tableSize: 4096, huffman: false, exact: true },
  { name: 'C.4 requests with Huffman', examples: C4_REQUESTS_HUFFMAN, tableSize: 4096, huffman: true, exact: true },
  // Our encoder never indexes `date` (it changes every second), so C.5/C.6 can only round-trip.
  { name: 'C.5 responses without Huffman', examples: C5_RESPONSES, tableSize: 256, huffman: false, exact: false },
  { name: 'C.6 responses with Huffman', examples: C6_RESPONSES_HUFFMAN, tableSize: 256, huffman: true, exact: false },
];

function checkTable(decoder: HpackDecoder, example: AppendixExample): void {
  assert.deepEqual(
    decoder.tableContents(),
    example.table.map(([name, value]) => [name, value]),
    `${example.id}: table`,
  );
  assert.equal(decoder.tableEntries, example.table.length, `${example.id}: entries`);
  assert.equal(
    decoder.tableSize,
    example.table.reduce((sum, [, , size]) => sum + size, 0),
    `${example.id}: size`,
  );
  for (const [name, value, size] of example.table) assert.equal(name.length + value.length + 32, size);
}

describe('RFC 7541 Appendix C', () => {
  test('C.2: each literal representation, one block per fresh decoder', () => {
    for (const example of C2_LITERALS) {
      const decoder = new HpackDecoder();
      const codings: FieldCoding[] = [];
      const decoded = decoder.decode(Buffer.from(example.hex, 'hex'), codings);
      assert.deepEqual(decoded, { fields: example.fields, tooLarge: false }, example.id);
      checkTable(decoder, example);
      assert.equal(codings.length, 1);
    }
    const codings: FieldCoding[] = [];
    new HpackDecoder().decode(Buffer.from(C2_LITERALS[2]!.hex, 'hex'), codings);
    assert.deepEqual(codings[0], {
      name: 'password',
      value: 'secret',
      representation: 'literal-never-indexed',
      index: null,
      nameHuffman: false,
      valueHuffman: false,
    });
  });

  for (const group of GROUPS) {
    test(`${group.name}: decoded in sequence, the table after each block as the RFC lists`, () => {
      const decoder = new HpackDecoder({ maxTableSize: group.tableSize });
      for (const example of group.examples) {
        const decoded = decoder.decode(Buffer.from(example.hex, 'hex'));
        assert.deepEqual(decoded, { fields: example.fields, tooLarge: false }, example.id);
        checkTable(decoder, example);
      }
    });

    test(`${group.name}: ${group.exact ? 'our encoder reproduces the exact octets' : 'our encoder round-trips'}`, () => {
      const encoder = new HpackEncoder({ huffman: group.huffman, maxTableSize: group.tableSize });
      const decoder = new HpackDecoder({ maxTableSize: 4096 });
      for (const example of group.examples) {
        const block = encoder.encode(example.fields);
        if (group.exact) assert.equal(block.toString('hex'), example.hex, example.id);
        assert.deepEqual(decoder.decode(block).fields, example.fields, example.id);
        assert.equal(decoder.tableSize, encoder.tableSize, `${example.id}: both tables hold the same octets`);
      }
    });
  }

  test('C.5: eviction at 256 octets drops the oldest entries first', () => {
    const decoder = new HpackDecoder({ maxTableSize: 256 });
    for (const example of C5_RESPONSES) decoder.decode(Buffer.from(example.hex, 'hex'));
    assert.equal(decoder.tableSize, 215);
    assert.deepEqual(
      decoder.tableContents().map(([name]) => name),
      ['set-cookie', 'content-encoding', 'date'],
    );
  });
});
