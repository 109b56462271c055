/**
 * Static file serving: from a request head to a ResponsePlan, in pillarjs/send's order.
 *
 *  0. Basic authentication when configured (site/auth.ts); a folder archive under --archives;
 *     serve.json's redirects and rewrites (site/rules.ts), decided once per raw path;
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
 * Nothing at the path: a clean URL (x → x.html), the SPA shell for a navigation, 404.html, or the
 * server's own 404 page (pages.ts). Every field configured (serve.json headers, --header, --cors,
 * --isolation) replaces the server's field of the same name, in fields made once per representation.
 *
 * Where the speed comes from, in one place: a request path seen before is recalled with one stat per
 * event-loop turn (file-access.ts: StatsOfThisTurn) instead of being resolved and opened again; the
 * description and representations of each version of a file are made once; small files, hot
 * mid-size files (hot-files.ts) and compressed bodies are kept in memory (file-bodies.ts: bounded caches keyed by
 * real path and identity), so a hot
 * small file is answered synchronously with fields the socket layer can reuse. None of it can serve
 * a stale or foreign file: every cached entry is tied to an identity taken from a verified
 * descriptor, and every use checks the path still stats to that identity.
 */
import { extname, join } from 'node:path';
import { BoundedMap } from '../core/bounded-map.js';
import type { FieldLine } from '../core/fields.js';
import { type ResponsePlan, EMPTY_BODY, prepareResponse } from '../core/response-plan.js';
import { BasicAuth } from '../site/auth.js';
import { prepareRandomBytes } from '../site/crypto.js';
import { type RouteDecision, replaceFields } from '../site/rules.js';
import type { ArchiveFormat } from './archive.js';
import { type Coding, MAX_COMPRESS_BYTES, negotiateCoding } from './compression.js';
import { evaluatePreconditions, rangeStillApplies } from './conditional.js';
import { FileAccess, type Source } from './file-access.js';
import { FileBodies } from './file-bodies.js';
import { ContentTags } from './content-tags.js';
import { statusForFsError } from './fs-errors.js';
import { type ListingEntry, renderListing, renderListingJson } from './listing.js';
import { type Located, Locator } from './locate.js';
import { errorPageHtml, pageFields } from './pages.js';
import { ALLOW, answerOptions, insertSnippet, partialBody, preparedAnswer, spaFields } from './plans.js';
import { Descriptions } from './representations.js';
import { type RangeDecision, decideRanges } from './range.js';
import { encodePath, resolveTarget } from './resolve.js';

export type { StaticHandler, StaticOptions, StaticRequest } from './options.js';
import type { StaticHandler, StaticOptions, StaticRequest } from './options.js';

/** Methods RFC 9110 §9 and RFC 5789 define: we know them and do not allow them (405). Others are unknown (501). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/**
 * Files up to this size are kept in memory and sent in the same write as the head: one packet for a
 * small page, which is also what a lab client doing a single read expects. Larger files stream.
 */
const SMALL_FILE_BYTES = 64 * 1024;
/** The codings a file may be sent in, shared rather than made for every request. */
const NO_CODINGS: readonly Coding[] = Object.freeze([]);
const ON_THE_FLY_CODINGS: readonly Coding[] = Object.freeze(['br', 'gzip']);

/** Archives written at once; more are answered 503. Each holds one file open and some CPU for gzip. */
const CONCURRENT_ARCHIVES = 2;
/** Routing decisions of serve.json rules remembered by raw path (they depend on the path alone). */
const REMEMBERED_ROUTES = 10_000;
const LONGEST_REMEMBERED_ROUTE = 1024;

/** What serve.json's rules decided for one raw path, with what the handler needs to act on it. */
type Route = RouteDecision & { hasExtension: boolean };

/** Whether the last segment of a raw path has a file extension ("app.js", not "about" nor "v1."). */
function lastSegmentHasExtension(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return extname(name) !== '';
}

