/**
 * Node modules the client needs only for some requests, loaded on first use: node:tls (~25 ms to
 * load, with crypto) for https: URLs, node:zlib for a compressed body (the command line has it
 * already: bin/sockhttp.js checks its code cache with zlib's crc32), node:crypto for a custom CA.
 * A plain `sockhttp get http://…` then starts without tls and crypto.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

let tls: typeof import('node:tls') | undefined;
let zlib: typeof import('node:zlib') | undefined;
let crypto: typeof import('node:crypto') | undefined;

export function tlsModule(): typeof import('node:tls') {
  tls ??= load('node:tls') as typeof import('node:tls');
  return tls;
}

export function zlibModule(): typeof import('node:zlib') {
  zlib ??= load('node:zlib') as typeof import('node:zlib');
  return zlib;
}

export function cryptoModule(): typeof import('node:crypto') {
  crypto ??= load('node:crypto') as typeof import('node:crypto');
  return crypto;
}
