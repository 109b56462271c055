/**
 * Static file serving: from a request head to a ResponsePlan.
 *
 * The order of checks follows the classic one (pillarjs/send): method, target, dotfiles, then the
 * filesystem, where the real path (symlinks resolved) must lie inside the real root. Then, for a
 * file: choose the representation (identity, a precompressed sibling, or compressed on the fly),
 * evaluate preconditions against its validators (RFC 9110 §13.2.2), then ranges (§14).
 *
 * The plan carries an open file descriptor rather than a path, so what is sent is exactly what was
 * checked, even if the file is renamed or replaced a moment later. Nothing is cached across requests
 * except compressed bodies, keyed by the file's identity and times: a changed file is served fresh.
 */
import { randomBytes } from 'node:crypto';
import { type Stats, close, fstat, open, read, readFile } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { promisify } from 'node:util';
import type { FieldLine, Fields } from '../core/fields.js';
import { formatHttpDate } from '../core/http-date.js';
import { type FilePiece, type ResponsePlan, EMPTY_BODY, errorPlan } from '../core/response-plan.js';
import { type Coding, CompressionCache, MAX_COMPRESS_BYTES, MIN_COMPRESS_BYTES, compress, isCompressible, negotiateCoding } from './compression.js';
import { evaluatePreconditions, makeValidators, rangeStillApplies } from './conditional.js';
import { statusForFsError } from './fs-errors.js';
import { type ListingEntry, renderListing } from './listing.js';
import { contentTypeFor } from './mime.js';
import { type ByteRange, decideRanges } from './range.js';
import { encodePath, resolveTarget } from './resolve.js';

export interface StaticOptions {
  /** The folder to serve. */
  root: string;
  /** Whether names starting with "." (.env, .git/) may be served. Default 'deny': they answer 404 and are not listed. */
  dotfiles?: 'allow' | 'deny';
  /** The file a directory is answered with. Default "index.html". */
  indexFile?: string;
  /** HTML listings of directories without an index file. Default true. */
  listing?: boolean;
  /** Single-page apps: answer paths that match no file with the root index.html, for clients that accept HTML. Default false. */
  spa?: boolean;
  /** The Cache-Control of files. Default "no-cache": browsers may keep a copy but revalidate it (a cheap 304) before each use. */
  cacheControl?: string;
  /** Compress text-like files with gzip or brotli when the client accepts it. Default true. */
  compress?: boolean;
  /** Answer cross-origin requests: Access-Control-Allow-Origin: * and preflight OPTIONS. Default false. */
  cors?: boolean;
  /** Fields added to every response (--header). */
  headers?: FieldLine[];
  /** A snippet inserted before </body> of every HTML page (live reload). */
  htmlSnippet?: string;
}

/** The parts of a request the static handler reads. */
export interface StaticRequest {
  method: string;
  target: string;
  fields: Fields;
}

export type StaticHandler = (request: StaticRequest) => Promise<ResponsePlan>;

const ALLOW = 'GET, HEAD, OPTIONS';

/** Methods RFC 9110 §9 and RFC 5789 define: we know them and do not allow them (405). Others are unknown (501). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/**
 * Files up to this size are read whole and sent in the same write as the head: one packet for a
 * small page, which is also what a lab client doing a single read expects. Larger files stream.
 */
const SMALL_FILE_BYTES = 64 * 1024;

// Raw descriptors, not FileHandle objects: a FileHandle closes its descriptor when it is garbage
// collected, which could happen while the socket layer is still streaming from it.
const openFile = promisify(open);
const statFile = promisify(fstat);
const closeFile = promisify(close);
const readAt = promisify(read);
const readWhole = promisify(readFile);

/** What a request path names on disk. */
type Lookup =
  | { kind: 'file'; realPath: string; fileName: string }
  | { kind: 'directory'; realPath: string }
  | { kind: 'redirect'; location: string }
  | { kind: 'missing'; status: number };

/** An open file and what we know of it. */
interface OpenFile {
  fd: number;
  stats: Stats;
}

