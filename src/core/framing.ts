/**
 * Message body length (RFC 9112 §6.3), decided once per message by following the RFC's list in order.
 * The decision selects the body decoder; nothing else in the code looks at Content-Length or
 * Transfer-Encoding to find where a message ends. Every ambiguity a request-smuggling attack relies
 * on (RFC 9112 §11.2) is refused here for requests.
 */
import { isToken } from './chars.js';
import { peerError } from './errors.js';
import type { Fields } from './fields.js';
import type { HttpVersion } from './head-parser.js';

export type BodyFraming =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  /** Responses only: the body runs until the server closes the connection. */
  | { kind: 'until-close' };

const NO_BODY: BodyFraming = Object.freeze({ kind: 'none' });

/**
 * Content-Length (RFC 9110 §8.6): one or more identical values, each 1*DIGIT. Several field lines or a
 * list with the same value are accepted, as the RFC allows; anything else is refused.
 */
export function parseContentLength(values: string[]): number {
  let length: number | undefined;
  for (const line of values) {
    for (const element of line.split(',')) {
      const text = element.trim();
      if (!/^[0-9]{1,15}$/.test(text)) throw peerError('bad-content-length', 'Content-Length is not a valid number');
      const value = Number(text);
      if (length !== undefined && value !== length) {
        throw peerError('conflicting-content-length', 'Content-Length values differ');
      }
      length = value;
    }
  }
  if (length === undefined) throw peerError('bad-content-length', 'Content-Length is empty');
  return length;
}

/** The transfer codings, lowercased and without parameters, in the order they were applied. */
function readTransferCodings(fields: Fields): string[] {
  const codings = fields.tokens('transfer-encoding').map((coding) => coding.split(';')[0]!.trim());
  if (codings.length === 0 || !codings.every(isToken)) {
    throw peerError('bad-transfer-encoding', 'Transfer-Encoding is malformed');
  }
  return codings;
}

export function decideRequestBodyLength(version: HttpVersion, fields: Fields): BodyFraming {
  const hasTransferEncoding = fields.has('transfer-encoding');
  const contentLengths = fields.getAll('content-length');
  if (hasTransferEncoding) {
    // Both present is the classic smuggling set-up: refuse rather than pick one (RFC 9112 §6.1, §11.2).
    if (contentLengths.length > 0) {
      throw peerError('content-length-with-transfer-encoding', 'Content-Length and Transfer-Encoding together are not allowed');
    }
    // HTTP/1.0 has no Transfer-Encoding; a recipient must treat its framing as faulty (RFC 9112 §6.1).
    if (version === '1.0') throw peerError('bad-transfer-encoding', 'Transfer-Encoding is not allowed in HTTP/1.0');
    const codings = readTransferCodings(fields);
    const chunkedCount = codings.filter((coding) => coding === 'chunked').length;
    // chunked must be last and appear once; otherwise the length cannot be known (400, RFC 9112 §6.3 ¶4).
    if (codings[codings.length - 1] !== 'chunked' || chunkedCount !== 1) {
      throw peerError('bad-transfer-encoding', 'Transfer-Encoding must end with a single chunked');
    }
    // Other codings before chunked are valid HTTP, but we do not decode them (RFC 9112 §6.1: 501).
    if (codings.length > 1) throw peerError('unsupported-transfer-coding', 'Only the chunked transfer coding is supported', 501);
    return { kind: 'chunked' };
  }
  if (contentLengths.length > 0) {
    const length = parseContentLength(contentLengths);
    return length === 0 ? NO_BODY : { kind: 'length', length };
  }
  return NO_BODY;
}

/**
 * The framing of a response to a request with method `requestMethod` (RFC 9112 §6.3, items 1-7).
 * `mustClose` is set when the framing leaves the connection unusable afterwards.
 */
export function decideResponseBodyLength(
  requestMethod: string,
  status: number,
  version: HttpVersion,
  fields: Fields,
): { framing: BodyFraming; mustClose: boolean } {
  if (requestMethod === 'HEAD' || (status >= 100 && status < 200) || status === 204 || status === 304) {
    return { framing: NO_BODY, mustClose: false };
  }
  if (requestMethod === 'CONNECT' && status >= 200 && status < 300) return { framing: NO_BODY, mustClose: false };
  if (fields.has('transfer-encoding')) {
    const codings = readTransferCodings(fields);
    // Transfer-Encoding overrides Content-Length; a response carrying both may be an attack, so the
    // connection is not reused after it (RFC 9112 §6.3 ¶3). HTTP/1.0 has no Transfer-Encoding: its
    // framing is suspect and the connection must close after it (RFC 9112 §6.1).
    const mustClose = fields.has('content-length') || version === '1.0';
    if (codings[codings.length - 1] === 'chunked') {
      if (codings.length > 1) throw peerError('unsupported-transfer-coding', 'Only the chunked transfer coding is supported', 502);
      return { framing: { kind: 'chunked' }, mustClose };
    }
    return { framing: { kind: 'until-close' }, mustClose: true };
  }
  const contentLengths = fields.getAll('content-length');
  if (contentLengths.length > 0) {
    const length = parseContentLength(contentLengths);
    return { framing: length === 0 ? NO_BODY : { kind: 'length', length }, mustClose: false };
  }
  return { framing: { kind: 'until-close' }, mustClose: true };
}

/**
 * Whether the sender of a message asks to keep the connection open (RFC 9112 §9.3): HTTP/1.1 persists
 * unless "close" is listed; HTTP/1.0 only with "keep-alive".
 */
export function wantsKeepAlive(version: HttpVersion, fields: Fields): boolean {
  const options = fields.tokens('connection');
  if (options.includes('close')) return false;
  return version === '1.1' || options.includes('keep-alive');
}

/**
 * The Content-Length a message announces, whatever its framing (a response to HEAD announces the
 * length a GET would get), or null when it has none or one that is malformed. The only reading of
 * Content-Length outside the framing decision: "5, 5" is 5, and nothing is guessed from garbage.
 */
export function announcedContentLength(fields: Fields): number | null {
  const values = fields.getAll('content-length');
  if (values.length === 0) return null;
  try {
    return parseContentLength(values);
  } catch {
    return null;
  }
}
