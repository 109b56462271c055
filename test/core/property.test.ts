/**
 * Properties of the protocol core, checked with fast-check on generated input:
 *  (a) a generated valid request stream gives the same events however it is cut into pushes;
 *  (b) any bytes at all either parse or raise our HttpProtocolError — never anything else — and give
 *      the same outcome whole or in pieces (the fuzz invariant of STYLE.md);
 *  (c) what the serializer writes parses back to what it was given.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ChunkedDecoder } from '../../src/core/body-decoder.js';
import { HttpProtocolError } from '../../src/core/errors.js';
import type { FieldLine } from '../../src/core/fields.js';
import { decideRequestBodyLength, decideResponseBodyLength, wantsKeepAlive } from '../../src/core/framing.js';
import { type HttpVersion, parseFieldLines, parseRequestHead, parseResponseHead, scanForHeadEnd } from '../../src/core/head-parser.js';
import { formatHttpDate, parseHttpDate } from '../../src/core/http-date.js';
import { DEFAULT_REQUEST_LIMITS, DEFAULT_RESPONSE_LIMITS, type Limits } from '../../src/core/limits.js';
import { RequestReader, ResponseReader } from '../../src/core/message-reader.js';
import { serializeRequestHead, serializeResponseHead } from '../../src/core/serializer.js';
import {
  CHUNKED,
  NO_BODY,
  type Observed,
  type ReadOutcome,
  body,
  bytes,
  cutAt,
  end,
  length,
  requestHead,
  runDecoder,
  runReader,
} from './vectors.js';

/** Runs per property; raise it for a longer fuzz session, e.g. PROPERTY_RUNS=20000. */
const RUNS = Number(process.env['PROPERTY_RUNS'] ?? 300);

// ---------------------------------------------------------------------------------------------
// Alphabets of the grammar (RFC 9110 §5.6.2, §5.5; RFC 9112 §3.2)

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String.fromCharCode(from + i));
const TCHARS = [..."!#$%&'*+-.^_`|~", ...range(0x30, 0x39), ...range(0x41, 0x5a), ...range(0x61, 0x7a)];
const TARGET_CHARS = range(0x21, 0x7e);
const FIELD_VCHARS = [...range(0x21, 0x7e), ...range(0x80, 0xff)];

const token = (maxLength = 12) => fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength });
const target = fc.oneof(
  { weight: 1, arbitrary: fc.constant('*') },
  { weight: 9, arbitrary: fc.string({ unit: fc.constantFrom(...TARGET_CHARS), maxLength: 40 }).map((path) => `/${path}`) },
);
/** field-value = *field-content: visible characters with SP/HTAB only between them. */
const fieldValue = fc
  .string({
    unit: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...FIELD_VCHARS) }, { weight: 2, arbitrary: fc.constantFrom(' ', '\t') }),
    maxLength: 30,
  })
  .map((value) => value.replace(/^[ \t]+|[ \t]+$/g, ''));
/** Names whose meaning would change the framing or Host rules; generated separately where needed. */
const SPECIAL_NAMES = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);
const fieldName = token(16).filter((name) => !SPECIAL_NAMES.has(name.toLowerCase()));
const fieldLines = (maxLength: number) => fc.array(fc.tuple(fieldName, fieldValue), { maxLength });
const latin1Data = (minLength: number, maxLength: number) =>
  fc.uint8Array({ minLength, maxLength }).map((data) => Buffer.from(data).toString('latin1'));

const chunkExtension = fc.oneof(
  fc.constant(''),
  token(8).map((name) => `;${name}`),
  fc.tuple(token(8), token(8)).map(([name, value]) => `;${name}=${value}`),
  fc.tuple(token(8), token(8)).map(([name, value]) => ` ; ${name}="${value}";x`),
);
const chunk = fc.record({
  data: latin1Data(1, 40),
  extension: chunkExtension,
  upperCase: fc.boolean(),
  leadingZeros: fc.nat(3),
});

type BodySpec =
  | { kind: 'none' }
  | { kind: 'length'; data: string }
  | { kind: 'chunked'; chunks: { data: string; extension: string; upperCase: boolean; leadingZeros: number }[]; trailers: FieldLine[] };