export async function createStaticHandler(options: StaticOptions): Promise<StaticHandler> {
  const rootReal = await realpath(options.root);
  if (!(await stat(rootReal)).isDirectory()) throw Object.assign(new Error(`${options.root} is not a directory`), { code: 'ENOTDIR' });
  const allowDotfiles = options.dotfiles === 'allow';
  const indexFile = options.indexFile ?? 'index.html';
  const cacheControl = options.cacheControl ?? 'no-cache';
  const compressionCache = options.compress === false ? null : new CompressionCache();
  const extraFields: FieldLine[] = [...(options.headers ?? []), ...(options.cors ? [['Access-Control-Allow-Origin', '*'] as const] : [])];
  const rootPrefix = rootReal.endsWith(sep) ? rootReal : rootReal + sep;
  const isInsideRoot = (realPath: string) => realPath === rootReal || realPath.startsWith(rootPrefix);

  async function lookup(segments: string[], trailingSlash: boolean, query: string): Promise<Lookup> {
    try {
      const realPath = await realpath(join(rootReal, ...segments));
      if (!isInsideRoot(realPath)) return { kind: 'missing', status: 404 }; // a symlink that leads out of the root
      if (!(await stat(realPath)).isDirectory()) {
        // "file.html/" names a directory that does not exist
        return trailingSlash ? { kind: 'missing', status: 404 } : { kind: 'file', realPath, fileName: segments[segments.length - 1] ?? '' };
      }
      // Relative links in an index page only work from the slashed URL. The Location is built from
      // the normalized segments, so it always starts with exactly one "/" and can never name another
      // host (as "//evil.example/" would).
      if (!trailingSlash) return { kind: 'redirect', location: encodePath(segments, true) + query };
      try {
        const indexReal = await realpath(join(realPath, indexFile));
        if (isInsideRoot(indexReal) && (await stat(indexReal)).isFile()) return { kind: 'file', realPath: indexReal, fileName: indexFile };
      } catch (error) {
        if (statusForFsError(error) !== 404) throw error;
      }
      return { kind: 'directory', realPath };
    } catch (error) {
      return { kind: 'missing', status: statusForFsError(error) };
    }
  }

  async function openRegularFile(realPath: string): Promise<OpenFile | null> {
    const fd = await openFile(realPath, 'r');
    const stats = await statFile(fd).catch(async (error) => {
      await closeFile(fd);
      throw error;
    });
    if (stats.isFile()) return { fd, stats };
    await closeFile(fd);
    return null;
  }

  /** The precompressed siblings (x.br, x.gz) of a file that exist, lie inside the root and are files. */
  async function findPrecompressed(realPath: string): Promise<Map<Coding, string>> {
    const found = new Map<Coding, string>();
    for (const [coding, suffix] of [['br', '.br'], ['gzip', '.gz']] as const) {
      try {
        const siblingReal = await realpath(realPath + suffix);
        if (isInsideRoot(siblingReal) && (await stat(siblingReal)).isFile()) found.set(coding, siblingReal);
      } catch {
        // no such sibling
      }
    }
    return found;
  }

  async function serveFile(request: StaticRequest, realPath: string, fileName: string, status = 200): Promise<ResponsePlan> {
    const file = await openRegularFile(realPath);
    if (file === null) return errorPlan(404);
    let handedOver = false;
    const companions: number[] = [];
    try {
      const contentType = contentTypeFor(fileName);
      const isHtml = contentType.startsWith('text/html');
      const wantsRange = status === 200 && request.method === 'GET' && request.fields.has('range') && !(isHtml && options.htmlSnippet);

      // Choose the representation. Ranges always get the identity body: byte offsets into a
      // compressed stream made on the fly would not be stable.
      const precompressed = compressionCache === null || wantsRange ? new Map<Coding, string>() : await findPrecompressed(realPath);
      const compressesOnTheFly =
        compressionCache !== null && !wantsRange && isCompressible(contentType) && file.stats.size >= MIN_COMPRESS_BYTES && file.stats.size <= MAX_COMPRESS_BYTES;
      const available: Coding[] = compressesOnTheFly ? ['br', 'gzip'] : [...precompressed.keys()];
      let coding = negotiateCoding(request.fields.get('accept-encoding'), available);
      const varies = available.length > 0 || (compressionCache !== null && isCompressible(contentType));

      let sibling: OpenFile | null = null;
      if (coding !== null && !compressesOnTheFly) {
        sibling = await openRegularFile(precompressed.get(coding)!);
        if (sibling === null) coding = null;
        else companions.push(sibling.fd);
      }
      const validatorSource = sibling ?? file;
      const validators = makeValidators(validatorSource.stats.mtimeMs, validatorSource.stats.size, coding ?? (options.htmlSnippet && isHtml ? 'live' : undefined));
      const fields: FieldLine[] = [
        ['Content-Type', contentType],
        ['Last-Modified', formatHttpDate(validators.lastModified)],
        ['ETag', validators.etag],
        ['Cache-Control', cacheControl],
      ];
      if (varies) fields.push(['Vary', 'Accept-Encoding']);

      if (status === 200) {
        const precondition = evaluatePreconditions(request.method, request.fields, validators, Date.now());
        // A 304 carries the fields a 200 would have that describe caching (RFC 9110 §15.4.5).
        if (precondition === 'not-modified') return { status: 304, fields: fields.filter(([name]) => name !== 'Content-Type'), body: EMPTY_BODY };
        if (precondition === 'precondition-failed') return errorPlan(412);
      }
      if (coding !== null) fields.push(['Content-Encoding', coding]);

      if (sibling !== null) {
        handedOver = true;
        companions.length = 0;
        await closeFile(file.fd);
        return { status, fields, body: await wholeFileBody(sibling) };
      }
      if (coding !== null) {
        const key = `${realPath}\0${file.stats.ino}\0${file.stats.size}\0${file.stats.mtimeMs}\0${file.stats.ctimeMs}\0${coding}`;
        const compressed = await compressionCache!.get(key, async () => compress(await readWhole(file.fd), coding));
        return { status, fields, body: { kind: 'bytes', bytes: compressed } };
      }
      if (isHtml && options.htmlSnippet) {
        const html = (await readWhole(file.fd)).toString('utf8');
        return { status, fields, body: { kind: 'bytes', bytes: Buffer.from(insertSnippet(html, options.htmlSnippet), 'utf8') } };
      }

      if (status === 200) fields.push(['Accept-Ranges', 'bytes']);
      const size = file.stats.size;
      const ranges = wantsRange && rangeStillApplies(request.fields, validators, Date.now()) ? decideRanges(request.fields.get('range'), size) : { kind: 'whole' as const };
      if (ranges.kind === 'unsatisfiable') return errorPlan(416, [['Content-Range', `bytes */${size}`]]);
      handedOver = true;
      if (ranges.kind === 'partial') return { status: 206, ...partialBody(file.fd, fields, contentType, ranges.ranges, size) };
      return { status, fields, body: await wholeFileBody(file) };
    } finally {
      if (!handedOver) await closeFile(file.fd);
      for (const fd of companions) await closeFile(fd);
    }
  }

  async function serveListing(segments: string[], realPath: string): Promise<ResponsePlan> {
    const names = await readdir(realPath);
    const entries: ListingEntry[] = [];
    for (const name of names) {
      if (!allowDotfiles && name.startsWith('.')) continue;
      try {
        const entryReal = await realpath(join(realPath, name));
        if (!isInsideRoot(entryReal)) continue; // never advertise what we would refuse to serve
        const stats = await stat(entryReal);
        entries.push({ name, isDirectory: stats.isDirectory(), size: stats.size, mtimeMs: stats.mtimeMs });
      } catch {
        // vanished or unreadable: leave it out
      }
    }
    let html = renderListing(segments, entries);
    if (options.htmlSnippet) html = insertSnippet(html, options.htmlSnippet);
    return {
      status: 200,
      fields: [
        ['Content-Type', 'text/html; charset=utf-8'],
        ['Cache-Control', 'no-cache'],
      ],
      body: { kind: 'bytes', bytes: Buffer.from(html, 'utf8') },
    };
  }

  async function serveNotFound(request: StaticRequest): Promise<ResponsePlan> {
    const accept = request.fields.get('accept') ?? '';
    if (options.spa && accept.includes('text/html')) {
      const index = await lookup([], true, '');
      if (index.kind === 'file') return serveFile(request, index.realPath, index.fileName);
    }
    // A 404.html in the root is the not-found page, sent with status 404.
    const page = await lookup(['404.html'], false, '');
    if (page.kind === 'file') return serveFile(request, page.realPath, page.fileName, 404);
    return errorPlan(404);
  }

  async function route(request: StaticRequest): Promise<ResponsePlan> {
    const { method } = request;
    if (method === 'OPTIONS') return answerOptions(request.fields, options.cors === true);
    if (method !== 'GET' && method !== 'HEAD') return errorPlan(KNOWN_METHODS.has(method) ? 405 : 501, [['Allow', ALLOW]]);
    const resolved = resolveTarget(request.target);
    if (resolved.kind === 'invalid') return errorPlan(resolved.status);
    if (resolved.kind === 'asterisk') return errorPlan(400);
    const { segments, trailingSlash, query } = resolved;
    if (!allowDotfiles && segments.some((segment) => segment.startsWith('.'))) return errorPlan(404);
    const found = await lookup(segments, trailingSlash, query);
    try {
      switch (found.kind) {
        case 'redirect':
          return { status: 301, fields: [['Location', found.location]], body: EMPTY_BODY };
        case 'directory':
          return options.listing === false ? serveNotFound(request) : await serveListing(segments, found.realPath);
        case 'file':
          return await serveFile(request, found.realPath, found.fileName);
        case 'missing':
          return found.status === 404 ? await serveNotFound(request) : errorPlan(found.status);
      }
    } catch (error) {
      return errorPlan(statusForFsError(error));
    }
  }

  return async function handleStatic(request: StaticRequest): Promise<ResponsePlan> {
    const plan = await route(request);
    if (extraFields.length > 0) plan.fields = [...plan.fields, ...extraFields];
    return plan;
  };
}

