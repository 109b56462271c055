/**
 * Serializing message heads (RFC 9112 §3-§5) and chunked bodies (§7.1). Field names and values are
 * checked before they are written: a CR or LF smuggled into a value by a caller (say, from a
 * command-line --header) would otherwise split the message in two.
 */
import { isFieldValue, isToken } from './chars.js';
import { HttpProtocolError } from './errors.js';
import type { FieldLine } from './fields.js';
import type { HttpVersion } from './head-parser.js';
import { reasonPhrase } from './status.js';

function fieldError(message: string): HttpProtocolError {
  return new HttpProtocolError('bad-field-to-send', message, 500, 'local');
}

/** Field lines as text ("Name: value" CRLF each, latin1), every name and value checked first. */
export function serializeFieldLines(fields: Iterable<FieldLine>): string {
  let text = '';
  for (const [name, value] of fields) {
    if (!isToken(name)) throw fieldError(`Invalid field name: ${JSON.stringify(name)}`);
    if (!isFieldValue(value)) throw fieldError(`Invalid value for field ${name}`);
    text += `${name}: ${value}\r\n`;
  }
  return text;
}

/** The status line as text, CRLF included. */
export function serializeStatusLine(status: number, reason = reasonPhrase(status), version: HttpVersion = '1.1'): string {
  if (!Number.isInteger(status) || status < 100 || status > 999) throw fieldError(`Invalid status code ${status}`);
  if (!isFieldValue(reason)) throw fieldError('Invalid reason phrase');
  return `HTTP/${version} ${status} ${reason}\r\n`;
}

/** The bytes of a response head: status line, field lines, empty line. */
export function serializeResponseHead(
  status: number,
  fields: Iterable<FieldLine>,
  reason = reasonPhrase(status),
  version: HttpVersion = '1.1',
): Buffer {
  return Buffer.from(`${serializeStatusLine(status, reason, version)}${serializeFieldLines(fields)}\r\n`, 'latin1');
}

/** The bytes of a request head: request line, field lines, empty line. */
export function serializeRequestHead(method: string, target: string, fields: Iterable<FieldLine>, version: HttpVersion = '1.1'): Buffer {
  if (!isToken(method)) throw fieldError('Invalid method');
  if (!/^[\x21-\x7e]+$/.test(target)) throw fieldError('Invalid request target');
  return Buffer.from(`${method} ${target} HTTP/${version}\r\n${serializeFieldLines(fields)}\r\n`, 'latin1');
}

/** One chunk of a chunked body: size line, data, CRLF. An empty buffer would end the body, so it is refused. */
export function encodeChunk(data: Buffer): Buffer[] {
  if (data.length === 0) throw fieldError('An empty chunk would end the body');
  return [Buffer.from(`${data.length.toString(16)}\r\n`, 'latin1'), data, CRLF_BYTES];
}

const CRLF_BYTES = Buffer.from('\r\n', 'latin1');

/** last-chunk with an empty trailer section. */
export const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
