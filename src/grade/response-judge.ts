/**
 * Reading a lab server's response leniently, so that one mistake fails one item. check's reader
 * (answer.ts) is strict where a client must be: a head without its empty line makes the page's
 * first line a malformed field line, and the whole response unreadable. Here the head is the status
 * line and the lines after it that look like field lines; it ends at the empty line or, when that
 * is missing, at the first line that is not a field line — where the page begins. The blank-line
 * item then names the mistake, and the page, the header lines and the line endings are still judged.
 */
import type { BaseExchange } from '../check/probes.js';
import { shownBytes } from './request-judge.js';

/** field-line = field-name ":" …, where field-name is a token (RFC 9110 §5.1, §5.6.2). */
const FIELD_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:/;
/** status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4). */
const STATUS_LINE = /^HTTP\/\d\.\d (\d{3})(?: .*)?$/;

export interface Line {
  text: string;
  raw: Buffer;
}

export interface LenientResponse {
  statusLine: Line | null;
  /** The status code of a well-formed status line, or null. */
  status: number | null;
  fieldLines: Line[];
  hasEmptyLine: boolean;
  /** Lines of the head (status line, field lines, empty line) ending in a lone LF. */
  bareLineFeeds: Line[];
  /** Everything after the head. */
  body: Buffer;
}

export function splitLeniently(bytes: Buffer): LenientResponse {
  const lines: Line[] = [];
  let start = 0;
  let hasEmptyLine = false;
  while (start < bytes.length) {
    const lineFeed = bytes.indexOf(0x0a, start);
    if (lineFeed === -1) break; // an unterminated last line is not part of the head
    const raw = bytes.subarray(start, lineFeed + 1);
    const text = raw.toString('latin1').replace(/\r?\n$/, '');
    if (lines.length > 0 && text === '') {
      lines.push({ text, raw });
      hasEmptyLine = true;
      start = lineFeed + 1;
      break;
    }
    if (lines.length > 0 && !FIELD_LINE.test(text)) break; // the page begins here
    lines.push({ text, raw });
    start = lineFeed + 1;
  }
  const [statusLine, ...rest] = lines;
  const fieldLines = hasEmptyLine ? rest.slice(0, -1) : rest;
  const status = statusLine === undefined ? null : Number(STATUS_LINE.exec(statusLine.text)?.[1] ?? Number.NaN);
  const bareLineFeeds = lines.filter((line) => line.raw.at(-2) !== 0x0d);
  return {
    statusLine: statusLine ?? null,
    status: status === null || Number.isNaN(status) ? null : status,
    fieldLines,
    hasEmptyLine,
    bareLineFeeds,
    body: bytes.subarray(statusLine === undefined ? bytes.length : start),
  };
}

/** The body as a client reads it when the response is well-formed (chunked decoded), else what follows the lenient head. */
export function bodyOf(base: BaseExchange, split: LenientResponse): Buffer {
  const response = base.response;
  if (base.answer.error === null && response !== undefined && response.complete) return response.body;
  return split.body;
}

export function fieldValue(split: LenientResponse, name: string): string | undefined {
  const line = split.fieldLines.find((candidate) => candidate.text.slice(0, candidate.text.indexOf(':')).toLowerCase() === name);
  return line?.text.slice(line.text.indexOf(':') + 1).trim();
}

export interface HeadVerdicts {
  headerLines: { passed: boolean; verdict: string; shown: string };
  blankLine: { passed: boolean; verdict: string; shown: string };
  crlf: { passed: boolean; verdict: string; shown: string };
}

/** header-lines, blank-line and crlf, each judged on its own. */
export function judgeHead(split: LenientResponse): HeadVerdicts {
  const fieldCount = split.fieldLines.length;
  const lastLine = split.fieldLines.at(-1) ?? split.statusLine;
  return {
    headerLines:
      fieldCount > 0
        ? { passed: true, verdict: `${fieldCount} header line(s) after the status line`, shown: shownBytes(split.fieldLines[0]!.raw) }
        : {
            passed: false,
            verdict: 'no header lines after the status line (Content-Type, Content-Length…)',
            shown: shownBytes(split.statusLine?.raw ?? Buffer.alloc(0)),
          },
    blankLine: split.hasEmptyLine
      ? { passed: true, verdict: 'an empty line ends the head', shown: '\\r\\n' }
      : {
          passed: false,
          verdict:
            split.body.length > 0
              ? 'no empty line between the head and the page: the page is read as more header lines'
              : 'no empty line after the head: the client waits for the rest of the head',
          shown: shownBytes(Buffer.concat([lastLine?.raw ?? Buffer.alloc(0), split.body.subarray(0, 24)])),
        },
    crlf:
      split.bareLineFeeds.length === 0
        ? {
            passed: true,
            verdict: 'every line of the head ends with "\\r\\n"',
            shown: shownBytes(split.statusLine?.raw ?? Buffer.alloc(0)),
          }
        : {
            passed: false,
            verdict: `${split.bareLineFeeds.length} line(s) of the head end with "\\n" instead of "\\r\\n" (RFC 9112 §2.2)`,
            shown: shownBytes(split.bareLineFeeds[0]!.raw),
          },
  };
}
