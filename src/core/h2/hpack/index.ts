/**
 * HPACK, header compression for HTTP/2 (RFC 7541): pure and without I/O. One HpackDecoder and one
 * HpackEncoder per connection, each owning its dynamic table.
 *
 * @example
 *   const encoder = new HpackEncoder();
 *   const decoder = new HpackDecoder({ maxHeaderListSize: 16 * 1024 });
 *   const block = encoder.encode([[':status', '200'], ['content-type', 'text/html']]);
 *   decoder.decode(block).fields; // [[':status', '200'], ['content-type', 'text/html']]
 */
export { DEFAULT_MAX_HEADER_LIST_SIZE, DEFAULT_TABLE_SIZE, HpackDecoder, type HpackDecoderOptions } from './decoder.js';
export { HpackEncoder, type HpackEncoderOptions } from './encoder.js';
export { HpackError, type HpackErrorCode } from './errors.js';
export type { DecodedBlock, FieldCoding, FieldRepresentation } from './types.js';
