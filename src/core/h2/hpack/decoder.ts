/**
 * The HPACK decoder (RFC 7541 §3, §6): one per connection, fed whole field blocks in the order they
 * arrive, since each block may change the dynamic table the next one refers to.
 *
 * A block is a sequence of representations, told apart by their first bits:
 *   1xxxxxxx  indexed field line (§6.1)
 *   01xxxxxx  literal with incremental indexing (§6.2.1): the field is added to the dynamic table
 *   001xxxxx  dynamic table size update (§6.3), only before the first field line (§4.2)
 *   0001xxxx  literal never indexed (§6.2.3)
 *   0000xxxx  literal without indexing (§6.2.2)
 * Any malformed input throws HpackError; the caller must then treat the connection as broken
 * (COMPRESSION_ERROR), because the table may be half-updated.
 */
import { entrySize, DynamicTable } from './dynamic-table.js';
import { HpackError } from './errors.js';
import { decodeHuffman } from './huffman.js';
import { type Cursor, decodeInteger } from './integer.js';
import { STATIC_TABLE, STATIC_TABLE_LENGTH } from './static-table.js';
import type { DecodedBlock, FieldCoding, FieldRepresentation } from './types.js';

export interface HpackDecoderOptions {
  /**
   * SETTINGS_HEADER_TABLE_SIZE we announced (default 4096): size updates above it are an error. It is
   * the table's size from the first block on; a connection that announces less than 4096 should start
   * with the default and call setMaxTableSize once the peer ACKed (blocks sent before may use 4096).
   */
  maxTableSize?: number;
  /**
   * RFC 9113 §6.5.2 header list size: name + value + 32 per field. Default 64 KiB, the same bound as
   * an HTTP/1.1 request head (limits.ts maxHeadBytes).
   */
  maxHeaderListSize?: number;
}

export const DEFAULT_TABLE_SIZE = 4096;
export const DEFAULT_MAX_HEADER_LIST_SIZE = 64 * 1024;

export class HpackDecoder {
  readonly #table: DynamicTable;
  /** The SETTINGS_HEADER_TABLE_SIZE in force: the ceiling for size updates. */
  #maxTableSize: number;
  readonly #maxHeaderListSize: number;
  /** Set when we lowered our setting below the table's size: the next block must start with an update (§4.2). */
  #updateRequired = false;
  readonly #cursor: Cursor = { offset: 0 };
  /** Whether the string just read was Huffman-coded (read by the trace only). */
  #lastHuffman = false;

  constructor(options: HpackDecoderOptions = {}) {
    this.#maxTableSize = options.maxTableSize ?? DEFAULT_TABLE_SIZE;
    this.#maxHeaderListSize = options.maxHeaderListSize ?? DEFAULT_MAX_HEADER_LIST_SIZE;
    this.#table = new DynamicTable(this.#maxTableSize);
  }

  get tableSize(): number {
    return this.#table.size;
  }

  get tableEntries(): number {
    return this.#table.length;
  }

