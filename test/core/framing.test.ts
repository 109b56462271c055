import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Fields, type FieldLine } from '../../src/core/fields.js';
import {
  type BodyFraming,
  announcedContentLength,
  decideRequestBodyLength,
  decideResponseBodyLength,
  parseContentLength,
  wantsKeepAlive,
} from '../../src/core/framing.js';
import type { HttpVersion } from '../../src/core/head-parser.js';
import { RequestReader } from '../../src/core/message-reader.js';
import { CHUNKED, NO_BODY, type Rejection, UNTIL_CLOSE, assertProtocolError, assertRejectedEverywhere, bytes, length } from './vectors.js';

function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  assert.fail('expected an error');
}

describe('parseContentLength (RFC 9110 §8.6)', () => {
  const accepted: [string[], number][] = [
    [['0'], 0],
    [['42'], 42],
    [['007'], 7],
    [[' 5 '], 5],
    [['5, 5'], 5],
    [['5,5,5'], 5],
    [['5', '5'], 5],
    [['05', '5'], 5],
    [['999999999999999'], 999_999_999_999_999],
  ];
  for (const [values, expected] of accepted) {
    test(`${JSON.stringify(values)} → ${expected}`, () => assert.equal(parseContentLength(values), expected));
  }

  const refused: [string[], Rejection][] = [
    [['-1'], { code: 'bad-content-length', status: 400 }],
    [['+5'], { code: 'bad-content-length', status: 400 }],
    [['5a'], { code: 'bad-content-length', status: 400 }],
    [['0x10'], { code: 'bad-content-length', status: 400 }],
    [['1e3'], { code: 'bad-content-length', status: 400 }],
    [['5.0'], { code: 'bad-content-length', status: 400 }],
    [['5 5'], { code: 'bad-content-length', status: 400 }],
    [[''], { code: 'bad-content-length', status: 400 }],
    [['   '], { code: 'bad-content-length', status: 400 }],
    [['5,'], { code: 'bad-content-length', status: 400 }],
    [['1234567890123456'], { code: 'bad-content-length', status: 400 }],
    [['\u0665'], { code: 'bad-content-length', status: 400 }],
    [[], { code: 'bad-content-length', status: 400 }],
    [['5, 6'], { code: 'conflicting-content-length', status: 400 }],
    [['5', '6'], { code: 'conflicting-content-length', status: 400 }],
    [['5', '5, 0'], { code: 'conflicting-content-length', status: 400 }],
  ];
  for (const [values, expected] of refused) {
    test(`${JSON.stringify(values)} → ${expected.code}`, () =>
      assertProtocolError(
        thrown(() => parseContentLength(values)),
        expected,
      ));
  }
});

describe('decideRequestBodyLength (RFC 9112 §6.3)', () => {
  const accepted: { name: string; version?: HttpVersion; fields: FieldLine[]; framing: BodyFraming }[] = [
    { name: 'no framing fields', fields: [['Host', 'a']], framing: NO_BODY },
    { name: 'Content-Length', fields: [['Content-Length', '12']], framing: length(12) },
    { name: 'Content-Length: 0', fields: [['Content-Length', '0']], framing: NO_BODY },
    { name: 'chunked', fields: [['Transfer-Encoding', 'chunked']], framing: CHUNKED },
    { name: 'chunked in another case, with parameters', fields: [['transfer-encoding', 'CHUNKED ; foo=bar']], framing: CHUNKED },
    { name: 'HTTP/1.0 with Content-Length', version: '1.0', fields: [['Content-Length', '3']], framing: length(3) },
  ];
  for (const vector of accepted) {
    test(vector.name, () => assert.deepEqual(decideRequestBodyLength(vector.version ?? '1.1', new Fields(vector.fields)), vector.framing));
  }

  const refused: { name: string; version?: HttpVersion; fields: FieldLine[]; expected: Rejection }[] = [
    {
      name: 'Content-Length with Transfer-Encoding',
      fields: [
        ['Content-Length', '5'],
        ['Transfer-Encoding', 'chunked'],
      ],
      expected: { code: 'content-length-with-transfer-encoding', status: 400 },
    },
    {
      name: 'Transfer-Encoding with Content-Length: 0',
      fields: [
        ['Transfer-Encoding', 'chunked'],
        ['Content-Length', '0'],
      ],
      expected: { code: 'content-length-with-transfer-encoding', status: 400 },
    },
    { name: 'gzip alone', fields: [['Transfer-Encoding', 'gzip']], expected: { code: 'bad-transfer-encoding', status: 400 } },
    { name: 'chunked, gzip', fields: [['Transfer-Encoding', 'chunked, gzip']], expected: { code: 'bad-transfer-encoding', status: 400 } },
    {
      name: 'chunked, chunked',
      fields: [['Transfer-Encoding', 'chunked, chunked']],
      expected: { code: 'bad-transfer-encoding', status: 400 },
    },
    {
      name: 'chunked on two lines',
      fields: [
        ['Transfer-Encoding', 'chunked'],
        ['Transfer-Encoding', 'chunked'],
      ],
      expected: { code: 'bad-transfer-encoding', status: 400 },
    },
    {
      name: 'gzip, chunked',
      fields: [['Transfer-Encoding', 'gzip, chunked']],
      expected: { code: 'unsupported-transfer-coding', status: 501 },
    },
    {
      name: 'gzip then chunked on two lines',
      fields: [
        ['Transfer-Encoding', 'gzip'],
        ['Transfer-Encoding', 'chunked'],
      ],
      expected: { code: 'unsupported-transfer-coding', status: 501 },
    },
    { name: 'an empty Transfer-Encoding', fields: [['Transfer-Encoding', '']], expected: { code: 'bad-transfer-encoding', status: 400 } },
    { name: 'a list of nothing', fields: [['Transfer-Encoding', ' , ,']], expected: { code: 'bad-transfer-encoding', status: 400 } },
    {
      name: 'a coding that is not a token',
      fields: [['Transfer-Encoding', 'chu nked']],
      expected: { code: 'bad-transfer-encoding', status: 400 },
    },
    {
      name: 'Transfer-Encoding in HTTP/1.0',
      version: '1.0',
      fields: [['Transfer-Encoding', 'chunked']],
      expected: { code: 'bad-transfer-encoding', status: 400 },
    },
    { name: 'a bad Content-Length', fields: [['Content-Length', 'abc']], expected: { code: 'bad-content-length', status: 400 } },
  ];
  for (const vector of refused) {
    test(`${vector.name} → ${vector.expected.code} ${vector.expected.status}`, () => {
      assertProtocolError(
        thrown(() => decideRequestBodyLength(vector.version ?? '1.1', new Fields(vector.fields))),
        vector.expected,
      );
    });
  }
});

