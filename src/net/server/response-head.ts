/**
 * The bytes of a response head as the socket layer writes them: the status line, the plan's own
 * field lines, then what only the socket layer sets — Date and the framing fields (Content-Length,
 * Transfer-Encoding, Connection), as the core decided them.
 *
 * A prepared plan (core/response-plan.ts: a hot small file's answer, an error page) is answered
 * with the same bytes request after request, apart from the Date, which changes once a second. So
 * its whole response is kept, ready to write, and made again only when the Date or the framing
 * changes: the work nginx and sirv move out of the request path. Any other plan is serialized
 * afresh each time: a handler may reuse and change its arrays and Buffers.
 */
import type { ResponseFraming } from '../../core/connection.js';
import type { FieldLine } from '../../core/fields.js';
import { type ResponsePlan, isPrepared } from '../../core/response-plan.js';
import { serializeFieldLines, serializeStatusLine } from '../../core/serializer.js';
import { httpDateNow } from './clock.js';

type HeadFraming = Pick<ResponseFraming, 'contentLength' | 'isChunked' | 'connection'>;

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
 * file cache, once here, for as long as the plan lives).
 */
const READY_BODY_BYTES = 16 * 1024;

interface ReadyResponse {
  date: string;
  framing: HeadFraming;
  hasBody: boolean;
  bytes: Buffer;
}

/** By prepared plan: it lives as long as its maker keeps it (a file's representation). */
const readyResponses = new WeakMap<ResponsePlan, ReadyResponse>();

function sameFraming(a: HeadFraming, b: HeadFraming): boolean {
  return a.contentLength === b.contentLength && a.isChunked === b.isChunked && a.connection === b.connection;
}

/**
 * Head and body in one buffer, for one write and one packet. `body` is null when none is sent (HEAD,
 * 304, an empty body). A ready buffer is shared by every connection that sends it, so it is never
 * modified: a change makes a new one.
 */
export function wholeResponse(plan: ResponsePlan, framing: HeadFraming, body: Buffer | null): Buffer {
  const prepared = isPrepared(plan);
  const date = httpDateNow();
  if (prepared) {
    const ready = readyResponses.get(plan);
    if (ready !== undefined && ready.date === date && ready.hasBody === (body !== null) && sameFraming(ready.framing, framing))
      return ready.bytes;
  }
  const head = serializeHead(plan.status, plan.fields, framing);
  const bodyLength = body === null ? 0 : body.length;
  const bytes = Buffer.allocUnsafe(head.length + bodyLength);
  bytes.write(head, 0, 'latin1');
  body?.copy(bytes, head.length);
  if (prepared && bodyLength <= READY_BODY_BYTES) {
    readyResponses.set(plan, {
      date,
      framing: { contentLength: framing.contentLength, isChunked: framing.isChunked, connection: framing.connection },
      hasBody: body !== null,
      bytes,
    });
  }
  return bytes;
}

/** Framing fields are the socket layer's alone: a plan's own values of these are left out. */
const FIELDS_WE_SET = new Set(['content-length', 'transfer-encoding', 'connection', 'date']);

/**
 * The serialized field lines of a frozen fields array (a prepared plan's), remembered: checked and
 * serialized once, not per response. A fields array that may still change is serialized each time.
 */
const fieldBlocks = new WeakMap<readonly FieldLine[], string>();

function fieldBlock(fields: readonly FieldLine[]): string {
  const frozen = Object.isFrozen(fields);
  let block = frozen ? fieldBlocks.get(fields) : undefined;
  if (block === undefined) {
    block = serializeFieldLines(fields.filter(([name]) => !FIELDS_WE_SET.has(name.toLowerCase())));
    if (frozen) fieldBlocks.set(fields, block);
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
