/**
 * Every way a field block can break RFC 7541, as a stable string code. Any of them is a connection
 * error of type COMPRESSION_ERROR (RFC 9113 §4.3): the decoder's table can no longer be trusted.
 * Messages never contain the peer's bytes.
 */
export type HpackErrorCode =
  /** A prefix integer past 2^31-1, or with more continuation bytes than such a value needs (§5.1). */
  | 'integer-overflow'
  /** Index 0, or an index past the static and dynamic tables (§2.3.3, §6.1). */
  | 'bad-index'
  /** Huffman padding longer than 7 bits or not all ones, or EOS inside the string (§5.2). */
  | 'bad-huffman'
  /** The block ends inside a representation. */
  | 'truncated'
  /** A dynamic table size update above the SETTINGS_HEADER_TABLE_SIZE we announced (§6.3). */
  | 'table-size-update-too-large'
  /** A dynamic table size update after the first field line of a block (§4.2). */
  | 'table-size-update-misplaced'
  /** We lowered SETTINGS_HEADER_TABLE_SIZE and the next block did not start with a size update (§4.2). */
  | 'table-size-update-missing';

export class HpackError extends Error {
  override readonly name = 'HpackError';
  readonly code: HpackErrorCode;

  constructor(code: HpackErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
