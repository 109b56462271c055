/** `sockhttp get`: fetch a URL, or the lab form HOST PORT FILENAME. */
import { createWriteStream } from 'node:fs';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ClientError, type ClientErrorCode, type ClientResponse, request } from '../index.js';
import { parseArgs } from 'node:util';
import { UsageError, parseNumber, withUsageErrors } from './options.js';

/** Exit codes: curl's numbers where curl has one, so scripts written for curl read them the same way. */
export const EXIT_CODES: Readonly<Record<ClientErrorCode | 'usage' | 'write-failed', number>> = Object.freeze({
  'unsupported-protocol': 1,
  usage: 2,
  'bad-url': 3,
  'unknown-host': 6,
  'connect-refused': 7,
  'connect-failed': 7,
  'bad-response': 8,
  'incomplete-body': 18,
  'write-failed': 23,
  'bad-request': 2,
  timeout: 28,
  'connection-reset': 56,
  'tls-handshake': 35,
  'tls-certificate': 60,
  'body-too-large': 63,
  'head-too-large': 100,
});

export const GET_HELP = `Usage: sockhttp get URL [options]
       sockhttp get HOST PORT FILENAME [options]   (the lab client: GET /FILENAME)

Fetches a URL over HTTP/1.1 and writes the body to stdout.

Options:
  -i, --include          show the status line and header fields before the body
      --raw              show the response exactly as it arrived, bytes and framing included
  -o, --output FILE      write the body to FILE (written beside it, renamed when complete)
  -X, --request METHOD   request method (default: GET)
  -H, --header 'N: V'    add a request field (repeatable)
  -m, --max-time SECONDS give up after this long (default: no limit)
      --max-filesize BYTES fail (exit 63) rather than receive a body larger than this
  -k, --insecure         HTTPS: do not verify the server's certificate
      --cacert FILE      HTTPS: trust the PEM certificate authorities in FILE
  -h, --help             this help

Exit codes:
  0 success          2 usage error           3 malformed URL       6 unknown host
  7 cannot connect   8 malformed response   18 body shorter than announced
 23 cannot write    28 timeout              35 TLS handshake failed
 56 connection reset 60 untrusted certificate  63 body over --max-filesize
100 response head too large                    1 unsupported protocol`;

const OPTIONS = {
  include: { type: 'boolean', short: 'i' },
  raw: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  request: { type: 'string', short: 'X' },
  header: { type: 'string', short: 'H', multiple: true },
  'max-time': { type: 'string', short: 'm' },
  insecure: { type: 'boolean', short: 'k' },
  'max-filesize': { type: 'string' },
  cacert: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

class WriteError extends Error {}

/** The lab form names a host, a port and a file; everything else is a URL. */
function urlFromPositionals(positionals: string[]): string {
  if (positionals.length === 1) {
    const [url] = positionals as [string];
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`;
  }
  if (positionals.length === 3) {
    const [host, port, fileName] = positionals as [string, string, string];
    parseNumber(port, 'PORT', { min: 1, max: 65535 });
    const path = fileName.startsWith('/') ? fileName : `/${fileName}`;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
  }
  throw new UsageError(positionals.length === 0 ? 'a URL is needed' : 'give one URL, or HOST PORT FILENAME');
}

function parseHeader(line: string): [string, string] {
  const colon = line.indexOf(':');
  if (colon <= 0) throw new UsageError(`a header must look like 'Name: value', not '${line}'`);
  return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
}

function headText(response: ClientResponse): string {
  let text = `HTTP/${response.version} ${response.status} ${response.reason}\r\n`;
  for (const [name, value] of response.fields) text += `${name}: ${value}\r\n`;
  return `${text}\r\n`;
}

async function writeTo(destination: string | undefined, source: AsyncIterable<Buffer>, prefix: string): Promise<void> {
  if (destination === undefined) {
    const stdout = new Writable({
      write: (chunk, _encoding, callback) => (process.stdout.write(chunk) ? callback() : process.stdout.once('drain', () => callback())),
    });
    if (prefix !== '') process.stdout.write(prefix);
    await pipeline(source, stdout);
    return;
  }
  // Something that is not a regular file (/dev/null, a pipe) is written straight to. A regular file
  // is written under a temporary name beside it and renamed once complete, so an interrupted
  // download never leaves a truncated file that looks whole.
  const existing = await stat(destination).catch(() => null);
  const writesInPlace = existing !== null && !existing.isFile();
  const temporary = writesInPlace ? destination : join(dirname(destination), `.${basename(destination)}.sockhttp-partial`);
  try {
    const file = createWriteStream(temporary);
    if (prefix !== '') file.write(prefix);
    await pipeline(source, file);
    if (!writesInPlace) await rename(temporary, destination);
  } catch (error) {
    if (!writesInPlace) await rm(temporary, { force: true });
    if (error instanceof ClientError) throw error;
    throw new WriteError(`cannot write ${destination}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export async function runGet(args: string[]): Promise<number> {
  try {
    const { values, positionals } = withUsageErrors(() => parseArgs({ args, options: OPTIONS, allowPositionals: true }));
    if (values.help) {
      process.stdout.write(`${GET_HELP}\n`);
      return 0;
    }
    const url = urlFromPositionals(positionals);
    const maxTime = parseNumber(values['max-time'], '--max-time', { min: 0.001, max: 2_000_000, integer: false });
    const maxFileSize = parseNumber(values['max-filesize'], '--max-filesize', { min: 0 });
    const headers = (values.header ?? []).map(parseHeader);
    const rawChunks: Buffer[] | null = values.raw ? [] : null;
    let ca: Buffer | undefined;
    if (values.cacert !== undefined) {
      ca = await readFile(values.cacert).catch((error: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot read --cacert ${values.cacert} (${error.code ?? error.message})`);
      });
    }
    const response = await request(url, {
      method: values.request ?? 'GET',
      headers,
      ...(maxTime !== undefined && { timeoutMs: maxTime * 1000 }),
      ...(values.insecure && { insecure: true }),
      ...(maxFileSize !== undefined && { maxBodyBytes: maxFileSize }),
      ...(ca && { ca }),
      ...(rawChunks && { onRawBytes: (bytes: Buffer) => rawChunks.push(bytes) }),
    });
    if (rawChunks !== null) {
      // --raw shows the bytes as they crossed the wire, so the decoded body is only drained here.
      async function* raw() {
        for await (const _chunk of response.body) {
          yield* rawChunks!.splice(0);
        }
        yield* rawChunks!.splice(0);
      }
      await writeTo(values.output, raw(), '');
    } else {
      await writeTo(values.output, response.body, values.include ? headText(response) : '');
    }
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`sockhttp get: ${error.message} (try 'sockhttp get --help')\n`);
      return EXIT_CODES.usage;
    }
    if (error instanceof ClientError) {
      process.stderr.write(`sockhttp get: ${error.message}\n`);
      return EXIT_CODES[error.code];
    }
    if (error instanceof WriteError) {
      process.stderr.write(`sockhttp get: ${error.message}\n`);
      return EXIT_CODES['write-failed'];
    }
    throw error;
  }
}
