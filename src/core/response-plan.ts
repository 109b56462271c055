/**
 * What a request handler answers with: a plan of the response (status, fields, body source), not bytes
 * on a socket. The socket layer turns the plan into bytes; it alone adds the framing fields
 * (Content-Length, Transfer-Encoding, Connection) and Date, and it alone decides that a HEAD response
 * carries no body — so a handler cannot get framing wrong.
 */
import type { Readable } from 'node:stream';
import type { FieldLine } from './fields.js';
import { reasonPhrase } from './status.js';

/** A region of a file (start and length in bytes), or literal bytes sent between regions. */
export type FilePiece = Buffer | { start: number; length: number };

export type ResponseBody =
  | { kind: 'empty' }
  | { kind: 'bytes'; bytes: Buffer }
  /**
   * Pieces of an open file, sent in order: one region for a whole file or a single range; regions
   * with part heads between them for multipart/byteranges. The socket layer owns `fd` from now on
   * and closes it in every case.
   */
  | { kind: 'file'; fd: number; pieces: FilePiece[] }
  /** A body of unknown length (sent chunked), such as an event stream. Destroyed if the client leaves. */
  | { kind: 'stream'; stream: Readable };

export interface ResponsePlan {
  readonly status: number;
  readonly fields: readonly FieldLine[];
  readonly body: ResponseBody;
}

const PREPARED = new WeakSet<ResponsePlan>();

/**
 * A plan its maker will never change: the same fields and the same body bytes for as long as it
 * lives (sirv's idea: a static file's answer, made once per version of the file). The server may
 * keep such a plan's serialized form and reuse it; any other plan is serialized afresh every time,
 * so a handler that reuses and changes its arrays or Buffers is always answered as it is now.
 * Returns a frozen copy; its body bytes must not be written to afterwards.
 */
export function prepareResponse(
  status: number,
  fields: readonly FieldLine[],
  body: ResponseBody & { kind: 'bytes' | 'empty' },
): ResponsePlan {
  const prepared: ResponsePlan = Object.freeze({ status, fields: Object.freeze([...fields]), body: Object.freeze({ ...body }) });
  PREPARED.add(prepared);
  return prepared;
}

export function isPrepared(plan: ResponsePlan): boolean {
  return PREPARED.has(plan);
}

export const EMPTY_BODY: ResponseBody & { kind: 'empty' } = Object.freeze({ kind: 'empty' as const });

/** The length of a body, or null when it is not known in advance. */
export function bodyLength(body: ResponseBody): number | null {
  switch (body.kind) {
    case 'empty':
      return 0;
    case 'bytes':
      return body.bytes.length;
    case 'file':
      return body.pieces.reduce((total, piece) => total + piece.length, 0);
    case 'stream':
      return null;
  }
}

/**
 * A small HTML page for an error status. It names the status and nothing else: no request bytes,
 * paths or internal details ever go into it.
 */
export function errorPlan(status: number, extraFields: FieldLine[] = []): ResponsePlan {
  if (extraFields.length > 0) return buildErrorPlan(status, extraFields);
  // One prepared plan per status serves every request.
  let plan = ERROR_PLANS.get(status);
  if (plan === undefined) {
    const built = buildErrorPlan(status, []);
    plan = prepareResponse(status, built.fields, built.body);
    ERROR_PLANS.set(status, plan);
  }
  return plan;
}

const ERROR_PLANS = new Map<number, ResponsePlan>();

function buildErrorPlan(status: number, extraFields: FieldLine[]): ResponsePlan & { body: { kind: 'bytes' } } {
  const title = `${status} ${reasonPhrase(status)}`.trim();
  const html = `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>\n<body><h1>${title}</h1></body></html>\n`;
  return {
    status,
    fields: [['Content-Type', 'text/html; charset=utf-8'], ...extraFields],
    body: { kind: 'bytes', bytes: Buffer.from(html, 'utf8') },
  };
}
