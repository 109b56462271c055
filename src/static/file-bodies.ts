/**
 * The bytes of file bodies kept in memory, one owner for the three caches behind them: small files
 * whole, their compressed representations made on the fly, and hot mid-size files (hot-files.ts).
 * The handler decides which representation a request gets; this file only says whether its bytes
 * are here now (synchronously, the hot path), or produces them once however many requests wait.
 *
 * Every cache is bounded in bytes and keyed by a version's body key (real path and identity taken
 * from a verified descriptor, representations.ts), so a changed file is never answered from here.
 */
import { availableParallelism } from 'node:os';
import { type Coding, compress } from './compression.js';
import type { FileAccess, Source } from './file-access.js';
import { BufferCache } from './file-index.js';
import { HotFiles } from './hot-files.js';
import type { FileDescription } from './representations.js';

const CONTENT_CACHE_BYTES = 64 * 1024 * 1024;
const COMPRESSED_CACHE_BYTES = 32 * 1024 * 1024;
/** Hot mid-size files in memory (hot-files.ts: with the evicted ones still being sent, about twice this). */
const HOT_FILES_BYTES = 64 * 1024 * 1024;
/**
 * Compressions on the fly running at once. Each takes a thread of libuv's pool (four by default,
 * shared with file reads) for up to a few hundred milliseconds on a large text file; a client asking
 * for many distinct large files must not take them all. Past the budget, the file is sent as it is.
 */
const CONCURRENT_COMPRESSIONS = Math.max(1, Math.min(2, availableParallelism() - 1));

export class FileBodies {
  readonly #access: FileAccess;
  /** Told of every lookup of the small-file and compressed caches: hit or miss (tests, metrics). */
  readonly #onCacheLookup: ((hit: boolean) => void) | undefined;
  readonly #contents = new BufferCache(CONTENT_CACHE_BYTES);
  readonly #compressed = new BufferCache(COMPRESSED_CACHE_BYTES);
  readonly #hotFiles: HotFiles;
  #compressionsRunning = 0;

  constructor(access: FileAccess, onCacheLookup: ((hit: boolean) => void) | undefined) {
    this.#access = access;
    this.#onCacheLookup = onCacheLookup;
    this.#hotFiles = new HotFiles(access, HOT_FILES_BYTES);
  }

  /** The whole content of a small file, from memory when this version of it was read before. */
  smallFileContent(source: Source, key: string): Buffer | Promise<Buffer> {
    const cached = this.#contents.peek(key);
    this.#onCacheLookup?.(cached !== undefined);
    if (cached !== undefined) return cached;
    let changedWhileRead = false;
    return this.#contents
      .get(key, async () => {
        const { bytes, unchanged } = await this.#access.readWhole(source);
        changedWhileRead = !unchanged;
        return bytes;
      })
      .then((bytes) => {
        if (changedWhileRead) this.#contents.delete(key);
        return bytes;
      });
  }

  /** A compressed body made before, if it is still in memory. */
  compressed(bodyKey: string): Buffer | undefined {
    const bytes = this.#compressed.peek(bodyKey);
    this.#onCacheLookup?.(bytes !== undefined);
    return bytes;
  }

  /** Whether a compression of `bodyKey` may start now: it is cached or under way, or the budget allows one more. */
  mayCompress(bodyKey: string): boolean {
    return this.#compressed.has(bodyKey) || this.#compressionsRunning < CONCURRENT_COMPRESSIONS;
  }

  /** The body of `description` compressed with `coding`, made once for every request that waits for it. */
  compressOnce(description: FileDescription, bodyKey: string, coding: Coding): Promise<Buffer> {
    return this.#compressed.get(bodyKey, async () => {
      this.#compressionsRunning++;
      try {
        return await compress(await this.smallFileContent(description.source, description.contentKey), coding);
      } finally {
        this.#compressionsRunning--;
      }
    });
  }

  /** A hot mid-size file's bytes, if they are in memory (see hot-files.ts for when they get there). */
  hot(source: Source, bodyKey: string): Buffer | undefined {
    return this.#hotFiles.bytesFor(source, bodyKey);
  }
}
