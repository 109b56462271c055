/**
 * Where `serve` writes: the access log alone on stdout (or in --log-file), every human message on
 * stderr, so that `serve --log-format json | jq` reads nothing but log lines.
 *
 * A log that cannot be written never stops the server: when the reader of stdout goes away
 * (`serve | head -1`), the writes fail with EPIPE; the log is then dropped, stderr says so once,
 * and requests go on being served. A --log-file is reopened on SIGUSR1, as logrotate expects
 * (its `postrotate` sends the signal after renaming the file; the next line goes to a new file).
 */
import { type WriteStream, createWriteStream, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { whenStdioMade } from './options.js';

/** A line met a full non-blocking stderr: from then on every line goes through the stream. */
let saysThroughStream = false;

/**
 * A human message: on stderr, never on stdout. Written to descriptor 2 directly, as process.stderr
 * would (its writes are synchronous for files, terminals and pipes alike): making that stream is
 * 2 ms of a start when stderr is a pipe, before the line saying where the server listens.
 */
export function say(line: string): void {
  let bytes = Buffer.from(`${line}\n`);
  // Once a line went through the stream (below), the next ones do too, so none overtakes it.
  if (saysThroughStream) {
    process.stderr.write(bytes);
    return;
  }
  try {
    // A non-blocking descriptor may take part of a line: the rest follows.
    while (bytes.length > 0) bytes = bytes.subarray(writeSync(2, bytes));
  } catch (error) {
    // A non-blocking descriptor that is full: the stream waits for it. Otherwise (EPIPE, EBADF), a
    // closed stderr: nobody to tell.
    if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    saysThroughStream = true;
    try {
      process.stderr.write(bytes);
    } catch {}
  }
}

/** stderr's own EPIPE (a closed terminal) must not end the process either, whoever makes its stream. */
whenStdioMade('stderr', (stream) => stream.on('error', () => {}));

/**
 * Log bytes waiting for a slow file system (a file stream writes asynchronously): past this, lines
 * are dropped rather than held in memory without bound, and stderr says so once per episode.
 */
const MAX_PENDING_LOG_BYTES = 16 * 1024 * 1024;

export class AccessLogSink {
  readonly #file: string | null;
  /** null: stdout, whose stream is made for the first line (2 ms of a start when it is a pipe). */
  #stream: Writable | null;
  #dropped = false;
  #shedding = false;

  /** `file`: append to it (created if missing); null: stdout. Throws if the file cannot be opened. */
  static async open(file: string | null): Promise<AccessLogSink> {
    if (file === null) return new AccessLogSink(null, null);
    return new AccessLogSink(file, await openAppending(file));
  }

  private constructor(file: string | null, stream: Writable | null) {
    this.#file = file;
    this.#stream = stream;
    if (stream !== null) this.#watch(stream);
  }

  write(line: string): void {
    if (this.#dropped) return;
    if (this.#stream === null) {
      this.#stream = process.stdout;
      this.#watch(this.#stream);
    }
    if (this.#stream.writableLength > MAX_PENDING_LOG_BYTES) {
      if (!this.#shedding) say(`sockhttp: the access log on ${this.#file ?? 'stdout'} falls behind; dropping lines until it catches up`);
      this.#shedding = true;
      return;
    }
    this.#shedding = false;
    this.#stream.write(`${line}\n`);
  }

  /** SIGUSR1: the next line goes to a fresh open of the same file name; the old descriptor closes once written. */
  async reopen(): Promise<void> {
    if (this.#file === null) return;
    let next: WriteStream;
    try {
      next = await openAppending(this.#file);
    } catch (error) {
      say(
        `sockhttp: cannot reopen the log file ${this.#file} (${(error as NodeJS.ErrnoException).code ?? 'error'}); still writing to the old one`,
      );
      return;
    }
    const old = this.#stream!;
    this.#stream = next;
    this.#dropped = false;
    this.#watch(next);
    old.end();
  }

  #watch(stream: Writable): void {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (stream !== this.#stream || this.#dropped) return;
      this.#dropped = true;
      const where = this.#file ?? 'stdout';
      say(`sockhttp: the access log on ${where} cannot be written (${error.code ?? 'error'}); dropping it, still serving`);
    });
  }
}

function openAppending(file: string): Promise<WriteStream> {
  return new Promise((resolve, reject) => {
    const stream = createWriteStream(file, { flags: 'a' });
    stream.once('open', () => {
      stream.off('error', reject);
      resolve(stream);
    });
    stream.once('error', reject);
  });
}
