/**
 * Content codings (RFC 9110 §8.4, §12.5.3): choosing one from Accept-Encoding, and compressing on the
 * fly with node:zlib into a bounded in-memory cache.
 */
import { promisify } from 'node:util';
import { brotliCompress, constants as zlibConstants, gzip } from 'node:zlib';
import compressible from 'compressible';

export type Coding = 'br' | 'gzip';

/** Preference when the client accepts both equally: brotli is smaller for text. */
const CODINGS: readonly Coding[] = ['br', 'gzip'];

/** The q-value of each coding the client listed (RFC 9110 §12.5.3); "*" covers the ones not listed. */
function acceptedQualities(acceptEncoding: string): Map<string, number> {
  const qualities = new Map<string, number>();
  for (const element of acceptEncoding.split(',')) {
    const [name, ...parameters] = element.split(';').map((part) => part.trim().toLowerCase());
    if (!name) continue;
    let quality = 1;
    for (const parameter of parameters) {
      const match = /^q\s*=\s*([01](?:\.\d{0,3})?)$/.exec(parameter);
      if (match) quality = Number(match[1]);
    }
    qualities.set(name === 'x-gzip' ? 'gzip' : name, quality);
  }
  return qualities;
}

/** The best coding among `available` that the client accepts, or null for the identity coding. */
export function negotiateCoding(acceptEncoding: string | undefined, available: readonly Coding[]): Coding | null {
  if (acceptEncoding === undefined || available.length === 0) return null;
  const qualities = acceptedQualities(acceptEncoding);
  let best: Coding | null = null;
  let bestQuality = 0;
  for (const coding of CODINGS) {
    if (!available.includes(coding)) continue;
    const quality = qualities.get(coding) ?? qualities.get('*') ?? 0;
    if (quality > bestQuality) {
      best = coding;
      bestQuality = quality;
    }
  }
  return best;
}

/** Compressing a tiny file saves nothing; compressing a huge one in memory costs too much. */
export const MIN_COMPRESS_BYTES = 1024;
export const MAX_COMPRESS_BYTES = 8 * 1024 * 1024;

export function isCompressible(contentType: string): boolean {
  return compressible(contentType.split(';')[0]!.trim()) === true;
}

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

export function compress(bytes: Buffer, coding: Coding): Promise<Buffer> {
  if (coding === 'gzip') return gzipAsync(bytes, { level: 6 });
  // Quality 5 compresses about as well as gzip -9 at a fraction of brotli's default (11) cost.
  return brotliAsync(bytes, {
    params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 5, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
  });
}

/**
 * Compressed bodies, kept by key (which names the file's identity, size and times, so a changed
 * file never hits a stale entry) up to `maxBytes` in total; the least recently used go first.
 * Concurrent requests for the same key share one compression.
 */
export class CompressionCache {
  readonly #entries = new Map<string, Promise<Buffer>>();
  readonly #sizes = new Map<string, number>();
  readonly #maxBytes: number;
  #totalBytes = 0;

  constructor(maxBytes = 32 * 1024 * 1024) {
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

  #evict(): void {
    for (const key of this.#entries.keys()) {
      if (this.#totalBytes <= this.#maxBytes) return;
      const size = this.#sizes.get(key);
      if (size === undefined) continue; // still being compressed
      this.#entries.delete(key);
      this.#sizes.delete(key);
      this.#totalBytes -= size;
    }
  }
}
