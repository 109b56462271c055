/**
 * A request is refused as soon as its first bytes cannot begin a request line, and only a few empty
 * lines before it are ignored: the reader's half of the server's defence against connections that
 * never send a request (TLS on the plain port, garbage, a CR/LF trickle). Each vector is fed whole,
 * one byte at a time, and split at every position, and must be refused the same way each time.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RequestReader } from '../../src/core/message-reader.js';
import { NO_BODY, assertReadsEverywhere, assertRejectedEverywhere, bytes, end, requestHead, runReader } from './vectors.js';

const newRequestReader = () => new RequestReader();

describe('bytes that cannot begin a request line', () => {
  const vectors: Array<[name: string, wire: Buffer, code: string]> = [
    ['a TLS ClientHello (first byte 0x16)', Buffer.from('16030100c4010000c0030300', 'hex'), 'bad-method'],
    ['a NUL byte', Buffer.from([0x00, 0x47, 0x45, 0x54]), 'bad-method'],
    ['a space first', bytes(' GET / HTTP/1.1\r\n'), 'bad-method'],
    ['a CR that is not followed by LF', bytes('\rGET / HTTP/1.1\r\n'), 'bad-method'],
    ['a control character in the target', bytes('GET /a\x7fb HTTP/1.1\r\n'), 'bad-request-target'],
    ['raw UTF-8 in the target', Buffer.concat([bytes('GET /'), Buffer.from('é', 'utf8'), bytes(' HTTP/1.1\r\n')]), 'bad-request-target'],
    ['another protocol', bytes('GET / FTP/1.1\r\n'), 'bad-version'],
    ['a lower-case version', bytes('GET / http/1.1\r\n'), 'bad-version'],
    ['a version with two-digit minor', bytes('GET / HTTP/1.10\r\n'), 'bad-version'],
    ['a bare LF after the version', bytes('GET / HTTP/1.1\nHost: a\n\n'), 'bad-line-ending'],
  ];
  for (const [name, wire, code] of vectors) {
    test(`${name} → ${code} 400, before the head is complete`, () => {
      assertRejectedEverywhere(newRequestReader, wire, { code: code as never, status: 400 });
    });
  }

  test('a bare LF right after a body that ends with CR is a bare LF, however the bytes are split (a fuzzer finding)', () => {
    const wire = bytes('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
    assertRejectedEverywhere(newRequestReader, wire, { code: 'bad-line-ending', status: 400 });
  });

  test('the first byte alone is enough to refuse a ClientHello', () => {
    const { error } = runReader(new RequestReader(), [Buffer.from([0x16])]);
    assert.equal((error as { code?: string } | null)?.code, 'bad-method');
  });

  test('every strict prefix of a valid request line waits for more', () => {
    const line = bytes('OPTIONS * HTTP/1.1\r\nHost: a\r\n');
    for (let length = 1; length < line.length; length++) {
      const { error } = runReader(new RequestReader(), [line.subarray(0, length)]);
      assert.equal(error, null, `refused after ${length} bytes`);
    }
  });

  test('HTTP/2.0 passes the check and still gets 505 from the parser', () => {
    assertRejectedEverywhere(newRequestReader, bytes('GET / HTTP/2.0\r\nHost: a\r\n\r\n'), { code: 'unsupported-version', status: 505 });
  });
});

describe('empty lines before a request line (RFC 9112 §2.2)', () => {
  test('up to four are ignored', () => {
    assertReadsEverywhere(newRequestReader, bytes('\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n'), [
      requestHead('GET', '/', '1.1', [['Host', 'a']], NO_BODY, true),
      end(),
    ]);
  });

  test('a fifth is refused, however the bytes are split', () => {
    assertRejectedEverywhere(newRequestReader, bytes('\r\n'.repeat(5)), { code: 'too-many-empty-lines', status: 400 });
  });

  test('a head has started once an empty line has been skipped, so a head deadline runs from it', () => {
    const reader = new RequestReader();
    assert.equal(reader.headStarted, false);
    reader.push(bytes('\r\n'));
    assert.equal(reader.next().type, 'need-more');
    assert.equal(reader.bufferedBytes, 0);
    assert.equal(reader.headStarted, true);
  });

  test('the count starts again with each request', () => {
    const reader = new RequestReader();
    const wire = bytes('\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
    for (let round = 0; round < 3; round++) {
      reader.push(wire);
      assert.equal(reader.next().type, 'head');
      assert.equal(reader.next().type, 'end');
      reader.resume();
      assert.equal(reader.headStarted, false);
    }
  });
});
