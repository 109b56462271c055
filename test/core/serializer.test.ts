import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChunkedDecoder } from '../../src/core/body-decoder.js';
import { HttpProtocolError } from '../../src/core/errors.js';
import { type FieldLine, Fields } from '../../src/core/fields.js';
import { parseRequestHead, parseResponseHead, scanForHeadEnd } from '../../src/core/head-parser.js';
import { DEFAULT_REQUEST_LIMITS, DEFAULT_RESPONSE_LIMITS } from '../../src/core/limits.js';
import { RequestReader, ResponseReader } from '../../src/core/message-reader.js';
import { LAST_CHUNK, encodeChunk, serializeRequestHead, serializeResponseHead } from '../../src/core/serializer.js';
import { REASON_PHRASES, reasonPhrase } from '../../src/core/status.js';
import { bytes, inPiecesOf, runDecoder, runReader, threeWays } from './vectors.js';

/** Asserts that `action` refuses what the caller asked to send: bad-field-to-send, our side's fault, 500. */
function assertRefusedToSend(action: () => unknown, context = ''): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof HttpProtocolError, context);
    assert.equal(error.code, 'bad-field-to-send', context);
    assert.equal(error.side, 'local', context);
    assert.equal(error.status, 500, context);
    return true;
  });
}

describe('serializeRequestHead', () => {
  test('writes the request line, the field lines in order and the empty line', () => {
    const head = serializeRequestHead('GET', '/wireshark-labs/INTRO-wireshark-file1.html', [
      ['Host', 'gaia.cs.umass.edu'],
      ['Accept', '*/*'],
      ['X-Empty', ''],
    ]);
    assert.equal(
      head.toString('latin1'),
      'GET /wireshark-labs/INTRO-wireshark-file1.html HTTP/1.1\r\nHost: gaia.cs.umass.edu\r\nAccept: */*\r\nX-Empty: \r\n\r\n',
    );
  });

  test('HTTP/1.0 and no fields', () => {
    assert.equal(serializeRequestHead('HEAD', '*', [], '1.0').toString('latin1'), 'HEAD * HTTP/1.0\r\n\r\n');
  });

  test('obs-text in a value goes out as single bytes', () => {
    const head = serializeRequestHead('GET', '/', [['X', 'café']]);
    assert.equal(head.length, 'GET / HTTP/1.1\r\nX: café\r\n\r\n'.length);
    assert.deepEqual([...head.subarray(-7)], [0x61, 0x66, 0xe9, 0x0d, 0x0a, 0x0d, 0x0a]);
  });

  test('round trip: what we send parses back to the same request', () => {
    const fields: FieldLine[] = [
      ['Host', 'example.com:8080'],
      ['user-agent', 'sockhttp/0.1'],
      ['X-Tab', 'a\tb'],
      ['X-Latin', '\xe9\xff'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
    ];
    const wire = serializeRequestHead('PATCH', '/a?b=c&d=%20', fields);
    const scan = scanForHeadEnd(wire, 0, 0, DEFAULT_REQUEST_LIMITS, true);
    assert.deepEqual(scan, { complete: true, headEnd: wire.length });
    const head = parseRequestHead(wire, 0, wire.length, DEFAULT_REQUEST_LIMITS);
    assert.deepEqual(
      { method: head.method, target: head.target, version: head.version },
      { method: 'PATCH', target: '/a?b=c&d=%20', version: '1.1' },
    );
    assert.deepEqual(head.fields.toJSON(), fields);
  });

  test('round trip through the RequestReader, with a chunked body', () => {
    const wire = Buffer.concat([
      serializeRequestHead('POST', '/upload', [
        ['Host', 'a'],
        ['Transfer-Encoding', 'chunked'],
      ]),
      ...encodeChunk(bytes('hello ')),
      ...encodeChunk(bytes('world')),
      LAST_CHUNK,
    ]);
    const outcome = runReader(new RequestReader(), [wire]);
    assert.equal(outcome.error, null);
    assert.deepEqual(outcome.events.slice(1), [
      { type: 'body', data: 'hello world' },
      { type: 'end', trailers: null },
    ]);
  });

  const refused: [string, () => unknown][] = [
    ['an empty method', () => serializeRequestHead('', '/', [])],
    ['a method with a space', () => serializeRequestHead('G T', '/', [])],
    ['a method with CRLF', () => serializeRequestHead('GET\r\n', '/', [])],
    ['an empty target', () => serializeRequestHead('GET', '', [])],
    ['a target with a space', () => serializeRequestHead('GET', '/a b', [])],
    ['a target with CRLF', () => serializeRequestHead('GET', '/\r\nX: y', [])],
    ['a target with non-ASCII', () => serializeRequestHead('GET', '/café', [])],
    ['a value with CR', () => serializeRequestHead('GET', '/', [['X', 'a\rb']])],
    ['a value with LF', () => serializeRequestHead('GET', '/', [['X', 'a\nb']])],
    ['a value with CRLF and a second field (header injection)', () => serializeRequestHead('GET', '/', [['X', 'a\r\nX-Injected: 1']])],
    ['a value with NUL', () => serializeRequestHead('GET', '/', [['X', 'a\x00b']])],
    ['a value with DEL', () => serializeRequestHead('GET', '/', [['X', '\x7f']])],
    ['a value with a character beyond latin1', () => serializeRequestHead('GET', '/', [['X', 'price: 5€']])],
    ['an empty name', () => serializeRequestHead('GET', '/', [['', 'v']])],
    ['a name with a space', () => serializeRequestHead('GET', '/', [['X Y', 'v']])],
    ['a name with a colon', () => serializeRequestHead('GET', '/', [['X:Y', 'v']])],
    ['a name with CRLF', () => serializeRequestHead('GET', '/', [['X\r\n', 'v']])],
    ['a name with non-ASCII', () => serializeRequestHead('GET', '/', [['Ünicode', 'v']])],
  ];
  for (const [name, action] of refused) {
    test(`refuses ${name} → bad-field-to-send (local)`, () => assertRefusedToSend(action, name));
  }
});

describe('serializeResponseHead', () => {
  test('the reason phrase of the status by default', () => {
    assert.equal(
      serializeResponseHead(404, [['Content-Length', '0']]).toString('latin1'),
      'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
    );
  });

  test('a given reason phrase and version', () => {
    assert.equal(serializeResponseHead(200, [], 'Fine', '1.0').toString('latin1'), 'HTTP/1.0 200 Fine\r\n\r\n');
  });

  test('an unregistered status has an empty reason, which still parses', () => {
    const wire = serializeResponseHead(299, []);
    assert.equal(wire.toString('latin1'), 'HTTP/1.1 299 \r\n\r\n');
    const head = parseResponseHead(wire, 0, wire.length, DEFAULT_RESPONSE_LIMITS);
    assert.deepEqual({ status: head.status, reason: head.reason }, { status: 299, reason: '' });
  });

  test('round trip through the ResponseReader', () => {
    const fields: FieldLine[] = [
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['Content-Length', '2'],
      ['ETag', '"x"'],
    ];
    const wire = Buffer.concat([serializeResponseHead(200, fields), bytes('hi')]);
    for (const feeding of threeWays(wire)) {
      const fresh = new ResponseReader();
      fresh.expectResponseTo('GET');
      const outcome = runReader(fresh, feeding.pieces);
      assert.deepEqual(
        outcome.events,
        [
          {
            type: 'head',
            head: { version: '1.1', status: 200, reason: 'OK', fields },
            framing: { kind: 'length', length: 2 },
            keepAlive: true,
          },
          { type: 'body', data: 'hi' },
          { type: 'end', trailers: null },
        ],
        feeding.name,
      );
    }
  });

  const refused: [string, () => unknown][] = [
    ['status 99', () => serializeResponseHead(99, [])],
    ['status 1000', () => serializeResponseHead(1000, [])],
    ['status 200.5', () => serializeResponseHead(200.5, [])],
    ['status NaN', () => serializeResponseHead(Number.NaN, [])],
    ['a reason with CRLF', () => serializeResponseHead(200, [], 'OK\r\nX: y')],
    ['a reason with NUL', () => serializeResponseHead(200, [], 'O\x00K')],
    ['a value with LF', () => serializeResponseHead(200, [['Location', '/a\nb']])],
    ['a bad name', () => serializeResponseHead(200, [['Bad Name', 'v']])],
  ];
  for (const [name, action] of refused) {
    test(`refuses ${name} → bad-field-to-send (local)`, () => assertRefusedToSend(action, name));
  }
});

describe('encodeChunk and LAST_CHUNK', () => {
  test('a chunk is its hex size line, the data itself, and CRLF', () => {
    const data = bytes('x'.repeat(255));
    const [sizeLine, same, crlf] = encodeChunk(data);
    assert.equal(sizeLine!.toString('latin1'), 'ff\r\n');
    assert.equal(same, data);
    assert.equal(crlf!.toString('latin1'), '\r\n');
    assert.equal(LAST_CHUNK.toString('latin1'), '0\r\n\r\n');
  });

  test('an empty chunk is refused: it would end the body', () => {
    assertRefusedToSend(() => encodeChunk(Buffer.alloc(0)));
  });

  test('encoded chunks decode back through ChunkedDecoder, in any pieces', () => {
    const sizes = [1, 2, 15, 16, 17, 255, 256, 4095, 4096, 65_537];
    const chunks = sizes.map((size, index) => Buffer.alloc(size, 0x41 + index));
    const wire = Buffer.concat([...chunks.flatMap(encodeChunk), LAST_CHUNK]);
    const expected = Buffer.concat(chunks).toString('latin1');
    for (const size of [wire.length, 1000, 7]) {
      const outcome = runDecoder(new ChunkedDecoder(DEFAULT_REQUEST_LIMITS), inPiecesOf(wire, size));
      assert.deepEqual(outcome, { body: expected, ended: true, trailers: null, leftover: '' }, `pieces of ${size}`);
    }
  });

  test('binary data with CRLF and NUL inside a chunk survives', () => {
    const data = Buffer.from([0x0d, 0x0a, 0x00, 0x30, 0x0d, 0x0a, 0x0d, 0x0a, 0xff]);
    const wire = Buffer.concat([...encodeChunk(data), LAST_CHUNK]);
    for (const feeding of threeWays(wire)) {
      assert.equal(runDecoder(new ChunkedDecoder(DEFAULT_REQUEST_LIMITS), feeding.pieces).body, data.toString('latin1'), feeding.name);
    }
  });
});

describe('status reason phrases', () => {
  const vectors: [number, string][] = [
    [100, 'Continue'],
    [200, 'OK'],
    [204, 'No Content'],
    [206, 'Partial Content'],
    [304, 'Not Modified'],
    [400, 'Bad Request'],
    [404, 'Not Found'],
    [413, 'Content Too Large'],
    [414, 'URI Too Long'],
    [416, 'Range Not Satisfiable'],
    [431, 'Request Header Fields Too Large'],
    [500, 'Internal Server Error'],
    [501, 'Not Implemented'],
    [505, 'HTTP Version Not Supported'],
    [299, ''],
    [999, ''],
  ];
  for (const [status, reason] of vectors) {
    test(`${status} → ${JSON.stringify(reason)}`, () => assert.equal(reasonPhrase(status), reason));
  }

  test('every registered phrase is a valid reason phrase for a status from 100 to 599', () => {
    for (const [status, reason] of Object.entries(REASON_PHRASES)) {
      assert.ok(Number(status) >= 100 && Number(status) <= 599, status);
      assert.match(reason, /^[\x20-\x7e]+$/, status);
      const wire = serializeResponseHead(Number(status), []);
      assert.equal(parseResponseHead(wire, 0, wire.length, DEFAULT_RESPONSE_LIMITS).reason, reason);
    }
  });
});

describe('Fields', () => {
  const sample = () =>
    new Fields([
      ['Host', 'a'],
      ['Accept', 'text/html'],
      ['set-cookie', 'a=1'],
      ['ACCEPT', 'text/plain;q=0.5'],
      ['Set-Cookie', 'b=2'],
      ['Connection', ' Keep-Alive ,, Upgrade , '],
    ]);

  test('keeps order and the original case of names', () => {
    assert.deepEqual(
      [...sample()].map(([name]) => name),
      ['Host', 'Accept', 'set-cookie', 'ACCEPT', 'Set-Cookie', 'Connection'],
    );
    assert.equal(sample().size, 6);
  });

  test('has and get look names up case-insensitively', () => {
    const fields = sample();
    assert.equal(fields.has('HOST'), true);
    assert.equal(fields.has('host'), true);
    assert.equal(fields.has('hos'), false);
    assert.equal(fields.get('hOsT'), 'a');
    assert.equal(fields.get('missing'), undefined);
  });

  test('get combines repeated fields with ", " (RFC 9110 §5.3); getAll keeps them apart', () => {
    const fields = sample();
    assert.equal(fields.get('accept'), 'text/html, text/plain;q=0.5');
    assert.deepEqual(fields.getAll('SET-COOKIE'), ['a=1', 'b=2']);
    assert.deepEqual(fields.getAll('missing'), []);
  });

  test('an empty value is still a value', () => {
    const fields = new Fields([['X', '']]);
    assert.equal(fields.get('x'), '');
    assert.equal(
      new Fields([
        ['X', ''],
        ['X', 'b'],
      ]).get('x'),
      ', b',
    );
  });

  test('tokens splits, trims, lowercases and drops empty elements', () => {
    assert.deepEqual(sample().tokens('connection'), ['keep-alive', 'upgrade']);
    assert.deepEqual(sample().tokens('missing'), []);
  });

  test('append adds at the end; toJSON is a copy', () => {
    const fields = new Fields();
    fields.append('A', '1');
    fields.append('a', '2');
    const json = fields.toJSON();
    json.push(['B', '3']);
    assert.deepEqual(fields.toJSON(), [
      ['A', '1'],
      ['a', '2'],
    ]);
    assert.equal(fields.get('A'), '1, 2');
    assert.equal(JSON.stringify(fields), '[["A","1"],["a","2"]]');
  });
});
