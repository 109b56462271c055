/**
 * Zero-setup HTTPS (`serve --https` without --tls-cert): a self-signed certificate for localhost and
 * this machine's addresses, made by the selfsigned library (X.509 through @peculiar/x509 and the
 * platform's WebCrypto) and kept in the user's cache folder (env-paths: $XDG_CACHE_HOME/sockhttp on
 * Linux), so that a browser exception made for it survives restarts. It is made again only when it is
 * missing, unreadable, within a week of expiring, or does not name every address asked for.
 */
import type { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import envPaths from 'env-paths';
import { cryptoModule } from './crypto.js';

export interface LocalCertificate {
  cert: string;
  key: string;
  /** SHA-256 fingerprint, colon-separated hex (what browsers show). */
  fingerprint256: string;
  certFile: string;
  keyFile: string;
  /** Whether it was made now (rather than found in the cache). */
  created: boolean;
}

const VALID_DAYS = 825; // the longest validity Apple's platforms accept for a TLS server certificate
const RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;

/** The names a local certificate covers: localhost, loopback, and every address of this machine. */
export function localNames(): string[] {
  const addresses = Object.values(networkInterfaces())
    .flat()
    .flatMap((entry) => (entry === undefined ? [] : [entry.address.split('%')[0]!]));
  return [...new Set(['localhost', '127.0.0.1', '::1', ...addresses])];
}

/** sockhttp's folder in the user's cache ($XDG_CACHE_HOME/sockhttp/https, else ~/.cache/sockhttp/https on Linux). */
export function certificateFolder(): string {
  return join(envPaths('sockhttp', { suffix: '' }).cache, 'https');
}

function covers(certificate: X509Certificate, names: string[]): boolean {
  const listed = (certificate.subjectAltName ?? '').split(', ');
  return names.every(
    (name) =>
      listed.includes(isIP(name) ? `IP Address:${name.toUpperCase()}` : `DNS:${name}`) ||
      (isIP(name) === 6 && listed.some((entry) => entry.startsWith('IP Address:') && sameIpv6(entry.slice(11), name))),
  );
}

function sameIpv6(a: string, b: string): boolean {
  const expand = (address: string) => new URL(`http://[${address}]/`).hostname;
  try {
    return expand(a) === expand(b);
  } catch {
    return false;
  }
}

/** The cached certificate for `names` if it is still good, else a new one written to the cache (key mode 0600). */
export async function ensureLocalCertificate(names = localNames(), folder = certificateFolder()): Promise<LocalCertificate> {
  const certFile = join(folder, 'localhost.crt');
  const keyFile = join(folder, 'localhost.key');
  try {
    const cert = readFileSync(certFile, 'utf8');
    const key = readFileSync(keyFile, 'utf8');
    const certificate = new (cryptoModule().X509Certificate)(cert);
    const fresh = Date.parse(certificate.validTo) - Date.now() > RENEW_BEFORE_MS;
    if (fresh && covers(certificate, names) && certificate.checkPrivateKey(cryptoModule().createPrivateKey(key))) {
      return { cert, key, fingerprint256: certificate.fingerprint256, certFile, keyFile, created: false };
    }
  } catch {
    // missing or unreadable: made below
  }
  // Loaded only when a certificate must be made: X.509 and ASN.1 libraries are large.
  const { generate } = await import('selfsigned');
  const notBeforeDate = new Date(Date.now() - 60_000);
  const pems = await generate(
    [
      { name: 'commonName', value: 'sockhttp localhost' },
      { name: 'organizationName', value: 'sockhttp (self-signed)' },
    ],
    {
      keySize: 2048,
      algorithm: 'sha256',
      notBeforeDate,
      notAfterDate: new Date(notBeforeDate.getTime() + VALID_DAYS * 24 * 3600 * 1000),
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: names.map((name) => (isIP(name) ? { type: 7 as const, ip: name } : { type: 2 as const, value: name })),
        },
      ],
    },
  );
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  writeFileSync(certFile, pems.cert, { mode: 0o644 });
  const certificate = new (cryptoModule().X509Certificate)(pems.cert);
  return { cert: pems.cert, key: pems.private, fingerprint256: certificate.fingerprint256, certFile, keyFile, created: true };
}
