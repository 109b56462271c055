/**
 * Message body decoders (RFC 9112 §6-§7). Each one is fed the reader's buffer and an offset, and
 * answers with one step: some body data (a view into the buffer, never a copy), "need more bytes",
 * or "the body is complete". `consumed` says how many bytes from the offset the step used.
 */
import { CR, FIELD_VALUE_CHAR, HEX_VALUE, HTAB, LF, SP } from './chars.js';
import { peerError } from './errors.js';
import type { Fields } from './fields.js';
import { parseFieldLines } from './head-parser.js';
import type { Limits } from './limits.js';

export type DecodeStep =
  | { kind: 'data'; data: Buffer; consumed: number }
  | { kind: 'need-more'; consumed: number }
  | { kind: 'end'; consumed: number; trailers: Fields | null };

export interface BodyDecoder {
  decode(buffer: Buffer, offset: number): DecodeStep;
  /** Called when the peer closes: true if that ends the body cleanly. */
  endsAtClose(): boolean;
}

const NEED_MORE: DecodeStep = Object.freeze({ kind: 'need-more', consumed: 0 });

const END_OF_LENGTH: DecodeStep = Object.freeze({ kind: 'end', consumed: 0, trailers: null });

export class LengthDecoder implements BodyDecoder {
  #remaining: number;

  constructor(length: number) {
    this.#remaining = length;
  }

