/**
 * Mid-size files (above the small-file size, up to HOT_FILE_MAX_BYTES) kept in memory while they
 * are hot: read once into one Buffer that every response shares. Streamed, each download costs two
 * copies (disk cache → our buffer → socket) and a trip through the thread pool per read; from memory
 * it costs one (our buffer → socket). Measured on the bench's 10 MiB file with 4 connections
 * (server CPU per GiB, medians of 5 interleaved runs): 0.53 s streamed, 0.27 s from memory, where
 * nginx with sendfile takes 0.33 s.
 *
 * Never stale, exactly like the small-file cache: entries are keyed by a version's body key (real
 * path and identity taken from a verified descriptor, representations.ts), the bytes are read
 * through a descriptor verified again and checked to be that very version (file-access.ts:
 * readWhole), and every request reaches here only after its path was found to still be that version.
 *
 * Memory: a file is read whole only on its second request for the same version (a scan that asks
 * for each file once streams them all and keeps nothing), in the background: that request and the
 * ones until the read ends still stream. The cache holds at most `maxBytes`. An evicted Buffer may
 * still be referenced by the sockets sending it (a slow reader holds it as long as its stall timeout
 * allows), so evicted Buffers count as "retired" until the garbage collector has taken them (a
 * WeakRef tells): while retired Buffers alive reach `maxBytes`, no new file is read into memory and
 * requests stream. So the memory held is at most about twice `maxBytes`, whatever clients do.
 */
import { BoundedMap } from '../core/bounded-map.js';
import type { FileAccess, Source } from './file-access.js';
import { BufferCache } from './file-index.js';

/** Larger files always stream: a single read of them would hold a thread of the pool too long. */
export const HOT_FILE_MAX_BYTES = 16 * 1024 * 1024;
/** Body keys requested once, remembered to recognise a second request; cleared when full. */
const SEEN_ONCE_KEYS = 4096;

interface Retired {
  /** The memory itself, not the Buffer: a socket may hold only views of it (subarray), which keep it alive. */
  memory: WeakRef<ArrayBufferLike>;
  bytes: number;
}

export class HotFiles {
  readonly #access: FileAccess;
  readonly #maxBytes: number;
  readonly #cache: BufferCache;
  readonly #seenOnce = new BoundedMap<string, true>(SEEN_ONCE_KEYS);
  readonly #retired: Retired[] = [];

  constructor(access: FileAccess, maxBytes: number) {
    this.#access = access;
    this.#maxBytes = maxBytes;
    this.#cache = new BufferCache(maxBytes, (buffer) => this.#retired.push({ memory: new WeakRef(buffer.buffer), bytes: buffer.length }));
  }

  /**
   * The bytes of `source` (the version `key` names) if they are in memory; otherwise undefined, and
   * on the second request for this version, within the budget, they start being read for the next
   * requests.
   */
  bytesFor(source: Source, key: string): Buffer | undefined {
    const size = source.identity.size;
    if (size > HOT_FILE_MAX_BYTES || size > this.#maxBytes) return undefined;
    const cached = this.#cache.peek(key);
    if (cached !== undefined || this.#cache.has(key)) return cached;
    if (this.#seenOnce.get(key) === undefined) {
      this.#seenOnce.set(key, true);
      return undefined;
    }
    if (this.retiredBytes() >= this.#maxBytes) return undefined;
    this.#seenOnce.delete(key);
    this.#cache
      .get(key, async () => {
        const { bytes, unchanged } = await this.#access.readWhole(source);
        // Bytes that may be a mix of two versions are never stored as this version's: the entry is dropped.
        if (!unchanged) throw new Error('the file changed while it was read');
        return bytes;
      })
      // A file that changed, or cannot be read now, is streamed (and its error answered) as before.
      .catch(() => {});
    return undefined;
  }

  /** Bytes of evicted Buffers the garbage collector has not taken yet (sockets may still be sending them). */
  retiredBytes(): number {
    let alive = 0;
    let kept = 0;
    for (const retired of this.#retired) {
      if (retired.memory.deref() === undefined) continue;
      alive += retired.bytes;
      this.#retired[kept++] = retired;
    }
    this.#retired.length = kept;
    return alive;
  }

  /** Bytes held by the cache itself. */
  get cachedBytes(): number {
    return this.#cache.totalBytes;
  }
}
