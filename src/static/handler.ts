/**
 * Static file serving: from a request head to a ResponsePlan, in pillarjs/send's order.
 *
 *  1. method and target: OPTIONS, 405/501, the request path resolved without I/O (resolve.ts), the
 *     dotfile rule on the URL;
 *  2. locate (locate.ts): what the path names on disk, decided on an opened descriptor
 *     (file-access.ts: the real path must lie inside the root, pass no dotfile, and be no symlink
 *     under --symlinks deny);
 *  3. choose the representation (representations.ts): identity, a precompressed sibling, or
 *     compressed on the fly;
 *  4. preconditions against its validators (RFC 9110 §13.2.2), then ranges (§14);
 *  5. the body plan: bytes from memory, or a descriptor opened, verified again, and checked to be
 *     the very version whose validators were sent.
 *
 * Where the speed comes from, in one place: a request path seen before is recalled with one stat per
 * event-loop turn (file-index.ts: StatsOfThisTurn) instead of being resolved and opened again; the
 * description and representations of each version of a file are made once; small files and
 * compressed bodies are kept in memory (bounded caches keyed by real path and identity), so a hot
 * small file is answered synchronously with fields the socket layer can reuse. None of it can serve
 * a stale or foreign file: every cached entry is tied to an identity taken from a verified
 * descriptor, and every use checks the path still stats to that identity.
 */
import { randomBytes } from 'node:crypto';
import { close, fstat, read } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FieldLine, Fields } from '../core/fields.js';
import { type FilePiece, type ResponsePlan, EMPTY_BODY, errorPlan } from '../core/response-plan.js';
import { type Coding, MAX_COMPRESS_BYTES, compress, negotiateCoding } from './compression.js';
import { evaluatePreconditions, rangeStillApplies } from './conditional.js';
import { FileAccess, type SymlinkPolicy, identityOf, sameIdentity } from './file-access.js';
import { BufferCache } from './file-index.js';
import { statusForFsError } from './fs-errors.js';
import { type ListingEntry, renderListing } from './listing.js';
import { type Located, Locator } from './locate.js';
import { Descriptions, type FileDescription, type Source } from './representations.js';
import { type ByteRange, type RangeDecision, decideRanges } from './range.js';
import { resolveTarget } from './resolve.js';

