/**
 * Prefix integers (RFC 7541 §5.1). A value below 2^N-1 fits in the N low bits of the first octet;
 * larger values fill the prefix with ones and continue in 7-bit groups, least significant first,
 * the high bit of each octet saying "more follows".
 */
import { HpackError } from './errors.js';

/**
 * The largest integer we accept. RFC 7541 §5.1 leaves the bound to implementations; 2^31-1 covers
 * every index, length and table size HTTP/2 can announce (its settings are 32-bit, lengths fit in
 * a frame), and keeps arithmetic exact in 32-bit integers.
 */
export const MAX_INTEGER = 0x7fffffff;

/** At most this many continuation octets: 2^31-1 needs 5 (5 × 7 bits ≥ 31 bits). Zero-padded encodings longer than that are refused. */
const MAX_CONTINUATION_OCTETS = 5;

/** A read position inside a block, advanced by the readers (one object per decoder, not per read). */
export interface Cursor {
  offset: number;
}

/**
 * Reads an integer with an N-bit prefix (1..8) starting at `cursor.offset`, whose high bits belong to
 * the representation, and advances the cursor past it.
 */
export function decodeInteger(block: Uint8Array, cursor: Cursor, prefixBits: number): number {
  let offset = cursor.offset;
  if (offset >= block.length) throw new HpackError('truncated', 'the block ends before an integer');
  const prefixMax = (1 << prefixBits) - 1;
  let value = block[offset++]! & prefixMax;
  if (value < prefixMax) {
    cursor.offset = offset;
    return value;
  }
  for (let count = 0; ; count++) {
    if (count === MAX_CONTINUATION_OCTETS) throw new HpackError('integer-overflow', 'an integer with too many continuation octets');
    if (offset >= block.length) throw new HpackError('truncated', 'the block ends inside an integer');
    const octet = block[offset++]!;
    // Multiplication, not shifts: 7 × 4 = 28 bits of shift plus the prefix can pass 2^31.
    value += (octet & 0x7f) * 2 ** (7 * count);
    if (value > MAX_INTEGER) throw new HpackError('integer-overflow', 'an integer past 2^31-1');
    if ((octet & 0x80) === 0) break;
  }
  cursor.offset = offset;
  return value;
}

/** A growable output buffer for the encoder: written by offset, no per-byte allocation. */
export class ByteWriter {
  buffer: Buffer;
  length = 0;

  constructor(initialSize = 256) {
    this.buffer = Buffer.allocUnsafe(initialSize);
  }

  /** Makes room for `count` more octets. */
  reserve(count: number): void {
    const needed = this.length + count;
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  byte(octet: number): void {
    this.reserve(1);
    this.buffer[this.length++] = octet;
  }

  /** Appends a string's octets (latin1: one char code, one octet). */
  latin1(text: string): void {
    this.reserve(text.length);
    this.length += this.buffer.write(text, this.length, 'latin1');
  }

  bytes(octets: Buffer): void {
    this.reserve(octets.length);
    this.length += octets.copy(this.buffer, this.length);
  }

  /** The written octets, copied out so the writer can be reused. */
  take(): Buffer {
    const result = Buffer.from(this.buffer.subarray(0, this.length));
    this.length = 0;
    return result;
  }
}

/** Writes `value` with an N-bit prefix; `flags` are the representation's bits above the prefix. */
export function encodeInteger(writer: ByteWriter, value: number, prefixBits: number, flags: number): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_INTEGER) throw new RangeError(`cannot encode the integer ${value}`);
  const prefixMax = (1 << prefixBits) - 1;
  if (value < prefixMax) {
    writer.byte(flags | value);
    return;
  }
  writer.byte(flags | prefixMax);
  let rest = value - prefixMax;
  while (rest >= 0x80) {
    writer.byte((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  writer.byte(rest);
}
