/** Validators and preconditions (RFC 9110 §8.8, §13): pure tables, no I/O, the clock passed in. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type FieldLine, Fields } from '../../src/core/fields.js';
import { formatHttpDate } from '../../src/core/http-date.js';
import {
  type PreconditionResult,
  type Validators,
  evaluatePreconditions,
  makeValidators,
  rangeStillApplies,
  strongMatch,
  weakMatch,
} from '../../src/static/conditional.js';

/** The handler passes Date.now(); the functions read no clock, so any fixed instant will do. */
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

/** The file every table is about: modified at a whole second plus some milliseconds. */
const MTIME_MS = Date.UTC(2021, 2, 4, 5, 6, 7) + 123.456;
const SIZE = 4_321;
const VALIDATORS: Validators = makeValidators(MTIME_MS, SIZE);
const ETAG = VALIDATORS.etag;
const WEAK_ETAG = `W/${ETAG}`;
const OTHER_ETAG = '"some-other-tag"';

/** Last-Modified as sent on the wire, and dates around it. */
const LAST_MODIFIED = formatHttpDate(VALIDATORS.lastModified);
const ONE_SECOND_EARLIER = formatHttpDate(VALIDATORS.lastModified - 1_000);
const ONE_SECOND_LATER = formatHttpDate(VALIDATORS.lastModified + 1_000);
const LONG_AGO = 'Sun, 06 Nov 1994 08:49:37 GMT';

describe('makeValidators', () => {
  test('a strong, quoted entity-tag (it may be used with If-Range)', () => {
    assert.match(ETAG, /^"[\x21\x23-\x7e]+"$/, 'an entity-tag is DQUOTE *etagc DQUOTE');
    assert.ok(!ETAG.startsWith('W/'));
  });

  test('Last-Modified is the modification time floored to whole seconds', () => {
    assert.equal(VALIDATORS.lastModified, Date.UTC(2021, 2, 4, 5, 6, 7));
    assert.equal(makeValidators(Date.UTC(2021, 2, 4, 5, 6, 7) + 999.9, SIZE).lastModified, Date.UTC(2021, 2, 4, 5, 6, 7));
  });

  test('the same file gives the same validators', () => {
    assert.deepEqual(makeValidators(MTIME_MS, SIZE), VALIDATORS);
  });

  test('the entity-tag changes with the modification time, even by one millisecond within the same second', () => {
    const later = makeValidators(MTIME_MS + 1, SIZE);
    assert.notEqual(later.etag, ETAG);
    assert.equal(later.lastModified, VALIDATORS.lastModified);
  });

  test('the entity-tag changes with the size', () => {
    assert.notEqual(makeValidators(MTIME_MS, SIZE + 1).etag, ETAG);
    assert.notEqual(makeValidators(MTIME_MS, 0).etag, ETAG);
  });

  test('each content coding has an entity-tag of its own', () => {
    const tags = [undefined, 'gzip', 'br'].map((coding) => makeValidators(MTIME_MS, SIZE, coding).etag);
    assert.equal(new Set(tags).size, 3, tags.join(' '));
    for (const tag of tags) assert.match(tag, /^"[\x21\x23-\x7e]+"$/);
  });
});

describe('strongMatch and weakMatch (RFC 9110 §8.8.3.2)', () => {
  // The RFC's own table: ETag 1, ETag 2, strong comparison, weak comparison.
  const vectors: Array<[a: string, b: string, strong: boolean, weak: boolean]> = [
    ['W/"1"', 'W/"1"', false, true],
    ['W/"1"', 'W/"2"', false, false],
    ['W/"1"', '"1"', false, true],
    ['"1"', '"1"', true, true],
    ['"1"', 'W/"1"', false, true],
    ['"1"', '"2"', false, false],
    ['"abc"', '"ABC"', false, false],
    ['""', '""', true, true],
  ];
  for (const [a, b, strong, weak] of vectors) {
    test(`${a} vs ${b}: strong ${strong}, weak ${weak}`, () => {
      assert.equal(strongMatch(a, b), strong);
      assert.equal(weakMatch(a, b), weak);
    });
  }
});

interface PreconditionVector {
  name: string;
  fields: FieldLine[];
  method?: string;
  expected: PreconditionResult;
}

