/**
 * HTTP semantics over HTTP/2 (RFC 9113 §8): which decoded field sections are well-formed requests
 * and responses, and how a response's fields are made ready to send. A malformed message is a
 * stream error of type PROTOCOL_ERROR (§8.1.1): the stream is reset, the connection goes on.
 */
import { isFieldValue, isToken } from '../chars.js';
import { H2StreamError } from './errors.js';

export type FieldPair = readonly [name: string, value: string];

export interface RequestPseudo {
  method: string;
  scheme: string | null;
  path: string | null;
  authority: string | null;
}

/**
 * §8.2.2: fields that only mean something to one HTTP/1.1 hop; an h2 message carrying them is
 * malformed (TE is allowed with the value "trailers" only).
 */
export const CONNECTION_SPECIFIC_FIELDS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

const REQUEST_PSEUDO = new Set([':method', ':scheme', ':path', ':authority']);

function malformed(streamId: number, message: string): H2StreamError {
  return new H2StreamError(streamId, 'PROTOCOL_ERROR', `malformed request: ${message}`);
}

/** §8.2.1: names are lowercase tokens (a pseudo-header is ':' and a token); values have no NUL, CR or LF and no whitespace at either end. */
function checkField(streamId: number, name: string, value: string, kind: string): void {
  const bare = name.startsWith(':') ? name.slice(1) : name;
  if (!isToken(bare)) throw malformed(streamId, `a ${kind} field name that is not a token`);
  if (bare !== bare.toLowerCase()) throw malformed(streamId, `an uppercase ${kind} field name`);
  if (!isFieldValue(value)) throw malformed(streamId, `a ${kind} field value with forbidden characters`);
  if (value.length > 0 && (isWhitespace(value.charCodeAt(0)) || isWhitespace(value.charCodeAt(value.length - 1)))) {
    throw malformed(streamId, `a ${kind} field value with whitespace at an end`);
  }
}

function isWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

function checkRegularField(streamId: number, name: string, value: string, kind: string): void {
  checkField(streamId, name, value, kind);
  if (CONNECTION_SPECIFIC_FIELDS.has(name)) throw malformed(streamId, `the connection-specific field ${name}`);
  if (name === 'te' && value !== 'trailers') throw malformed(streamId, 'te with a value other than "trailers"');
}

/**
 * The pseudo-header fields of a request and its regular fields (§8.3.1). Throws H2StreamError
 * PROTOCOL_ERROR for a malformed request. Cookie crumbs are joined with "; " (§8.2.3).
 */
export function readRequestFields(streamId: number, fields: readonly FieldPair[]): { pseudo: RequestPseudo; fields: FieldPair[] } {
  const pseudo: Record<string, string> = {};
  const regular: FieldPair[] = [];
  const cookies: string[] = [];
  for (const [name, value] of fields) {
    if (name.startsWith(':')) {
      if (regular.length > 0 || cookies.length > 0) throw malformed(streamId, 'a pseudo-header field after a regular field');
      if (!REQUEST_PSEUDO.has(name)) throw malformed(streamId, 'an unknown pseudo-header field');
      if (pseudo[name] !== undefined) throw malformed(streamId, `${name} twice`);
      checkField(streamId, name, value, 'pseudo-header');
      pseudo[name] = value;
      continue;
    }
    checkRegularField(streamId, name, value, 'request');
    if (name === 'cookie') cookies.push(value);
    else regular.push([name, value]);
  }
  if (cookies.length > 0) regular.push(['cookie', cookies.join('; ')]);
  const method = pseudo[':method'];
  if (method === undefined || !isToken(method)) throw malformed(streamId, 'no :method');
  const scheme = pseudo[':scheme'] ?? null;
  const path = pseudo[':path'] ?? null;
  const authority = pseudo[':authority'] ?? null;
  if (method === 'CONNECT') {
    // §8.5: CONNECT carries :authority only.
    if (scheme !== null || path !== null || authority === null)
      throw malformed(streamId, 'a CONNECT request with :scheme or :path, or without :authority');
  } else {
    if (scheme === null || path === null) throw malformed(streamId, 'no :scheme or no :path');
    // §8.3.1: :path is never empty; it is "*" (OPTIONS) or starts with "/" for http and https URIs.
    if (path === '' || (path !== '*' && !path.startsWith('/') && (scheme === 'http' || scheme === 'https'))) {
      throw malformed(streamId, 'a :path that is empty or not absolute');
    }
    if (/[^\x21-\x7e]/.test(path)) throw malformed(streamId, 'a :path with characters outside visible ASCII');
  }
  if (authority !== null && /[^\x21-\x7e]/.test(authority))
    throw malformed(streamId, 'an :authority with characters outside visible ASCII');
  return { pseudo: { method, scheme, path, authority }, fields: regular };
}

/** A trailer section (§8.1): no pseudo-header fields, the same rules for the rest. */
export function readTrailerFields(streamId: number, fields: readonly FieldPair[]): FieldPair[] {
  for (const [name, value] of fields) {
    if (name.startsWith(':')) throw malformed(streamId, 'a pseudo-header field in trailers');
    checkRegularField(streamId, name, value, 'trailer');
  }
  return [...fields];
}

/** A response's :status and fields (§8.3.2), as a client reads them. Throws H2StreamError. */
export function readResponseFields(streamId: number, fields: readonly FieldPair[]): { status: number; fields: FieldPair[] } {
  let status: number | null = null;
  const regular: FieldPair[] = [];
  for (const [name, value] of fields) {
    if (name.startsWith(':')) {
      if (regular.length > 0) throw malformed(streamId, 'a pseudo-header field after a regular field');
      if (name !== ':status' || status !== null) throw malformed(streamId, 'a pseudo-header field other than one :status');
      if (!/^[1-9]\d\d$/.test(value)) throw malformed(streamId, 'a :status that is not three digits');
      status = Number(value);
      continue;
    }
    checkRegularField(streamId, name, value, 'response');
    regular.push([name, value]);
  }
  if (status === null) throw malformed(streamId, 'no :status');
  return { status, fields: regular };
}

/** The declared content-length of a message, or null (several equal values count as one; others are malformed). */
export function declaredContentLength(streamId: number, fields: readonly FieldPair[]): number | null {
  let length: number | null = null;
  for (const [name, value] of fields) {
    if (name !== 'content-length') continue;
    for (const element of value.split(',')) {
      const trimmed = element.trim();
      if (!/^\d{1,15}$/.test(trimmed)) throw malformed(streamId, 'a content-length that is not a number');
      const parsed = Number(trimmed);
      if (length !== null && parsed !== length) throw malformed(streamId, 'conflicting content-length values');
      length = parsed;
    }
  }
  return length;
}

/**
 * Fields of ours ready for an h2 HEADERS frame: names lowercased (§8.2.1), connection-specific
 * fields of HTTP/1.1 left out (§8.2.2), and TE only when it is "trailers". Throws (side 'local') if a
 * name or value cannot be sent, as the HTTP/1.1 serializer does.
 */
export function fieldsToSend(fields: Iterable<readonly [string, string]>): FieldPair[] {
  const ready: FieldPair[] = [];
  for (const [name, value] of fields) {
    const lower = name.toLowerCase();
    if (CONNECTION_SPECIFIC_FIELDS.has(lower)) continue;
    if (lower === 'te' && value.trim().toLowerCase() !== 'trailers') continue;
    if (!isToken(lower) || !isFieldValue(value)) throw new H2StreamError(0, 'INTERNAL_ERROR', 'a field that cannot be sent', 'local');
    ready.push([lower, value.trim()]);
  }
  return ready;
}
