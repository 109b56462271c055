import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type FieldCoding, HpackDecoder, HpackEncoder } from '../../../../src/core/h2/hpack/index.js';

function roundTrip(fields: [string, string][], encoder = new HpackEncoder(), decoder = new HpackDecoder()) {
  const encoded: FieldCoding[] = [];
  const decoded: FieldCoding[] = [];
  const block = encoder.encode(fields, encoded);
  assert.deepEqual(decoder.decode(block, decoded).fields, fields);
  // The decoder's trace sees what the encoder chose.
  assert.deepEqual(decoded, encoded);
  return { block, codings: encoded };
}

const representations = (codings: FieldCoding[]) => codings.map((coding) => coding.representation);

describe('the encoder policy', () => {
  test('a repeated varying value (Date, ETag) is sent as the same literal, copied, never indexed; a new value is coded afresh', () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    const first: [string, string][] = [
      ['date', 'Sat, 05 Dec 2026 01:02:03 GMT'],
      ['etag', '"5f3a-19c2b"'],
      ['content-length', '1234'],
    ];
    const once = roundTrip(first, encoder, decoder);
    const again = roundTrip(first, encoder, decoder);
    assert.ok(again.block.equals(once.block), 'the same bytes the second time');
    assert.deepEqual(again.codings, once.codings);
    assert.deepEqual(representations(again.codings), Array(3).fill('literal-without-indexing'));
    assert.equal(encoder.tableSize, 0);
    const next: [string, string][] = [
      ['date', 'Sat, 05 Dec 2026 01:02:04 GMT'],
      ['etag', '"5f3a-19c2b"'],
      ['content-length', '99'],
    ];
    const changed = roundTrip(next, encoder, decoder);
    assert.ok(!changed.block.equals(once.block));
    // A fresh encoder codes the new values to the same bytes: nothing stale was copied.
    assert.ok(changed.block.equals(new HpackEncoder().encode(next)));
    // A copy is described (for --trace) as the coding it copies.
    assert.deepEqual(again.codings, roundTrip(first).codings);
    assert.deepEqual(changed.codings, roundTrip(next).codings);
  });

  test('sensitive fields are never indexed (§7.1.3): credentials, set-cookie and short cookies', () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    const fields: [string, string][] = [
      ['authorization', 'Basic dXNlcjpwYXNz'],
      ['proxy-authorization', 'Basic eDp5'],
      ['set-cookie', 'id=a3fWa; Secure; HttpOnly'],
      ['cookie', 'sid=31d4d96e'],
    ];
    for (let round = 0; round < 2; round++) {
      const { codings } = roundTrip(fields, encoder, decoder);
      assert.deepEqual(representations(codings), Array(4).fill('literal-never-indexed'));
      // The name comes from the static table, only the value is a literal.
      assert.deepEqual(
        codings.map((coding) => coding.index),
        [23, 49, 55, 32],
      );
    }
    assert.equal(encoder.tableSize, 0);
    const long = roundTrip([['cookie', 'a-long-cookie=0123456789abcdef']], encoder, decoder);
    assert.deepEqual(representations(long.codings), ['literal-incremental']);
  });

  test('values that change on every response are not inserted in the table', () => {
    const encoder = new HpackEncoder();
    const fields: [string, string][] = [
      ['date', 'Fri, 04 Dec 2026 21:00:00 GMT'],
      ['content-length', '1234'],
      ['etag', '"abc"'],
      ['last-modified', 'Thu, 03 Dec 2026 10:00:00 GMT'],
      ['content-range', 'bytes 0-1/2'],
    ];
    const { codings } = roundTrip(fields, encoder);
    assert.deepEqual(representations(codings), Array(5).fill('literal-without-indexing'));
    assert.deepEqual(
      codings.map((coding) => coding.index),
      [33, 28, 34, 44, 30],
    );
    assert.equal(encoder.tableSize, 0);
  });

  test('stable fields go into the table, and the next block sends each in one octet', () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    const fields: [string, string][] = [
      [':status', '200'],
      ['content-type', 'text/html; charset=utf-8'],
      ['cache-control', 'no-cache'],
      ['server', 'sockhttp'],
      ['vary', 'accept-encoding'],
      ['x-frame-options', 'DENY'],
    ];
    const first = roundTrip(fields, encoder, decoder);
    assert.deepEqual(representations(first.codings), ['indexed', ...Array(5).fill('literal-incremental')]);
    assert.deepEqual(first.codings[5]!.index, null);
    const second = roundTrip(fields, encoder, decoder);
    assert.equal(second.block.length, 6);
    assert.deepEqual(
      second.codings.map((coding) => coding.index),
      [8, 66, 65, 64, 63, 62],
    );
    assert.equal(encoder.tableSize, decoder.tableSize);
    // A new value for a name already in the dynamic table refers to that name.
    const third = roundTrip([['x-frame-options', 'SAMEORIGIN']], encoder, decoder);
    assert.equal(third.codings[0]!.index, 62);
  });

  test('a value too large for half the table is sent without indexing (it would evict everything)', () => {
    const encoder = new HpackEncoder();
    roundTrip([['content-type', 'text/plain']], encoder);
    const { codings } = roundTrip([['x-big', 'y'.repeat(3000)]], encoder);
    assert.deepEqual(representations(codings), ['literal-without-indexing']);
    assert.equal(encoder.tableEntries, 1);
  });

  test('Huffman only when it is shorter', () => {
    const { codings } = roundTrip([
      ['x-text', 'www.example.com'],
      ['x-binary', '\u00ff\u00fe\u00fd\u0001'],
    ]);
    assert.deepEqual(
      codings.map((coding) => [coding.nameHuffman, coding.valueHuffman]),
      [
        [true, true],
        [true, false],
      ],
    );
    const plain = roundTrip([['x-text', 'www.example.com']], new HpackEncoder({ huffman: false }));
    assert.deepEqual([plain.codings[0]!.nameHuffman, plain.codings[0]!.valueHuffman], [false, false]);
  });

  test('the peer lowering its table size: the next block starts with the update and the table is emptied to fit', () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    roundTrip(
      [
        ['x-a', 'a'.repeat(100)],
        ['x-b', 'b'.repeat(100)],
      ],
      encoder,
      decoder,
    );
    assert.equal(encoder.tableEntries, 2);
    encoder.setMaxTableSize(200);
    decoder.setMaxTableSize(200);
    const { block } = roundTrip([['x-c', 'c']], encoder, decoder);
    assert.equal(block[0]! & 0xe0, 0x20);
    assert.equal(encoder.tableEntries, 2);
    assert.equal(encoder.tableSize, decoder.tableSize);
    // No change, no update.
    encoder.setMaxTableSize(200);
    assert.notEqual(encoder.encode([[':method', 'GET']])[0]! & 0xe0, 0x20);
  });

  test('a peer announcing more than our cap does not make our table grow (no update sent)', () => {
    const encoder = new HpackEncoder();
    encoder.setMaxTableSize(1 << 20);
    assert.deepEqual([...encoder.encode([[':method', 'GET']])], [0x82]);
  });

  test('the empty list is the empty block', () => {
    assert.equal(new HpackEncoder().encode([]).length, 0);
    assert.deepEqual(new HpackDecoder().decode(Buffer.alloc(0)), { fields: [], tooLarge: false });
  });

  test('the decoder keeps names exactly as sent (the caller checks case, RFC 9113 §8.2.1)', () => {
    assert.deepEqual(new HpackDecoder().decode(Buffer.from('0003436174017a', 'hex')).fields, [['Cat', 'z']]);
  });
});