describe('decideResponseBodyLength (RFC 9112 §6.3, items 1-7)', () => {
  const vectors: { name: string; method?: string; status?: number; fields: FieldLine[]; framing: BodyFraming; mustClose: boolean }[] = [
    { name: 'Content-Length', fields: [['Content-Length', '10']], framing: length(10), mustClose: false },
    { name: 'Content-Length: 0', fields: [['Content-Length', '0']], framing: NO_BODY, mustClose: false },
    { name: 'chunked', fields: [['Transfer-Encoding', 'chunked']], framing: CHUNKED, mustClose: false },
    {
      name: 'chunked with Content-Length',
      fields: [
        ['Transfer-Encoding', 'chunked'],
        ['Content-Length', '3'],
      ],
      framing: CHUNKED,
      mustClose: true,
    },
    { name: 'a coding other than chunked last', fields: [['Transfer-Encoding', 'chunked, gzip']], framing: UNTIL_CLOSE, mustClose: true },
    { name: 'no framing fields', fields: [], framing: UNTIL_CLOSE, mustClose: true },
    { name: 'HEAD', method: 'HEAD', fields: [['Content-Length', '10']], framing: NO_BODY, mustClose: false },
    { name: 'HEAD, even with no framing fields', method: 'HEAD', fields: [], framing: NO_BODY, mustClose: false },
    { name: '100', status: 100, fields: [], framing: NO_BODY, mustClose: false },
    { name: '199', status: 199, fields: [['Content-Length', '5']], framing: NO_BODY, mustClose: false },
    { name: '204', status: 204, fields: [['Transfer-Encoding', 'chunked']], framing: NO_BODY, mustClose: false },
    { name: '304', status: 304, fields: [['Content-Length', '5']], framing: NO_BODY, mustClose: false },
    { name: '2xx to CONNECT', method: 'CONNECT', status: 200, fields: [], framing: NO_BODY, mustClose: false },
    {
      name: '4xx to CONNECT has a body',
      method: 'CONNECT',
      status: 407,
      fields: [['Content-Length', '2']],
      framing: length(2),
      mustClose: false,
    },
    { name: '205 is framed like any other', status: 205, fields: [['Content-Length', '0']], framing: NO_BODY, mustClose: false },
  ];
  for (const vector of vectors) {
    test(vector.name, () => {
      assert.deepEqual(decideResponseBodyLength(vector.method ?? 'GET', vector.status ?? 200, '1.1', new Fields(vector.fields)), {
        framing: vector.framing,
        mustClose: vector.mustClose,
      });
    });
  }

  test('gzip, chunked → unsupported-transfer-coding 502', () => {
    assertProtocolError(
      thrown(() => decideResponseBodyLength('GET', 200, '1.1', new Fields([['Transfer-Encoding', 'gzip, chunked']]))),
      {
        code: 'unsupported-transfer-coding',
        status: 502,
      },
    );
  });

  test('a malformed Transfer-Encoding → bad-transfer-encoding', () => {
    assertProtocolError(
      thrown(() => decideResponseBodyLength('GET', 200, '1.1', new Fields([['Transfer-Encoding', '']]))),
      {
        code: 'bad-transfer-encoding',
        status: 400,
      },
    );
  });
});

