/**
 * Parsing a message head (RFC 9112 §2-§5): the start line and the field lines up to the empty line.
 *
 * Theory of operation. The head is handled in two steps, in the style of picohttpparser:
 *  1. `scanForHeadEnd` looks for the empty line that ends the head. It is called again each time more
 *     bytes arrive, and resumes where it stopped, so a head that trickles in one byte at a time costs
 *     O(n), not O(n²). It enforces the size limits while the head is still incomplete, so a peer that
 *     never sends the empty line is stopped at the limit instead of growing our buffer.
 *  2. Once the whole head is there, `parseRequestHead` / `parseResponseHead` check it strictly and
 *     build the result, decoding only the parts someone will read.
 * Neither step copies the buffer; "not enough bytes yet" is an ordinary return value, a broken rule is
 * an HttpProtocolError.
 */
import { CR, FIELD_VALUE_CHAR, HTAB, LF, REASON_CHAR, SP, TARGET_CHAR, TCHAR } from './chars.js';
import { peerError } from './errors.js';
import { Fields } from './fields.js';
import type { Limits } from './limits.js';

export type HttpVersion = '1.0' | '1.1';

export interface RequestHead {
  method: string;
  /** The request-target exactly as sent (RFC 9112 §3.2). */
  target: string;
  version: HttpVersion;
  fields: Fields;
}

export interface ResponseHead {
  version: HttpVersion;
  status: number;
  reason: string;
  fields: Fields;
}

export type HeadScan = { complete: true; headEnd: number } | { complete: false; resumeAt: number };

/**
 * Looks for the end of the head that starts at `start`, scanning from `resumeAt` (a value an earlier
 * call returned, or `start`). The head ends with an empty line; a lone LF is recognised here and then
 * refused by the parser when the limits say so, so both line-ending styles share one scanner.
 */
export function scanForHeadEnd(buffer: Buffer, start: number, resumeAt: number, limits: Limits, isRequest: boolean): HeadScan {
  const end = buffer.length;
  let lineFeed = buffer.indexOf(LF, Math.max(start, resumeAt));
  while (lineFeed !== -1) {
    if (lineFeed + 1 >= end) return incomplete(buffer, start, lineFeed, limits, isRequest);
    const next = buffer[lineFeed + 1];
    if (next === LF) return complete(buffer, start, lineFeed + 2, limits, isRequest);
    if (next === CR) {
      if (lineFeed + 2 >= end) return incomplete(buffer, start, lineFeed, limits, isRequest);
      if (buffer[lineFeed + 2] === LF) return complete(buffer, start, lineFeed + 3, limits, isRequest);
    }
    lineFeed = buffer.indexOf(LF, lineFeed + 1);
  }
  return incomplete(buffer, start, end, limits, isRequest);
}

function complete(buffer: Buffer, start: number, headEnd: number, limits: Limits, isRequest: boolean): HeadScan {
  checkSizes(buffer, start, headEnd, limits, isRequest);
  return { complete: true, headEnd };
}

function incomplete(buffer: Buffer, start: number, resumeAt: number, limits: Limits, isRequest: boolean): HeadScan {
  checkSizes(buffer, start, buffer.length, limits, isRequest);
  return { complete: false, resumeAt };
}

function checkSizes(buffer: Buffer, start: number, end: number, limits: Limits, isRequest: boolean): void {
  if (end - start > limits.maxStartLineBytes) {
    const firstLineFeed = buffer.indexOf(LF, start);
    if (firstLineFeed === -1 || firstLineFeed >= end || firstLineFeed - start > limits.maxStartLineBytes) {
      throw isRequest
        ? peerError('request-line-too-long', 'The request line is longer than the server accepts', 414)
        : peerError('head-too-large', 'The status line is longer than the client accepts', 502);
    }
  }
  if (end - start > limits.maxHeadBytes) {
    throw peerError('head-too-large', 'The message head is larger than the limit', isRequest ? 431 : 502);
  }
}

