/**
 * Locate, the first step of serving (pillarjs/send's order): from the decoded segments of a request
 * path to what they name on disk — a file, a directory, a redirect to the slashed URL, or nothing.
 *
 * Every answer is made on an opened descriptor (file-access.ts), so its real path and identity are
 * those of the file that was checked. Answers are remembered by raw request path, so that a hot path
 * costs one stat: a remembered answer is used again only while its requested path still stats to the
 * identity taken from the descriptor (or, for a 404, to nothing). A path swapped for a symlink to
 * another file stats to another identity and is located afresh, through the descriptor again.
 */
import { join } from 'node:path';
import { type FileAccess, type FileIdentity, StatsOfThisTurn, sameIdentity } from './file-access.js';
import { BoundedMap } from '../core/bounded-map.js';
import { encodePath } from './resolve.js';

export type Located =
  /** `requestedPath`: the path the request named (symlinks not resolved); `realPath`: the file opened. */
  | { kind: 'file'; requestedPath: string; realPath: string; fileName: string; identity: FileIdentity }
  | { kind: 'directory'; requestedPath: string; realPath: string; segments: string[]; identity: FileIdentity }
  | { kind: 'redirect'; location: string }
  /** `requestedPath` when the path was found absent (not refused): a later request checks it still is. */
  | { kind: 'missing'; status: number; requestedPath?: string };

type Remembered = Located & { kind: 'file' | 'directory' | 'missing' };

/** Remembered answers: enough for a busy site's hot paths, bounded so that unique paths cannot grow it. */
const REMEMBERED_PATHS = 10_000;
/**
 * Longer request paths are located each time. Together with the count above this bounds the memory
 * of the path cache (about 10 MiB at worst), whatever paths a client invents.
 */
const LONGEST_REMEMBERED_PATH = 1024;

export class Locator {
  readonly #access: FileAccess;
  readonly #indexFile: string;
  readonly #redirectDirectories: boolean;
  readonly #remembered = new BoundedMap<string, Remembered>(REMEMBERED_PATHS);
  readonly #statsThisTurn = new StatsOfThisTurn();

  /** `redirectDirectories`: a folder asked for without its trailing slash answers 301 to the slashed URL (false for serve.json's trailingSlash: false). */
  constructor(access: FileAccess, indexFile: string, redirectDirectories = true) {
    this.#access = access;
    this.#indexFile = indexFile;
    this.#redirectDirectories = redirectDirectories;
  }

  /** The stat of `path` taken once per event-loop turn: a freshness check, never a decision. */
  statThisTurn(path: string): FileIdentity | undefined {
    return this.#statsThisTurn.of(path);
  }

  /** What `rawPath` named last time, if its requested path still stats the same; null otherwise. */
  recall(rawPath: string): Located | null {
    const known = this.#remembered.get(rawPath);
    if (known === undefined || known.requestedPath === undefined) return null;
    const stats = this.#statsThisTurn.of(known.requestedPath);
    const unchanged = known.kind === 'missing' ? stats === undefined : stats !== undefined && sameIdentity(known.identity, stats);
    if (unchanged) return known;
    this.#remembered.delete(rawPath);
    return null;
  }

  /** Locates `segments` on disk and remembers the answer under `rawPath`. */
  locate(rawPath: string, segments: string[], trailingSlash: boolean, query: string): Located {
    const found = this.#locate(segments, trailingSlash, query);
    if (found.kind !== 'redirect' && found.requestedPath !== undefined && rawPath.length <= LONGEST_REMEMBERED_PATH) {
      // The raw path is a slice of the whole request head; a copy keeps the head from being pinned.
      this.#remembered.set(Buffer.from(rawPath, 'latin1').toString('latin1'), found);
    }
    return found;
  }

  #locate(segments: string[], trailingSlash: boolean, query: string): Located {
    const requestedPath = join(this.#access.rootReal, ...segments);
    const opened = this.#access.open(requestedPath, false);
    switch (opened.kind) {
      case 'absent':
        return { kind: 'missing', status: 404, requestedPath };
      case 'refused':
        return { kind: 'missing', status: 404 };
      case 'failed':
        return { kind: 'missing', status: opened.status };
      case 'file':
        // "file.html/" names a directory that does not exist
        if (trailingSlash) return { kind: 'missing', status: 404 };
        return {
          kind: 'file',
          requestedPath,
          realPath: opened.realPath,
          fileName: segments[segments.length - 1] ?? '',
          identity: opened.identity,
        };
      case 'directory':
        break;
    }
    // Relative links in an index page only work from the slashed URL. The Location is built from
    // the normalized segments, so it always starts with exactly one "/" and can never name another
    // host (as "//evil.example/" would).
    if (!trailingSlash && this.#redirectDirectories && segments.length > 0)
      return { kind: 'redirect', location: encodePath(segments, true) + query };
    const indexPath = join(requestedPath, this.#indexFile);
    const index = this.#access.open(indexPath, false);
    if (index.kind === 'file') {
      return { kind: 'file', requestedPath: indexPath, realPath: index.realPath, fileName: this.#indexFile, identity: index.identity };
    }
    return { kind: 'directory', requestedPath, realPath: opened.realPath, segments, identity: opened.identity };
  }
}
