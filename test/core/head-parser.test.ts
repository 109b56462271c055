import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HttpProtocolError } from '../../src/core/errors.js';
import { type HeadScan, parseFieldLines, parseRequestHead, parseResponseHead, scanForHeadEnd } from '../../src/core/head-parser.js';
import { DEFAULT_REQUEST_LIMITS, DEFAULT_RESPONSE_LIMITS, type Limits } from '../../src/core/limits.js';
import { RequestReader } from '../../src/core/message-reader.js';
import { type Rejection, assertProtocolError, assertRejectedEverywhere, bytes, inPiecesOf, runReader } from './vectors.js';

const newRequestReader = () => new RequestReader();

interface HeadRejection extends Rejection {
  name: string;
  wire: string;
}

/** Every rule of the request line (RFC 9112 §3), one vector each. */
const REQUEST_LINE_REJECTIONS: HeadRejection[] = [
  { name: 'no HTTP version', wire: 'GET /\r\nHost: a\r\n\r\n', code: 'bad-request-line', status: 400 },
  { name: 'a method alone', wire: 'GET\r\nHost: a\r\n\r\n', code: 'bad-request-line', status: 400 },
  { name: 'a request line of one space (refused at its first byte)', wire: ' \r\nHost: a\r\n\r\n', code: 'bad-method', status: 400 },
  {
    name: 'a tab instead of the second space (refused at the tab)',
    wire: 'GET /\tHTTP/1.1\r\nHost: a\r\n\r\n',
    code: 'bad-request-target',
    status: 400,
  },
  {
    name: 'a tab instead of the first space (refused at the tab)',
    wire: 'GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n',
    code: 'bad-method',
    status: 400,
  },
  { name: 'a tab inside the method', wire: 'GE\tT / HTTP/1.1\r\nHost: a\r\n\r\n', code: 'bad-method', status: 400 },
  { name: 'a space before the method', wire: ' GET / HTTP/1.1\r\nHost: a\r\n\r\n', code: 'bad-method', status: 400 },
  {
    name: 'two spaces after the method (an empty target)',
    wire: 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n',
    code: 'bad-request-target',
    status: 400,
  },
  { name: 'two spaces before the version', wire: 'GET /  HTTP/1.1\r\nHost: a\r\n\r\n', code: 'bad-version', status: 400 },
  { name: 'a space after the version', wire: 'GET / HTTP/1.1 \r\nHost: a\r\n\r\n', code: 'bad-version', status: 400 },
  { name: 'a fourth part after the version', wire: 'GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n', code: 'bad-version', status: 400 },
  { name: 'a parenthesis in the method', wire: 'GE(T / HTTP/1.1\r\nHost: a\r\n\r\n', code: 'bad-method', status: 400 },
  { name: 'an @ in the method', wire: 'GET@ / HTTP/1.1\r\nHost: a\r\n\r\n', code: 'bad-method', status: 400 },
  { name: 'a NUL in the method', wire: 'G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n', code: 'bad-method', status: 400 },
  { name: 'a non-ASCII byte in the method', wire: 'G\xc9T / HTTP/1.1\r\nHost: a\r\n\r\n', code: 'bad-method', status: 400 },
  { name: 'a control character in the target', wire: 'GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n', code: 'bad-request-target', status: 400 },
  { name: 'DEL in the target', wire: 'GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n', code: 'bad-request-target', status: 400 },
  { name: 'a tab in the target', wire: 'GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n', code: 'bad-request-target', status: 400 },
  { name: 'raw UTF-8 in the target', wire: 'GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n', code: 'bad-request-target', status: 400 },
  { name: 'a raw latin1 byte in the target', wire: 'GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n', code: 'bad-request-target', status: 400 },
  // With a space inside the target the line has four parts; what follows the second space is then
  // taken for the version, which is what fails.
  { name: 'a space inside the target', wire: 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n', code: 'bad-version', status: 400 },
  { name: 'HTTP/1.1x', wire: 'GET / HTTP/1.1x\r\nHost: a\r\n\r\n', code: 'bad-version', status: 400 },
  { name: 'HTTP/11', wire: 'GET / HTTP/11\r\nHost: a\r\n\r\n', code: 'bad-version', status: 400 },
  { name: 'http/1.1 in lowercase', wire: 'GET / http/1.1\r\nHost: a\r\n\r\n', code: 'bad-version', status: 400 },
  { name: 'HTTP/1,1', wire: 'GET / HTTP/1,1\r\nHost: a\r\n\r\n', code: 'bad-version', status: 400 },
  { name: 'HTTP/a.b', wire: 'GET / HTTP/a.b\r\nHost: a\r\n\r\n', code: 'bad-version', status: 400 },
  { name: 'HTTP/1.', wire: 'GET / HTTP/1.\r\nHost: a\r\n\r\n', code: 'bad-version', status: 400 },
  { name: 'HTTP/2.0', wire: 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', code: 'unsupported-version', status: 505 },
  { name: 'HTTP/3.0', wire: 'GET / HTTP/3.0\r\nHost: a\r\n\r\n', code: 'unsupported-version', status: 505 },
  { name: 'HTTP/0.9', wire: 'GET / HTTP/0.9\r\n\r\n', code: 'unsupported-version', status: 505 },
];

/** Every rule of field lines (RFC 9112 §5, RFC 9110 §5.5) and of line endings (RFC 9112 §2.2). */
const FIELD_LINE_REJECTIONS: HeadRejection[] = [
  { name: 'a space before the colon', wire: 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', code: 'whitespace-before-colon', status: 400 },
  {
    name: 'a tab before the colon',
    wire: 'GET / HTTP/1.1\r\nHost: a\r\nAccept\t: */*\r\n\r\n',
    code: 'whitespace-before-colon',
    status: 400,
  },
  {
    name: 'obsolete line folding with a space',
    wire: 'GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\n',
    code: 'obsolete-line-folding',
    status: 400,
  },
  {
    name: 'obsolete line folding with a tab',
    wire: 'GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n\ttwo\r\n\r\n',
    code: 'obsolete-line-folding',
    status: 400,
  },
  {
    name: 'whitespace before the first field line',
    wire: 'GET / HTTP/1.1\r\n Host: a\r\n\r\n',
    code: 'obsolete-line-folding',
    status: 400,
  },
  { name: 'a bare CR inside a value', wire: 'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r2\r\n\r\n', code: 'bad-field-value', status: 400 },
  { name: 'a bare CR at the end of a value', wire: 'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\r\n\r\n', code: 'bad-field-value', status: 400 },
  { name: 'a bare CR inside a name', wire: 'GET / HTTP/1.1\r\nHost: a\r\nX\rY: 1\r\n\r\n', code: 'bad-field-name', status: 400 },
  { name: 'a NUL in a value', wire: 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n', code: 'bad-field-value', status: 400 },
  { name: 'a control character in a value', wire: 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x1bb\r\n\r\n', code: 'bad-field-value', status: 400 },
  { name: 'DEL in a value', wire: 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n', code: 'bad-field-value', status: 400 },
  { name: 'a field line without a colon', wire: 'GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n', code: 'bad-field-name', status: 400 },
  { name: 'an empty field name', wire: 'GET / HTTP/1.1\r\nHost: a\r\n: value\r\n\r\n', code: 'bad-field-name', status: 400 },
  { name: 'a separator in a field name', wire: 'GET / HTTP/1.1\r\nHost: a\r\nX(Y): 1\r\n\r\n', code: 'bad-field-name', status: 400 },
  { name: 'a space inside a field name', wire: 'GET / HTTP/1.1\r\nHost: a\r\nX Y: 1\r\n\r\n', code: 'bad-field-name', status: 400 },
  { name: 'a non-ASCII byte in a field name', wire: 'GET / HTTP/1.1\r\nHost: a\r\nX-\xe9: 1\r\n\r\n', code: 'bad-field-name', status: 400 },
  { name: 'bare LF everywhere in a request', wire: 'GET / HTTP/1.1\nHost: a\n\n', code: 'bad-line-ending', status: 400 },
  { name: 'a bare LF after the request line', wire: 'GET / HTTP/1.1\nHost: a\r\n\r\n', code: 'bad-line-ending', status: 400 },
  { name: 'a bare LF after a field line', wire: 'GET / HTTP/1.1\r\nHost: a\n\r\n', code: 'bad-line-ending', status: 400 },
  { name: 'a bare LF as the empty line', wire: 'GET / HTTP/1.1\r\nHost: a\r\n\n', code: 'bad-line-ending', status: 400 },
  { name: 'a bare LF before the request line', wire: '\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', code: 'bad-line-ending', status: 400 },
];

describe('request line rejections (whole, one byte at a time, split at every position)', () => {
  for (const vector of REQUEST_LINE_REJECTIONS) {
    test(`${vector.name} → ${vector.code} ${vector.status}`, () => {
      assertRejectedEverywhere(newRequestReader, bytes(vector.wire), vector);
    });
  }
});

describe('field line rejections (whole, one byte at a time, split at every position)', () => {
  for (const vector of FIELD_LINE_REJECTIONS) {
    test(`${vector.name} → ${vector.code} ${vector.status}`, () => {
      assertRejectedEverywhere(newRequestReader, bytes(vector.wire), vector);
    });
  }
});

/** Pushes `pieces` until the reader throws; returns the error and how many bytes had been pushed. */
function pushUntilError(reader: RequestReader, pieces: Iterable<Buffer>): { error: unknown; pushed: number; buffered: number } {
  let pushed = 0;
  for (const piece of pieces) {
    reader.push(piece);
    pushed += piece.length;
    try {
      assert.deepEqual(reader.next(), { type: 'need-more' });
    } catch (error) {
      if (!(error instanceof HttpProtocolError)) throw error;
      return { error, pushed, buffered: reader.bufferedBytes };
    }
  }
  return { error: null, pushed, buffered: reader.bufferedBytes };
}

/** An endless trickle: `prefix` then `filler` repeated, in pieces of `size` bytes. */
function* trickle(prefix: string, filler: string, size: number, maxBytes = 1 << 20): Generator<Buffer> {
  let text = prefix;
  let sent = 0;
  while (sent < maxBytes) {
    while (text.length < size) text += filler;
    yield bytes(text.slice(0, size));
    text = text.slice(size);
    sent += size;
  }
}

describe('size limits (RFC 9112 §3: 414, RFC 6585 §5: 431)', () => {
  const limits = DEFAULT_REQUEST_LIMITS;

  test('a request line of nearly 8 KiB is accepted', () => {
    const target = `/${'a'.repeat(limits.maxStartLineBytes - 100)}`;
    const outcome = runReader(new RequestReader(), inPiecesOf(bytes(`GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`), 1000));
    assert.equal(outcome.error, null);
    assert.equal(outcome.events[0]?.type === 'head' && outcome.events[0].head['target'], target);
  });

  test('a complete request line over 8 KiB → request-line-too-long 414', () => {
    const wire = bytes(`GET /${'a'.repeat(limits.maxStartLineBytes)} HTTP/1.1\r\nHost: a\r\n\r\n`);
    for (const pieces of [[wire], inPiecesOf(wire, 1000), inPiecesOf(wire, 1)]) {
      assertProtocolError(
        runReader(new RequestReader(), pieces).error,
        { code: 'request-line-too-long', status: 414 },
        `${pieces.length} pieces`,
      );
    }
  });

  test('a request line that never ends is refused once it passes 8 KiB, before any line end, holding bounded memory', () => {
    for (const size of [1, 100, 1024, 3000]) {
      const { error, pushed, buffered } = pushUntilError(new RequestReader(), trickle('GET /', 'a', size));
      assertProtocolError(error, { code: 'request-line-too-long', status: 414 }, `pieces of ${size}`);
      assert.ok(pushed <= limits.maxStartLineBytes + size, `pieces of ${size}: refused after ${pushed} bytes`);
      assert.ok(buffered <= limits.maxStartLineBytes + size, `pieces of ${size}: ${buffered} bytes held`);
    }
  });

  test('a request line made of spaces is refused at its first byte: a method is a token', () => {
    const { error } = pushUntilError(new RequestReader(), trickle('', ' ', 512));
    assertProtocolError(error, { code: 'bad-method', status: 400 });
  });

  test('a head of nearly 64 KiB is accepted', () => {
    const field = `X-Big: ${'v'.repeat(990)}\r\n`;
    const count = Math.floor((limits.maxHeadBytes - 200) / field.length);
    const wire = bytes(`GET / HTTP/1.1\r\nHost: a\r\n${field.repeat(count)}\r\n`);
    assert.ok(wire.length < limits.maxHeadBytes && wire.length > limits.maxHeadBytes - 1200);
    const outcome = runReader(new RequestReader(), [wire]);
    assert.equal(outcome.error, null);
    assert.equal(outcome.events[0]?.type === 'head' && (outcome.events[0].head['fields'] as unknown[]).length, count + 1);
  });

  test('a complete head over 64 KiB → head-too-large 431', () => {
    const wire = bytes(`GET / HTTP/1.1\r\nHost: a\r\n${`X-Big: ${'v'.repeat(990)}\r\n`.repeat(70)}\r\n`);
    for (const pieces of [[wire], inPiecesOf(wire, 4096), inPiecesOf(wire, 97)]) {
      assertProtocolError(runReader(new RequestReader(), pieces).error, { code: 'head-too-large', status: 431 }, `${pieces.length} pieces`);
    }
  });

  test('a head that never ends is refused once it passes 64 KiB, holding bounded memory', () => {
    for (const size of [100, 1024, 5000]) {
      const { error, pushed, buffered } = pushUntilError(
        new RequestReader(),
        trickle('GET / HTTP/1.1\r\nHost: a\r\n', 'X-Filler: 0123456789\r\n', size),
      );
      assertProtocolError(error, { code: 'head-too-large', status: 431 }, `pieces of ${size}`);
      assert.ok(pushed <= limits.maxHeadBytes + size, `pieces of ${size}: refused after ${pushed} bytes`);
      assert.ok(buffered <= limits.maxHeadBytes + size, `pieces of ${size}: ${buffered} bytes held`);
    }
  });

  test('a single field line that never ends is refused at 64 KiB', () => {
    const { error, pushed } = pushUntilError(new RequestReader(), trickle('GET / HTTP/1.1\r\nHost: a\r\nX: ', 'v', 4096));
    assertProtocolError(error, { code: 'head-too-large', status: 431 });
    assert.ok(pushed <= limits.maxHeadBytes + 4096);
  });

  test('100 field lines are accepted, 101 → too-many-fields 431', () => {
    const fields = (count: number) => Array.from({ length: count }, (_, i) => `X-${i}: ${i}\r\n`).join('');
    const accepted = runReader(new RequestReader(), [bytes(`GET / HTTP/1.1\r\nHost: a\r\n${fields(limits.maxFieldCount - 1)}\r\n`)]);
    assert.equal(accepted.error, null);
    const wire = bytes(`GET / HTTP/1.1\r\nHost: a\r\n${fields(limits.maxFieldCount)}\r\n`);
    for (const pieces of [[wire], inPiecesOf(wire, 7)]) {
      assertProtocolError(runReader(new RequestReader(), pieces).error, { code: 'too-many-fields', status: 431 });
    }
  });

  test('limits are the caller’s: a smaller reader limit is honoured', () => {
    const small: Limits = { ...DEFAULT_REQUEST_LIMITS, maxStartLineBytes: 32, maxHeadBytes: 64, maxFieldCount: 2 };
    const longLine = runReader(new RequestReader(small), [bytes(`GET /${'a'.repeat(40)} HTTP/1.1\r\nHost: a\r\n\r\n`)]);
    assertProtocolError(longLine.error, { code: 'request-line-too-long', status: 414 });
    const bigHead = runReader(new RequestReader(small), [bytes(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'b'.repeat(60)}\r\n\r\n`)]);
    assertProtocolError(bigHead.error, { code: 'head-too-large', status: 431 });
    const manyFields = runReader(new RequestReader(small), [bytes('GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n')]);
    assertProtocolError(manyFields.error, { code: 'too-many-fields', status: 431 });
    const bareLineFeeds = runReader(new RequestReader({ ...DEFAULT_REQUEST_LIMITS, allowBareLineFeed: true }), [
      bytes('GET / HTTP/1.1\nHost: a\n\n'),
    ]);
    assert.equal(bareLineFeeds.error, null);
    assert.equal(bareLineFeeds.events.length, 2);
  });
});

describe('scanForHeadEnd', () => {
  const scan = (text: string, resumeAt = 0, start = 0, limits: Limits = DEFAULT_REQUEST_LIMITS): HeadScan =>
    scanForHeadEnd(bytes(text), start, resumeAt, limits, true);

  const vectors: { name: string; text: string; expected: HeadScan }[] = [
    { name: 'CRLF CRLF', text: 'GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY', expected: { complete: true, headEnd: 27 } },
    { name: 'LF LF', text: 'GET / HTTP/1.1\nHost: a\n\nBODY', expected: { complete: true, headEnd: 24 } },
    { name: 'LF CRLF', text: 'GET / HTTP/1.1\r\nHost: a\n\r\nBODY', expected: { complete: true, headEnd: 26 } },
    { name: 'CRLF LF', text: 'GET / HTTP/1.1\r\nHost: a\r\n\nBODY', expected: { complete: true, headEnd: 26 } },
    { name: 'no line end yet', text: 'GET / HTT', expected: { complete: false, resumeAt: 9 } },
    { name: 'ends with one CRLF', text: 'GET / HTTP/1.1\r\n', expected: { complete: false, resumeAt: 15 } },
    { name: 'ends with CRLF CR', text: 'GET / HTTP/1.1\r\nHost: a\r\n\r', expected: { complete: false, resumeAt: 24 } },
    {
      name: 'a CR that is not followed by LF does not end the head',
      text: 'GET / HTTP/1.1\r\n\rX: y\r\n',
      expected: { complete: false, resumeAt: 22 },
    },
  ];
  for (const vector of vectors) {
    test(vector.name, () => {
      assert.deepEqual(scan(vector.text), vector.expected);
    });
  }

  test('resuming where an earlier scan stopped finds the same end as scanning from the start', () => {
    const text = 'GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\nrest';
    const whole = scan(text);
    for (let cut = 1; cut <= text.length; cut++) {
      const first = scan(text.slice(0, cut));
      if (first.complete) {
        assert.deepEqual(first, whole, `cut at ${cut}`);
        continue;
      }
      assert.ok(first.resumeAt <= cut, `cut at ${cut}: resumes inside the bytes seen`);
      assert.deepEqual(scan(text, first.resumeAt), whole, `cut at ${cut}: resumed at ${first.resumeAt}`);
    }
  });

  test('a head that starts after other bytes in the buffer', () => {
    const text = 'leftover bytesGET / HTTP/1.1\r\nHost: a\r\n\r\n';
    assert.deepEqual(scan(text, 14, 14), { complete: true, headEnd: text.length });
  });

  test('the limits count from the start of the head, not of the buffer', () => {
    const limits: Limits = { ...DEFAULT_REQUEST_LIMITS, maxStartLineBytes: 20, maxHeadBytes: 40 };
    const before = 'x'.repeat(100);
    assert.deepEqual(scan(`${before}GET / HTTP/1.1\r\nA: b\r\n\r\n`, 100, 100, limits), { complete: true, headEnd: 100 + 24 });
  });
});

describe('parseRequestHead and parseResponseHead, called directly', () => {
  function parseRequest(text: string, limits: Limits = DEFAULT_REQUEST_LIMITS) {
    const buffer = bytes(text);
    const scan = scanForHeadEnd(buffer, 0, 0, limits, true);
    assert.ok(scan.complete);
    return parseRequestHead(buffer, 0, scan.headEnd, limits);
  }
  function parseResponse(text: string, limits: Limits = DEFAULT_RESPONSE_LIMITS) {
    const buffer = bytes(text);
    const scan = scanForHeadEnd(buffer, 0, 0, limits, false);
    assert.ok(scan.complete);
    return parseResponseHead(buffer, 0, scan.headEnd, limits);
  }

  test('a request head', () => {
    const head = parseRequest('DELETE /items/7?force=1 HTTP/1.0\r\nX-A:1\r\nx-b: two words \r\n\r\n');
    assert.equal(head.method, 'DELETE');
    assert.equal(head.target, '/items/7?force=1');
    assert.equal(head.version, '1.0');
    assert.deepEqual(head.fields.toJSON(), [
      ['X-A', '1'],
      ['x-b', 'two words'],
    ]);
  });

  test('the parser does not require Host; that rule belongs to the request reader', () => {
    assert.equal(parseRequest('GET / HTTP/1.1\r\n\r\n').fields.size, 0);
  });

  test('a response head', () => {
    const head = parseResponse("HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n");
    assert.deepEqual(
      { version: head.version, status: head.status, reason: head.reason },
      { version: '1.1', status: 418, reason: "I'm a teapot" },
    );
    assert.deepEqual(head.fields.toJSON(), [['Content-Length', '0']]);
  });

  test('statuses from 100 to 999 are read', () => {
    for (const status of [100, 199, 200, 599, 999]) assert.equal(parseResponse(`HTTP/1.1 ${status} X\r\n\r\n`).status, status);
  });

  test('HTTP/1.9 responses are read as 1.1, HTTP/1.0 as 1.0', () => {
    assert.equal(parseResponse('HTTP/1.9 200 OK\r\n\r\n').version, '1.1');
    assert.equal(parseResponse('HTTP/1.0 200 OK\r\n\r\n').version, '1.0');
  });

  test('parseFieldLines reads a trailer-like section and stops at the empty line', () => {
    const buffer = bytes('A: 1\r\nB:2\r\n\r\nNOT: a field\r\n');
    const fields = parseFieldLines(buffer, 0, 13, DEFAULT_REQUEST_LIMITS, 400);
    assert.deepEqual(fields.toJSON(), [
      ['A', '1'],
      ['B', '2'],
    ]);
  });

  test('parseFieldLines uses the status it is given for too many fields', () => {
    const buffer = bytes('A: 1\r\nB: 2\r\n\r\n');
    assert.throws(
      () => parseFieldLines(buffer, 0, buffer.length, { ...DEFAULT_REQUEST_LIMITS, maxFieldCount: 1 }, 400),
      (error: unknown) => error instanceof HttpProtocolError && error.code === 'too-many-fields' && error.status === 400,
    );
  });
});
