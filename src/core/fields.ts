/**
 * The field section of a message (RFC 9110 §5): field lines in the order received, names in their
 * original case, with a case-insensitive lookup. A head rarely has more than a few dozen lines, so a
 * linear scan over pre-lowercased names beats building a map for every message.
 */
export type FieldLine = readonly [name: string, value: string];

const NO_TOKENS: readonly string[] = Object.freeze([]);

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
    return this.#indexOf(name, 0) !== -1;
  }

  /** Every value of the field, one per field line, in order. */
  getAll(name: string): string[] {
    const values: string[] = [];
    for (let i = this.#indexOf(name, 0); i !== -1; i = this.#indexOf(name, i + 1)) values.push(this.#lines[i]![1]);
    return values;
  }

  /**
   * The combined value: field lines of the same name joined with ", " (RFC 9110 §5.3).
   * Set-Cookie cannot be combined that way; use getAll for it.
   */
  get(name: string): string | undefined {
    let combined: string | undefined;
    for (let i = this.#indexOf(name, 0); i !== -1; i = this.#indexOf(name, i + 1)) {
      const value = this.#lines[i]![1];
      combined = combined === undefined ? value : `${combined}, ${value}`;
    }
    return combined;
  }

  /**
   * The index of the next line named `name` (any case) from `from`, or -1. A name of another length
   * cannot match, so most lines are passed over without comparing a character, and `name` is
   * lowercased only when a line of its length does not equal it as given: lookups come with
   * lowercase literals ("host", "range"…), many times per request.
   */
  #indexOf(name: string, from: number): number {
    const lowerNames = this.#lowerNames;
    let lower: string | null = null;
    for (let i = from; i < lowerNames.length; i++) {
      const candidate = lowerNames[i]!;
      if (candidate.length !== name.length) continue;
      if (candidate === name) return i;
      lower ??= name.toLowerCase();
      if (candidate === lower) return i;
    }
    return -1;
  }

  /**
   * The comma-separated list elements of a field, trimmed and lowercased (for tokens such as
   * Connection). A field that is absent gives one shared empty list: it is read, never changed.
   */
  tokens(name: string): readonly string[] {
    const combined = this.get(name);
    if (combined === undefined) return NO_TOKENS;
    if (!combined.includes(',')) {
      // One element, as nearly always ("close", "chunked"): no lists to split, map and filter.
      const token = combined.trim().toLowerCase();
      return token.length > 0 ? [token] : NO_TOKENS;
    }
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
