/**
 * The bodies of HTTP/2 responses as sources of DATA: the h2 driver asks each one for at most as many
 * bytes as flow control and its turn allow, so that many streams share a connection fairly.
 *
 * Memory: a source holds at most two reads of a file (one being framed, one read ahead; see
 * file-read-ahead.ts for what comes from the shared FileDataBudget) or STREAM_QUEUE_BYTES of a stream's
 * output (the stream is paused beyond it). Ownership: the descriptor or the stream is released
 * exactly once, by `release()`, whatever ends the response (the last byte, RST_STREAM, a lost
 * connection, a timeout).
 */
import type { Readable } from 'node:stream';
import type { FilePiece } from '../../core/response-plan.js';
import type { FileDataBudget } from './file-data-budget.js';
import { FileReadAhead, type ReadChunk } from './file-read-ahead.js';

/** One chunk being framed and one read ahead. */
const FILE_READ_BUFFERS = 2;
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
 * Pieces of an open file, read ahead (file-read-ahead.ts): the next buffer is read while the driver
 * frames the previous one. A file that turns out shorter than planned fails the source (`onError`):
 * the stream is reset rather than ended as if complete.
 */
export class FileSource implements DataSource {
  readonly #reader: FileReadAhead;
  /** The chunk being taken from, and what is left of it. */
  #current: ReadChunk | null = null;
  #rest: Buffer = Buffer.alloc(0);

  constructor(fd: number, pieces: FilePiece[], budget: FileDataBudget, onReady: () => void, onError: () => void) {
    // The driver's frames refer to the bytes taken until the socket has written them, so buffers
    // are not reused; a chunk's budget goes back once it has been framed whole.
    this.#reader = new FileReadAhead(fd, pieces, budget, { maxBuffers: FILE_READ_BUFFERS, reuseBuffers: false }, onReady, onError);
  }

  get done(): boolean {
    return this.#rest.length === 0 && this.#reader.done;
  }

  get readyBytes(): number {
    return this.#rest.length + this.#reader.readyBytes;
  }

  /** Up to `max` bytes of one chunk: a frame never spans two reads. */
  take(max: number): Buffer {
    if (this.#rest.length === 0) {
      const chunk = this.#reader.shift();
      if (chunk === undefined) return Buffer.alloc(0);
      this.#current = chunk;
      this.#rest = chunk.bytes;
    }
    const piece = this.#rest.subarray(0, max);
    this.#rest = this.#rest.subarray(piece.length);
    if (this.#rest.length === 0 && this.#current !== null) {
      this.#reader.finished(this.#current);
      this.#current = null;
      this.#reader.readAhead();
    }
    return piece;
  }

  release(): void {
    this.#current = null;
    this.#rest = Buffer.alloc(0);
    this.#reader.abandon();
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
