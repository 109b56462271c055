/**
 * What the connection needs of HPACK (RFC 7541): an encoder and a decoder that own their dynamic
 * tables. hpack/index.ts provides them (HpackEncoder, HpackDecoder); the connection takes them as
 * parameters, so its tests can also run with a codec that lets them write any header block by hand.
 */
import type { FieldCoding } from './hpack/index.js';

export type { FieldCoding };

export interface HeaderEncoder {
  encode(fields: readonly (readonly [string, string])[], codings?: FieldCoding[]): Buffer;
  setMaxTableSize(size: number): void;
  readonly tableSize: number;
}

export interface HeaderDecoder {
  /** Throws on a block that cannot be decoded; `tooLarge` when the fields exceed the list size limit. */
  decode(block: Buffer, codings?: FieldCoding[]): { fields: [string, string][]; tooLarge: boolean };
  setMaxTableSize(size: number): void;
  readonly tableSize: number;
}
