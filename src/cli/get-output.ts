/**
 * Where `sockhttp get` writes a body (stdout, or a file written beside its destination and renamed
 * when complete), and the progress bar it draws meanwhile.
 */
import { createRequire } from 'node:module';
import {
  type Stats,
  closeSync,
  createWriteStream,
  fstatSync,
  openSync,
  rename as renameFile,
  rm as rmFile,
  rmSync,
  stat as statFile,
  statSync,
  truncate as truncateFile,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Options as BarOptions, Params as BarParams } from 'cli-progress';
import { ClientError, type ClientResponse, announcedContentLength } from '../index.js';
import { CommandError } from './get-errors.js';
import type { Settings } from './get-options.js';

// Finishing a file without node:fs/promises, which a `get -o FILE` would load for these (1 ms of a
// start); promisified when called, not at load (0.2 ms), as most runs call none of them.
const rename = (from: string, to: string) => promisify(renameFile)(from, to);
const rm = (path: string, options: { force: boolean }) => promisify(rmFile)(path, options);
const stat = (path: string) => promisify(statFile)(path);
const truncate = (path: string, length: number) => promisify(truncateFile)(path, length);

// ---------------------------------------------------------------------------------------------
// The progress bar (cli-progress)

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

// cli-progress is CommonJS: its exports come as one default object. It is loaded only when a bar is
// drawn (~11 ms of start-up saved for every run that draws none: scripts, pipes, -s).
type CliProgress = typeof import('cli-progress');

/** One line: bar, percent, bytes, rate and time left; bytes and rate alone when the size is unknown. */
function progressLine(cliProgress: CliProgress, options: BarOptions, params: BarParams, startValue: number): string {
  const seconds = Math.max((Date.now() - params.startTime) / 1000, 0.001);
  const rate = `${formatBytes(Math.round((params.value - startValue) / seconds))}/s`;
  if (params.total <= 0) return `${formatBytes(params.value)} | ${rate}`;
  const parts = [
    `[${cliProgress.Format.BarFormat(params.progress, options)}] ${`${Math.floor(params.progress * 100)}%`.padStart(4)}`,
    `${formatBytes(params.value)} of ${formatBytes(params.total)}`,
    rate,
  ];
  if (params.value >= params.total) parts.push('done');
  else if (Number.isFinite(params.eta) && params.value > startValue)
    parts.push(`${cliProgress.Format.TimeFormat(params.eta, options, 1)} left`);
  return parts.join(' | ');
}

export interface Progress {
  update(value: number): void;
  stop(): void;
}

/** A bar on stderr when it is a terminal (curl shows its meter there too), or always with --progress. */
export async function startProgress(settings: Settings, toStdout: boolean, total: number, startValue: number): Promise<Progress | null> {
  // Asked first: reading isTTY makes the stream, 0.5 ms (2 ms for a pipe) that -s does not need.
  if (settings.progress === 'never') return null;
  const onTerminal = process.stderr.isTTY === true && !(toStdout && process.stdout.isTTY === true);
  if (settings.progress === 'auto' && !onTerminal) return null;
  const cliProgress = (await import('cli-progress')).default;
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: (options, params) => progressLine(cliProgress, options, params, startValue),
    barsize: 24,
    fps: 10,
    etaBuffer: 20,
    // Not a terminal (--progress into a file or pipe): a line now and then instead of redrawing.
    noTTYOutput: process.stderr.isTTY !== true,
    notTTYSchedule: 1_000,
    // cli-progress would otherwise listen for SIGINT and so stop Ctrl-C from ending the command.
    gracefulExit: false,
  });
  bar.start(total, startValue);
  return { update: (value) => bar.update(value), stop: () => bar.stop() };
}

// ---------------------------------------------------------------------------------------------
// Where the body goes

/**
 * A body on its way to where it is written, in one of two ways. A destination written with
 * synchronous writes (a regular file, /dev/null) takes the chunks lent by the client as they are
 * read (ClientResponse.consumeBody): no chunk is queued, and the socket's read memory is used again
 * (1 GiB to a file in 0.6 s instead of 1.0 s). Others (a pipe, a terminal) read a stream, with
 * backpressure, so the event loop never blocks on a slow reader.
 */
export interface BodyDelivery {
  /** Sends every chunk to `write`, which must be done with it when it returns. */
  consume(write: (chunk: Buffer) => void): Promise<void>;
  /** The chunks as a stream. */
  stream(): AsyncIterable<Buffer>;
}

/** The body as received: -i puts the heads before it (the caller writes them); --raw shows the bytes of the wire instead. */
export function bodyDelivery(
  response: ClientResponse,
  rawChunks: Buffer[] | null,
  progress: Progress | null,
  startValue: number,
): BodyDelivery {
  const stream = () => bodySource(response, rawChunks, progress, startValue);
  return {
    stream,
    consume: async (write) => {
      if (rawChunks !== null) {
        for await (const chunk of stream()) write(chunk);
        return;
      }
      await response.consumeBody((chunk) => {
        write(chunk);
        progress?.update(startValue + response.bodyBytesReceived);
      });
    },
  };
}