export interface StaticOptions {
  /** The folder to serve. */
  root: string;
  /** Whether names starting with "." (.env, .git/) may be served. Default 'deny': they answer 404 and are not listed. */
  dotfiles?: 'allow' | 'deny';
  /**
   * Symlinks under the root: 'follow-inside' (default) serves a link whose target lies inside the
   * root; 'deny' serves no path that passes through a symlink (nginx's disable_symlinks on).
   */
  symlinks?: SymlinkPolicy;
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

/** Answers synchronously when it can (a hot file), with a promise when it must touch the disk. */
export type StaticHandler = (request: StaticRequest) => ResponsePlan | Promise<ResponsePlan>;

const ALLOW = 'GET, HEAD, OPTIONS';

/** Methods RFC 9110 §9 and RFC 5789 define: we know them and do not allow them (405). Others are unknown (501). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/**
 * Files up to this size are kept in memory and sent in the same write as the head: one packet for a
 * small page, which is also what a lab client doing a single read expects. Larger files stream.
 */
const SMALL_FILE_BYTES = 64 * 1024;
const CONTENT_CACHE_BYTES = 64 * 1024 * 1024;
const COMPRESSED_CACHE_BYTES = 32 * 1024 * 1024;
/**
 * Compressions on the fly running at once. Each takes a thread of libuv's pool (four by default,
 * shared with file reads) for up to a few hundred milliseconds on a large text file; a client asking
 * for many distinct large files must not take them all. Past the budget, the file is sent as it is.
 */
const CONCURRENT_COMPRESSIONS = Math.max(1, Math.min(2, availableParallelism() - 1));

// Raw descriptors, not FileHandle objects: a FileHandle closes its descriptor when it is garbage
// collected, which could happen while the socket layer is still streaming from it.
const closeFile = promisify(close);
const statFile = promisify(fstat);
const readAt = promisify(read);

const refusal = (code: string) => Object.assign(new Error(code), { code });

export async function createStaticHandler(options: StaticOptions): Promise<StaticHandler> {
  const rootReal = await realpath(options.root);
  if (!(await stat(rootReal)).isDirectory()) throw Object.assign(new Error(`${options.root} is not a directory`), { code: 'ENOTDIR' });
  const allowDotfiles = options.dotfiles === 'allow';
  const compression = options.compress !== false;
  const extraFields: FieldLine[] = [...(options.headers ?? []), ...(options.cors ? [['Access-Control-Allow-Origin', '*'] as const] : [])];

  const access = new FileAccess(rootReal, { allowDotfiles, symlinks: options.symlinks ?? 'follow-inside' });
  const locator = new Locator(access, options.indexFile ?? 'index.html');
  const descriptions = new Descriptions(access, locator, { compression, cacheControl: options.cacheControl ?? 'no-cache', extraFields });
  const contents = new BufferCache(CONTENT_CACHE_BYTES);
  const compressed = new BufferCache(COMPRESSED_CACHE_BYTES);
  let compressionsRunning = 0;

  /**
   * A descriptor open for reading on `source`, verified again as it is opened, and checked to be
   * the version whose validators were chosen. Throws ENOENT if it is gone or now refused, ESTALE if
   * it was replaced since (asking again will work).
   */
  function openSource(source: Source): number {
    const opened = access.open(source.realPath, true);
    if (opened.kind === 'failed') throw Object.assign(refusal('EIO'), { status: opened.status });
    if (opened.kind !== 'file' || opened.fd === null) throw refusal('ENOENT');
    if (!sameIdentity(source.identity, opened.identity)) {
      close(opened.fd, () => {});
      throw refusal('ESTALE');
    }
    return opened.fd;
  }

  /** The whole content of a small file, from memory when this version of it was read before. */
  function smallFileContent(source: Source, key: string): Buffer | Promise<Buffer> {
    const cached = contents.peek(key);
    if (cached !== undefined) return cached;
    let changedWhileRead = false;
    return contents
      .get(key, async () => {
        const fd = openSource(source);
        try {
          const buffer = Buffer.allocUnsafe(source.identity.size);
          const { bytesRead } = await readAt(fd, buffer, 0, source.identity.size, 0);
          // Written to while it was read: answer with what was read, but never keep it under this version.
          if (bytesRead !== source.identity.size || !sameIdentity(source.identity, identityOf(await statFile(fd)))) {
            changedWhileRead = true;
          }
          return buffer.subarray(0, bytesRead);
        } finally {
          await closeFile(fd);
        }
      })
      .then((bytes) => {
        if (changedWhileRead) contents.delete(key);
        return bytes;
      });
  }

  /** Whether a compression of `bodyKey` may start now: it is cached or under way, or the budget allows one more. */
  function mayCompress(bodyKey: string): boolean {
    return compressed.has(bodyKey) || compressionsRunning < CONCURRENT_COMPRESSIONS;
  }

  function compressOnce(description: FileDescription, bodyKey: string, coding: Coding): Promise<Buffer> {
    return compressed.get(bodyKey, async () => {
      compressionsRunning++;
      try {
        return await compress(await smallFileContent(description.source, description.contentKey), coding);
      } finally {
        compressionsRunning--;
      }
    });
  }

  /**
   * The plan for a file. A hot small file (its bytes in memory) is answered synchronously: no
   * promise, no microtask, on the path that most requests of a busy site take.
   */
  function serveFile(request: StaticRequest, found: Located & { kind: 'file' }, status = 200): ResponsePlan | Promise<ResponsePlan> {
    const description = descriptions.describe(found);
    const size = description.source.identity.size;
    // A live-reload page is read whole to insert the script; a huge one is sent as it is.
    const live = description.isHtml && options.htmlSnippet !== undefined && size <= MAX_COMPRESS_BYTES;
    const wantsRange = status === 200 && request.method === 'GET' && request.fields.has('range') && !live;

    // Choose the representation: a precompressed sibling first (made ahead, likely smaller), else
    // compression on the fly. Ranges always get the identity body: byte offsets into a compressed
    // stream made on the fly would not be stable. Live-reload pages are rewritten, so identity too.
    const available: Coding[] = wantsRange || live ? [] : description.compressesOnTheFly ? ['br', 'gzip'] : [...description.precompressed.keys()];
    let coding = negotiateCoding(request.fields.get('accept-encoding'), available);
    let source = description.source;
    if (coding !== null) {
      const sibling = descriptions.sibling(description, coding);
      if (sibling !== undefined) source = sibling;
      else if (!description.compressesOnTheFly) coding = null;
    }
    let { validators, fields, notModifiedFields, bodyKey } = descriptions.representation(description, coding ?? (live ? 'live' : 'identity'), source);
    if (coding !== null && source === description.source && !mayCompress(bodyKey)) {
      coding = null; // the budget of compressions is spent: the identity body costs nothing
      ({ validators, fields, notModifiedFields, bodyKey } = descriptions.representation(description, 'identity', source));
    }

    if (status === 200) {
      const precondition = evaluatePreconditions(request.method, request.fields, validators, Date.now());
      if (precondition === 'not-modified') return { status: 304, fields: notModifiedFields, body: EMPTY_BODY };
      if (precondition === 'precondition-failed') return withExtraFields(errorPlan(412));
    }
    const withBytes = (bytes: Buffer): ResponsePlan => ({ status, fields, body: { kind: 'bytes', bytes } });

    if (coding !== null && source === description.source) {
      const bytes = compressed.peek(bodyKey);
      if (bytes !== undefined) return withBytes(bytes);
      return compressOnce(description, bodyKey, coding).then(withBytes);
    }
    if (live) {
      const withSnippet = (page: Buffer) => withBytes(Buffer.from(insertSnippet(page.toString('utf8'), options.htmlSnippet!), 'utf8'));
      const page = smallFileContent(source, bodyKey);
      return Buffer.isBuffer(page) ? withSnippet(page) : page.then(withSnippet);
    }
    const sourceSize = source.identity.size;
    const ranges = wantsRange && rangeStillApplies(request.fields, validators, Date.now()) ? decideRanges(request.fields.get('range'), sourceSize) : { kind: 'whole' as const };
    if (ranges.kind === 'unsatisfiable') return withExtraFields(errorPlan(416, [['Content-Range', `bytes */${sourceSize}`]]));
    if (ranges.kind === 'whole' && sourceSize <= SMALL_FILE_BYTES) {
      const bytes = smallFileContent(source, bodyKey);
      return Buffer.isBuffer(bytes) ? withBytes(bytes) : bytes.then(withBytes);
    }
    return streamFile(source, status, fields, description.contentType, ranges);
  }

  /** A large file or ranges, streamed from a descriptor of its own that is the very version described. */
  function streamFile(
    source: Source,
    status: number,
    fields: FieldLine[],
    contentType: string,
    ranges: Exclude<RangeDecision, { kind: 'unsatisfiable' }>,
  ): ResponsePlan {
    let fd: number;
    try {
      fd = openSource(source);
    } catch (error) {
      // Replaced between the check and the open: try again.
      if ((error as NodeJS.ErrnoException).code === 'ESTALE') return withExtraFields(errorPlan(503, [['Retry-After', '1']]));
      throw error;
    }
    const size = source.identity.size;
    if (ranges.kind === 'partial') return { status: 206, ...partialBody(fd, fields, contentType, ranges.ranges, size) };
    return { status, fields, body: { kind: 'file', fd, pieces: [{ start: 0, length: size }] } };
  }

  /** A listing of the names read through the directory's verified descriptor, each entry verified before it is shown. */
  async function serveListing(found: Located & { kind: 'directory' }): Promise<ResponsePlan> {
    const directory = await access.readDirectory(found.requestedPath);
    if (directory === null) return withExtraFields(errorPlan(404));
    const entries: ListingEntry[] = [];
    for (const name of directory.names) {
      if (!allowDotfiles && name.startsWith('.')) continue;
      // Never advertise what would be refused: outside the root, a dotfile by its real path, a FIFO.
      const entry = access.open(join(directory.realPath, name), false);
      if (entry.kind === 'file' || entry.kind === 'directory') {
        entries.push({ name, isDirectory: entry.kind === 'directory', size: entry.identity.size, mtimeMs: entry.identity.mtimeMs });
      }
    }
    let html = renderListing(found.segments, entries);
    if (options.htmlSnippet) html = insertSnippet(html, options.htmlSnippet);
    return {
      status: 200,
      fields: [['Content-Type', 'text/html; charset=utf-8'], ['Cache-Control', 'no-cache'], ...extraFields],
      body: { kind: 'bytes', bytes: Buffer.from(html, 'utf8') },
    };
  }

  function locatePath(rawPath: string, segments: string[], trailingSlash: boolean): Located {
    return locator.recall(rawPath) ?? locator.locate(rawPath, segments, trailingSlash, '');
  }

  function serveNotFound(request: StaticRequest): ResponsePlan | Promise<ResponsePlan> {
    const accept = request.fields.get('accept') ?? '';
    if (options.spa && accept.includes('text/html')) {
      const index = locatePath('/', [], true);
      if (index.kind === 'file') return serveFile(request, index);
    }
    // A 404.html in the root is the not-found page, sent with status 404.
    const page = locatePath('/404.html', ['404.html'], false);
    if (page.kind === 'file') return serveFile(request, page, 404);
    return withExtraFields(errorPlan(404));
  }

  function withExtraFields(plan: ResponsePlan): ResponsePlan {
    return extraFields.length === 0 ? plan : { ...plan, fields: [...plan.fields, ...extraFields] };
  }

  const planForFsError = (error: unknown) => {
    const status = (error as { status?: number }).status ?? statusForFsError(error);
    return withExtraFields(errorPlan(status));
  };

  /** A plan, synchronously when everything it needs is known (see serveFile), else a promise of one. */
  function route(request: StaticRequest): ResponsePlan | Promise<ResponsePlan> {
    let answer: ResponsePlan | Promise<ResponsePlan>;
    try {
      answer = routeOrThrow(request);
    } catch (error) {
      return planForFsError(error);
    }
    return answer instanceof Promise ? answer.catch(planForFsError) : answer;
  }

  function routeOrThrow(request: StaticRequest): ResponsePlan | Promise<ResponsePlan> {
    const { method } = request;
    if (method === 'OPTIONS') return withExtraFields(answerOptions(request.fields, options.cors === true));
    if (method !== 'GET' && method !== 'HEAD') return withExtraFields(errorPlan(KNOWN_METHODS.has(method) ? 405 : 501, [['Allow', ALLOW]]));
    const queryStart = request.target.indexOf('?');
    const rawPath = queryStart === -1 ? request.target : request.target.slice(0, queryStart);
    let found = locator.recall(rawPath);
    if (found === null) {
      const resolved = resolveTarget(request.target);
      if (resolved.kind === 'invalid') return withExtraFields(errorPlan(resolved.status));
      if (resolved.kind === 'asterisk') return withExtraFields(errorPlan(400));
      const { segments } = resolved;
      if (!allowDotfiles && segments.some((segment) => segment.startsWith('.'))) return withExtraFields(errorPlan(404));
      found = locator.locate(rawPath, segments, resolved.trailingSlash, resolved.query);
    }
    switch (found.kind) {
      case 'redirect':
        return withExtraFields({ status: 301, fields: [['Location', found.location]], body: EMPTY_BODY });
      case 'directory':
        return options.listing === false ? serveNotFound(request) : serveListing(found);
      case 'file':
        return serveFile(request, found);
      case 'missing':
        return found.status === 404 ? serveNotFound(request) : withExtraFields(errorPlan(found.status));
    }
  }

  return route;
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
