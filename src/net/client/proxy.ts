/**
 * Which forward proxy, if any, a request goes through: the environment variables curl, wget and most
 * tools read. How a request then travels through the proxy (absolute-form target, or a CONNECT
 * tunnel) is in connection.ts, where connections are opened.
 */
import { BlockList, isIP } from 'node:net';
import { defaultPort, socketHost } from '../../core/origin.js';
import { ClientError } from './errors.js';

/**
 * The proxy for `target` according to `env`, or null for a direct connection.
 *
 * http_proxy for http:// URLs, https_proxy for https:// ones, all_proxy for both; the lower-case
 * names win over the upper-case ones, as in curl. HTTP_PROXY is ignored when REQUEST_METHOD is set:
 * under CGI, a request's "Proxy:" header arrives as HTTP_PROXY (the "httpoxy" hole), which is why Go's
 * net/http ignores it there too. no_proxy / NO_PROXY list hosts to reach directly (see bypassesProxy).
 */
export function proxyFromEnvironment(target: URL, env: NodeJS.ProcessEnv = process.env): URL | null {
  const scheme = target.protocol === 'https:' ? 'https' : 'http';
  const upperAllowed = scheme === 'https' || env.REQUEST_METHOD === undefined;
  const value =
    env[`${scheme}_proxy`] ?? (upperAllowed ? env[`${scheme.toUpperCase()}_PROXY`] : undefined) ?? env.all_proxy ?? env.ALL_PROXY;
  if (value === undefined || value.trim() === '') return null;
  if (bypassesProxy(target, env.no_proxy ?? env.NO_PROXY ?? '')) return null;
  return parseProxyUrl(value.trim());
}

/** A proxy URL: "host:port" is taken as http://host:port; only http:// proxies are supported. */
export function parseProxyUrl(text: string | URL): URL {
  let url: URL;
  try {
    url = typeof text === 'string' ? new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`) : text;
  } catch {
    throw new ClientError('bad-url', `Not a valid proxy URL: ${String(text)}`);
  }
  if (url.protocol !== 'http:')
    throw new ClientError('unsupported-protocol', `Unsupported proxy protocol: ${url.protocol} (only http:// proxies)`);
  if (url.hostname === '') throw new ClientError('bad-url', 'The proxy URL has no host');
  return url;
}

/**
 * Whether `target` is listed in a no_proxy value: entries separated by commas or spaces; "*" alone
 * matches every host; a name matches itself and its subdomains ("example.com" and ".example.com" both
 * match www.example.com); an IP address matches itself; a CIDR block ("10.0.0.0/8", "fd00::/8")
 * matches the addresses in it; an entry may end in ":port" to match that port only.
 */
export function bypassesProxy(target: URL, noProxy: string): boolean {
  const hostname = socketHost(target).toLowerCase();
  const port = defaultPort(target);
  for (const element of noProxy.split(/[\s,]+/)) {
    const entry = element.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    const { host, port: entryPort } = splitEntry(entry);
    if (entryPort !== null && entryPort !== port) continue;
    if (host.includes('/')) {
      if (inBlock(hostname, host)) return true;
      continue;
    }
    const name = host.replace(/^\*?\./, '');
    if (hostname === name || (isIP(hostname) === 0 && hostname.endsWith(`.${name}`))) return true;
  }
  return false;
}

function splitEntry(entry: string): { host: string; port: number | null } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] === undefined ? null : Number(bracketed[2]) };
  // A bare IPv6 address or block has colons of its own and no port.
  if (isIP(entry) === 6 || (entry.includes('/') && entry.includes('::'))) return { host: entry, port: null };
  const withPort = /^(.*):(\d+)$/.exec(entry);
  return withPort ? { host: withPort[1]!, port: Number(withPort[2]) } : { host: entry, port: null };
}

function inBlock(address: string, block: string): boolean {
  const [network, prefixText] = block.split('/') as [string, string];
  const family = isIP(network);
  const prefix = Number(prefixText);
  if (family === 0 || isIP(address) !== family || !Number.isInteger(prefix)) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  try {
    const list = new BlockList();
    list.addSubnet(network, prefix, type);
    return list.check(address, type);
  } catch {
    return false; // a prefix out of range: the entry matches nothing
  }
}

/** The Proxy-Authorization value for a proxy URL with user:password in it (RFC 9110 §11.7.2, Basic). */
export function proxyAuthorization(proxy: URL): string | null {
  if (proxy.username === '' && proxy.password === '') return null;
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
}
