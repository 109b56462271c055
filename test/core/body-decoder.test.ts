import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChunkedDecoder, LengthDecoder, UntilCloseDecoder } from '../../src/core/body-decoder.js';
import type { FieldLine } from '../../src/core/fields.js';
import { DEFAULT_REQUEST_LIMITS, DEFAULT_RESPONSE_LIMITS, type Limits } from '../../src/core/limits.js';
import { RequestReader } from '../../src/core/message-reader.js';
import {
  type Rejection,
  assertProtocolError,
  assertRejectedEverywhere,
  bytes,
  inPiecesOf,
  runDecoder,
  runReader,
  threeWays,
} from './vectors.js';

interface ChunkedVector {
  name: string;
  wire: string;
  body: string;
  trailers: FieldLine[] | null;
  /** Bytes after the chunked body: the next message. */
  leftover?: string;
  limits?: Limits;
}

const CHUNKED_BODIES: ChunkedVector[] = [
  { name: 'one chunk', wire: '5\r\nhello\r\n0\r\n\r\n', body: 'hello', trailers: null },
  { name: 'only the last chunk', wire: '0\r\n\r\n', body: '', trailers: null },
  { name: 'several chunks', wire: '1\r\na\r\n2\r\nbc\r\n3\r\ndef\r\n0\r\n\r\n', body: 'abcdef', trailers: null },
  {
    name: 'hex sizes in both cases, with leading zeros',
    wire: 'a\r\n0123456789\r\n0B\r\nabcdefghijk\r\n00000\r\n\r\n',
    body: '0123456789abcdefghijk',
    trailers: null,
  },
  { name: 'chunk data holding CRLF and hex digits', wire: '6\r\n\r\n0\r\n\r\r\n0\r\n\r\n', body: '\r\n0\r\n\r', trailers: null },
  { name: 'an extension with a value', wire: '5;name=value\r\nhello\r\n0\r\n\r\n', body: 'hello', trailers: null },
  {
    name: 'an extension with whitespace around the semicolon',
    wire: '5 ; x\r\nhello\r\n0\t;\tlast\r\n\r\n',
    body: 'hello',
    trailers: null,
  },
  { name: 'several extensions and a quoted string', wire: '3;a;b=1;c="x;y\\"z"\r\nabc\r\n0\r\n\r\n', body: 'abc', trailers: null },
  { name: 'an extension with obs-text', wire: '3;n=\xe9\r\nabc\r\n0\r\n\r\n', body: 'abc', trailers: null },
  {
    name: 'trailers',
    wire: '5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum:  abc \r\n\r\n',
    body: 'hello',
    trailers: [
      ['Expires', 'never'],
      ['X-Sum', 'abc'],
    ],
  },
  {
    name: 'the next message right after the body',
    wire: '2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n',
    body: 'hi',
    trailers: null,
    leftover: 'GET / HTTP/1.1\r\n',
  },
  { name: 'trailers then the next message', wire: '0\r\nT: 1\r\n\r\nNEXT', body: '', trailers: [['T', '1']], leftover: 'NEXT' },
  {
    name: 'bare LF lines, when the limits allow them (responses)',
    wire: '3\nabc\n2;x\nde\n0\nT: v\n\n',
    body: 'abcde',
    trailers: [['T', 'v']],
    limits: DEFAULT_RESPONSE_LIMITS,
  },
  { name: 'a chunk of exactly 4 KiB', wire: `1000\r\n${'z'.repeat(4096)}\r\n0\r\n\r\n`, body: 'z'.repeat(4096), trailers: null },
];

