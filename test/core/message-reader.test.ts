import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HttpProtocolError } from '../../src/core/errors.js';
import { RequestReader, ResponseReader } from '../../src/core/message-reader.js';
import {
  CHUNKED,
  NO_BODY,
  type Observed,
  type Rejection,
  UNTIL_CLOSE,
  VALID_REQUESTS,
  assertEventPrefix,
  assertReadsEverywhere,
  assertRejectedEverywhere,
  body,
  bytes,
  closed,
  end,
  inPiecesOf,
  length,
  requestHead,
  responseHead,
  runReader,
} from './vectors.js';

const newRequestReader = () => new RequestReader();

function responseReaderFor(...methods: string[]): () => ResponseReader {
  return () => {
    const reader = new ResponseReader();
    for (const method of methods) reader.expectResponseTo(method);
    return reader;
  };
}

describe('RequestReader: valid requests, whole, one byte at a time and split at every position', () => {
  for (const vector of VALID_REQUESTS) {
    test(vector.name, () => {
      assertReadsEverywhere(newRequestReader, bytes(vector.wire), vector.events);
    });
  }
});

describe('RequestReader: every strict prefix of a valid request needs more and never ends it', () => {
  for (const vector of VALID_REQUESTS) {
    test(vector.name, () => {
      const wire = bytes(vector.wire);
      const headEnd = wire.indexOf('\r\n\r\n', wire.indexOf('HTTP/1.')) + 4;
      for (let cut = 0; cut < wire.length; cut++) {
        const outcome = runReader(new RequestReader(), [wire.subarray(0, cut)]);
        assert.equal(outcome.error, null, `prefix of ${cut} bytes: unexpected ${outcome.error?.code}`);
        if (cut < headEnd) assert.deepEqual(outcome.events, [], `prefix of ${cut} bytes reports no head`);
        assert.ok(
          outcome.events.filter((event) => event.type === 'end').length < vector.events.filter((event) => event.type === 'end').length,
          `prefix of ${cut} bytes does not end the last message`,
        );
        assertEventPrefix(outcome.events, vector.events, `prefix of ${cut} bytes`);
      }
    });
  }
});