/**
 * How far an incomplete request line has been checked (see checkRequestLinePrefix). Offsets count
 * from the start of the message, so they survive the reader moving its buffer.
 */
export interface RequestLineProgress {
  /** Bytes of the message checked so far. */
  checkedBytes: number;
  part: 'method' | 'target' | 'version' | 'done';
  /** Where the current part starts. */
  partStart: number;
}

export function newRequestLineProgress(): RequestLineProgress {
  return { checkedBytes: 0, part: 'method', partStart: 0 };
}

const HTTP_SLASH = Buffer.from('HTTP/', 'latin1');

/**
 * Refuses a request line as soon as its first bytes cannot begin one, instead of waiting for the rest
 * (or for the head timeout): a TLS ClientHello sent to the plain port (first byte 0x16), binary
 * garbage, a control character where the method must start (a method is a token, RFC 9110 §5.6.2 and
 * RFC 9112 §3). Checks buffer[start + progress.checkedBytes, end) against
 * `method SP request-target SP HTTP-version CRLF`, left to right, and records how far it got: a line
 * trickling in a byte at a time is checked in O(n) in all, and the verdict (which error, and when) is
 * the same however the bytes are split. The reader runs it on every request line, complete or not;
 * what it lets through, parseRequestHead checks again and completes (505 for HTTP/2.0).
 */
export function checkRequestLinePrefix(
  buffer: Buffer,
  start: number,
  end: number,
  progress: RequestLineProgress,
  allowBareLineFeed = false,
): void {
  // Each part is a tight loop over a lookup table (this runs for every request); the rare bytes that
  // end a part or break a rule leave the loop and are judged below it.
  let index = start + progress.checkedBytes;
  let part = progress.part;
  let partStart = start + progress.partStart;
  while (index < end && part !== 'done') {
    if (part === 'version') {
      // "HTTP/" DIGIT "." DIGIT CR LF, or a lone LF where the limits allow it.
      const byte = buffer[index]!;
      const position = index - partStart;
      if (byte === LF && position === 8 && allowBareLineFeed) {
        part = 'done';
      } else {
        if (byte === LF && !allowBareLineFeed && buffer[index - 1] !== CR) throw bareLineFeed();
        const expected =
          position < 5
            ? byte === HTTP_SLASH[position]
            : position === 5 || position === 7
              ? byte >= 0x30 && byte <= 0x39
              : position === 6
                ? byte === 0x2e
                : position === 8
                  ? byte === CR
                  : byte === LF;
        if (!expected) throw peerError('bad-version', 'The HTTP version is malformed');
        if (position === 9) part = 'done';
      }
      index++;
      continue;
    }
    const table = part === 'method' ? TCHAR : TARGET_CHAR;
    while (index < end && table[buffer[index]!] === 1) index++;
    if (index === end) break;
    const byte = buffer[index]!;
    if (byte === SP && index > partStart) {
      part = part === 'method' ? 'target' : 'version';
      partStart = index + 1;
      index++;
      continue;
    }
    if (byte === LF && !allowBareLineFeed && (index === start || buffer[index - 1] !== CR)) throw bareLineFeed();
    if (byte === CR || byte === LF) {
      // The line ends too early. A CR may be the first half of its CRLF: the next byte tells.
      if (byte === CR && index + 1 === end) break;
      if (byte === LF || buffer[index + 1] === LF) throw peerError('bad-request-line', 'The request line ends before its HTTP version');
    }
    throw notAllowedIn(part);
  }
  progress.checkedBytes = index - start;
  progress.part = part;
  progress.partStart = partStart - start;
}

function bareLineFeed() {
  return peerError('bad-line-ending', 'A line ends with LF alone; HTTP lines end with CRLF');
}

function notAllowedIn(part: 'method' | 'target') {
  return part === 'method'
    ? peerError('bad-method', 'The method is not a valid token')
    : peerError('bad-request-target', 'The request target has characters that are not allowed');
}

