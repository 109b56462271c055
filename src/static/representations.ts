/**
 * What is known of each located file and of its representations (RFC 9110 §3.2): its content type,
 * its precompressed siblings (app.js.br, app.js.gz), and for each representation its validators and
 * ready response fields — everything about a response that does not depend on the request, made
 * once per version of the file (sirv's idea).
 *
 * A sibling is a file of its own, found next to the real file, and it is trusted exactly like the
 * main file: only through a descriptor that was verified (file-access.ts). Each time it is about to
 * be used, its path is stat-ed again and must still have the identity taken from that descriptor;
 * if not, it is opened and verified afresh, or dropped.
 */
import type { FieldLine } from '../core/fields.js';
import { formatHttpDate } from '../core/http-date.js';
import type { ResponsePlan } from '../core/response-plan.js';
import { type Coding, MAX_COMPRESS_BYTES, MIN_COMPRESS_BYTES, isCompressible } from './compression.js';
import { type Validators, makeValidators } from './conditional.js';
import { type FileAccess, type Source, identityKey, sameIdentity } from './file-access.js';
import { BoundedMap } from '../core/bounded-map.js';
import type { Located, Locator } from './locate.js';
import { contentTypeFor } from './mime.js';
import type { ContentTags } from './content-tags.js';
import { replaceFields } from '../site/rules.js';

/** A precompressed sibling: the path it was found at (stat-ed again before each use) and what was verified. */
interface Sibling extends Source {
  requestedPath: string;
}

/** The validators and ready fields of one representation, and the cache key of its bytes. */
export interface Representation {
  validators: Validators;
  fields: FieldLine[];
  notModifiedFields: FieldLine[];
  bodyKey: string;
  /** Its prepared answer with the bytes last sent, and its prepared 304: made once, reused (see prepareResponse). */
  answer?: ResponsePlan;
  notModified?: ResponsePlan;
}

/** What is known of one version of a file. */
export interface FileDescription {
  source: Source;
  /** The key of this version's bytes in the content cache. */
  contentKey: string;
  contentType: string;
  isHtml: boolean;
  compressesOnTheFly: boolean;
  /** Siblings such as app.js.br, by coding, found when the description was made. */
  precompressed: Map<Coding, Sibling>;
  varies: boolean;
  /** By representation: 'identity', 'br', 'gzip', 'live', or a precompressed sibling's coding and identity. */
  representations: BoundedMap<string, Representation>;
  /** The fields serve.json's `headers` rules give this file, found once per version. */
  ruleFields: FieldLine[];
}

export interface DescriptionOptions {
  compression: boolean;
  cacheControl: string;
  /** Fields added to every response (--header, --cors, --isolation); each replaces a field of the same name. */
  extraFields: FieldLine[];
  /** serve.json's `headers` rules: the fields for a file's path inside the root ("/docs/a.js"). */
  fieldsForPath?: (path: string) => FieldLine[];
  /** serve.json's `etag: false`: no ETag field (Last-Modified still validates). */
  etag?: boolean;
  /**
   * --etag content: ETags from the bytes. The handler makes sure the tag of a source is known
   * (ContentTags.compute) before it asks for one of its representations.
   */
  contentTags?: ContentTags;
}

const DESCRIBED_FILES = 10_000;
/** Representations per file: a handful in practice; the bound only stops a sibling rewritten in a loop. */
const REPRESENTATIONS_PER_FILE = 16;

export class Descriptions {
  readonly #access: FileAccess;
  readonly #locator: Locator;
  readonly #options: DescriptionOptions;
  /** By real path and URL file name (the name decides the content type). */
  readonly #byFile = new BoundedMap<string, FileDescription>(DESCRIBED_FILES);
  /** By remembered location, so that a hot request builds no key. */
  readonly #byLocation = new WeakMap<object, FileDescription>();

  constructor(access: FileAccess, locator: Locator, options: DescriptionOptions) {
    this.#access = access;
    this.#locator = locator;
    this.#options = options;
  }

