/**
 * Labelling the bytes of one direction of an HTTP/1.1 connection with the RFC 9112 element each one
 * belongs to, for `--trace`: request-line, status-line, field-line, empty-line, chunk-size,
 * chunk-data, last-chunk, trailer-field, body. No I/O: bytes in, labelled lines out.
 *
 * Theory of operation. A WireLabeller follows the messages of one direction the way a recipient
 * would: it collects a head line by line (each line is labelled when its LF arrives), decides the
 * body's framing from the complete head with the same core functions the parsers use, then labels
 * the body: a chunked body piece by piece, any other body as one summary line when it ends. Bytes it
 * cannot make sense of (a broken peer) are still shown, labelled 'unparsed', so nothing that crossed
 * the wire is hidden. Text is escaped so that CR and LF show as \r and \n, and no control character
 * or invalid UTF-8 from a hostile peer reaches the terminal raw.
 */
import { HttpProtocolError } from './errors.js';
import { type BodyFraming, decideRequestBodyLength, decideResponseBodyLength } from './framing.js';
import { parseRequestHead, parseResponseHead } from './head-parser.js';
import { DEFAULT_RESPONSE_LIMITS, type Limits } from './limits.js';

export type TraceElement =
  | 'request-line'
  | 'status-line'
  | 'field-line'
  | 'empty-line'
  | 'chunk-size'
  | 'chunk-data'
  | 'last-chunk'
  | 'trailer-field'
  | 'body'
  | 'unparsed';

export interface TraceLine {
  element: TraceElement;
  /** The bytes, escaped for display (\r, \n, \t, \\, \xNN, \u{…}). */
  text: string;
}

/** Lenient limits: a trace shows what a peer sent, it does not judge it (the parsers do that). */
const TRACE_LIMITS: Limits = { ...DEFAULT_RESPONSE_LIMITS, maxHeadBytes: 1024 * 1024, maxFieldCount: 10_000, allowBareLineFeed: true };
/** A head line longer than this is shown in pieces rather than held back. */
const MAX_HELD_LINE = 64 * 1024;

/**
 * Bytes as readable text: printable ASCII as is; CR, LF, TAB and backslash as \r \n \t \\; valid
 * UTF-8 letters as themselves; control characters, bidirectional overrides and invalid UTF-8 as
 * escapes (byte by byte, so one bad byte hides nothing around it). A peer cannot move the cursor,
 * recolour the terminal or disguise text.
 */
export function escapeBytes(bytes: Buffer): string {
  let text = '';
  let index = 0;
  while (index < bytes.length) {
    const decoded = decodeUtf8At(bytes, index);
    if (decoded === null) {
      text += escapeControl(bytes[index]!);
      index += 1;
      continue;
    }
    const [code, length] = decoded;
    index += length;
    if (code < 0x20 || code === 0x7f) text += escapeControl(code);
    else if (isInvisibleControl(code)) text += `\\u{${code.toString(16)}}`;
    else text += code === 0x5c ? '\\\\' : String.fromCodePoint(code);
  }
  return text;
}

/** C1 controls and the bidirectional formatting characters that can reorder what a terminal shows. */
function isInvisibleControl(code: number): boolean {
  return (
    (code >= 0x80 && code < 0xa0) ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069) ||
    code === 0x200e ||
    code === 0x200f
  );
}