/** Writes all of `bytes` at `position` (null: the file's current position); returns the position after them. */
function writeAll(fd: number, bytes: Buffer, position: number | null): number | null {
  let offset = 0;
  while (offset < bytes.length) {
    const written = writeSync(fd, bytes, offset, bytes.length - offset, position);
    offset += written;
    if (position !== null) position += written;
  }
  return position;
}

// node:tty takes 1 to 2 ms to load, and only stdout on a character device asks it anything.
const loadBuiltin = createRequire(import.meta.url);
const isatty = (fd: number): boolean => (loadBuiltin('node:tty') as typeof import('node:tty')).isatty(fd);

/** Whether stdout is written with synchronous writes that cannot block for long: a regular file or /dev/null, not a pipe or a terminal. */
function stdoutIsSynchronous(): boolean {
  try {
    const kind = fstatSync(1);
    return kind.isFile() || (kind.isCharacterDevice() && !isatty(1));
  } catch {
    return false;
  }
}

export async function writeToStdout(body: BodyDelivery, prefix: string): Promise<void> {
  if (stdoutIsSynchronous()) {
    try {
      if (prefix !== '') writeAll(1, Buffer.from(prefix), null);
      await body.consume((chunk) => void writeAll(1, chunk, null));
    } catch (error) {
      if (error instanceof ClientError || error instanceof CommandError) throw error;
      throw writeError('stdout', error);
    }
    return;
  }
  const stdout = new Writable({
    write: (chunk, _encoding, callback) => (process.stdout.write(chunk) ? callback() : process.stdout.once('drain', () => callback())),
  });
  if (prefix !== '') process.stdout.write(prefix);
  await pipeline(body.stream(), stdout);
}

export interface FileWrite {
  destination: string;
  /** Where the bytes go until complete (the destination itself for a device such as /dev/null). */
  partial: string;
  /** Write from this byte of `partial` on, keeping what is before it (a resumed download). */
  appendAt: number;
  /** On failure, leave `partial` for a later -C - (its resume record is written). */
  keepOnFailure: boolean;
  /** When set, `partial` must be exactly this long before it is renamed. */
  expectedSize: number | null;
  /**
   * A resumed download: the length of the range the server promised, the most this run may add
   * after appendAt. A longer body is refused and `partial` cut back to appendAt bytes.
   */
  rangeBytes: number | null;
  /** Written with synchronous writes: a regular file (new or not) or a character device such as /dev/null, not a pipe. */
  synchronous: boolean;
}

export function partialPath(destination: string): string {
  return join(dirname(destination), `.${basename(destination)}.sockhttp-partial`);
}

