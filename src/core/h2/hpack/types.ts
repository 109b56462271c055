export type FieldRepresentation = 'indexed' | 'literal-incremental' | 'literal-without-indexing' | 'literal-never-indexed';

/** How one field line was coded, for --trace (RFC 7541 §6). */
export interface FieldCoding {
  name: string;
  value: string;
  representation: FieldRepresentation;
  /** The index used (static 1..61, dynamic 62..), for the field or for its name; null when the name was a literal. */
  index: number | null;
  /** Whether each string literal was Huffman-coded; null when it was not a literal string. */
  nameHuffman: boolean | null;
  valueHuffman: boolean | null;
}

export interface DecodedBlock {
  /** Field lines in order, names exactly as sent (HPACK does not lowercase; the caller checks case). */
  fields: [name: string, value: string][];
  /**
   * True when the decoded list passed maxHeaderListSize: the block was still fully decoded so the
   * dynamic table stays in sync (RFC 7541 §4, RFC 9113 §4.3), but fields beyond the limit were not
   * materialised (an HPACK bomb — one big entry indexed thousands of times — costs no memory).
   */
  tooLarge: boolean;
}
