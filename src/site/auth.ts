/**
 * HTTP Basic authentication (RFC 7617) for `serve --auth USER:PASSWORD` and `--auth-file FILE`.
 *
 * Passwords are compared in constant time: a plain password through SHA-256 digests of both sides and
 * `timingSafeEqual` (digests have equal lengths whatever was sent); an htpasswd hash by its library —
 * bcryptjs for `$2a$`/`$2b$`/`$2y$`, unixcrypt for SHA-crypt `$5$`/`$6$` — which compare in constant
 * time too. A bcrypt check costs tens of milliseconds of CPU by design, so a credential that verified
 * once is remembered by the SHA-256 of the field value (never the value itself), in a bounded map, and
 * the next request with it costs one hash. Credentials are never logged or echoed.
 */
import { BoundedMap } from '../core/bounded-map.js';
import { cryptoModule } from './crypto.js';

/** A user's check: a password in hand, or a hash from an htpasswd file. */
type Check = { kind: 'plain'; digest: Buffer } | { kind: 'bcrypt'; hash: string } | { kind: 'sha-crypt'; hash: string };

export class AuthConfigError extends Error {}

const REMEMBERED_CREDENTIALS = 1_000;

// The hash libraries are loaded by the first check that needs one, not by every server.
let bcryptModule: Promise<typeof import('bcryptjs')> | undefined;
let shaCryptModule: Promise<typeof import('unixcrypt')> | undefined;
const sha256 = (text: string) => cryptoModule().createHash('sha256').update(text, 'utf8').digest();

export interface BasicAuthOptions {
  /** `user:password` pairs (--auth). */
  credentials?: string[];
  /** The text of an htpasswd file (--auth-file): `user:hash` lines with bcrypt or SHA-crypt hashes. */
  htpasswd?: string;
  /** The realm named in WWW-Authenticate. Default "sockhttp". */
  realm?: string;
}

export class BasicAuth {
  readonly #users = new Map<string, Check>();
  readonly #verified = new BoundedMap<string, true>(REMEMBERED_CREDENTIALS);
  /** The WWW-Authenticate value of a 401 (RFC 7617 §2, with the charset parameter of §2.1). */
  readonly challenge: string;

  constructor(options: BasicAuthOptions) {
    cryptoModule(); // now, as the server is set up: never while a request is served (see crypto.ts)
    for (const pair of options.credentials ?? []) {
      const colon = pair.indexOf(':');
      if (colon <= 0) throw new AuthConfigError('--auth must look like USER:PASSWORD');
      this.#users.set(pair.slice(0, colon), { kind: 'plain', digest: sha256(pair.slice(colon + 1)) });
    }
    (options.htpasswd ?? '').split(/\r?\n/).forEach((line, index) => {
      const trimmed = line.trim();
      if (trimmed === '' || trimmed.startsWith('#')) return;
      const colon = trimmed.indexOf(':');
      const user = trimmed.slice(0, colon);
      const hash = trimmed.slice(colon + 1);
      if (colon <= 0) throw new AuthConfigError(`line ${index + 1}: not USER:HASH`);
      if (/^\$2[aby]\$\d\d\$/.test(hash)) this.#users.set(user, { kind: 'bcrypt', hash });
      else if (/^\$[56]\$/.test(hash)) this.#users.set(user, { kind: 'sha-crypt', hash });
      else
        throw new AuthConfigError(
          `line ${index + 1}: the hash of '${user}' is neither bcrypt ($2y$) nor SHA-crypt ($5$, $6$); create it with 'htpasswd -B'`,
        );
    });
    if (this.#users.size === 0) throw new AuthConfigError('no users');
    const realm = (options.realm ?? 'sockhttp').replace(/["\\]/g, '');
    this.challenge = `Basic realm="${realm}", charset="UTF-8"`;
  }

  /** Whether the Authorization field value carries a valid user and password. */
  allows(authorization: string | undefined): boolean | Promise<boolean> {
    if (authorization === undefined) return false;
    const key = cryptoModule().createHash('sha256').update(authorization, 'latin1').digest('base64');
    if (this.#verified.get(key) === true) return true;
    const credentials = decodeBasic(authorization);
    if (credentials === null) return false;
    const check = this.#users.get(credentials.user);
    // An unknown user costs the same as a wrong password of a plain one, so timing tells little.
    if (check === undefined) return cryptoModule().timingSafeEqual(sha256(credentials.password), sha256(`\0${credentials.password}`));
    const remember = (valid: boolean) => {
      if (valid) this.#verified.set(key, true);
      return valid;
    };
    switch (check.kind) {
      case 'plain':
        return remember(cryptoModule().timingSafeEqual(sha256(credentials.password), check.digest));
      case 'sha-crypt':
        shaCryptModule ??= import('unixcrypt');
        return shaCryptModule.then(({ verify }) => remember(verify(credentials.password, check.hash))).catch(() => false);
      case 'bcrypt':
        bcryptModule ??= import('bcryptjs');
        // bcrypt wants $2b$; Apache's htpasswd writes $2y$, the same algorithm under another name.
        return bcryptModule
          .then(({ default: bcrypt }) => bcrypt.compare(credentials.password, check.hash.replace(/^\$2y\$/, '$2b$')))
          .then(remember, () => false);
    }
  }
}

/** RFC 7617 §2: "Basic" (any case), one space or more, base64 of user-id ":" password, as UTF-8. */
export function decodeBasic(authorization: string): { user: string; password: string } | null {
  const match = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(authorization);
  if (match === null) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
