/**
 * The HPACK encoder: one per connection, its dynamic table mirroring the peer decoder's.
 *
 * Policy, field by field (RFC 7541 §7.1 on what may be indexed):
 *   - sensitive fields (authorization, proxy-authorization, set-cookie, short cookies) are literals
 *     never indexed (§7.1.3): an intermediary must not index them either, and a short secret in a
 *     shared table could be guessed by an attacker who watches the compressed length (CRIME);
 *   - fields whose value changes on every message (date, content-length, etag…) are literals without
 *     indexing, naming a static entry when one exists: inserting them would only evict useful entries;
 *   - everything else is indexed when the exact field is in a table, else a literal with incremental
 *     indexing, so that the next message sends it in one octet.
 * Strings are Huffman-coded only when that is shorter (§5.2).
 */
import { DynamicTable, entrySize } from './dynamic-table.js';
import { huffmanLength, writeHuffman } from './huffman.js';
import { ByteWriter, encodeInteger } from './integer.js';
import { STATIC_INDEX, STATIC_TABLE_LENGTH } from './static-table.js';
import type { FieldCoding, FieldRepresentation } from './types.js';

export interface HpackEncoderOptions {
  /** Huffman-code strings when shorter (default true). */
  huffman?: boolean;
  /**
   * The largest dynamic table we keep (default 4096, the initial SETTINGS_HEADER_TABLE_SIZE). A peer
   * announcing more does not make us hold more: the table only grows through a size update we send.
   */
  maxTableSize?: number;
}

const SENSITIVE = new Set(['authorization', 'proxy-authorization', 'set-cookie']);
/** Cookies shorter than this are treated as secrets (§7.1.3: short values are easy to guess). */
const SHORT_COOKIE = 20;
const VARYING = new Set(['date', 'content-length', 'etag', 'last-modified', 'content-range', 'age', 'expires', ':path']);

/** Dynamic entries of one name: the newest entry with that name, and the newest with each value. */
interface DynamicNameEntry {
  latest: number;
  values: Map<string, number>;
}

export class HpackEncoder {
  readonly #huffman: boolean;
  readonly #tableCap: number;
  readonly #index = new Map<string, DynamicNameEntry>();
  readonly #table: DynamicTable;
  readonly #writer = new ByteWriter(512);
  /** Size updates owed at the start of the next block (§4.2): the smallest size since the last block, then the final one. */
  #pendingMinimum: number | null = null;
  #pendingFinal: number | null = null;
  /**
   * The last coding of each VARYING field, which is never indexed: a value that repeats (the Date
   * of this second, the ETag of a file served again) is copied instead of Huffman-coded again. At
   * most one entry per VARYING name.
   */
  readonly #lastLiteral = new Map<string, { value: string; bytes: Buffer; valueHuffman: boolean }>();

