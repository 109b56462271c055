/**
 * What `sockhttp get` shows besides the body: the -v lines, the heads of -i, the -w variables and
 * the --json-output object. Every text the server chose (reason phrase, field values, certificate
 * names) goes through shownText or shownUnicode first, whichever of these it ends up in.
 */
import { performance } from 'node:perf_hooks';
import { type ClientEvent, type ClientResponse, type Fields, type HttpVersion, escapeBytes } from '../index.js';
import { UsageError } from './options.js';

// ---------------------------------------------------------------------------------------------
// What -v and -i show

/**
 * Text from the server made safe for a terminal and for JSON readers. The parser lets a reason
 * phrase and field values carry obs-text (bytes 0x80-0xFF, RFC 9112 §4, RFC 9110 §5.5), read as
 * latin1: among them the C1 controls, such as 0x9b (CSI) and 0x9d (OSC), with which a hostile
 * server could move the cursor, rewrite the window title or hide lines, raw or encoded in UTF-8
 * (C2 9B). JSON.stringify would pass them on as they are. Valid UTF-8 is shown as text; controls,
 * bidirectional overrides and anything else are escaped (\t, \xNN, \u{NN}; a backslash is doubled).
 */
export function shownText(text: string): string {
  return escapeBytes(Buffer.from(text, 'latin1'));
}

/** The same for text the server chose that is already decoded (the names in its certificate). */
export function shownUnicode(text: string): string {
  return escapeBytes(Buffer.from(text, 'utf8'));
}

/** The status line of a response for -v and error messages, with the reason phrase escaped. */
export function shownStatus(status: number, reason: string): string {
  return `${status} ${shownText(reason)}`.trimEnd();
}

/** A response head as -i shows it (and -v, line by line): CRLF line ends, the server's text escaped. */
export function shownHead(version: HttpVersion | '2', status: number, reason: string, fields: Fields): string {
  // Field names are tokens (the parser checks them), so only values need escaping.
  let text = `HTTP/${version} ${shownStatus(status, reason)}\r\n`;
  for (const [name, value] of fields) text += `${name}: ${shownText(value)}\r\n`;
  return `${text}\r\n`;
}

function connectionLines(event: Extract<ClientEvent, { type: 'request' }>): string[] {
  const { connection } = event;
  if (event.reused)
    return [
      `* Re-using connection #${connection.id} to ${connection.host} port ${connection.port}${event.protocol === 'h2' ? ' (a new HTTP/2 stream)' : ''}`,
    ];
  const peer = connection.proxy === null ? connection.host : `proxy ${connection.host}`;
  const lines = [`* Connected to ${peer} (${connection.remoteAddress}) port ${connection.remotePort} (#${connection.id})`];
  if (event.protocol === 'h2')
    lines.push(connection.tls === null ? '* using HTTP/2 (prior knowledge, h2c)' : '* ALPN: server accepted h2; using HTTP/2');
  if (connection.proxy?.tunnel) lines.push(`* CONNECT tunnel to ${event.url.host} established`);
  const tls = connection.tls;
  if (tls !== null) {
    lines.push(`* TLS connection using ${tls.protocol} / ${tls.cipher}, ALPN: ${tls.alpnProtocol ?? 'none'}`);
    const names = `subject ${tls.subject === null ? '?' : shownUnicode(tls.subject)}, issuer ${tls.issuer === null ? '?' : shownUnicode(tls.issuer)}`;
    lines.push(`* Server certificate: ${names}; ${tls.verified ? 'verified' : 'NOT verified (--insecure)'}`);
  }
  return lines;
}