describe('evaluatePreconditions (RFC 9110 §13.2.2)', () => {
  const vectors: PreconditionVector[] = [
    { name: 'no precondition', fields: [], expected: 'proceed' },

    // If-Match: strong comparison.
    { name: 'If-Match with the current tag', fields: [['If-Match', ETAG]], expected: 'proceed' },
    { name: 'If-Match with another tag', fields: [['If-Match', OTHER_ETAG]], expected: 'precondition-failed' },
    { name: 'If-Match: *', fields: [['If-Match', '*']], expected: 'proceed' },
    { name: 'If-Match: * with spaces around it', fields: [['If-Match', '  *  ']], expected: 'proceed' },
    { name: 'If-Match: a list holding the current tag', fields: [['If-Match', `${OTHER_ETAG}, ${ETAG}, "x"`]], expected: 'proceed' },
    { name: 'If-Match: a list without it', fields: [['If-Match', `${OTHER_ETAG}, "x"`]], expected: 'precondition-failed' },
    {
      name: 'If-Match: two field lines, the second with the current tag',
      fields: [
        ['If-Match', OTHER_ETAG],
        ['If-Match', ETAG],
      ],
      expected: 'proceed',
    },
    {
      name: 'If-Match: the weak form of the current tag never matches (strong comparison)',
      fields: [['If-Match', WEAK_ETAG]],
      expected: 'precondition-failed',
    },
    { name: 'If-Match: a list of only weak tags', fields: [['If-Match', `${WEAK_ETAG}, W/"x"`]], expected: 'precondition-failed' },
    { name: 'If-Match on a HEAD', method: 'HEAD', fields: [['If-Match', OTHER_ETAG]], expected: 'precondition-failed' },
    { name: 'If-Match on a PUT', method: 'PUT', fields: [['If-Match', OTHER_ETAG]], expected: 'precondition-failed' },
    { name: 'If-Match with the current tag on a PUT', method: 'PUT', fields: [['If-Match', ETAG]], expected: 'proceed' },

    // If-Unmodified-Since, evaluated only without If-Match.
    { name: 'If-Unmodified-Since equal to Last-Modified', fields: [['If-Unmodified-Since', LAST_MODIFIED]], expected: 'proceed' },
    { name: 'If-Unmodified-Since later than Last-Modified', fields: [['If-Unmodified-Since', ONE_SECOND_LATER]], expected: 'proceed' },
    {
      name: 'If-Unmodified-Since one second earlier',
      fields: [['If-Unmodified-Since', ONE_SECOND_EARLIER]],
      expected: 'precondition-failed',
    },
    { name: 'If-Unmodified-Since long ago', fields: [['If-Unmodified-Since', LONG_AGO]], expected: 'precondition-failed' },
    {
      name: 'If-Unmodified-Since long ago, in the RFC 850 format',
      fields: [['If-Unmodified-Since', 'Sunday, 06-Nov-94 08:49:37 GMT']],
      expected: 'precondition-failed',
    },
    {
      name: 'If-Unmodified-Since long ago, in the asctime format',
      fields: [['If-Unmodified-Since', 'Sun Nov  6 08:49:37 1994']],
      expected: 'precondition-failed',
    },
    { name: 'If-Unmodified-Since that is not a date is ignored', fields: [['If-Unmodified-Since', 'yesterday']], expected: 'proceed' },
    {
      name: 'If-Unmodified-Since with an impossible date is ignored',
      fields: [['If-Unmodified-Since', 'Mon, 31 Feb 1994 08:49:37 GMT']],
      expected: 'proceed',
    },
    { name: 'If-Unmodified-Since empty is ignored', fields: [['If-Unmodified-Since', '']], expected: 'proceed' },
    {
      name: 'If-Unmodified-Since is ignored when If-Match is present (If-Match passes)',
      fields: [
        ['If-Match', ETAG],
        ['If-Unmodified-Since', LONG_AGO],
      ],
      expected: 'proceed',
    },
    {
      name: 'If-Unmodified-Since is ignored when If-Match is present (If-Match: *)',
      fields: [
        ['If-Match', '*'],
        ['If-Unmodified-Since', LONG_AGO],
      ],
      expected: 'proceed',
    },
    {
      name: 'If-Match fails even when If-Unmodified-Since would pass',
      fields: [
        ['If-Match', OTHER_ETAG],
        ['If-Unmodified-Since', ONE_SECOND_LATER],
      ],
      expected: 'precondition-failed',
    },

    // If-None-Match: weak comparison.
    { name: 'If-None-Match with the current tag', fields: [['If-None-Match', ETAG]], expected: 'not-modified' },
    { name: 'If-None-Match with its weak form (weak comparison)', fields: [['If-None-Match', WEAK_ETAG]], expected: 'not-modified' },
    { name: 'If-None-Match with another tag', fields: [['If-None-Match', OTHER_ETAG]], expected: 'proceed' },
    { name: 'If-None-Match with a weak other tag', fields: [['If-None-Match', 'W/"some-other-tag"']], expected: 'proceed' },
    { name: 'If-None-Match: *', fields: [['If-None-Match', '*']], expected: 'not-modified' },
    {
      name: 'If-None-Match: a list holding the current tag',
      fields: [['If-None-Match', `"x", ${OTHER_ETAG},${ETAG}`]],
      expected: 'not-modified',
    },
    { name: 'If-None-Match: a list without it', fields: [['If-None-Match', `"x", ${OTHER_ETAG}`]], expected: 'proceed' },
    {
      name: 'If-None-Match: two field lines, the second with the tag',
      fields: [
        ['If-None-Match', '"x"'],
        ['If-None-Match', WEAK_ETAG],
      ],
      expected: 'not-modified',
    },
    { name: 'If-None-Match with the unquoted tag does not match', fields: [['If-None-Match', ETAG.slice(1, -1)]], expected: 'proceed' },
    { name: 'If-None-Match on a HEAD', method: 'HEAD', fields: [['If-None-Match', ETAG]], expected: 'not-modified' },
    { name: 'If-None-Match matching on a POST', method: 'POST', fields: [['If-None-Match', ETAG]], expected: 'precondition-failed' },
    { name: 'If-None-Match: * on a PUT', method: 'PUT', fields: [['If-None-Match', '*']], expected: 'precondition-failed' },
    { name: 'If-None-Match not matching on a DELETE', method: 'DELETE', fields: [['If-None-Match', OTHER_ETAG]], expected: 'proceed' },

    // If-Modified-Since: only for GET and HEAD, only without If-None-Match.
    { name: 'If-Modified-Since equal to Last-Modified', fields: [['If-Modified-Since', LAST_MODIFIED]], expected: 'not-modified' },
    { name: 'If-Modified-Since later than Last-Modified', fields: [['If-Modified-Since', ONE_SECOND_LATER]], expected: 'not-modified' },
    { name: 'If-Modified-Since one second earlier', fields: [['If-Modified-Since', ONE_SECOND_EARLIER]], expected: 'proceed' },
    { name: 'If-Modified-Since long ago', fields: [['If-Modified-Since', LONG_AGO]], expected: 'proceed' },
    { name: 'If-Modified-Since that is not a date is ignored', fields: [['If-Modified-Since', 'not a date']], expected: 'proceed' },
    { name: 'If-Modified-Since on a HEAD', method: 'HEAD', fields: [['If-Modified-Since', LAST_MODIFIED]], expected: 'not-modified' },
    {
      name: 'If-Modified-Since is ignored for a POST',
      method: 'POST',
      fields: [['If-Modified-Since', LAST_MODIFIED]],
      expected: 'proceed',
    },
    {
      name: 'If-Modified-Since is ignored for a PUT',
      method: 'PUT',
      fields: [['If-Modified-Since', ONE_SECOND_LATER]],
      expected: 'proceed',
    },
    {
      name: 'If-Modified-Since is ignored when If-None-Match is present (and does not match)',
      fields: [
        ['If-None-Match', OTHER_ETAG],
        ['If-Modified-Since', ONE_SECOND_LATER],
      ],
      expected: 'proceed',
    },
    {
      name: 'If-None-Match matching wins over an old If-Modified-Since',
      fields: [
        ['If-None-Match', ETAG],
        ['If-Modified-Since', LONG_AGO],
      ],
      expected: 'not-modified',
    },

    // The order between the two groups: a failed If-Match / If-Unmodified-Since comes first.
    {
      name: 'If-Match fails before If-None-Match could say not-modified',
      fields: [
        ['If-Match', OTHER_ETAG],
        ['If-None-Match', ETAG],
      ],
      expected: 'precondition-failed',
    },
    {
      name: 'If-Unmodified-Since fails before If-Modified-Since could say not-modified',
      fields: [
        ['If-Unmodified-Since', LONG_AGO],
        ['If-Modified-Since', ONE_SECOND_LATER],
      ],
      expected: 'precondition-failed',
    },
    {
      name: 'If-Match passes, then If-None-Match matches',
      fields: [
        ['If-Match', ETAG],
        ['If-None-Match', ETAG],
      ],
      expected: 'not-modified',
    },
    {
      name: 'field names are case-insensitive',
      fields: [['if-none-match', ETAG]],
      expected: 'not-modified',
    },
  ];

  for (const { name, fields, method = 'GET', expected } of vectors) {
    test(`${method}, ${name} → ${expected}`, () => {
      assert.equal(evaluatePreconditions(method, new Fields(fields), VALIDATORS, NOW), expected);
    });
  }

  test('the result depends on the validators: the same request after the file changed', () => {
    const changed = makeValidators(MTIME_MS + 60_000, SIZE);
    assert.equal(evaluatePreconditions('GET', new Fields([['If-None-Match', ETAG]]), changed, NOW), 'proceed');
    assert.equal(evaluatePreconditions('GET', new Fields([['If-Match', ETAG]]), changed, NOW), 'precondition-failed');
    assert.equal(evaluatePreconditions('GET', new Fields([['If-Modified-Since', LAST_MODIFIED]]), changed, NOW), 'proceed');
    assert.equal(evaluatePreconditions('GET', new Fields([['If-Unmodified-Since', LAST_MODIFIED]]), changed, NOW), 'precondition-failed');
  });

  test('a compressed variant does not match the identity tag, nor the other way round', () => {
    const gzip = makeValidators(MTIME_MS, SIZE, 'gzip');
    assert.equal(evaluatePreconditions('GET', new Fields([['If-None-Match', ETAG]]), gzip, NOW), 'proceed');
    assert.equal(evaluatePreconditions('GET', new Fields([['If-None-Match', gzip.etag]]), VALIDATORS, NOW), 'proceed');
    assert.equal(evaluatePreconditions('GET', new Fields([['If-None-Match', gzip.etag]]), gzip, NOW), 'not-modified');
  });
});

