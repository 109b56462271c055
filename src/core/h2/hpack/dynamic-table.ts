/**
 * The dynamic table (RFC 7541 §2.3.2, §4): a FIFO of field lines, newest first. Its size is the sum
 * of name octets + value octets + 32 per entry (§4.1); adding an entry first evicts the oldest until
 * it fits (§4.4), and an entry larger than the whole table empties it and is not added.
 *
 * Storage is a ring of two parallel arrays. Invariant: the newest entry sits at `#head`, older ones at
 * #head+1, #head+2… (mod capacity); `#count` entries are live; capacity is a power of two.
 */

/** The octets an entry counts for (§4.1). Strings are latin1: one char, one octet. */
export function entrySize(name: string, value: string): number {
  return name.length + value.length + 32;
}

export class DynamicTable {
  #names: string[] = new Array(16);
  #values: string[] = new Array(16);
  #head = 0;
  #count = 0;
  #size = 0;
  #maxSize: number;
  /** Entries ever added: entry number `insertions - 1` is the newest (the encoder finds entries by it). */
  #insertions = 0;
  readonly #onEvict: ((name: string, value: string, insertion: number) => void) | undefined;

  constructor(maxSize: number, onEvict?: (name: string, value: string, insertion: number) => void) {
    this.#maxSize = maxSize;
    this.#onEvict = onEvict;
  }

  get size(): number {
    return this.#size;
  }

  get length(): number {
    return this.#count;
  }

  get maxSize(): number {
    return this.#maxSize;
  }

  get insertions(): number {
    return this.#insertions;
  }

  /** Entry `position` (1 = newest) as name and value; undefined past the end. */
  name(position: number): string | undefined {
    if (position < 1 || position > this.#count) return undefined;
    return this.#names[(this.#head + position - 1) & (this.#names.length - 1)];
  }

  value(position: number): string | undefined {
    if (position < 1 || position > this.#count) return undefined;
    return this.#values[(this.#head + position - 1) & (this.#values.length - 1)];
  }

  /** The position (1 = newest) of the entry added as number `insertion`, or 0 when evicted. */
  positionOf(insertion: number): number {
    const position = this.#insertions - insertion;
    return position >= 1 && position <= this.#count ? position : 0;
  }

  add(name: string, value: string): void {
    const size = entrySize(name, value);
    this.#evictUntil(this.#maxSize - size);
    this.#insertions++;
    // §4.4: an entry larger than the table is not an error; the table is then empty.
    if (size > this.#maxSize) return;
    if (this.#count === this.#names.length) this.#grow();
    this.#head = (this.#head - 1) & (this.#names.length - 1);
    this.#names[this.#head] = name;
    this.#values[this.#head] = value;
    this.#count++;
    this.#size += size;
  }

  /** A new maximum size (§4.3): evicts the oldest entries until the table fits. */
  setMaxSize(maxSize: number): void {
    this.#maxSize = maxSize;
    this.#evictUntil(maxSize);
  }

  #evictUntil(limit: number): void {
    const mask = this.#names.length - 1;
    while (this.#size > limit && this.#count > 0) {
      const oldest = (this.#head + this.#count - 1) & mask;
      const name = this.#names[oldest]!;
      const value = this.#values[oldest]!;
      this.#size -= entrySize(name, value);
      this.#onEvict?.(name, value, this.#insertions - this.#count);
      // Drop the references so an evicted large value can be collected.
      this.#names[oldest] = '';
      this.#values[oldest] = '';
      this.#count--;
    }
  }

  #grow(): void {
    const names: string[] = new Array(this.#names.length * 2);
    const values: string[] = new Array(this.#names.length * 2);
    for (let position = 1; position <= this.#count; position++) {
      names[position - 1] = this.name(position)!;
      values[position - 1] = this.value(position)!;
    }
    this.#names = names;
    this.#values = values;
    this.#head = 0;
  }
}
