/**
 * WireLabeller and escapeBytes (src/core/trace.ts), byte by byte.
 *
 * Every vector is fed three ways (STYLE.md, "Tests"): all at once, one byte at a time, and split in
 * two at every position; each way must give exactly the same labelled lines. Texts are written here
 * as they appear in a trace: a CR LF on the wire is the four characters `\r\n` in the text.
 *
 * The bookkeeping invariant behind the "nothing is hidden" promise is checked by `accountedBytes`:
 * unescaping every shown line, and counting the bytes a body summary says it stands for, must give
 * back exactly the number of bytes that were pushed — no more (a summary must not claim bytes that
 * never came), no fewer (no byte may vanish).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type TraceElement, type TraceLine, WireLabeller, escapeBytes } from '../../src/core/trace.js';
import { bytes, cutAt, inPiecesOf, threeWays } from './vectors.js';

/** Runs per property; raise it for a longer session, e.g. PROPERTY_RUNS=20000. */
const RUNS = Number(process.env['PROPERTY_RUNS'] ?? 300);

type Line = [TraceElement, string];

interface LabelOptions {
  role: 'request' | 'response';
  /** --trace-body N */
  preview?: number;
  /** Response side: the methods of the requests, in order (expectResponseTo). */
  methods?: string[];
  /** Call finish() after the last piece, as a closing connection does (default true). */
  finish?: boolean;
}

function labeller(options: LabelOptions): WireLabeller {
  const wire = new WireLabeller(options.role, options.preview ?? 0);
  for (const method of options.methods ?? []) wire.expectResponseTo(method);
  return wire;
}

/** Labels the pieces in order; the lines as [element, text] pairs. */
function label(pieces: Buffer[], options: LabelOptions): Line[] {
  const wire = labeller(options);
  const lines: TraceLine[] = [];
  for (const piece of pieces) lines.push(...wire.push(piece));
  if (options.finish ?? true) lines.push(...wire.finish());
  return lines.map((line) => [line.element, line.text]);
}

// ---------------------------------------------------------------------------------------------
// Reading a trace back: the inverse of escapeBytes, and what each line stands for

/** The bytes an escaped text stands for (the exact inverse of escapeBytes). */
function unescapeText(text: string): Buffer {
  const out: Buffer[] = [];
  for (let index = 0; index < text.length; ) {
    if (text[index] !== '\\') {
      const character = String.fromCodePoint(text.codePointAt(index)!);
      out.push(Buffer.from(character, 'utf8'));
      index += character.length;
      continue;
    }
    const kind = text[index + 1];
    if (kind === 'r' || kind === 'n' || kind === 't' || kind === '\\') {
      out.push(Buffer.from({ r: '\r', n: '\n', t: '\t', '\\': '\\' }[kind], 'latin1'));
      index += 2;
    } else if (kind === 'x') {
      const hex = text.slice(index + 2, index + 4);
      assert.match(hex, /^[0-9a-f]{2}$/, `a \\x escape needs two lowercase hex digits in ${JSON.stringify(text)}`);
      out.push(Buffer.from([Number.parseInt(hex, 16)]));
      index += 4;
    } else if (kind === 'u' && text[index + 2] === '{') {
      const close = text.indexOf('}', index);
      assert.ok(close !== -1, `unterminated \\u{ in ${JSON.stringify(text)}`);
      out.push(Buffer.from(String.fromCodePoint(Number.parseInt(text.slice(index + 3, close), 16)), 'utf8'));
      index = close + 1;
    } else {
      assert.fail(`unknown escape \\${kind} at ${index} in ${JSON.stringify(text)}`);
    }
  }
  return Buffer.concat(out);
}

/** "<preview>… 4,500 bytes of body …<rest>" (a fix may say "… 3 of 4,500 bytes of body …" for a body cut short). */
const SUMMARY = /^([\s\S]*?)… ([\d,]+)(?: of [\d,]+)? bytes of (?:body|chunk data) …([\s\S]*)$/;