/** The code point of the well-formed UTF-8 sequence at `index`, and its length; null if there is none. */
function decodeUtf8At(bytes: Buffer, index: number): [code: number, length: number] | null {
  const lead = bytes[index]!;
  if (lead < 0x80) return [lead, 1];
  let length: number;
  let code: number;
  let smallest: number;
  if ((lead & 0xe0) === 0xc0) [length, code, smallest] = [2, lead & 0x1f, 0x80];
  else if ((lead & 0xf0) === 0xe0) [length, code, smallest] = [3, lead & 0x0f, 0x800];
  else if ((lead & 0xf8) === 0xf0) [length, code, smallest] = [4, lead & 0x07, 0x10000];
  else return null;
  if (index + length > bytes.length) return null;
  for (let offset = 1; offset < length; offset++) {
    const continuation = bytes[index + offset]!;
    if ((continuation & 0xc0) !== 0x80) return null;
    code = (code << 6) | (continuation & 0x3f);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  if (code < smallest || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return null;
  return [code, length];
}

function escapeControl(code: number): string {
  switch (code) {
    case 0x0d:
      return '\\r';
    case 0x0a:
      return '\\n';
    case 0x09:
      return '\\t';
    default:
      return `\\x${code.toString(16).padStart(2, '0')}`;
  }
}

type LabellerState =
  | { kind: 'head' }
  | { kind: 'body'; remaining: number; total: number }
  | { kind: 'until-close'; total: number }
  | { kind: 'chunk-size' }
  | { kind: 'chunk-data'; remaining: number; size: number }
  /** After a chunk's data: the line ending that must follow it, shown on the same line as the data. */
  | { kind: 'chunk-end'; dataText: string }
  | { kind: 'trailers' }
  | { kind: 'unparsed' };

export class WireLabeller {
  readonly #isRequest: boolean;
  readonly #bodyPreviewBytes: number;
  readonly #pendingMethods: string[] = [];
  #state: LabellerState = { kind: 'head' };
  /** Bytes of the current line (head, chunk-size, trailer) not labelled yet. */
  #held: Buffer = Buffer.alloc(0);
  /** The lines of the current head, for deciding its framing. */
  #headLines: Buffer[] = [];
  /** The first bytes of the current body, shown with its summary line. */
  #preview: Buffer[] = [];
  #previewLength = 0;

  /** `bodyPreviewBytes`: how many bytes of each body to show before summarizing the rest. */
  constructor(role: 'request' | 'response', bodyPreviewBytes = 0) {
    this.#isRequest = role === 'request';
    this.#bodyPreviewBytes = bodyPreviewBytes;
  }

  /** Response side: the method of a request sent on the connection (a response to HEAD has no body). */
  expectResponseTo(method: string): void {
    this.#pendingMethods.push(method);
  }

  /** Labels these bytes; returns the lines they completed. */
  push(bytes: Buffer): TraceLine[] {
    const lines: TraceLine[] = [];
    let rest = bytes;
    while (rest.length > 0) rest = this.#step(rest, lines);
    return lines;
  }

  /** The connection closed: whatever is held is shown, and a body delimited by the close ends. */
  finish(): TraceLine[] {
    const lines: TraceLine[] = [];
    const state = this.#state;
    if (state.kind === 'until-close') lines.push(this.#bodySummary('body', state.total, null));
    if (state.kind === 'body') lines.push(this.#bodySummary('body', state.total - state.remaining, state.total));
    if (state.kind === 'chunk-data') lines.push(this.#bodySummary('chunk-data', state.size - state.remaining, state.size));
    if (state.kind === 'chunk-end') lines.push({ element: 'chunk-data', text: state.dataText });
    if (this.#held.length > 0) lines.push({ element: 'unparsed', text: escapeBytes(this.#held) });
    this.#held = Buffer.alloc(0);
    this.#state = { kind: 'head' };
    return lines;
  }

  /** Consumes a prefix of `bytes`, appending finished lines; returns the rest. */
  #step(bytes: Buffer, lines: TraceLine[]): Buffer {
    const state = this.#state;
    switch (state.kind) {
      case 'head':
      case 'chunk-size':
      case 'chunk-end':
      case 'trailers':
        return this.#takeLine(bytes, lines);
      case 'body':
      case 'chunk-data': {
        const take = Math.min(bytes.length, state.remaining);
        this.#keepPreview(bytes.subarray(0, take));
        state.remaining -= take;
        if (state.kind === 'body' && state.remaining === 0) {
          lines.push(this.#bodySummary('body', state.total, state.total));
          this.#endMessage();
        } else if (state.kind === 'chunk-data' && state.remaining === 0) {
          this.#state = { kind: 'chunk-end', dataText: this.#bodySummary('chunk-data', state.size, state.size).text };
        }
        return bytes.subarray(take);
      }
      case 'until-close':
        this.#keepPreview(bytes);
        state.total += bytes.length;
        return Buffer.alloc(0);
      case 'unparsed':
        lines.push({ element: 'unparsed', text: escapeBytes(bytes) });
        return Buffer.alloc(0);
    }
  }

  #takeLine(bytes: Buffer, lines: TraceLine[]): Buffer {
    const lineFeed = bytes.indexOf(0x0a);
    if (lineFeed === -1) {
      this.#held = Buffer.concat([this.#held, bytes]);
      if (this.#held.length > MAX_HELD_LINE) {
        lines.push({ element: 'unparsed', text: escapeBytes(this.#held) });
        this.#held = Buffer.alloc(0);
        this.#state = { kind: 'unparsed' };
      }
      return Buffer.alloc(0);
    }
    const line = Buffer.concat([this.#held, bytes.subarray(0, lineFeed + 1)]);
    this.#held = Buffer.alloc(0);
    this.#labelLine(line, lines);
    return bytes.subarray(lineFeed + 1);
  }

  #labelLine(line: Buffer, lines: TraceLine[]): void {
    const text = escapeBytes(line);
    const isEmpty = line.length <= 2 && (line[0] === 0x0a || (line[0] === 0x0d && line[1] === 0x0a));
    switch (this.#state.kind) {
      case 'head': {
        if (isEmpty && this.#headLines.length === 0) {
          lines.push({ element: 'empty-line', text }); // a stray CRLF between messages
          return;
        }
        if (!isEmpty) {
          lines.push({ element: this.#headLines.length === 0 ? (this.#isRequest ? 'request-line' : 'status-line') : 'field-line', text });
          this.#headLines.push(line);
          return;
        }
        lines.push({ element: 'empty-line', text });
        this.#startBody(Buffer.concat([...this.#headLines, line]));
        this.#headLines = [];
        return;
      }
      case 'chunk-size': {
        const size = /^[0-9a-fA-F]+/.exec(line.toString('latin1'));
        if (size === null) {
          lines.push({ element: 'unparsed', text });
          this.#state = { kind: 'unparsed' };
        } else if (Number.parseInt(size[0], 16) === 0) {
          lines.push({ element: 'last-chunk', text });
          this.#state = { kind: 'trailers' };
        } else {
          lines.push({ element: 'chunk-size', text });
          const dataSize = Number.parseInt(size[0], 16);
          this.#state = { kind: 'chunk-data', remaining: dataSize, size: dataSize };
        }
        return;
      }
      case 'chunk-end': {
        // The data and the line ending after it are shown as one line; anything else where the
        // ending should be (data longer than its size, the classic encoder bug) is shown apart.
        const { dataText } = this.#state;
        if (isEmpty) {
          lines.push({ element: 'chunk-data', text: dataText + text });
          this.#state = { kind: 'chunk-size' };
        } else {
          lines.push({ element: 'chunk-data', text: dataText }, { element: 'unparsed', text });
          this.#state = { kind: 'unparsed' };
        }
        return;
      }
      case 'trailers':
        if (isEmpty) {
          lines.push({ element: 'empty-line', text });
          this.#endMessage();
        } else {
          lines.push({ element: 'trailer-field', text });
        }
        return;
      default:
        lines.push({ element: 'unparsed', text });
    }
  }

  #startBody(head: Buffer): void {
    let framing: BodyFraming;
    try {
      if (this.#isRequest) {
        const parsed = parseRequestHead(head, 0, head.length, TRACE_LIMITS);
        framing = decideRequestBodyLength(parsed.version, parsed.fields);
      } else {
        const parsed = parseResponseHead(head, 0, head.length, TRACE_LIMITS);
        const method =
          parsed.status >= 200 || parsed.status === 101 ? (this.#pendingMethods.shift() ?? 'GET') : (this.#pendingMethods[0] ?? 'GET');
        framing = decideResponseBodyLength(method, parsed.status, parsed.version, parsed.fields).framing;
      }
    } catch (error) {
      if (!(error instanceof HttpProtocolError)) throw error;
      this.#state = { kind: 'unparsed' }; // a head the peer got wrong: show the rest as it comes
      return;
    }
    switch (framing.kind) {
      case 'none':
        this.#endMessage();
        return;
      case 'length':
        this.#state = { kind: 'body', remaining: framing.length, total: framing.length };
        return;
      case 'chunked':
        this.#state = { kind: 'chunk-size' };
        return;
      case 'until-close':
        this.#state = { kind: 'until-close', total: 0 };
        return;
    }
  }

  #endMessage(): void {
    this.#state = { kind: 'head' };
  }

  #keepPreview(bytes: Buffer): void {
    if (this.#previewLength >= this.#bodyPreviewBytes) return;
    const piece = bytes.subarray(0, this.#bodyPreviewBytes - this.#previewLength);
    this.#preview.push(piece);
    this.#previewLength += piece.length;
  }

  /**
   * The bytes of a body (or of one chunk's data) when they all fit in the preview; otherwise the
   * preview and a summary: "… 4,500 bytes of body …", or "… 3 of 4,500 bytes …" when the
   * connection ended early. `announced` is null for a body delimited by the close.
   */
  #bodySummary(element: 'body' | 'chunk-data', received: number, announced: number | null): TraceLine {
    const preview = Buffer.concat(this.#preview);
    this.#preview = [];
    this.#previewLength = 0;
    if (preview.length >= received && received === (announced ?? received))
      return { element, text: escapeBytes(preview.subarray(0, received)) };
    const count =
      announced === null || announced === received
        ? received.toLocaleString('en-US')
        : `${received.toLocaleString('en-US')} of ${announced.toLocaleString('en-US')}`;
    const noun = element === 'body' ? 'body' : 'chunk data';
    return { element, text: `${preview.length > 0 ? escapeBytes(preview.subarray(0, received)) : ''}… ${count} bytes of ${noun} …` };
  }
}
