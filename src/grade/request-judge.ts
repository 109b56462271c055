/**
 * Judging a client lab: the request head the program sent (recorded by the recording server), and
 * what it printed. Each judgement looks at one thing, so one mistake fails one item: a request with
 * "\n" line endings still has the right request line and Host value, and a head without its empty
 * line is still answered (after a quiet second) so that what the program prints can be judged too.
 */
import { readLineEndings } from '../check/probes.js';
import { escapeBytes } from '../core/trace.js';
import type { RecordedConnection } from './recording-server.js';
import type { Scorecard } from './rubrics.js';

/** At most this many characters of a program's bytes go into one verdict. */
const SHOWN_CHARACTERS = 120;

export const shownBytes = (bytes: Buffer): string => {
  const text = escapeBytes(bytes);
  return text.length > SHOWN_CHARACTERS ? `${text.slice(0, SHOWN_CHARACTERS)}…` : text;
};

export interface RequestExpectation {
  /** The request line, without its line ending. */
  requestLine: RegExp;
  requestLineText: string;
  /** Whether a Host field value names the right host. */
  acceptsHost(value: string): boolean;
  hostText: string;
  /** HTTP/1.0 requests may leave Host out. */
  hostOptionalForHttp10: boolean;
}

interface HeadLine {
  /** The line without its ending. */
  text: string;
  /** The line with its ending, as sent. */
  raw: Buffer;
}

/** The lines of a request head: up to the empty line, or every line that came (with a last unterminated one). */
function headLines(bytes: Buffer): HeadLine[] {
  const lines: HeadLine[] = [];
  let start = 0;
  while (start < bytes.length) {
    const lineFeed = bytes.indexOf(0x0a, start);
    const end = lineFeed === -1 ? bytes.length : lineFeed + 1;
    const raw = bytes.subarray(start, end);
    const text = raw.toString('latin1').replace(/\r?\n$/, '');
    if (text === '' && lineFeed !== -1) break;
    lines.push({ text, raw });
    start = end;
  }
  return lines;
}

/** Grades request-line, host, crlf and blank-line from what the program sent on its first connection. */
export function judgeRequest(
  card: Scorecard,
  connection: RecordedConnection | undefined,
  expect: RequestExpectation,
  noConnection: string,
): void {
  if (connection === undefined || connection.receivedBytes === 0) {
    const verdict = connection === undefined ? noConnection : 'the program connected but sent nothing';
    for (const id of ['request-line', 'host', 'crlf', 'blank-line']) card.fail(id, verdict);
    return;
  }
  const bytes = connection.bytes;
  const lines = headLines(bytes);
  const [requestLine, ...fieldLines] = lines;
  const requestText = requestLine?.text ?? '';
  if (expect.requestLine.test(requestText)) card.pass('request-line', 'the request line the lab prescribes', shownBytes(requestLine!.raw));
  else card.fail('request-line', `expected "${expect.requestLineText}"`, shownBytes(requestLine?.raw ?? bytes));

  // field-line = field-name ":" OWS field-value OWS (RFC 9112 §5): "Host:x" and "Host: x" are the same field.
  const hostLine = fieldLines.find((line) => /^host:/i.test(line.text));
  const hostValue = hostLine?.text.slice(5).replace(/^[ \t]+|[ \t]+$/g, '');
  const isHttp10 = /HTTP\/1\.0$/.test(requestText);
  if (hostLine !== undefined && hostValue !== undefined && expect.acceptsHost(hostValue))
    card.pass('host', `Host names ${expect.hostText}`, shownBytes(hostLine.raw));
  else if (hostLine === undefined && isHttp10 && expect.hostOptionalForHttp10)
    card.pass('host', 'an HTTP/1.0 request may leave Host out', shownBytes(requestLine!.raw));
  else if (hostLine === undefined)
    card.fail(
      'host',
      `no Host field line: an HTTP/1.1 request must name ${expect.hostText} (RFC 9112 §3.2)`,
      `${fieldLines.length} field line(s)`,
    );
  else card.fail('host', `the Host field must name ${expect.hostText}`, shownBytes(hostLine.raw));

  const endings = readLineEndings(bytes);
  if (endings.bareLineFeeds > 0) {
    const bare = lines.find((line) => line.raw.length > 0 && line.raw.at(-1) === 0x0a && line.raw.at(-2) !== 0x0d);
    card.fail(
      'crlf',
      `${endings.bareLineFeeds} line(s) end with "\\n" instead of "\\r\\n" (RFC 9112 §2.2)`,
      shownBytes(bare?.raw ?? bytes),
    );
  } else {
    card.pass('crlf', 'every line ends with "\\r\\n"', shownBytes(bytes.subarray(0, endings.headBytes)));
  }

  if (endings.hasEmptyLine)
    card.pass(
      'blank-line',
      'an empty line ends the head',
      shownBytes(bytes.subarray(Math.max(0, endings.headBytes - 12), endings.headBytes)),
    );
  else
    card.fail(
      'blank-line',
      `no empty line after the field lines: a server waits for the rest of the head (answered after ${connection.answeredBecause === 'quiet' ? 'a quiet second' : 'the client shut its side'})`,
      shownBytes(bytes.subarray(Math.max(0, bytes.length - 40))),
    );
}

/**
 * What a program printed, made comparable with what it was sent: line breaks are dropped (print()
 * adds one after every read, and text mode may turn CRLF into LF), and so are the "\r" and "\n"
 * escapes of a printed bytes object.
 */
export const comparableText = (bytes: Buffer): string => bytes.toString('latin1').replace(/\\r|\\n|\r|\n/g, '');

/** How many of `pieces` the printed text holds, in order (stopping at the first one missing). */
export function printedPieces(printed: string, pieces: Buffer[]): number {
  let from = 0;
  for (let index = 0; index < pieces.length; index++) {
    const at = printed.indexOf(comparableText(pieces[index]!), from);
    if (at === -1) return index;
    from = at;
  }
  return pieces.length;
}

/** A short view of what a program printed (its first line), for a verdict. */
export function printedSummary(stdout: Buffer, totalBytes: number): string {
  if (totalBytes === 0) return 'printed nothing';
  const firstLine = stdout.subarray(0, Math.max(0, stdout.indexOf(0x0a)) || stdout.length);
  return `printed ${totalBytes.toLocaleString('en-US')} bytes, starting "${shownBytes(firstLine)}"`;
}