  decode(buffer: Buffer, offset: number): DecodeStep {
    if (this.#remaining === 0) return END_OF_LENGTH;
    const take = Math.min(buffer.length - offset, this.#remaining);
    if (take === 0) return NEED_MORE;
    this.#remaining -= take;
    return { kind: 'data', data: buffer.subarray(offset, offset + take), consumed: take };
  }

  endsAtClose(): boolean {
    return this.#remaining === 0;
  }
}

/** A response body delimited by the server closing the connection (RFC 9112 §6.3 ¶8). */
export class UntilCloseDecoder implements BodyDecoder {
  decode(buffer: Buffer, offset: number): DecodeStep {
    if (offset >= buffer.length) return NEED_MORE;
    return { kind: 'data', data: buffer.subarray(offset), consumed: buffer.length - offset };
  }

  endsAtClose(): boolean {
    return true;
  }
}

/**
 * The chunked transfer coding (RFC 9112 §7.1):
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 * States: 'size' reads a chunk-size line; 'data' passes chunk-data through; 'data-end' expects the
 * CRLF after the data; 'trailers' reads the trailer section up to its empty line; 'done'.
 *
 * In 'trailers', nothing is consumed until the whole section has arrived, so every call starts at
 * the section's first byte (in whatever buffer the reader holds by then). The search for the empty
 * line resumes where the previous call stopped, as picohttpparser does for heads: a section that
 * trickles in a byte at a time costs linear work, not quadratic.
 */
export class ChunkedDecoder implements BodyDecoder {
  #state: 'size' | 'data' | 'data-end' | 'trailers' | 'done' = 'size';
  #remainingInChunk = 0;
  /**
   * The trailer scan's progress, counted from the start of the section: the first line not yet
   * complete starts at #trailerLineStart, and its bytes before #trailerScanned hold no LF.
   *   section start ... [complete lines] #trailerLineStart ... (no LF) ... #trailerScanned ... end of buffer
   */
  #trailerLineStart = 0;
  #trailerScanned = 0;
  readonly #limits: Limits;

  constructor(limits: Limits) {
    this.#limits = limits;
  }

  decode(buffer: Buffer, offset: number): DecodeStep {
    let position = offset;
    for (;;) {
      switch (this.#state) {
        case 'size': {
          const lineEnd = this.#findLineEnd(buffer, position, this.#limits.maxChunkLineBytes, 'chunk-line-too-long');
          if (lineEnd === -1) return { kind: 'need-more', consumed: position - offset };
          const size = this.#readChunkSize(buffer, position, lineEnd);
          position = buffer.indexOf(LF, lineEnd) + 1;
          if (size === 0) {
            this.#state = 'trailers';
            this.#trailerLineStart = 0;
            this.#trailerScanned = 0;
          } else {
            this.#remainingInChunk = size;
            this.#state = 'data';
          }
          break;
        }
        case 'data': {
          const take = Math.min(buffer.length - position, this.#remainingInChunk);
          if (take === 0) return { kind: 'need-more', consumed: position - offset };
          this.#remainingInChunk -= take;
          if (this.#remainingInChunk === 0) this.#state = 'data-end';
          return { kind: 'data', data: buffer.subarray(position, position + take), consumed: position + take - offset };
        }
        case 'data-end': {
          const lineEnd = this.#findLineEnd(buffer, position, 2, 'bad-chunk-end');
          if (lineEnd === -1) return { kind: 'need-more', consumed: position - offset };
          if (lineEnd !== position) throw peerError('bad-chunk-end', 'Chunk data is longer than its chunk size');
          position = buffer.indexOf(LF, lineEnd) + 1;
          this.#state = 'size';
          break;
        }
        case 'trailers': {
          const sectionEnd = this.#findTrailerSectionEnd(buffer, position);
          if (sectionEnd === -1) return { kind: 'need-more', consumed: position - offset };
          const trailers = sectionEnd - position > 2 ? parseFieldLines(buffer, position, sectionEnd, this.#limits, 400) : null;
          this.#state = 'done';
          return { kind: 'end', consumed: sectionEnd - offset, trailers: trailers && trailers.size > 0 ? trailers : null };
        }
        case 'done':
          return { kind: 'end', consumed: position - offset, trailers: null };
      }
    }
  }

  endsAtClose(): boolean {
    return this.#state === 'done';
  }

  /**
   * The end of the line content starting at `from` (the index of its CR, or of a lone LF when
   * allowed), or -1 when the line is not complete yet. A line longer than `maxBytes` is an error.
   * The search for its LF starts at `searchFrom`: the caller knows there is none before it.
   */
  #findLineEnd(buffer: Buffer, from: number, maxBytes: number, code: 'chunk-line-too-long' | 'bad-chunk-end', searchFrom = from): number {
    const lineFeed = buffer.indexOf(LF, searchFrom);
    if (lineFeed === -1 || lineFeed - from > maxBytes) {
      if (buffer.length - from > maxBytes) {
        throw peerError(code, code === 'bad-chunk-end' ? 'Chunk data is longer than its chunk size' : 'A chunk-size line is too long');
      }
      return -1;
    }
    if (lineFeed > from && buffer[lineFeed - 1] === CR) return lineFeed - 1;
    if (this.#limits.allowBareLineFeed) return lineFeed;
    throw peerError('bad-line-ending', 'A line of the chunked body ends with LF alone; HTTP lines end with CRLF');
  }

  /** chunk-size = 1*HEXDIG, then optional chunk extensions, which we check for controls and ignore. */
  #readChunkSize(buffer: Buffer, from: number, to: number): number {
    let size = 0;
    let position = from;
    while (position < to && HEX_VALUE[buffer[position]!]! >= 0) {
      size = size * 16 + HEX_VALUE[buffer[position]!]!;
      // Past 2^53 the arithmetic stops being exact; no real chunk is that large (RFC 9112 §7.1 asks
      // recipients to guard against overflow).
      if (size > Number.MAX_SAFE_INTEGER) throw peerError('chunk-size-too-large', 'A chunk size is too large');
      position++;
    }
    if (position === from) throw peerError('bad-chunk-size', 'A chunk size is not a hexadecimal number');
    if (position === to) return size;
    // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
    while (position < to && (buffer[position] === SP || buffer[position] === HTAB)) position++;
    if (buffer[position] !== 0x3b) throw peerError('bad-chunk-size', 'A chunk size is followed by something other than an extension');
    for (; position < to; position++) {
      if (FIELD_VALUE_CHAR[buffer[position]!] === 0) throw peerError('bad-chunk-extension', 'A chunk extension has control characters');
    }
    return size;
  }

  /**
   * The index just past the empty line that ends the trailer section starting at `from`, or -1,
   * having remembered how far the search got.
   */
  #findTrailerSectionEnd(buffer: Buffer, from: number): number {
    let lineStart = from + this.#trailerLineStart;
    let searchFrom = from + this.#trailerScanned;
    for (;;) {
      const lineEnd = this.#findLineEnd(buffer, lineStart, this.#limits.maxTrailerBytes, 'chunk-line-too-long', searchFrom);
      if (lineEnd === -1) {
        if (buffer.length - from > this.#limits.maxTrailerBytes) throw peerError('head-too-large', 'The trailer section is too large', 431);
        this.#trailerLineStart = lineStart - from;
        this.#trailerScanned = buffer.length - from;
        return -1;
      }
      const next = buffer.indexOf(LF, lineEnd) + 1;
      if (lineEnd === lineStart) return next;
      if (next - from > this.#limits.maxTrailerBytes) throw peerError('head-too-large', 'The trailer section is too large', 431);
      lineStart = next;
      searchFrom = next;
    }
  }
}
