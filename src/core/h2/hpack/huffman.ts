/**
 * The Huffman coding of string literals (RFC 7541 §5.2, Appendix B).
 *
 * Theory of operation of the decoder: the code is a binary tree with 257 leaves (bytes and EOS) and
 * 256 inner nodes. At load time we walk, from every inner node, every 4-bit input, and record where
 * the walk ends and which symbol (at most one: the shortest code has 5 bits) it emitted on the way.
 * Decoding is then two table lookups per input octet. A walk that reaches EOS is an error. When the
 * input ends, the bits read since the last symbol are padding: they must be at most 7 and all ones,
 * which is the same as "the state is an inner node on the all-ones path from the root, at depth ≤ 7".
 */
import { HpackError } from './errors.js';
import { HUFFMAN_CODES } from './huffman-table.js';
import type { ByteWriter } from './integer.js';

const EOS = 256;
const CODES = new Uint32Array(257);
const LENGTHS = new Uint8Array(257);
for (let symbol = 0; symbol <= EOS; symbol++) {
  const [code, bits] = HUFFMAN_CODES[symbol]!;
  CODES[symbol] = code;
  LENGTHS[symbol] = bits;
}

// Transitions: [state * 16 + nibble] → next state | emitted symbol << 8 | flags. No symbol is 0x1ff.
const NO_SYMBOL = 0x1ff;
const FAILS = 1 << 17;

/**
 * The decoder's tables, made on the first Huffman-coded string decoded: about 1-2 ms of
 * interpreted loops that a process speaking no HTTP/2 (a plain `sockhttp get`) would pay at start.
 */
let decoder: { transitions: Uint32Array; acceptsEnd: Uint8Array } | null = null;

function decoderTables(): { transitions: Uint32Array; acceptsEnd: Uint8Array } {
  // The tree: inner nodes 0..255 (0 is the root); a child is an inner node id, or ~symbol for a leaf.
  const children = new Int32Array(256 * 2).fill(0x7fffffff);
  let nodes = 1;
  for (let symbol = 0; symbol <= EOS; symbol++) {
    let node = 0;
    for (let bit = LENGTHS[symbol]! - 1; bit >= 0; bit--) {
      const slot = node * 2 + ((CODES[symbol]! >>> bit) & 1);
      if (bit === 0) children[slot] = ~symbol;
      else {
        if (children[slot] === 0x7fffffff) children[slot] = nodes++;
        node = children[slot]!;
      }
    }
  }
  // Per inner node: true when the path to it is all ones and at most 7 long (valid padding, §5.2).
  const acceptsEnd = new Uint8Array(256);
  for (let node = 0, depth = 0; depth <= 7 && node >= 0; depth++) {
    acceptsEnd[node] = 1;
    node = children[node * 2 + 1]!;
  }
  const transitions = new Uint32Array(256 * 16);
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let symbol = NO_SYMBOL;
      let fails = 0;
      for (let bit = 3; bit >= 0; bit--) {
        const child = children[node * 2 + ((nibble >>> bit) & 1)]!;
        if (child >= 0) node = child;
        else {
          if (~child === EOS) fails = FAILS;
          symbol = ~child;
          node = 0;
        }
      }
      transitions[state * 16 + nibble] = node | (symbol << 8) | fails;
    }
  }
  return { transitions, acceptsEnd };
}

/** Reused across calls (decoding is synchronous): grows to the longest string seen. */
let scratch = Buffer.allocUnsafe(1024);
const MAX_SCRATCH = 64 * 1024;

/** Decodes `block[start, end)` as a Huffman-coded string into latin1 text. */
export function decodeHuffman(block: Uint8Array, start: number, end: number): string {
  // Every symbol takes at least 5 bits.
  const maxLength = Math.floor(((end - start) * 8) / 5);
  // The shared buffer grows to 64 KiB at most: a larger string gets its own, so one huge block does
  // not pin its size in memory for the life of the process.
  if (scratch.length < maxLength && maxLength <= MAX_SCRATCH)
    scratch = Buffer.allocUnsafe(Math.min(MAX_SCRATCH, Math.max(maxLength, scratch.length * 2)));
  const out = maxLength <= scratch.length ? scratch : Buffer.allocUnsafe(maxLength);
  decoder ??= decoderTables();
  const { transitions, acceptsEnd } = decoder;
  let length = 0;
  let state = 0;
  for (let offset = start; offset < end; offset++) {
    const octet = block[offset]!;
    for (let shift = 4; shift >= 0; shift -= 4) {
      const transition = transitions[state * 16 + ((octet >>> shift) & 0xf)]!;
      if ((transition & FAILS) !== 0) throw new HpackError('bad-huffman', 'EOS inside a Huffman-coded string');
      const symbol = (transition >>> 8) & NO_SYMBOL;
      if (symbol !== NO_SYMBOL) out[length++] = symbol;
      state = transition & 0xff;
    }
  }
  if (acceptsEnd[state] !== 1) throw new HpackError('bad-huffman', 'bad padding at the end of a Huffman-coded string');
  return out.toString('latin1', 0, length);
}

/** The Huffman-coded length in octets of a latin1 string. */
export function huffmanLength(text: string): number {
  let bits = 0;
  for (let i = 0; i < text.length; i++) bits += LENGTHS[text.charCodeAt(i) & 0xff]!;
  return (bits + 7) >>> 3;
}

/** Writes the Huffman coding of a latin1 string, padded with ones to an octet (§5.2). */
export function writeHuffman(writer: ByteWriter, text: string, encodedLength: number): void {
  writer.reserve(encodedLength);
  const out = writer.buffer;
  let at = writer.length;
  // `pending` holds `pendingBits` (< 8) bits not yet written; the shifts stay within 32 bits because
  // a code longer than 24 bits is added in two steps.
  let pending = 0;
  let pendingBits = 0;
  for (let i = 0; i < text.length; i++) {
    const symbol = text.charCodeAt(i) & 0xff;
    let code = CODES[symbol]!;
    let bits = LENGTHS[symbol]!;
    if (bits > 24) {
      pending = (pending << (bits - 8)) | (code >>> 8);
      pendingBits += bits - 8;
      while (pendingBits >= 8) {
        pendingBits -= 8;
        out[at++] = pending >>> pendingBits;
      }
      pending &= (1 << pendingBits) - 1;
      code &= 0xff;
      bits = 8;
    }
    pending = (pending << bits) | code;
    pendingBits += bits;
    while (pendingBits >= 8) {
      pendingBits -= 8;
      out[at++] = pending >>> pendingBits;
    }
    pending &= (1 << pendingBits) - 1;
  }
  if (pendingBits > 0) out[at++] = (pending << (8 - pendingBits)) | (0xff >>> pendingBits);
  writer.length = at;
}
