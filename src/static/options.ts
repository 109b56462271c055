/** What the static handler is told (StaticOptions), what it reads of a request, and what it answers with. */
import type { FieldLine, Fields } from '../core/fields.js';
import type { ResponsePlan } from '../core/response-plan.js';
import type { BasicAuth, BasicAuthOptions } from '../site/auth.js';
import type { SiteRules } from '../site/rules.js';
import type { SymlinkPolicy } from './file-access.js';

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
  /**
   * Single-page apps: a navigation (a path whose last segment has no file extension, from a client
   * that accepts text/html) that matches no file is answered with this file of the root, with
   * Cache-Control: no-cache. `true` means "index.html". Default false.
   */
  spa?: boolean | string;
  /** Clean URLs: "/about" serves about.html when nothing named "about" exists. Default true. */
  cleanUrls?: boolean;
  /** The rules of a serve.json (loadSiteConfig): redirects, rewrites, headers, listings, trailing slashes. */
  site?: SiteRules;
  /**
   * serve.json's `etag: false`: send no ETag. Default true: an ETag from the file's modification time
   * and size. 'content': an ETag from a hash of the bytes (made once per version of a file), equal on
   * every replica that serves a copy of the folder, whatever its files' modification times.
   */
  etag?: boolean | 'content';
  /** Called on each lookup of file bytes in memory (small files, compressed bodies): hit or miss, for metrics. */
  onCacheLookup?: (hit: boolean) => void;
  /** HTTP Basic authentication (--auth, --auth-file): every request needs one of these users. */
  auth?: BasicAuthOptions | BasicAuth;
  /** Cross-origin isolation (--isolation): COOP same-origin and COEP require-corp on every response. */
  isolation?: boolean;
  /** Offer each listed folder as a streamed .tar.gz and .zip (`?archive=tar.gz`, `?archive=zip`). Default false. */
  archives?: boolean;
  /** Files never served nor listed, by path (the serve.json itself). */
  hiddenFiles?: string[];
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
