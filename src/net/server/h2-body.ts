/**
 * The bodies of HTTP/2 responses as sources of DATA: the h2 driver asks each one for at most as many
 * bytes as flow control and its turn allow, so that many streams share a connection fairly.
 *
 * Memory: a source holds at most one read of a file (FILE_READ_BYTES, of which everything beyond
 * FILE_READ_FLOOR_BYTES comes from the shared FileDataBudget) or STREAM_QUEUE_BYTES of a stream's
 * output (the stream is paused beyond it). Ownership: the descriptor or the stream is released
 * exactly once, by `release()`, whatever ends the response (the last byte, RST_STREAM, a lost
 * connection, a timeout).
 */
import { close as closeFd, read } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FilePiece } from '../../core/response-plan.js';
import type { FileDataBudget } from './file-data-budget.js';

const FILE_READ_BYTES = 64 * 1024;
const FILE_READ_FLOOR_BYTES = 16 * 1024;
const STREAM_QUEUE_BYTES = 64 * 1024;

export interface DataSource {
  /** Up to `max` bytes ready now (an empty Buffer when none is ready yet). */
  take(max: number): Buffer;
  /** Every byte has been taken. */
  readonly done: boolean;
  /** Bytes ready to take now. */
  readonly readyBytes: number;
  /** Lets go of the file or stream; safe to call more than once. */
  release(): void;
}

export class BytesSource implements DataSource {
  #bytes: Buffer;
  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }
  take(max: number): Buffer {
    const piece = this.#bytes.subarray(0, max);
    this.#bytes = this.#bytes.subarray(piece.length);
    return piece;
  }
  get done(): boolean {
    return this.#bytes.length === 0;
  }
  get readyBytes(): number {
    return this.#bytes.length;
  }
  release(): void {}
}

/**
 * Pieces of an open file, read one buffer at a time, the next read starting when the previous
 * buffer has been taken. A file that turns out shorter than planned fails the source (`onError`):
 * the stream is reset rather than ended as if complete.
 */
export class FileSource implements DataSource {
  readonly #fd: number;
  readonly #pieces: FilePiece[];
  readonly #budget: FileDataBudget;
  readonly #onReady: () => void;
  readonly #onError: () => void;
  #pieceIndex = 0;
  /** Position in the current region piece (bytes of it already read). */
  #pieceOffset = 0;
  #current: Buffer = Buffer.alloc(0);
  #currentBudget = 0;
  #reading = false;
  #released = false;

  constructor(fd: number, pieces: FilePiece[], budget: FileDataBudget, onReady: () => void, onError: () => void) {
    this.#fd = fd;
    this.#pieces = pieces;
    this.#budget = budget;
    this.#onReady = onReady;
    this.#onError = onError;
    this.#fill();
  }

  get done(): boolean {
    return this.#current.length === 0 && this.#pieceIndex >= this.#pieces.length && !this.#reading;
  }

  get readyBytes(): number {
    return this.#current.length;
  }

  take(max: number): Buffer {
    const piece = this.#current.subarray(0, max);
    this.#current = this.#current.subarray(piece.length);
    if (this.#current.length === 0) {
      this.#budget.give(this.#currentBudget);
      this.#currentBudget = 0;
      this.#fill();
    }
    return piece;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#budget.give(this.#currentBudget);
    this.#currentBudget = 0;
    this.#current = Buffer.alloc(0);
    // A read in flight finishes first; its callback sees #released and closes nothing more.
    closeFd(this.#fd, () => {});
  }

  #fill(): void {
    if (this.#reading || this.#released) return;
    // Literal pieces (multipart heads) are ready at once.
    for (;;) {
      const piece = this.#pieces[this.#pieceIndex];
      if (piece === undefined) return;
      if (Buffer.isBuffer(piece)) {
        this.#pieceIndex++;
        if (piece.length === 0) continue;
        this.#current = piece;
        return;
      }
      if (this.#pieceOffset >= piece.length) {
        this.#pieceIndex++;
        this.#pieceOffset = 0;
        continue;
      }
      const wanted = Math.min(FILE_READ_BYTES, piece.length - this.#pieceOffset);
      const granted = wanted > FILE_READ_FLOOR_BYTES ? this.#budget.take(wanted - FILE_READ_FLOOR_BYTES) : 0;
      const buffer = Buffer.allocUnsafe(Math.min(wanted, FILE_READ_FLOOR_BYTES + granted));
      this.#reading = true;
      read(this.#fd, buffer, 0, buffer.length, piece.start + this.#pieceOffset, (error, bytesRead) => {
        this.#reading = false;
        if (this.#released) {
          this.#budget.give(granted);
          return;
        }
        if (error !== null || bytesRead === 0) {
          this.#budget.give(granted);
          this.#onError();
          return;
        }
        this.#pieceOffset += bytesRead;
        this.#current = buffer.subarray(0, bytesRead);
        this.#currentBudget = granted;
        this.#onReady();
      });
      return;
    }
  }
}

/** A body of unknown length: the stream's output, paused while more than STREAM_QUEUE_BYTES wait. */
export class StreamSource implements DataSource {
  readonly #stream: Readable;
  readonly #queue: Buffer[] = [];
  #queuedBytes = 0;
  #ended = false;
  #released = false;

  constructor(stream: Readable, onReady: () => void, onError: () => void) {
    this.#stream = stream;
    stream.on('data', (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (bytes.length === 0) return;
      this.#queue.push(bytes);
      this.#queuedBytes += bytes.length;
      if (this.#queuedBytes > STREAM_QUEUE_BYTES) stream.pause();
      onReady();
    });
    stream.once('end', () => {
      this.#ended = true;
      onReady();
    });
    stream.once('error', () => onError());
  }

  get done(): boolean {
    return this.#ended && this.#queuedBytes === 0;
  }

  get readyBytes(): number {
    return this.#queuedBytes;
  }

  take(max: number): Buffer {
    const parts: Buffer[] = [];
    let length = 0;
    while (length < max && this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const piece = head.subarray(0, max - length);
      parts.push(piece);
      length += piece.length;
      if (piece.length === head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(piece.length);
    }
    this.#queuedBytes -= length;
    if (this.#queuedBytes <= STREAM_QUEUE_BYTES / 4 && this.#stream.isPaused() && !this.#released) this.#stream.resume();
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    if (!this.#ended) this.#stream.destroy();
  }
}
