/**
 * Static file serving: from a request head to a ResponsePlan.
 *
 * The order of checks follows the classic one (pillarjs/send): method, target, dotfiles, then the
 * filesystem, where the real path (symlinks resolved) must lie inside the real root. Then, for a
 * file: choose the representation (identity, a precompressed sibling, or compressed on the fly),
 * evaluate preconditions against its validators (RFC 9110 §13.2.2), then ranges (§14).
 *
 * Hot path: a request path seen before is answered from the file index (file-index.ts) after one
 * stat that proves the file is still the one the entry describes; small files come from memory with
 * their fields ready, so the socket layer can reuse their serialized form. A cold path takes the full
 * walk (realpath, containment, stat). Large files and ranges are streamed from a descriptor opened
 * for the request and checked against the same identity, so what is sent is what was checked.
 */
import { randomBytes } from 'node:crypto';
import { type Stats, close, fstat, open, read, realpathSync, statSync } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { promisify } from 'node:util';
import type { FieldLine, Fields } from '../core/fields.js';
import { formatHttpDate } from '../core/http-date.js';
import { type FilePiece, type ResponsePlan, EMPTY_BODY, errorPlan } from '../core/response-plan.js';
import { type Coding, MAX_COMPRESS_BYTES, MIN_COMPRESS_BYTES, compress, isCompressible, negotiateCoding } from './compression.js';
import { type Validators, evaluatePreconditions, makeValidators, rangeStillApplies } from './conditional.js';
import { BoundedMap, BufferCache, type FileIdentity, StatsOfThisTurn, identityKey, identityOf, sameIdentity } from './file-index.js';
import { statusForFsError } from './fs-errors.js';
import { type ListingEntry, renderListing } from './listing.js';
import { contentTypeFor } from './mime.js';
import { type ByteRange, type RangeDecision, decideRanges } from './range.js';
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
const PATH_CACHE_ENTRIES = 10_000;
const NO_THROW = { throwIfNoEntry: false } as const;

// Raw descriptors, not FileHandle objects: a FileHandle closes its descriptor when it is garbage
// collected, which could happen while the socket layer is still streaming from it.
const openFile = promisify(open);
const statFile = promisify(fstat);
const closeFile = promisify(close);
const readAt = promisify(read);

/** What a request path names on disk, with the stats that were checked. */
type Lookup =
  /** `requestedPath`: the path as the request named it (symlinks not resolved), `realPath`: the file itself. */
  | { kind: 'file'; requestedPath: string; realPath: string; fileName: string; stats: Stats; description?: FileDescription }
  | { kind: 'directory'; requestedPath: string; realPath: string; segments: string[] }
  | { kind: 'redirect'; location: string }
  /** `requestedPath` when the path was found absent (not refused): a later request checks it is still absent. */
  | { kind: 'missing'; status: number; requestedPath?: string };

/**
 * A remembered lookup. Its requested path is stat'ed again (following symlinks, so a link pointed
 * elsewhere leads to another identity) and must still have `identity`, or still be absent (null).
 */
type KnownPath =
  | { identity: FileIdentity; found: Lookup & { kind: 'file' | 'directory' } }
  | { identity: null; found: Lookup & { kind: 'missing'; requestedPath: string } };

/** The validators and ready fields of one representation, and the cache key of its bytes. */
interface Representation {
  validators: Validators;
  fields: FieldLine[];
  notModifiedFields: FieldLine[];
  bodyKey: string;
}

/** What is known of one version of a file: everything about its responses that does not depend on the request. */
interface FileDescription {
  identity: FileIdentity;
  /** The key of this version's bytes in the content cache. */
  contentKey: string;
  contentType: string;
  isHtml: boolean;
  compressesOnTheFly: boolean;
  /** Siblings such as app.js.br, by coding, found when the description was made. */
  precompressed: Map<Coding, string>;
  varies: boolean;
  /** By representation: 'identity', 'br', 'gzip', 'live', or a precompressed sibling's coding and identity. */
  representations: Map<string, Representation>;
}

