/**
 * What the static handler remembers between requests, so that serving a hot file costs one stat
 * system call instead of the half-dozen of a cold lookup (realpath, stat, open, fstat, read, close).
 *
 * Nothing here can serve a stale file: every entry is tied to a file's identity — device, inode,
 * size, modification and change times — and every request checks the identity again with a fresh
 * stat. A file that is written, replaced or renamed over gets a new identity, so its old entries are
 * simply never found again and age out of the bounded maps.
 */
import type { Stats } from 'node:fs';

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

export function sameIdentity(identity: FileIdentity, stats: Stats): boolean {
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

/** A map that holds at most `maxEntries`; when full it starts afresh (its entries are cheap to rebuild). */
export class BoundedMap<Key, Value> {
  readonly #entries = new Map<Key, Value>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  get(key: Key): Value | undefined {
    return this.#entries.get(key);
  }

  set(key: Key, value: Value): void {
    if (this.#entries.size >= this.#maxEntries) this.#entries.clear();
    this.#entries.set(key, value);
  }

  delete(key: Key): void {
    this.#entries.delete(key);
  }
}

/**
 * Buffers (file contents, compressed bodies) by key, up to `maxBytes` in total; the least recently
 * used go first. Concurrent requests for the same key share one production.
 */
export class BufferCache {
  readonly #entries = new Map<string, Promise<Buffer>>();
  readonly #sizes = new Map<string, number>();
  readonly #maxBytes: number;
  #totalBytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get(key: string, produce: () => Promise<Buffer>): Promise<Buffer> {
    const cached = this.#entries.get(key);
    if (cached !== undefined) {
      // Re-insert to mark as most recently used (a Map iterates in insertion order).
      this.#entries.delete(key);
      this.#entries.set(key, cached);
      return cached;
    }
    const pending = produce();
    this.#entries.set(key, pending);
    pending.then(
      (bytes) => {
        if (this.#entries.get(key) !== pending) return;
        this.#sizes.set(key, bytes.length);
        this.#totalBytes += bytes.length;
        this.#evict();
      },
      () => this.#entries.delete(key),
    );
    return pending;
  }

  /** Forgets an entry (its production turned out to be unusable). */
  delete(key: string): void {
    const size = this.#sizes.get(key);
    this.#entries.delete(key);
    if (size !== undefined) {
      this.#sizes.delete(key);
      this.#totalBytes -= size;
    }
  }

  #evict(): void {
    for (const key of this.#entries.keys()) {
      if (this.#totalBytes <= this.#maxBytes) return;
      if (!this.#sizes.has(key)) continue; // still being produced
      this.delete(key);
    }
  }
}
