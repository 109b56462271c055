import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HpackError } from '../../../../src/core/h2/hpack/errors.js';
import { ByteWriter, decodeInteger, encodeInteger, MAX_INTEGER } from '../../../../src/core/h2/hpack/integer.js';

function encode(value: number, prefixBits: number, flags = 0): Buffer {
  const writer = new ByteWriter(1);
  encodeInteger(writer, value, prefixBits, flags);
  return writer.take();
}

function decode(bytes: number[] | Buffer, prefixBits: number): { value: number; offset: number } {
  const cursor = { offset: 0 };
  const value = decodeInteger(Buffer.from(bytes), cursor, prefixBits);
  return { value, offset: cursor.offset };
}

function assertHpackError(run: () => unknown, code: string): void {
  assert.throws(run, (error: unknown) => error instanceof HpackError && error.code === code);
}

describe('prefix integers (RFC 7541 §5.1)', () => {
  test('C.1.1: 10 with a 5-bit prefix is one octet', () => {
    assert.deepEqual([...encode(10, 5)], [0b01010]);
    assert.deepEqual(decode([0b01010], 5), { value: 10, offset: 1 });
  });

  test('C.1.2: 1337 with a 5-bit prefix is 31, 154, 10', () => {
    assert.deepEqual([...encode(1337, 5)], [31, 154, 10]);
    assert.deepEqual(decode([31, 154, 10], 5), { value: 1337, offset: 3 });
  });

  test('C.1.3: 42 at an octet boundary (8-bit prefix)', () => {
    assert.deepEqual([...encode(42, 8)], [42]);
    assert.deepEqual(decode([42], 8), { value: 42, offset: 1 });
  });

  test('the bits above the prefix are kept by the encoder and ignored by the decoder', () => {
    assert.deepEqual([...encode(3, 4, 0x10)], [0x13]);
    assert.deepEqual(decode([0xf3], 4), { value: 3, offset: 1 });
  });

  test('every prefix 1..8 round-trips its boundaries and the maximum', () => {
    for (let prefixBits = 1; prefixBits <= 8; prefixBits++) {
      const prefixMax = 2 ** prefixBits - 1;
      const values = [
        0,
        1,
        prefixMax - 1,
        prefixMax,
        prefixMax + 1,
        prefixMax + 127,
        prefixMax + 128,
        16383,
        16384,
        2 ** 21,
        2 ** 28,
        MAX_INTEGER,
      ];
      for (const value of values) {
        if (value < 0) continue;
        const bytes = encode(value, prefixBits);
        assert.equal(bytes.length, value < prefixMax ? 1 : 1 + Math.max(1, Math.ceil(Math.log2(value - prefixMax + 1) / 7)));
        assert.deepEqual(decode(bytes, prefixBits), { value, offset: bytes.length }, `${value} with prefix ${prefixBits}`);
        // Every strict prefix of the encoding is truncated.
        for (let end = 0; end < bytes.length; end++) assertHpackError(() => decode(bytes.subarray(0, end), prefixBits), 'truncated');
      }
    }
  });

  test('integers past 2^31-1 are refused', () => {
    for (let prefixBits = 1; prefixBits <= 8; prefixBits++) {
      const prefixMax = 2 ** prefixBits - 1;
      // 2^31 exactly: the largest accepted plus one, written by hand since our encoder refuses it.
      const rest = MAX_INTEGER + 1 - prefixMax;
      const continuation: number[] = [];
      for (let left = rest; ; left = Math.floor(left / 128)) {
        if (left < 128) {
          continuation.push(left);
          break;
        }
        continuation.push((left % 128) | 0x80);
      }
      assertHpackError(() => decode([prefixMax, ...continuation], prefixBits), 'integer-overflow');
    }
    assertHpackError(() => decode([0x1f, 0xff, 0xff, 0xff, 0xff, 0x7f], 5), 'integer-overflow');
    assert.throws(() => encode(MAX_INTEGER + 1, 5), RangeError);
  });

  test('more than 5 continuation octets are refused even when the value is small (zero padding)', () => {
    assert.deepEqual(decode([0x1f, 0x80, 0x80, 0x80, 0x80, 0x00], 5), { value: 31, offset: 6 });
    assertHpackError(() => decode([0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 5), 'integer-overflow');
    // An endless run of continuation octets costs at most 6 reads.
    assertHpackError(() => decode(Buffer.alloc(1_000_000, 0x80).fill(0xff, 0, 1), 8), 'integer-overflow');
  });
});