  describe(found: Located & { kind: 'file' }): FileDescription {
    const known = this.#byLocation.get(found);
    if (known !== undefined) return known;
    const { realPath, identity } = found;
    const { fieldsForPath } = this.#options;
    // With headers rules, the path asked for decides fields too (serve matches the path, not the real one).
    const key = fieldsForPath === undefined ? `${realPath}\0${found.fileName}` : `${realPath}\0${found.fileName}\0${found.requestedPath}`;
    let description = this.#byFile.get(key);
    if (description === undefined || !sameIdentity(description.source.identity, identity)) {
      const { compression } = this.#options;
      const contentType = contentTypeFor(found.fileName);
      const compressible = compression && isCompressible(contentType);
      const precompressed = compression ? this.#findSiblings(realPath) : new Map<Coding, Sibling>();
      description = {
        source: { realPath, identity },
        contentKey: contentKeyOf({ realPath, identity }),
        contentType,
        isHtml: contentType.startsWith('text/html'),
        compressesOnTheFly: compressible && identity.size >= MIN_COMPRESS_BYTES && identity.size <= MAX_COMPRESS_BYTES,
        precompressed,
        varies: compressible || precompressed.size > 0,
        representations: new BoundedMap(REPRESENTATIONS_PER_FILE),
        ruleFields: fieldsForPath?.(found.requestedPath.slice(this.#access.rootReal.length).replace(/^\/?/, '/')) ?? [],
      };
      this.#byFile.set(key, description);
    }
    this.#byLocation.set(found, description);
    return description;
  }

  /** The sibling for `coding` if it is still the file that was verified, or verifies afresh; else undefined. */
  sibling(description: FileDescription, coding: Coding): Source | undefined {
    const sibling = description.precompressed.get(coding);
    if (sibling === undefined) return undefined;
    const stats = this.#locator.statThisTurn(sibling.requestedPath);
    if (stats !== undefined && sameIdentity(sibling.identity, stats)) return sibling;
    const opened = this.#access.open(sibling.requestedPath, false);
    if (opened.kind !== 'file') {
      description.precompressed.delete(coding);
      return undefined;
    }
    const verified: Sibling = { requestedPath: sibling.requestedPath, realPath: opened.realPath, identity: opened.identity };
    description.precompressed.set(coding, verified);
    return verified;
  }

  /** The validators and fields of one representation; `source` is the file whose bytes are sent. */
  representation(description: FileDescription, name: string, source: Source): Representation {
    const isSibling = source !== description.source;
    const key = isSibling ? `${name}\0${contentKeyOf(source)}` : name;
    let known = description.representations.get(key);
    if (known !== undefined) return known;
    const { cacheControl, extraFields } = this.#options;
    const coding = name === 'identity' ? undefined : name;
    const validators = makeValidators(source.identity.mtimeMs, source.identity.size, coding);
    const contentTag = this.#options.contentTags?.peek(source);
    if (this.#options.contentTags !== undefined) {
      if (contentTag === undefined) throw new Error('the content tag of a source is computed before its representations');
      validators.etag = `"${contentTag}${coding ? `-${coding}` : ''}"`;
    }
    const cachingFields: FieldLine[] = [
      ['Last-Modified', formatHttpDate(validators.lastModified)],
      ...(this.#options.etag === false ? [] : [['ETag', validators.etag] as const]),
      ['Cache-Control', cacheControl],
      ...(description.varies ? [['Vary', 'Accept-Encoding'] as const] : []),
    ];
    const fields: FieldLine[] = [['Content-Type', description.contentType], ...cachingFields];
    if (name === 'br' || name === 'gzip') fields.push(['Content-Encoding', name]);
    if (name === 'identity') fields.push(['Accept-Ranges', 'bytes']);
    // Configured fields replace the server's own: serve.json's rules per path, then --header and the presets.
    const finish = (base: FieldLine[]) => replaceFields(replaceFields(base, description.ruleFields), extraFields);
    const onTheFly = !isSibling && (name === 'br' || name === 'gzip');
    const bodyKey = isSibling ? contentKeyOf(source) : onTheFly ? `${description.contentKey}\0${name}` : description.contentKey;
    // A 304 carries the fields a 200 would have that describe caching (RFC 9110 §15.4.5).
    known = { validators, fields: finish(fields), notModifiedFields: finish(cachingFields), bodyKey };
    description.representations.set(key, known);
    return known;
  }

  /** The precompressed siblings (x.br, x.gz) of a file that the rules allow, each verified through its descriptor. */
  #findSiblings(realPath: string): Map<Coding, Sibling> {
    const found = new Map<Coding, Sibling>();
    for (const [coding, suffix] of [
      ['br', '.br'],
      ['gzip', '.gz'],
    ] as const) {
      const requestedPath = realPath + suffix;
      const opened = this.#access.open(requestedPath, false);
      if (opened.kind === 'file') found.set(coding, { requestedPath, realPath: opened.realPath, identity: opened.identity });
    }
    return found;
  }
}

/** The key of one version of a file's bytes in a cache: its real path and identity. */
export function contentKeyOf(source: Source): string {
  return `${source.realPath}\0${identityKey(source.identity)}`;
}
