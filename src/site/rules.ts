/**
 * The rules of a `serve.json` (the configuration of vercel's `serve` and serve-handler), compiled once
 * at start-up so that a request pays only for the rules that exist.
 *
 * Matching follows serve-handler (src/index.js, `sourceMatches`) exactly, with the same libraries: a
 * source is normalized to start with one "/", its first "*" becomes "(.*)" for path-to-regexp 3 (the
 * major version serve-handler pins, so that ":id" and "(.*)" mean the same thing in both), and a path
 * that the expression misses may still match the source as a minimatch glob. Destinations are
 * path-to-regexp templates filled with the matched parameters.
 *
 * Nothing here touches the filesystem: a rewrite produces a path, which the static handler then
 * resolves and opens like any request path (resolve.ts, then file-access.ts).
 */
import { posix } from 'node:path';
import { Minimatch } from 'minimatch';
import pathToRegexp from 'path-to-regexp';
import type { FieldLine } from '../core/fields.js';

/** The keys of serve's configuration schema (@zeit/schemas deployment/config-static), plus `etag`. */
export interface ServeJson {
  public?: string;
  cleanUrls?: boolean | string[];
  rewrites?: { source: string; destination: string }[];
  redirects?: { source: string; destination: string; type?: number }[];
  headers?: { source: string; headers: { key: string; value: string }[] }[];
  directoryListing?: boolean | string[];
  unlisted?: string[];
  trailingSlash?: boolean;
  renderSingle?: boolean;
  symlinks?: boolean;
  etag?: boolean;
}

/** A source compiled both ways serve-handler matches it. */
class SourcePattern {
  readonly #expression: RegExp | null;
  readonly #keys: pathToRegexp.Key[] = [];
  readonly #glob: Minimatch;

  /** `withSegments`: also as a path-to-regexp expression, whose parameters feed a destination. */
  constructor(source: string, withSegments: boolean) {
    const slashed = slash(source);
    this.#expression = withSegments ? pathToRegexp(slashed.replace('*', '(.*)'), this.#keys) : null;
    this.#glob = new Minimatch(slashed);
  }

  /** The parameters by name (or index) when `path` matches, else null. */
  match(path: string): Record<string, string> | null {
    const resolved = posix.resolve(path);
    const results = this.#expression?.exec(resolved);
    if (results) {
      const parameters: Record<string, string> = {};
      for (const [index, key] of this.#keys.entries()) parameters[String(key.name)] = results[index + 1] ?? '';
      return parameters;
    }
    return this.#glob.match(resolved) ? {} : null;
  }
}

/** serve's glob-slash: one leading "/", dot segments resolved; a leading "!" is kept in front. */
function slash(value: string): string {
  const normalize = (text: string) => posix.normalize(posix.join('/', text));
  return value.startsWith('!') ? `!${normalize(value.slice(1))}` : normalize(value);
}

interface TargetRule {
  pattern: SourcePattern;
  /** Fills the destination template with the source's parameters; throws when one is missing. */
  destination: (parameters: Record<string, string>) => string;
}

/**
 * A redirect's destination becomes a Location: its literal text is encoded as serve does (encodeURI)
 * and each parameter is percent-encoded once (serve-handler encodes a non-ASCII parameter twice). A
 * rewrite's destination is a decoded path inside the root, so its parameters are left as they are.
 */
function targetRule(source: string, destination: string, kind: 'redirect' | 'rewrite'): TargetRule {
  const hasScheme = /^[a-z][a-z0-9+.-]*:/i.test(destination);
  const template = hasScheme ? destination : slash(destination);
  if (kind === 'redirect') return { pattern: new SourcePattern(source, true), destination: pathToRegexp.compile(encodeURI(template)) };
  const toPath = pathToRegexp.compile(template);
  return {
    pattern: new SourcePattern(source, true),
    destination: (parameters) => toPath(parameters, { encode: (value: string) => value, validate: false }),
  };
}

function fill(rule: TargetRule, path: string): string | null {
  const parameters = rule.pattern.match(path);
  if (parameters === null) return null;
  try {
    return rule.destination(parameters);
  } catch {
    return null; // matched as a glob, so the template's parameters are missing: serve-handler fails here too
  }
}

/** A decoded path as a Location: each segment percent-encoded, so "?" or "#" in a name stays part of the path. */
function encodeSegments(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** A field of a `headers` rule, or of --header, that would break the framing the server owns. */
export const FRAMING_FIELDS = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'trailer',
  'te',
  'date',
]);

export type RouteDecision = { kind: 'redirect'; location: string; status: number } | { kind: 'rewrite'; path: string } | { kind: 'none' };

const NO_ROUTE: RouteDecision = Object.freeze({ kind: 'none' });

/** A serve.json, compiled. Built by `compileSiteRules`; every method is free of I/O. */
export class SiteRules {
  readonly #redirects: (TargetRule & { status: number })[];
  readonly #rewrites: TargetRule[];
  readonly #headers: { pattern: SourcePattern; fields: FieldLine[] }[];
  readonly #unlisted: SourcePattern[];
  readonly #listing: boolean | SourcePattern[];
  readonly #cleanUrls: boolean | SourcePattern[] | undefined;
  /** serve.json's trailingSlash: undefined leaves slashes alone (our directory redirect still applies). */
  readonly trailingSlash: boolean | undefined;
  readonly renderSingle: boolean;
  /** Whether any rule may redirect or rewrite a request: when not, the handler never asks. */
  readonly routes: boolean;
  readonly hasHeaderRules: boolean;