/** The -v listener: `*` lines about connections, `>` the request head, `<` the response heads. */
export function verboseLines(event: ClientEvent): string[] {
  switch (event.type) {
    case 'request': {
      const head = event.head.toString('latin1').split('\r\n').slice(0, -2);
      return [...connectionLines(event), ...head.map((line) => `> ${line}`), '>'];
    }
    case 'response-head': {
      const lines = shownHead(event.version, event.status, event.reason, event.fields).split('\r\n').slice(0, -2);
      return [...lines.map((line) => `< ${line}`), '<'];
    }
    case 'connection-done':
      return [
        event.kept
          ? `* Connection #${event.connection.id} kept for reuse`
          : `* Closing connection #${event.connection.id}: ${event.reason}`,
      ];
    case 'redirect':
      return [`* Following the ${event.status} redirect to ${event.to.href} with ${event.method}`];
    case 'retry':
      return [];
  }
}

// ---------------------------------------------------------------------------------------------
// -w and --json-output

const WRITE_OUT_VARIABLES = new Set([
  'http_code',
  'response_code',
  'http_version',
  'content_type',
  'size_download',
  'time_namelookup',
  'time_connect',
  'time_appconnect',
  'time_starttransfer',
  'time_total',
  'url',
  'url_effective',
  'num_redirects',
  'remote_ip',
  'remote_port',
  'exitcode',
  'errormsg',
  'json',
]);

export function checkWriteOut(format: string): string {
  for (const [, name] of format.matchAll(/%\{([^}]*)\}/g)) {
    if (!WRITE_OUT_VARIABLES.has(name!)) throw new UsageError(`unknown --write-out variable %{${name}}`);
  }
  return format;
}

export interface Transfer {
  url: string;
  response: ClientResponse | null;
  exitCode: number;
  error: string | null;
  startedAt: number;
  /** Redirects followed, counted as they happen: known even when --max-redirs ends the transfer without a response. */
  redirects?: number;
}

function seconds(milliseconds: number): number {
  return Math.round(milliseconds * 1000) / 1_000_000;
}

/** The -w variables of a transfer (also the --json-output object and %{json}). */
function transferVariables(transfer: Transfer): Record<string, string | number | null> {
  const response = transfer.response;
  const timings = response?.timings;
  const total = timings?.total ?? performance.now() - transfer.startedAt;
  const contentType = response?.fields.get('content-type');
  return {
    url: transfer.url,
    url_effective: response?.url ?? transfer.url,
    http_code: response?.status ?? 0,
    response_code: response?.status ?? 0,
    http_version: response?.version ?? null,
    content_type: contentType === undefined ? null : shownText(contentType),
    size_download: response?.bodyBytesReceived ?? 0,
    num_redirects: response?.redirects ?? transfer.redirects ?? 0,
    remote_ip: response?.connection.remoteAddress ?? null,
    remote_port: response?.connection.remotePort ?? null,
    time_namelookup: seconds(timings?.nameLookup ?? 0),
    time_connect: seconds(timings?.connect ?? 0),
    time_appconnect: seconds(timings?.appConnect ?? 0),
    time_starttransfer: seconds(timings?.firstByte ?? 0),
    time_total: seconds(total),
    exitcode: transfer.exitCode,
    errormsg: transfer.error,
  };
}

export function jsonReport(transfer: Transfer): string {
  const headers: Record<string, string[]> = {};
  for (const [name, value] of transfer.response?.fields ?? []) {
    const key = name.toLowerCase();
    headers[key] = [...(headers[key] ?? []), shownText(value)];
  }
  return JSON.stringify({ ...transferVariables(transfer), headers });
}

/** -w FORMAT with its variables and curl's backslash escapes. */
export function expandWriteOut(format: string, transfer: Transfer): string {
  const variables = transferVariables(transfer);
  return format.replace(/%\{([^}]*)\}|%%|\\([ntr\\])/g, (match, name: string | undefined, escaped: string | undefined) => {
    if (escaped !== undefined) return { n: '\n', t: '\t', r: '\r', '\\': '\\' }[escaped]!;
    if (match === '%%') return '%';
    if (name === 'json') return jsonReport(transfer);
    if (name === 'http_code' || name === 'response_code') return String(variables[name]).padStart(3, '0');
    const value = variables[name!];
    return value === null || value === undefined ? '' : String(value);
  });
}
