/**
 * The static handler's memory of file bytes (small files' contents, compressed bodies), bounded in
 * bytes, so that a hot file is served without reading it again.
 *
 * Nothing here can serve a stale file: every entry is keyed by a file's real path and identity —
 * device, inode, size, modification and change times, taken from a verified descriptor — and every
 * request checks the identity again with a stat taken in its own turn of the event loop
 * (file-access.ts: StatsOfThisTurn). A file that is written, replaced or renamed over gets a new
 * identity, so its old entries are simply never found again and are evicted.
 */
interface CacheEntry {
  /** A Buffer once produced, the pending production before. */
  value: Buffer | Promise<Buffer>;
  /** Used since the eviction sweep last passed it. */
  recentlyUsed: boolean;
}

/**
 * Buffers (file contents, compressed bodies) by key, up to `maxBytes` in total. Concurrent requests
 * for the same key share one production. Eviction approximates least-recently-used with the CLOCK
 * algorithm: a hit only sets a flag (a hot path that reorders a Map on every hit pays for it), and
 * the sweep, in insertion order, spares a flagged entry once by moving it to the back.
 */
export class BufferCache {
  readonly #entries = new Map<string, CacheEntry>();
  readonly #maxBytes: number;
  readonly #onEvict: ((bytes: Buffer) => void) | undefined;
  #totalBytes = 0;

  /** `onEvict` learns of each Buffer the sweep drops (it may still be in use by responses being sent). */
  constructor(maxBytes: number, onEvict?: (bytes: Buffer) => void) {
    this.#maxBytes = maxBytes;
    this.#onEvict = onEvict;
  }

  /** Bytes of the Buffers held. */
  get totalBytes(): number {
    return this.#totalBytes;
  }

  /** The buffer under `key` if it has been produced: the hot path needs no promise. */
  peek(key: string): Buffer | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined || !Buffer.isBuffer(entry.value)) return undefined;
    entry.recentlyUsed = true;
    return entry.value;
  }

  get(key: string, produce: () => Promise<Buffer>): Promise<Buffer> {
    const cached = this.#entries.get(key);
    if (cached !== undefined) {
      cached.recentlyUsed = true;
      return Promise.resolve(cached.value);
    }
    const pending = produce();
    const entry: CacheEntry = { value: pending, recentlyUsed: false };
    this.#entries.set(key, entry);
    pending.then(
      (bytes) => {
        if (this.#entries.get(key) !== entry) return;
        entry.value = bytes;
        this.#totalBytes += bytes.length;
        this.#evict();
      },
      () => {
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      },
    );
    return pending;
  }

  /** Whether `key` has bytes, or is being produced. */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Forgets an entry (its production turned out to be unusable). */
  delete(key: string): void {
    const entry = this.#entries.get(key);
    this.#entries.delete(key);
    if (entry !== undefined && Buffer.isBuffer(entry.value)) this.#totalBytes -= entry.value.length;
  }

  #evict(): void {
    // An entry moved to the back is met again later in this same loop, unflagged by then.
    for (const [key, entry] of this.#entries) {
      if (this.#totalBytes <= this.#maxBytes) return;
      if (!Buffer.isBuffer(entry.value)) continue; // still being produced
      if (entry.recentlyUsed) {
        entry.recentlyUsed = false;
        this.#entries.delete(key);
        this.#entries.set(key, entry);
      } else {
        this.delete(key);
        this.#onEvict?.(entry.value);
      }
    }
  }
}