export function writeError(destination: string, error: unknown): CommandError {
  return new CommandError(
    'write-failed',
    `cannot write ${destination}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
  );
}

/**
 * A regular file is written under a temporary name beside it and renamed once complete, so an
 * interrupted download never leaves a truncated file that looks whole. Something that is not a
 * regular file (/dev/null, a pipe) is written straight to.
 */
export async function planFileWrite(destination: string): Promise<FileWrite> {
  // Synchronous, as are the writes: a first call into libuv's thread pool starts its threads,
  // and on a busy machine each hop to one of them and back can take milliseconds.
  let existing: Stats | null = null;
  try {
    // Nothing there yet is the usual case: answered without an error (and its stack trace).
    existing = statSync(destination, { throwIfNoEntry: false }) ?? null;
  } catch {
    // nothing we may look at: written beside it, then renamed
  }
  const inPlace = existing !== null && !existing.isFile();
  const synchronous = existing === null || existing.isFile() || existing.isCharacterDevice();
  return {
    destination,
    partial: inPlace ? destination : partialPath(destination),
    appendAt: 0,
    keepOnFailure: false,
    expectedSize: null,
    rangeBytes: null,
    synchronous,
  };
}

/**
 * The body, refused once it runs past `maxBytes`: the chunk that would go past is not written.
 * A resumed download is given the length of its range, so nothing beyond it reaches the file.
 */
function limitedBody(body: BodyDelivery, maxBytes: number, overflow: () => Error): BodyDelivery {
  let received = 0;
  const count = (chunk: Buffer) => {
    received += chunk.length;
    if (received > maxBytes) throw overflow();
  };
  return {
    consume: (write) =>
      body.consume((chunk) => {
        count(chunk);
        write(chunk);
      }),
    stream: async function* () {
      for await (const chunk of body.stream()) {
        count(chunk);
        yield chunk;
      }
    },
  };
}

/**
 * A body bound for a terminal, stopped at the first chunk holding a NUL byte, as curl does: binary
 * bytes can leave a terminal in a state its user cannot get out of. -o - or -o FILE says otherwise.
 */
export function refusingBinary(body: BodyDelivery): BodyDelivery {
  const check = (chunk: Buffer) => {
    if (chunk.includes(0)) {
      throw new CommandError(
        'write-failed',
        "the body is binary and stdout is a terminal, where it could garble the screen: use '-o FILE' to save it, " +
          "or '-o -' to send it to the terminal all the same",
      );
    }
  };
  return {
    consume: (write) =>
      body.consume((chunk) => {
        check(chunk);
        write(chunk);
      }),
    stream: async function* () {
      for await (const chunk of body.stream()) {
        check(chunk);
        yield chunk;
      }
    },
  };
}

/** Files being written now: what Ctrl-C must clean up. */
const ACTIVE_WRITES = new Set<FileWrite>();

/** Removes the hidden partial file of each write in progress that no -C - could resume (called on Ctrl-C). */
export function removeUnresumablePartials(): void {
  for (const plan of ACTIVE_WRITES) if (plan.partial !== plan.destination && !plan.keepOnFailure) rmSync(plan.partial, { force: true });
}

export async function writeToFile(plan: FileWrite, body: BodyDelivery, prefix: string): Promise<void> {
  ACTIVE_WRITES.add(plan);
  try {
    await writeToFileSteps(plan, body, prefix);
  } finally {
    ACTIVE_WRITES.delete(plan);
  }
}

async function writeToFileSteps(plan: FileWrite, body: BodyDelivery, prefix: string): Promise<void> {
  const inPlace = plan.partial === plan.destination;
  // A resumed download may add only what its range holds; a longer body leaves the partial file as
  // it was before this run, since nothing says which of its bytes are right.
  const rangeBytes = plan.rangeBytes;
  let overflowed = false;
  if (rangeBytes !== null) {
    body = limitedBody(body, rangeBytes, () => {
      overflowed = true;
      return new CommandError(
        'range-error',
        `the server sent more than the ${rangeBytes} bytes of its range; the partial download of ${plan.destination} is left as it was`,
      );
    });
  }
  try {
    if (plan.synchronous) await writeSynchronously(plan, body, prefix);
    else {
      const file =
        plan.appendAt > 0 ? createWriteStream(plan.partial, { flags: 'r+', start: plan.appendAt }) : createWriteStream(plan.partial);
      if (prefix !== '') file.write(prefix);
      await pipeline(body.stream(), file);
    }
    if (plan.expectedSize !== null) {
      const { size } = await stat(plan.partial);
      if (size !== plan.expectedSize)
        throw new CommandError(
          'range-error',
          `the download of ${plan.destination} has ${size} bytes, not the ${plan.expectedSize} announced`,
        );
    }
    if (!inPlace) await rename(plan.partial, plan.destination);
  } catch (error) {
    if (overflowed) await truncate(plan.partial, plan.appendAt);
    if (!inPlace && !plan.keepOnFailure) await rm(plan.partial, { force: true });
    if (error instanceof ClientError || error instanceof CommandError) throw error;
    throw writeError(plan.destination, error);
  }
}

/** Each chunk written before the next socket read, as curl does: writes to the page cache are short. */
async function writeSynchronously(plan: FileWrite, body: BodyDelivery, prefix: string): Promise<void> {
  // Opened and closed synchronously too (see planFileWrite).
  const fd = openSync(plan.partial, plan.appendAt > 0 ? 'r+' : 'w');
  try {
    let position: number | null = plan.appendAt > 0 ? plan.appendAt : null;
    if (prefix !== '') position = writeAll(fd, Buffer.from(prefix), position);
    await body.consume((chunk) => {
      position = writeAll(fd, chunk, position);
    });
  } finally {
    closeSync(fd);
  }
}

/** The file name -O takes from a URL: its last path segment, decoded; never empty, hidden, or a path. */
export function remoteFileName(url: string): string {
  if (!URL.canParse(url)) throw new ClientError('bad-url', `Not a valid URL: ${url}`);
  const { pathname } = new URL(url);
  const segment = pathname.slice(pathname.lastIndexOf('/') + 1);
  let name = segment;
  try {
    name = decodeURIComponent(segment);
  } catch {
    // not valid percent-encoding: the segment as it is
  }
  // A name starting with '.' would be hidden, or '.' or '..' themselves; a decoded '/' or NUL would
  // leave the current folder or cut the name.
  if (name === '' || name.startsWith('.') || /[/\\\0]/.test(name)) {
    throw new CommandError(
      'write-failed',
      `-O: no usable file name in ${url} (the last segment is empty, starts with a dot, or holds a separator)`,
    );
  }
  return name;
}

function bodySource(
  response: ClientResponse,
  rawChunks: Buffer[] | null,
  progress: Progress | null,
  startValue: number,
): AsyncIterable<Buffer> {
  async function* source() {
    for await (const chunk of response.body) {
      progress?.update(startValue + response.bodyBytesReceived);
      if (rawChunks !== null) yield* rawChunks.splice(0);
      else yield chunk as Buffer;
    }
    if (rawChunks !== null) yield* rawChunks.splice(0);
  }
  return source();
}

export function bodyTotal(response: ClientResponse, startValue: number): number {
  const range = /\/(\d+)$/.exec(response.fields.get('content-range') ?? '');
  if (response.status === 206 && range) return Number(range[1]);
  const length = announcedContentLength(response.fields);
  return response.fields.has('transfer-encoding') || length === null ? 0 : startValue + length;
}