export async function createStaticHandler(options: StaticOptions): Promise<StaticHandler> {
  const allowDotfiles = options.dotfiles === 'allow';
  const compression = options.compress !== false;
  const extraFields: FieldLine[] = [
    ...(options.cors ? [['Access-Control-Allow-Origin', '*'] as const] : []),
    ...(options.isolation
      ? [
          ['Cross-Origin-Opener-Policy', 'same-origin'] as const,
          ['Cross-Origin-Embedder-Policy', 'require-corp'] as const,
          ['Cross-Origin-Resource-Policy', 'same-origin'] as const,
        ]
      : []),
    ...(options.headers ?? []),
  ];
  const site = options.site;
  const cleanUrls = options.cleanUrls !== false;
  const spaFile = options.spa === true ? 'index.html' : typeof options.spa === 'string' && options.spa !== '' ? options.spa : null;
  const spaSegments = spaFile?.split('/').filter((segment) => segment !== '' && segment !== '.') ?? [];
  const auth = options.auth === undefined ? null : options.auth instanceof BasicAuth ? options.auth : new BasicAuth(options.auth);

  // Multi-range answers draw their boundaries from it, on any request: opened now (see site/crypto.ts).
  prepareRandomBytes();
  const access = FileAccess.forRoot(options.root, {
    allowDotfiles,
    symlinks: options.symlinks ?? 'follow-inside',
    hidden: options.hiddenFiles ?? [],
  });
  const locator = new Locator(access, options.indexFile ?? 'index.html', site?.trailingSlash !== false);
  const contentTags = options.etag === 'content' ? new ContentTags(access) : null;
  const descriptions = new Descriptions(access, locator, {
    ...(contentTags && { contentTags }),
    compression,
    cacheControl: options.cacheControl ?? 'no-cache',
    extraFields,
    ...(site?.hasHeaderRules && { fieldsForPath: (path: string) => site.fieldsFor(path) }),
    ...(options.etag === false && { etag: false }),
  });
  const routes = new BoundedMap<string, Route>(REMEMBERED_ROUTES);
  // Archive libraries are loaded only by a server that offers archives.
  const archiver = options.archives ? await import('./archive.js') : null;
  let archivesRunning = 0;
  /** The fields of pages the server writes (errors, listings): no sniffing, a strict CSP, then --header. */
  const ownPageFields = pageFields(options.htmlSnippet !== undefined);
  const errorPlans = new Map<number, ResponsePlan>();
  const bodies = new FileBodies(access, options.onCacheLookup);
  /**
   * The plan for a file. A hot small file (its bytes in memory) is answered synchronously: no
   * promise, no microtask, on the path that most requests of a busy site take.
   */
  function serveFile(
    request: StaticRequest,
    found: Located & { kind: 'file' },
    status = 200,
    spaFallback = false,
    tagRetried = false,
  ): ResponsePlan | Promise<ResponsePlan> {
    const description = descriptions.describe(found);
    const size = description.source.identity.size;
    // A live-reload page is read whole to insert the script; a huge one is sent as it is.
    const live = description.isHtml && options.htmlSnippet !== undefined && size <= MAX_COMPRESS_BYTES;
    const wantsRange = status === 200 && request.method === 'GET' && request.fields.has('range') && !live;

    // Choose the representation: a precompressed sibling first (made ahead, likely smaller), else
    // compression on the fly. Ranges always get the identity body: byte offsets into a compressed
    // stream made on the fly would not be stable. Live-reload pages are rewritten, so identity too.
    const available: readonly Coding[] =
      wantsRange || live || (!description.compressesOnTheFly && description.precompressed.size === 0)
        ? NO_CODINGS
        : description.compressesOnTheFly
          ? ON_THE_FLY_CODINGS
          : [...description.precompressed.keys()];
    let coding = negotiateCoding(request.fields.get('accept-encoding'), available);
    let source = description.source;
    if (coding !== null) {
      const sibling = descriptions.sibling(description, coding);
      if (sibling !== undefined) source = sibling;
      else if (!description.compressesOnTheFly) coding = null;
    }
    if (contentTags !== null && contentTags.peek(source) === undefined) {
      // --etag content: the first request for this version hashes its bytes, then is answered as
      // the next ones will be. A file that keeps changing while it is hashed gets a 503 to retry.
      if (tagRetried) return errorAnswer(503, [['Retry-After', '1']]);
      return contentTags.compute(source).then(() => serveFile(request, found, status, spaFallback, true));
    }
    let chosen = descriptions.representation(description, coding ?? (live ? 'live' : 'identity'), source);
    if (coding !== null && source === description.source && !bodies.mayCompress(chosen.bodyKey)) {
      coding = null; // the budget of compressions is spent: the identity body costs nothing
      chosen = descriptions.representation(description, 'identity', source);
    }
    const { validators, bodyKey } = chosen;
    let { fields, notModifiedFields } = chosen;
    if (spaFallback) {
      // The shell answers many URLs and changes with every deployment: always revalidated. It was
      // chosen by Accept, so a shared cache must not give it to a request that does not accept HTML.
      fields = spaFields(fields);
      notModifiedFields = spaFields(notModifiedFields);
    }

    if (status === 200) {
      const precondition = evaluatePreconditions(request.method, request.fields, validators, Date.now);
      if (precondition === 'not-modified') {
        if (spaFallback) return { status: 304, fields: notModifiedFields, body: EMPTY_BODY };
        chosen.notModified ??= prepareResponse(304, notModifiedFields, EMPTY_BODY);
        return chosen.notModified;
      }
      if (precondition === 'precondition-failed') return errorAnswer(412);
    }
    // A file's answer is prepared once per version and reused (the SPA shell's fields are made per request).
    const withBytes = (bytes: Buffer): ResponsePlan =>
      spaFallback ? { status, fields, body: { kind: 'bytes', bytes } } : preparedAnswer(chosen, status, bytes);

    if (coding !== null && source === description.source) {
      const bytes = bodies.compressed(bodyKey);
      if (bytes !== undefined) return withBytes(bytes);
      return bodies.compressOnce(description, bodyKey, coding).then(withBytes);
    }
    if (live) {
      // A new page each time: an ordinary plan, not a prepared one.
      const withSnippet = (page: Buffer): ResponsePlan => ({
        status,
        fields,
        body: { kind: 'bytes', bytes: Buffer.from(insertSnippet(page.toString('utf8'), options.htmlSnippet!), 'utf8') },
      });
      const page = bodies.smallFileContent(source, bodyKey);
      return Buffer.isBuffer(page) ? withSnippet(page) : page.then(withSnippet);
    }
    const sourceSize = source.identity.size;
    const ranges =
      wantsRange && rangeStillApplies(request.fields, validators, Date.now)
        ? decideRanges(request.fields.get('range'), sourceSize)
        : { kind: 'whole' as const };
    if (ranges.kind === 'unsatisfiable') return errorAnswer(416, [['Content-Range', `bytes */${sourceSize}`]]);
    if (ranges.kind === 'whole' && sourceSize <= SMALL_FILE_BYTES) {
      const bytes = bodies.smallFileContent(source, bodyKey);
      return Buffer.isBuffer(bytes) ? withBytes(bytes) : bytes.then(withBytes);
    }
    const hot = ranges.kind === 'whole' ? bodies.hot(source, bodyKey) : undefined;
    if (hot !== undefined) return withBytes(hot);
    // Each part of multipart/byteranges says the type the whole would have had (a configured one included).
    const partType =
      ranges.kind === 'partial'
        ? (fields.find(([name]) => name.toLowerCase() === 'content-type')?.[1] ?? description.contentType)
        : description.contentType;
    return streamFile(source, status, fields, partType, ranges);
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
      fd = access.openSource(source);
    } catch (error) {
      // Replaced between the check and the open: try again.
      if ((error as NodeJS.ErrnoException).code === 'ESTALE') return errorAnswer(503, [['Retry-After', '1']]);
      throw error;
    }
    const size = source.identity.size;
    if (ranges.kind === 'partial') return { status: 206, ...partialBody(fd, fields, contentType, ranges.ranges, size) };
    return { status, fields, body: { kind: 'file', fd, pieces: [{ start: 0, length: size }] } };
  }

  /** The entries of a verified directory that would be served, each verified before it is shown. */
  async function listEntries(found: Located & { kind: 'directory' }): Promise<ListingEntry[] | null> {
    const directory = await access.readDirectory(found.requestedPath);
    if (directory === null) return null;
    const entries: ListingEntry[] = [];
    for (const name of directory.names) {
      if (!allowDotfiles && name.startsWith('.')) continue;
      if (site?.isUnlisted(name)) continue;
      // Never advertise what would be refused: outside the root, a dotfile by its real path, a FIFO.
      const entry = access.open(join(directory.realPath, name), false);
      if (entry.kind === 'file' || entry.kind === 'directory') {
        entries.push({ name, isDirectory: entry.kind === 'directory', size: entry.identity.size, mtimeMs: entry.identity.mtimeMs });
      }
    }
    return entries;
  }

  /** A listing as HTML, or as JSON for a client that asks for application/json. */
  async function serveListing(request: StaticRequest, found: Located & { kind: 'directory' }): Promise<ResponsePlan> {
    const entries = await listEntries(found);
    if (entries === null) return errorAnswer(404);
    if (site?.renderSingle && entries.length === 1 && !entries[0]!.isDirectory) {
      // serve's renderSingle: a folder holding one file answers with that file.
      const segments = [...found.segments, entries[0]!.name];
      const single = locator.locate(encodePath(segments, false), segments, false, '');
      if (single.kind === 'file') return serveFile(request, single);
    }
    const wantsJson = (request.fields.get('accept') ?? '').includes('application/json');
    let body: string;
    if (wantsJson) {
      body = renderListingJson(found.segments, entries);
    } else {
      body = renderListing(found.segments, entries, archiver ? { archiveFormats: archiver.ARCHIVE_FORMATS } : {});
      if (options.htmlSnippet) body = insertSnippet(body, options.htmlSnippet);
    }
    const base: FieldLine[] = [
      ['Content-Type', wantsJson ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8'],
      ['Cache-Control', 'no-cache'],
      ['Vary', 'Accept'],
      ...ownPageFields,
    ];
    return { status: 200, fields: replaceFields(base, extraFields), body: { kind: 'bytes', bytes: Buffer.from(body, 'utf8') } };
  }

  /** `GET /folder/?archive=tar.gz|zip` under --archives: the folder, streamed as an archive. */
  function serveArchive(request: StaticRequest, format: ArchiveFormat): ResponsePlan | null {
    if (archiver === null) return null;
    const resolved = resolveTarget(request.target);
    if (resolved.kind !== 'path' || !resolved.trailingSlash) return null;
    const { segments } = resolved;
    if (!allowDotfiles && segments.some((segment) => segment.startsWith('.'))) return errorAnswer(404);
    if (options.listing === false || (site !== undefined && !site.listingAllowed(`/${segments.join('/')}`))) return errorAnswer(404);
    const folder = access.open(join(access.rootReal, ...segments), false);
    if (folder.kind !== 'directory') return folder.kind === 'failed' ? errorAnswer(folder.status) : errorAnswer(404);
    if (archivesRunning >= CONCURRENT_ARCHIVES) return errorAnswer(503, [['Retry-After', '5']]);
    archivesRunning++;
    const stream = archiver.archiveStream(access, folder.realPath, format, () => archivesRunning--);
    const fields = archiver.archiveFields(segments[segments.length - 1] ?? 'site', format);
    if (request.method === 'HEAD') stream.destroy();
    return { status: 200, fields: replaceFields(fields, extraFields), body: { kind: 'stream', stream } };
  }

  function locatePath(rawPath: string, segments: string[], trailingSlash: boolean): Located {
    return locator.recall(rawPath) ?? locator.locate(rawPath, segments, trailingSlash, '');
  }

  /**
   * Nothing at the path: a clean URL ("/about" → about.html), the SPA shell for a navigation, the
   * root's 404.html, or the server's own 404 page, in that order.
   */
  function serveNotFound(request: StaticRequest, rawPath: string): ResponsePlan | Promise<ResponsePlan> {
    const hasExtension = lastSegmentHasExtension(rawPath);
    if (cleanUrls && !hasExtension && !rawPath.endsWith('/')) {
      const resolved = resolveTarget(request.target);
      if (resolved.kind === 'path' && resolved.segments.length > 0 && site?.cleanUrlsFor(`/${resolved.segments.join('/')}`) !== false) {
        const segments = [...resolved.segments];
        segments[segments.length - 1] += '.html';
        const page = locatePath(`${rawPath}.html`, segments, false);
        if (page.kind === 'file') return serveFile(request, page);
      }
    }
    if (spaFile !== null && !hasExtension && (request.fields.get('accept') ?? '').includes('text/html')) {
      const shell = locatePath(encodePath(spaSegments, false), spaSegments, false);
      if (shell.kind === 'file') return serveFile(request, shell, 200, true);
    }
    // A 404.html in the root is the not-found page, sent with status 404.
    const page = locatePath('/404.html', ['404.html'], false);
    if (page.kind === 'file') return serveFile(request, page, 404);
    return errorAnswer(404);
  }

  /**
   * The server's own page for an error status (pages.ts), with `fields` and then the configured ones
   * (--header and the presets replace fields of the same name). Without extra fields it is made once.
   */
  function errorAnswer(status: number, fields: FieldLine[] = []): ResponsePlan {
    if (fields.length === 0) {
      const known = errorPlans.get(status);
      if (known !== undefined) return known;
    }
    const base: FieldLine[] = [['Content-Type', 'text/html; charset=utf-8'], ...ownPageFields, ...fields];
    // Under --watch the error pages reload too: a 404 for a page not written yet turns into it once saved.
    const html = options.htmlSnippet === undefined ? errorPageHtml(status) : insertSnippet(errorPageHtml(status), options.htmlSnippet);
    const body = { kind: 'bytes' as const, bytes: Buffer.from(html, 'utf8') };
    if (fields.length > 0) return { status, fields: replaceFields(base, extraFields), body };
    // One prepared page per status: the server keeps its serialized form.
    const plan = prepareResponse(status, replaceFields(base, extraFields), body);
    errorPlans.set(status, plan);
    return plan;
  }

  const planForFsError = (error: unknown) => {
    const status = (error as { status?: number }).status ?? statusForFsError(error);
    return errorAnswer(status);
  };

  const unauthorized = (): ResponsePlan => errorAnswer(401, [['WWW-Authenticate', auth!.challenge]]);

  /** A plan, synchronously when everything it needs is known (see serveFile), else a promise of one. */
  function route(request: StaticRequest): ResponsePlan | Promise<ResponsePlan> {
    if (auth !== null && !(request.method === 'OPTIONS' && options.cors)) {
      // A CORS preflight carries no credentials (Fetch standard), so it is answered without them.
      const verdict = auth.allows(request.fields.get('authorization'));
      if (verdict === false) return unauthorized();
      if (verdict !== true) return verdict.then((valid) => (valid ? routeSafely(request) : unauthorized()), planForFsError);
    }
    return routeSafely(request);
  }

  function routeSafely(request: StaticRequest): ResponsePlan | Promise<ResponsePlan> {
    let answer: ResponsePlan | Promise<ResponsePlan>;
    try {
      answer = routeOrThrow(request);
    } catch (error) {
      return planForFsError(error);
    }
    return answer instanceof Promise ? answer.catch(planForFsError) : answer;
  }

  /** serve.json's decision for `rawPath`, made once per raw path (the rules depend on the path alone). */
  function routeFor(rawPath: string, target: string): Route | null {
    const known = routes.get(rawPath);
    if (known !== undefined) return known;
    const resolved = resolveTarget(target);
    if (resolved.kind !== 'path') return null;
    const path = `/${resolved.segments.join('/')}${resolved.trailingSlash && resolved.segments.length > 0 ? '/' : ''}`;
    const hasExtension = extname(resolved.segments[resolved.segments.length - 1] ?? '') !== '';
    const decided: Route = { ...site!.route(path, hasExtension), hasExtension };
    if (rawPath.length <= LONGEST_REMEMBERED_ROUTE) routes.set(Buffer.from(rawPath, 'latin1').toString('latin1'), decided);
    return decided;
  }

  function routeOrThrow(request: StaticRequest): ResponsePlan | Promise<ResponsePlan> {
    const { method } = request;
    if (method === 'OPTIONS') return answerOptions(request.fields, options.cors === true, extraFields);
    if (method !== 'GET' && method !== 'HEAD') return errorAnswer(KNOWN_METHODS.has(method) ? 405 : 501, [['Allow', ALLOW]]);
    const queryStart = request.target.indexOf('?');
    const rawPath = queryStart === -1 ? request.target : request.target.slice(0, queryStart);
    if (archiver !== null && queryStart !== -1) {
      const format = new URLSearchParams(request.target.slice(queryStart + 1)).get('archive');
      if (format !== null) {
        const archive = archiver.ARCHIVE_FORMATS.includes(format as ArchiveFormat)
          ? serveArchive(request, format as ArchiveFormat)
          : errorAnswer(404);
        if (archive !== null) return archive;
      }
    }
    // serve.json's redirects and rewrites, when there are any: one map lookup per request.
    const decision = site?.routes ? routeFor(rawPath, request.target) : null;
    if (decision?.kind === 'redirect') {
      const query =
        queryStart === -1 || decision.location.includes('?') || !decision.location.startsWith('/') ? '' : request.target.slice(queryStart);
      return { status: decision.status, fields: replaceFields([['Location', decision.location + query]], extraFields), body: EMPTY_BODY };
    }
    if (decision?.kind === 'rewrite' && !decision.hasExtension) {
      // Like serve-handler: a path without an extension is rewritten before it is looked up.
      const rewritten = serveRewrite(request, decision.path);
      if (rewritten !== null) return rewritten;
    }
    let found = locator.recall(rawPath);
    if (found === null) {
      const resolved = resolveTarget(request.target);
      if (resolved.kind === 'invalid') return errorAnswer(resolved.status);
      if (resolved.kind === 'asterisk') return errorAnswer(400);
      const { segments } = resolved;
      if (!allowDotfiles && segments.some((segment) => segment.startsWith('.'))) return errorAnswer(404);
      found = locator.locate(rawPath, segments, resolved.trailingSlash, resolved.query);
    }
    if (decision?.kind === 'rewrite' && found.kind !== 'file') {
      const rewritten = serveRewrite(request, decision.path);
      if (rewritten !== null) return rewritten;
    }
    switch (found.kind) {
      case 'redirect':
        return { status: 301, fields: replaceFields([['Location', found.location]], extraFields), body: EMPTY_BODY };
      case 'directory':
        if (options.listing === false || (site !== undefined && !site.listingAllowed(`/${found.segments.join('/')}`)))
          return serveNotFound(request, rawPath);
        return serveListing(request, found);
      case 'file':
        return serveFile(request, found);
      case 'missing':
        return found.status === 404 ? serveNotFound(request, rawPath) : errorAnswer(found.status);
    }
  }

  /** The file a rewrite names (a decoded path from serve.json), or null to go on with the request's own path. */
  function serveRewrite(request: StaticRequest, path: string): ResponsePlan | Promise<ResponsePlan> | null {
    const segments = path.split('/').filter((segment) => segment !== '');
    if (!allowDotfiles && segments.some((segment) => segment.startsWith('.'))) return null;
    const found = locatePath(encodePath(segments, false), segments, false);
    return found.kind === 'file' ? serveFile(request, found) : null;
  }

  return route;
}
