/**
 * node:crypto for the server's features that use it (--auth, --etag content, the certificate of
 * --https), loaded when the feature is set up, at start, and random bytes without it. A plain `serve`
 * then starts without node:crypto: loading it was 2.3 ms of that start (its modules, and the
 * garbage collection their objects brought on).
 *
 * Nothing here loads or opens anything while a request is served: a process out of file
 * descriptors (EMFILE) must still answer, and node:crypto's set-up needs some (a server that
 * loaded it on a request under EMFILE stopped accepting: hardening.slow.test.ts).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';

let crypto: typeof import('node:crypto') | undefined;

/** node:crypto, loaded on the first call: a feature that needs it calls this when it is set up. */
export function cryptoModule(): typeof import('node:crypto') {
  crypto ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  return crypto;
}

/** A descriptor of the kernel's random source, or null where there is none (node:crypto instead). */
let urandom: number | null | undefined;

/**
 * Makes randomBytes() ready: opens /dev/urandom once, for the life of the process or worker thread
 * (a static handler calls this when it is made). Where it cannot be opened, node:crypto is loaded instead.
 */
export function prepareRandomBytes(): void {
  if (urandom !== undefined) return;
  try {
    const fd = openSync('/dev/urandom', 'r');
    urandom = fd;
    // A worker thread that made a server gives the descriptor back as it ends.
    process.once('exit', () => closeSync(fd));
  } catch {
    urandom = null;
    cryptoModule();
  }
}

/**
 * `size` unpredictable bytes, for what must not be guessed by a client (multipart/byteranges
 * boundaries): from the kernel's random source, which node:crypto's own generator is seeded from.
 */
export function randomBytes(size: number): Buffer {
  // Never opened here, on a request: see above.
  if (urandom === undefined) throw new Error('randomBytes() before prepareRandomBytes()');
  if (urandom === null) return cryptoModule().randomBytes(size);
  const bytes = Buffer.allocUnsafe(size);
  for (let filled = 0; filled < size; ) {
    const read = readSync(urandom, bytes, filled, size - filled, null);
    if (read === 0) throw new Error('/dev/urandom gave no bytes');
    filled += read;
  }
  return bytes;
}
