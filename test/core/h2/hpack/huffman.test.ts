import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { HpackError } from '../../../../src/core/h2/hpack/errors.js';
import { decodeHuffman, huffmanLength, writeHuffman } from '../../../../src/core/h2/hpack/huffman.js';
import { HUFFMAN_CODES } from '../../../../src/core/h2/hpack/huffman-table.js';
import { ByteWriter } from '../../../../src/core/h2/hpack/integer.js';
import { makeRandom } from '../../../../fuzz/common.js';

function encode(text: string): Buffer {
  const writer = new ByteWriter(1);
  writeHuffman(writer, text, huffmanLength(text));
  return writer.take();
}

const decode = (bytes: Buffer) => decodeHuffman(bytes, 0, bytes.length);

function assertBadHuffman(bytes: Buffer): void {
  assert.throws(
    () => decode(bytes),
    (error: unknown) => error instanceof HpackError && error.code === 'bad-huffman',
    bytes.toString('hex'),
  );
}

/** Writes symbol codes bit by bit, the slow and obvious way, to check the fast encoder against. */
function bitsOf(symbols: number[]): string {
  return symbols.map((symbol) => HUFFMAN_CODES[symbol]![0].toString(2).padStart(HUFFMAN_CODES[symbol]![1], '0')).join('');
}

function packBits(bits: string): Buffer {
  return Buffer.from(
    Array.from({ length: Math.ceil(bits.length / 8) }, (_, i) => Number.parseInt(bits.slice(i * 8, i * 8 + 8).padEnd(8, '1'), 2)),
  );
}

describe('the Huffman code table (RFC 7541 Appendix B)', () => {
  test('has 257 entries whose codes fit their lengths (5..30 bits)', () => {
    assert.equal(HUFFMAN_CODES.length, 257);
    for (const [code, bits] of HUFFMAN_CODES) {
      assert.ok(bits >= 5 && bits <= 30);
      assert.ok(code < 2 ** bits);
    }
  });

  test('is canonical: sorted by (length, symbol), each code is the previous plus one, shifted to its length', () => {
    const order = HUFFMAN_CODES.map(([code, bits], symbol) => ({ code, bits, symbol })).sort(
      (a, b) => a.bits - b.bits || a.symbol - b.symbol,
    );
    let expected = 0;
    let previousBits = order[0]!.bits;
    for (const { code, bits, symbol } of order) {
      expected *= 2 ** (bits - previousBits);
      previousBits = bits;
      assert.equal(code, expected, `symbol ${symbol}`);
      expected++;
    }
    // The last code is all ones (EOS, 30 bits), so the code space is used up exactly.
    assert.equal(expected, 2 ** 30);
  });

  test('is prefix-free and complete: the Kraft sum is exactly 1', () => {
    let sum = 0n;
    for (const [, bits] of HUFFMAN_CODES) sum += 1n << BigInt(30 - bits);
    assert.equal(sum, 1n << 30n);
    const codes = HUFFMAN_CODES.map(([code, bits]) => code.toString(2).padStart(bits, '0')).sort();
    for (let i = 1; i < codes.length; i++) assert.ok(!codes[i]!.startsWith(codes[i - 1]!), `${codes[i - 1]} is a prefix of ${codes[i]}`);
  });

  test('matches the code of an implementation nobody here wrote (hpack.js), symbol by symbol, EOS included', () => {
    const theirs = createRequire(import.meta.url)('hpack.js/lib/hpack/huffman.js').encode as [number, number][];
    assert.equal(theirs.length, 257);
    for (let symbol = 0; symbol <= 256; symbol++) {
      const [bits, code] = theirs[symbol]!;
      assert.deepEqual(HUFFMAN_CODES[symbol], [code >>> 0, bits], `symbol ${symbol}`);
    }
  });

  test('a few codes as printed in the RFC', () => {
    assert.deepEqual(HUFFMAN_CODES[0x30], [0x0, 5]); // '0'
    assert.deepEqual(HUFFMAN_CODES[0x20], [0x14, 6]); // ' '
    assert.deepEqual(HUFFMAN_CODES[0x0a], [0x3ffffffc, 30]);
    assert.deepEqual(HUFFMAN_CODES[0xff], [0x3ffffee, 26]);
    assert.deepEqual(HUFFMAN_CODES[256], [0x3fffffff, 30]);
  });
});

