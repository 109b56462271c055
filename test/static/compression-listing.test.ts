/**
 * Content-coding negotiation, the cache of compressed bodies (BufferCache, formerly CompressionCache),
 * and directory listings: pure, no sockets.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { type Coding, compress, isCompressible, negotiateCoding } from '../../src/static/compression.js';
import { BufferCache } from '../../src/static/file-index.js';
import { type ListingEntry, escapeHtml, renderListing, sortEntries } from '../../src/static/listing.js';

describe('negotiateCoding (Accept-Encoding, RFC 9110 §12.5.3)', () => {
  const BOTH: Coding[] = ['br', 'gzip'];
  const vectors: Array<[name: string, acceptEncoding: string | undefined, available: Coding[], expected: Coding | null]> = [
    ['no Accept-Encoding → identity', undefined, BOTH, null],
    ['an empty Accept-Encoding → identity', '', BOTH, null],
    ['gzip', 'gzip', BOTH, 'gzip'],
    ['br', 'br', BOTH, 'br'],
    ['both, br preferred on the tie', 'gzip, br', BOTH, 'br'],
    ['both in the other order, br still preferred', 'br, gzip', BOTH, 'br'],
    ['what browsers send', 'gzip, deflate, br, zstd', BOTH, 'br'],
    ['equal q-values: br', 'gzip;q=0.5, br;q=0.5', BOTH, 'br'],
    ['a higher q-value for gzip wins', 'gzip;q=1.0, br;q=0.5', BOTH, 'gzip'],
    ['a higher q-value for br wins', 'gzip;q=0.5, br;q=0.8', BOTH, 'br'],
    ['three decimals', 'gzip;q=0.002, br;q=0.001', BOTH, 'gzip'],
    ['spaces around parameters', 'gzip ; q=0.9 , br ; q = 0.2', BOTH, 'gzip'],
    ['upper case names and Q', 'GZIP;Q=0.9, BR;Q=0.1', BOTH, 'gzip'],
    ['* accepts everything', '*', BOTH, 'br'],
    ['* with a lower q-value than a listed coding', '*;q=0.5, gzip', BOTH, 'gzip'],
    ['* does not override a listed refusal', 'br;q=0, *', BOTH, 'gzip'],
    ['*;q=0 refuses everything not listed', '*;q=0', BOTH, null],
    ['*;q=0 with gzip listed', 'gzip, *;q=0', BOTH, 'gzip'],
    ['q=0 refuses gzip', 'gzip;q=0', BOTH, null],
    ['q=0 refuses br, gzip is taken', 'br;q=0, gzip', BOTH, 'gzip'],
    ['q=0.000 refuses too', 'br;q=0.000, gzip;q=0.0', BOTH, null],
    ['both refused', 'br;q=0, gzip;q=0', BOTH, null],
    ['x-gzip is gzip', 'x-gzip', BOTH, 'gzip'],
    ['x-gzip with a q-value', 'x-gzip;q=0.8, br;q=0.3', BOTH, 'gzip'],
    ['identity only', 'identity', BOTH, null],
    ['only codings we do not have', 'deflate, compress, zstd', BOTH, null],
    ['br asked, only gzip available', 'br', ['gzip'], null],
    ['br preferred, gzip available', 'br, gzip;q=0.1', ['gzip'], 'gzip'],
    ['gzip asked, only br available', 'gzip', ['br'], null],
    ['* with only gzip available', '*', ['gzip'], 'gzip'],
    ['nothing available', 'gzip, br', [], null],
    ['empty list elements are skipped', ', ,gzip,,', BOTH, 'gzip'],
  ];
  for (const [name, acceptEncoding, available, expected] of vectors) {
    test(`${name}: ${JSON.stringify(acceptEncoding)} of [${available.join(', ')}] → ${expected ?? 'identity'}`, () => {
      assert.equal(negotiateCoding(acceptEncoding, available), expected);
    });
  }
});

describe('isCompressible', () => {
  const vectors: Array<[contentType: string, expected: boolean]> = [
    ['text/html; charset=utf-8', true],
    ['text/css; charset=utf-8', true],
    ['text/javascript; charset=utf-8', true],
    ['text/plain', true],
    ['application/json; charset=utf-8', true],
    ['image/svg+xml', true],
    ['image/png', false],
    ['image/jpeg', false],
    ['video/mp4', false],
    ['application/zip', false],
    ['application/gzip', false],
  ];
  for (const [contentType, expected] of vectors) {
    test(`${contentType} → ${expected}`, () => assert.equal(isCompressible(contentType), expected));
  }
});

describe('compress', () => {
  test('gzip and br bodies decode back to the input', async () => {
    const input = Buffer.from('compress me, '.repeat(500));
    const gzip = await compress(input, 'gzip');
    const br = await compress(input, 'br');
    assert.ok(gzip.length < input.length && br.length < input.length);
    assert.deepEqual(gunzipSync(gzip), input);
    assert.deepEqual(brotliDecompressSync(br), input);
  });
});

/** A promise we settle by hand, to hold a compression "in flight". */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: Error): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((resolvePromise, rejectPromise) => {
    resolve = resolvePromise;
    reject = rejectPromise;
  });
  return { promise, resolve, reject };
}

