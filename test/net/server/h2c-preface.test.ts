/** comparePreface: how the first bytes of a plain connection tell h2c (RFC 9113 §3.4) from HTTP/1.1. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { comparePreface } from '../../../src/net/server/h2c-preface.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

test('every beginning of the preface is undecided; the whole preface, with or without what follows, is h2', () => {
  for (let length = 1; length < PREFACE.length; length++)
    assert.equal(comparePreface(PREFACE.subarray(0, length)), 'undecided', `${length} bytes`);
  assert.equal(comparePreface(PREFACE), 'h2');
  assert.equal(comparePreface(Buffer.concat([PREFACE, Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])])), 'h2');
});

test('a request line is HTTP/1.1 at the first byte that differs, even one that starts like the preface', () => {
  for (const start of [
    'GET / HTTP/1.1\r\n',
    'POST /',
    'PUT /',
    'PATCH /',
    'PRI * HTTP/1.1\r\n',
    'PRI * HTTP/2.0\r\n\r\nXX',
    '\r\n',
    'P\x00',
  ]) {
    assert.equal(comparePreface(Buffer.from(start, 'latin1')), 'http/1.1', JSON.stringify(start));
  }
});
