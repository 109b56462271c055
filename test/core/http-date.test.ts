import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatHttpDate, parseHttpDate } from '../../src/core/http-date.js';

/** The core reads no clock: two-digit RFC 850 years are placed relative to this instant. */
const NOW = Date.UTC(2026, 10, 23);

/** The instant of the RFC's examples: Sunday, 6 November 1994, 08:49:37 UTC. */
const RFC_EXAMPLE = Date.UTC(1994, 10, 6, 8, 49, 37);

describe('formatHttpDate (IMF-fixdate, RFC 9110 §5.6.7)', () => {
  const vectors: [number, string][] = [
    [RFC_EXAMPLE, 'Sun, 06 Nov 1994 08:49:37 GMT'],
    [0, 'Thu, 01 Jan 1970 00:00:00 GMT'],
    [Date.UTC(2024, 1, 29, 23, 59, 59), 'Thu, 29 Feb 2024 23:59:59 GMT'],
    [Date.UTC(2000, 0, 1, 0, 0, 0), 'Sat, 01 Jan 2000 00:00:00 GMT'],
  ];
  for (const [time, text] of vectors) {
    test(text, () => {
      assert.equal(formatHttpDate(time), text);
      assert.equal(formatHttpDate(new Date(time)), text);
    });
  }

  test('milliseconds are dropped, not rounded', () => {
    assert.equal(formatHttpDate(RFC_EXAMPLE + 999), 'Sun, 06 Nov 1994 08:49:37 GMT');
  });
});

describe('parseHttpDate: the three formats of RFC 9110 §5.6.7', () => {
  const vectors: [string, string, number][] = [
    ['IMF-fixdate', 'Sun, 06 Nov 1994 08:49:37 GMT', RFC_EXAMPLE],
    ['RFC 850', 'Sunday, 06-Nov-94 08:49:37 GMT', RFC_EXAMPLE],
    ['asctime', 'Sun Nov  6 08:49:37 1994', RFC_EXAMPLE],
    ['asctime with a two-digit day', 'Thu Nov 10 08:49:37 1994', Date.UTC(1994, 10, 10, 8, 49, 37)],
    ['asctime with a zero-padded day (2DIGIT)', 'Sun Nov 06 08:49:37 1994', RFC_EXAMPLE],
    ['IMF-fixdate on a leap day', 'Thu, 29 Feb 2024 12:00:00 GMT', Date.UTC(2024, 1, 29, 12)],
    ['IMF-fixdate, the last second of a year', 'Fri, 31 Dec 1999 23:59:59 GMT', Date.UTC(1999, 11, 31, 23, 59, 59)],
    ['RFC 850 in this century', 'Monday, 01-Jan-24 00:00:00 GMT', Date.UTC(2024, 0, 1)],
    ['the epoch', 'Thu, 01 Jan 1970 00:00:00 GMT', 0],
    ['before the epoch', 'Wed, 31 Dec 1969 23:59:59 GMT', -1000],
  ];
  for (const [format, text, expected] of vectors) {
    test(`${format}: ${JSON.stringify(text)}`, () => assert.equal(parseHttpDate(text, NOW), expected));
  }

  test('the RFC’s three examples are the same instant', () => {
    const instants = ['Sun, 06 Nov 1994 08:49:37 GMT', 'Sunday, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994'].map((text) =>
      parseHttpDate(text, NOW),
    );
    assert.deepEqual(instants, [RFC_EXAMPLE, RFC_EXAMPLE, RFC_EXAMPLE]);
  });

  test('format then parse gives the instant back, to the second', () => {
    const instants = [
      0,
      RFC_EXAMPLE,
      Date.UTC(2038, 0, 19, 3, 14, 8),
      Date.UTC(1900, 0, 1),
      Date.UTC(9999, 11, 31, 23, 59, 59),
      Date.UTC(2024, 1, 29),
    ];
    for (const time of instants) assert.equal(parseHttpDate(formatHttpDate(time), NOW), time, formatHttpDate(time));
  });

  test('a four-digit year below 100 is that year, not 19xx', () => {
    const firstOfYearOne = new Date('0001-01-01T00:00:00Z').getTime();
    assert.equal(formatHttpDate(firstOfYearOne), 'Mon, 01 Jan 0001 00:00:00 GMT');
    assert.equal(parseHttpDate('Mon, 01 Jan 0001 00:00:00 GMT', NOW), firstOfYearOne);
    assert.equal(parseHttpDate('Sat, 01 Jan 0050 00:00:00 GMT', NOW), new Date('0050-01-01T00:00:00Z').getTime());
  });
});

describe('parseHttpDate: what is not an HTTP date gives null', () => {
  const vectors: [string, string][] = [
    ['empty', ''],
    ['garbage', 'yesterday'],
    ['a number', '784111777'],
    ['ISO 8601', '1994-11-06T08:49:37Z'],
    ['31 February (IMF-fixdate)', 'Tue, 31 Feb 2023 00:00:00 GMT'],
    ['29 February in a common year', 'Tue, 29 Feb 2023 00:00:00 GMT'],
    ['30 February (RFC 850)', 'Thursday, 30-Feb-23 00:00:00 GMT'],
    ['31 February (asctime)', 'Tue Feb 31 00:00:00 2023'],
    ['31 April', 'Mon, 31 Apr 2023 00:00:00 GMT'],
    ['day 00', 'Sun, 00 Nov 1994 08:49:37 GMT'],
    ['day 32', 'Sun, 32 Nov 1994 08:49:37 GMT'],
    ['hour 24', 'Sun, 06 Nov 1994 24:00:00 GMT'],
    ['minute 60', 'Sun, 06 Nov 1994 08:60:00 GMT'],
    ['second 61', 'Sun, 06 Nov 1994 08:49:61 GMT'],
    ['an unknown month', 'Sun, 06 Foo 1994 08:49:37 GMT'],
    ['a lowercase month', 'Sun, 06 nov 1994 08:49:37 GMT'],
    ['a one-digit day in IMF-fixdate', 'Sun, 6 Nov 1994 08:49:37 GMT'],
    ['a two-digit year in IMF-fixdate', 'Sun, 06 Nov 94 08:49:37 GMT'],
    ['UTC instead of GMT', 'Sun, 06 Nov 1994 08:49:37 UTC'],
    ['a numeric zone', 'Sun, 06 Nov 1994 08:49:37 +0000'],
    ['no zone', 'Sun, 06 Nov 1994 08:49:37'],
    ['leading whitespace', ' Sun, 06 Nov 1994 08:49:37 GMT'],
    ['trailing whitespace', 'Sun, 06 Nov 1994 08:49:37 GMT '],
    ['an unknown weekday', 'Xyz, 06 Nov 1994 08:49:37 GMT'],
    ['a long weekday in IMF-fixdate', 'Sunday, 06 Nov 1994 08:49:37 GMT'],
    ['a short weekday in RFC 850', 'Sun, 06-Nov-94 08:49:37 GMT'],
    ['asctime with a zone', 'Sun Nov  6 08:49:37 1994 GMT'],
    ['single-digit time fields', 'Sun, 06 Nov 1994 8:49:37 GMT'],
  ];
  for (const [name, text] of vectors) {
    test(`${name}: ${JSON.stringify(text)}`, () => assert.equal(parseHttpDate(text, NOW), null));
  }
});
