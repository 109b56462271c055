/**
 * Shared drivers and vectors for the protocol-core tests.
 *
 * Every parser and decoder test feeds a byte string in several ways (STYLE.md, "Tests"): all at once,
 * one byte at a time, and split in two at every position. The drivers below turn what a reader or a
 * decoder produces into plain values (heads with their field lines, the body as one latin1 string,
 * trailers, end), so the ways can be compared with deepStrictEqual and against a written expectation.
 */
import assert from 'node:assert/strict';
import type { BodyDecoder } from '../../src/core/body-decoder.js';
import { HttpProtocolError, type ProtocolErrorCode } from '../../src/core/errors.js';
import type { FieldLine } from '../../src/core/fields.js';
import type { BodyFraming } from '../../src/core/framing.js';
import type { HttpVersion } from '../../src/core/head-parser.js';
import { RequestReader, type ResponseReader } from '../../src/core/message-reader.js';

/** Bytes of a test string, one byte per character (so "\xe9" is the single byte 0xE9). */
export function bytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

// ---------------------------------------------------------------------------------------------
// Ways of feeding a message

export interface Feeding {
  name: string;
  pieces: Buffer[];
}

/** A piece in a buffer of its own, so nothing past its end is reachable through it. */
function piece(message: Buffer, from: number, to: number): Buffer {
  return Buffer.from(message.subarray(from, to));
}

/** The message cut at the given positions (each strictly inside the message), in order. */
export function cutAt(message: Buffer, cuts: number[]): Buffer[] {
  const positions = [...new Set(cuts)].filter((cut) => cut > 0 && cut < message.length).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const cut of positions) {
    pieces.push(piece(message, from, cut));
    from = cut;
  }
  pieces.push(piece(message, from, message.length));
  return pieces;
}

/** The message in pieces of `size` bytes (the last may be shorter). */
export function inPiecesOf(message: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let from = 0; from < message.length; from += size) pieces.push(piece(message, from, Math.min(from + size, message.length)));
  return pieces;
}

/** All at once, one byte at a time, and split in two at every position. */
export function* threeWays(message: Buffer): Generator<Feeding> {
  yield { name: 'all at once', pieces: [piece(message, 0, message.length)] };
  yield { name: 'one byte at a time', pieces: inPiecesOf(message, 1) };
  for (let cut = 1; cut < message.length; cut++) yield { name: `split at byte ${cut}`, pieces: cutAt(message, [cut]) };
}

// ---------------------------------------------------------------------------------------------
// What a reader produces, as plain values

export type Observed =
  | { type: 'head'; head: Record<string, unknown>; framing: BodyFraming; keepAlive: boolean }
  /** Consecutive body events joined, as latin1 text. */
  | { type: 'body'; data: string }
  | { type: 'end'; trailers: FieldLine[] | null }
  | { type: 'closed' };

export const NO_BODY: BodyFraming = { kind: 'none' };
export const CHUNKED: BodyFraming = { kind: 'chunked' };
export const UNTIL_CLOSE: BodyFraming = { kind: 'until-close' };
export const length = (bytes: number): BodyFraming => ({ kind: 'length', length: bytes });

export function requestHead(
  method: string,
  target: string,
  version: HttpVersion,
  fields: FieldLine[],
  framing: BodyFraming,
  keepAlive: boolean,
): Observed {
  return { type: 'head', head: { method, target, version, fields }, framing, keepAlive };
}

export function responseHead(
  version: HttpVersion,
  status: number,
  reason: string,
  fields: FieldLine[],
  framing: BodyFraming,
  keepAlive: boolean,
): Observed {
  return { type: 'head', head: { version, status, reason, fields }, framing, keepAlive };
}

export const body = (data: string): Observed => ({ type: 'body', data });
export const end = (trailers: FieldLine[] | null = null): Observed => ({ type: 'end', trailers });
export const closed: Observed = { type: 'closed' };

export interface ReadOutcome {
  events: Observed[];
  error: HttpProtocolError | null;
}

type Reader = RequestReader | ResponseReader;

/**
 * Pulls events until the reader asks for more bytes. A RequestReader must pause after each `end` and
 * stay paused, holding the bytes behind it, until `resume()` — which we call at once, as a server
 * that has just sent its response would.
 */