  /** The dynamic table's entries, newest first (index 62 first), for --trace and tests. */
  tableContents(): [name: string, value: string][] {
    const contents: [string, string][] = [];
    for (let position = 1; position <= this.#table.length; position++)
      contents.push([this.#table.name(position)!, this.#table.value(position)!]);
    return contents;
  }

  /** Our announced SETTINGS_HEADER_TABLE_SIZE changed (call it once the peer ACKed the setting). */
  setMaxTableSize(size: number): void {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`bad table size ${size}`);
    // A smaller setting binds the peer only through the size update it must send; until then the
    // table keeps its size. A larger one may be used, or not, as the peer wishes.
    if (size < this.#table.maxSize) this.#updateRequired = true;
    this.#maxTableSize = size;
  }

  /** Decodes one complete field block (HEADERS and CONTINUATION payloads joined). */
  decode(block: Buffer, codings?: FieldCoding[]): DecodedBlock {
    const cursor = this.#cursor;
    cursor.offset = 0;
    const fields: [string, string][] = [];
    let listSize = 0;
    let tooLarge = false;
    let fieldSeen = false;
    while (cursor.offset < block.length) {
      const first = block[cursor.offset]!;
      let name: string;
      let value: string;
      let representation: FieldRepresentation;
      let index: number | null = null;
      let nameHuffman: boolean | null = null;
      let valueHuffman: boolean | null = null;
      if ((first & 0xe0) === 0x20) {
        if (fieldSeen) throw new HpackError('table-size-update-misplaced', 'a dynamic table size update after a field line');
        const size = decodeInteger(block, cursor, 5);
        if (size > this.#maxTableSize) {
          throw new HpackError('table-size-update-too-large', 'a dynamic table size update above our SETTINGS_HEADER_TABLE_SIZE');
        }
        this.#table.setMaxSize(size);
        this.#updateRequired = false;
        continue;
      }
      if (this.#updateRequired) {
        throw new HpackError(
          'table-size-update-missing',
          'the block does not start with the table size update our smaller setting requires',
        );
      }
      fieldSeen = true;
      if ((first & 0x80) !== 0) {
        representation = 'indexed';
        index = decodeInteger(block, cursor, 7);
        name = this.#name(index);
        value = index <= STATIC_TABLE_LENGTH ? STATIC_TABLE[index - 1]![1] : this.#table.value(index - STATIC_TABLE_LENGTH)!;
      } else {
        const prefixBits = (first & 0x40) !== 0 ? 6 : 4;
        representation =
          prefixBits === 6 ? 'literal-incremental' : (first & 0x10) !== 0 ? 'literal-never-indexed' : 'literal-without-indexing';
        const nameIndex = decodeInteger(block, cursor, prefixBits);
        if (nameIndex === 0) {
          name = this.#string(block);
          nameHuffman = this.#lastHuffman;
        } else {
          index = nameIndex;
          name = this.#name(nameIndex);
        }
        value = this.#string(block);
        valueHuffman = this.#lastHuffman;
        if (prefixBits === 6) this.#table.add(name, value);
      }
      // The list is decoded to the end even when too large, so the table stays in step with the
      // peer's (RFC 9113 §4.3); only what is kept is bounded: an entry indexed many times is counted
      // many times but stored once.
      if (tooLarge) continue;
      listSize += entrySize(name, value);
      if (listSize > this.#maxHeaderListSize) {
        tooLarge = true;
        continue;
      }
      fields.push([name, value]);
      codings?.push({ name, value, representation, index, nameHuffman, valueHuffman });
    }
    if (this.#updateRequired) {
      throw new HpackError('table-size-update-missing', 'the block does not start with the table size update our smaller setting requires');
    }
    return { fields, tooLarge };
  }

  #name(index: number): string {
    if (index === 0) throw new HpackError('bad-index', 'index 0');
    if (index <= STATIC_TABLE_LENGTH) return STATIC_TABLE[index - 1]![0];
    const name = this.#table.name(index - STATIC_TABLE_LENGTH);
    if (name === undefined) throw new HpackError('bad-index', 'an index past the end of the dynamic table');
    return name;
  }

  /** A string literal (§5.2): H bit, 7-bit prefix length, then the octets. */
  #string(block: Buffer): string {
    const cursor = this.#cursor;
    if (cursor.offset >= block.length) throw new HpackError('truncated', 'the block ends before a string literal');
    this.#lastHuffman = (block[cursor.offset]! & 0x80) !== 0;
    const length = decodeInteger(block, cursor, 7);
    const start = cursor.offset;
    const end = start + length;
    if (end > block.length) throw new HpackError('truncated', 'the block ends inside a string literal');
    cursor.offset = end;
    return this.#lastHuffman ? decodeHuffman(block, start, end) : block.toString('latin1', start, end);
  }
}
