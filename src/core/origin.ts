/**
 * The parts of an http or https URL that a connection needs — the scheme's default port, the host as
 * sockets want it, the authority — written once for the client and the tools. Pure: no I/O.
 */

/** Whether `url` is one HTTP can fetch: http or https (RFC 9110 §4.2). */
export function isHttpUrl(url: URL): boolean {
  return url.protocol === 'http:' || url.protocol === 'https:';
}

/** The port of `url`, or its scheme's default (80 for http, 443 for https). */
export function defaultPort(url: URL): number {
  return url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
}

/** The host of a URL without the brackets of an IPv6 literal, as sockets want it. */
export function socketHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/** host:port as a request target in authority-form (RFC 9112 §3.2.3), IPv6 literals in brackets. */
export function authorityOf(url: URL): string {
  return `${url.hostname}:${defaultPort(url)}`;
}
