/**
 * The bytes of a response head as the socket layer writes them: the status line, the plan's own
 * field lines, then what only the socket layer sets — Date and the framing fields (Content-Length,
 * Transfer-Encoding, Connection).
 *
 * A hot small file is answered with the same bytes request after request, apart from the Date,
 * which changes once a second. So a response whose body is small and in memory is kept whole, ready
 * to write, and made again only when something it depends on changes: that is the work nginx and
 * sirv move out of the request path (a head computed once per file).
 */
import type { FieldLine } from '../core/fields.js';
import { serializeFieldLines, serializeStatusLine } from '../core/serializer.js';
import { httpDateNow } from './clock.js';

/** What the socket layer decided about a response's framing. */
export interface HeadFraming {
  /** The Content-Length, or null for none (chunked, close-delimited, or a status without content). */
  contentLength: number | null;
  isChunked: boolean;
  /** The Connection field to send: 'close', 'keep-alive' (for an HTTP/1.0 client), or none. */
  connection: 'close' | 'keep-alive' | null;
}

/** The head as text (latin1), ending with the empty line. Throws if the plan's fields cannot be sent. */
export function serializeHead(status: number, fields: readonly FieldLine[], framing: HeadFraming): string {
  let head = statusLine(status) + fieldBlock(fields) + `Date: ${httpDateNow()}\r\n`;
  if (framing.contentLength !== null) head += `Content-Length: ${framing.contentLength}\r\n`;
  if (framing.isChunked) head += 'Transfer-Encoding: chunked\r\n';
  if (framing.connection !== null) head += `Connection: ${framing.connection}\r\n`;
  return head + '\r\n';
}

/**
 * Bodies up to this size are kept in their ready response (the body is then held twice: once in the
 * file cache, once here, for as long as the file cache keeps it).
 */
const READY_BODY_BYTES = 16 * 1024;

interface ReadyResponse {
  status: number;
  fields: readonly FieldLine[];
  date: string;
  framing: HeadFraming;
  hasBody: boolean;
  bytes: Buffer;
}

/** By the body's Buffer, or by the fields of a response without a body: both are kept by their plans. */
const readyResponses = new WeakMap<object, ReadyResponse>();

function sameFraming(a: HeadFraming, b: HeadFraming): boolean {
  return a.contentLength === b.contentLength && a.isChunked === b.isChunked && a.connection === b.connection;
}

/**
 * Head and body in one buffer, for one write and one packet. `body` is null when none is sent (HEAD,
 * 304, an empty body). A ready buffer is shared by every connection that sends it, so it is never
 * modified: a change makes a new one.
 */
export function wholeResponse(status: number, fields: readonly FieldLine[], framing: HeadFraming, body: Buffer | null): Buffer {
  const key = body ?? fields;
  const date = httpDateNow();
  const ready = readyResponses.get(key);
  if (
    ready !== undefined &&
    ready.date === date &&
    ready.status === status &&
    ready.fields === fields &&
    ready.hasBody === (body !== null) &&
    sameFraming(ready.framing, framing)
  ) {
    return ready.bytes;
  }
  const head = serializeHead(status, fields, framing);
  const bodyLength = body === null ? 0 : body.length;
  const bytes = Buffer.allocUnsafe(head.length + bodyLength);
  bytes.write(head, 0, 'latin1');
  body?.copy(bytes, head.length);
  if (bodyLength <= READY_BODY_BYTES) readyResponses.set(key, { status, fields, date, framing, hasBody: body !== null, bytes });
  return bytes;
}

/** Framing fields are the socket layer's alone: a plan's own values of these are left out. */
const FIELDS_WE_SET = new Set(['content-length', 'transfer-encoding', 'connection', 'date']);

/**
 * The serialized field lines of a plan, remembered per fields array: a static file's plan reuses the
 * same array for every request, so its fields are checked and serialized once, not per response.
 */
const fieldBlocks = new WeakMap<readonly FieldLine[], string>();

function fieldBlock(fields: readonly FieldLine[]): string {
  let block = fieldBlocks.get(fields);
  if (block === undefined) {
    block = serializeFieldLines(fields.filter(([name]) => !FIELDS_WE_SET.has(name.toLowerCase())));
    fieldBlocks.set(fields, block);
  }
  return block;
}

const statusLines = new Map<number, string>();

function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) {
    line = serializeStatusLine(status);
    statusLines.set(status, line);
  }
  return line;
}
