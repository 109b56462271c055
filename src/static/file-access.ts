/**
 * The one seam through which the static handler reaches the filesystem: open first, then decide on
 * what was opened.
 *
 * A check made on a path (realpath, stat) and a read made later by another system call may see two
 * different files: whoever can rename inside the served folder can swap a checked file for a symlink
 * to /etc/passwd between the two calls. So every decision here is made on a descriptor:
 *
 *  1. The path is opened with O_PATH (Linux): the kernel resolves it once, and the descriptor names
 *     the very inode it reached. Opening with O_PATH reads nothing and has no side effect, so a FIFO
 *     or a device is never opened for real and never blocks a thread.
 *  2. fstat of that descriptor gives the type and the identity (device, inode, size, times).
 *  3. readlink of /proc/self/fd/N gives the real path of what was opened, and that path must lie
 *     inside the root (with a trailing separator), must not pass through a dotfile unless dotfiles
 *     are allowed, and must equal the requested path when symlinks are denied.
 *  4. Only then is a regular file opened for reading, through /proc/self/fd/N: a magic link to the
 *     inode already verified, so no path is resolved a second time.
 *
 * Where /proc/self/fd is missing (not Linux), the fallback opens the path itself (O_NONBLOCK, so a
 * FIFO cannot block), then requires that the real path of the same name, stat-ed again, has the
 * descriptor's device and inode: a file swapped in between is caught by its different inode.
 *
 * What this cannot see: a hard link inside the folder to a file elsewhere is, for the kernel, a file
 * inside the folder (nginx has the same limit; Linux's protected_hardlinks stops links to files the
 * linker does not own).
 */
