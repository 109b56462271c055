/**
 * -C -: resuming an interrupted download safely. A partial download is kept only with a record of
 * the representation's strong validator, and appended to only when the server's 206 continues it
 * exactly: the range asked for (Content-Range, Content-Length), and the recorded representation
 * (the 206 carries the same strong validator, which shows that If-Range was honoured). The partial
 * file is not touched before the 206 is accepted, and get-output.ts writes no more than its range.
 */
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type ClientResponse, type Fields, announcedContentLength, parseHttpDate } from '../index.js';
import { CommandError } from './get-errors.js';
import { type FileWrite, partialPath, planFileWrite } from './get-output.js';

/** What is known about a partial download, stored beside it in .NAME.sockhttp-resume.json. */
export interface ResumeRecord {
  url: string;
  /** A strong validator of the representation: the ETag, else a strong Last-Modified. */
  validator: string;
  /** The full size of the representation. */
  total: number;
}

/** The URL as the record names it: without user:password, which have no business on disk. */
function recordedUrl(url: string): string {
  const parsed = URL.canParse(url) ? new URL(url) : null;
  if (parsed === null) return url;
  parsed.username = '';
  parsed.password = '';
  return parsed.href;
}

function resumeRecordPath(destination: string): string {
  return join(dirname(destination), `.${basename(destination)}.sockhttp-resume.json`);
}

/**
 * What a partial download to continue: ours, written beside the destination with a record (record
 * set); or, without one, the destination itself when it is a non-empty regular file, as another
 * tool (curl, wget, a copy) may have left it (record null: the server's answer alone tells whether
 * it continues). Null: nothing to resume.
 */
export type ResumeState = { record: ResumeRecord; size: number } | { record: null; size: number };

export async function loadResume(destination: string, url: string): Promise<ResumeState | null> {
  const ours = await loadOwnResume(destination, url);
  if (ours !== null) return ours;
  const existing = await stat(destination).catch(() => null);
  return existing?.isFile() && existing.size > 0 ? { record: null, size: existing.size } : null;
}

async function loadOwnResume(destination: string, url: string): Promise<{ record: ResumeRecord; size: number } | null> {
  const partial = await stat(partialPath(destination)).catch(() => null);
  if (partial === null || !partial.isFile()) return null;
  let record: ResumeRecord;
  try {
    record = JSON.parse(await readFile(resumeRecordPath(destination), 'utf8')) as ResumeRecord;
  } catch {
    return null;
  }
  const valid =
    record.url === recordedUrl(url) &&
    typeof record.validator === 'string' &&
    record.validator !== '' &&
    Number.isSafeInteger(record.total);
  if (!valid || partial.size > record.total) return null;
  return { record, size: partial.size };
}

async function saveResumeRecord(destination: string, record: ResumeRecord): Promise<void> {
  const path = resumeRecordPath(destination);
  await writeFile(`${path}.tmp`, `${JSON.stringify(record)}\n`);
  await rename(`${path}.tmp`, path);
}

export async function forgetResume(destination: string): Promise<void> {
  await rm(resumeRecordPath(destination), { force: true });
}

/**
 * The validator If-Range may carry (RFC 9110 §13.1.5): a strong ETag; else Last-Modified, but only
 * when it is strong, that is at least a second before the response's Date (§8.8.2.2).
 */
function strongValidator(fields: Fields): string | null {
  const etag = fields.get('etag');
  if (etag !== undefined && /^"[^"]*"$/.test(etag)) return etag;
  if (etag !== undefined) return null; // a weak ETag: the representation may change without it changing
  const lastModified = fields.get('last-modified');
  const date = fields.get('date');
  if (lastModified === undefined || date === undefined) return null;
  const modifiedAt = parseHttpDate(lastModified, Date.now());
  const sentAt = parseHttpDate(date, Date.now());
  return modifiedAt !== null && sentAt !== null && sentAt - modifiedAt >= 1000 ? lastModified : null;
}

/**
 * Whether a 206 continues the partial download exactly: one range, starting at `offset`, running to
 * the end of a representation of the recorded size, its bytes as stored (no content coding), from
 * the recorded representation. Null when it does, otherwise what is wrong.
 *
 * A server that ignores If-Range (or a cache in between that does) may answer with a range of
 * another representation; only the validator in the 206 itself tells. So it must carry the
 * recorded one: the same strong ETag (RFC 9110 §8.8.3.2, strong comparison), or, when the record
 * holds a Last-Modified date, the same date. Stricter than RFC 9110 §15.3.7, which lets a 206 to
 * If-Range leave Last-Modified out: such a 206 is refused (exit 33), never trusted blindly.
 */
