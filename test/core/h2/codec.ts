/**
 * Header codecs for the connection tests. `realCodecs` is HPACK (src/core/h2/hpack); `plainCodecs`
 * is a length-prefixed stand-in that lets a test write a header block by hand (a field with an
 * uppercase name, a pseudo-header after a regular field) without an HPACK encoder's opinions.
 */
import type { FieldCoding, HeaderDecoder, HeaderEncoder } from '../../../src/core/h2/header-codec.js';
import { HpackDecoder, HpackEncoder } from '../../../src/core/h2/hpack/index.js';

/** name length (2 bytes), name, value length (2 bytes), value; latin1. */
export function plainBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    for (const text of [name, value]) {
      const bytes = Buffer.from(text, 'latin1');
      const length = Buffer.alloc(2);
      length.writeUInt16BE(bytes.length);
      parts.push(length, bytes);
    }
  }
  return Buffer.concat(parts);
}

export class PlainEncoder implements HeaderEncoder {
  encode(fields: readonly (readonly [string, string])[], codings?: FieldCoding[]): Buffer {
    for (const [name, value] of fields) {
      codings?.push({ name, value, representation: 'literal-without-indexing', index: null, nameHuffman: false, valueHuffman: false });
    }
    return plainBlock(fields);
  }
  setMaxTableSize(): void {}
  get tableSize(): number {
    return 0;
  }
}

export class PlainDecoder implements HeaderDecoder {
  readonly #maxListSize: number;
  constructor(maxListSize = 64 * 1024) {
    this.#maxListSize = maxListSize;
  }
  decode(block: Buffer, codings?: FieldCoding[]): { fields: [string, string][]; tooLarge: boolean } {
    const fields: [string, string][] = [];
    let offset = 0;
    let size = 0;
    const read = () => {
      if (offset + 2 > block.length) throw Object.assign(new Error('truncated'), { code: 'truncated' });
      const length = block.readUInt16BE(offset);
      if (offset + 2 + length > block.length) throw Object.assign(new Error('truncated'), { code: 'truncated' });
      const text = block.toString('latin1', offset + 2, offset + 2 + length);
      offset += 2 + length;
      return text;
    };
    while (offset < block.length) {
      const name = read();
      const value = read();
      size += name.length + value.length + 32;
      fields.push([name, value]);
      codings?.push({ name, value, representation: 'literal-without-indexing', index: null, nameHuffman: false, valueHuffman: false });
    }
    return { fields, tooLarge: size > this.#maxListSize };
  }
  setMaxTableSize(): void {}
  get tableSize(): number {
    return 0;
  }
}

export function plainCodecs(maxListSize?: number): { encoder: HeaderEncoder; decoder: HeaderDecoder } {
  return { encoder: new PlainEncoder(), decoder: new PlainDecoder(maxListSize) };
}

/** The codecs for a test: 'plain' (hand-written blocks) or 'hpack' (RFC 7541, as the server uses). */
export function makeCodecs(kind: 'hpack' | 'plain', maxListSize?: number): { encoder: HeaderEncoder; decoder: HeaderDecoder } {
  if (kind === 'plain') return plainCodecs(maxListSize);
  return { encoder: new HpackEncoder(), decoder: new HpackDecoder(maxListSize === undefined ? {} : { maxHeaderListSize: maxListSize }) };
}