const bodySpec: fc.Arbitrary<BodySpec> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  latin1Data(0, 80).map((data) => ({ kind: 'length' as const, data })),
  fc.record({ kind: fc.constant('chunked' as const), chunks: fc.array(chunk, { maxLength: 5 }), trailers: fieldLines(3) }),
);

interface GeneratedRequest {
  wire: string;
  events: Observed[];
}

/** A valid request, written by hand (not by our serializer), with the events it must produce. */
const validRequest: fc.Arbitrary<GeneratedRequest> = fc
  .record({
    method: token(10),
    target,
    http10: fc.boolean(),
    fields: fieldLines(8),
    hostFirst: fc.boolean(),
    afterColon: fc.constantFrom('', ' ', '\t', '  '),
    body: bodySpec,
  })
  .map(({ method, target, http10, fields, hostFirst, afterColon, body: spec }) => {
    const version: HttpVersion = http10 && spec.kind !== 'chunked' ? '1.0' : '1.1';
    const lines: FieldLine[] = hostFirst ? [['Host', 'example.com'], ...fields] : [...fields, ['host', 'example.com:80']];
    if (spec.kind === 'length') lines.push(['Content-Length', String(spec.data.length)]);
    if (spec.kind === 'chunked') lines.push(['Transfer-Encoding', 'chunked']);
    let wire = `${method} ${target} HTTP/${version}\r\n${lines.map(([name, value]) => `${name}:${afterColon}${value}\r\n`).join('')}\r\n`;
    let data = '';
    let trailers: FieldLine[] | null = null;
    if (spec.kind === 'length') {
      wire += spec.data;
      data = spec.data;
    } else if (spec.kind === 'chunked') {
      for (const piece of spec.chunks) {
        const size = piece.data.length.toString(16);
        wire += `${'0'.repeat(piece.leadingZeros)}${piece.upperCase ? size.toUpperCase() : size}${piece.extension}\r\n${piece.data}\r\n`;
        data += piece.data;
      }
      wire += `0\r\n${spec.trailers.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;
      trailers = spec.trailers.length > 0 ? spec.trailers : null;
    }
    const framing = spec.kind === 'chunked' ? CHUNKED : data.length > 0 ? length(data.length) : NO_BODY;
    const events: Observed[] = [requestHead(method, target, version, lines, framing, version === '1.1')];
    if (data.length > 0) events.push(body(data));
    events.push(end(trailers));
    return { wire, events };
  });

const requestStream = fc.array(validRequest, { minLength: 1, maxLength: 3 }).map((requests) => ({
  wire: bytes(requests.map((request) => request.wire).join('')),
  events: requests.flatMap((request) => request.events),
}));

const cuts = fc.array(fc.nat(), { maxLength: 12 });

describe('(a) valid requests give the same events however they are cut', () => {
  test('generated request streams, whole and in random pieces', () => {
    fc.assert(
      fc.property(requestStream, cuts, ({ wire, events }, positions) => {
        const whole = runReader(new RequestReader(), [wire]);
        assert.equal(whole.error, null, whole.error?.message);
        assert.deepEqual(whole.events, events);
        const pieces = cutAt(
          wire,
          positions.map((position) => position % wire.length),
        );
        assert.deepEqual(runReader(new RequestReader(), pieces), { events, error: null });
      }),
      { numRuns: RUNS },
    );
  });

  test('generated request streams, one byte at a time', () => {
    fc.assert(
      fc.property(requestStream, ({ wire, events }) => {
        const pieces = cutAt(
          wire,
          Array.from({ length: wire.length }, (_, i) => i),
        );
        assert.deepEqual(runReader(new RequestReader(), pieces), { events, error: null });
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// (b) anything in, only our error out

/** Runs `action`; anything it throws must be an HttpProtocolError. Returns the error code or null. */
function onlyProtocolErrors(action: () => void): string | null {
  try {
    action();
    return null;
  } catch (error) {
    if (error instanceof HttpProtocolError) return error.code;
    throw error;
  }
}

/**
 * The lower layers called directly, because the readers turn any unexpected exception into an
 * 'incomplete-message' error and would hide it.
 */
function parseDirectly(input: Buffer): void {
  for (const [isRequest, limits] of [
    [true, DEFAULT_REQUEST_LIMITS],
    [false, DEFAULT_RESPONSE_LIMITS],
  ] as [boolean, Limits][]) {
    onlyProtocolErrors(() => {
      const scan = scanForHeadEnd(input, 0, 0, limits, isRequest);
      if (!scan.complete) return;
      onlyProtocolErrors(() => parseFieldLines(input, 0, scan.headEnd, limits, 400));
      if (isRequest) {
        const head = parseRequestHead(input, 0, scan.headEnd, limits);
        onlyProtocolErrors(() => decideRequestBodyLength(head.version, head.fields));
        wantsKeepAlive(head.version, head.fields);
      } else {
        const head = parseResponseHead(input, 0, scan.headEnd, limits);
        for (const method of ['GET', 'HEAD', 'CONNECT'])
          onlyProtocolErrors(() => decideResponseBodyLength(method, head.status, head.version, head.fields));
      }
    });
    onlyProtocolErrors(() => runDecoder(new ChunkedDecoder(limits), [input], { peerCloses: true }));
    onlyProtocolErrors(() =>
      runDecoder(new ChunkedDecoder(limits), cutAt(input, [1, 2, 3, 5, 8, 13, 21, 34, 55, 89]), { peerCloses: true }),
    );
  }
}

function summary(outcome: ReadOutcome): { events: Observed[]; code: string | null } {
  return { events: outcome.events, code: outcome.error?.code ?? null };
}

/** Both readers, whole and in pieces, with and without a close: only our errors, and the same outcome every way. */
function readEveryWay(input: Buffer, positions: number[]): void {
  const readers: [string, () => RequestReader | ResponseReader][] = [
    ['request', () => new RequestReader()],
    [
      'response',
      () => {
        const reader = new ResponseReader();
        for (const method of ['GET', 'HEAD', 'POST', 'GET']) reader.expectResponseTo(method);
        return reader;
      },
    ],
  ];
  const pieces =
    input.length === 0
      ? [input]
      : cutAt(
          input,
          positions.map((position) => position % input.length),
        );
  for (const [name, makeReader] of readers) {
    for (const peerCloses of [false, true]) {
      const whole = summary(runReader(makeReader(), [input], { peerCloses }));
      const split = summary(runReader(makeReader(), pieces, { peerCloses }));
      assert.deepEqual(split, whole, `${name} reader, peerCloses ${peerCloses}: split differs from whole`);
    }
  }
}

/** Pieces of HTTP, so that random sequences reach deeper than the request line. */
const HTTP_SHARDS = [
  'GET',
  'POST',
  'HEAD',
  ' ',
  '  ',
  '/',
  '/index.html',
  '*',
  'HTTP/1.1',
  'HTTP/1.0',
  'HTTP/2.0',
  'HTTP/1.1 200 OK',
  'HTTP/1.1 100 Continue',
  'HTTP/1.0 204 No Content',
  '\r\n',
  '\r\n\r\n',
  '\n',
  '\r',
  '\t',
  ':',
  ': ',
  ';',
  '=',
  ',',
  'Host: a',
  'Host',
  'Content-Length: 5',
  'Content-Length: 0',
  'Content-Length: 5, 6',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: gzip',
  'Connection: close',
  '0',
  '5',
  'a',
  'ffffffffffffffffff',
  'hello',
  '\x00',
  '\x7f',
  '\xff',
  '\xe9',
  '"',
  '\\',
];
const httpLike = fc.array(fc.constantFrom(...HTTP_SHARDS), { maxLength: 40 }).map((shards) => bytes(shards.join('')));

const mutation = fc.record({ at: fc.nat(), kind: fc.constantFrom('replace', 'insert', 'delete'), byte: fc.integer({ min: 0, max: 255 }) });
/** A valid request stream with a few bytes changed, inserted or removed. */
const mutatedRequest = fc.tuple(requestStream, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([{ wire }, mutations]) => {
  const octets = [...wire];
  for (const { at, kind, byte } of mutations) {
    const index = at % (octets.length + 1);
    if (kind === 'insert') octets.splice(index, 0, byte);
    else if (index < octets.length) {
      if (kind === 'replace') octets[index] = byte;
      else octets.splice(index, 1);
    }
  }
  return Buffer.from(octets);
});

describe('(b) any bytes either parse or raise our protocol error, the same whole or in pieces', () => {
  const inputs: [string, fc.Arbitrary<Buffer>][] = [
    ['random bytes', fc.uint8Array({ maxLength: 300 }).map((array) => Buffer.from(array))],
    ['random sequences of HTTP pieces', httpLike],
    ['valid requests with a few bytes mutated', mutatedRequest],
  ];
  for (const [name, arbitrary] of inputs) {
    test(`${name}: the readers`, () => {
      fc.assert(
        fc.property(arbitrary, cuts, (input, positions) => readEveryWay(input, positions)),
        { numRuns: RUNS },
      );
    });
    test(`${name}: the parsers and decoders called directly`, () => {
      fc.assert(
        fc.property(arbitrary, (input) => parseDirectly(input)),
        { numRuns: RUNS },
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------
// (c) serialize, then parse

describe('(c) what the serializer writes parses back to the same head', () => {
  const version = fc.constantFrom<HttpVersion>('1.0', '1.1');
  const anyFieldLines = fc.array(fc.tuple(token(16), fieldValue), { maxLength: 10 });

  test('request heads', () => {
    fc.assert(
      fc.property(token(10), target, anyFieldLines, version, (method, requestTarget, fields, httpVersion) => {
        const wire = serializeRequestHead(method, requestTarget, fields, httpVersion);
        assert.deepEqual(scanForHeadEnd(wire, 0, 0, DEFAULT_REQUEST_LIMITS, true), { complete: true, headEnd: wire.length });
        const head = parseRequestHead(wire, 0, wire.length, DEFAULT_REQUEST_LIMITS);
        assert.deepEqual(
          { method: head.method, target: head.target, version: head.version, fields: head.fields.toJSON() },
          { method, target: requestTarget, version: httpVersion, fields },
        );
      }),
      { numRuns: RUNS },
    );
  });

  test('response heads', () => {
    const reason = fc.string({ unit: fc.constantFrom(...FIELD_VCHARS, ' ', '\t'), maxLength: 30 });
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 999 }), reason, anyFieldLines, version, (status, reasonPhrase, fields, httpVersion) => {
        const wire = serializeResponseHead(status, fields, reasonPhrase, httpVersion);
        assert.deepEqual(scanForHeadEnd(wire, 0, 0, DEFAULT_RESPONSE_LIMITS, false), { complete: true, headEnd: wire.length });
        const head = parseResponseHead(wire, 0, wire.length, DEFAULT_RESPONSE_LIMITS);
        assert.deepEqual(
          { version: head.version, status: head.status, reason: head.reason, fields: head.fields.toJSON() },
          { version: httpVersion, status, reason: reasonPhrase, fields },
        );
      }),
      { numRuns: RUNS },
    );
  });

  test('any string as a field value: refused, or sent as exactly one field line (no injection)', () => {
    const anyText = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }), latin1Data(0, 20));
    fc.assert(
      fc.property(fc.string({ maxLength: 10 }), anyText, (name, value) => {
        let wire: Buffer;
        try {
          wire = serializeRequestHead('GET', '/', [
            ['Host', 'a'],
            [name, value],
            ['X-After', '1'],
          ]);
        } catch (error) {
          assert.ok(error instanceof HttpProtocolError && error.code === 'bad-field-to-send' && error.side === 'local');
          return;
        }
        const head = parseRequestHead(wire, 0, wire.length, DEFAULT_REQUEST_LIMITS);
        assert.deepEqual(head.fields.toJSON(), [
          ['Host', 'a'],
          [name, value.replace(/^[ \t]+|[ \t]+$/g, '')],
          ['X-After', '1'],
        ]);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('http-date: format then parse', () => {
  test('any whole second from the year 100 to 9999 comes back', () => {
    const earliest = new Date('0100-01-01T00:00:00Z').getTime() / 1000;
    const latest = new Date('9999-12-31T23:59:59Z').getTime() / 1000;
    fc.assert(
      fc.property(fc.integer({ min: earliest, max: latest }), (seconds) => {
        assert.equal(parseHttpDate(formatHttpDate(seconds * 1000), Date.UTC(2026, 10, 23)), seconds * 1000);
      }),
      { numRuns: 500 },
    );
  });
});
