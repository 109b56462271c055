import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type ResolvedTarget, encodePath, resolveTarget } from '../../src/static/resolve.js';

function path(segments: string[], trailingSlash = false, query = ''): ResolvedTarget {
  return { kind: 'path', segments, trailingSlash, query };
}
const BAD_REQUEST: ResolvedTarget = { kind: 'invalid', status: 400 };
const NOT_FOUND: ResolvedTarget = { kind: 'invalid', status: 404 };

describe('resolveTarget', () => {
  const vectors: Array<[name: string, target: string, expected: ResolvedTarget]> = [
    ['the root', '/', path([], true)],
    ['a file', '/index.html', path(['index.html'])],
    ['a nested file', '/a/b/c.txt', path(['a', 'b', 'c.txt'])],
    ['a folder with its slash', '/docs/', path(['docs'], true)],
    ['a folder without its slash', '/docs', path(['docs'])],
    ['a query is kept, undecoded', '/a.txt?x=1&y=%20', path(['a.txt'], false, '?x=1&y=%20')],
    ['a query on the root', '/?q', path([], true, '?q')],
    ['an empty query', '/a?', path(['a'], false, '?')],
    ['a "?" inside the query', '/a?b?c', path(['a'], false, '?b?c')],
    ['an encoded "?" is part of the name', '/a%3Fb', path(['a?b'])],
    ['an encoded "#" is part of the name', '/a%23b', path(['a#b'])],
    ['a space', '/with%20space.txt', path(['with space.txt'])],
    ['a "+" stays a "+" (not form encoding)', '/a+b.txt', path(['a+b.txt'])],
    ['non-ASCII in UTF-8', '/%C3%A9t%C3%A9.txt', path(['été.txt'])],
    ['lowercase percent-encoding', '/%c3%a9t%c3%a9.txt', path(['été.txt'])],
    ['two dots inside a name', '/a..b.txt', path(['a..b.txt'])],
    ['a name ending in two dots', '/a..', path(['a..'])],
    ['three dots are a name', '/...', path(['...'])],
    ['a percent sign in a name', '/100%25.txt', path(['100%.txt'])],
    ['a doubly encoded dot-dot is a name, decoded once', '/%252e%252e/x', path(['%2e%2e', 'x'])],
    ['a dotfile (refused later, by the handler)', '/.env', path(['.env'])],
    ['an encoded leading dot', '/%2eenv', path(['.env'])],
    ['empty segments collapse', '/a//b///c', path(['a', 'b', 'c'])],
    ['"." segments vanish', '/./a/./b', path(['a', 'b'])],
    ['".." climbs inside the root', '/a/b/../c', path(['a', 'c'])],
    ['an encoded ".." climbs inside the root', '/a/%2e%2e/c', path(['c'])],
    ['a mixed-case encoded ".." climbs inside the root', '/a/%2E./c', path(['c'])],
    ['"//host/" names a local folder, not a host', '//evil.example/', path(['evil.example'], true)],
    ['"//host" without its slash', '//evil.example', path(['evil.example'])],
    ['"//host" with a query', '//evil.example?x=1', path(['evil.example'], false, '?x=1')],
    ['absolute-form', 'http://example.com/a/b.txt?q=1', path(['a', 'b.txt'], false, '?q=1')],
    ['absolute-form with a port and no path', 'http://example.com:8080', path([], true)],
    ['absolute-form with only a query', 'http://example.com?q', path([], true, '?q')],
    ['absolute-form in another scheme', 'HTTPS://example.com/x', path(['x'])],
    ['asterisk-form', '*', { kind: 'asterisk' }],

    // Dot segments that would leave the root.
    ['".." at the root', '/..', NOT_FOUND],
    ['"../" at the root', '/../secret.txt', NOT_FOUND],
    ['".." after climbing back', '/a/../../secret.txt', NOT_FOUND],
    ['an encoded ".." at the root', '/%2e%2e/secret.txt', NOT_FOUND],
    ['an uppercase encoded ".."', '/%2E%2E/secret.txt', NOT_FOUND],
    ['a half-encoded ".."', '/.%2e/secret.txt', NOT_FOUND],
    ['".." after an empty segment', '//../secret.txt', NOT_FOUND],
    ['".." after a "." segment', '/./../secret.txt', NOT_FOUND],
    ['".." in absolute-form', 'http://x/../secret.txt', NOT_FOUND],
    // Separators smuggled inside a segment.
    ['an encoded slash', '/a%2fb', NOT_FOUND],
    ['an encoded slash in a ".." sequence', '/..%2fsecret.txt', NOT_FOUND],
    ['a fully encoded "../" path', '/%2E%2E%2Foutside%2Fsecret.txt', NOT_FOUND],
    ['an encoded backslash', '/..%5csecret.txt', NOT_FOUND],
    ['a literal backslash', '/..\\secret.txt', NOT_FOUND],
    ['a literal backslash after the first slash', '/\\evil.example', NOT_FOUND],
    // Malformed targets.
    ['an encoded NUL', '/%00', BAD_REQUEST],
    ['an encoded NUL inside a name', '/a%00.txt', BAD_REQUEST],
    ['a bad percent-escape', '/%zz', BAD_REQUEST],
    ['a truncated percent-escape', '/a%2', BAD_REQUEST],
    ['invalid UTF-8 (Latin-1 é)', '/%E9t%E9.txt', BAD_REQUEST],
    ['an overlong UTF-8 dot', '/%c0%ae%c0%ae/secret.txt', BAD_REQUEST],
    ['a fragment', '/a.txt#top', BAD_REQUEST],
    ['a relative target', 'a.txt', BAD_REQUEST],
    ['a relative ".." target', '../secret.txt', BAD_REQUEST],
    ['authority-form', 'example.com:443', BAD_REQUEST],
    ['an empty target', '', BAD_REQUEST],
  ];

  for (const [name, target, expected] of vectors) {
    test(`${name}: ${JSON.stringify(target)}`, () => {
      assert.deepEqual(resolveTarget(target), expected);
    });
  }

  // RFC 3986 §5.2.4: a path ending in a dot segment keeps a trailing slash ("/a/b/.." → "/a/").
  // It decides whether "/file.txt/." names the file or a folder that does not exist.
  test('a trailing dot segment leaves a trailing slash (RFC 3986 §5.2.4)', () => {
    assert.deepEqual(resolveTarget('/a/b/..'), path(['a'], true));
    assert.deepEqual(resolveTarget('/a/.'), path(['a'], true));
    assert.deepEqual(resolveTarget('/a/%2e'), path(['a'], true));
  });
});

