/**
 * Reading a server's answer for `sockhttp check`, as it arrives.
 *
 * Theory of operation. An AnswerReader is told the methods of the requests that were sent, then
 * fed each chunk of the answer once, as it comes (`push`); a ResponseReader turns the bytes into
 * responses incrementally, so no byte is parsed twice however the answer is cut. Once every request
 * has its complete response — or the answer turned out to be malformed — later bytes are not
 * parsed, only counted as surplus. `finish` says whether the server closed, and gives the result.
 *
 * Memory is bounded whatever the server sends: the reader holds at most a head or a chunk line
 * (limited by DEFAULT_RESPONSE_LIMITS) plus the bytes of the current chunk, and only the first
 * MAX_KEPT_BODY_BYTES of the bodies are kept; the rest is counted (`bodyLength`), so a large page
 * is judged like a small one. Time is the caller's business (every exchange has a deadline).
 */
import { HttpProtocolError } from '../core/errors.js';
import type { Fields } from '../core/fields.js';
import { DEFAULT_RESPONSE_LIMITS } from '../core/limits.js';
import { ResponseReader } from '../core/message-reader.js';

/** How many body bytes one answer keeps, all its responses together (the probes look only at the start of a body). */
export const MAX_KEPT_BODY_BYTES = 1024 * 1024;

export interface ParsedResponse {
  version: string;
  status: number;
  reason: string;
  fields: Fields;
  /** The first bytes of the body (at most MAX_KEPT_BODY_BYTES for the whole answer). */
  body: Buffer;
  /** How many body bytes arrived, kept or not. */
  bodyLength: number;
  /** The whole message arrived (its framing says so). */
  complete: boolean;
}

export interface ParsedAnswer {
  responses: ParsedResponse[];
  /** The bytes could not be read as responses; why. */
  error: HttpProtocolError | null;
  /** Bytes left over after the last complete response (0 after a malformed one). */
  extraBytes: number;
}

export class AnswerReader {
  readonly #methods: string[];
  /** Lenient like a browser: a lone LF is accepted here (a probe of its own checks line endings). */
  readonly #reader = new ResponseReader({ ...DEFAULT_RESPONSE_LIMITS, allowBareLineFeed: true });
  readonly #responses: ParsedResponse[] = [];
  /** The response being read, and the kept part of its body (copies, so no received chunk is held). */
  #current: ParsedResponse | null = null;
  #bodyPieces: Buffer[] = [];
  #keptBodyBytes = 0;
  /** Every request has its complete response: nothing more is parsed. */
  #isComplete = false;
  #error: HttpProtocolError | null = null;
  /** Bytes pushed after the answer was complete or malformed, counted and dropped. */
  #surplusBytes = 0;

  constructor(methods: string[]) {
    this.#methods = methods;
    for (const method of methods) this.#reader.expectResponseTo(method);
  }

  /** Every request sent has its complete response. */
  get isComplete(): boolean {
    return this.#isComplete;
  }

  get completeResponses(): number {
    return this.#responses.length;
  }

  /** Bytes that no expected response accounts for: past the last one, or past a malformed answer. */
  get surplusBytes(): number {
    if (this.#error !== null) return this.#surplusBytes;
    return this.#isComplete ? this.#surplusBytes + this.#reader.bufferedBytes : 0;
  }

  /** Feeds the bytes that just arrived (each byte once). */
  push(bytes: Buffer): void {
    if (this.#isComplete || this.#error !== null) {
      this.#surplusBytes += bytes.length;
      return;
    }
    this.#reader.push(bytes);
    this.#read();
  }

  /** The answer as it stands; `closed`: the server closed the connection after these bytes. */
  finish(closed: boolean): ParsedAnswer {
    if (closed && !this.#isComplete && this.#error === null) {
      this.#reader.peerClosed();
      this.#read();
    }
    const responses = [...this.#responses];
    if (this.#current !== null) responses.push({ ...this.#current, body: Buffer.concat(this.#bodyPieces) });
    // Bytes not read as part of a response (an incomplete head counts too), as a client would see them.
    return { responses, error: this.#error, extraBytes: this.#error === null ? this.#surplusBytes + this.#reader.bufferedBytes : 0 };
  }

  #read(): void {
    try {
      for (;;) {
        const event = this.#reader.next();
        if (event.type === 'need-more' || event.type === 'closed' || event.type === 'paused') return;
        if (event.type === 'head') {
          const { version, status, reason, fields } = event.head;
          this.#current = { version, status, reason, fields, body: Buffer.alloc(0), bodyLength: 0, complete: false };
          this.#bodyPieces = [];
        } else if (event.type === 'body' && this.#current !== null) {
          this.#current.bodyLength += event.data.length;
          const room = MAX_KEPT_BODY_BYTES - this.#keptBodyBytes;
          if (room > 0) {
            const kept = Buffer.from(event.data.subarray(0, room));
            this.#bodyPieces.push(kept);
            this.#keptBodyBytes += kept.length;
          }
        } else if (event.type === 'end' && this.#current !== null) {
          const response = { ...this.#current, body: Buffer.concat(this.#bodyPieces), complete: true };
          this.#current = null;
          this.#bodyPieces = [];
          // Interim (1xx) responses come before the final one and answer nothing by themselves.
          if (response.status >= 200) this.#responses.push(response);
          if (this.#responses.length === this.#methods.length) {
            this.#isComplete = true;
            return;
          }
        }
      }
    } catch (error) {
      if (!(error instanceof HttpProtocolError)) throw error;
      this.#error = error;
    }
  }
}

/** Reads `bytes` as the responses to requests with `methods` in one go; `closed`: the server closed after them. */
export function parseAnswer(bytes: Buffer, methods: string[], closed: boolean): ParsedAnswer {
  const reader = new AnswerReader(methods);
  reader.push(bytes);
  return reader.finish(closed);
}