describe('ChunkedDecoder: valid bodies (whole, one byte at a time, split at every position)', () => {
  for (const vector of CHUNKED_BODIES) {
    test(vector.name, () => {
      const wire = bytes(vector.wire);
      const feedings =
        wire.length > 1000
          ? [
              { name: 'all at once', pieces: [wire] },
              { name: 'pieces of 7', pieces: inPiecesOf(wire, 7) },
            ]
          : threeWays(wire);
      for (const feeding of feedings) {
        const outcome = runDecoder(new ChunkedDecoder(vector.limits ?? DEFAULT_REQUEST_LIMITS), feeding.pieces);
        assert.deepEqual(
          outcome,
          { body: vector.body, ended: true, trailers: vector.trailers, leftover: vector.leftover ?? '' },
          feeding.name,
        );
      }
    });
  }

  test('every strict prefix needs more and never ends the body', () => {
    for (const vector of CHUNKED_BODIES) {
      const wire = bytes(vector.wire);
      const bodyEnd = wire.length - (vector.leftover ?? '').length;
      for (let cut = 0; cut < bodyEnd; cut++) {
        const outcome = runDecoder(new ChunkedDecoder(vector.limits ?? DEFAULT_REQUEST_LIMITS), [wire.subarray(0, cut)]);
        assert.equal(outcome.ended, false, `${vector.name}: prefix of ${cut} bytes`);
        assert.ok(vector.body.startsWith(outcome.body), `${vector.name}: prefix of ${cut} bytes`);
      }
    }
  });

  test('data steps are views into the buffer, not copies', () => {
    const wire = bytes('5\r\nhello\r\n0\r\n\r\n');
    const step = new ChunkedDecoder(DEFAULT_REQUEST_LIMITS).decode(wire, 0);
    assert.equal(step.kind, 'data');
    if (step.kind !== 'data') return;
    assert.equal(step.data.buffer, wire.buffer);
    assert.equal(step.data.toString(), 'hello');
    assert.equal(step.consumed, 8);
  });

  test('a decoder that has ended only says end, and then the close is clean', () => {
    const decoder = new ChunkedDecoder(DEFAULT_REQUEST_LIMITS);
    assert.equal(decoder.endsAtClose(), false);
    const wire = bytes('0\r\n\r\n');
    assert.deepEqual(decoder.decode(wire, 0), { kind: 'end', consumed: 5, trailers: null });
    assert.deepEqual(decoder.decode(wire, 5), { kind: 'end', consumed: 0, trailers: null });
    assert.equal(decoder.endsAtClose(), true);
  });

  test('a body cut short is not complete at close', () => {
    for (const wire of ['', '5', '5\r\nhel', '5\r\nhello', '5\r\nhello\r\n', '5\r\nhello\r\n0\r\n', '0\r\nT: 1\r\n']) {
      const outcome = runDecoder(new ChunkedDecoder(DEFAULT_REQUEST_LIMITS), [bytes(wire)], { peerCloses: true });
      assert.equal(outcome.ended, false, JSON.stringify(wire));
    }
  });
});

interface ChunkedRejection extends Rejection {
  name: string;
  wire: string;
  limits?: Limits;
}

