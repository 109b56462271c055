/**
 * -b/--cookie and -c/--cookie-jar: cookies kept between requests and runs as curl keeps them, in
 * Netscape cookie files. The rules (which cookie goes to which URL, domains, paths, expiry, Secure,
 * public suffixes) are tough-cookie's RFC 6265 implementation; this file only reads and writes the
 * file format, seven tab-separated columns a line.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Cookie, CookieJar } from 'tough-cookie';
import { UsageError } from './options.js';

const HTTP_ONLY_PREFIX = '#HttpOnly_';

/** A jar filled from -b FILE (or empty), answering each request and hearing each response. */
export class CookieFile {
  readonly #jar = new CookieJar(undefined, { looseMode: true });
  /** -b NAME=VALUE: sent as it is on every request, as curl does. */
  readonly #literal: string | null;

  constructor(literal: string | null) {
    this.#literal = literal;
  }

  /** -b VALUE: a cookie string when it holds '=', otherwise a file to read (a missing file is an empty jar, as in curl). */
  static from(values: readonly string[]): CookieFile {
    const literals = values.filter((value) => value.includes('='));
    const file = new CookieFile(literals.length > 0 ? literals.join('; ') : null);
    for (const path of values.filter((value) => !value.includes('='))) file.#load(path);
    return file;
  }

  #load(path: string): void {
    let text: string;
    try {
      text = readFileSync(path === '-' ? 0 : path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new UsageError(`-b ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    for (const line of text.split(/\r?\n/)) {
      const httpOnly = line.startsWith(HTTP_ONLY_PREFIX);
      if (!httpOnly && (line.startsWith('#') || line.trim() === '')) continue;
      const columns = (httpOnly ? line.slice(HTTP_ONLY_PREFIX.length) : line).split('\t');
      if (columns.length !== 7) continue; // curl skips lines it cannot read, and so do we
      const [domain, subdomains, path, secure, expires, key, value] = columns as [string, string, string, string, string, string, string];
      const seconds = Number(expires);
      if (seconds !== 0 && seconds * 1000 < Date.now()) continue;
      const cookie = new Cookie({
        key,
        value,
        domain: domain.replace(/^\./, '').toLowerCase(),
        path,
        secure: secure === 'TRUE',
        httpOnly,
        hostOnly: subdomains !== 'TRUE',
        expires: seconds === 0 ? 'Infinity' : new Date(seconds * 1000),
      });
      // The memory store's put is synchronous underneath; its promise only reports.
      void this.#jar.store.putCookie(cookie);
    }
  }

  /** The Cookie field for a request to `url`, or null. */
  header(url: URL): string | null {
    const fromJar = this.#jar.getCookieStringSync(url.href);
    const parts = [this.#literal, fromJar].filter((part) => part !== null && part !== '');
    return parts.length === 0 ? null : parts.join('; ');
  }

  /** Takes the Set-Cookie fields of a response to `url`; those RFC 6265 says to ignore are ignored. */
  store(url: URL, setCookies: readonly string[]): void {
    for (const line of setCookies) this.#jar.setCookieSync(line, url.href, { ignoreError: true });
  }

  /** Writes every cookie held, session cookies included (expiry 0), to `path` in the Netscape format. */
  save(path: string): void {
    const cookies = this.#jar.serializeSync()?.cookies ?? [];
    const lines = ['# Netscape HTTP Cookie File', '# Written by sockhttp get -c. Edit at your own risk.', ''];
    for (const cookie of cookies) {
      const hostOnly = cookie['hostOnly'] === true;
      const domain = `${cookie['httpOnly'] === true ? HTTP_ONLY_PREFIX : ''}${hostOnly ? '' : '.'}${String(cookie['domain'])}`;
      // Expires or Max-Age, whichever the cookie had (RFC 6265 §5.3 step 3), as tough-cookie computes it.
      const expiry = Cookie.fromJSON(cookie)?.expiryTime() ?? Number.POSITIVE_INFINITY;
      const seconds = Number.isFinite(expiry) ? Math.floor(expiry / 1000) : 0;
      const row = [domain, hostOnly ? 'FALSE' : 'TRUE', String(cookie['path'] ?? '/'), cookie['secure'] === true ? 'TRUE' : 'FALSE'];
      lines.push([...row, String(seconds), String(cookie['key']), String(cookie['value'] ?? '')].join('\t'));
    }
    writeFileSync(path === '-' ? 1 : path, `${lines.join('\n')}\n`);
  }
}
