/**
 * The AnswerReader of `sockhttp check`: an answer read as it arrives gives exactly what it gives
 * when read whole, however it is cut; it keeps a bounded part of the bodies and counts the rest.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AnswerReader, MAX_KEPT_BODY_BYTES, type ParsedAnswer, parseAnswer } from '../../src/check/answer.js';
import { bytes, cutAt, inPiecesOf } from '../core/vectors.js';

interface AnswerVector {
  name: string;
  wire: string;
  methods: string[];
  closed: boolean;
  /** The answer in comparable form (see `comparable`). */
  expected: ReturnType<typeof comparable>;
}

/** A ParsedAnswer as plain data, for deepEqual. */
function comparable(answer: ParsedAnswer) {
  return {
    responses: answer.responses.map((response) => ({
      status: response.status,
      reason: response.reason,
      fields: response.fields.toJSON(),
      body: response.body.toString('latin1'),
      bodyLength: response.bodyLength,
      complete: response.complete,
    })),
    error: answer.error?.code ?? null,
    extraBytes: answer.extraBytes,
  };
}

const ok = (fields: Array<[string, string]>, body: string, complete = true) => ({
  status: 200,
  reason: 'OK',
  fields,
  body,
  bodyLength: body.length,
  complete,
});

const VECTORS: AnswerVector[] = [
  {
    name: 'one response with Content-Length',
    wire: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
    methods: ['GET'],
    closed: false,
    expected: { responses: [ok([['Content-Length', '5']], 'hello')], error: null, extraBytes: 0 },
  },
  {
    name: 'a chunked body with trailers',
    wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 1\r\n\r\n',
    methods: ['GET'],
    closed: false,
    expected: { responses: [ok([['Transfer-Encoding', 'chunked']], 'abcde')], error: null, extraBytes: 0 },
  },
  {
    name: 'an interim 100 before the final response',
    wire: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    methods: ['GET'],
    closed: false,
    expected: { responses: [ok([['Content-Length', '2']], 'ok')], error: null, extraBytes: 0 },
  },
  {
    name: 'two pipelined responses',
    wire: 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
    methods: ['GET', 'GET'],
    closed: false,
    expected: {
      responses: [
        ok([['Content-Length', '1']], 'a'),
        { status: 404, reason: 'Not Found', fields: [['Content-Length', '0']], body: '', bodyLength: 0, complete: true },
      ],
      error: null,
      extraBytes: 0,
    },
  },
  {
    name: 'bytes beyond Content-Length are counted',
    wire: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokjunk',
    methods: ['GET'],
    closed: true,
    expected: { responses: [ok([['Content-Length', '2']], 'ok')], error: null, extraBytes: 4 },
  },
  {
    name: 'a body on HEAD is extra bytes',
    wire: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
    methods: ['HEAD'],
    closed: false,
    expected: { responses: [{ ...ok([['Content-Length', '5']], ''), bodyLength: 0 }], error: null, extraBytes: 5 },
  },
  {
    name: 'a body delimited by the close, closed',
    wire: 'HTTP/1.0 200 OK\r\n\r\nuntil the end',
    methods: ['GET'],
    closed: true,
    expected: { responses: [ok([], 'until the end')], error: null, extraBytes: 0 },
  },
  {
    name: 'a body delimited by the close, still open',
    wire: 'HTTP/1.0 200 OK\r\n\r\nso far',
    methods: ['GET'],
    closed: false,
    expected: { responses: [ok([], 'so far', false)], error: null, extraBytes: 0 },
  },
  {
    name: 'lone LFs are accepted',
    wire: 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok',
    methods: ['GET'],
    closed: false,
    expected: { responses: [ok([['Content-Length', '2']], 'ok')], error: null, extraBytes: 0 },
  },
  {
    name: 'not a status line',
    wire: '<html>hello</html>\r\n\r\n',
    methods: ['GET'],
    closed: true,
    expected: { responses: [], error: 'bad-status-line', extraBytes: 0 },
  },
  {
    name: 'a body cut short by the close',
    wire: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort',
    methods: ['GET'],
    closed: true,
    expected: { responses: [ok([['Content-Length', '10']], 'short', false)], error: 'incomplete-message', extraBytes: 0 },
  },
  {
    name: 'a head cut short, still open: its bytes are left over',
    wire: 'HTTP/1.1 200 OK\r\nContent-Le',
    methods: ['GET'],
    closed: false,
    expected: { responses: [], error: null, extraBytes: 27 },
  },
];