describe('wantsKeepAlive (RFC 9112 §9.3)', () => {
  const vectors: [HttpVersion, FieldLine[], boolean][] = [
    ['1.1', [], true],
    ['1.1', [['Connection', 'close']], false],
    ['1.1', [['Connection', 'Close']], false],
    ['1.1', [['Connection', 'keep-alive, close']], false],
    [
      '1.1',
      [
        ['Connection', 'upgrade'],
        ['connection', ' close '],
      ],
      false,
    ],
    ['1.1', [['Connection', 'closed']], true],
    ['1.1', [['Connection', 'keep-alive']], true],
    ['1.0', [], false],
    ['1.0', [['Connection', 'keep-alive']], true],
    ['1.0', [['Connection', 'Keep-Alive']], true],
    [
      '1.0',
      [
        ['Connection', 'keep-alive'],
        ['Connection', 'close'],
      ],
      false,
    ],
    ['1.0', [['Keep-Alive', 'timeout=5']], false],
  ];
  for (const [version, fields, expected] of vectors) {
    test(`HTTP/${version} ${JSON.stringify(fields)} → ${expected}`, () =>
      assert.equal(wantsKeepAlive(version, new Fields(fields)), expected));
  }
});

describe('framing rejections through the RequestReader (whole, one byte at a time, split at every position)', () => {
  const request = (fieldLines: string, body = '') => `POST /upload HTTP/1.1\r\nHost: a\r\n${fieldLines}\r\n${body}`;
  const vectors: (Rejection & { name: string; wire: string })[] = [
    {
      name: 'Content-Length and Transfer-Encoding',
      wire: request('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'),
      code: 'content-length-with-transfer-encoding',
      status: 400,
    },
    {
      name: 'Transfer-Encoding before Content-Length',
      wire: request('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', 'hello'),
      code: 'content-length-with-transfer-encoding',
      status: 400,
    },
    { name: 'Content-Length: 5, 6', wire: request('Content-Length: 5, 6\r\n', 'hello!'), code: 'conflicting-content-length', status: 400 },
    {
      name: 'two Content-Length lines that differ',
      wire: request('Content-Length: 5\r\nContent-Length: 6\r\n', 'hello!'),
      code: 'conflicting-content-length',
      status: 400,
    },
    { name: 'Content-Length: -1', wire: request('Content-Length: -1\r\n'), code: 'bad-content-length', status: 400 },
    { name: 'Content-Length: +5', wire: request('Content-Length: +5\r\n', 'hello'), code: 'bad-content-length', status: 400 },
    { name: 'Content-Length: 5a', wire: request('Content-Length: 5a\r\n', 'hello'), code: 'bad-content-length', status: 400 },
    { name: 'an empty Content-Length', wire: request('Content-Length:\r\n'), code: 'bad-content-length', status: 400 },
    {
      name: 'a Content-Length of 16 digits',
      wire: request('Content-Length: 1000000000000000\r\n'),
      code: 'bad-content-length',
      status: 400,
    },
    { name: 'Transfer-Encoding: gzip alone', wire: request('Transfer-Encoding: gzip\r\n'), code: 'bad-transfer-encoding', status: 400 },
    {
      name: 'Transfer-Encoding: chunked, gzip',
      wire: request('Transfer-Encoding: chunked, gzip\r\n'),
      code: 'bad-transfer-encoding',
      status: 400,
    },
    {
      name: 'Transfer-Encoding: chunked, chunked',
      wire: request('Transfer-Encoding: chunked, chunked\r\n'),
      code: 'bad-transfer-encoding',
      status: 400,
    },
    {
      name: 'Transfer-Encoding: gzip, chunked',
      wire: request('Transfer-Encoding: gzip, chunked\r\n'),
      code: 'unsupported-transfer-coding',
      status: 501,
    },
    {
      name: 'Transfer-Encoding in HTTP/1.0',
      wire: 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      code: 'bad-transfer-encoding',
      status: 400,
    },
  ];
  for (const vector of vectors) {
    test(`${vector.name} → ${vector.code} ${vector.status}`, () => {
      assertRejectedEverywhere(() => new RequestReader(), bytes(vector.wire), vector);
    });
  }
});

describe('announcedContentLength: the one reading of Content-Length outside the framing decision', () => {
  const cases: [string[], number | null][] = [
    [['5'], 5],
    [['5, 5'], 5],
    [['5', '5'], 5],
    [['5, 6'], null],
    [['five'], null],
    [[], null],
  ];
  for (const [values, expected] of cases) {
    test(`${JSON.stringify(values)} → ${expected}`, () => {
      const fields = new Fields(values.map((value): [string, string] => ['Content-Length', value]));
      assert.equal(announcedContentLength(fields), expected);
    });
  }
});
