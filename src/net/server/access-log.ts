import { MONTHS } from '../../core/http-date.js';
/** One line per answered request, in the formats access logs are read in. */
export interface AccessLogEntry {
  remoteAddress: string;
  time: Date;
  /** "-" when the request line could not be read. */
  method: string;
  target: string;
  version: string;
  status: number;
  /** Body bytes sent. */
  bytesSent: number;
  referer: string | undefined;
  userAgent: string | undefined;
  durationMs: number;
}

/**
 * The entry for one answer, as either protocol's driver logs it: `request` is null when no request
 * could be read (its method and target are then "-").
 */
export function accessEntry(
  remoteAddress: string,
  request: { method: string; target: string; fields: { get(name: string): string | undefined } } | null,
  version: string,
  status: number,
  bytesSent: number,
  startTime: number,
): AccessLogEntry {
  return {
    remoteAddress,
    time: new Date(),
    method: request?.method ?? '-',
    target: request?.target ?? '-',
    version,
    status,
    bytesSent,
    referer: request?.fields.get('referer'),
    userAgent: request?.fields.get('user-agent'),
    durationMs: performance.now() - startTime,
  };
}

export type LogFormat = 'common' | 'combined' | 'json';

function pad(value: number): string {
  return String(value).padStart(2, '0');
}

/** [10/Oct/2000:13:55:36 +0000], in UTC. */
function commonLogTime(time: Date): string {
  return `[${pad(time.getUTCDate())}/${MONTHS[time.getUTCMonth()]}/${time.getUTCFullYear()}:${pad(time.getUTCHours())}:${pad(time.getUTCMinutes())}:${pad(time.getUTCSeconds())} +0000]`;
}

/**
 * Peer bytes never reach a terminal or a log reader raw: quotes, backslashes and everything outside
 * printable ASCII are escaped, so a request cannot forge log lines or send terminal escape codes.
 */
export function escapeForLog(text: string): string {
  return text.replace(/[^\x20-\x7e]|["\\]/g, (character) => {
    const code = character.charCodeAt(0);
    if (character === '"' || character === '\\') return `\\${character}`;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

export function formatAccessLog(entry: AccessLogEntry, format: LogFormat): string {
  if (format === 'json') {
    // JSON.stringify escapes C0 controls but not DEL and the C1 controls (0x80-0x9F): a field value
    // byte 0x9B would reach a terminal as CSI. Escaped, the line is the same JSON.
    return JSON.stringify({
      time: entry.time.toISOString(),
      remoteAddress: entry.remoteAddress,
      method: entry.method,
      target: entry.target,
      version: entry.version,
      status: entry.status,
      bytesSent: entry.bytesSent,
      referer: entry.referer ?? null,
      userAgent: entry.userAgent ?? null,
      durationMs: Math.round(entry.durationMs * 1000) / 1000,
    }).replace(/[\u007f-\u009f]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  const requestLine = entry.method === '-' ? '-' : escapeForLog(`${entry.method} ${entry.target} HTTP/${entry.version}`);
  let line = `${entry.remoteAddress} - - ${commonLogTime(entry.time)} "${requestLine}" ${entry.status} ${entry.bytesSent === 0 ? '-' : entry.bytesSent}`;
  if (format === 'combined') {
    line += ` "${escapeForLog(entry.referer ?? '-')}" "${escapeForLog(entry.userAgent ?? '-')}"`;
  }
  return line;
}