import {
  type Stats,
  close,
  closeSync,
  constants,
  createReadStream,
  fstat,
  fstatSync,
  openSync,
  read,
  readlinkSync,
  realpathSync,
  statSync,
} from 'node:fs';
import type { Readable } from 'node:stream';
import { readdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { sep } from 'node:path';
import { statusForFsError } from './fs-errors.js';

/** Linux's O_PATH (not in fs.constants): a descriptor that only names a file. */
const O_PATH = 0o10000000;
const NO_THROW = { throwIfNoEntry: false } as const;

// Raw descriptors, not FileHandle objects: a FileHandle closes its descriptor when it is garbage
// collected, which could happen while the socket layer is still streaming from it.
const closeAsync = promisify(close);
const fstatAsync = promisify(fstat);
const readAsync = promisify(read);

/** An error with an errno-like code, mapped to a status by statusForFsError (or carrying its own). */
const fsError = (code: string, status?: number) => Object.assign(new Error(code), { code, ...(status === undefined ? {} : { status }) });

export type SymlinkPolicy = 'follow-inside' | 'deny';

/** What a file is, as far as a cache may trust it: taken only from a descriptor's fstat. */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

export function identityOf(stats: Stats): FileIdentity {
  return { dev: stats.dev, ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs };
}

/**
 * Whether `stats` describe the same, unchanged file. The change time moves on every rename and every
 * new hard link, so a file verified once and then moved out of the folder (or linked elsewhere) no
 * longer matches.
 */
export function sameIdentity(identity: FileIdentity, stats: FileIdentity): boolean {
  return (
    identity.ino === stats.ino &&
    identity.dev === stats.dev &&
    identity.size === stats.size &&
    identity.mtimeMs === stats.mtimeMs &&
    identity.ctimeMs === stats.ctimeMs
  );
}

export function identityKey(identity: FileIdentity): string {
  return `${identity.dev}:${identity.ino}:${identity.size}:${identity.mtimeMs}:${identity.ctimeMs}`;
}

/** A verified file or directory: its real path and identity, both taken from the opened descriptor. */
export type Opened =
  /** `fd` is open for reading only when asked for; the caller then owns it and must close it. */
  | { kind: 'file'; realPath: string; identity: FileIdentity; fd: number | null }
  | { kind: 'directory'; realPath: string; identity: FileIdentity }
  /** Nothing there (or a dangling link). */
  | { kind: 'absent' }
  /**
   * Something the rules forbid: outside the root, a dotfile by its real path, a symlink under
   * 'deny', or not a regular file or directory. Answered like a missing file, so nothing is revealed.
   */
  | { kind: 'refused' }
  /** The filesystem failed (permissions, too many open files…): the status to answer with. */
  | { kind: 'failed'; status: number };

export interface FileAccessOptions {
  allowDotfiles: boolean;
  symlinks: SymlinkPolicy;
  /** Test hook: use the portable fallback even where /proc/self/fd exists. */
  withoutProc?: boolean;
  /** Files never served nor listed, whatever the rules (the serve.json the server was started with); by real path in the constructor. */
  hidden?: readonly string[];
}

/** A verified file whose bytes may be sent: its real path, and its identity taken from its descriptor. */
export interface Source {
  realPath: string;
  identity: FileIdentity;
}

export class FileAccess {
  readonly rootReal: string;
  readonly #rootPrefix: string;
  readonly #allowDotfiles: boolean;
  readonly #denySymlinks: boolean;
  readonly #hasProc: boolean;
  readonly #hidden: ReadonlySet<string>;

  /**
   * The access to the folder `root`, which must be a directory; its real path is resolved once, now.
   * Synchronous, as the opens are: at start nothing else waits, and the thread pool's first use
   * (starting its threads, then a hop there and back for each call) was 1.6 ms of a `serve` start.
   * A reload (SIGHUP) calls it too, while serving: a folder whose disk stalls holds the event loop
   * then, as it would at every open of a request.
   */
  static forRoot(root: string, options: FileAccessOptions): FileAccess {
    const rootReal = realpathSync.native(root);
    if (!statSync(rootReal).isDirectory()) throw Object.assign(new Error(`${root} is not a directory`), { code: 'ENOTDIR' });
    // Hidden files are named by their real paths, as the rules compare them; one that is missing hides nothing.
    const hidden = (options.hidden ?? []).map((file) => {
      try {
        return realpathSync.native(file);
      } catch {
        return null;
      }
    });
    return new FileAccess(rootReal, { ...options, hidden: hidden.filter((file) => file !== null) });
  }

  /** `rootReal`: the served folder's real path (symlinks resolved once, at start). */
  constructor(rootReal: string, options: FileAccessOptions) {
    this.rootReal = rootReal;
    this.#rootPrefix = rootReal.endsWith(sep) ? rootReal : rootReal + sep;
    this.#allowDotfiles = options.allowDotfiles;
    this.#denySymlinks = options.symlinks === 'deny';
    this.#hasProc = !options.withoutProc && procFdWorks(rootReal);
    this.#hidden = new Set(options.hidden ?? []);
  }

  /**
   * Opens `path` (absolute, built from the root's real path and decoded URL segments) and verifies
   * what was opened. With `forReading`, a regular file comes back with a descriptor open for reading.
   * Synchronous, as nginx's open is: these calls touch metadata only and never wait on a FIFO.
   */
  open(path: string, forReading: boolean): Opened {
    // A look before opening. It may only refuse, never admit: it answers the common 404 without the
    // cost of a thrown error, and keeps the fallback from ever opening a FIFO or a device.
    const seen = statSync(path, NO_THROW);
    if (seen === undefined) return { kind: 'absent' };
    if (!seen.isFile() && !seen.isDirectory()) return { kind: 'refused' };
    try {
      return this.#hasProc ? this.#openThroughProc(path, forReading) : this.#openPortably(path, forReading);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return { kind: 'absent' };
      return { kind: 'failed', status: statusForFsError(error) };
    }
  }

  /** The names in the verified directory at `path`, read through its descriptor; null if refused or gone. */
  async readDirectory(path: string): Promise<{ realPath: string; names: string[] } | null> {
    if (!this.#hasProc) {
      const opened = this.open(path, false);
      if (opened.kind !== 'directory') return null;
      // Names only; each entry is verified on its own before it is listed, so a name from elsewhere
      // (the folder swapped after the check) would resolve outside and be left out.
      return { realPath: opened.realPath, names: await readdir(opened.realPath) };
    }
    let pathFd: number;
    try {
      pathFd = openSync(path, O_PATH);
    } catch {
      return null;
    }
    try {
      const opened = this.#verify(pathFd, path);
      if (opened.kind !== 'directory') return null;
      return { realPath: opened.realPath, names: await readdir(`/proc/self/fd/${pathFd}`) };
    } catch {
      return null;
    } finally {
      closeSync(pathFd);
    }
  }

  /**
   * A descriptor open for reading on `source`, verified again as it is opened, and checked to be the
   * very version that was described. Throws ENOENT if it is gone or now refused, ESTALE if it was
   * replaced since (asking again will work). The caller owns the descriptor.
   */
  openSource(source: Source): number {
    const opened = this.open(source.realPath, true);
    if (opened.kind === 'failed') throw fsError('EIO', opened.status);
    if (opened.kind !== 'file' || opened.fd === null) throw fsError('ENOENT');
    if (!sameIdentity(source.identity, opened.identity)) {
      closeSync(opened.fd);
      throw fsError('ESTALE');
    }
    return opened.fd;
  }

  /**
   * A stream of the bytes of `source`, through a descriptor verified now and checked to be that very
   * version; at most its size (a file cut shorter ends the stream early). The stream closes the descriptor.
   */
  streamSource(source: Source): Readable {
    const fd = this.openSource(source);
    return createReadStream('', { fd, start: 0, end: Math.max(0, source.identity.size - 1), highWaterMark: 64 * 1024 });
  }

  /**
   * The whole content of `source`, read through a verified descriptor. `unchanged` is false when the
   * file was written to while it was read: the bytes may then be a mix, to answer with once but never
   * to keep as this version's.
   */
  async readWhole(source: Source): Promise<{ bytes: Buffer; unchanged: boolean }> {
    const fd = this.openSource(source);
    try {
      const { size } = source.identity;
      const buffer = Buffer.allocUnsafe(size);
      const { bytesRead } = await readAsync(fd, buffer, 0, size, 0);
      const unchanged = bytesRead === size && sameIdentity(source.identity, identityOf(await fstatAsync(fd)));
      return { bytes: buffer.subarray(0, bytesRead), unchanged };
    } finally {
      await closeAsync(fd);
    }
  }

  /**
   * Reads the bytes of `source` in pieces of at most `pieceBytes` through a descriptor verified now
   * and checked to be that very version, giving each piece to `consume` (which must not keep it:
   * the buffer is reused). Resolves with whether the file stayed that version throughout: false
   * when it was cut shorter or written to while it was read. Never holds a large file whole.
   */
  async readPieces(source: Source, pieceBytes: number, consume: (piece: Buffer) => void): Promise<boolean> {
    const fd = this.openSource(source);
    try {
      const { size } = source.identity;
      const buffer = Buffer.allocUnsafe(Math.min(pieceBytes, Math.max(1, size)));
      let position = 0;
      while (position < size) {
        const { bytesRead } = await readAsync(fd, buffer, 0, Math.min(buffer.length, size - position), position);
        if (bytesRead === 0) break;
        consume(buffer.subarray(0, bytesRead));
        position += bytesRead;
      }
      return position === size && sameIdentity(source.identity, identityOf(await fstatAsync(fd)));
    } finally {
      await closeAsync(fd);
    }
  }

  #openThroughProc(path: string, forReading: boolean): Opened {
    const pathFd = openSync(path, O_PATH);
    try {
      const opened = this.#verify(pathFd, path);
      if (opened.kind !== 'file' || !forReading) return opened;
      // Through the magic link: the inode verified above, whatever the path names by now.
      const fd = openSync(`/proc/self/fd/${pathFd}`, constants.O_RDONLY);
      return { ...opened, fd };
    } finally {
      closeSync(pathFd);
    }
  }

  #verify(pathFd: number, path: string): Opened {
    const stats = fstatSync(pathFd);
    if (!stats.isFile() && !stats.isDirectory()) return { kind: 'refused' };
    if (stats.nlink === 0) return { kind: 'absent' }; // deleted since it was opened
    const realPath = readlinkSync(`/proc/self/fd/${pathFd}`);
    return this.#decide(realPath, path, stats);
  }

  #openPortably(path: string, forReading: boolean): Opened {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    let keep = false;
    try {
      const stats = fstatSync(fd);
      if (!stats.isFile() && !stats.isDirectory()) return { kind: 'refused' };
      const realPath = realpathSync.native(path);
      const named = statSync(realPath);
      // Swapped between the open and the realpath: what was opened is not what the path names.
      if (named.ino !== stats.ino || named.dev !== stats.dev) return { kind: 'failed', status: 503 };
      const opened = this.#decide(realPath, path, stats);
      if (opened.kind === 'file' && forReading) {
        keep = true;
        return { ...opened, fd };
      }
      return opened;
    } finally {
      if (!keep) closeSync(fd);
    }
  }

  /** The rules, applied to the real path of what was opened. */
  #decide(realPath: string, requestedPath: string, stats: Stats): Opened {
    const isRoot = realPath === this.rootReal;
    if (!isRoot && !realPath.startsWith(this.#rootPrefix)) return { kind: 'refused' };
    if (this.#denySymlinks && realPath !== requestedPath) return { kind: 'refused' };
    if (this.#hidden.has(realPath)) return { kind: 'refused' };
    if (!this.#allowDotfiles && !isRoot) {
      const inside = realPath.slice(this.#rootPrefix.length);
      if (inside.startsWith('.') || inside.includes(`${sep}.`)) return { kind: 'refused' };
    }
    const identity = identityOf(stats);
    return stats.isDirectory() ? { kind: 'directory', realPath, identity } : { kind: 'file', realPath, identity, fd: null };
  }
}

/** Whether /proc/self/fd names what a descriptor opened (Linux with procfs mounted). */
function procFdWorks(directory: string): boolean {
  if (process.platform !== 'linux') return false; // O_PATH's value means something else elsewhere
  let fd: number | undefined;
  try {
    fd = openSync(directory, O_PATH);
    return readlinkSync(`/proc/self/fd/${fd}`) === directory;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The stat of a path, taken at most once per turn of the event loop. A busy server answers many
 * requests for the same hot file in one turn (one batch of ready sockets); they all see the file as
 * the turn's first check found it, so what they get is never older than the current turn. The
 * next turn checks again, so a client that changes a file and then asks for it gets the new one.
 * Synchronous: for a file the kernel has cached, a stat costs less than a trip through libuv's
 * thread pool, and it is the only system call a hot request makes.
 */
export class StatsOfThisTurn {
  readonly #stats = new Map<string, Stats | null>();
  #clearScheduled = false;

  /** The stats of `path` (symlinks followed), or undefined if nothing is there. Throws as statSync does. */
  of(path: string): Stats | undefined {
    const known = this.#stats.get(path);
    if (known !== undefined) return known ?? undefined;
    const stats = statSync(path, { throwIfNoEntry: false });
    this.#stats.set(path, stats ?? null);
    if (!this.#clearScheduled) {
      this.#clearScheduled = true;
      // Immediates run once the current turn's I/O callbacks are done, before the loop polls again.
      setImmediate(() => {
        this.#stats.clear();
        this.#clearScheduled = false;
      });
    }
    return stats;
  }
}