const CHUNKED_REJECTIONS: ChunkedRejection[] = [
  { name: 'a size that is not hex', wire: 'xyz\r\nabc\r\n0\r\n\r\n', code: 'bad-chunk-size', status: 400 },
  { name: 'an empty size line', wire: '\r\nabc\r\n0\r\n\r\n', code: 'bad-chunk-size', status: 400 },
  { name: 'a negative size', wire: '-1\r\n\r\n', code: 'bad-chunk-size', status: 400 },
  { name: 'a 0x prefix', wire: '0x5\r\nhello\r\n0\r\n\r\n', code: 'bad-chunk-size', status: 400 },
  { name: 'a space before the size', wire: ' 5\r\nhello\r\n0\r\n\r\n', code: 'bad-chunk-size', status: 400 },
  { name: 'something other than an extension after the size', wire: '5 x\r\nhello\r\n0\r\n\r\n', code: 'bad-chunk-size', status: 400 },
  { name: 'whitespace after the size and no extension', wire: '5 \r\nhello\r\n0\r\n\r\n', code: 'bad-chunk-size', status: 400 },
  { name: 'a bare LF after the size', wire: '5\nhello\r\n0\r\n\r\n', code: 'bad-line-ending', status: 400 },
  { name: 'a bare LF after the last chunk', wire: '0\n\r\n', code: 'bad-line-ending', status: 400 },
  { name: 'a size with 17 hex digits', wire: 'fffffffffffffffff\r\n', code: 'chunk-size-too-large', status: 400 },
  { name: 'a size of 2^53', wire: '20000000000000\r\n', code: 'chunk-size-too-large', status: 400 },
  {
    name: 'leading zeros do not hide an overflow',
    wire: '000000000000000000000000000000020000000000000\r\n',
    code: 'chunk-size-too-large',
    status: 400,
  },
  { name: 'chunk data longer than its size', wire: '5\r\nhelloXX\r\n0\r\n\r\n', code: 'bad-chunk-end', status: 400 },
  { name: 'chunk data one byte longer than its size', wire: '5\r\nhello!\r\n0\r\n\r\n', code: 'bad-chunk-end', status: 400 },
  { name: 'chunk data shorter than its size', wire: '5\r\nhey\r\n0\r\n\r\n', code: 'bad-chunk-end', status: 400 },
  { name: 'chunk data ended by a bare LF', wire: '5\r\nhello\n0\r\n\r\n', code: 'bad-line-ending', status: 400 },
  { name: 'chunk data ended by a bare CR', wire: '5\r\nhello\r0\r\n\r\n', code: 'bad-chunk-end', status: 400 },
  { name: 'a control character in an extension', wire: '5;a=\x01\r\nhello\r\n0\r\n\r\n', code: 'bad-chunk-extension', status: 400 },
  { name: 'a NUL in an extension', wire: '5;\x00\r\nhello\r\n0\r\n\r\n', code: 'bad-chunk-extension', status: 400 },
  { name: 'a bare CR in an extension', wire: '5;a\rb\r\nhello\r\n0\r\n\r\n', code: 'bad-chunk-extension', status: 400 },
  { name: 'a bare LF in the trailer section', wire: '0\r\nT: 1\n\r\n', code: 'bad-line-ending', status: 400 },
  { name: 'obsolete line folding in a trailer', wire: '0\r\nT: 1\r\n 2\r\n\r\n', code: 'obsolete-line-folding', status: 400 },
  { name: 'a trailer without a colon', wire: '0\r\nnot a field\r\n\r\n', code: 'bad-field-name', status: 400 },
  { name: 'a NUL in a trailer value', wire: '0\r\nT: \x00\r\n\r\n', code: 'bad-field-value', status: 400 },
  { name: 'whitespace before the colon of a trailer', wire: '0\r\nT : 1\r\n\r\n', code: 'whitespace-before-colon', status: 400 },
];

