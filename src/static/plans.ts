/**
 * The last step of serving, the body plan, for the answers the handler builds the same way every
 * time: a representation's prepared answer, OPTIONS and CORS preflights, 206 Partial Content (one
 * range, or multipart/byteranges), the SPA shell's fields, and the live-reload snippet in a page.
 */
import type { FieldLine, Fields } from '../core/fields.js';
import { EMPTY_BODY, type FilePiece, type ResponsePlan, prepareResponse } from '../core/response-plan.js';
import { randomBytes } from '../site/crypto.js';
import { replaceFields } from '../site/rules.js';
import type { ByteRange } from './range.js';
import type { Representation } from './representations.js';

/** The methods a static server allows. */
export const ALLOW = 'GET, HEAD, OPTIONS';

/** The fields of the SPA fallback: Cache-Control: no-cache, and Accept added to Vary. */
export function spaFields(fields: FieldLine[]): FieldLine[] {
  const vary = fields.filter(([name]) => name.toLowerCase() === 'vary').map(([, value]) => value);
  return replaceFields(fields, [
    ['Cache-Control', 'no-cache'],
    ['Vary', [...vary, 'Accept'].join(', ')],
  ]);
}

/** The prepared answer of a representation with these bytes: made once, reused while they are the same Buffer. */
export function preparedAnswer(representation: Representation, status: number, bytes: Buffer): ResponsePlan {
  const known = representation.answer;
  if (known !== undefined && known.status === status && known.body.kind === 'bytes' && known.body.bytes === bytes) return known;
  representation.answer = prepareResponse(status, representation.fields, { kind: 'bytes', bytes });
  return representation.answer;
}

/** OPTIONS: the allowed methods, and with --cors the answer to a CORS preflight (Fetch standard). */
export function answerOptions(fields: Fields, cors: boolean, extraFields: FieldLine[]): ResponsePlan {
  const answer: FieldLine[] = [['Allow', ALLOW]];
  if (cors && fields.has('origin') && fields.has('access-control-request-method')) {
    answer.push(['Access-Control-Allow-Methods', ALLOW], ['Access-Control-Max-Age', '86400']);
    const requestedHeaders = fields.get('access-control-request-headers');
    if (requestedHeaders !== undefined) answer.push(['Access-Control-Allow-Headers', requestedHeaders]);
  }
  return { status: 204, fields: replaceFields(answer, extraFields), body: EMPTY_BODY };
}

/** 206 Partial Content: one range with Content-Range, or several as multipart/byteranges (RFC 9110 §14.6). */
export function partialBody(
  fd: number,
  fields: FieldLine[],
  contentType: string,
  ranges: ByteRange[],
  size: number,
): Pick<ResponsePlan, 'fields' | 'body'> {
  const region = (range: ByteRange) => ({ start: range.start, length: range.end - range.start + 1 });
  if (ranges.length === 1) {
    const [range] = ranges as [ByteRange];
    return {
      fields: [...fields, ['Content-Range', `bytes ${range.start}-${range.end}/${size}`]],
      body: { kind: 'file', fd, pieces: [region(range)] },
    };
  }
  const boundary = randomBytes(12).toString('hex');
  const pieces: FilePiece[] = [];
  ranges.forEach((range, index) => {
    const partHead = `${index === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${contentType}\r\nContent-Range: bytes ${range.start}-${range.end}/${size}\r\n\r\n`;
    pieces.push(Buffer.from(partHead, 'latin1'), region(range));
  });
  pieces.push(Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'));
  // Whatever Content-Type was configured, the whole is multipart/byteranges (each part keeps its type).
  const partFields = replaceFields(fields, [['Content-Type', `multipart/byteranges; boundary=${boundary}`]]);
  return { fields: partFields, body: { kind: 'file', fd, pieces } };
}

/** Puts `snippet` before the last </body>, or at the end of a page that has none. */
export function insertSnippet(html: string, snippet: string): string {
  const bodyEnd = html.toLowerCase().lastIndexOf('</body>');
  return bodyEnd === -1 ? html + snippet : html.slice(0, bodyEnd) + snippet + html.slice(bodyEnd);
}