/** OPTIONS: the allowed methods, and with --cors the answer to a CORS preflight (Fetch standard). */
function answerOptions(fields: Fields, cors: boolean): ResponsePlan {
  const answer: FieldLine[] = [['Allow', ALLOW]];
  if (cors && fields.has('origin') && fields.has('access-control-request-method')) {
    answer.push(['Access-Control-Allow-Methods', ALLOW], ['Access-Control-Max-Age', '86400']);
    const requestedHeaders = fields.get('access-control-request-headers');
    if (requestedHeaders !== undefined) answer.push(['Access-Control-Allow-Headers', requestedHeaders]);
  }
  return { status: 204, fields: answer, body: EMPTY_BODY };
}

/** A whole file: read into memory when small (sent with the head in one write), streamed otherwise. */
async function wholeFileBody(file: OpenFile): Promise<ResponsePlan['body']> {
  const size = file.stats.size;
  if (size > SMALL_FILE_BYTES) return { kind: 'file', fd: file.fd, pieces: [{ start: 0, length: size }] };
  try {
    const bytes = Buffer.allocUnsafe(size);
    const { bytesRead } = await readAt(file.fd, bytes, 0, size, 0);
    return { kind: 'bytes', bytes: bytes.subarray(0, bytesRead) };
  } finally {
    await closeFile(file.fd);
  }
}

