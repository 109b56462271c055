/**
 * From a request-target to a path inside the served folder, with no I/O (RFC 9112 §3.2, RFC 3986).
 *
 * Order matters, and it is the usual source of traversal bugs: the path is split on "/" first and
 * each segment is percent-decoded once afterwards, so "%2F" can never become a separator; dot
 * segments are then resolved on the decoded segments, so "%2e%2e" counts as ".." and cannot climb
 * above the root. A decoded segment holding "/", "\" or NUL cannot name a file and is refused.
 */
export type ResolvedTarget =
  | { kind: 'path'; segments: string[]; trailingSlash: boolean; query: string }
  | { kind: 'asterisk' }
  /** `status`: 400 for a malformed target, 404 for one that names nothing we could serve. */
  | { kind: 'invalid'; status: 400 | 404 };

const BAD_REQUEST: ResolvedTarget = Object.freeze({ kind: 'invalid', status: 400 });
const NOT_FOUND: ResolvedTarget = Object.freeze({ kind: 'invalid', status: 404 });

/** absolute-form (RFC 9112 §3.2.2): servers must accept it; only its path and query matter here. */
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?]*(.*)$/;

export function resolveTarget(target: string): ResolvedTarget {
  if (target === '*') return { kind: 'asterisk' };
  let pathAndQuery = target;
  if (!target.startsWith('/')) {
    const match = ABSOLUTE_FORM.exec(target);
    if (match === null) return BAD_REQUEST;
    pathAndQuery = match[1] === '' ? '/' : match[1]!;
    if (!pathAndQuery.startsWith('/') && !pathAndQuery.startsWith('?')) return BAD_REQUEST;
  }
  // A fragment is never part of a request-target (RFC 9112 §3.2).
  if (pathAndQuery.includes('#')) return BAD_REQUEST;
  const queryStart = pathAndQuery.indexOf('?');
  const rawPath = queryStart === -1 ? pathAndQuery : pathAndQuery.slice(0, queryStart);
  const query = queryStart === -1 ? '' : pathAndQuery.slice(queryStart);

  const segments: string[] = [];
  // A path that ends in a dot segment names a directory: "/a/b/.." is "/a/" (RFC 3986 §5.2.4).
  let endsInDirectory = rawPath === '' || rawPath.endsWith('/');
  for (const rawSegment of rawPath.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(rawSegment);
    } catch {
      return BAD_REQUEST; // malformed percent-encoding or invalid UTF-8
    }
    if (segment.includes('\0')) return BAD_REQUEST;
    if (segment.includes('/') || segment.includes('\\')) return NOT_FOUND;
    if (segment === '.' || segment === '..') {
      if (segment === '..' && segments.pop() === undefined) return NOT_FOUND; // would leave the served folder
      endsInDirectory = true;
      continue;
    }
    if (segment === '') continue;
    segments.push(segment);
    endsInDirectory = rawPath.endsWith('/');
  }
  return { kind: 'path', segments, trailingSlash: endsInDirectory, query };
}

/** The URL path of `segments`, percent-encoded, always starting with a single "/". */
export function encodePath(segments: string[], trailingSlash: boolean): string {
  const path = '/' + segments.map((segment) => encodeURIComponent(segment)).join('/');
  return trailingSlash && segments.length > 0 ? path + '/' : path;
}