/** The end of the line content that ends at the LF at `lineFeed` (before the CR, if any). */
function lineContentEnd(buffer: Buffer, lineStart: number, lineFeed: number, limits: Limits): number {
  if (lineFeed > lineStart && buffer[lineFeed - 1] === CR) return lineFeed - 1;
  if (limits.allowBareLineFeed) return lineFeed;
  throw peerError('bad-line-ending', 'A line ends with LF alone; HTTP lines end with CRLF');
}

function allIn(table: Uint8Array, buffer: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (table[buffer[i]!] === 0) return false;
  return true;
}

/** HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3). Returns the major and minor digits, or null. */
function readVersion(buffer: Buffer, from: number, to: number): [major: number, minor: number] | null {
  if (to - from !== 8) return null;
  if (buffer.toString('latin1', from, from + 5) !== 'HTTP/' || buffer[from + 6] !== 0x2e) return null;
  const major = buffer[from + 5]! - 0x30;
  const minor = buffer[from + 7]! - 0x30;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) return null;
  return [major, minor];
}

/**
 * A minor version above what we implement is processed as the highest we do (RFC 9110 §6.2):
 * HTTP/1.2 is read as HTTP/1.1. Other major versions are refused.
 */
function toSupportedVersion(major: number, minor: number): HttpVersion | null {
  if (major !== 1) return null;
  return minor === 0 ? '1.0' : '1.1';
}

/** Parses a complete request head: buffer[start, headEnd) as found by scanForHeadEnd. */
export function parseRequestHead(buffer: Buffer, start: number, headEnd: number, limits: Limits): RequestHead {
  const lineFeed = buffer.indexOf(LF, start);
  const lineEnd = lineContentEnd(buffer, start, lineFeed, limits);

  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3), single spaces only.
  const firstSpace = buffer.indexOf(SP, start);
  if (firstSpace === -1 || firstSpace >= lineEnd) throw peerError('bad-request-line', 'The request line is malformed');
  const secondSpace = buffer.indexOf(SP, firstSpace + 1);
  if (secondSpace === -1 || secondSpace >= lineEnd) throw peerError('bad-request-line', 'The request line has no HTTP version');
  if (firstSpace === start || !allIn(TCHAR, buffer, start, firstSpace)) {
    throw peerError('bad-method', 'The method is not a valid token');
  }
  if (secondSpace === firstSpace + 1 || !allIn(TARGET_CHAR, buffer, firstSpace + 1, secondSpace)) {
    throw peerError('bad-request-target', 'The request target has characters that are not allowed');
  }
  const versionDigits = readVersion(buffer, secondSpace + 1, lineEnd);
  if (versionDigits === null) throw peerError('bad-version', 'The HTTP version is malformed');
  const version = toSupportedVersion(...versionDigits);
  if (version === null) throw peerError('unsupported-version', 'Only HTTP/1.x is supported', 505);

  // One decode of the whole head; the parts are then substrings of it (cheap slices in V8), which
  // costs far less than decoding each name and value on its own. latin1 keeps byte offsets valid.
  const text = buffer.toString('latin1', start, headEnd);
  return {
    method: text.slice(0, firstSpace - start),
    target: text.slice(firstSpace + 1 - start, secondSpace - start),
    version,
    fields: parseFieldLines(buffer, lineFeed + 1, headEnd, limits, 431, text, start),
  };
}

