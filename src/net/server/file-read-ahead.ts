/**
 * A file body read ahead of the socket, within the shared budget of file data in flight: the next
 * chunk is read from the disk while the previous one is being sent, so neither the socket nor the
 * disk waits for the other. HTTP/1.1 (body-sender.ts) and HTTP/2 (h2-body.ts) both take their file
 * bodies from here, as an ordered queue of ready chunks.
 *
 * Memory: a reader holds at most `maxBuffers` buffers of at most `chunkBytes` (ready, being read,
 * handed out and not yet finished, or kept for reuse). The first buffer may always hold
 * FILE_READ_FLOOR_BYTES whatever the budget says, so a reader is never starved; everything beyond
 * that floor, and every buffer read ahead, comes from the FileDataBudget. A spent budget therefore
 * turns read-ahead off: each reader then moves on with its floor, one chunk at a time, at the pace
 * its client reads. The total stays within the budget plus one floor per reader.
 *
 * Ownership: budget is held from the read until the consumer calls finished() (HTTP/1.1: when the
 * socket has taken the bytes; HTTP/2: when the driver has framed them); abandon() gives back
 * everything at once, for a connection whose write callbacks may never come.
 */
import { close as closeFd, read } from 'node:fs';
import type { FilePiece } from '../../core/response-plan.js';
import type { FileDataBudget } from './file-data-budget.js';

/**
 * Bytes per read, measured on the bench's 1 GiB download over loopback (server CPU per GiB, HTTP/1.1,
 * medians of 5 interleaved runs on a busy 2-core machine): 64 KiB 0.58-0.65 s, 256 KiB 0.47-0.50 s,
 * 1 MiB 0.48-0.52 s. Fewer reads mean fewer hand-offs to the thread pool; past a few hundred KiB the
 * copies fit the caches less well and a slow reader holds more.
 */
export const FILE_READ_BYTES = 256 * 1024;
/** What a reader may always hold, budget or not: it can never be starved. */
export const FILE_READ_FLOOR_BYTES = 16 * 1024;
/** A read ahead smaller than this is not worth a trip to the thread pool: wait for a buffer instead. */
const MIN_READ_AHEAD_BYTES = 16 * 1024;

/** Bytes of the body, in order: a read from the file, or a literal piece (a multipart head). */
export interface ReadChunk {
  readonly bytes: Buffer;
  /** The whole buffer the bytes were read into, for reuse; null for a literal piece. */
  readonly buffer: Buffer | null;
  /** Budget bytes this chunk holds until it is finished. */
  readonly share: number;
}

export interface ReadAheadOptions {
  chunkBytes?: number;
  /** Buffers out at once: 2 is one being sent and one read ahead. */
  maxBuffers: number;
  /** Finished buffers may be read into again (the consumer no longer references them). */
  reuseBuffers: boolean;
}

export class FileReadAhead {
  readonly #fd: number;
  readonly #pieces: FilePiece[];
  readonly #budget: FileDataBudget;
  readonly #chunkBytes: number;
  readonly #maxBuffers: number;
  readonly #reuseBuffers: boolean;
  readonly #onReady: () => void;
  readonly #onError: () => void;
  #pieceIndex = 0;
  /** Bytes of the current file region already read. */
  #pieceOffset = 0;
  readonly #ready: ReadChunk[] = [];
  #readyBytes = 0;
  /** Finished buffers kept for reuse, each still holding its share. */
  readonly #spare: ReadChunk[] = [];
  /** Buffers allocated and not dropped: ready, being read, handed out, or spare. */
  #buffersOut = 0;
  /** Budget bytes held by this reader, whoever holds the buffers; all of it goes back on abandon(). */
  #budgetHeld = 0;
  #isReading = false;
  #isFailed = false;
  #isReleased = false;
  #isAbandoned = false;

  constructor(
    fd: number,
    pieces: FilePiece[],
    budget: FileDataBudget,
    options: ReadAheadOptions,
    onReady: () => void,
    onError: () => void,
  ) {
    this.#fd = fd;
    this.#pieces = pieces;
    this.#budget = budget;
    this.#chunkBytes = options.chunkBytes ?? FILE_READ_BYTES;
    this.#maxBuffers = options.maxBuffers;
    this.#reuseBuffers = options.reuseBuffers;
    this.#onReady = onReady;
    this.#onError = onError;
    this.#fill();
  }

  /** Bytes ready to hand out now. */
  get readyBytes(): number {
    return this.#readyBytes;
  }

  /** Every chunk has been handed out. */
  get done(): boolean {
    return this.#ready.length === 0 && this.#pieceIndex >= this.#pieces.length && !this.#isReading;
  }

  /** A read failed or the file was shorter than planned: the body cannot be completed. */
  get failed(): boolean {
    return this.#isFailed;
  }

  /** Released, and every buffer is back: nothing of the budget is held any more. */
  get settled(): boolean {
    return this.#isAbandoned || (this.#isReleased && this.#buffersOut === 0);
  }

  /** The first ready chunk, still queued. */
  peek(): ReadChunk | undefined {
    return this.#ready[0];
  }