describe('Huffman coding (RFC 7541 §5.2)', () => {
  test('every byte 0..255 round-trips alone, and its coding is its code padded with ones', () => {
    for (let symbol = 0; symbol < 256; symbol++) {
      const text = String.fromCharCode(symbol);
      const bytes = encode(text);
      assert.deepEqual(bytes, packBits(bitsOf([symbol])), `symbol ${symbol}`);
      assert.equal(decode(bytes), text, `symbol ${symbol}`);
    }
  });

  test('all 256 bytes in one string, and each byte next to every other byte length class', () => {
    const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');
    assert.equal(decode(encode(all)), all);
    const reversed = [...all].reverse().join('');
    assert.deepEqual(encode(reversed), packBits(bitsOf([...reversed].map((c) => c.charCodeAt(0)))));
  });

  test('random strings round-trip and match the bit-by-bit coding (seeded, 2,000 strings)', () => {
    const random = makeRandom(7541);
    for (let round = 0; round < 2000; round++) {
      const length = random(60);
      // Half printable ASCII (short codes), half any byte (long codes up to 30 bits).
      const symbols = Array.from({ length }, () => (round % 2 === 0 ? 32 + random(95) : random(256)));
      const text = String.fromCharCode(...symbols);
      const bytes = encode(text);
      assert.equal(bytes.length, huffmanLength(text));
      assert.deepEqual(bytes, packBits(bitsOf(symbols)));
      assert.equal(decode(bytes), text);
    }
  });

  test('the empty string is zero octets', () => {
    assert.equal(encode('').length, 0);
    assert.equal(decode(Buffer.alloc(0)), '');
  });

  test('padding of up to 7 one bits is accepted', () => {
    // 'a' is 00011 (5 bits): 3 bits of padding.
    assert.equal(decode(Buffer.from([0b00011111])), 'a');
    // '0' '0' '0' is 15 bits: 1 bit of padding. 'e' '0' (00101 00000) + 6 bits of padding.
    assert.equal(decode(Buffer.from([0b00000000, 0b00000001])), '000');
    assert.equal(decode(Buffer.from([0b00101000, 0b00111111])), 'e0');
  });

  test('padding longer than 7 bits is refused (a whole octet of ones)', () => {
    assertBadHuffman(Buffer.from([0b00011111, 0xff]));
    assertBadHuffman(Buffer.from([0xff]));
    assertBadHuffman(Buffer.from([0xff, 0xff, 0xff]));
  });

  test('padding that is not all ones is refused', () => {
    assertBadHuffman(Buffer.from([0b00011110]));
    assertBadHuffman(Buffer.from([0b00011000]));
    assertBadHuffman(Buffer.from([0b00101000, 0b00111110]));
  });

  test('EOS inside the string is refused, wherever it falls', () => {
    // EOS is 30 ones: four octets of ones hold it.
    assertBadHuffman(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    assertBadHuffman(packBits(bitsOf([0x61, 256, 0x61])));
    assertBadHuffman(packBits(bitsOf([256])));
    for (let symbols = 0; symbols < 8; symbols++) assertBadHuffman(packBits(bitsOf([...Array(symbols).fill(0x30), 256])));
  });
});

test('a Huffman string longer than the shared decode buffer (64 KiB) decodes, and so does a short one after it', () => {
  const long = 'a'.repeat(200_000);
  assert.equal(decode(encode(long)), long);
  assert.equal(decode(encode('short')), 'short');
});
