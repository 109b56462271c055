/**
 * Static file serving: from a request head to a ResponsePlan. The plan carries an open file
 * descriptor rather than a path, so what is sent is exactly what was checked, even if the file is
 * renamed or replaced a moment later.
 *
 * The order of checks follows the classic one (pillarjs/send): method, target, dotfiles, then the
 * filesystem; and on the filesystem the real path (symlinks resolved) must lie inside the real root.
 */
import { close, fstat, open, read } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { promisify } from 'node:util';
import type { FieldLine, Fields } from '../core/fields.js';
import { formatHttpDate } from '../core/http-date.js';
import { type ResponsePlan, EMPTY_BODY, errorPlan } from '../core/response-plan.js';
import { statusForFsError } from './fs-errors.js';
import { contentTypeFor } from './mime.js';
import { encodePath, resolveTarget } from './resolve.js';

export interface StaticOptions {
  /** The folder to serve. */
  root: string;
  /** Whether names starting with "." (.env, .git/) may be served. Default 'deny': they answer 404. */
  dotfiles?: 'allow' | 'deny';
  /** The file a directory is answered with. Default "index.html". */
  indexFile?: string;
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

export async function createStaticHandler(options: StaticOptions): Promise<StaticHandler> {
  const rootReal = await realpath(options.root);
  const rootStats = await stat(rootReal);
  if (!rootStats.isDirectory()) throw Object.assign(new Error(`${options.root} is not a directory`), { code: 'ENOTDIR' });
  const allowDotfiles = options.dotfiles === 'allow';
  const indexFile = options.indexFile ?? 'index.html';

  const isInsideRoot = (realPath: string) => realPath === rootReal || realPath.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep);

  return async function handleStatic(request: StaticRequest): Promise<ResponsePlan> {
    const { method } = request;
    if (method !== 'GET' && method !== 'HEAD') {
      if (method === 'OPTIONS') return { status: 204, fields: [['Allow', ALLOW]], body: EMPTY_BODY };
      return errorPlan(KNOWN_METHODS.has(method) ? 405 : 501, [['Allow', ALLOW]]);
    }
    const resolved = resolveTarget(request.target);
    if (resolved.kind === 'invalid') return errorPlan(resolved.status);
    if (resolved.kind === 'asterisk') return errorPlan(400);
    const { segments, trailingSlash, query } = resolved;
    if (!allowDotfiles && segments.some((segment) => segment.startsWith('.'))) return errorPlan(404);

    try {
      let realPath = await realpath(join(rootReal, ...segments));
      if (!isInsideRoot(realPath)) return errorPlan(404); // a symlink that leads out of the root
      let fileName = segments[segments.length - 1] ?? '';
      if ((await stat(realPath)).isDirectory()) {
        // Relative links in the index page only work from the slashed URL. The Location is built
        // from the normalized segments, so it always starts with exactly one "/" and can never
        // name another host (as "//evil.example/" would).
        if (!trailingSlash) return { status: 301, fields: [['Location', encodePath(segments, true) + query]], body: EMPTY_BODY };
        realPath = await realpath(join(realPath, indexFile));
        if (!isInsideRoot(realPath)) return errorPlan(404);
        fileName = indexFile;
      } else if (trailingSlash) {
        return errorPlan(404); // "file.html/" names a directory that does not exist
      }
      return await planFile(realPath, fileName);
    } catch (error) {
      return errorPlan(statusForFsError(error));
    }
  };
}

// Raw descriptors, not FileHandle objects: a FileHandle closes its descriptor when it is garbage
// collected, which could happen while the socket layer is still streaming from it.
const openFile = promisify(open);
const statFile = promisify(fstat);
const closeFile = promisify(close);
const readFile = promisify(read);

/**
 * Files up to this size are read whole and sent in the same write as the head: one packet for a
 * small page, which is also what a lab client doing a single read expects. Larger files stream.
 */
const SMALL_FILE_BYTES = 64 * 1024;

async function planFile(realPath: string, fileName: string): Promise<ResponsePlan> {
  const fd = await openFile(realPath, 'r');
  let handedOver = false;
  try {
    const stats = await statFile(fd);
    if (!stats.isFile()) return errorPlan(404);
    const fields: FieldLine[] = [
      ['Content-Type', contentTypeFor(fileName)],
      ['Last-Modified', formatHttpDate(stats.mtime)],
    ];
    if (stats.size <= SMALL_FILE_BYTES) {
      const bytes = Buffer.allocUnsafe(stats.size);
      const { bytesRead } = await readFile(fd, bytes, 0, stats.size, 0);
      return { status: 200, fields, body: { kind: 'bytes', bytes: bytes.subarray(0, bytesRead) } };
    }
    // The descriptor now belongs to the socket layer, which closes it in every case.
    handedOver = true;
    return { status: 200, fields, body: { kind: 'file', fd, start: 0, length: stats.size } };
  } finally {
    if (!handedOver) await closeFile(fd);
  }
}