describe('rangeStillApplies (If-Range, RFC 9110 §13.1.5)', () => {
  const vectors: Array<[name: string, fields: FieldLine[], applies: boolean]> = [
    ['no If-Range', [], true],
    ['the current entity-tag', [['If-Range', ETAG]], true],
    ['the current entity-tag with spaces around it', [['If-Range', `  ${ETAG} `]], true],
    ['another entity-tag', [['If-Range', OTHER_ETAG]], false],
    ['the weak form of the current tag (never a strong match)', [['If-Range', WEAK_ETAG]], false],
    ['a weak other tag', [['If-Range', 'W/"x"']], false],
    ['the date equal to Last-Modified', [['If-Range', LAST_MODIFIED]], true],
    ['the same date in the asctime format', [['If-Range', asctime(VALIDATORS.lastModified)]], true],
    ['a date one second earlier', [['If-Range', ONE_SECOND_EARLIER]], false],
    ['a date one second later', [['If-Range', ONE_SECOND_LATER]], false],
    ['a date long ago', [['If-Range', LONG_AGO]], false],
    ['garbage', [['If-Range', 'whenever']], false],
    ['an empty value', [['If-Range', '']], false],
    ['a list of two tags', [['If-Range', `${ETAG}, ${OTHER_ETAG}`]], false],
  ];
  for (const [name, fields, applies] of vectors) {
    test(`${name} → ${applies ? 'the range applies' : 'the whole representation'}`, () => {
      assert.equal(rangeStillApplies(new Fields(fields), VALIDATORS, NOW), applies);
    });
  }

  test('after the file changed, its old entity-tag and old date no longer apply', () => {
    const changed = makeValidators(MTIME_MS + 60_000, SIZE);
    assert.equal(rangeStillApplies(new Fields([['If-Range', ETAG]]), changed, NOW), false);
    assert.equal(rangeStillApplies(new Fields([['If-Range', LAST_MODIFIED]]), changed, NOW), false);
    assert.equal(rangeStillApplies(new Fields([['If-Range', changed.etag]]), changed, NOW), true);
  });
});