/** A producer that counts its calls and makes `bytes` (by default the key's text). */
function counter(bytes?: Buffer): { produce: () => Promise<Buffer>; calls(): number } {
  let calls = 0;
  return {
    produce: async () => {
      calls++;
      return bytes ?? Buffer.alloc(4, calls);
    },
    calls: () => calls,
  };
}

describe('BufferCache (compressed bodies and small files)', () => {
  test('concurrent requests for one key share one pending compression', async () => {
    const cache = new BufferCache(1_000);
    const pending = deferred<Buffer>();
    let calls = 0;
    const produce = () => {
      calls++;
      return pending.promise;
    };
    const first = cache.get('k', produce);
    const second = cache.get('k', produce);
    const third = cache.get('k', produce);
    assert.equal(calls, 1);
    pending.resolve(Buffer.from('abc'));
    const results = await Promise.all([first, second, third]);
    for (const result of results) assert.deepEqual(result, Buffer.from('abc'));
    assert.equal(calls, 1);
  });

  test('a finished compression is reused, another key is compressed separately', async () => {
    const cache = new BufferCache(1_000);
    const a = counter(Buffer.from('aaaa'));
    const b = counter(Buffer.from('bbbb'));
    assert.deepEqual(await cache.get('a', a.produce), Buffer.from('aaaa'));
    assert.deepEqual(await cache.get('a', a.produce), Buffer.from('aaaa'));
    assert.deepEqual(await cache.get('b', b.produce), Buffer.from('bbbb'));
    assert.equal(a.calls(), 1);
    assert.equal(b.calls(), 1);
  });

  test('beyond maxBytes, the least recently used entry goes first', async () => {
    const cache = new BufferCache(10);
    const a = counter();
    const b = counter();
    const c = counter();
    await cache.get('a', a.produce); // 4 bytes
    await cache.get('b', b.produce); // 8 bytes
    await cache.get('a', a.produce); // a is now the most recently used
    await cache.get('c', c.produce); // 12 bytes > 10: b must go, a and c stay
    await cache.get('a', a.produce);
    await cache.get('c', c.produce);
    assert.equal(a.calls(), 1, 'a was evicted although it was used more recently than b');
    assert.equal(c.calls(), 1, 'c was evicted right after it was added');
    await cache.get('b', b.produce);
    assert.equal(b.calls(), 2, 'b, the least recently used, was not evicted');
  });

  test('entries that fit are all kept', async () => {
    const cache = new BufferCache(12);
    const producers = ['a', 'b', 'c'].map((key) => [key, counter()] as const);
    for (const [key, producer] of producers) await cache.get(key, producer.produce);
    for (const [key, producer] of producers) await cache.get(key, producer.produce);
    assert.deepEqual(
      producers.map(([, producer]) => producer.calls()),
      [1, 1, 1],
    );
  });

  test('a failed compression is not cached: the next request tries again', async () => {
    const cache = new BufferCache(1_000);
    let calls = 0;
    const produce = async () => {
      calls++;
      if (calls === 1) throw new Error('compression failed');
      return Buffer.from('ok');
    };
    await assert.rejects(cache.get('k', produce), /compression failed/);
    assert.deepEqual(await cache.get('k', produce), Buffer.from('ok'));
    assert.deepEqual(await cache.get('k', produce), Buffer.from('ok'));
    assert.equal(calls, 2);
  });

  test('delete forgets an entry: the next request produces it again', async () => {
    const cache = new BufferCache(1_000);
    const producer = counter();
    await cache.get('k', producer.produce);
    cache.delete('k');
    cache.delete('never-there');
    await cache.get('k', producer.produce);
    await cache.get('k', producer.produce);
    assert.equal(producer.calls(), 2);
  });

  test('a deleted entry no longer counts toward maxBytes', async () => {
    const cache = new BufferCache(8);
    const a = counter();
    const b = counter();
    const c = counter();
    await cache.get('a', a.produce); // 4
    await cache.get('b', b.produce); // 8
    cache.delete('b'); // 4
    await cache.get('c', c.produce); // 8: fits, nothing evicted
    await cache.get('a', a.produce);
    await cache.get('c', c.produce);
    assert.deepEqual([a.calls(), c.calls()], [1, 1]);
  });

  test('every request sharing a failed compression sees the failure', async () => {
    const cache = new BufferCache(1_000);
    const pending = deferred<Buffer>();
    const first = cache.get('k', () => pending.promise);
    const second = cache.get('k', () => pending.promise);
    pending.reject(new Error('boom'));
    await assert.rejects(first, /boom/);
    await assert.rejects(second, /boom/);
    const retry = counter(Buffer.from('fresh'));
    assert.deepEqual(await cache.get('k', retry.produce), Buffer.from('fresh'));
    assert.equal(retry.calls(), 1);
  });
});