  constructor(config: ServeJson) {
    this.#redirects = (config.redirects ?? []).map((rule) => ({
      ...targetRule(rule.source, rule.destination, 'redirect'),
      status: rule.type ?? 301,
    }));
    this.#rewrites = (config.rewrites ?? []).map((rule) => targetRule(rule.source, rule.destination, 'rewrite'));
    this.#headers = (config.headers ?? []).map((rule) => ({
      pattern: new SourcePattern(rule.source, false),
      fields: rule.headers.map(({ key, value }): FieldLine => [key, value]),
    }));
    this.#unlisted = [...(config.unlisted ?? [])].map((source) => new SourcePattern(source, false));
    const globs = (value: boolean | string[] | undefined) =>
      Array.isArray(value) ? value.map((source) => new SourcePattern(source, false)) : value;
    this.#listing = globs(config.directoryListing) ?? true;
    this.#cleanUrls = globs(config.cleanUrls);
    this.trailingSlash = config.trailingSlash;
    this.renderSingle = config.renderSingle === true;
    this.hasHeaderRules = this.#headers.length > 0;
    this.routes =
      this.#redirects.length > 0 || this.#rewrites.length > 0 || this.trailingSlash !== undefined || this.#cleanUrls !== undefined;
  }

  /** Whether clean URLs apply to `path`: undefined when serve.json does not say (the flag decides). */
  cleanUrlsFor(path: string): boolean | undefined {
    const rule = this.#cleanUrls;
    return Array.isArray(rule) ? rule.some((pattern) => pattern.match(path) !== null) : rule;
  }

  /**
   * serve-handler's order: with clean URLs asked for in serve.json, "/x.html" and "/x/index" redirect
   * to "/x"; then trailingSlash; then the redirects in order; then the first rewrite. `path` is the
   * decoded, normalized request path.
   */
  route(path: string, hasExtension: boolean): RouteDecision {
    if (this.cleanUrlsFor(path) === true && /(\.html|\/index)$/.test(path)) {
      const stripped = path.replace(/(\.html|\/index)$/, '').replace(/\/+/g, '/');
      return { kind: 'redirect', location: encodeSegments(stripped.startsWith('/') ? stripped : `/${stripped}`), status: 301 };
    }
    if (this.trailingSlash !== undefined) {
      const isTrailed = path.endsWith('/');
      const name = posix.parse(path).name;
      if (!this.trailingSlash && isTrailed && path !== '/')
        return { kind: 'redirect', location: encodeSegments(path.slice(0, -1)), status: 301 };
      if (this.trailingSlash && !isTrailed && !hasExtension && !name.startsWith('.'))
        return { kind: 'redirect', location: encodeSegments(`${path}/`), status: 301 };
    }
    for (const rule of this.#redirects) {
      const target = fill(rule, path);
      if (target !== null) return { kind: 'redirect', location: target, status: rule.status };
    }
    let rewritten: string | null = null;
    // Like serve-handler, a rewrite's result may be rewritten again by a later rule, each rule once.
    const remaining = [...this.#rewrites];
    for (let index = 0; index < remaining.length; ) {
      const target = fill(remaining[index]!, rewritten ?? path);
      if (target === null) {
        index++;
        continue;
      }
      rewritten = slash(target);
      remaining.splice(index, 1);
      index = 0;
    }
    return rewritten === null ? NO_ROUTE : { kind: 'rewrite', path: rewritten };
  }

  /**
   * The fields of every `headers` rule whose source matches the served file's path, all rules applied
   * in order; a later rule's field replaces an earlier one of the same name, as in serve-handler.
   */
  fieldsFor(filePath: string): FieldLine[] {
    const byName = new Map<string, FieldLine>();
    for (const rule of this.#headers) {
      if (rule.pattern.match(filePath) === null) continue;
      for (const field of rule.fields) {
        byName.delete(field[0].toLowerCase());
        byName.set(field[0].toLowerCase(), field);
      }
    }
    return [...byName.values()];
  }

  /** serve lists neither `.DS_Store`, `.git` nor names matching `unlisted` (they are still served). */
  isUnlisted(name: string): boolean {
    return name === '.DS_Store' || name === '.git' || this.#unlisted.some((pattern) => pattern.match(`/${name}`) !== null);
  }

  listingAllowed(path: string): boolean {
    const rule = this.#listing;
    return Array.isArray(rule) ? rule.some((pattern) => pattern.match(path) !== null) : rule;
  }
}

/**
 * `base` with every field named in `overrides` removed, then `overrides` appended: a configured or
 * --header field replaces the one the server would send instead of adding a second one.
 */
export function replaceFields(base: readonly FieldLine[], overrides: readonly FieldLine[]): FieldLine[] {
  if (overrides.length === 0) return [...base];
  const names = new Set(overrides.map(([name]) => name.toLowerCase()));
  return [...base.filter(([name]) => !names.has(name.toLowerCase())), ...overrides];
}
