/**
 * What a request handler answers with: a plan of the response (status, fields, body source), not bytes
 * on a socket. The socket layer turns the plan into bytes; it alone adds the framing fields
 * (Content-Length, Transfer-Encoding, Connection) and Date, and it alone decides that a HEAD response
 * carries no body — so a handler cannot get framing wrong.
 */
import type { FieldLine } from './fields.js';
import { reasonPhrase } from './status.js';

export type ResponseBody =
  | { kind: 'empty' }
  | { kind: 'bytes'; bytes: Buffer }
  /** A region of an open file. The socket layer owns `fd` from now on and closes it in every case. */
  | { kind: 'file'; fd: number; start: number; length: number };

export interface ResponsePlan {
  status: number;
  fields: FieldLine[];
  body: ResponseBody;
}

export const EMPTY_BODY: ResponseBody = Object.freeze({ kind: 'empty' });

export function bodyLength(body: ResponseBody): number {
  switch (body.kind) {
    case 'empty':
      return 0;
    case 'bytes':
      return body.bytes.length;
    case 'file':
      return body.length;
  }
}

/**
 * A small HTML page for an error status. It names the status and nothing else: no request bytes,
 * paths or internal details ever go into it.
 */
export function errorPlan(status: number, extraFields: FieldLine[] = []): ResponsePlan {
  const title = `${status} ${reasonPhrase(status)}`.trim();
  const html = `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>\n<body><h1>${title}</h1></body></html>\n`;
  return {
    status,
    fields: [['Content-Type', 'text/html; charset=utf-8'], ...extraFields],
    body: { kind: 'bytes', bytes: Buffer.from(html, 'utf8') },
  };
}