describe('encodePath', () => {
  const vectors: Array<[segments: string[], trailingSlash: boolean, expected: string]> = [
    [[], false, '/'],
    [[], true, '/'],
    [['a.txt'], false, '/a.txt'],
    [['docs'], true, '/docs/'],
    [['a', 'b', 'c'], false, '/a/b/c'],
    [['with space.txt'], false, '/with%20space.txt'],
    [['été.txt'], false, '/%C3%A9t%C3%A9.txt'],
    [['100%.txt'], false, '/100%25.txt'],
    [['a..b.txt'], false, '/a..b.txt'],
    [['a?b#c'], false, '/a%3Fb%23c'],
    [['evil.example'], true, '/evil.example/'],
    [['a/b'], false, '/a%2Fb'],
  ];
  for (const [segments, trailingSlash, expected] of vectors) {
    test(`${JSON.stringify(segments)}${trailingSlash ? ' with a trailing slash' : ''} → ${expected}`, () => {
      assert.equal(encodePath(segments, trailingSlash), expected);
    });
  }

  test('what resolveTarget gives back, encodePath turns into a path that resolves to the same segments', () => {
    const awkward = [['with space.txt'], ['été.txt'], ['100%.txt'], ['a..b.txt'], ['a?b'], ['x', 'y#z'], ['evil.example']];
    for (const segments of awkward) {
      assert.deepEqual(resolveTarget(encodePath(segments, true)), path(segments, true));
      assert.deepEqual(resolveTarget(encodePath(segments, false)), path(segments, false));
    }
  });

  // The redirect for a folder is built with encodePath: whatever the request target, the Location
  // must stay on this host (start with exactly one "/") and name the same folder.
  test('for any target, the redirect path starts with exactly one "/" and resolves to the same segments', () => {
    const segmentText = fc.constantFrom(
      '',
      '.',
      '..',
      '%2e',
      '%2E%2E',
      'evil.example',
      'a',
      '%2F',
      '%5C',
      '\\',
      '%41',
      'é',
      '%C3%A9',
      '?',
      '%3F',
      '%',
      '%25',
    );
    const target = fc.array(segmentText, { maxLength: 8 }).map((parts) => '/' + parts.join('/'));
    fc.assert(
      fc.property(target, fc.boolean(), (requestTarget, trailingSlash) => {
        const resolved = resolveTarget(requestTarget);
        if (resolved.kind !== 'path') return;
        const location = encodePath(resolved.segments, trailingSlash);
        assert.ok(location.startsWith('/') && !location.startsWith('//'), location);
        assert.ok(!location.includes('\\'), location);
        const again = resolveTarget(location);
        assert.equal(again.kind, 'path');
        assert.deepEqual(again.kind === 'path' && again.segments, resolved.segments);
      }),
      { numRuns: 2_000, seed: 9112 },
    );
  });
});