function drain(reader: Reader, events: Observed[]): void {
  for (let steps = 0; steps < 1_000_000; steps++) {
    const event = reader.next();
    switch (event.type) {
      case 'need-more':
        return;
      case 'closed':
        events.push(closed);
        return;
      case 'paused':
        throw new Error('the reader paused without a preceding end event');
      case 'head':
        events.push({
          type: 'head',
          head: { ...event.head, fields: event.head.fields.toJSON() },
          framing: event.framing,
          keepAlive: event.keepAlive,
        });
        break;
      case 'body': {
        assert.ok(event.data.length > 0, 'a body event carries at least one byte');
        const last = events[events.length - 1];
        if (last?.type === 'body') last.data += event.data.toString('latin1');
        else events.push(body(event.data.toString('latin1')));
        break;
      }
      case 'end':
        events.push(end(event.trailers === null ? null : event.trailers.toJSON()));
        if (reader instanceof RequestReader) {
          const waiting = reader.bufferedBytes;
          assert.deepEqual(reader.next(), { type: 'paused' });
          assert.deepEqual(reader.next(), { type: 'paused' }, 'a paused reader stays paused');
          assert.equal(reader.bufferedBytes, waiting, 'a paused reader leaves the next message unread');
          reader.resume();
        }
        break;
    }
  }
  throw new Error('the reader never asked for more bytes');
}

/**
 * Pushes the pieces one after another, pulling events after each, then (optionally) tells the reader
 * the peer has closed. A protocol error ends the run; any other exception fails the test. After an
 * error, `next()` must go on throwing the very same error, even when more bytes arrive.
 */
