/**
 * The field section of a message (RFC 9110 §5): field lines in the order received, names in their
 * original case, with a case-insensitive lookup. A head rarely has more than a few dozen lines, so a
 * linear scan over pre-lowercased names beats building a map for every message.
 */
export type FieldLine = readonly [name: string, value: string];

export class Fields implements Iterable<FieldLine> {
  readonly #lines: FieldLine[] = [];
  readonly #lowerNames: string[] = [];

  constructor(lines: Iterable<FieldLine> = []) {
    for (const [name, value] of lines) this.append(name, value);
  }

  append(name: string, value: string): void {
    this.#lines.push([name, value]);
    this.#lowerNames.push(name.toLowerCase());
  }

  get size(): number {
    return this.#lines.length;
  }

  has(name: string): boolean {
    return this.#lowerNames.includes(name.toLowerCase());
  }

  /** Every value of the field, one per field line, in order. */
  getAll(name: string): string[] {
    const lower = name.toLowerCase();
    const values: string[] = [];
    for (let i = 0; i < this.#lowerNames.length; i++) {
      if (this.#lowerNames[i] === lower) values.push(this.#lines[i]![1]);
    }
    return values;
  }

  /**
   * The combined value: field lines of the same name joined with ", " (RFC 9110 §5.3).
   * Set-Cookie cannot be combined that way; use getAll for it.
   */
  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    let combined: string | undefined;
    for (let i = 0; i < this.#lowerNames.length; i++) {
      if (this.#lowerNames[i] !== lower) continue;
      const value = this.#lines[i]![1];
      combined = combined === undefined ? value : `${combined}, ${value}`;
    }
    return combined;
  }

  /** The comma-separated list elements of a field, trimmed and lowercased (for tokens such as Connection). */
  tokens(name: string): string[] {
    const combined = this.get(name);
    if (combined === undefined) return [];
    return combined
      .split(',')
      .map((element) => element.trim().toLowerCase())
      .filter((element) => element.length > 0);
  }

  [Symbol.iterator](): Iterator<FieldLine> {
    return this.#lines[Symbol.iterator]();
  }

  toJSON(): FieldLine[] {
    return [...this.#lines];
  }
}
