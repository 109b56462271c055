/**
 * Sending the bodies that are not in memory: pieces of an open file, and streams of unknown length.
 * Both go at the pace the client reads (backpressure), and what they hold is bounded: a file's reads
 * come from the process's shared budget of file data in flight (file-data-budget.ts), a stream is
 * paused while the socket's buffer is full.
 *
 * Ownership: the descriptor of a file body, or the stream, is released exactly once — here once
 * sending begins (whatever ends it: the last byte, a reset, a timeout, an error), or by releasePlan
 * when a plan can no longer be sent.
 */
import { close as closeFd, read } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FilePiece, ResponsePlan } from '../../core/response-plan.js';
import { LAST_CHUNK, encodeChunk } from '../../core/serializer.js';
import type { FileDataBudget } from './file-data-budget.js';

/**
 * Reads from files for streaming. 64 KiB reads cap a loopback download near 0.5 GB/s; 256 KiB reads
 * reach about 2 GB/s (measured on the bench's 1 GiB file). A connection holds at most two reads (one
 * being written, one read ahead); beyond FILE_READ_FLOOR_BYTES each comes from the shared budget.
 */
const FILE_READ_BYTES = 256 * 1024;
/** What a streaming connection may always read, budget or not: it can never be starved. */
const FILE_READ_FLOOR_BYTES = 16 * 1024;

/** What the body sender needs of the connection: a traced write, and the socket's state. */
export interface BodySink {
  write(bytes: Buffer, onWritten?: () => void): boolean;
  readonly destroyed: boolean;
  readonly writableNeedDrain: boolean;
  /** Resolves on 'drain' or 'close', whichever comes first. */
  drainedOrClosed(): Promise<void>;
  /** Gives up on the connection: a body that cannot be completed must not look complete. */
  destroy(): void;
}

export class BodySender {
  readonly #sink: BodySink;
  readonly #budget: FileDataBudget;
  /** Budget bytes this connection holds (reads not yet taken by the kernel); given back on close at the latest. */
  #budgetHeld = 0;
  #releaseStream: (() => void) | null = null;

  constructor(sink: BodySink, budget: FileDataBudget) {
    this.#sink = sink;
    this.#budget = budget;
  }

  /**
   * Sends pieces of a file in order. A file that turns out shorter than planned (truncated while it
   * streams) ends the connection, so the client sees a short body rather than a complete-looking
   * one. Resolves with the bytes sent, or null if the connection ended first. Closes `fd`.
   *
   * Read buffers: at most two or three per connection (one being written, one read ahead), reused
   * once the socket has taken their bytes, so a long download makes no garbage. A buffer larger than
   * the floor holds its excess from the budget (see budgetShare) until it is dropped: at the end of
   * the response, or when it comes back while the budget is spent, so that others get a turn.
   */
  async sendFile(fd: number, pieces: FilePiece[]): Promise<number | null> {
    const sink = this.#sink;
    const budget = this.#budget;
    let bytesSent = 0;
    const spare: Buffer[] = [];
    let isSending = true;
    const recycle = (buffer: Buffer) => {
      if (isSending && (buffer.length <= FILE_READ_FLOOR_BYTES || budget.inUse < budget.capacity)) spare.push(buffer);
      else this.#giveBack(budgetShare(buffer));
    };
    try {
      for (const piece of pieces) {
        if (sink.destroyed) return null;
        if (piece.length === 0) continue;
        if (Buffer.isBuffer(piece)) {
          sink.write(piece);
          bytesSent += piece.length;
          continue;
        }
        let position = piece.start;
        const end = piece.start + piece.length;
        while (position < end) {
          // One read ahead while the previous one is being written; then wait for the socket.
          let chunk = spare.pop();
          if (chunk === undefined) {
            const wanted = Math.min(FILE_READ_BYTES, end - position);
            const granted = wanted > FILE_READ_FLOOR_BYTES ? budget.take(wanted - FILE_READ_FLOOR_BYTES) : 0;
            this.#budgetHeld += granted;
            chunk = Buffer.allocUnsafe(Math.min(wanted, FILE_READ_FLOOR_BYTES + granted));
          }
          let bytesRead: number;
          try {
            bytesRead = await readAt(fd, chunk, Math.min(chunk.length, end - position), position);
          } catch (error) {
            recycle(chunk);
            throw error;
          }
          if (bytesRead === 0) {
            recycle(chunk);
            throw new Error('the file is shorter than planned');
          }
          if (sink.writableNeedDrain) await sink.drainedOrClosed();
          if (sink.destroyed) {
            recycle(chunk);
            return null;
          }
          const written = chunk;
          sink.write(bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead), () => recycle(written));
          position += bytesRead;
          bytesSent += bytesRead;
        }
      }
    } catch {
      sink.destroy();
      return null;
    } finally {
      // Buffers still being written are dropped by recycle when the socket gives them back.
      isSending = false;
      for (const buffer of spare) this.#giveBack(budgetShare(buffer));
      spare.length = 0;
      closeFd(fd, () => {});
    }
    return bytesSent;
  }

  /** Sends a body of unknown length as it is produced, chunked when `isChunked`; calls `onEnd` with the bytes sent. */
  sendStream(stream: Readable, isChunked: boolean, onEnd: (bytesSent: number) => void): void {
    const sink = this.#sink;
    let bytesSent = 0;
    this.#releaseStream = () => stream.destroy();
    stream.on('data', (chunk: Buffer) => {
      if (chunk.length === 0) return;
      bytesSent += chunk.length;
      const parts = isChunked ? encodeChunk(chunk) : [chunk];
      let fitsInBuffer = true;
      for (const part of parts) fitsInBuffer = sink.write(part);
      if (!fitsInBuffer) {
        stream.pause();
        void sink.drainedOrClosed().then(() => stream.resume());
      }
    });
    stream.once('end', () => {
      this.#releaseStream = null;
      if (isChunked) sink.write(LAST_CHUNK);
      onEnd(bytesSent);
    });
    stream.once('error', () => sink.destroy());
  }

  /** The connection closed: a stream in progress is destroyed, and budget still held is given back. */
  connectionClosed(): void {
    this.#releaseStream?.();
    this.#releaseStream = null;
    // Write callbacks of a destroyed socket may never come: give back what they would have.
    this.#budget.give(this.#budgetHeld);
    this.#budgetHeld = 0;
  }

  /** Gives back budget bytes, unless connectionClosed has already given back everything this connection held. */
  #giveBack(bytes: number): void {
    if (bytes === 0 || this.#budgetHeld === 0) return;
    this.#budgetHeld -= bytes;
    this.#budget.give(bytes);
  }
}

/** Releases what a plan holds (a descriptor, a stream) when it will not be sent. */
export function releasePlan(plan: ResponsePlan): void {
  if (plan.body.kind === 'file') closeFd(plan.body.fd, () => {});
  if (plan.body.kind === 'stream') plan.body.stream.destroy();
}

/** Reads `length` bytes into the start of `buffer` from `position`; resolves with the bytes read (fewer at the end of the file). */
function readAt(fd: number, buffer: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buffer, 0, length, position, (error, bytesRead) => (error === null ? resolve(bytesRead) : reject(error)));
  });
}

/** What a read buffer holds from the shared budget: all it has beyond the floor every connection may have. */
function budgetShare(buffer: Buffer): number {
  return Math.max(0, buffer.length - FILE_READ_FLOOR_BYTES);
}