function continuesPartial(response: ClientResponse, record: ResumeRecord, offset: number): string | null {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.fields.get('content-range') ?? '');
  if (match === null) return 'the 206 response has no single byte range (Content-Range)';
  const [start, end, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (start !== offset) return `the range starts at byte ${start}, not at ${offset}`;
  if (total !== record.total) return `the file is now ${total} bytes, not ${record.total}`;
  if (end !== total - 1) return `the range ends at byte ${end}, before the end of the file`;
  const length = announcedContentLength(response.fields);
  if (response.fields.has('content-length') && length !== end - start + 1)
    return `the 206 announces ${length} bytes for a range of ${end - start + 1}`;
  if (response.fields.tokens('content-encoding').some((coding) => coding !== 'identity'))
    return 'the range is in a content coding, not the bytes of the file';
  return sameRepresentation(response.fields, record.validator);
}

/** Whether the 206 names the recorded validator; null when it does, otherwise what is wrong. */
function sameRepresentation(fields: Fields, validator: string): string | null {
  if (validator.startsWith('"')) {
    const etag = fields.get('etag');
    if (etag === undefined) return 'the 206 has no ETag to show it is the same version of the file';
    return etag === validator ? null : 'the ETag changed';
  }
  const lastModified = fields.get('last-modified');
  if (lastModified === undefined) return 'the 206 has no Last-Modified to show it is the same version of the file';
  const then = parseHttpDate(validator, Date.now());
  return then !== null && parseHttpDate(lastModified, Date.now()) === then ? null : 'Last-Modified changed';
}

/**
 * For -C -, how the response is written. The partial file is appended to only after the 206 has
 * been checked; a 200 means the representation changed (If-Range did not match) and the download
 * starts over; a 416 naming exactly the recorded size means the partial file is already whole.
 * Otherwise (an error status) the partial download is kept untouched for a later try.
 */
export async function planResume(
  response: ClientResponse,
  destination: string,
  url: string,
  state: ResumeState | null,
): Promise<FileWrite | 'complete'> {
  if (state !== null && state.record === null) return planForeignResume(response, destination, state.size);
  const plan = await planFileWrite(destination);
  if (state !== null && response.status === 206) {
    const problem = continuesPartial(response, state.record, state.size);
    if (problem !== null) throw new CommandError('range-error', `cannot resume ${destination}: ${problem}; the partial download is kept`);
    const rangeBytes = state.record.total - state.size;
    return { ...plan, appendAt: state.size, keepOnFailure: true, expectedSize: state.record.total, rangeBytes };
  }
  if (state !== null && response.status === 416) {
    const whole = response.fields.get('content-range') === `bytes */${state.size}` && state.size === state.record.total;
    if (!whole)
      throw new CommandError(
        'range-error',
        `cannot resume ${destination}: the server refused the range (416); the partial download is kept`,
      );
    return 'complete';
  }
  if (state !== null && (response.status < 200 || response.status >= 300)) {
    throw new CommandError(
      'http-error',
      `the server answered ${response.status}; the partial download of ${destination} is kept for a later -C -`,
    );
  }
  if (response.status === 206) throw new CommandError('range-error', `the server sent a range (206) that was not asked for`);
  // A new download: forget the old record before the partial file is replaced, then describe the
  // new one before its first byte is written, so a record never describes bytes it did not see.
  await forgetResume(destination);
  const validator = strongValidator(response.fields);
  const length = announcedContentLength(response.fields);
  const total = length !== null && !response.fields.has('content-encoding') ? length : null;
  if (response.status !== 200 || validator === null || total === null || plan.partial === destination) return plan;
  await saveResumeRecord(destination, { url: recordedUrl(url), validator, total });
  return { ...plan, keepOnFailure: true, expectedSize: total };
}

/**
 * -C - on a file another tool left: a 206 that starts where the file ends is appended to it, in
 * place; a 416 means the file is whole already (curl exits 0 too); a 200 means the server ignores
 * ranges, and starting over would throw away the file: exit 33, the file untouched, as curl does.
 * With no validator, the range is trusted as the server labels it, which is all curl checks too.
 */
async function planForeignResume(response: ClientResponse, destination: string, size: number): Promise<FileWrite | 'complete'> {
  if (response.status === 416) return 'complete';
  if (response.status === 200 || (response.status >= 200 && response.status < 300 && response.status !== 206))
    throw new CommandError(
      'range-error',
      `cannot resume ${destination}: the server does not answer ranges (it sent the whole file); the file is left as it was`,
    );
  if (response.status !== 206)
    throw new CommandError('http-error', `the server answered ${response.status}; ${destination} is left as it was`);
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.fields.get('content-range') ?? '');
  if (match === null || Number(match[1]) !== size || Number(match[2]) !== Number(match[3]) - 1)
    throw new CommandError('range-error', `cannot resume ${destination}: the server's range does not continue the file at byte ${size}`);
  if (response.fields.tokens('content-encoding').some((coding) => coding !== 'identity'))
    throw new CommandError('range-error', `cannot resume ${destination}: the range is in a content coding, not the bytes of the file`);
  const total = Number(match[3]);
  const plan = await planFileWrite(destination);
  return { ...plan, partial: destination, appendAt: size, keepOnFailure: true, expectedSize: total, rangeBytes: total - size };
}