describe('ChunkedDecoder: rejections, alone and in a request (whole, one byte at a time, split at every position)', () => {
  for (const vector of CHUNKED_REJECTIONS) {
    test(`${vector.name} → ${vector.code}`, () => {
      const wire = bytes(vector.wire);
      for (const feeding of threeWays(wire)) {
        let error: unknown = null;
        try {
          runDecoder(new ChunkedDecoder(vector.limits ?? DEFAULT_REQUEST_LIMITS), feeding.pieces);
        } catch (caught) {
          error = caught;
        }
        assertProtocolError(error, vector, feeding.name);
      }
      const request = bytes(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${vector.wire}`);
      assertRejectedEverywhere(() => new RequestReader(), request, vector);
    });
  }

  test('a size of 2^53 - 1 is still a size (and waits for its data)', () => {
    const outcome = runDecoder(new ChunkedDecoder(DEFAULT_REQUEST_LIMITS), [bytes('1fffffffffffff\r\nabc')]);
    assert.deepEqual(outcome, { body: 'abc', ended: false, trailers: null, leftover: '' });
  });
});

describe('ChunkedDecoder: limits', () => {
  /** Pushes pieces through a decoder until it throws; returns the error and the bytes pushed until then. */
  function pushUntilError(decoder: ChunkedDecoder, prefix: string, filler: string, size: number): { error: unknown; pushed: number } {
    let pending = bytes(prefix);
    let pushed = pending.length;
    let offset = 0;
    try {
      for (let round = 0; round < 10_000; round++) {
        const step = decoder.decode(pending, offset);
        assert.equal(step.kind, 'need-more');
        offset += step.consumed;
        pending = Buffer.concat([pending.subarray(offset), bytes(filler.repeat(size))]);
        offset = 0;
        pushed += filler.length * size;
      }
    } catch (error) {
      return { error, pushed };
    }
    return { error: null, pushed };
  }

  test('a chunk-size line with an extension that never ends → chunk-line-too-long, before 4 KiB + one piece', () => {
    for (const size of [1, 100, 1000]) {
      const { error, pushed } = pushUntilError(new ChunkedDecoder(DEFAULT_REQUEST_LIMITS), '5;ext=', 'x', size);
      assertProtocolError(error, { code: 'chunk-line-too-long', status: 400 }, `pieces of ${size}`);
      assert.ok(pushed <= DEFAULT_REQUEST_LIMITS.maxChunkLineBytes + size + 6, `pieces of ${size}: ${pushed} bytes`);
    }
  });

  test('a complete chunk-size line over 4 KiB → chunk-line-too-long', () => {
    const wire = bytes(`5;${'e'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`);
    for (const pieces of [[wire], inPiecesOf(wire, 512)]) {
      assert.throws(
        () => runDecoder(new ChunkedDecoder(DEFAULT_REQUEST_LIMITS), pieces),
        (error: unknown) => {
          assertProtocolError(error, { code: 'chunk-line-too-long', status: 400 });
          return true;
        },
      );
    }
  });

  test('a chunk line of extensions in pieces through a RequestReader → chunk-line-too-long', () => {
    const head = bytes('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;n=');
    const pieces = [head, ...Array.from({ length: 20 }, () => bytes('v'.repeat(300)))];
    assertRejectedEverywhere(
      () => new RequestReader(),
      Buffer.concat(pieces),
      { code: 'chunk-line-too-long', status: 400 },
      {
        feedings: [{ name: 'pieces of 300', pieces }],
      },
    );
  });

  test('a trailer section over 16 KiB → head-too-large 431', () => {
    const trailers = Array.from({ length: 40 }, (_, i) => `X-${i}: ${'t'.repeat(500)}\r\n`).join('');
    const wire = bytes(`0\r\n${trailers}\r\n`);
    for (const pieces of [[wire], inPiecesOf(wire, 1000)]) {
      assert.throws(
        () => runDecoder(new ChunkedDecoder(DEFAULT_REQUEST_LIMITS), pieces),
        (error: unknown) => {
          assertProtocolError(error, { code: 'head-too-large', status: 431 });
          return true;
        },
      );
    }
  });

  test('more than 100 trailer lines → too-many-fields', () => {
    const trailers = Array.from({ length: 101 }, (_, i) => `T${i}: ${i}\r\n`).join('');
    assert.throws(
      () => runDecoder(new ChunkedDecoder(DEFAULT_REQUEST_LIMITS), [bytes(`0\r\n${trailers}\r\n`)]),
      (error: unknown) => {
        assertProtocolError(error, { code: 'too-many-fields', status: 400 });
        return true;
      },
    );
  });
});

describe('LengthDecoder', () => {
  test('passes exactly the length through, whatever the pieces, and leaves the rest', () => {
    const wire = bytes('0123456789NEXT');
    for (const feeding of threeWays(wire)) {
      assert.deepEqual(
        runDecoder(new LengthDecoder(10), feeding.pieces),
        { body: '0123456789', ended: true, trailers: null, leftover: 'NEXT' },
        feeding.name,
      );
    }
  });

  test('length 0 ends at once, without consuming anything', () => {
    assert.deepEqual(new LengthDecoder(0).decode(bytes('abc'), 1), { kind: 'end', consumed: 0, trailers: null });
    assert.equal(new LengthDecoder(0).endsAtClose(), true);
  });

  test('an empty buffer needs more; a close before the end is not clean', () => {
    const decoder = new LengthDecoder(3);
    assert.deepEqual(decoder.decode(bytes('xyz'), 3), { kind: 'need-more', consumed: 0 });
    assert.deepEqual(runDecoder(decoder, [bytes('ab')], { peerCloses: true }), { body: 'ab', ended: false, trailers: null, leftover: '' });
    assert.equal(decoder.endsAtClose(), false);
    runDecoder(decoder, [bytes('c')]);
    assert.equal(decoder.endsAtClose(), true);
  });

  test('data steps are views into the buffer', () => {
    const wire = bytes('headbody');
    const step = new LengthDecoder(4).decode(wire, 4);
    assert.ok(step.kind === 'data' && step.data.buffer === wire.buffer && step.data.toString() === 'body');
  });
});

describe('UntilCloseDecoder', () => {
  test('passes everything through and ends only at the close', () => {
    const wire = bytes('anything, even HTTP/1.1 200 OK\r\n\r\n');
    for (const feeding of threeWays(wire)) {
      assert.deepEqual(
        runDecoder(new UntilCloseDecoder(), feeding.pieces),
        { body: wire.toString('latin1'), ended: false, trailers: null, leftover: '' },
        feeding.name,
      );
      assert.deepEqual(runDecoder(new UntilCloseDecoder(), feeding.pieces, { peerCloses: true }).ended, true, feeding.name);
    }
  });

  test('nothing left to read needs more', () => {
    assert.deepEqual(new UntilCloseDecoder().decode(bytes('ab'), 2), { kind: 'need-more', consumed: 0 });
  });
});

describe('RequestReader and the chunked decoder: a chunk line that goes on in the same push as a body', () => {
  test('a body and a broken next chunk in one push', () => {
    const outcome = runReader(new RequestReader(), [
      bytes('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nq\r\n'),
    ]);
    assert.equal(outcome.events.length, 2);
    assert.equal(outcome.error?.code, 'bad-chunk-size');
  });
});

describe('ChunkedDecoder: a trailer section that arrives one byte at a time', () => {
  // Within DEFAULT_RESPONSE_LIMITS (64 KiB, 500 lines): 300 ordinary trailer fields and one long one.
  const FIELDS: FieldLine[] = [
    ...Array.from({ length: 300 }, (_, i): FieldLine => [`X-Trailer-${i}`, `value ${i} `.padEnd(100, 'v')]),
    ['X-Long', 'L'.repeat(16 * 1024)],
  ];
  const WIRE = bytes(`3\r\nabc\r\n0\r\n${FIELDS.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`);

  /**
   * Feeds WIRE to a decoder as a reader does when each push brings one more byte: the same bytes,
   * one longer each call, from the offset the decoder has consumed up to. Counts the bytes that
   * Buffer#indexOf examines meanwhile (the decoder looks for line ends with it).
   */
  function feedByteByByte(): { body: string; trailers: FieldLine[] | null; examined: number } {
    const decoder = new ChunkedDecoder(DEFAULT_RESPONSE_LIMITS);
    const original = Buffer.prototype.indexOf;
    let examined = 0;
    Buffer.prototype.indexOf = function (this: Buffer, ...args: Parameters<Buffer['indexOf']>): number {
      const found = original.apply(this, args);
      const from = typeof args[1] === 'number' ? args[1] : 0;
      examined += (found === -1 ? this.length : found + 1) - from;
      return found;
    };
    let body = '';
    let offset = 0;
    try {
      for (let end = 1; end <= WIRE.length; end++) {
        for (;;) {
          const step = decoder.decode(WIRE.subarray(0, end), offset);
          offset += step.consumed;
          if (step.kind === 'need-more') break;
          if (step.kind === 'data') {
            body += step.data.toString('latin1');
            continue;
          }
          assert.equal(end, WIRE.length, 'the body ends with its last byte, not before');
          return { body, trailers: step.trailers?.toJSON() ?? null, examined };
        }
      }
    } finally {
      Buffer.prototype.indexOf = original;
    }
    assert.fail('the body never ended');
  }

  test('gives the same trailers as when the section arrives whole', () => {
    assert.ok(WIRE.length < DEFAULT_RESPONSE_LIMITS.maxTrailerBytes, 'the section is within the limit');
    const whole = runDecoder(new ChunkedDecoder(DEFAULT_RESPONSE_LIMITS), [WIRE]);
    assert.deepEqual(whole, { body: 'abc', ended: true, trailers: FIELDS, leftover: '' });
    const trickled = feedByteByByte();
    assert.equal(trickled.body, 'abc');
    assert.deepEqual(trickled.trailers, FIELDS);
  });

  test('each call scans only the new bytes for the empty line (linear, not quadratic, work)', () => {
    // Rescanning the section from its start on every call would examine about n²/2 bytes (here
    // over a billion); resuming where the last scan stopped examines each byte a bounded number of
    // times (once while searching, once more when the complete section is parsed).
    const { examined } = feedByteByByte();
    assert.ok(examined <= 4 * WIRE.length, `${examined} bytes examined for a wire of ${WIRE.length} bytes`);
  });
});
