/**
 * Content codings (RFC 9110 §8.4, §12.5.3): choosing one from Accept-Encoding, and compressing on the
 * fly with node:zlib into a bounded in-memory cache.
 */
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
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
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  // mime-db marks application/octet-stream compressible, but it is what unknown files are sent as:
  // archives, images and media that would cost CPU to compress for nothing.
  return type !== 'application/octet-stream' && compressible(type) === true;
}

// node:zlib (~12 ms to load) on the first compression, not at start-up.
const loadBuiltin = createRequire(import.meta.url);
let zlib: {
  gzip: (bytes: Buffer, options: object) => Promise<Buffer>;
  brotli: (bytes: Buffer, options: object) => Promise<Buffer>;
  constants: typeof import('node:zlib').constants;
} | null = null;
function zlibFunctions() {
  if (zlib === null) {
    const module = loadBuiltin('node:zlib') as typeof import('node:zlib');
    zlib = { gzip: promisify(module.gzip), brotli: promisify(module.brotliCompress), constants: module.constants };
  }
  return zlib;
}

export function compress(bytes: Buffer, coding: Coding): Promise<Buffer> {
  const { gzip, brotli, constants: zlibConstants } = zlibFunctions();
  if (coding === 'gzip') return gzip(bytes, { level: 6 });
  // Quality 5 compresses about as well as gzip -9 at a fraction of brotli's default (11) cost.
  return brotli(bytes, {
    params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 5, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
  });
}