export async function createStaticHandler(options: StaticOptions): Promise<StaticHandler> {
  const rootReal = await realpath(options.root);
  if (!(await stat(rootReal)).isDirectory()) throw Object.assign(new Error(`${options.root} is not a directory`), { code: 'ENOTDIR' });
  const allowDotfiles = options.dotfiles === 'allow';
  const indexFile = options.indexFile ?? 'index.html';
  const cacheControl = options.cacheControl ?? 'no-cache';
  const compression = options.compress !== false;
  const extraFields: FieldLine[] = [...(options.headers ?? []), ...(options.cors ? [['Access-Control-Allow-Origin', '*'] as const] : [])];
  const rootPrefix = rootReal.endsWith(sep) ? rootReal : rootReal + sep;
  const isInsideRoot = (realPath: string) => realPath === rootReal || realPath.startsWith(rootPrefix);

  const knownPaths = new BoundedMap<string, KnownPath>(PATH_CACHE_ENTRIES);
  const checkedStats = new StatsOfThisTurn();
  const descriptions = new BoundedMap<string, FileDescription>(PATH_CACHE_ENTRIES);
  const contents = new BufferCache(CONTENT_CACHE_BYTES);
  const compressed = new BufferCache(COMPRESSED_CACHE_BYTES);

  /**
   * The full walk for a path not known yet. It uses synchronous calls, as nginx does: on a local
   * disk a realpath and a stat take microseconds, less than the thread-pool round trips of their
   * asynchronous forms, and a missing file (the 404 path) costs no more than a found one.
   */
  function lookup(segments: string[], trailingSlash: boolean, query: string): Lookup {
    try {
      const requestedPath = join(rootReal, ...segments);
      // A missing file is the common failure: find it without the cost of a thrown error.
      if (statSync(requestedPath, NO_THROW) === undefined) return { kind: 'missing', status: 404, requestedPath };
      const realPath = realpathSync.native(requestedPath);
      if (!isInsideRoot(realPath)) return { kind: 'missing', status: 404 }; // a symlink that leads out of the root
      const stats = statSync(realPath);
      if (!stats.isDirectory()) {
        // "file.html/" names a directory that does not exist
        return trailingSlash ? { kind: 'missing', status: 404 } : { kind: 'file', requestedPath, realPath, fileName: segments[segments.length - 1] ?? '', stats };
      }
      // Relative links in an index page only work from the slashed URL. The Location is built from
      // the normalized segments, so it always starts with exactly one "/" and can never name another
      // host (as "//evil.example/" would).
      if (!trailingSlash) return { kind: 'redirect', location: encodePath(segments, true) + query };
      if (statSync(join(realPath, indexFile), NO_THROW)?.isFile()) {
        const indexReal = realpathSync.native(join(realPath, indexFile));
        const indexStats = statSync(indexReal);
        if (isInsideRoot(indexReal) && indexStats.isFile()) {
          return { kind: 'file', requestedPath: join(requestedPath, indexFile), realPath: indexReal, fileName: indexFile, stats: indexStats };
        }
      }
      return { kind: 'directory', requestedPath, realPath, segments };
    } catch (error) {
      return { kind: 'missing', status: statusForFsError(error) };
    }
  }

  /**
   * The lookup of a request path seen before, if its file is unchanged; null otherwise. The key is
   * the raw path, so a hit also skips percent-decoding and the dotfile check, which gave the same
   * answer when the entry was made.
   */
  function recall(rawPath: string): Lookup | null {
    const known = knownPaths.get(rawPath);
    if (known === undefined) return null;
    const stats = checkedStats.of(known.found.requestedPath);
    const unchanged = known.identity === null ? stats === undefined : stats !== undefined && sameIdentity(known.identity, stats);
    if (!unchanged) {
      knownPaths.delete(rawPath);
      return null;
    }
    // Same identity: the stats kept in the entry are as good as the fresh ones.
    return known.found;
  }

  function remember(rawPath: string, found: Lookup): void {
    if (found.kind === 'file') knownPaths.set(rawPath, { identity: identityOf(found.stats), found });
    if (found.kind === 'directory') knownPaths.set(rawPath, { identity: identityOf(statSync(found.requestedPath)), found });
    if (found.kind === 'missing' && found.requestedPath !== undefined) {
      knownPaths.set(rawPath, { identity: null, found: { ...found, requestedPath: found.requestedPath } });
    }
  }

  function lookupPath(rawPath: string, segments: string[], trailingSlash: boolean): Lookup {
    const known = recall(rawPath);
    if (known !== null) return known;
    const found = lookup(segments, trailingSlash, '');
    remember(rawPath, found);
    return found;
  }

  async function openRegularFile(realPath: string): Promise<{ fd: number; stats: Stats } | null> {
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
  function findPrecompressed(realPath: string): Map<Coding, string> {
    const found = new Map<Coding, string>();
    for (const [coding, suffix] of [['br', '.br'], ['gzip', '.gz']] as const) {
      try {
        const siblingReal = realpathSync.native(realPath + suffix);
        if (isInsideRoot(siblingReal) && statSync(siblingReal).isFile()) found.set(coding, siblingReal);
      } catch {
        // no such sibling
      }
    }
    return found;
  }

  /** The description of a found file, kept on the lookup itself for the next request that recalls it. */
  function describe(found: Lookup & { kind: 'file' }): FileDescription {
    if (found.description !== undefined) return found.description;
    const { realPath, stats } = found;
    const key = `${realPath}\0${found.fileName}`;
    let description = descriptions.get(key);
    if (description === undefined || !sameIdentity(description.identity, stats)) {
      const contentType = contentTypeFor(found.fileName);
      const compressible = compression && isCompressible(contentType);
      const precompressed = compression ? findPrecompressed(realPath) : new Map<Coding, string>();
      description = {
        identity: identityOf(stats),
        contentKey: contentKeyOf(realPath, stats),
        contentType,
        isHtml: contentType.startsWith('text/html'),
        compressesOnTheFly: compressible && stats.size >= MIN_COMPRESS_BYTES && stats.size <= MAX_COMPRESS_BYTES,
        precompressed,
        varies: compressible || precompressed.size > 0,
        representations: new Map(),
      };
      descriptions.set(key, description);
    }
    found.description = description;
    return description;
  }

  /**
   * The validators and fields of one representation. `source` is the file whose bytes are sent: the
   * described file itself, or a precompressed sibling with its own path, times and size.
   */
  function representation(description: FileDescription, name: string, source: { path: string; stats: Stats }, isSibling: boolean): Representation {
    const key = isSibling ? `${name}\0${contentKeyOf(source.path, source.stats)}` : name;
    let known = description.representations.get(key);
    if (known === undefined) {
      const validators = makeValidators(source.stats.mtimeMs, source.stats.size, name === 'identity' ? undefined : name);
      const cachingFields: FieldLine[] = [
        ['Last-Modified', formatHttpDate(validators.lastModified)],
        ['ETag', validators.etag],
        ['Cache-Control', cacheControl],
        ...(description.varies ? [['Vary', 'Accept-Encoding'] as const] : []),
      ];
      const fields: FieldLine[] = [['Content-Type', description.contentType], ...cachingFields];
      if (name === 'br' || name === 'gzip') fields.push(['Content-Encoding', name]);
      if (name === 'identity') fields.push(['Accept-Ranges', 'bytes']);
      fields.push(...extraFields);
      const bodyKey = isSibling ? contentKeyOf(source.path, source.stats) : name === 'br' || name === 'gzip' ? `${description.contentKey}\0${name}` : description.contentKey;
      // A 304 carries the fields a 200 would have that describe caching (RFC 9110 §15.4.5).
      known = { validators, fields, notModifiedFields: [...cachingFields, ...extraFields], bodyKey };
      description.representations.set(key, known);
    }
    return known;
  }

  /** The whole content of a small file, from memory when this version of it was read before. */
  function smallFileContent(realPath: string, stats: Stats, key: string): Buffer | Promise<Buffer> {
    const cached = contents.peek(key);
    if (cached !== undefined) return cached;
    return contents
      .get(key, async () => {
        const file = await openRegularFile(realPath);
        if (file === null) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
        try {
          // Replaced since it was checked: what would be read is not the file described.
          if (!sameIdentity(identityOf(stats), file.stats)) throw Object.assign(new Error('replaced'), { code: 'ESTALE' });
          const buffer = Buffer.allocUnsafe(file.stats.size);
          const { bytesRead } = await readAt(file.fd, buffer, 0, file.stats.size, 0);
          return buffer.subarray(0, bytesRead);
        } finally {
          await closeFile(file.fd);
        }
      })
      .then((bytes) => {
        // Changed while it was read: answer with what was read, but do not keep it.
        if (bytes.length !== stats.size) contents.delete(key);
        return bytes;
      });
  }

  /**
   * The plan for a file. A hot small file (its bytes in memory) is answered synchronously: no
   * promise, no microtask, on the path that most requests of a busy site take.
   */
  function serveFile(request: StaticRequest, found: Lookup & { kind: 'file' }, status = 200): ResponsePlan | Promise<ResponsePlan> {
    const { realPath, stats } = found;
    const description = describe(found);
    // A live-reload page is read whole to insert the script; a huge one is sent as it is.
    const live = description.isHtml && options.htmlSnippet !== undefined && stats.size <= MAX_COMPRESS_BYTES;
    const wantsRange = status === 200 && request.method === 'GET' && request.fields.has('range') && !live;

    // Choose the representation: a precompressed sibling first (made ahead, likely smaller), else
    // compression on the fly. Ranges always get the identity body: byte offsets into a compressed
    // stream made on the fly would not be stable. Live-reload pages are rewritten, so identity too.
    const available: Coding[] = wantsRange || live ? [] : description.compressesOnTheFly ? ['br', 'gzip'] : [...description.precompressed.keys()];
    let coding = negotiateCoding(request.fields.get('accept-encoding'), available);
    let source: { path: string; stats: Stats } = { path: realPath, stats };
    let compressOnTheFly = coding !== null && description.compressesOnTheFly;
    const siblingPath = coding === null ? undefined : description.precompressed.get(coding);
    if (siblingPath !== undefined) {
      const siblingStats = checkedStats.of(siblingPath);
      if (siblingStats?.isFile()) {
        source = { path: siblingPath, stats: siblingStats };
        compressOnTheFly = false;
      }
    }
    const isSibling = source.path !== realPath;
    if (!isSibling && !compressOnTheFly) coding = null;
    const { validators, fields, notModifiedFields, bodyKey } = representation(description, coding ?? (live ? 'live' : 'identity'), source, isSibling);

    if (status === 200) {
      const precondition = evaluatePreconditions(request.method, request.fields, validators, Date.now());
      if (precondition === 'not-modified') return { status: 304, fields: notModifiedFields, body: EMPTY_BODY };
      if (precondition === 'precondition-failed') return withExtraFields(errorPlan(412));
    }
    const withBytes = (bytes: Buffer): ResponsePlan => ({ status, fields, body: { kind: 'bytes', bytes } });

    if (coding !== null && compressOnTheFly) {
      const bytes = compressed.peek(bodyKey);
      if (bytes !== undefined) return withBytes(bytes);
      return compressed.get(bodyKey, async () => compress(await smallFileContent(realPath, stats, description.contentKey), coding!)).then(withBytes);
    }
    if (live) {
      const withSnippet = (page: Buffer) => withBytes(Buffer.from(insertSnippet(page.toString('utf8'), options.htmlSnippet!), 'utf8'));
      const page = smallFileContent(realPath, stats, bodyKey);
      return Buffer.isBuffer(page) ? withSnippet(page) : page.then(withSnippet);
    }
    const size = source.stats.size;
    const ranges = wantsRange && rangeStillApplies(request.fields, validators, Date.now()) ? decideRanges(request.fields.get('range'), size) : { kind: 'whole' as const };
    if (ranges.kind === 'unsatisfiable') return withExtraFields(errorPlan(416, [['Content-Range', `bytes */${size}`]]));
    if (ranges.kind === 'whole' && size <= SMALL_FILE_BYTES) {
      const bytes = smallFileContent(source.path, source.stats, bodyKey);
      return Buffer.isBuffer(bytes) ? withBytes(bytes) : bytes.then(withBytes);
    }
    return streamFile(source, status, fields, description.contentType, ranges);
  }

  /** A large file or ranges, streamed from a descriptor of its own; the file must still be the one described. */
  async function streamFile(
    source: { path: string; stats: Stats },
    status: number,
    fields: FieldLine[],
    contentType: string,
    ranges: Exclude<RangeDecision, { kind: 'unsatisfiable' }>,
  ): Promise<ResponsePlan> {
    const file = await openRegularFile(source.path);
    if (file === null) return withExtraFields(errorPlan(404));
    if (!sameIdentity(identityOf(source.stats), file.stats)) {
      await closeFile(file.fd);
      return withExtraFields(errorPlan(503, [['Retry-After', '1']])); // replaced between the stat and the open: try again
    }
    const size = source.stats.size;
    if (ranges.kind === 'partial') return { status: 206, ...partialBody(file.fd, fields, contentType, ranges.ranges, size) };
    return { status, fields, body: { kind: 'file', fd: file.fd, pieces: [{ start: 0, length: size }] } };
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
      fields: [['Content-Type', 'text/html; charset=utf-8'], ['Cache-Control', 'no-cache'], ...extraFields],
      body: { kind: 'bytes', bytes: Buffer.from(html, 'utf8') },
    };
  }

  function serveNotFound(request: StaticRequest): ResponsePlan | Promise<ResponsePlan> {
    const accept = request.fields.get('accept') ?? '';
    if (options.spa && accept.includes('text/html')) {
      const index = lookupPath('/', [], true);
      if (index.kind === 'file') return serveFile(request, index);
    }
    // A 404.html in the root is the not-found page, sent with status 404.
    const page = lookupPath('/404.html', ['404.html'], false);
    if (page.kind === 'file') return serveFile(request, page, 404);
    return withExtraFields(errorPlan(404));
  }

  function withExtraFields(plan: ResponsePlan): ResponsePlan {
    return extraFields.length === 0 ? plan : { ...plan, fields: [...plan.fields, ...extraFields] };
  }

  const planForFsError = (error: unknown) => withExtraFields(errorPlan(statusForFsError(error)));

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
    let found = recall(rawPath);
    if (found === null) {
      const resolved = resolveTarget(request.target);
      if (resolved.kind === 'invalid') return withExtraFields(errorPlan(resolved.status));
      if (resolved.kind === 'asterisk') return withExtraFields(errorPlan(400));
      const { segments } = resolved;
      if (!allowDotfiles && segments.some((segment) => segment.startsWith('.'))) return withExtraFields(errorPlan(404));
      found = lookup(segments, resolved.trailingSlash, resolved.query);
      remember(rawPath, found);
    }
    switch (found.kind) {
      case 'redirect':
        return withExtraFields({ status: 301, fields: [['Location', found.location]], body: EMPTY_BODY });
      case 'directory':
        return options.listing === false ? serveNotFound(request) : serveListing(found.segments, found.realPath);
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

/** The key of one version of a file's bytes in a cache: its path and identity. */
function contentKeyOf(path: string, stats: Stats): string {
  return `${path}\0${identityKey(identityOf(stats))}`;
}

/** Puts `snippet` before the last </body>, or at the end of a page that has none. */
function insertSnippet(html: string, snippet: string): string {
  const bodyEnd = html.toLowerCase().lastIndexOf('</body>');
  return bodyEnd === -1 ? html + snippet : html.slice(0, bodyEnd) + snippet + html.slice(bodyEnd);
}
