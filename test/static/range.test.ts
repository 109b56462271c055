/** Range requests (RFC 9110 §14): from a Range field and a size to the byte ranges to send. Pure tables. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type RangeDecision, decideRanges } from '../../src/static/range.js';

const WHOLE: RangeDecision = { kind: 'whole' };
const UNSATISFIABLE: RangeDecision = { kind: 'unsatisfiable' };
function partial(...ranges: Array<[start: number, end: number]>): RangeDecision {
  return { kind: 'partial', ranges: ranges.map(([start, end]) => ({ start, end })) };
}

/** `count` one-byte ranges with a gap between each: none of them can be merged. */
function disjointRanges(count: number): string {
  return `bytes=${Array.from({ length: count }, (_, index) => `${index * 2}-${index * 2}`).join(',')}`;
}

describe('decideRanges', () => {
  const vectors: Array<[name: string, field: string | undefined, size: number, expected: RangeDecision]> = [
    ['no Range field', undefined, 1_000, WHOLE],

    // One range.
    ['the first ten bytes', 'bytes=0-9', 1_000, partial([0, 9])],
    ['one byte', 'bytes=0-0', 1_000, partial([0, 0])],
    ['the last byte by position', 'bytes=999-999', 1_000, partial([999, 999])],
    ['a range in the middle', 'bytes=100-199', 1_000, partial([100, 199])],
    ['a suffix: the last 500 bytes', 'bytes=-500', 1_000, partial([500, 999])],
    ['a suffix of one byte', 'bytes=-1', 1_000, partial([999, 999])],
    ['a suffix as long as the file', 'bytes=-1000', 1_000, partial([0, 999])],
    ['a suffix longer than the file is the whole file, as one range', 'bytes=-500', 100, partial([0, 99])],
    ['an open range', 'bytes=500-', 1_000, partial([500, 999])],
    ['an open range from 0', 'bytes=0-', 1_000, partial([0, 999])],
    ['an open range from the last byte', 'bytes=999-', 1_000, partial([999, 999])],
    ['a last-pos beyond the size is clamped', 'bytes=0-5000', 1_000, partial([0, 999])],
    ['a last-pos far beyond the size is clamped', 'bytes=10-99999999999999999999', 100, partial([10, 99])],
    ['a last-pos exactly at the size is clamped', 'bytes=990-1000', 1_000, partial([990, 999])],
    ['the unit is case-insensitive', 'Bytes=0-9', 1_000, partial([0, 9])],
    ['spaces after the commas of a list', 'bytes=0-9,  20-29 ,40-49', 1_000, partial([0, 9], [20, 29], [40, 49])],

    // Fields we ignore: the whole file.
    ['last-pos before first-pos is invalid', 'bytes=9-5', 1_000, WHOLE],
    ['one invalid spec makes the whole field invalid', 'bytes=0-9, 9-5', 1_000, WHOLE],
    ['not numbers', 'bytes=abc', 1_000, WHOLE],
    ['not numbers in a range', 'bytes=a-b', 1_000, WHOLE],
    ['a lone dash', 'bytes=-', 1_000, WHOLE],
    ['negative numbers', 'bytes=-5-10', 1_000, WHOLE],
    ['no range at all', 'bytes=', 1_000, WHOLE],
    ['only commas', 'bytes=,,', 1_000, WHOLE],
    ['another unit', 'items=0-1', 1_000, WHOLE],
    ['no unit', '0-9', 1_000, WHOLE],
    ['a unit that only starts like bytes', 'bytesx=0-9', 1_000, WHOLE],
    ['fractions', 'bytes=0.5-9', 1_000, WHOLE],
    ['an empty field', '', 1_000, WHOLE],

    // Several ranges: sorted, overlapping and adjacent ones merged.
    ['two disjoint ranges stay two', 'bytes=0-9,20-29', 1_000, partial([0, 9], [20, 29])],
    ['out of order ranges are sorted', 'bytes=20-29, 0-9', 1_000, partial([0, 9], [20, 29])],
    ['overlapping ranges merge', 'bytes=0-9, 5-14', 1_000, partial([0, 14])],
    ['adjacent ranges merge', 'bytes=0-9, 10-19', 1_000, partial([0, 19])],
    ['a range inside another merges into it', 'bytes=0-99, 10-19', 1_000, partial([0, 99])],
    ['a gap of one byte is kept', 'bytes=0-9, 11-19', 1_000, partial([0, 9], [11, 19])],
    ['a chain of overlaps, out of order', 'bytes=50-59, 0-9, 5-14, 15-19, 55-70', 1_000, partial([0, 19], [50, 70])],
    ['the same range twice', 'bytes=0-9,0-9', 1_000, partial([0, 9])],
    ['a suffix merged with an open range', 'bytes=-100, 850-', 1_000, partial([850, 999])],
    ['a range and a suffix, sorted', 'bytes=-10, 0-9', 1_000, partial([0, 9], [990, 999])],
    ['an unsatisfiable spec among satisfiable ones is dropped', 'bytes=5000-, 0-9', 1_000, partial([0, 9])],
    [
      '16 ranges after merging are sent',
      disjointRanges(16),
      1_000,
      partial(...Array.from({ length: 16 }, (_, i): [number, number] => [i * 2, i * 2])),
    ],
    ['17 ranges after merging → the whole file', disjointRanges(17), 1_000, WHOLE],
    ['many small ranges → the whole file', disjointRanges(40), 1_000, WHOLE],
    [
      '20 specs that merge into one range are sent',
      `bytes=${Array.from({ length: 20 }, (_, i) => `${i * 5}-${i * 5 + 5}`).join(',')}`,
      1_000,
      partial([0, 100]),
    ],

    // Unsatisfiable: a valid field, but nothing inside the file.
    ['an open range starting at the size', 'bytes=100-', 100, UNSATISFIABLE],
    ['an open range starting beyond the size', 'bytes=1000-', 100, UNSATISFIABLE],
    ['a closed range beyond the size', 'bytes=100-199', 100, UNSATISFIABLE],
    ['a suffix of zero bytes', 'bytes=-0', 100, UNSATISFIABLE],
    ['only unsatisfiable specs', 'bytes=200-300, -0, 100-', 100, UNSATISFIABLE],

    // A file of size 0: no first-pos is inside it (RFC 9110 §14.1.1).
    ['size 0: bytes=0-', 'bytes=0-', 0, UNSATISFIABLE],
    ['size 0: bytes=0-0', 'bytes=0-0', 0, UNSATISFIABLE],
    ['size 0: bytes=-0', 'bytes=-0', 0, UNSATISFIABLE],
    ['size 0: no Range field', undefined, 0, WHOLE],
    ['size 0: an invalid field is still ignored', 'bytes=9-5', 0, WHOLE],
    // A non-zero suffix-length is satisfiable whatever the size (§14.1.1): on an empty file there is
    // nothing to put in a 206 (its Content-Range could not be written), so the empty whole file is sent.
    ['size 0: a suffix (satisfiable, so never 416) → the whole, empty file', 'bytes=-5', 0, WHOLE],
  ];

  for (const [name, field, size, expected] of vectors) {
    test(`${name}: ${JSON.stringify(field)} on ${size} bytes`, () => {
      assert.deepEqual(decideRanges(field, size), expected);
    });
  }

  test('every partial decision lies inside the file, sorted, without overlaps or touching ranges', () => {
    const fields = [
      'bytes=0-9',
      'bytes=-500',
      'bytes=500-',
      'bytes=0-5000',
      'bytes=50-59, 0-9, 5-14, 15-19, 55-70',
      'bytes=-10, 0-9',
      disjointRanges(16),
    ];
    for (const size of [1, 10, 100, 1_000]) {
      for (const field of fields) {
        const decision = decideRanges(field, size);
        if (decision.kind !== 'partial') continue;
        assert.ok(decision.ranges.length >= 1 && decision.ranges.length <= 16, `${field} on ${size}`);
        decision.ranges.forEach((range, index) => {
          assert.ok(Number.isInteger(range.start) && Number.isInteger(range.end), `${field} on ${size}`);
          assert.ok(range.start >= 0 && range.start <= range.end && range.end < size, `${field} on ${size}: ${JSON.stringify(range)}`);
          if (index > 0) assert.ok(range.start > decision.ranges[index - 1]!.end + 1, `${field} on ${size}: not merged`);
        });
      }
    }
  });

  test('the decision is a fresh value: changing it does not change the next one', () => {
    const first = decideRanges('bytes=0-9', 100);
    assert.equal(first.kind, 'partial');
    if (first.kind === 'partial') first.ranges[0]!.end = 50;
    assert.deepEqual(decideRanges('bytes=0-9', 100), partial([0, 9]));
  });
});
