/**
 * Range requests (RFC 9110 §14), with no I/O: from a Range field and the size of the representation
 * to the byte ranges to send.
 *
 * A Range field we cannot parse, or in a unit other than bytes, is ignored (the whole file is sent),
 * as §14.2 allows. Ranges that overlap or touch are merged, and a request for more than
 * MAX_RANGES pieces is answered with the whole file: many tiny ranges are a known denial-of-service
 * pattern (§14.3), never what a player or a download manager asks for.
 */
export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive (as in Content-Range). */
  end: number;
}

export type RangeDecision = { kind: 'whole' } | { kind: 'unsatisfiable' } | { kind: 'partial'; ranges: ByteRange[] };

const MAX_RANGES = 16;
const WHOLE: RangeDecision = Object.freeze({ kind: 'whole' });

export function decideRanges(rangeField: string | undefined, size: number): RangeDecision {
  if (rangeField === undefined) return WHOLE;
  const match = /^\s*bytes\s*=\s*(.+)$/i.exec(rangeField);
  if (match === null) return WHOLE;
  const specs = match[1]!
    .split(',')
    .map((spec) => spec.trim())
    .filter((spec) => spec !== '');
  if (specs.length === 0 || specs.length > MAX_RANGES * 4) return WHOLE;

  const satisfiable: ByteRange[] = [];
  for (const spec of specs) {
    const parts = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
    if (parts === null || (parts[1] === '' && parts[2] === '')) return WHOLE; // syntax error: ignore the field
    const [, first, last] = parts as unknown as [string, string, string];
    if (first === '') {
      // suffix-range "-N": the last N bytes (the whole file when N >= size).
      const suffixLength = Number(last);
      // A suffix longer than the representation means all of it (§14.1.3); for an empty one that is
      // satisfiable but has no bytes to put in a 206, so the whole (empty) file is sent.
      if (suffixLength > 0 && size === 0) return WHOLE;
      if (suffixLength > 0) satisfiable.push({ start: Math.max(0, size - suffixLength), end: size - 1 });
      continue;
    }
    const start = Number(first);
    const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
    if (last !== '' && Number(last) < start) return WHOLE; // an invalid range-spec makes the field invalid
    if (start < size) satisfiable.push({ start, end });
  }
  if (satisfiable.length === 0) return { kind: 'unsatisfiable' };
  const merged = mergeRanges(satisfiable);
  if (merged.length > MAX_RANGES) return WHOLE;
  return { kind: 'partial', ranges: merged };
}

/** Sorts and merges overlapping or adjacent ranges. */
function mergeRanges(ranges: ByteRange[]): ByteRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const merged: ByteRange[] = [{ ...sorted[0]! }];
  for (const range of sorted.slice(1)) {
    const last = merged[merged.length - 1]!;
    if (range.start <= last.end + 1) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}
