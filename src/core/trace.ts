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

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes as readable text: printable ASCII as is; CR, LF, TAB and backslash as \r \n \t \\; valid
 * UTF-8 letters as themselves; control characters, bidirectional overrides and invalid UTF-8 as
 * escapes, so a peer cannot move the cursor, recolour the terminal or disguise text.
 */
export function escapeBytes(bytes: Buffer): string {
  let decoded: string | null;
  try {
    decoded = utf8.decode(bytes);
  } catch {
    decoded = null;
  }
  if (decoded === null) {
    let text = '';
    for (const byte of bytes) text += byte >= 0x20 && byte < 0x7f ? escapeAscii(String.fromCharCode(byte)) : escapeControl(byte);
    return text;
  }
  let text = '';
  for (const character of decoded) {
    const code = character.codePointAt(0)!;
    if (code < 0x20 || code === 0x7f) text += escapeControl(code);
    else if ((code >= 0x80 && code < 0xa0) || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069) || code === 0x200e || code === 0x200f) {
      text += `\\u{${code.toString(16)}}`;
    } else text += escapeAscii(character);
  }
  return text;
}

function escapeAscii(character: string): string {
  return character === '\\' ? '\\\\' : character;
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
    if (this.#held.length > 0) lines.push({ element: 'unparsed', text: escapeBytes(this.#held) });
    this.#held = Buffer.alloc(0);
    if (this.#state.kind === 'until-close' || this.#state.kind === 'body') lines.push(this.#bodySummary(this.#state.total, 'body'));
    this.#state = { kind: 'head' };
    return lines;
  }

  /** Consumes a prefix of `bytes`, appending finished lines; returns the rest. */
  #step(bytes: Buffer, lines: TraceLine[]): Buffer {
    const state = this.#state;
    switch (state.kind) {
      case 'head':
      case 'chunk-size':
      case 'trailers':
        return this.#takeLine(bytes, lines);
      case 'body':
      case 'chunk-data': {
        const take = Math.min(bytes.length, state.remaining);
        this.#keepPreview(bytes.subarray(0, take));
        state.remaining -= take;
        if (state.kind === 'body' && state.remaining === 0) {
          lines.push(this.#bodySummary(state.total, 'body'));
          this.#endMessage();
        } else if (state.kind === 'chunk-data' && state.remaining === 0) {
          lines.push(this.#bodySummary(state.size - 2, 'chunk-data', true));
          this.#state = { kind: 'chunk-size' };
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
          // The data and the CRLF after it are shown as one line.
          const dataSize = Number.parseInt(size[0], 16) + 2;
          this.#state = { kind: 'chunk-data', remaining: dataSize, size: dataSize };
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
        const method = parsed.status >= 200 || parsed.status === 101 ? (this.#pendingMethods.shift() ?? 'GET') : (this.#pendingMethods[0] ?? 'GET');
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

  /** "<first bytes>… 4,500 bytes of body …", or the whole of it when it fits in the preview. */
  #bodySummary(size: number, element: 'body' | 'chunk-data', endsWithCrlf = false): TraceLine {
    const preview = Buffer.concat(this.#preview);
    this.#preview = [];
    this.#previewLength = 0;
    const fullSize = endsWithCrlf ? size + 2 : size;
    if (preview.length >= fullSize) return { element, text: escapeBytes(preview.subarray(0, fullSize)) };
    const noun = element === 'body' ? 'body' : 'chunk data';
    const shown = preview.length > 0 ? escapeBytes(preview) : '';
    return { element, text: `${shown}… ${size.toLocaleString('en-US')} bytes of ${noun} …${endsWithCrlf ? '\\r\\n' : ''}` };
  }
}