export function runReader(reader: Reader, pieces: Buffer[], options: { peerCloses?: boolean } = {}): ReadOutcome {
  const events: Observed[] = [];
  try {
    for (const bytes of pieces) {
      reader.push(bytes);
      drain(reader, events);
    }
    if (options.peerCloses) {
      reader.peerClosed();
      drain(reader, events);
    }
  } catch (error) {
    if (!(error instanceof HttpProtocolError)) throw error;
    assert.throws(
      () => reader.next(),
      (again) => again === error,
      'next() after an error throws the same error',
    );
    reader.push(bytes('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    assert.throws(
      () => reader.next(),
      (again) => again === error,
      'more bytes do not revive a reader after an error',
    );
    return { events, error };
  }
  return { events, error: null };
}

/** Feeds `wire` the three ways and checks each gives exactly `expected`. */
export function assertReadsEverywhere(
  makeReader: () => Reader,
  wire: Buffer,
  expected: Observed[],
  options: { peerCloses?: boolean } = {},
): void {
  for (const feeding of threeWays(wire)) {
    const outcome = runReader(makeReader(), feeding.pieces, options);
    assert.equal(outcome.error, null, `${feeding.name}: unexpected ${outcome.error?.code}`);
    assert.deepEqual(outcome.events, expected, feeding.name);
  }
}

export interface Rejection {
  code: ProtocolErrorCode;
  status: number;
}

/** Asserts that a thrown value is our protocol error with this code and status, blamed on the peer. */
export function assertProtocolError(error: unknown, expected: Rejection, context = ''): void {
  assert.ok(error instanceof HttpProtocolError, `${context}: expected an HttpProtocolError, got ${String(error)}`);
  assert.equal(error.code, expected.code, `${context}: code`);
  assert.equal(error.status, expected.status, `${context}: status`);
  assert.equal(error.side, 'peer', `${context}: side`);
}

/** Feeds `wire` the three ways (or the given feedings) and checks each is refused with the expected error. */
export function assertRejectedEverywhere(
  makeReader: () => Reader,
  wire: Buffer,
  expected: Rejection,
  options: { peerCloses?: boolean; feedings?: Iterable<Feeding> } = {},
): void {
  for (const feeding of options.feedings ?? threeWays(wire)) {
    const outcome = runReader(makeReader(), feeding.pieces, options);
    assertProtocolError(outcome.error, expected, feeding.name);
  }
}

/**
 * Checks that `observed` could be the start of `expected`: equal, except that the last observed event
 * may be a body holding only the first part of the expected body. That is all a reader may say about
 * a strict prefix of a message; in particular it never reports the message's end.
 */
export function assertEventPrefix(observed: Observed[], expected: Observed[], context: string): void {
  assert.ok(observed.length <= expected.length, `${context}: more events than the whole message gives`);
  observed.forEach((event, index) => {
    const wanted = expected[index]!;
    if (index === observed.length - 1 && event.type === 'body' && wanted.type === 'body') {
      assert.ok(wanted.data.startsWith(event.data), `${context}: body is not a prefix of the expected body`);
    } else {
      assert.deepEqual(event, wanted, `${context}: event ${index}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Body decoders, driven the way a reader drives them

export interface DecodeOutcome {
  body: string;
  ended: boolean;
  trailers: FieldLine[] | null;
  /** Bytes after the end of the body (the next message), as latin1. */
  leftover: string;
}

/**
 * Feeds the pieces to a decoder, keeping unconsumed bytes in front of each new piece, exactly as the
 * message reader does. Protocol errors propagate.
 */
export function runDecoder(decoder: BodyDecoder, pieces: Buffer[], options: { peerCloses?: boolean } = {}): DecodeOutcome {
  let pending = Buffer.alloc(0);
  let offset = 0;
  let data = '';
  for (let index = 0; index < pieces.length; index++) {
    pending = Buffer.concat([pending.subarray(offset), pieces[index]!]);
    offset = 0;
    for (;;) {
      const step = decoder.decode(pending, offset);
      assert.ok(step.consumed >= 0 && offset + step.consumed <= pending.length, 'consumed stays inside the buffer');
      offset += step.consumed;
      if (step.kind === 'need-more') break;
      if (step.kind === 'data') {
        assert.ok(step.data.length > 0, 'a data step carries at least one byte');
        data += step.data.toString('latin1');
        continue;
      }
      const rest = Buffer.concat([pending.subarray(offset), ...pieces.slice(index + 1)]);
      return {
        body: data,
        ended: true,
        trailers: step.trailers === null ? null : step.trailers.toJSON(),
        leftover: rest.toString('latin1'),
      };
    }
  }
  const ended = options.peerCloses === true && decoder.endsAtClose();
  return { body: data, ended, trailers: null, leftover: pending.subarray(offset).toString('latin1') };
}

// ---------------------------------------------------------------------------------------------
// Valid requests, with every event a RequestReader must produce for them

export interface RequestVector {
  name: string;
  wire: string;
  events: Observed[];
}

const BROWSER_FIELDS: FieldLine[] = [
  ['Host', 'localhost:8080'],
  ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'],
  ['Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'],
  ['Accept-Language', 'en-US,en;q=0.5'],
  ['Accept-Encoding', 'gzip, deflate, br, zstd'],
  ['Connection', 'keep-alive'],
  ['Cookie', 'session=abc123; theme=dark'],
  ['Upgrade-Insecure-Requests', '1'],
  ['Sec-Fetch-Dest', 'document'],
  ['Sec-Fetch-Mode', 'navigate'],
  ['Sec-Fetch-Site', 'none'],
  ['Sec-Fetch-User', '?1'],
  ['If-None-Match', '"5f3e-1a2b"'],
  ['Priority', 'u=0, i'],
];

const fieldSection = (fields: FieldLine[]) => fields.map(([name, value]) => `${name}: ${value}\r\n`).join('');

export const VALID_REQUESTS: RequestVector[] = [
  {
    name: 'the lab request, no space after the colon',
    wire: 'GET /wireshark-labs/INTRO-wireshark-file1.html HTTP/1.1\r\nHost:gaia.cs.umass.edu\r\n\r\n',
    events: [
      requestHead('GET', '/wireshark-labs/INTRO-wireshark-file1.html', '1.1', [['Host', 'gaia.cs.umass.edu']], NO_BODY, true),
      end(),
    ],
  },
  {
    name: 'a browser GET with fourteen fields',
    wire: `GET /docs/index.html?lang=en&q=a%20b HTTP/1.1\r\n${fieldSection(BROWSER_FIELDS)}\r\n`,
    events: [requestHead('GET', '/docs/index.html?lang=en&q=a%20b', '1.1', BROWSER_FIELDS, NO_BODY, true), end()],
  },
  {
    name: 'HTTP/1.0 without Host',
    wire: 'GET / HTTP/1.0\r\n\r\n',
    events: [requestHead('GET', '/', '1.0', [], NO_BODY, false), end()],
  },
  {
    name: 'HTTP/1.0 with Connection: keep-alive',
    wire: 'GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n',
    events: [requestHead('GET', '/a', '1.0', [['Connection', 'Keep-Alive']], NO_BODY, true), end()],
  },
  {
    name: 'HTTP/1.1 with Connection: close',
    wire: 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    events: [
      requestHead(
        'GET',
        '/',
        '1.1',
        [
          ['Host', 'a'],
          ['Connection', 'close'],
        ],
        NO_BODY,
        false,
      ),
      end(),
    ],
  },
  {
    name: 'close among other connection options wins over keep-alive',
    wire: 'GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nConnection: CLOSE\r\n\r\n',
    events: [
      requestHead(
        'GET',
        '/',
        '1.1',
        [
          ['Host', 'a'],
          ['Connection', 'keep-alive, Upgrade'],
          ['Connection', 'CLOSE'],
        ],
        NO_BODY,
        false,
      ),
      end(),
    ],
  },
  {
    name: 'POST with Content-Length',
    wire: 'POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 21\r\n\r\nname=sock&lang=ts+js!',
    events: [
      requestHead(
        'POST',
        '/form',
        '1.1',
        [
          ['Host', 'a'],
          ['Content-Type', 'application/x-www-form-urlencoded'],
          ['Content-Length', '21'],
        ],
        length(21),
        true,
      ),
      body('name=sock&lang=ts+js!'),
      end(),
    ],
  },
  {
    name: 'a body with CR, LF and every kind of byte is passed through untouched',
    wire: 'PUT /bin HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n\r\n\x00\xff\r\n0\r\n\r',
    events: [
      requestHead(
        'PUT',
        '/bin',
        '1.1',
        [
          ['Host', 'a'],
          ['Content-Length', '10'],
        ],
        length(10),
        true,
      ),
      body('\r\n\x00\xff\r\n0\r\n\r'),
      end(),
    ],
  },
  {
    name: 'Content-Length: 0 means no body',
    wire: 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n',
    events: [
      requestHead(
        'POST',
        '/',
        '1.1',
        [
          ['Host', 'a'],
          ['Content-Length', '0'],
        ],
        NO_BODY,
        true,
      ),
      end(),
    ],
  },
  {
    name: 'the same Content-Length twice, as a list and as two lines',
    wire: 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc',
    events: [
      requestHead(
        'POST',
        '/',
        '1.1',
        [
          ['Host', 'a'],
          ['Content-Length', '3, 3'],
          ['Content-Length', '3'],
        ],
        length(3),
        true,
      ),
      body('abc'),
      end(),
    ],
  },
  {
    name: 'chunked with extensions and trailers',
    wire:
      'POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5;name=value\r\nhello\r\n6 ; x\r\n world\r\n1;a="quoted; string";b\r\n!\r\n0\r\nExpires: never\r\nX-Checksum:abc \r\n\r\n',
    events: [
      requestHead(
        'POST',
        '/upload',
        '1.1',
        [
          ['Host', 'a'],
          ['Transfer-Encoding', 'chunked'],
        ],
        CHUNKED,
        true,
      ),
      body('hello world!'),
      end([
        ['Expires', 'never'],
        ['X-Checksum', 'abc'],
      ]),
    ],
  },
  {
    name: 'chunked with upper- and lowercase hex sizes, leading zeros, no trailers',
    wire: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n000b\r\nabcdefghijk\r\nc\r\nABCDEFGHIJKL\r\n0000\r\n\r\n',
    events: [
      requestHead(
        'POST',
        '/',
        '1.1',
        [
          ['Host', 'a'],
          ['Transfer-Encoding', 'Chunked'],
        ],
        CHUNKED,
        true,
      ),
      body('0123456789abcdefghijkABCDEFGHIJKL'),
      end(),
    ],
  },
  {
    name: 'chunked with only the last chunk',
    wire: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    events: [
      requestHead(
        'POST',
        '/',
        '1.1',
        [
          ['Host', 'a'],
          ['Transfer-Encoding', 'chunked'],
        ],
        CHUNKED,
        true,
      ),
      end(),
    ],
  },
  {
    name: 'three pipelined requests, read one at a time',
    wire:
      'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n' +
      'POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
      'POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n',
    events: [
      requestHead('GET', '/1', '1.1', [['Host', 'a']], NO_BODY, true),
      end(),
      requestHead(
        'POST',
        '/2',
        '1.1',
        [
          ['Host', 'a'],
          ['Content-Length', '5'],
        ],
        length(5),
        true,
      ),
      body('hello'),
      end(),
      requestHead(
        'POST',
        '/3',
        '1.1',
        [
          ['Host', 'a'],
          ['Transfer-Encoding', 'chunked'],
        ],
        CHUNKED,
        true,
      ),
      body('hi'),
      end(),
    ],
  },
  {
    name: 'empty lines before a request line are ignored, also between pipelined requests',
    wire: '\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n',
    events: [
      requestHead(
        'GET',
        '/',
        '1.1',
        [
          ['Host', 'a'],
          ['Content-Length', '2'],
        ],
        length(2),
        true,
      ),
      body('ok'),
      end(),
      requestHead('GET', '/next', '1.1', [['Host', 'a']], NO_BODY, true),
      end(),
    ],
  },
  {
    name: 'optional whitespace around values is trimmed, inner whitespace kept',
    wire: 'GET / HTTP/1.1\r\nHost:   a  \r\nX-Padded: \t value with  inner\tspace \t\r\nX-Empty:\r\nX-Blank:  \t \r\n\r\n',
    events: [
      requestHead(
        'GET',
        '/',
        '1.1',
        [
          ['Host', 'a'],
          ['X-Padded', 'value with  inner\tspace'],
          ['X-Empty', ''],
          ['X-Blank', ''],
        ],
        NO_BODY,
        true,
      ),
      end(),
    ],
  },
  {
    name: 'obs-text (bytes 0x80-0xff) in a value is kept as is',
    wire: 'GET / HTTP/1.1\r\nHost: a\r\nX-Latin: caf\xe9 \x80\xff\r\nX-Utf8: \xc3\xa9t\xc3\xa9\r\n\r\n',
    events: [
      requestHead(
        'GET',
        '/',
        '1.1',
        [
          ['Host', 'a'],
          ['X-Latin', 'caf\xe9 \x80\xff'],
          ['X-Utf8', '\xc3\xa9t\xc3\xa9'],
        ],
        NO_BODY,
        true,
      ),
      end(),
    ],
  },
  {
    name: 'field order and the original case of names are preserved',
    wire: 'GET / HTTP/1.1\r\nX-B: 1\r\nhOsT: a\r\nx-a: 2\r\nX-b: 3\r\nACCEPT: */*\r\n\r\n',
    events: [
      requestHead(
        'GET',
        '/',
        '1.1',
        [
          ['X-B', '1'],
          ['hOsT', 'a'],
          ['x-a', '2'],
          ['X-b', '3'],
          ['ACCEPT', '*/*'],
        ],
        NO_BODY,
        true,
      ),
      end(),
    ],
  },
  {
    name: 'HTTP/1.2 is read as HTTP/1.1',
    wire: 'GET / HTTP/1.2\r\nHost: a\r\n\r\n',
    events: [requestHead('GET', '/', '1.1', [['Host', 'a']], NO_BODY, true), end()],
  },
  {
    name: 'HTTP/1.0 with a Content-Length body',
    wire: 'POST /cgi HTTP/1.0\r\nContent-Length: 4\r\n\r\ndata',
    events: [requestHead('POST', '/cgi', '1.0', [['Content-Length', '4']], length(4), false), body('data'), end()],
  },
  {
    name: 'other request-target forms and extension methods',
    wire:
      'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n' +
      'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n' +
      'GET http://example.com/x?y=%7Bz%7D HTTP/1.1\r\nHost: example.com\r\n\r\n' +
      "M-SEARCH!#$%&'*+.^_`|~ /a/b;c=d HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
    events: [
      requestHead('OPTIONS', '*', '1.1', [['Host', 'a']], NO_BODY, true),
      end(),
      requestHead('CONNECT', 'example.com:443', '1.1', [['Host', 'example.com:443']], NO_BODY, true),
      end(),
      requestHead('GET', 'http://example.com/x?y=%7Bz%7D', '1.1', [['Host', 'example.com']], NO_BODY, true),
      end(),
      requestHead("M-SEARCH!#$%&'*+.^_`|~", '/a/b;c=d', '1.1', [['Host', '[::1]:8080']], NO_BODY, true),
      end(),
    ],
  },
  {
    name: 'an empty Host is allowed (a target without authority)',
    wire: 'GET / HTTP/1.1\r\nHost:\r\n\r\n',
    events: [requestHead('GET', '/', '1.1', [['Host', '']], NO_BODY, true), end()],
  },
];
