/**
 * The character tables of the parsers, byte by byte, against the grammar written out as predicates
 * (RFC 9110 §5.6.2 tchar, §5.5 field-value, RFC 9112 §3.2 request-target as we accept it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FIELD_VALUE_CHAR, HEX_VALUE, REASON_CHAR, TARGET_CHAR, TCHAR } from '../../src/core/chars.js';

const isDigit = (byte: number) => byte >= 0x30 && byte <= 0x39;
const isAlpha = (byte: number) => (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
const isVisible = (byte: number) => byte >= 0x21 && byte <= 0x7e;

const EXPECTED: Array<[string, Uint8Array, (byte: number) => boolean]> = [
  ['tchar', TCHAR, (byte) => isDigit(byte) || isAlpha(byte) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(byte))],
  ['field-value', FIELD_VALUE_CHAR, (byte) => isVisible(byte) || byte >= 0x80 || byte === 0x20 || byte === 0x09],
  ['reason-phrase', REASON_CHAR, (byte) => isVisible(byte) || byte >= 0x80 || byte === 0x20 || byte === 0x09],
  ['request-target', TARGET_CHAR, isVisible],
];

for (const [name, table, accepts] of EXPECTED) {
  test(`${name}: every one of the 256 bytes`, () => {
    assert.equal(table.length, 256);
    for (let byte = 0; byte < 256; byte++) assert.equal(table[byte], accepts(byte) ? 1 : 0, `byte 0x${byte.toString(16)}`);
  });
}

test('hex digits: their values, and -1 for every other byte', () => {
  for (let byte = 0; byte < 256; byte++) {
    const char = String.fromCharCode(byte);
    const expected = /^[0-9a-fA-F]$/.test(char) ? Number.parseInt(char, 16) : -1;
    assert.equal(HEX_VALUE[byte], expected, `byte 0x${byte.toString(16)}`);
  }
});