/** Parses a complete response head. Servers in the wild are looser than clients, so a missing reason phrase is fine. */
export function parseResponseHead(buffer: Buffer, start: number, headEnd: number, limits: Limits): ResponseHead {
  const lineFeed = buffer.indexOf(LF, start);
  const lineEnd = lineContentEnd(buffer, start, lineFeed, limits);
  const badStatusLine = () => peerError('bad-status-line', 'The status line is malformed', 502);

  // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4)
  const versionDigits = readVersion(buffer, start, Math.min(start + 8, lineEnd));
  if (versionDigits === null || buffer[start + 8] !== SP) throw badStatusLine();
  const version = toSupportedVersion(...versionDigits);
  if (version === null) throw badStatusLine();
  const codeStart = start + 9;
  if (lineEnd < codeStart + 3) throw badStatusLine();
  let status = 0;
  for (let i = codeStart; i < codeStart + 3; i++) {
    const digit = buffer[i]! - 0x30;
    if (digit < 0 || digit > 9) throw badStatusLine();
    status = status * 10 + digit;
  }
  if (status < 100) throw badStatusLine();
  let reason = '';
  if (lineEnd > codeStart + 3) {
    if (buffer[codeStart + 3] !== SP || !allIn(REASON_CHAR, buffer, codeStart + 4, lineEnd)) throw badStatusLine();
    reason = buffer.toString('latin1', codeStart + 4, lineEnd);
  }
  const text = buffer.toString('latin1', start, headEnd);
  return { version, status, reason, fields: parseFieldLines(buffer, lineFeed + 1, headEnd, limits, 502, text, start) };
}

/**
 * field-line = field-name ":" OWS field-value OWS (RFC 9112 §5), from `from` up to and including the
 * empty line that ends the section at `sectionEnd`. Used for heads and for trailer sections. `text`
 * is the section decoded as latin1 from buffer offset `textStart`, when the caller has it already.
 */
export function parseFieldLines(
  buffer: Buffer,
  from: number,
  sectionEnd: number,
  limits: Limits,
  tooManyStatus: number,
  text = buffer.toString('latin1', from, sectionEnd),
  textStart = from,
): Fields {
  // The scan works on the decoded text (positions relative to textStart): String#indexOf and
  // charCodeAt stay inside V8, where Buffer#indexOf would cross into C++ for every line.
  const fields = new Fields();
  const end = sectionEnd - textStart;
  let lineStart = from - textStart;
  while (lineStart < end) {
    const lineFeed = text.indexOf('\n', lineStart);
    const lineEnd = lineContentEnd(buffer, lineStart + textStart, lineFeed + textStart, limits) - textStart;
    if (lineEnd === lineStart) break; // the empty line
    const first = text.charCodeAt(lineStart);
    if (first === SP || first === HTAB) {
      throw peerError('obsolete-line-folding', 'A field line starts with whitespace (obsolete line folding)');
    }
    const colon = text.indexOf(':', lineStart);
    if (colon === -1 || colon >= lineEnd || colon === lineStart) throw peerError('bad-field-name', 'A field line has no field name');
    if (!allCharsIn(TCHAR, text, lineStart, colon)) {
      const before = text.charCodeAt(colon - 1);
      throw before === SP || before === HTAB
        ? peerError('whitespace-before-colon', 'Whitespace between a field name and the colon is not allowed')
        : peerError('bad-field-name', 'A field name has characters that are not allowed');
    }
    let valueStart = colon + 1;
    let valueEnd = lineEnd;
    while (valueStart < valueEnd && isWhitespace(text.charCodeAt(valueStart))) valueStart++;
    while (valueEnd > valueStart && isWhitespace(text.charCodeAt(valueEnd - 1))) valueEnd--;
    if (!allCharsIn(FIELD_VALUE_CHAR, text, valueStart, valueEnd)) {
      throw peerError('bad-field-value', 'A field value has control characters that are not allowed');
    }
    if (fields.size >= limits.maxFieldCount) throw peerError('too-many-fields', 'Too many field lines', tooManyStatus);
    fields.append(text.slice(lineStart, colon), text.slice(valueStart, valueEnd));
    lineStart = lineFeed + 1;
  }
  return fields;
}

const isWhitespace = (code: number) => code === SP || code === HTAB;

/** Whether every character of text[from, to) is in the table (latin1 text: char codes are bytes). */
function allCharsIn(table: Uint8Array, text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (table[text.charCodeAt(i)] === 0) return false;
  return true;
}