/** 206 Partial Content: one range with Content-Range, or several as multipart/byteranges (RFC 9110 §14.6). */
function partialBody(fd: number, fields: FieldLine[], contentType: string, ranges: ByteRange[], size: number): Pick<ResponsePlan, 'fields' | 'body'> {
  const region = (range: ByteRange) => ({ start: range.start, length: range.end - range.start + 1 });
  if (ranges.length === 1) {
    const [range] = ranges as [ByteRange];
    return { fields: [...fields, ['Content-Range', `bytes ${range.start}-${range.end}/${size}`]], body: { kind: 'file', fd, pieces: [region(range)] } };
  }
  const boundary = randomBytes(12).toString('hex');
  const pieces: FilePiece[] = [];
  ranges.forEach((range, index) => {
    const partHead = `${index === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${contentType}\r\nContent-Range: bytes ${range.start}-${range.end}/${size}\r\n\r\n`;
    pieces.push(Buffer.from(partHead, 'latin1'), region(range));
  });
  pieces.push(Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'));
  const partFields = fields.map(([name, value]): FieldLine => (name === 'Content-Type' ? [name, `multipart/byteranges; boundary=${boundary}`] : [name, value]));
  return { fields: partFields, body: { kind: 'file', fd, pieces } };
}

/** Puts `snippet` before the last </body>, or at the end of a page that has none. */
function insertSnippet(html: string, snippet: string): string {
  const bodyEnd = html.toLowerCase().lastIndexOf('</body>');
  return bodyEnd === -1 ? html + snippet : html.slice(0, bodyEnd) + snippet + html.slice(bodyEnd);
}
