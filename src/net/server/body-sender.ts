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
import { close as closeFd } from 'node:fs';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { FilePiece, ResponsePlan } from '../../core/response-plan.js';
import { LAST_CHUNK, encodeChunk } from '../../core/serializer.js';
import type { FileDataBudget } from './file-data-budget.js';
import { FileReadAhead } from './file-read-ahead.js';

/** One buffer being written, one read and waiting for the socket, one being read. */
const FILE_READ_BUFFERS = 3;

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

/** The sink of a connection's socket; `write` is the connection's own, so that --trace sees every byte. */
export function socketSink(socket: Socket, write: BodySink['write']): BodySink {
  return {
    write,
    get destroyed() {
      return socket.destroyed;
    },
    get writableNeedDrain() {
      return socket.writableNeedDrain;
    },
    drainedOrClosed: () => drainedOrClosed(socket),
    destroy: () => socket.destroy(),
  };
}

function drainedOrClosed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

export class BodySender {
  readonly #sink: BodySink;
  readonly #budget: FileDataBudget;
  /** Readers of files whose chunks may still be in the socket: their budget goes back on close at the latest. */
  readonly #readers = new Set<FileReadAhead>();
  /** Wakes a file sender waiting for its next chunk, which may wait on a buffer the closed socket never gives back. */
  #wakeOnClose: (() => void) | null = null;
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
   * The file is read ahead (file-read-ahead.ts) while the socket sends: at most FILE_READ_BUFFERS
   * buffers, reused once the socket has taken their bytes, so a long download makes no garbage.
   */
  async sendFile(fd: number, pieces: FilePiece[]): Promise<number | null> {
    const sink = this.#sink;
    let wake: (() => void) | null = null;
    const reader = new FileReadAhead(
      fd,
      pieces,
      this.#budget,
      { maxBuffers: FILE_READ_BUFFERS, reuseBuffers: true },
      () => wake?.(),
      () => wake?.(),
    );
    this.#readers.add(reader);
    this.#wakeOnClose = () => wake?.();
    let bytesSent = 0;
    try {
      for (;;) {
        if (sink.writableNeedDrain) await sink.drainedOrClosed();
        if (sink.destroyed) return null;
        const chunk = reader.shift();
        if (chunk === undefined) {
          if (reader.failed) throw new Error('the file is shorter than planned, or could not be read');
          if (reader.done) break;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
          continue;
        }
        if (chunk.buffer === null) {
          sink.write(chunk.bytes);
          reader.finished(chunk);
        } else {
          sink.write(chunk.bytes, () => {
            reader.finished(chunk);
            if (reader.settled) this.#readers.delete(reader);
            // Waiting for data with every buffer out: this one is read into now.
            else if (wake !== null) reader.readAhead();
          });
        }
        bytesSent += chunk.bytes.length;
        // The socket has its next bytes first; then the disk is asked for more (see readAhead).
        reader.readAhead();
      }
    } catch {
      sink.destroy();
      return null;
    } finally {
      // Buffers still being written give their share back when the socket is done with them, or
      // all at once when the connection closes (connectionClosed).
      this.#wakeOnClose = null;
      reader.release();
      if (reader.settled) this.#readers.delete(reader);
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
    for (const reader of this.#readers) reader.abandon();
    this.#readers.clear();
    this.#wakeOnClose?.();
  }
}

/** Releases what a plan holds (a descriptor, a stream) when it will not be sent. */
export function releasePlan(plan: ResponsePlan): void {
  if (plan.body.kind === 'file') closeFd(plan.body.fd, () => {});
  if (plan.body.kind === 'stream') plan.body.stream.destroy();
}