/** The asctime form of an instant, e.g. "Thu Mar  4 05:06:07 2021". */
function asctime(time: number): string {
  const date = new Date(time);
  const [weekday, , month, , clock] = date.toUTCString().split(' ') as [string, string, string, string, string];
  const day = String(date.getUTCDate()).padStart(2, ' ');
  return `${weekday.slice(0, 3)} ${month} ${day} ${clock} ${date.getUTCFullYear()}`;
}

describe('preconditions read the clock only to parse a date', () => {
  const validators = makeValidators(MTIME_MS, 1234);
  test('no date field: the clock is never read', () => {
    let reads = 0;
    const clock = () => {
      reads++;
      return NOW;
    };
    const fields = new Fields([['If-None-Match', '"nope"']]);
    assert.equal(evaluatePreconditions('GET', fields, validators, clock), 'proceed');
    assert.equal(evaluatePreconditions('GET', new Fields(), validators, clock), 'proceed');
    assert.equal(rangeStillApplies(new Fields(), validators, clock), true);
    assert.equal(reads, 0);
  });

  test('a date is read with the clock given as a function, as with its value', () => {
    // An RFC 850 date has a two-digit year, read against the current time (RFC 9110 §5.6.7).
    const rfc850 = 'Thursday, 04-Mar-21 05:06:07 GMT';
    for (const now of [NOW, () => NOW]) {
      const fields = new Fields([['If-Modified-Since', rfc850]]);
      assert.equal(evaluatePreconditions('GET', fields, validators, now), 'not-modified');
      assert.equal(rangeStillApplies(new Fields([['If-Range', rfc850]]), validators, now), true);
    }
  });
});
