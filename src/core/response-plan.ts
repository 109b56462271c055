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
  status: number;
  fields: FieldLine[];
  body: ResponseBody;
}

export const EMPTY_BODY: ResponseBody = Object.freeze({ kind: 'empty' });

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
  // Plans are never modified after they are made, so one per status serves every request.
  let plan = ERROR_PLANS.get(status);
  if (plan === undefined) {
    plan = buildErrorPlan(status, []);
    ERROR_PLANS.set(status, plan);
  }
  return plan;
}

const ERROR_PLANS = new Map<number, ResponsePlan>();

function buildErrorPlan(status: number, extraFields: FieldLine[]): ResponsePlan {
  const title = `${status} ${reasonPhrase(status)}`.trim();
  const html = `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>\n<body><h1>${title}</h1></body></html>\n`;
  return {
    status,
    fields: [['Content-Type', 'text/html; charset=utf-8'], ...extraFields],
    body: { kind: 'bytes', bytes: Buffer.from(html, 'utf8') },
  };
}
