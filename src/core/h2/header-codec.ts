/**
 * What the connection needs of HPACK (RFC 7541): an encoder and a decoder that own their dynamic
 * tables. hpack/index.ts provides them; the connection takes them as parameters, so its tests can
 * also run with a codec that shows what each field was.
 */
export interface FieldCoding {
  name: string;
  value: string;
  representation: 'indexed' | 'literal-incremental' | 'literal-without-indexing' | 'literal-never-indexed';
  index: number | null;
  nameHuffman: boolean | null;
  valueHuffman: boolean | null;
}

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