/** Feeds the pieces one push each, then finishes. */
function readInPieces(pieces: Buffer[], methods: string[], closed: boolean): ParsedAnswer {
  const reader = new AnswerReader(methods);
  for (const piece of pieces) reader.push(piece);
  return reader.finish(closed);
}

describe('AnswerReader: read as it arrives, the same as read whole', () => {
  for (const vector of VECTORS) {
    test(vector.name, () => {
      const wire = bytes(vector.wire);
      assert.deepEqual(comparable(parseAnswer(wire, vector.methods, vector.closed)), vector.expected, 'whole');
      assert.deepEqual(comparable(readInPieces(inPiecesOf(wire, 1), vector.methods, vector.closed)), vector.expected, 'one byte at a time');
      for (let cut = 1; cut < wire.length; cut++) {
        assert.deepEqual(comparable(readInPieces(cutAt(wire, [cut]), vector.methods, vector.closed)), vector.expected, `split at ${cut}`);
      }
    });
  }

  test('once every request is answered, later bytes are only counted', () => {
    const reader = new AnswerReader(['GET']);
    reader.push(bytes('HTTP/1.1 204 No Content\r\n\r\nab'));
    assert.equal(reader.isComplete, true);
    assert.equal(reader.surplusBytes, 2);
    reader.push(Buffer.alloc(5000, 'x'));
    assert.equal(reader.surplusBytes, 5002);
    assert.equal(reader.finish(false).extraBytes, 5002);
  });

  test('after a malformed answer, later bytes are only counted (and are not extra bytes)', () => {
    const reader = new AnswerReader(['GET']);
    reader.push(bytes('garbage\r\n\r\n'));
    reader.push(Buffer.alloc(5000, 'x'));
    assert.equal(reader.surplusBytes, 5000);
    const answer = reader.finish(true);
    assert.equal(answer.error?.code, 'bad-status-line');
    assert.equal(answer.extraBytes, 0);
  });
});

describe('AnswerReader: bounded memory', () => {
  test(`a 3 MiB body: the first ${MAX_KEPT_BODY_BYTES} bytes are kept, all are counted, the response is complete`, () => {
    const body = Buffer.alloc(3 * 1024 * 1024);
    for (let index = 0; index < body.length; index++) body[index] = (index * 7) & 0xff;
    const wire = Buffer.concat([bytes(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
    const answer = readInPieces(inPiecesOf(wire, 65536), ['GET'], false);
    const response = answer.responses[0]!;
    assert.equal(response.complete, true);
    assert.equal(response.bodyLength, body.length);
    assert.equal(response.body.length, MAX_KEPT_BODY_BYTES);
    assert.ok(response.body.equals(body.subarray(0, MAX_KEPT_BODY_BYTES)));
    assert.equal(answer.extraBytes, 0);
  });

  test('the kept bytes are copies: no received chunk is held by them', () => {
    const wire = bytes('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc');
    const answer = parseAnswer(wire, ['GET'], false);
    wire.fill(0x7a);
    assert.equal(answer.responses[0]!.body.toString(), 'abc');
  });

  test('the bodies of several responses share one budget', () => {
    const size = MAX_KEPT_BODY_BYTES - 10;
    const one = `HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n${'a'.repeat(size)}`;
    const answer = parseAnswer(bytes(one + one), ['GET', 'GET'], false);
    assert.deepEqual(
      answer.responses.map((response) => [response.body.length, response.bodyLength, response.complete]),
      [
        [size, size, true],
        [10, size, true],
      ],
    );
  });
});