/** How many wire bytes one line stands for. */
function lineBytes(line: TraceLine | Line): number {
  const [element, text] = Array.isArray(line) ? line : [line.element, line.text];
  if (element === 'body' || element === 'chunk-data') {
    const summary = SUMMARY.exec(text);
    if (summary !== null) return Number(summary[2]!.replace(/,/g, '')) + unescapeText(summary[3]!).length;
  }
  return unescapeText(text).length;
}

function accountedBytes(lines: Array<TraceLine | Line>): number {
  return lines.reduce((sum, line) => sum + lineBytes(line), 0);
}

// ---------------------------------------------------------------------------------------------
// Vectors

interface Vector {
  name: string;
  wire: string;
  options: LabelOptions;
  lines: Line[];
}

const LAB_REQUEST = 'GET /wireshark-labs/INTRO-wireshark-file1.html HTTP/1.1\r\nHost:gaia.cs.umass.edu\r\n\r\n';
const BODY_4500 = 'abcdefghij'.repeat(450);

const REQUEST_VECTORS: Vector[] = [
  {
    name: "the lab's request: request-line, a field line without a space after the colon, the empty line",
    wire: LAB_REQUEST,
    options: { role: 'request' },
    lines: [
      ['request-line', 'GET /wireshark-labs/INTRO-wireshark-file1.html HTTP/1.1\\r\\n'],
      ['field-line', 'Host:gaia.cs.umass.edu\\r\\n'],
      ['empty-line', '\\r\\n'],
    ],
  },
  {
    name: 'a request with a Content-Length body',
    wire: 'POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello',
    options: { role: 'request' },
    lines: [
      ['request-line', 'POST /form HTTP/1.1\\r\\n'],
      ['field-line', 'Host: x\\r\\n'],
      ['field-line', 'Content-Length: 5\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['body', '… 5 bytes of body …'],
    ],
  },
  {
    name: 'a chunked request body, with an extension and a trailer',
    wire: 'PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;name=v\r\nabc\r\n0\r\nX-Sum: 9\r\n\r\n',
    options: { role: 'request' },
    lines: [
      ['request-line', 'PUT /up HTTP/1.1\\r\\n'],
      ['field-line', 'Host: x\\r\\n'],
      ['field-line', 'Transfer-Encoding: chunked\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['chunk-size', '3;name=v\\r\\n'],
      ['chunk-data', '… 3 bytes of chunk data …\\r\\n'],
      ['last-chunk', '0\\r\\n'],
      ['trailer-field', 'X-Sum: 9\\r\\n'],
      ['empty-line', '\\r\\n'],
    ],
  },
  {
    name: 'pipelined requests, with a stray CRLF between them (RFC 9112 §2.2 lets a server ignore it)',
    wire: 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\nPOST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nokGET /d HTTP/1.1\r\nHost: x\r\n\r\n',
    options: { role: 'request' },
    lines: [
      ['request-line', 'GET /a HTTP/1.1\\r\\n'],
      ['field-line', 'Host: x\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['request-line', 'HEAD /b HTTP/1.1\\r\\n'],
      ['field-line', 'Host: x\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['request-line', 'POST /c HTTP/1.1\\r\\n'],
      ['field-line', 'Host: x\\r\\n'],
      ['field-line', 'Content-Length: 2\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['body', '… 2 bytes of body …'],
      ['request-line', 'GET /d HTTP/1.1\\r\\n'],
      ['field-line', 'Host: x\\r\\n'],
      ['empty-line', '\\r\\n'],
    ],
  },
  {
    name: 'a head with bare LF line ends shows each \\n as it came',
    wire: 'GET / HTTP/1.1\nHost: x\n\n',
    options: { role: 'request' },
    lines: [
      ['request-line', 'GET / HTTP/1.1\\n'],
      ['field-line', 'Host: x\\n'],
      ['empty-line', '\\n'],
    ],
  },
  {
    name: 'a request body shown in full when it fits in the preview',
    wire: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\na=1\n',
    options: { role: 'request', preview: 10 },
    lines: [
      ['request-line', 'POST / HTTP/1.1\\r\\n'],
      ['field-line', 'Host: x\\r\\n'],
      ['field-line', 'Content-Length: 4\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['body', 'a=1\\n'],
    ],
  },
];

const RESPONSE_HEAD_4500 = 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4500\r\n\r\n';
const RESPONSE_HEAD_4500_LINES: Line[] = [
  ['status-line', 'HTTP/1.1 200 OK\\r\\n'],
  ['field-line', 'Content-Type: text/html\\r\\n'],
  ['field-line', 'Content-Length: 4500\\r\\n'],
  ['empty-line', '\\r\\n'],
];

const RESPONSE_VECTORS: Vector[] = [
  {
    name: 'a Content-Length body is summarized in one line',
    wire: RESPONSE_HEAD_4500 + BODY_4500,
    options: { role: 'response' },
    lines: [...RESPONSE_HEAD_4500_LINES, ['body', '… 4,500 bytes of body …']],
  },
  {
    name: '--trace-body 16: the first 16 bytes, then the summary',
    wire: RESPONSE_HEAD_4500 + BODY_4500,
    options: { role: 'response', preview: 16 },
    lines: [...RESPONSE_HEAD_4500_LINES, ['body', 'abcdefghijabcdef… 4,500 bytes of body …']],
  },
  {
    name: 'a body shorter than the preview is shown whole, escaped',
    wire: 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nok\r\n',
    options: { role: 'response', preview: 10 },
    lines: [
      ['status-line', 'HTTP/1.1 200 OK\\r\\n'],
      ['field-line', 'Content-Length: 4\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['body', 'ok\\r\\n'],
    ],
  },
  {
    name: 'chunked: chunk-size (with an extension), chunk-data, last-chunk, trailer-field, empty-line',
    wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext="a b"\r\nhello\r\nA\r\n0123456789\r\n0\r\nExpires: never\r\nX-Sum: 15\r\n\r\n',
    options: { role: 'response' },
    lines: [
      ['status-line', 'HTTP/1.1 200 OK\\r\\n'],
      ['field-line', 'Transfer-Encoding: chunked\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['chunk-size', '5;ext="a b"\\r\\n'],
      ['chunk-data', '… 5 bytes of chunk data …\\r\\n'],
      ['chunk-size', 'A\\r\\n'],
      ['chunk-data', '… 10 bytes of chunk data …\\r\\n'],
      ['last-chunk', '0\\r\\n'],
      ['trailer-field', 'Expires: never\\r\\n'],
      ['trailer-field', 'X-Sum: 15\\r\\n'],
      ['empty-line', '\\r\\n'],
    ],
  },
  {
    name: 'chunked with a preview: a short chunk whole (with its CRLF), a long one cut',
    wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\nc\r\nhello, world\r\n0\r\n\r\n',
    options: { role: 'response', preview: 5 },
    lines: [
      ['status-line', 'HTTP/1.1 200 OK\\r\\n'],
      ['field-line', 'Transfer-Encoding: chunked\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['chunk-size', '2\\r\\n'],
      ['chunk-data', 'hi\\r\\n'],
      ['chunk-size', 'c\\r\\n'],
      ['chunk-data', 'hello… 12 bytes of chunk data …\\r\\n'],
      ['last-chunk', '0\\r\\n'],
      ['empty-line', '\\r\\n'],
    ],
  },
  {
    name: 'a response to HEAD has no body, whatever its Content-Length says; the next response follows at once',
    wire: `${RESPONSE_HEAD_4500}HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno`,
    options: { role: 'response', methods: ['HEAD', 'GET'] },
    lines: [
      ...RESPONSE_HEAD_4500_LINES,
      ['status-line', 'HTTP/1.1 404 Not Found\\r\\n'],
      ['field-line', 'Content-Length: 2\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['body', '… 2 bytes of body …'],
    ],
  },
  {
    name: '204 and 304 have no body (even with a Content-Length); 1xx is interim',
    wire:
      'HTTP/1.1 204 No Content\r\n\r\n' +
      'HTTP/1.1 304 Not Modified\r\nContent-Length: 4500\r\n\r\n' +
      'HTTP/1.1 100 Continue\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nend',
    options: { role: 'response', methods: ['GET', 'GET', 'POST'] },
    lines: [
      ['status-line', 'HTTP/1.1 204 No Content\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['status-line', 'HTTP/1.1 304 Not Modified\\r\\n'],
      ['field-line', 'Content-Length: 4500\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['status-line', 'HTTP/1.1 100 Continue\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['status-line', 'HTTP/1.1 200 OK\\r\\n'],
      ['field-line', 'Content-Length: 3\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['body', '… 3 bytes of body …'],
    ],
  },
  {
    name: 'a body delimited by the close (no Content-Length, HTTP/1.0) is summarized at finish()',
    wire: 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n' + 'x'.repeat(1234),
    options: { role: 'response', preview: 3 },
    lines: [
      ['status-line', 'HTTP/1.0 200 OK\\r\\n'],
      ['field-line', 'Content-Type: text/plain\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['body', 'xxx… 1,234 bytes of body …'],
    ],
  },
  {
    name: 'pipelined responses in one write: each message framed by its own Content-Length',
    wire: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\noneHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthreeHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
    options: { role: 'response', methods: ['GET', 'GET', 'GET'] },
    lines: [
      ['status-line', 'HTTP/1.1 200 OK\\r\\n'],
      ['field-line', 'Content-Length: 3\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['body', '… 3 bytes of body …'],
      ['status-line', 'HTTP/1.1 200 OK\\r\\n'],
      ['field-line', 'Content-Length: 5\\r\\n'],
      ['empty-line', '\\r\\n'],
      ['body', '… 5 bytes of body …'],
      ['status-line', 'HTTP/1.1 404 Not Found\\r\\n'],
      ['field-line', 'Content-Length: 0\\r\\n'],
      ['empty-line', '\\r\\n'],
    ],
  },
];

/** Whole, one byte at a time, split at every position — capped for long vectors (pieces of 7 instead of single bytes is still a split everywhere). */
function feedings(wire: Buffer) {
  if (wire.length <= 600) return [...threeWays(wire)];
  const cuts = [1, 2, 50, 63, 64, 65, 100, wire.length - 2, wire.length - 1];
  return [
    { name: 'all at once', pieces: [Buffer.from(wire)] },
    { name: 'one byte at a time', pieces: inPiecesOf(wire, 1) },
    { name: 'pieces of 7', pieces: inPiecesOf(wire, 7) },
    ...cuts.map((cut) => ({ name: `split at byte ${cut}`, pieces: cutAt(wire, [cut]) })),
    ...Array.from({ length: 40 }, (_, index) => Math.floor(((index + 1) * wire.length) / 41)).map((cut) => ({
      name: `split at byte ${cut}`,
      pieces: cutAt(wire, [cut]),
    })),
  ];
}

for (const [side, vectors] of [
  ['request', REQUEST_VECTORS],
  ['response', RESPONSE_VECTORS],
] as const) {
  describe(`WireLabeller, ${side} side: the same lines whole, one byte at a time, split at every position`, () => {
    for (const vector of vectors) {
      test(vector.name, () => {
        const wire = bytes(vector.wire);
        for (const feeding of feedings(wire)) {
          const lines = label(feeding.pieces, vector.options);
          assert.deepEqual(lines, vector.lines, feeding.name);
          assert.equal(accountedBytes(lines), wire.length, `${feeding.name}: every byte is accounted for`);
        }
      });
    }
  });
}

describe('WireLabeller: what a line waits for', () => {
  test('a head line is labelled when its LF arrives, not before', () => {
    const wire = new WireLabeller('request');
    assert.deepEqual(wire.push(bytes('GET / HTTP/1.1\r')), []);
    assert.deepEqual(wire.push(bytes('\nHo')), [{ element: 'request-line', text: 'GET / HTTP/1.1\\r\\n' }]);
    assert.deepEqual(wire.push(bytes('st: x\r\n')), [{ element: 'field-line', text: 'Host: x\\r\\n' }]);
  });

  test('a Content-Length body is summarized when its last byte arrives, before any close', () => {
    const wire = labeller({ role: 'response' });
    wire.push(bytes(RESPONSE_HEAD_4500));
    assert.deepEqual(wire.push(bytes(BODY_4500.slice(0, 4499))), []);
    assert.deepEqual(wire.push(bytes('j')), [{ element: 'body', text: '… 4,500 bytes of body …' }]);
    assert.deepEqual(wire.finish(), []);
  });

  test('an until-close body gives no line until finish()', () => {
    const wire = labeller({ role: 'response', preview: 0 });
    const lines = wire.push(bytes('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nsome bytes'));
    assert.deepEqual(
      lines.map((line) => line.element),
      ['status-line', 'field-line', 'empty-line'],
    );
    assert.deepEqual(wire.push(bytes(' and more')), []);
    assert.deepEqual(wire.finish(), [{ element: 'body', text: '… 19 bytes of body …' }]);
  });

  test('without expectResponseTo("HEAD") the same bytes wait for a body (the HEAD vector is not vacuous)', () => {
    const lines = label([bytes(`${RESPONSE_HEAD_4500}HTTP/1.1 404 Not Found\r\n`)], { role: 'response', finish: false });
    assert.deepEqual(lines, RESPONSE_HEAD_4500_LINES, 'the 404 line is taken as part of the 4,500-byte body');
  });

  test('finish() resets: the next connection starts with a head', () => {
    const wire = labeller({ role: 'request' });
    wire.push(bytes('GET / HT'));
    assert.deepEqual(wire.finish(), [{ element: 'unparsed', text: 'GET / HT' }]);
    assert.deepEqual(wire.push(bytes('GET /next HTTP/1.1\r\n')), [{ element: 'request-line', text: 'GET /next HTTP/1.1\\r\\n' }]);
  });
});

describe('WireLabeller: a connection that closes in the middle of a message', () => {
  test('a Content-Length body cut short: the summary does not claim bytes that never came', () => {
    // 3 of the announced 4,500 bytes arrive, then the peer closes.
    const lines = label([bytes(`${RESPONSE_HEAD_4500}abc`)], { role: 'response' });
    const bodyLine = lines.find(([element]) => element === 'body');
    assert.ok(bodyLine !== undefined, `a body line at finish(): ${JSON.stringify(lines)}`);
    assert.doesNotMatch(bodyLine[1], /^… 4,500 bytes of body …$/, 'only 3 bytes of body crossed the wire');
    assert.equal(accountedBytes(lines), RESPONSE_HEAD_4500.length + 3, JSON.stringify(lines));
  });

  test('chunk data cut short: the bytes that came are still shown', () => {
    const wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe';
    for (const feeding of threeWays(bytes(wire))) {
      const lines = label(feeding.pieces, { role: 'response' });
      assert.equal(accountedBytes(lines), wire.length, `${feeding.name}: "he" must appear in the trace: ${JSON.stringify(lines)}`);
    }
  });

  test('a head cut short is shown as unparsed at finish()', () => {
    for (const feeding of threeWays(bytes('HTTP/1.1 200 OK\r\nContent-Le'))) {
      assert.deepEqual(
        label(feeding.pieces, { role: 'response' }),
        [
          ['status-line', 'HTTP/1.1 200 OK\\r\\n'],
          ['unparsed', 'Content-Le'],
        ],
        feeding.name,
      );
    }
  });
});

describe("WireLabeller: a broken peer's bytes are shown, never lost", () => {
  const BROKEN: Array<{ name: string; wire: string; options: LabelOptions; before: Line[]; unparsed: string }> = [
    {
      name: 'a head the parser rejects (Content-Length: abc): what follows the empty line is unparsed',
      wire: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\nhello\r\nGET / HTTP/1.1\r\n\r\n',
      options: { role: 'request' },
      before: [
        ['request-line', 'POST / HTTP/1.1\\r\\n'],
        ['field-line', 'Host: x\\r\\n'],
        ['field-line', 'Content-Length: abc\\r\\n'],
        ['empty-line', '\\r\\n'],
      ],
      unparsed: 'hello\\r\\nGET / HTTP/1.1\\r\\n\\r\\n',
    },
    {
      name: 'a chunk size that is not hex',
      wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nwhat is this\r\n0\r\n\r\n',
      options: { role: 'response' },
      before: [
        ['status-line', 'HTTP/1.1 200 OK\\r\\n'],
        ['field-line', 'Transfer-Encoding: chunked\\r\\n'],
        ['empty-line', '\\r\\n'],
      ],
      unparsed: 'zz\\r\\nwhat is this\\r\\n0\\r\\n\\r\\n',
    },
    {
      name: 'two Content-Length fields that disagree (a smuggling attempt)',
      wire: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 20\r\n\r\nabcdefghijklmnopqrst',
      options: { role: 'request' },
      before: [
        ['request-line', 'POST / HTTP/1.1\\r\\n'],
        ['field-line', 'Host: x\\r\\n'],
        ['field-line', 'Content-Length: 1\\r\\n'],
        ['field-line', 'Content-Length: 20\\r\\n'],
        ['empty-line', '\\r\\n'],
      ],
      unparsed: 'abcdefghijklmnopqrst',
    },
  ];

  for (const vector of BROKEN) {
    test(vector.name, () => {
      const wire = bytes(vector.wire);
      for (const feeding of threeWays(wire)) {
        const lines = label(feeding.pieces, vector.options);
        // How the unparsed rest is cut into lines depends on how it arrived; its text does not.
        const head = lines.slice(0, vector.before.length);
        const rest = lines.slice(vector.before.length);
        assert.deepEqual(head, vector.before, feeding.name);
        assert.ok(
          rest.every(([element]) => element === 'unparsed'),
          `${feeding.name}: ${JSON.stringify(rest)}`,
        );
        assert.equal(rest.map(([, text]) => text).join(''), vector.unparsed, feeding.name);
        assert.equal(accountedBytes(lines), wire.length, feeding.name);
      }
    });
  }

  test('a chunk whose data is not followed by CRLF is not shown as if it were', () => {
    // The classic chunked-encoder mistake: "5\r\nhello" then the next size line, without the CRLF
    // that ends chunk-data. A trace that prints "…\r\n" here would hide the very bug it should show.
    const wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY0\r\n\r\n';
    const lines = label([bytes(wire)], { role: 'response' });
    assert.ok(
      lines.some(([, text]) => text.includes('XY')),
      `the bytes "XY" that stand where CRLF belongs must appear: ${JSON.stringify(lines)}`,
    );
  });

  test('a chunked body with bare LF line ends (accepted in heads) is labelled chunk by chunk', () => {
    // The labeller reads heads with allowBareLineFeed, as a lenient client does; the response parser
    // accepts "5\nhello\n0\n\n" too (body-decoder.test.ts), so the trace should not fall apart here.
    const wire = 'HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n';
    const lines = label([bytes(wire)], { role: 'response' });
    assert.deepEqual(
      lines.map(([element]) => element),
      ['status-line', 'field-line', 'empty-line', 'chunk-size', 'chunk-data', 'last-chunk', 'empty-line'],
      JSON.stringify(lines),
    );
  });

  test('a line longer than 64 KiB without LF is shown, and nothing more is held back', () => {
    const wire = labeller({ role: 'request' });
    const piece = Buffer.alloc(1024, 0x61);
    let shownBeforeClose = 0;
    let pushed = 0;
    for (let index = 0; index < 70; index++) {
      pushed += piece.length;
      shownBeforeClose += accountedBytes(wire.push(piece));
    }
    assert.ok(shownBeforeClose > 64 * 1024, `past 64 KiB the held bytes are shown (${shownBeforeClose} of ${pushed})`);
    // From then on every push is shown at once: nothing accumulates, however long the line grows.
    for (let index = 0; index < 200; index++) {
      const lines = wire.push(piece);
      assert.equal(accountedBytes(lines), piece.length, `push ${index} after the limit`);
      assert.ok(
        lines.every((line) => line.element === 'unparsed'),
        'unparsed',
      );
    }
    const rest = wire.finish();
    assert.equal(shownBeforeClose + accountedBytes(rest), pushed);
  });

  test('a long head line with its LF (60 KiB, in 1 KiB pieces) is still one request-line', () => {
    const target = `/${'p'.repeat(60 * 1024)}`;
    const wire = bytes(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const lines = label(inPiecesOf(wire, 1024), { role: 'request' });
    assert.deepEqual(lines, [
      ['request-line', `GET ${target} HTTP/1.1\\r\\n`],
      ['field-line', 'Host: x\\r\\n'],
      ['empty-line', '\\r\\n'],
    ]);
  });
});

describe('escapeBytes', () => {
  const VECTORS: Array<{ name: string; input: Buffer; text: string }> = [
    { name: 'printable ASCII as is', input: bytes('GET /a?b=c#d HTTP/1.1'), text: 'GET /a?b=c#d HTTP/1.1' },
    { name: 'CR, LF, TAB', input: bytes('a\r\n\tb'), text: 'a\\r\\n\\tb' },
    { name: 'a backslash is doubled, so "\\r" typed by a peer differs from a CR', input: bytes('C:\\r\\n'), text: 'C:\\\\r\\\\n' },
    { name: 'ESC never raw: a colour sequence is shown, not obeyed', input: bytes('\x1b[31mred\x1b[0m'), text: '\\x1b[31mred\\x1b[0m' },
    { name: 'a terminal title sequence (OSC ... BEL)', input: bytes('\x1b]0;pwned\x07'), text: '\\x1b]0;pwned\\x07' },
    { name: 'NUL, backspace, DEL', input: bytes('\x00\x08\x7f'), text: '\\x00\\x08\\x7f' },
    { name: 'C1 controls in UTF-8 (NEL U+0085, CSI U+009B)', input: Buffer.from('a\u0085b\u009b2J', 'utf8'), text: 'a\\u{85}b\\u{9b}2J' },
    { name: 'a C1 byte that is not UTF-8 (0x9B alone)', input: bytes('\x9b2J'), text: '\\x9b2J' },
    {
      name: 'bidi override U+202E (text that reads backwards)',
      input: Buffer.from('file\u202Etxt.exe', 'utf8'),
      text: 'file\\u{202e}txt.exe',
    },
    {
      name: 'the other bidi controls: embeddings, isolates, marks',
      input: Buffer.from('\u202A\u202B\u202C\u202D\u2066\u2067\u2068\u2069\u200E\u200F', 'utf8'),
      text: '\\u{202a}\\u{202b}\\u{202c}\\u{202d}\\u{2066}\\u{2067}\\u{2068}\\u{2069}\\u{200e}\\u{200f}',
    },
    { name: 'valid UTF-8 letters are shown as letters', input: Buffer.from('café Ω 日本 😀', 'utf8'), text: 'café Ω 日本 😀' },
    { name: 'an invalid byte', input: bytes('\xff'), text: '\\xff' },
    { name: 'a truncated sequence', input: bytes('\xc3'), text: '\\xc3' },
    { name: 'an overlong encoding of "/"', input: bytes('\xc0\xaf'), text: '\\xc0\\xaf' },
    { name: 'a UTF-16 surrogate encoded in UTF-8', input: bytes('\xed\xa0\x80'), text: '\\xed\\xa0\\x80' },
    { name: 'latin1 (a lone \\xe9 is not UTF-8)', input: bytes('caf\xe9'), text: 'caf\\xe9' },
    { name: 'the empty buffer', input: Buffer.alloc(0), text: '' },
  ];

  for (const vector of VECTORS) {
    test(vector.name, () => {
      assert.equal(escapeBytes(vector.input), vector.text);
      assert.ok(unescapeText(vector.text).equals(vector.input), 'the text reads back to the same bytes');
    });
  }

  test('valid UTF-8 next to an invalid byte is still shown as letters', () => {
    // One stray byte (a preview cut inside a character, a latin1 field) should not turn every
    // other non-ASCII letter of the line into \xNN: "valid UTF-8 letters as themselves".
    assert.equal(escapeBytes(Buffer.concat([Buffer.from('café Ω ', 'utf8'), bytes('\xff')])), 'café Ω \\xff');
  });

  test('property: no raw control, C1 or bidi character ever comes out, and the text reads back to the bytes', () => {
    const UNSAFE = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.string({ unit: 'grapheme', maxLength: 50 }).map((text) => new Uint8Array(Buffer.from(text, 'utf8'))),
        ),
        (data) => {
          const input = Buffer.from(data);
          const text = escapeBytes(input);
          assert.doesNotMatch(text, UNSAFE);
          assert.ok(unescapeText(text).equals(input), JSON.stringify(text));
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('WireLabeller: properties', () => {
  const cutsOf = (length: number, cuts: number[]) => cuts.map((cut) => (length === 0 ? 0 : cut % length));

  test('random bytes, in random pieces, never throw and every byte is accounted for', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'request' | 'response'>('request', 'response'),
        fc.uint8Array({ maxLength: 400 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.nat(20),
        (role, data, cuts, preview) => {
          const wire = Buffer.from(data);
          const lines = label(cutAt(wire, cutsOf(wire.length, cuts)), { role, preview });
          assert.equal(accountedBytes(lines), wire.length, JSON.stringify(lines));
        },
      ),
      { numRuns: RUNS },
    );
  });

  // Messages that reach the body states (random bytes almost never form a valid head), then cut
  // anywhere — a peer may close at any byte — or followed by garbage.
  const token = fc.stringMatching(/^[a-z]{1,6}$/);
  const bodyText = fc.stringMatching(/^[a-z0-9 ]{0,40}$/);
  const message = fc.oneof(
    fc
      .tuple(fc.constantFrom('200 OK', '404 Not Found'), bodyText)
      .map(([status, text]) => `HTTP/1.1 ${status}\r\nContent-Length: ${text.length}\r\n\r\n${text}`),
    fc
      .tuple(
        fc.array(
          bodyText.filter((text) => text.length > 0),
          { maxLength: 3 },
        ),
        fc.option(token),
      )
      .map(
        ([chunks, trailer]) =>
          `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunks.map((chunk) => `${chunk.length.toString(16)};x=${chunk.length}\r\n${chunk}\r\n`).join('')}0\r\n${trailer === null ? '' : `X-${trailer}: 1\r\n`}\r\n`,
      ),
    bodyText.map((text) => `HTTP/1.0 200 OK\r\n\r\n${text}`),
    fc.constant('HTTP/1.1 204 No Content\r\n\r\n'),
  );

  test('valid responses, cut at any byte or followed by garbage, in random pieces: every byte is accounted for', () => {
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 3 }),
        fc.nat(),
        fc.uint8Array({ maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.nat(12),
        (messages, end, garbage, cuts, preview) => {
          const whole = Buffer.concat([bytes(messages.join('')), Buffer.from(garbage)]);
          const wire = whole.subarray(0, whole.length === 0 ? 0 : (end % whole.length) + 1);
          const lines = label(cutAt(wire, cutsOf(wire.length, cuts)), { role: 'response', preview });
          assert.equal(accountedBytes(lines), wire.length, `${JSON.stringify(wire.toString('latin1'))} -> ${JSON.stringify(lines)}`);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
