import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HpackDecoder, HpackError } from '../../../../src/core/h2/hpack/index.js';
import { ByteWriter, encodeInteger } from '../../../../src/core/h2/hpack/integer.js';
import { makeRandom } from '../../../../fuzz/common.js';
import { C3_REQUESTS, C4_REQUESTS_HUFFMAN, C5_RESPONSES, C6_RESPONSES_HUFFMAN } from './rfc7541-examples.js';

function assertHpackError(run: () => unknown, code: string, label = ''): void {
  assert.throws(
    run,
    (error: unknown) => {
      if (!(error instanceof HpackError)) throw error;
      assert.equal(error.code, code, label);
      return true;
    },
    label,
  );
}

const hex = (text: string) => Buffer.from(text.replace(/\s/g, ''), 'hex');

describe('hostile field blocks', () => {
  test('index 0 is refused, as a field and as a name', () => {
    assertHpackError(() => new HpackDecoder().decode(hex('80')), 'bad-index');
    // Literal with incremental indexing "name index 0" means a literal name, so 0 is only bad for 0x80.
    assert.deepEqual(new HpackDecoder().decode(hex('40 01 61 01 62')).fields, [['a', 'b']]);
  });

  test('an index past the static table with an empty dynamic table, and past a filled one', () => {
    assert.deepEqual(new HpackDecoder().decode(hex('bd')).fields, [['www-authenticate', '']]); // 61, the last static entry
    assertHpackError(() => new HpackDecoder().decode(hex('be')), 'bad-index'); // 62, nothing there
    assertHpackError(() => new HpackDecoder().decode(hex('7e 01 62')), 'bad-index'); // name index 62
    assertHpackError(() => new HpackDecoder().decode(hex('0f 2f 01 62')), 'bad-index'); // name index 62 (4-bit prefix)
    const decoder = new HpackDecoder();
    decoder.decode(hex('40 01 61 01 62'));
    assert.deepEqual(decoder.decode(hex('be')).fields, [['a', 'b']]);
    assertHpackError(() => decoder.decode(hex('bf')), 'bad-index');
    assertHpackError(() => decoder.decode(hex('ff ff ff ff 07')), 'bad-index'); // a large but legal integer
  });

  test('a size update above our SETTINGS_HEADER_TABLE_SIZE is refused; at or below it is applied', () => {
    assertHpackError(() => new HpackDecoder().decode(hex('3f e2 1f')), 'table-size-update-too-large'); // 4097
    const decoder = new HpackDecoder({ maxTableSize: 100 });
    assertHpackError(() => decoder.decode(hex('3f 46')), 'table-size-update-too-large'); // 101
    const fresh = new HpackDecoder();
    fresh.decode(hex('40 01 61 01 62'));
    assert.equal(fresh.tableEntries, 1);
    fresh.decode(hex('20')); // size 0 empties the table
    assert.equal(fresh.tableEntries, 0);
    assertHpackError(() => fresh.decode(hex('be')), 'bad-index');
    fresh.decode(hex('3f e1 1f 40 01 61 01 62')); // back to 4096
    assert.equal(fresh.tableEntries, 1);
  });

  test('a size update after a field line is refused (§4.2); two at the start are fine', () => {
    assertHpackError(() => new HpackDecoder().decode(hex('82 20')), 'table-size-update-misplaced');
    assertHpackError(() => new HpackDecoder().decode(hex('20 82 3f e1 1f')), 'table-size-update-misplaced');
    assert.deepEqual(new HpackDecoder().decode(hex('20 3f e1 1f 82')).fields, [[':method', 'GET']]);
  });

  test('after we lower our setting, the next block must start with a size update within it', () => {
    const decoder = new HpackDecoder();
    decoder.setMaxTableSize(100);
    assertHpackError(() => decoder.decode(hex('82')), 'table-size-update-missing');
    assertHpackError(() => decoder.decode(hex('3f 46 82')), 'table-size-update-too-large');
    assert.deepEqual(decoder.decode(hex('3f 45 82')).fields, [[':method', 'GET']]);
    assert.deepEqual(decoder.decode(hex('82')).fields, [[':method', 'GET']]);
    // Raising it asks nothing of the peer.
    decoder.setMaxTableSize(8192);
    assert.deepEqual(decoder.decode(hex('82')).fields, [[':method', 'GET']]);
  });

  test('a string longer than the block, and a literal cut before its value, are truncated', () => {
    assertHpackError(() => new HpackDecoder().decode(hex('40 05 61')), 'truncated');
    assertHpackError(() => new HpackDecoder().decode(hex('40 01 61')), 'truncated');
    assertHpackError(() => new HpackDecoder().decode(hex('41')), 'truncated');
    assertHpackError(() => new HpackDecoder().decode(hex('40 7f ff ff ff 07')), 'truncated');
  });

  test('every strict prefix of every RFC example block throws HpackError or decodes fewer fields', () => {
    let prefixes = 0;
    for (const group of [C3_REQUESTS, C4_REQUESTS_HUFFMAN, C5_RESPONSES, C6_RESPONSES_HUFFMAN]) {
      const size = group === C5_RESPONSES || group === C6_RESPONSES_HUFFMAN ? 256 : 4096;
      // Each prefix is tried on a decoder in the state the full previous blocks left it in.
      const history: Buffer[] = [];
      for (const example of group) {
        const block = hex(example.hex);
        for (let end = 0; end < block.length; end++) {
          const decoder = new HpackDecoder({ maxTableSize: size });
          for (const previous of history) decoder.decode(previous);
          prefixes++;
          try {
            const decoded = decoder.decode(block.subarray(0, end));
            assert.ok(decoded.fields.length < example.fields.length, `${example.id} cut at ${end}`);
            assert.deepEqual(decoded.fields, example.fields.slice(0, decoded.fields.length));
          } catch (error) {
            if (!(error instanceof HpackError)) throw error;
          }
        }
        history.push(block);
      }
    }
    assert.ok(prefixes > 300);
  });

  test('random bytes throw nothing but HpackError (seeded, 20,000 blocks)', () => {
    const random = makeRandom(13);
    const outcomes = { decoded: 0, refused: 0 };
    const decoder = new HpackDecoder({ maxHeaderListSize: 4096 });
    for (let round = 0; round < 20_000; round++) {
      const block = Buffer.from(Array.from({ length: random(40) }, () => random(256)));
      try {
        // A shared decoder, so later blocks meet whatever earlier ones put in the table; after an
        // error a connection would end, so start over.
        decoder.decode(block);
        outcomes.decoded++;
      } catch (error) {
        if (!(error instanceof HpackError)) throw error;
        outcomes.refused++;
      }
    }
    assert.ok(outcomes.decoded > 100 && outcomes.refused > 100, JSON.stringify(outcomes));
  });

  test('an HPACK bomb (one 4000-octet value indexed 10,000 times) is counted, not materialised', () => {
    const value = 'x'.repeat(4000);
    // Literal with incremental indexing, literal name 'b', then the value's length as a prefix integer.
    const writer = new ByteWriter();
    writer.latin1('\x40\x01b');
    encodeInteger(writer, value.length, 7, 0x00);
    writer.latin1(value);
    const block = Buffer.concat([writer.take(), Buffer.alloc(10_000, 0xbe)]);
    const decoder = new HpackDecoder({ maxHeaderListSize: 16 * 1024 });
    const before = process.memoryUsage().heapUsed;
    const decoded = decoder.decode(block);
    const grown = process.memoryUsage().heapUsed - before;
    assert.equal(decoded.tooLarge, true);
    assert.ok(decoded.fields.length <= 4, `${decoded.fields.length} fields kept`);
    const kept = decoded.fields.reduce((sum, [name, value]) => sum + name.length + value.length + 32, 0);
    assert.ok(kept <= 16 * 1024);
    // 10,000 × 4 KB would be 40 MB of strings; a few MB of slack for the collector's timing.
    assert.ok(grown < 8 * 1024 * 1024, `heap grew by ${grown}`);
    // The table stays in step: the next block can still refer to the entry.
    assert.deepEqual(decoder.decode(hex('be')).fields, [['b', value]]);
  });

  test('the list size counts name + value + 32 per field (RFC 9113 §6.5.2), and the limit is inclusive', () => {
    const decoder = new HpackDecoder({ maxHeaderListSize: 2 * (1 + 1 + 32) });
    assert.deepEqual(decoder.decode(hex('00 01 61 01 62 00 01 61 01 62')), {
      fields: [
        ['a', 'b'],
        ['a', 'b'],
      ],
      tooLarge: false,
    });
    const decoded = decoder.decode(hex('00 01 61 01 62 00 01 61 01 62 00 01 61 01 62'));
    assert.deepEqual(decoded, {
      fields: [
        ['a', 'b'],
        ['a', 'b'],
      ],
      tooLarge: true,
    });
  });
});