  constructor(options: HpackEncoderOptions = {}) {
    this.#huffman = options.huffman ?? true;
    this.#tableCap = options.maxTableSize ?? 4096;
    const initial = Math.min(this.#tableCap, 4096);
    this.#table = new DynamicTable(initial, (name, value, insertion) => this.#forget(name, value, insertion));
    // The peer's decoder starts at 4096 (RFC 9113 §6.5.2); a smaller cap must be announced.
    if (initial !== 4096) this.#pendingMinimum = this.#pendingFinal = initial;
  }

  get tableSize(): number {
    return this.#table.size;
  }

  get tableEntries(): number {
    return this.#table.length;
  }

  /** The peer's SETTINGS_HEADER_TABLE_SIZE. */
  setMaxTableSize(size: number): void {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`bad table size ${size}`);
    const effective = Math.min(size, this.#tableCap);
    if (this.#pendingFinal === null && effective === this.#table.maxSize) return;
    this.#pendingMinimum = Math.min(this.#pendingMinimum ?? effective, effective);
    this.#pendingFinal = effective;
  }

  /** Encodes field lines (names already lowercase; strings are latin1, one char per octet). */
  encode(fields: readonly (readonly [string, string])[], codings?: FieldCoding[]): Buffer {
    const writer = this.#writer;
    if (this.#pendingFinal !== null) {
      const minimum = this.#pendingMinimum!;
      if (minimum < this.#pendingFinal) this.#sizeUpdate(minimum);
      this.#sizeUpdate(this.#pendingFinal);
      this.#pendingMinimum = this.#pendingFinal = null;
    }
    for (const [name, value] of fields) this.#field(name, value, codings);
    return writer.take();
  }

  #sizeUpdate(size: number): void {
    encodeInteger(this.#writer, size, 5, 0x20);
    this.#table.setMaxSize(size);
  }

  #field(name: string, value: string, codings: FieldCoding[] | undefined): void {
    const writer = this.#writer;
    const staticEntry = STATIC_INDEX.get(name);
    const sensitive = SENSITIVE.has(name) || (name === 'cookie' && value.length < SHORT_COOKIE);
    let representation: FieldRepresentation;
    if (!sensitive) {
      const fieldIndex = staticEntry?.values.get(value) ?? this.#dynamicFieldIndex(name, value);
      if (fieldIndex !== 0) {
        encodeInteger(writer, fieldIndex, 7, 0x80);
        codings?.push({ name, value, representation: 'indexed', index: fieldIndex, nameHuffman: null, valueHuffman: null });
        return;
      }
      // An entry of more than half the table would evict most of it for one field: not worth it.
      representation =
        VARYING.has(name) || entrySize(name, value) > this.#table.maxSize / 2 ? 'literal-without-indexing' : 'literal-incremental';
    } else {
      representation = 'literal-never-indexed';
    }
    const memo = representation === 'literal-without-indexing' && VARYING.has(name) ? this.#lastLiteral.get(name) : undefined;
    if (memo !== undefined && memo.value === value) {
      writer.bytes(memo.bytes);
      codings?.push({ name, value, representation, index: staticEntry!.nameIndex, nameHuffman: null, valueHuffman: memo.valueHuffman });
      return;
    }
    const start = writer.length;
    let nameIndex = staticEntry?.nameIndex ?? 0;
    if (nameIndex === 0) {
      const dynamic = this.#index.get(name);
      if (dynamic !== undefined) nameIndex = this.#table.positionOf(dynamic.latest) + STATIC_TABLE_LENGTH;
    }
    if (representation === 'literal-incremental') encodeInteger(writer, nameIndex, 6, 0x40);
    else encodeInteger(writer, nameIndex, 4, representation === 'literal-never-indexed' ? 0x10 : 0x00);
    const nameHuffman = nameIndex === 0 ? this.#string(name) : null;
    const valueHuffman = this.#string(value);
    if (representation === 'literal-incremental') this.#insert(name, value);
    // Every VARYING name is in the static table (its coding depends on nothing but the value).
    else if (representation === 'literal-without-indexing' && VARYING.has(name) && nameIndex !== 0 && nameIndex === staticEntry?.nameIndex)
      this.#lastLiteral.set(name, { value, bytes: Buffer.from(writer.buffer.subarray(start, writer.length)), valueHuffman });
    codings?.push({ name, value, representation, index: nameIndex === 0 ? null : nameIndex, nameHuffman, valueHuffman });
  }

  #dynamicFieldIndex(name: string, value: string): number {
    const insertion = this.#index.get(name)?.values.get(value);
    return insertion === undefined ? 0 : this.#table.positionOf(insertion) + STATIC_TABLE_LENGTH;
  }

  /** Writes a string literal (§5.2); returns whether it was Huffman-coded. */
  #string(text: string): boolean {
    const writer = this.#writer;
    const coded = this.#huffman ? huffmanLength(text) : text.length;
    if (coded < text.length) {
      encodeInteger(writer, coded, 7, 0x80);
      writeHuffman(writer, text, coded);
      return true;
    }
    encodeInteger(writer, text.length, 7, 0x00);
    writer.latin1(text);
    return false;
  }

  #insert(name: string, value: string): void {
    this.#table.add(name, value);
    const insertion = this.#table.insertions - 1;
    if (this.#table.positionOf(insertion) === 0) return;
    let entry = this.#index.get(name);
    if (entry === undefined) {
      entry = { latest: insertion, values: new Map() };
      this.#index.set(name, entry);
    }
    entry.latest = insertion;
    entry.values.set(value, insertion);
  }

  /** Called by the table for each evicted entry: drop index entries that pointed at it. */
  #forget(name: string, value: string, insertion: number): void {
    const entry = this.#index.get(name);
    if (entry === undefined) return;
    if (entry.values.get(value) === insertion) entry.values.delete(value);
    if (entry.latest === insertion) this.#index.delete(name);
  }
}