/** Decodes the character references escapeHtml (or anyone) may produce. */
function decodeHtml(text: string): string {
  return text.replace(/&(?:#(\d+)|#x([0-9a-f]+)|(amp|lt|gt|quot|apos));/gi, (_, decimal: string, hex: string, name: string) => {
    if (decimal !== undefined) return String.fromCodePoint(Number(decimal));
    if (hex !== undefined) return String.fromCodePoint(parseInt(hex, 16));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[name.toLowerCase() as 'amp']!;
  });
}

describe('escapeHtml', () => {
  const texts = ['<script>alert(1)</script>', 'a&b"c\'d', '&amp;', '&#60;', 'plain', 'été 日本', '<img src=x onerror="alert(1)">'];
  for (const text of texts) {
    test(JSON.stringify(text), () => {
      const escaped = escapeHtml(text);
      assert.doesNotMatch(escaped, /[<>"']/);
      // Every "&" left starts a character reference, so the text reads back exactly.
      assert.doesNotMatch(escaped.replace(/&(?:#\d+|#x[0-9a-f]+|amp|lt|gt|quot|apos);/gi, ''), /&/);
      assert.equal(decodeHtml(escaped), text);
    });
  }
});

function file(name: string, size = 10): ListingEntry {
  return { name, isDirectory: false, size, mtimeMs: Date.UTC(2021, 2, 4, 5, 6, 7) };
}
function folder(name: string): ListingEntry {
  return { name, isDirectory: true, size: 4096, mtimeMs: Date.UTC(2021, 2, 4, 5, 6, 7) };
}

describe('sortEntries', () => {
  test('folders first, then files, each group by name case-insensitively', () => {
    const entries = [file('b.txt'), folder('zeta'), file('C.txt'), file('A.txt'), folder('Beta'), folder('alpha'), file('a2.txt')];
    assert.deepEqual(
      sortEntries(entries).map((entry) => entry.name),
      ['alpha', 'Beta', 'zeta', 'A.txt', 'a2.txt', 'b.txt', 'C.txt'],
    );
  });

  test('a file named like a folder still comes after every folder', () => {
    assert.deepEqual(
      sortEntries([file('aaa'), folder('zzz')]).map((entry) => entry.name),
      ['zzz', 'aaa'],
    );
  });

  test('names differing only in case have one order, whatever the input order', () => {
    const names = ['readme', 'README', 'ReadMe'];
    const forward = sortEntries(names.map((name) => file(name))).map((entry) => entry.name);
    const backward = sortEntries([...names].reverse().map((name) => file(name))).map((entry) => entry.name);
    assert.deepEqual(forward, backward);
    assert.deepEqual([...forward].sort(), [...names].sort());
  });

  test('the input is not changed', () => {
    const entries = [file('b'), file('a')];
    sortEntries(entries);
    assert.deepEqual(
      entries.map((entry) => entry.name),
      ['b', 'a'],
    );
  });
});

interface Anchor {
  /** The href as a browser reads it (character references decoded). */
  href: string;
  /** The link text as a browser shows it. */
  label: string;
}

function anchors(html: string): Anchor[] {
  return [...html.matchAll(/<a href="([^"]*)">([^<]*)<\/a>/g)].map((match) => ({
    href: decodeHtml(match[1]!),
    label: decodeHtml(match[2]!),
  }));
}

describe('renderListing', () => {
  const HOSTILE_FILES = [
    '<script>alert(1).txt',
    'a&b"c\'.txt',
    '100%.txt',
    '100%25.txt',
    'a#b.txt',
    'q?x=1.txt',
    'with space.txt',
    'été.txt',
    '日本語.txt',
    'a..b.txt',
    '+plus;semi=colon,comma.txt',
  ];
  const HOSTILE_FOLDERS = ['<img src=x onerror=alert(1)>', 'sub dir', 'ünï'];
  const entries = [...HOSTILE_FILES.map((name) => file(name)), ...HOSTILE_FOLDERS.map(folder)];

  for (const segments of [[], ['docs'], ['a b', 'ç#?%']]) {
    const base = `http://127.0.0.1:8080/${segments
      .map(encodeURIComponent)
      .map((segment) => `${segment}/`)
      .join('')}`;

    test(`at /${segments.join('/')}: every name is shown as text and its link resolves back to it`, () => {
      const html = renderListing(segments, entries);
      for (const entry of entries) {
        const label = entry.name + (entry.isDirectory ? '/' : '');
        const found = anchors(html).filter((anchor) => anchor.label === label);
        assert.equal(found.length, 1, `one link shown as ${JSON.stringify(label)}`);
        const { href } = found[0]!;
        // Nothing in the href that a browser would read as a query, a fragment, a bad escape or a raw byte.
        assert.match(href, /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-F]{2})+$/, href);
        const url = new URL(href, base);
        assert.equal(url.origin, 'http://127.0.0.1:8080');
        assert.equal(url.search, '');
        assert.equal(url.hash, '');
        const pathSegments = url.pathname.split('/').slice(1);
        if (entry.isDirectory) assert.equal(pathSegments.pop(), '', `${href}: a folder's link ends in "/"`);
        assert.deepEqual(pathSegments.map(decodeURIComponent), [...segments, entry.name], href);
      }
    });

    test(`at /${segments.join('/')}: no hostile name reaches the page as markup`, () => {
      const html = renderListing(segments, entries);
      assert.ok(!html.includes('<script>alert'), 'a <script> name became a tag');
      assert.ok(!html.includes('<img'), 'an <img> name became a tag');
      assert.ok(!html.includes('onerror=alert(1)>'), 'a name closed a tag');
      // Every tag on the page is one the listing itself writes.
      const tags = new Set([...html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9]*)/g)].map((match) => match[1]!.toLowerCase()));
      for (const tag of tags)
        assert.ok(
          [
            'html',
            'head',
            'meta',
            'link',
            'title',
            'style',
            'body',
            'main',
            'h1',
            'nav',
            'span',
            'table',
            'tr',
            'td',
            'a',
            'footer',
          ].includes(tag),
          `unexpected tag <${tag}>`,
        );
    });
  }

  test('the root has no parent link', () => {
    const html = renderListing([], [file('a.txt')]);
    assert.deepEqual(
      anchors(html).map((anchor) => anchor.label),
      ['a.txt'],
    );
    assert.ok(!html.includes('../'));
  });

  test('below the root, the first link is the parent, "../"', () => {
    const top = anchors(renderListing(['docs'], [file('a.txt')]));
    assert.deepEqual(top[0], { href: '/', label: '../' });
    assert.equal(top.length, 2);

    const nested = anchors(renderListing(['a b', 'c#d'], [file('a.txt')]));
    assert.equal(nested[0]!.label, '../');
    assert.equal(new URL(nested[0]!.href, 'http://h/a%20b/c%23d/').pathname, '/a%20b/');
  });

  test('the links are in sortEntries order: folders first', () => {
    const html = renderListing([], [file('b.txt'), folder('Zed'), file('A.txt'), folder('alpha')]);
    assert.deepEqual(
      anchors(html).map((anchor) => anchor.label),
      ['alpha/', 'Zed/', 'A.txt', 'b.txt'],
    );
  });

  test('the title names the folder, escaped', () => {
    const html = renderListing(['<b>x</b>', 'y'], []);
    const title = /<title>([^<]*)<\/title>/.exec(html)?.[1];
    assert.equal(decodeHtml(title ?? ''), 'Index of /<b>x</b>/y/');
    assert.ok(!html.includes('<b>x'));
  });

  test('an empty folder is a valid page with no entry links', () => {
    const html = renderListing([], []);
    assert.match(html, /^<!doctype html>/i);
    assert.match(html, /<\/html>\s*$/);
    assert.deepEqual(anchors(html), []);
  });
});