describe('RequestReader: what a head event says', () => {
  test('field lookup is case-insensitive and repeated fields are combined with ", "', () => {
    const reader = new RequestReader();
    reader.push(bytes('GET / HTTP/1.1\r\nX-B: 1\r\nhOsT: a\r\nx-b: 2\r\nAccept: text/html\r\nX-B:3\r\n\r\n'));
    const event = reader.next();
    assert.equal(event.type, 'head');
    if (event.type !== 'head') return;
    const { fields } = event.head;
    assert.equal(fields.get('host'), 'a');
    assert.equal(fields.get('HOST'), 'a');
    assert.equal(fields.has('Host'), true);
    assert.equal(fields.get('x-b'), '1, 2, 3');
    assert.deepEqual(fields.getAll('X-B'), ['1', '2', '3']);
    assert.equal(fields.get('accept'), 'text/html');
    assert.equal(fields.get('missing'), undefined);
    assert.equal(fields.size, 5);
  });

  test('body events are views into the pushed bytes, not copies', () => {
    const reader = new RequestReader();
    const wire = bytes('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello');
    reader.push(wire);
    assert.equal(reader.next().type, 'head');
    const event = reader.next();
    assert.equal(event.type, 'body');
    if (event.type !== 'body') return;
    assert.equal(event.data.buffer, wire.buffer);
    assert.equal(event.data.toString(), 'hello');
  });

  test('while paused, pipelined bytes stay buffered and unparsed, even broken ones', () => {
    const reader = new RequestReader();
    const second = 'BROKEN REQUEST\r\n\r\n';
    reader.push(bytes(`GET / HTTP/1.1\r\nHost: a\r\n\r\n${second}`));
    assert.equal(reader.next().type, 'head');
    assert.equal(reader.next().type, 'end');
    assert.equal(reader.state, 'paused');
    for (let i = 0; i < 3; i++) assert.deepEqual(reader.next(), { type: 'paused' });
    reader.push(bytes('more'));
    assert.deepEqual(reader.next(), { type: 'paused' });
    assert.equal(reader.bufferedBytes, second.length + 4);
    reader.resume();
    assert.throws(
      () => reader.next(),
      (error: unknown) => error instanceof HttpProtocolError && error.code === 'bad-request-line',
    );
  });

  test('each request line is checked from its own start: garbage after a long first request is refused at once', () => {
    // The progress of the request-line check is kept per reader and reset for each request: a
    // progress left over from the first (longer) line would skip the second one's first bytes.
    const reader = new RequestReader();
    reader.push(bytes('GET /a-rather-long-path-for-a-first-request HTTP/1.1\r\nHost: a\r\n\r\nG\x01'));
    assert.equal(reader.next().type, 'head');
    assert.equal(reader.next().type, 'end');
    reader.resume();
    assert.throws(
      () => reader.next(),
      (error: unknown) => error instanceof HttpProtocolError && error.code === 'bad-method',
    );
  });

  test('requests without a body, between requests with one, each read exactly their own body', () => {
    // Requests without a body share one decoder: it must hold no state that a later request sees.
    const wire = [
      'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n',
      'POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc',
      'GET /3 HTTP/1.1\r\nHost: a\r\n\r\n',
      'POST /4 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nde',
      'GET /5 HTTP/1.1\r\nHost: a\r\n\r\n',
    ].join('');
    const reader = new RequestReader();
    reader.push(bytes(wire));
    const seen: string[] = [];
    for (let i = 0; i < 40 && seen.length < 12; i++) {
      const event = reader.next();
      if (event.type === 'head') seen.push(`head ${event.head.target}`);
      else if (event.type === 'body') seen.push(`body ${event.data.toString()}`);
      else if (event.type === 'end') seen.push('end');
      else if (event.type === 'paused') reader.resume();
      else break;
    }
    assert.deepEqual(seen, [
      'head /1',
      'end',
      'head /2',
      'body abc',
      'end',
      'head /3',
      'end',
      'head /4',
      'body de',
      'end',
      'head /5',
      'end',
    ]);
  });

  test('resume() outside the paused state changes nothing', () => {
    const reader = new RequestReader();
    reader.resume();
    reader.push(bytes('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    reader.resume();
    assert.equal(reader.next().type, 'head');
    reader.resume();
    assert.equal(reader.next().type, 'end');
    assert.deepEqual(reader.next(), { type: 'paused' });
  });

  test('a peer that closes between requests gives a closed event, then closed forever', () => {
    const outcome = runReader(new RequestReader(), [bytes('GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n')], { peerCloses: true });
    assert.equal(outcome.error, null);
    assert.deepEqual(outcome.events, [requestHead('GET', '/', '1.1', [['Host', 'a']], NO_BODY, true), end(), closed]);
    const reader = new RequestReader();
    reader.peerClosed();
    assert.deepEqual(reader.next(), { type: 'closed' });
    assert.deepEqual(reader.next(), { type: 'closed' });
  });

  test('a body that is complete when the peer closes still ends normally', () => {
    assertReadsEverywhere(
      newRequestReader,
      bytes('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi'),
      [
        requestHead(
          'POST',
          '/',
          '1.1',
          [
            ['Host', 'a'],
            ['Content-Length', '2'],
          ],
          length(2),
          true,
        ),
        body('hi'),
        end(),
        closed,
      ],
      { peerCloses: true },
    );
  });

  test('pushing no bytes changes nothing', () => {
    const reader = new RequestReader();
    reader.push(bytes('GET / HTTP/1.1\r\nHo'));
    reader.push(Buffer.alloc(0));
    assert.deepEqual(reader.next(), { type: 'need-more' });
    reader.push(Buffer.alloc(0));
    reader.push(bytes('st: a\r\n\r\n'));
    assert.equal(reader.next().type, 'head');
  });

  test('an idle reader holds no old buffer', () => {
    const reader = new RequestReader();
    reader.push(bytes('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    reader.next();
    reader.next();
    assert.equal(reader.bufferedBytes, 0);
  });
});

interface RequestRejection extends Rejection {
  name: string;
  wire: string;
  peerCloses?: boolean;
}

const HOST_RULES: RequestRejection[] = [
  { name: 'HTTP/1.1 without Host', wire: 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', code: 'missing-host', status: 400 },
  { name: 'two Host fields', wire: 'GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n', code: 'bad-host', status: 400 },
  { name: 'two Host fields, even in HTTP/1.0', wire: 'GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n', code: 'bad-host', status: 400 },
  { name: 'a Host with a space', wire: 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', code: 'bad-host', status: 400 },
  { name: 'a Host with a path', wire: 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', code: 'bad-host', status: 400 },
  { name: 'a Host with user info', wire: 'GET / HTTP/1.1\r\nHost: user@a\r\n\r\n', code: 'bad-host', status: 400 },
  { name: 'a Host with a bad port', wire: 'GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n', code: 'bad-host', status: 400 },
  { name: 'a Host with an unclosed IPv6 literal', wire: 'GET / HTTP/1.1\r\nHost: [::1\r\n\r\n', code: 'bad-host', status: 400 },
  { name: 'a Host with a list of two hosts', wire: 'GET / HTTP/1.1\r\nHost: a, b\r\n\r\n', code: 'bad-host', status: 400 },
];

const INCOMPLETE: RequestRejection[] = [
  { name: 'the peer closes in the request line', wire: 'GET /index.ht', peerCloses: true, code: 'incomplete-message', status: 400 },
  {
    name: 'the peer closes in the field lines',
    wire: 'GET / HTTP/1.1\r\nHost: a\r\n',
    peerCloses: true,
    code: 'incomplete-message',
    status: 400,
  },
  {
    name: 'the peer closes in a Content-Length body',
    wire: 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello',
    peerCloses: true,
    code: 'incomplete-message',
    status: 400,
  },
  {
    name: 'the peer closes in a chunked body',
    wire: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',
    peerCloses: true,
    code: 'incomplete-message',
    status: 400,
  },
  {
    name: 'the peer closes before the trailer section ends',
    wire: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n',
    peerCloses: true,
    code: 'incomplete-message',
    status: 400,
  },
  {
    name: 'the peer closes in the second of two pipelined requests',
    wire: 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHo',
    peerCloses: true,
    code: 'incomplete-message',
    status: 400,
  },
];

describe('RequestReader: Host rules (RFC 9112 §3.2)', () => {
  for (const vector of HOST_RULES) {
    test(`${vector.name} → ${vector.code}`, () => {
      assertRejectedEverywhere(newRequestReader, bytes(vector.wire), vector);
    });
  }
});

describe('RequestReader: a peer that closes in the middle of a message', () => {
  for (const vector of INCOMPLETE) {
    test(`${vector.name} → ${vector.code}`, () => {
      assertRejectedEverywhere(newRequestReader, bytes(vector.wire), vector, { peerCloses: true });
    });
  }

  test('the events before the close are still delivered', () => {
    const outcome = runReader(new RequestReader(), [bytes('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello')], {
      peerCloses: true,
    });
    assert.deepEqual(outcome.events, [
      requestHead(
        'POST',
        '/',
        '1.1',
        [
          ['Host', 'a'],
          ['Content-Length', '10'],
        ],
        length(10),
        true,
      ),
      body('hello'),
    ]);
    assert.equal(outcome.error?.code, 'incomplete-message');
  });
});

describe('RequestReader: after an error', () => {
  test('next() throws the same error object again and again', () => {
    const reader = new RequestReader();
    reader.push(bytes('GET / HTTP/2.0\r\nHost: a\r\n\r\n'));
    let first: unknown;
    try {
      reader.next();
    } catch (error) {
      first = error;
    }
    assert.ok(first instanceof HttpProtocolError);
    assert.equal(first.code, 'unsupported-version');
    for (let i = 0; i < 3; i++)
      assert.throws(
        () => reader.next(),
        (error) => error === first,
      );
    assert.equal(reader.state, 'error');
    reader.resume();
    reader.peerClosed();
    assert.throws(
      () => reader.next(),
      (error) => error === first,
    );
  });
});

describe('ResponseReader: valid responses, whole, one byte at a time and split at every position', () => {
  interface ResponseVector {
    name: string;
    methods: string[];
    wire: string;
    peerCloses?: boolean;
    events: Observed[];
  }
  const vectors: ResponseVector[] = [
    {
      name: 'HTTP/1.1 200 OK with Content-Length',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
      events: [
        responseHead(
          '1.1',
          200,
          'OK',
          [
            ['Content-Type', 'text/plain'],
            ['Content-Length', '5'],
          ],
          length(5),
          true,
        ),
        body('hello'),
        end(),
      ],
    },
    {
      name: 'a status line without a reason phrase',
      methods: ['GET'],
      wire: 'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n',
      events: [responseHead('1.1', 200, '', [['Content-Length', '0']], NO_BODY, true), end()],
    },
    {
      name: 'an empty reason phrase after the space',
      methods: ['GET'],
      wire: 'HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n',
      events: [responseHead('1.1', 299, '', [['Content-Length', '0']], NO_BODY, true), end()],
    },
    {
      name: 'a reason phrase with spaces, tabs and obs-text',
      methods: ['GET'],
      wire: 'HTTP/1.1 404 Nicht\tgefunden, d\xe9sol\xe9 \r\nContent-Length: 0\r\n\r\n',
      events: [responseHead('1.1', 404, 'Nicht\tgefunden, d\xe9sol\xe9 ', [['Content-Length', '0']], NO_BODY, true), end()],
    },
    {
      name: 'HTTP/1.0 404 Not Found does not keep the connection',
      methods: ['GET'],
      wire: 'HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found',
      events: [responseHead('1.0', 404, 'Not Found', [['Content-Length', '9']], length(9), false), body('not found'), end()],
    },
    {
      name: 'HTTP/1.0 with Connection: keep-alive keeps it',
      methods: ['GET'],
      wire: 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi',
      events: [
        responseHead(
          '1.0',
          200,
          'OK',
          [
            ['Connection', 'keep-alive'],
            ['Content-Length', '2'],
          ],
          length(2),
          true,
        ),
        body('hi'),
        end(),
      ],
    },
    {
      name: 'HTTP/1.1 with Connection: close',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi',
      events: [
        responseHead(
          '1.1',
          200,
          'OK',
          [
            ['Connection', 'close'],
            ['Content-Length', '2'],
          ],
          length(2),
          false,
        ),
        body('hi'),
        end(),
      ],
    },
    {
      name: 'bare LF line endings, as some lab servers send',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: 6\n\n<html>',
      events: [
        responseHead(
          '1.1',
          200,
          'OK',
          [
            ['Content-Type', 'text/html'],
            ['Content-Length', '6'],
          ],
          length(6),
          true,
        ),
        body('<html>'),
        end(),
      ],
    },
    {
      name: 'mixed CRLF and bare LF',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nA: 1\nB: 2\r\n\nx',
      peerCloses: true,
      events: [
        responseHead(
          '1.1',
          200,
          'OK',
          [
            ['A', '1'],
            ['B', '2'],
          ],
          UNTIL_CLOSE,
          false,
        ),
        body('x'),
        end(),
        closed,
      ],
    },
    {
      name: 'chunked with trailers',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;ext\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nServer-Timing: db;dur=53\r\n\r\n',
      events: [
        responseHead('1.1', 200, 'OK', [['Transfer-Encoding', 'chunked']], CHUNKED, true),
        body('Wikipedia in \r\n\r\nchunks.'),
        end([['Server-Timing', 'db;dur=53']]),
      ],
    },
    {
      name: 'chunked with bare LF lines',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n2;x=y\nde\n0\nT: v\n\n',
      events: [responseHead('1.1', 200, 'OK', [['Transfer-Encoding', 'chunked']], CHUNKED, true), body('abcde'), end([['T', 'v']])],
    },
    {
      name: 'a body delimited by the close of the connection',
      methods: ['GET'],
      wire: 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it\r\nuntil the end',
      peerCloses: true,
      events: [
        responseHead('1.0', 200, 'OK', [['Content-Type', 'text/plain']], UNTIL_CLOSE, false),
        body('all of it\r\nuntil the end'),
        end(),
        closed,
      ],
    },
    {
      name: 'an HTTP/1.1 response without framing fields runs until close and is not kept',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\n\r\nx',
      peerCloses: true,
      events: [responseHead('1.1', 200, 'OK', [], UNTIL_CLOSE, false), body('x'), end(), closed],
    },
    {
      name: 'an empty until-close body',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\n\r\n',
      peerCloses: true,
      events: [responseHead('1.1', 200, 'OK', [], UNTIL_CLOSE, false), end(), closed],
    },
    {
      name: 'Transfer-Encoding other than chunked runs until close',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b',
      peerCloses: true,
      events: [responseHead('1.1', 200, 'OK', [['Transfer-Encoding', 'gzip']], UNTIL_CLOSE, false), body('\x1f\x8b'), end(), closed],
    },
    {
      name: 'Transfer-Encoding with Content-Length: chunked wins and the connection is not kept',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n2\r\nhi\r\n0\r\n\r\n',
      events: [
        responseHead(
          '1.1',
          200,
          'OK',
          [
            ['Transfer-Encoding', 'chunked'],
            ['Content-Length', '100'],
          ],
          CHUNKED,
          false,
        ),
        body('hi'),
        end(),
      ],
    },
    {
      name: 'no body for HEAD, whatever Content-Length says, then the next response',
      methods: ['HEAD', 'GET'],
      wire: 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi',
      events: [
        responseHead('1.1', 200, 'OK', [['Content-Length', '1234']], NO_BODY, true),
        end(),
        responseHead('1.1', 200, 'OK', [['Content-Length', '2']], length(2), true),
        body('hi'),
        end(),
      ],
    },
    {
      name: 'no body for HEAD with Transfer-Encoding: chunked',
      methods: ['HEAD', 'GET'],
      wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
      events: [
        responseHead('1.1', 200, 'OK', [['Transfer-Encoding', 'chunked']], NO_BODY, true),
        end(),
        responseHead('1.1', 204, 'No Content', [], NO_BODY, true),
        end(),
      ],
    },
    {
      name: 'no body for 204 and 304',
      methods: ['DELETE', 'GET', 'GET'],
      wire:
        'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n' +
        'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 500\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!',
      events: [
        responseHead('1.1', 204, 'No Content', [['Content-Length', '10']], NO_BODY, true),
        end(),
        responseHead(
          '1.1',
          304,
          'Not Modified',
          [
            ['ETag', '"x"'],
            ['Content-Length', '500'],
          ],
          NO_BODY,
          true,
        ),
        end(),
        responseHead('1.1', 200, 'OK', [['Content-Length', '1']], length(1), true),
        body('!'),
        end(),
      ],
    },
    {
      name: 'interim 100 Continue and 103 Early Hints are read before the final response to the same request',
      methods: ['POST', 'GET'],
      wire:
        'HTTP/1.1 100 Continue\r\n\r\n' +
        'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n' +
        'HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone' +
        'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
      events: [
        responseHead('1.1', 100, 'Continue', [], NO_BODY, true),
        end(),
        responseHead('1.1', 103, 'Early Hints', [['Link', '</style.css>; rel=preload']], NO_BODY, true),
        end(),
        responseHead('1.1', 201, 'Created', [['Content-Length', '4']], length(4), true),
        body('done'),
        end(),
        responseHead('1.1', 200, 'OK', [['Content-Length', '0']], NO_BODY, true),
        end(),
      ],
    },
    {
      name: 'a 2xx answer to CONNECT has no body',
      methods: ['CONNECT'],
      wire: 'HTTP/1.1 200 Connection established\r\nContent-Length: 50\r\n\r\n',
      events: [responseHead('1.1', 200, 'Connection established', [['Content-Length', '50']], NO_BODY, true), end()],
    },
    {
      name: '101 Switching Protocols does not keep HTTP/1.1 going',
      methods: ['GET'],
      wire: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      events: [
        responseHead(
          '1.1',
          101,
          'Switching Protocols',
          [
            ['Upgrade', 'websocket'],
            ['Connection', 'Upgrade'],
          ],
          NO_BODY,
          false,
        ),
        end(),
      ],
    },
  ];

  for (const vector of vectors) {
    test(vector.name, () => {
      assertReadsEverywhere(responseReaderFor(...vector.methods), bytes(vector.wire), vector.events, {
        peerCloses: vector.peerCloses ?? false,
      });
    });
  }

  test('every strict prefix of each response needs more and never ends the last one', () => {
    for (const vector of vectors) {
      const wire = bytes(vector.wire);
      const ends = vector.events.filter((event) => event.type === 'end').length;
      for (let cut = 0; cut < wire.length; cut++) {
        const outcome = runReader(responseReaderFor(...vector.methods)(), [wire.subarray(0, cut)]);
        assert.equal(outcome.error, null, `${vector.name}, prefix of ${cut} bytes: unexpected ${outcome.error?.code}`);
        assert.ok(
          outcome.events.filter((event) => event.type === 'end').length < ends,
          `${vector.name}, prefix of ${cut} bytes ends the last response`,
        );
        assertEventPrefix(outcome.events, vector.events, `${vector.name}, prefix of ${cut} bytes`);
      }
    }
  });

  test('an HTTP/1.0 response with Transfer-Encoding is not kept alive, even if it asks (RFC 9112 §6.1)', () => {
    // "A server or client that receives an HTTP/1.0 message containing a Transfer-Encoding header field
    // MUST treat the message as if the framing is faulty ... and close the connection after processing the message."
    const outcome = runReader(responseReaderFor('GET')(), [
      bytes('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n'),
    ]);
    assert.equal(outcome.error, null);
    const head = outcome.events[0];
    assert.equal(head?.type, 'head');
    assert.equal(head?.type === 'head' && head.keepAlive, false);
  });

  test('a ResponseReader does not pause between responses', () => {
    const reader = responseReaderFor('GET', 'GET')();
    reader.push(bytes('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'));
    assert.deepEqual(
      [reader.next().type, reader.next().type, reader.next().type, reader.next().type, reader.next().type],
      ['head', 'end', 'head', 'end', 'need-more'],
    );
  });
});

describe('ResponseReader: rejections', () => {
  interface ResponseRejection extends Rejection {
    name: string;
    methods: string[];
    wire: string;
    peerCloses?: boolean;
  }
  const vectors: ResponseRejection[] = [
    {
      name: 'a response for no outstanding request',
      methods: [],
      wire: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
      code: 'bad-status-line',
      status: 502,
    },
    {
      name: 'one response too many',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
      code: 'bad-status-line',
      status: 502,
    },
    {
      name: 'an interim response alone does not use up the request, but a second final one is too many',
      methods: ['POST'],
      wire: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n',
      code: 'bad-status-line',
      status: 502,
    },
    { name: 'a two-digit status', methods: ['GET'], wire: 'HTTP/1.1 20 OK\r\n\r\n', code: 'bad-status-line', status: 502 },
    { name: 'a four-digit status', methods: ['GET'], wire: 'HTTP/1.1 2000 OK\r\n\r\n', code: 'bad-status-line', status: 502 },
    { name: 'a status below 100', methods: ['GET'], wire: 'HTTP/1.1 099 Low\r\n\r\n', code: 'bad-status-line', status: 502 },
    { name: 'a status with letters', methods: ['GET'], wire: 'HTTP/1.1 2x0 OK\r\n\r\n', code: 'bad-status-line', status: 502 },
    { name: 'no space between status and reason', methods: ['GET'], wire: 'HTTP/1.1 200OK\r\n\r\n', code: 'bad-status-line', status: 502 },
    { name: 'HTTP/2 200 OK', methods: ['GET'], wire: 'HTTP/2 200 OK\r\n\r\n', code: 'bad-status-line', status: 502 },
    { name: 'HTTP/2.0 200 OK', methods: ['GET'], wire: 'HTTP/2.0 200 OK\r\n\r\n', code: 'bad-status-line', status: 502 },
    { name: 'ICY 200 OK (Shoutcast)', methods: ['GET'], wire: 'ICY 200 OK\r\n\r\n', code: 'bad-status-line', status: 502 },
    { name: 'a lowercase http version', methods: ['GET'], wire: 'http/1.1 200 OK\r\n\r\n', code: 'bad-status-line', status: 502 },
    { name: 'two spaces after the version', methods: ['GET'], wire: 'HTTP/1.1  200 OK\r\n\r\n', code: 'bad-status-line', status: 502 },
    {
      name: 'a control character in the reason',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 O\x00K\r\n\r\n',
      code: 'bad-status-line',
      status: 502,
    },
    { name: 'an empty status line', methods: ['GET'], wire: '\r\nHTTP/1.1 200 OK\r\n\r\n', code: 'bad-status-line', status: 502 },
    {
      name: 'Content-Length values that differ',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello',
      code: 'conflicting-content-length',
      status: 400,
    },
    {
      name: 'a malformed Content-Length',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\n',
      code: 'bad-content-length',
      status: 400,
    },
    {
      name: 'a transfer coding before chunked',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
      code: 'unsupported-transfer-coding',
      status: 502,
    },
    {
      name: 'a bad chunk size',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      code: 'bad-chunk-size',
      status: 400,
    },
    {
      name: 'obsolete line folding',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n',
      code: 'obsolete-line-folding',
      status: 400,
    },
    {
      name: 'Content-Length longer than what arrives before the close',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this',
      peerCloses: true,
      code: 'incomplete-message',
      status: 400,
    },
    {
      name: 'a chunked body cut by the close',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly this',
      peerCloses: true,
      code: 'incomplete-message',
      status: 400,
    },
    {
      name: 'a head cut by the close',
      methods: ['GET'],
      wire: 'HTTP/1.1 200 OK\r\nContent-Le',
      peerCloses: true,
      code: 'incomplete-message',
      status: 400,
    },
  ];
  for (const vector of vectors) {
    test(`${vector.name} → ${vector.code}`, () => {
      assertRejectedEverywhere(responseReaderFor(...vector.methods), bytes(vector.wire), vector, {
        peerCloses: vector.peerCloses ?? false,
      });
    });
  }

  test('a status line longer than the limit → head-too-large, 502', () => {
    const line = bytes(`HTTP/1.1 200 ${'x'.repeat(9000)}`);
    const outcome = runReader(responseReaderFor('GET')(), [line]);
    assert.equal(outcome.error?.code, 'head-too-large');
    assert.equal(outcome.error?.status, 502);
  });

  test('a response head over 256 KiB → head-too-large, 502', () => {
    const fields = `X-Big: ${'v'.repeat(990)}\r\n`.repeat(270);
    for (const pieces of [[bytes(`HTTP/1.1 200 OK\r\n${fields}\r\n`)], inPiecesOf(bytes(`HTTP/1.1 200 OK\r\n${fields}`), 8192)]) {
      const outcome = runReader(responseReaderFor('GET')(), pieces);
      assert.equal(outcome.error?.code, 'head-too-large');
      assert.equal(outcome.error?.status, 502);
    }
  });

  test('more than 500 field lines in a response → too-many-fields, 502', () => {
    const fields = Array.from({ length: 501 }, (_, i) => `X-${i}: ${i}\r\n`).join('');
    const outcome = runReader(responseReaderFor('GET')(), [bytes(`HTTP/1.1 204 No Content\r\n${fields}\r\n`)]);
    assert.equal(outcome.error?.code, 'too-many-fields');
    assert.equal(outcome.error?.status, 502);
    const justEnough = Array.from({ length: 500 }, (_, i) => `X-${i}: ${i}\r\n`).join('');
    assert.equal(runReader(responseReaderFor('GET')(), [bytes(`HTTP/1.1 204 No Content\r\n${justEnough}\r\n`)]).error, null);
  });
});

describe('RequestReader: a fault of ours is not blamed on the message', () => {
  class BrokenReader extends RequestReader {
    protected override parseHead(): never {
      throw new TypeError('a bug');
    }
  }

  test('an exception that is not a protocol error becomes internal-error, status 500, side local', () => {
    const reader = new BrokenReader();
    reader.push(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.throws(
      () => reader.next(),
      (error: unknown) =>
        error instanceof HttpProtocolError && error.code === 'internal-error' && error.status === 500 && error.side === 'local',
    );
    assert.equal(reader.state, 'error');
  });
});