  /** Hands out the first ready chunk; the caller gives it back with finished(). */
  shift(): ReadChunk | undefined {
    const chunk = this.#ready.shift();
    if (chunk !== undefined) this.#readyBytes -= chunk.bytes.length;
    return chunk;
  }

  /**
   * The consumer is done with a chunk: its buffer may be read into again, or its share given back.
   * The next read starts at readAhead(), which the consumer calls when it suits it.
   */
  finished(chunk: ReadChunk): void {
    if (chunk.buffer === null || this.#isAbandoned) return;
    // A buffer coming back while the budget is spent is dropped, so that other readers get a turn.
    if (this.#reuseBuffers && !this.#isReleased && (chunk.share === 0 || this.#budget.inUse < this.#budget.capacity)) {
      this.#spare.push(chunk);
    } else {
      this.#drop(chunk);
    }
  }

  /**
   * Starts the next read if a buffer is free. HTTP/1.1 calls it after handing the socket its next
   * chunk rather than when a buffer comes back, so that a thread of the pool woken for the read
   * cannot delay that write on a busy core (the order the sender had before read-ahead; no
   * difference measured beyond the noise of a shared machine).
   */
  readAhead(): void {
    this.#fill();
  }

  /** Stops reading and closes the file; chunks handed out still give back their share when finished. Safe to call more than once. */
  release(): void {
    if (this.#isReleased) return;
    this.#isReleased = true;
    for (const chunk of this.#ready) if (chunk.buffer !== null) this.#drop(chunk);
    for (const chunk of this.#spare) this.#drop(chunk);
    this.#ready.length = 0;
    this.#readyBytes = 0;
    this.#spare.length = 0;
    // A read in flight finishes first; its callback sees #isReleased and gives its share back.
    closeFd(this.#fd, () => {});
  }

  /** release(), and every budget byte still held goes back now: for a connection whose write callbacks may never come. */
  abandon(): void {
    this.release();
    if (this.#isAbandoned) return;
    this.#isAbandoned = true;
    this.#budget.give(this.#budgetHeld);
    this.#budgetHeld = 0;
  }

  #drop(chunk: ReadChunk): void {
    this.#buffersOut--;
    this.#giveBack(chunk.share);
  }

  #giveBack(bytes: number): void {
    if (bytes === 0 || this.#isAbandoned) return;
    this.#budgetHeld -= bytes;
    this.#budget.give(bytes);
  }

  /** Starts the next read if there is room; literal pieces reached on the way are queued at once. */
  #fill(): void {
    if (this.#isReading || this.#isReleased || this.#isFailed) return;
    for (;;) {
      const piece = this.#pieces[this.#pieceIndex];
      if (piece === undefined) return;
      if (Buffer.isBuffer(piece)) {
        this.#pieceIndex++;
        if (piece.length > 0) this.#enqueue({ bytes: piece, buffer: null, share: 0 });
        continue;
      }
      if (this.#pieceOffset >= piece.length) {
        this.#pieceIndex++;
        this.#pieceOffset = 0;
        continue;
      }
      const target = this.#bufferFor(piece.length - this.#pieceOffset);
      if (target === null) return;
      this.#readInto(target, piece.start + this.#pieceOffset, Math.min(target.buffer!.length, piece.length - this.#pieceOffset));
      return;
    }
  }

  /** A spare buffer, or a new one within maxBuffers and the budget; null when reading must wait for a finished chunk. */
  #bufferFor(remaining: number): ReadChunk | null {
    const spare = this.#spare.pop();
    if (spare !== undefined) return spare;
    if (this.#buffersOut >= this.#maxBuffers) return null;
    const wanted = Math.min(this.#chunkBytes, remaining);
    let share: number;
    let length: number;
    if (this.#buffersOut === 0) {
      share = wanted > FILE_READ_FLOOR_BYTES ? this.#budget.take(wanted - FILE_READ_FLOOR_BYTES) : 0;
      length = Math.min(wanted, FILE_READ_FLOOR_BYTES + share);
    } else {
      // Reading ahead is paid for in full by the budget: with the budget spent there is none.
      share = this.#budget.take(wanted);
      if (share < Math.min(wanted, MIN_READ_AHEAD_BYTES)) {
        this.#budget.give(share);
        return null;
      }
      length = share;
    }
    this.#budgetHeld += share;
    this.#buffersOut++;
    const buffer = Buffer.allocUnsafe(length);
    return { bytes: buffer, buffer, share };
  }

  #readInto(target: ReadChunk, position: number, length: number): void {
    this.#isReading = true;
    read(this.#fd, target.buffer!, 0, length, position, (error, bytesRead) => {
      this.#isReading = false;
      if (this.#isReleased) {
        this.#drop(target);
        return;
      }
      if (error !== null || bytesRead === 0) {
        // bytesRead 0 before the planned end: the file was truncated while it streamed.
        this.#drop(target);
        this.#isFailed = true;
        this.#onError();
        return;
      }
      this.#pieceOffset += bytesRead;
      const buffer = target.buffer!;
      this.#enqueue({ bytes: bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead), buffer, share: target.share });
      this.#fill();
      this.#onReady();
    });
  }

  #enqueue(chunk: ReadChunk): void {
    this.#ready.push(chunk);
    this.#readyBytes += chunk.bytes.length;
  }
}
