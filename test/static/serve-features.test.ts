/**
 * The static-serving features over real sockets: validators and preconditions, ranges, listings,
 * 404.html, SPA fallback, content codings (precompressed and on the fly), Cache-Control, CORS, extra
 * fields, access logs and live reload. Driven by raw sockets (exact requests, independent parsing),
 * Node's fetch and curl, against serveStatic in this process or `sockhttp serve` as a child process.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { brotliCompressSync, brotliDecompressSync, constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';
import { compress } from '../../src/static/compression.js';
import {
  type BackgroundProcess,
  type RunningServer,
  commandExists,
  makeTempDir,
  rawExchange,
  runCli,
  startCliServer,
  startStaticServer,
} from '../helpers.js';
import {
  FIXTURE_MTIME,
  FIXTURE_MTIME_HTTP,
  type ParsedResponse,
  curl,
  parseSingleResponse,
  patternBytes,
  sha256,
  writeTree,
} from '../net/server/helpers.js';

const hasCurl = commandExists('curl');

// ---------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------

/** A compressible text of `length` bytes with enough variety that compressors at different settings differ. */
function text(length: number, seed = 1): string {
  const words = ['static', 'serving', 'range', 'etag', 'gzip', 'brotli', 'listing', 'socket', 'header', 'cache', 'vary', 'precondition'];
  let out = '';
  let state = seed;
  for (let i = 0; out.length < length && i < 1_000_000; i++) {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    const high = state >>> 12; // an LCG's low bits have short periods
    out += words[high % words.length]! + (high % 7 === 0 ? '\n' : ' ');
  }
  return out.slice(0, length);
}

const HELLO = 'hello, conditional world\n';
const DATA = patternBytes(1_000);
const BIG_SIZE = 10 * 1024 * 1024;
const PAGE = text(20_000, 7); // compressible, ≥ 1 KiB
const SMALL = 'small text under one KiB\n';
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), patternBytes(4_000)]);
const INDEX_HTML = '<!doctype html><html><head><title>home</title></head><body><p>home page</p></body></html>\n';
const NOT_FOUND_HTML = '<!doctype html><title>custom 404</title><p>custom not-found page</p>\n';

/** A small script with precompressed siblings (< 1 KiB: nothing would be compressed on the fly). */
const APP_JS = `// app\n${'console.log("precompressed sibling");\n'.repeat(10)}`;
/** A script large enough to be compressed on the fly, with precompressed siblings too. */
const BIG_APP_JS = `// big app\n${text(6_000, 3)}\n`;
const ONLY_GZ_CSS = 'body { color: teal; }\n';

/** gzip as two members (valid, and never what a one-shot compressor makes), so a served body can be traced to the file. */
function gzipTwoMembers(content: string): Buffer {
  const bytes = Buffer.from(content);
  const middle = Math.floor(bytes.length / 2);
  return Buffer.concat([gzipSync(bytes.subarray(0, middle), { level: 9 }), gzipSync(bytes.subarray(middle), { level: 1 })]);
}
function brotliBest(content: string): Buffer {
  return brotliCompressSync(Buffer.from(content), {
    params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11, [zlibConstants.BROTLI_PARAM_LGWIN]: 10 },
  });
}
const APP_JS_GZ = gzipTwoMembers(APP_JS);
const APP_JS_BR = brotliBest(APP_JS);
const BIG_APP_JS_GZ = gzipTwoMembers(BIG_APP_JS);
const BIG_APP_JS_BR = brotliBest(BIG_APP_JS);

/** Names no listing may turn into markup or broken links (on Linux "/" cannot be part of a name). */
const LISTED_FILES: Record<string, string> = {
  '<script>alert(1).txt': 'script-named file\n',
  'a&b"c\'.txt': 'ampersand and quotes\n',
  'with space.txt': 'a space\n',
  'été.txt': 'non-ASCII\n',
  '100%.txt': 'a percent sign\n',
  'a#b?c.txt': 'hash and question mark\n',
  'B-upper.txt': 'upper case B\n',
  'a-lower.txt': 'lower case a\n',
};
const LISTED_FOLDERS = ['Zdir', 'adir', '<b>bold<i> dir'];

const SECRET = 'OUTSIDE-SECRET-7d1e';
const OUTSIDE_404 = 'OUTSIDE-404-PAGE-5c2a';

let base: ReturnType<typeof makeTempDir>;
let root: string;
let watchBase: ReturnType<typeof makeTempDir>;
let watchRoot: string;

let main: RunningServer;
let cached: RunningServer;
let noListing: RunningServer;
let spa: RunningServer;
let noCompress: RunningServer;
let dotfiles: RunningServer;

before(async () => {
  base = makeTempDir();
  root = join(base.path, 'root');
  writeTree(base.path, { 'secret.txt': `${SECRET}\n`, '404.html': `<p>${OUTSIDE_404}</p>\n` });
  writeTree(root, {
    'index.html': INDEX_HTML,
    '404.html': NOT_FOUND_HTML,
    'hello.txt': HELLO,
    'data.bin': DATA,
    'big.bin': patternBytes(BIG_SIZE),
    'page.txt': PAGE,
    'small.txt': SMALL,
    'image.png': PNG,
    'app.js': APP_JS,
    'app.js.gz': APP_JS_GZ,
    'app.js.br': APP_JS_BR,
    'big-app.js': BIG_APP_JS,
    'big-app.js.gz': BIG_APP_JS_GZ,
    'big-app.js.br': BIG_APP_JS_BR,
    'only-gz.css': ONLY_GZ_CSS,
    'only-gz.css.gz': gzipTwoMembers(ONLY_GZ_CSS),
    'changing.txt': 'version one\n',
    'changing-big.txt': text(5_000, 11),
    '.env': 'DOTFILE=visible-with-allow\n',
    ...Object.fromEntries(Object.entries(LISTED_FILES).map(([name, content]) => [`list/${name}`, content])),
    ...Object.fromEntries(LISTED_FOLDERS.map((name) => [`list/${name}/inner.txt`, `inside ${name}\n`])),
    'list/.env': 'HIDDEN=1\n',
    'list/.hidden-dir/x.txt': 'hidden\n',
  });

  watchBase = makeTempDir();
  watchRoot = watchBase.path;
  writeTree(watchRoot, {
    'index.html': INDEX_HTML,
    'big.html': `<!doctype html><html><head><title>big</title></head><body><pre>${text(4_000, 5)}</pre></body></html>\n`,
    'style.css': 'body { margin: 0; }\n',
    'data.json': '{"watch":true}\n',
    'page.txt': PAGE,
    'no-index/file.txt': 'listed\n',
    'sub/keep.txt': 'subfolder\n',
  });

  main = await startStaticServer(root);
  cached = await startStaticServer(root, { cacheControl: 'public, max-age=60' });
  noListing = await startStaticServer(root, { listing: false });
  spa = await startStaticServer(root, { spa: true });
  noCompress = await startStaticServer(root, { compress: false });
  dotfiles = await startStaticServer(root, { dotfiles: 'allow' });
});

after(async () => {
  await Promise.all([main, cached, noListing, spa, noCompress, dotfiles].map((server) => server?.close()));
  base?.remove();
  watchBase?.remove();
});

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

/** One request on its own connection (Connection: close), read with the tests' own parser. */
async function send(port: number, target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<ParsedResponse> {
  const lines = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  const bytes = await rawExchange(port, `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines}Connection: close\r\n\r\n`, {
    timeoutMs: 30_000,
  });
  return parseSingleResponse(bytes, method);
}

function varyNames(response: ParsedResponse): string[] {
  return response.fields
    .filter(([name]) => name.toLowerCase() === 'vary')
    .flatMap(([, value]) => value.split(','))
    .map((name) => name.trim().toLowerCase());
}

/** The parts of a multipart/byteranges body, parsed independently of the server (RFC 9110 §14.6, RFC 2046). */
function parseByteranges(body: Buffer, boundary: string): Array<{ fields: Map<string, string>; data: Buffer }> {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Array<{ fields: Map<string, string>; data: Buffer }> = [];
  let position = body.indexOf(delimiter);
  assert.ok(position === 0 || (position > 0 && body.subarray(position - 2, position).toString() === '\r\n'), 'no first delimiter');
  for (let count = 0; count < 100; count++) {
    position += delimiter.length;
    if (body.subarray(position, position + 2).toString() === '--') return parts; // the close delimiter
    assert.equal(body.subarray(position, position + 2).toString(), '\r\n', 'a delimiter line must end in CRLF');
    const headEnd = body.indexOf('\r\n\r\n', position + 2);
    assert.ok(headEnd !== -1, 'a part without the end of its head');
    const fields = new Map<string, string>();
    for (const line of body.toString('latin1', position + 2, headEnd).split('\r\n')) {
      const colon = line.indexOf(':');
      assert.ok(colon > 0, `not a field line: ${line}`);
      fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headEnd + 4);
    assert.ok(next !== -1, 'a part without a delimiter after it');
    parts.push({ fields, data: body.subarray(headEnd + 4, next) });
    position = next + 2;
  }
  assert.fail('more than 100 parts');
}

function contentRange(response: ParsedResponse): [number, number, number] {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.field('content-range') ?? '');
  assert.ok(match, `Content-Range: ${response.field('content-range')}`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** Rewrites a file in place with new content and a given modification time. */
function rewrite(path: string, content: string | Buffer, mtime: Date): void {
  writeFileSync(path, content);
  utimesSync(path, mtime, mtime);
}

/** The <a href> values and their text in a page, character references decoded. */
function links(html: string): Array<{ href: string; label: string }> {
  const decode = (value: string) =>
    value.replace(/&(?:#(\d+)|(amp|lt|gt|quot|apos));/g, (_, code: string, name: string) =>
      code !== undefined ? String.fromCodePoint(Number(code)) : { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[name as 'amp']!,
    );
  return [...html.matchAll(/<a href="([^"]*)">([^<]*)<\/a>/g)].map((match) => ({ href: decode(match[1]!), label: decode(match[2]!) }));
}

// ---------------------------------------------------------------------------------------------------
// Validators and preconditions
// ---------------------------------------------------------------------------------------------------

describe('ETag and Last-Modified', () => {
  test('every file has a strong ETag and Last-Modified, on GET and HEAD alike', async () => {
    const etags = new Map<string, string>();
    for (const path of ['/hello.txt', '/data.bin', '/image.png', '/app.js', '/page.txt', '/index.html', '/', '/list/with%20space.txt']) {
      const response = await send(main.port, path);
      assert.equal(response.status, 200, path);
      const etag = response.field('etag');
      assert.match(etag ?? '', /^"[\x21\x23-\x7e]+"$/, `${path}: ETag ${etag}`);
      assert.equal(response.field('last-modified'), FIXTURE_MTIME_HTTP, path);
      const head = await send(main.port, path, {}, 'HEAD');
      assert.equal(head.field('etag'), etag, `${path}: HEAD and GET disagree`);
      assert.equal(head.field('last-modified'), FIXTURE_MTIME_HTTP, path);
      etags.set(path, etag!);
    }
    assert.equal(etags.get('/'), etags.get('/index.html'), 'the root and its index.html are one representation');
    assert.notEqual(etags.get('/hello.txt'), etags.get('/data.bin'));
  });
});

describe('conditional requests', () => {
  let etag: string;
  before(async () => {
    etag = (await send(main.port, '/hello.txt')).field('etag')!;
  });

  const notModified: Array<[name: string, headers: () => Record<string, string>]> = [
    ['If-None-Match with the ETag', () => ({ 'If-None-Match': etag })],
    ['If-None-Match with the weak form W/"…"', () => ({ 'If-None-Match': `W/${etag}` })],
    ['If-None-Match: *', () => ({ 'If-None-Match': '*' })],
    ['If-None-Match: a list holding the ETag', () => ({ 'If-None-Match': `"nope", ${etag}` })],
    ['If-Modified-Since equal to Last-Modified', () => ({ 'If-Modified-Since': FIXTURE_MTIME_HTTP })],
    ['If-Modified-Since later than Last-Modified', () => ({ 'If-Modified-Since': 'Fri, 01 Jan 2100 00:00:00 GMT' })],
  ];
  for (const [name, headers] of notModified) {
    for (const method of ['GET', 'HEAD']) {
      test(`${method}, ${name} → 304 with the ETag and no body`, async () => {
        const response = await send(main.port, '/hello.txt', headers(), method); // parseSingleResponse refuses any byte after the head
        assert.equal(response.status, 304);
        assert.equal(response.field('etag'), etag);
        assert.equal(response.field('last-modified'), FIXTURE_MTIME_HTTP);
        assert.equal(response.field('cache-control'), 'no-cache');
        assert.equal(response.body.length, 0);
      });
    }
  }

  const proceeds: Array<[name: string, headers: () => Record<string, string>]> = [
    ['If-None-Match with another ETag', () => ({ 'If-None-Match': '"not-the-etag"' })],
    ['If-Modified-Since before Last-Modified', () => ({ 'If-Modified-Since': 'Wed, 03 Mar 2021 05:06:07 GMT' })],
    ['If-Modified-Since that is not a date', () => ({ 'If-Modified-Since': 'last tuesday' })],
    ['If-Match with the ETag', () => ({ 'If-Match': etag })],
    ['If-Match: *', () => ({ 'If-Match': '*' })],
    ['If-Unmodified-Since equal to Last-Modified', () => ({ 'If-Unmodified-Since': FIXTURE_MTIME_HTTP })],
    [
      'If-None-Match with another ETag and a matching If-Modified-Since (ignored)',
      () => ({ 'If-None-Match': '"x"', 'If-Modified-Since': FIXTURE_MTIME_HTTP }),
    ],
  ];
  for (const [name, headers] of proceeds) {
    test(`${name} → 200 with the file`, async () => {
      const response = await send(main.port, '/hello.txt', headers());
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), HELLO);
    });
  }

  const failures: Array<[name: string, headers: () => Record<string, string>]> = [
    ['If-Match with another ETag', () => ({ 'If-Match': '"not-the-etag"' })],
    ['If-Match with the weak form (strong comparison)', () => ({ 'If-Match': `W/${etag}` })],
    ['If-Unmodified-Since in the past', () => ({ 'If-Unmodified-Since': 'Sun, 06 Nov 1994 08:49:37 GMT' })],
    ['If-Match failing before a matching If-None-Match', () => ({ 'If-Match': '"x"', 'If-None-Match': etag })],
  ];
  for (const [name, headers] of failures) {
    test(`${name} → 412 without the file`, async () => {
      const response = await send(main.port, '/hello.txt', headers());
      assert.equal(response.status, 412);
      assert.ok(!response.body.toString().includes(HELLO.trim()));
    });
  }

  test('If-Match with the ETag makes If-Unmodified-Since in the past irrelevant', async () => {
    const response = await send(main.port, '/hello.txt', { 'If-Match': etag, 'If-Unmodified-Since': 'Sun, 06 Nov 1994 08:49:37 GMT' });
    assert.equal(response.status, 200);
  });

  test('fetch revalidates with If-None-Match and gets 304', async () => {
    const response = await fetch(main.url('/hello.txt'), { headers: { 'if-none-match': etag } });
    assert.equal(response.status, 304);
    assert.equal(response.headers.get('etag'), etag);
    assert.equal((await response.arrayBuffer()).byteLength, 0);
  });

  test('curl -z (If-Modified-Since) gets 304', { skip: !hasCurl && 'curl is not installed' }, async () => {
    const { exitCode, responses } = await curl(['-z', FIXTURE_MTIME_HTTP, main.url('/hello.txt')]);
    assert.equal(exitCode, 0);
    assert.equal(responses.at(-1)?.status, 304);
  });
});

describe('a file changed on disk is served fresh at once', () => {
  test('new content and a new mtime: a new ETag, the new bytes, the old ETag no longer matches', async () => {
    const path = join(root, 'changing.txt');
    rewrite(path, 'version one\n', FIXTURE_MTIME);
    const first = await send(main.port, '/changing.txt');
    assert.equal(first.body.toString(), 'version one\n');

    rewrite(path, 'version two, longer\n', new Date(FIXTURE_MTIME.getTime() + 60_000));
    const second = await send(main.port, '/changing.txt');
    assert.equal(second.body.toString(), 'version two, longer\n');
    assert.notEqual(second.field('etag'), first.field('etag'));
    assert.notEqual(second.field('last-modified'), first.field('last-modified'));
    const revalidated = await send(main.port, '/changing.txt', { 'If-None-Match': first.field('etag')! });
    assert.equal(revalidated.status, 200);
    assert.equal(revalidated.body.toString(), 'version two, longer\n');

    // Same size, new mtime: the ETag must still change.
    rewrite(path, 'VERSION TWO, LONGER\n', new Date(FIXTURE_MTIME.getTime() + 120_000));
    const third = await send(main.port, '/changing.txt');
    assert.equal(third.body.toString(), 'VERSION TWO, LONGER\n');
    assert.notEqual(third.field('etag'), second.field('etag'));
  });

  for (const coding of ['gzip', 'br'] as const) {
    test(`the ${coding} variant compressed on the fly is never a stale snapshot (same size, new mtime)`, async () => {
      const path = join(root, 'changing-big.txt');
      const before = text(5_000, 21);
      const afterwards = text(5_000, 22);
      assert.equal(before.length, afterwards.length);
      const decode = (body: Buffer) => (coding === 'gzip' ? gunzipSync(body) : brotliDecompressSync(body)).toString();

      rewrite(path, before, new Date(FIXTURE_MTIME.getTime() + 1_000));
      const first = await send(main.port, '/changing-big.txt', { 'Accept-Encoding': coding });
      assert.equal(first.field('content-encoding'), coding);
      assert.equal(decode(first.body), before);

      rewrite(path, afterwards, new Date(FIXTURE_MTIME.getTime() + 2_000));
      const second = await send(main.port, '/changing-big.txt', { 'Accept-Encoding': coding });
      assert.equal(second.field('content-encoding'), coding);
      assert.equal(decode(second.body), afterwards, 'a stale compressed body was served');
      assert.notEqual(second.field('etag'), first.field('etag'));
      const identity = await send(main.port, '/changing-big.txt');
      assert.equal(identity.body.toString(), afterwards);
    });
  }
});

// ---------------------------------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------------------------------

describe('range requests', () => {
  test('a 200 advertises Accept-Ranges: bytes', async () => {
    const response = await send(main.port, '/data.bin');
    assert.equal(response.status, 200);
    assert.equal(response.field('accept-ranges'), 'bytes');
  });

  const singles: Array<[range: string, start: number, end: number]> = [
    ['bytes=0-9', 0, 9],
    ['bytes=0-0', 0, 0],
    ['bytes=100-199', 100, 199],
    ['bytes=-100', 900, 999],
    ['bytes=-5000', 0, 999],
    ['bytes=990-', 990, 999],
    ['bytes=500-99999', 500, 999],
    ['bytes=10-19, 15-29', 10, 29],
  ];
  for (const [range, start, end] of singles) {
    test(`Range: ${range} → 206 with bytes ${start}-${end}/1000`, async () => {
      const response = await send(main.port, '/data.bin', { Range: range });
      assert.equal(response.status, 206);
      assert.deepEqual(contentRange(response), [start, end, DATA.length]);
      assert.equal(response.field('content-length'), String(end - start + 1));
      assert.deepEqual(response.body, DATA.subarray(start, end + 1));
      assert.equal(response.field('content-type'), 'application/octet-stream');
      assert.ok(response.field('etag'));
    });
  }

  test('several ranges → multipart/byteranges whose parts carry the right bytes and Content-Range', async () => {
    const response = await send(main.port, '/data.bin', { Range: 'bytes=500-509, 0-9, -5, 20-29' });
    assert.equal(response.status, 206);
    assert.equal(response.field('content-range'), undefined, 'a multipart response has no top-level Content-Range');
    const match = /^multipart\/byteranges; boundary=("?)([^";]+)\1$/.exec(response.field('content-type') ?? '');
    assert.ok(match, `Content-Type: ${response.field('content-type')}`);
    const parts = parseByteranges(response.body, match[2]!);
    const expected: Array<[number, number]> = [
      [0, 9],
      [20, 29],
      [500, 509],
      [995, 999],
    ];
    assert.equal(parts.length, expected.length);
    parts.forEach((part, index) => {
      const [start, end] = expected[index]!;
      assert.equal(part.fields.get('content-range'), `bytes ${start}-${end}/${DATA.length}`);
      assert.equal(part.fields.get('content-type'), 'application/octet-stream');
      assert.deepEqual(part.data, DATA.subarray(start, end + 1));
    });
  });

  test('curl with two ranges gets a multipart body that parses back to the file bytes', {
    skip: !hasCurl && 'curl is not installed',
  }, async () => {
    const { exitCode, responses } = await curl(['-r', '0-99,200-299', main.url('/data.bin')]);
    assert.equal(exitCode, 0);
    const response = responses.at(-1)!;
    assert.equal(response.status, 206);
    const boundary = /boundary=("?)([^";]+)\1/.exec(response.field('content-type') ?? '')?.[2];
    assert.ok(boundary);
    const parts = parseByteranges(response.body, boundary);
    assert.deepEqual(
      parts.map((part) => part.data),
      [DATA.subarray(0, 100), DATA.subarray(200, 300)],
    );
  });

  for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
    test(`Range: ${range} on a 1000-byte file → 416 with Content-Range: bytes */1000`, async () => {
      const response = await send(main.port, '/data.bin', { Range: range });
      assert.equal(response.status, 416);
      assert.equal(response.field('content-range'), `bytes */${DATA.length}`);
    });
  }

  for (const range of ['bytes=9-5', 'bytes=abc', 'items=0-1']) {
    test(`Range: ${range} is ignored → 200 with the whole file`, async () => {
      const response = await send(main.port, '/data.bin', { Range: range });
      assert.equal(response.status, 200);
      assert.deepEqual(response.body, DATA);
    });
  }

  test('If-Range: the current ETag → 206, an old ETag → 200 whole, the Last-Modified date → 206, another date → 200', async () => {
    const etag = (await send(main.port, '/data.bin')).field('etag')!;
    const cases: Array<[ifRange: string, status: number]> = [
      [etag, 206],
      ['"an-old-etag"', 200],
      [`W/${etag}`, 200],
      [FIXTURE_MTIME_HTTP, 206],
      ['Sun, 06 Nov 1994 08:49:37 GMT', 200],
    ];
    for (const [ifRange, status] of cases) {
      const response = await send(main.port, '/data.bin', { Range: 'bytes=10-19', 'If-Range': ifRange });
      assert.equal(response.status, status, `If-Range: ${ifRange}`);
      assert.deepEqual(response.body, status === 206 ? DATA.subarray(10, 20) : DATA, `If-Range: ${ifRange}`);
    }
  });

  test('a range in the middle of a 10 MB file streams exactly those bytes (raw socket)', async () => {
    const start = 4 * 1024 * 1024 + 17;
    const end = 7 * 1024 * 1024 + 3;
    const response = await send(main.port, '/big.bin', { Range: `bytes=${start}-${end}` });
    assert.equal(response.status, 206);
    assert.deepEqual(contentRange(response), [start, end, BIG_SIZE]);
    assert.equal(response.body.length, end - start + 1);
    assert.equal(sha256(response.body), sha256(patternBytes(BIG_SIZE).subarray(start, end + 1)));
  });

  test('curl -r from the middle of a 10 MB file', { skip: !hasCurl && 'curl is not installed' }, async () => {
    const { exitCode, responses } = await curl(['-r', '5000001-5999999', main.url('/big.bin')]);
    assert.equal(exitCode, 0);
    const response = responses.at(-1)!;
    assert.equal(response.status, 206);
    assert.equal(response.field('content-range'), `bytes 5000001-5999999/${BIG_SIZE}`);
    assert.equal(sha256(response.body), sha256(patternBytes(BIG_SIZE).subarray(5_000_001, 6_000_000)));
  });

  test('fetch with a Range header gets 206 and the bytes', async () => {
    const response = await fetch(main.url('/data.bin'), { headers: { range: 'bytes=-10' } });
    assert.equal(response.status, 206);
    assert.equal(response.headers.get('content-range'), 'bytes 990-999/1000');
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), DATA.subarray(990));
  });

  test('a range request gets the identity body even with Accept-Encoding', async () => {
    for (const path of ['/page.txt', '/app.js', '/big-app.js']) {
      const identity = readFileSync(join(root, path.slice(1)));
      const response = await send(main.port, path, { Range: 'bytes=0-99', 'Accept-Encoding': 'gzip, br' });
      assert.equal(response.status, 206, path);
      assert.equal(response.field('content-encoding'), undefined, path);
      assert.deepEqual(contentRange(response), [0, 99, identity.length], path);
      assert.deepEqual(response.body, identity.subarray(0, 100), path);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Cache-Control
// ---------------------------------------------------------------------------------------------------

describe('Cache-Control', () => {
  test('default: no-cache', async () => {
    assert.equal((await send(main.port, '/hello.txt')).field('cache-control'), 'no-cache');
  });

  test("cacheControl: 'public, max-age=60' on the 200 and on the 304", async () => {
    const response = await send(cached.port, '/hello.txt');
    assert.equal(response.field('cache-control'), 'public, max-age=60');
    const revalidated = await send(cached.port, '/hello.txt', { 'If-None-Match': response.field('etag')! });
    assert.equal(revalidated.status, 304);
    assert.equal(revalidated.field('cache-control'), 'public, max-age=60');
  });
});

// ---------------------------------------------------------------------------------------------------
// Directory listings
// ---------------------------------------------------------------------------------------------------

describe('directory listings', () => {
  test('a folder without index.html → an HTML listing, folders first, sorted case-insensitively', async () => {
    const response = await send(main.port, '/list/');
    assert.equal(response.status, 200);
    assert.equal(response.field('content-type'), 'text/html; charset=utf-8');
    const labels = links(response.body.toString()).map((link) => link.label);
    const folders = ['<b>bold<i> dir/', 'adir/', 'Zdir/'];
    const files = [
      '100%.txt',
      '<script>alert(1).txt',
      'a#b?c.txt',
      'a&b"c\'.txt',
      'a-lower.txt',
      'B-upper.txt',
      'été.txt',
      'with space.txt',
    ];
    const entries = labels.filter((label) => label !== '../');
    assert.deepEqual(new Set(entries), new Set([...folders, ...files]));
    assert.deepEqual(entries.slice(0, folders.length).sort(), [...folders].sort(), 'folders come first');
    const position = (label: string) => entries.indexOf(label);
    assert.ok(position('adir/') < position('Zdir/'), 'adir before Zdir (case-insensitive)');
    assert.ok(position('a-lower.txt') < position('B-upper.txt'), 'a-lower before B-upper (case-insensitive)');
  });

  test('hostile names are shown as text, never as markup', async () => {
    const page = (await send(main.port, '/list/')).body.toString();
    assert.ok(!page.includes('<script>alert'), 'a file name became a <script> tag');
    assert.ok(!page.includes('<b>bold') && !page.includes('<i> dir'), 'a folder name became a tag');
    assert.ok(!/a&b"c/.test(page), 'a raw & and " reached the page');
    for (const [, label] of [...page.matchAll(/<a href="[^"]*">([^<]*)<\/a>/g)]) assert.doesNotMatch(label!, /[<>"']/);
  });

  test('every link works when followed (fetch resolves it as a browser would)', async () => {
    const listUrl = main.url('/list/');
    const found = links(await (await fetch(listUrl)).text());
    assert.ok(found.length >= Object.keys(LISTED_FILES).length + LISTED_FOLDERS.length);
    for (const { href, label } of found) {
      const url = new URL(href, listUrl);
      assert.equal(url.search, '', `${label}: the link has a query`);
      assert.equal(url.hash, '', `${label}: the link has a fragment`);
      const response = await fetch(url);
      const body = await response.text();
      assert.equal(response.status, 200, `${label} → ${href}`);
      if (label in LISTED_FILES) assert.equal(body, LISTED_FILES[label], `${label} → ${href}`);
      else if (label === '../') assert.equal(body, INDEX_HTML);
      else assert.ok(body.includes('inner.txt'), `${label} → ${href}: not its listing`);
    }
  });

  test('the parent link "../" appears below the root, and leads to the parent folder', async () => {
    const nested = links((await send(main.port, '/list/adir/')).body.toString());
    assert.deepEqual(nested[0], { href: '/list/', label: '../' });
    const top = links((await send(main.port, '/list/')).body.toString());
    assert.deepEqual(top[0], { href: '/', label: '../' });
  });

  test('dotfiles are not listed', async () => {
    const page = (await send(main.port, '/list/')).body.toString();
    assert.ok(!page.includes('.env') && !page.includes('.hidden-dir'), 'a dotfile is listed');
  });

  test("dotfiles: 'allow' lists and serves .env", async () => {
    const page = (await send(dotfiles.port, '/list/')).body.toString();
    const env = links(page).find((link) => link.label === '.env');
    assert.ok(env, 'no .env in the listing');
    assert.ok(links(page).some((link) => link.label === '.hidden-dir/'));
    const response = await send(dotfiles.port, env.href);
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), 'HIDDEN=1\n');
  });

  test('listing: false → 404 for a folder without index.html; folders with one still work', async () => {
    const response = await send(noListing.port, '/list/');
    assert.equal(response.status, 404);
    assert.equal(response.body.toString(), NOT_FOUND_HTML);
    assert.ok((await send(main.port, '/list/')).body.toString().includes('href="/list/adir/"'), 'the same folder is listed by default');
    assert.equal((await send(noListing.port, '/')).body.toString(), INDEX_HTML);
    assert.equal((await send(noListing.port, '/list/with%20space.txt')).status, 200);
  });
});

// ---------------------------------------------------------------------------------------------------
// 404.html and the SPA fallback
// ---------------------------------------------------------------------------------------------------

describe('404.html', () => {
  for (const target of ['/missing.txt', '/no/such/folder/', '/list/missing.html']) {
    test(`${target} → 404 with the root's 404.html`, async () => {
      const response = await send(main.port, target);
      assert.equal(response.status, 404);
      assert.equal(response.field('content-type'), 'text/html; charset=utf-8');
      assert.equal(response.body.toString(), NOT_FOUND_HTML);
    });
  }

  test('HEAD of a missing path → 404, no body', async () => {
    const response = await send(main.port, '/missing.txt', {}, 'HEAD');
    assert.equal(response.status, 404);
    assert.equal(response.body.length, 0);
  });

  test('a 404 page is a 404 even with preconditions or a Range', async () => {
    for (const headers of [{ 'If-None-Match': '*' }, { Range: 'bytes=0-3' }, { 'If-Match': '"x"' }] as Array<Record<string, string>>) {
      const response = await send(main.port, '/missing.txt', headers);
      assert.equal(response.status, 404, JSON.stringify(headers));
    }
  });

  for (const target of [
    '/../secret.txt',
    '/%2e%2e/secret.txt',
    '/..%2fsecret.txt',
    '/list/../../secret.txt',
    '/../404.html',
    '/%2e%2e/404.html',
    '/..%5c404.html',
  ]) {
    test(`traversal ${target} → 4xx, never a file outside the root`, async () => {
      const bytes = await rawExchange(main.port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      const response = parseSingleResponse(bytes);
      assert.ok(response.status >= 400 && response.status < 500, `status ${response.status}`);
      const text = bytes.toString('latin1');
      assert.ok(!text.includes(SECRET) && !text.includes(OUTSIDE_404), 'a file outside the root was sent');
    });
  }
});

describe('SPA fallback', () => {
  test('an unknown path with Accept: text/html → 200 with the root index.html, Cache-Control: no-cache', async () => {
    for (const target of ['/app/route', '/deep/link/42', '/v1.0/']) {
      const response = await send(spa.port, target, { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' });
      assert.equal(response.status, 200, target);
      assert.equal(response.body.toString(), INDEX_HTML, target);
      assert.equal(response.field('cache-control'), 'no-cache', target);
    }
  });

  test('a path whose last segment has a file extension gets a real 404, never the HTML shell', async () => {
    for (const target of ['/missing.txt', '/assets/app.js', '/deep/link/chunk.css']) {
      const response = await send(spa.port, target, { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' });
      assert.equal(response.status, 404, target);
      assert.notEqual(response.body.toString(), INDEX_HTML, target);
    }
  });

  test('fetch navigating like a browser gets the index page', async () => {
    const response = await fetch(spa.url('/some/client/route'), { headers: { accept: 'text/html' } });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), INDEX_HTML);
  });

  test('without text/html in Accept → 404 (a missing script or image must not be answered with HTML)', async () => {
    for (const headers of [{}, { Accept: 'application/json' }, { Accept: 'image/png,image/*' }] as Array<Record<string, string>>) {
      const response = await send(spa.port, '/app/route', headers);
      assert.equal(response.status, 404, JSON.stringify(headers));
      assert.notEqual(response.body.toString(), INDEX_HTML);
    }
  });

  test('existing files and folders are still served as themselves', async () => {
    const accept = { Accept: 'text/html' };
    assert.equal((await send(spa.port, '/hello.txt', accept)).body.toString(), HELLO);
    assert.deepEqual((await send(spa.port, '/data.bin', accept)).body, DATA);
    const listing = await send(spa.port, '/list/', accept);
    assert.equal(listing.status, 200);
    assert.ok(listing.body.toString().includes('href="/list/adir/"'), 'not the listing of /list/');
  });

  test('without spa, the same request → 404', async () => {
    assert.equal((await send(main.port, '/app/route', { Accept: 'text/html' })).status, 404);
  });

  test('traversal with Accept: text/html is never answered with an outside file', async () => {
    const bytes = await rawExchange(
      spa.port,
      'GET /../secret.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\nConnection: close\r\n\r\n',
    );
    assert.ok(!bytes.toString('latin1').includes(SECRET));
  });
});

// ---------------------------------------------------------------------------------------------------
// Content codings
// ---------------------------------------------------------------------------------------------------

describe('precompressed siblings', () => {
  test('the fixtures are what they claim: each sibling decodes to its file', () => {
    assert.equal(gunzipSync(APP_JS_GZ).toString(), APP_JS);
    assert.equal(brotliDecompressSync(APP_JS_BR).toString(), APP_JS);
    assert.ok(Buffer.byteLength(APP_JS) < 1024, 'app.js must be too small to be compressed on the fly');
  });

  const cases: Array<[acceptEncoding: string, coding: 'br' | 'gzip']> = [
    ['br', 'br'],
    ['gzip', 'gzip'],
    ['gzip, br', 'br'],
    ['gzip;q=1, br;q=0.5', 'gzip'],
    ['x-gzip', 'gzip'],
    ['*', 'br'],
  ];
  for (const [acceptEncoding, coding] of cases) {
    test(`Accept-Encoding: ${acceptEncoding} → the .${coding === 'br' ? 'br' : 'gz'} sibling, byte for byte`, async () => {
      const response = await send(main.port, '/app.js', { 'Accept-Encoding': acceptEncoding });
      assert.equal(response.status, 200);
      assert.equal(response.field('content-encoding'), coding);
      assert.equal(response.field('content-type'), 'text/javascript; charset=utf-8');
      assert.ok(varyNames(response).includes('accept-encoding'), 'no Vary: Accept-Encoding');
      assert.deepEqual(response.body, coding === 'br' ? APP_JS_BR : APP_JS_GZ);
      const decoded = coding === 'br' ? brotliDecompressSync(response.body) : gunzipSync(response.body);
      assert.equal(decoded.toString(), APP_JS);
    });
  }

  for (const acceptEncoding of [undefined, 'identity', 'br;q=0, gzip;q=0', 'deflate']) {
    test(`Accept-Encoding: ${acceptEncoding ?? '(absent)'} → the file itself, with Vary`, async () => {
      const response = await send(main.port, '/app.js', acceptEncoding === undefined ? {} : { 'Accept-Encoding': acceptEncoding });
      assert.equal(response.status, 200);
      assert.equal(response.field('content-encoding'), undefined);
      assert.equal(response.body.toString(), APP_JS);
      assert.ok(varyNames(response).includes('accept-encoding'), 'no Vary: Accept-Encoding');
    });
  }

  test('each coding has its own ETag, and revalidation follows the coding', async () => {
    const identity = await send(main.port, '/app.js');
    const br = await send(main.port, '/app.js', { 'Accept-Encoding': 'br' });
    const gzip = await send(main.port, '/app.js', { 'Accept-Encoding': 'gzip' });
    const etags = [identity, br, gzip].map((response) => response.field('etag'));
    assert.equal(new Set(etags).size, 3, etags.join(' '));

    const same = await send(main.port, '/app.js', { 'Accept-Encoding': 'br', 'If-None-Match': br.field('etag')! });
    assert.equal(same.status, 304);
    assert.equal(same.field('etag'), br.field('etag'));
    const otherCoding = await send(main.port, '/app.js', { 'Accept-Encoding': 'gzip', 'If-None-Match': br.field('etag')! });
    assert.equal(otherCoding.status, 200);
    assert.deepEqual(otherCoding.body, APP_JS_GZ);
  });

  test('HEAD announces the sibling length', async () => {
    const response = await send(main.port, '/app.js', { 'Accept-Encoding': 'br' }, 'HEAD');
    assert.equal(response.field('content-encoding'), 'br');
    assert.equal(response.field('content-length'), String(APP_JS_BR.length));
  });

  test('only a .gz sibling: gzip gets it, br alone gets the identity file', async () => {
    const gzip = await send(main.port, '/only-gz.css', { 'Accept-Encoding': 'gzip' });
    assert.equal(gzip.field('content-encoding'), 'gzip');
    assert.equal(gunzipSync(gzip.body).toString(), ONLY_GZ_CSS);
    const br = await send(main.port, '/only-gz.css', { 'Accept-Encoding': 'br' });
    assert.equal(br.field('content-encoding'), undefined);
    assert.equal(br.body.toString(), ONLY_GZ_CSS);
  });

  test('fetch decodes the sibling back to the file', async () => {
    const response = await fetch(main.url('/app.js'));
    assert.ok(
      ['br', 'gzip'].includes(response.headers.get('content-encoding') ?? ''),
      `Content-Encoding: ${response.headers.get('content-encoding')}`,
    );
    assert.equal(await response.text(), APP_JS);
  });

  test('a file large enough to compress on the fly is still served from its precompressed siblings', async () => {
    // The siblings are not what the on-the-fly compressor makes, so the test can tell them apart.
    assert.notDeepEqual(BIG_APP_JS_BR, await compress(Buffer.from(BIG_APP_JS), 'br'));
    assert.notDeepEqual(BIG_APP_JS_GZ, await compress(Buffer.from(BIG_APP_JS), 'gzip'));
    for (const [coding, sibling] of [
      ['br', BIG_APP_JS_BR],
      ['gzip', BIG_APP_JS_GZ],
    ] as const) {
      const response = await send(main.port, '/big-app.js', { 'Accept-Encoding': coding });
      assert.equal(response.field('content-encoding'), coding);
      assert.deepEqual(response.body, sibling, `${coding}: the sibling file was ignored and the file compressed on the fly instead`);
    }
  });

  test('compress: false → the siblings are ignored', async () => {
    const response = await send(noCompress.port, '/app.js', { 'Accept-Encoding': 'gzip, br' });
    assert.equal(response.field('content-encoding'), undefined);
    assert.equal(response.body.toString(), APP_JS);
  });
});

describe('compression on the fly', () => {
  for (const coding of ['gzip', 'br'] as const) {
    test(`a compressible file ≥ 1 KiB with Accept-Encoding: ${coding} → ${coding}, decoding to the file`, async () => {
      const response = await send(main.port, '/page.txt', { 'Accept-Encoding': coding });
      assert.equal(response.status, 200);
      assert.equal(response.field('content-encoding'), coding);
      assert.equal(response.field('content-type'), 'text/plain; charset=utf-8');
      assert.ok(varyNames(response).includes('accept-encoding'));
      assert.ok(response.body.length < Buffer.byteLength(PAGE), 'not smaller than the file');
      const decoded = coding === 'gzip' ? gunzipSync(response.body) : brotliDecompressSync(response.body);
      assert.equal(decoded.toString(), PAGE);
    });
  }

  test('the compressed variants have ETags of their own, and revalidate', async () => {
    const identity = await send(main.port, '/page.txt');
    const gzip = await send(main.port, '/page.txt', { 'Accept-Encoding': 'gzip' });
    const br = await send(main.port, '/page.txt', { 'Accept-Encoding': 'br' });
    assert.equal(new Set([identity, gzip, br].map((response) => response.field('etag'))).size, 3);
    const revalidated = await send(main.port, '/page.txt', { 'Accept-Encoding': 'gzip', 'If-None-Match': gzip.field('etag')! });
    assert.equal(revalidated.status, 304);
  });

  test('HEAD with gzip announces the compressed length', async () => {
    const get = await send(main.port, '/page.txt', { 'Accept-Encoding': 'gzip' });
    const head = await send(main.port, '/page.txt', { 'Accept-Encoding': 'gzip' }, 'HEAD');
    assert.equal(head.field('content-encoding'), 'gzip');
    assert.equal(head.field('content-length'), String(get.body.length));
  });

  const identityCases: Array<[name: string, path: string, headers: Record<string, string>, expected: Buffer | string]> = [
    ['a small text file', '/small.txt', { 'Accept-Encoding': 'gzip, br' }, SMALL],
    ['an image', '/image.png', { 'Accept-Encoding': 'gzip, br' }, PNG],
    ['no Accept-Encoding', '/page.txt', {}, PAGE],
    ['br;q=0, gzip;q=0', '/page.txt', { 'Accept-Encoding': 'br;q=0, gzip;q=0' }, PAGE],
    ['identity', '/page.txt', { 'Accept-Encoding': 'identity' }, PAGE],
  ];
  for (const [name, path, headers, expected] of identityCases) {
    test(`${name} → no Content-Encoding, the file's bytes`, async () => {
      const response = await send(main.port, path, headers);
      assert.equal(response.status, 200);
      assert.equal(response.field('content-encoding'), undefined);
      assert.deepEqual(response.body, Buffer.from(expected));
    });
  }

  test('an image does not vary on Accept-Encoding', async () => {
    const response = await send(main.port, '/image.png', { 'Accept-Encoding': 'gzip' });
    assert.ok(!varyNames(response).includes('accept-encoding'));
  });

  test('compress: false → never Content-Encoding', async () => {
    for (const path of ['/page.txt', '/big-app.js', '/app.js', '/only-gz.css']) {
      const response = await send(noCompress.port, path, { 'Accept-Encoding': 'gzip, br' });
      assert.equal(response.status, 200, path);
      assert.equal(response.field('content-encoding'), undefined, path);
      assert.deepEqual(response.body, readFileSync(join(root, path.slice(1))), path);
    }
  });

  test('fetch and curl --compressed decode the page to the file', async () => {
    const response = await fetch(main.url('/page.txt'));
    assert.ok(['br', 'gzip'].includes(response.headers.get('content-encoding') ?? ''));
    assert.equal(await response.text(), PAGE);
    if (hasCurl) {
      const result = await curl(['--compressed', main.url('/page.txt')]);
      assert.equal(result.exitCode, 0);
      assert.equal(result.responses.at(-1)?.status, 200);
      assert.ok(result.stdout.toString().endsWith(PAGE), 'curl --compressed did not get the page back');
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// The CLI: --cache, --cors, --header, --no-listing, --no-compress, --spa, --dotfiles, --log-format
// ---------------------------------------------------------------------------------------------------

type CliServer = BackgroundProcess & { port: number };

const X_FRAME = 'DENY';
const X_EXTRA = 'one two';

describe('sockhttp serve --cache 60 --cors -H … -H … --log-format combined', () => {
  let cli: CliServer;
  before(async () => {
    cli = await startCliServer([
      root,
      '--cache',
      '60',
      '--cors',
      '-H',
      `X-Frame-Options: ${X_FRAME}`,
      '--header',
      `X-Extra:${X_EXTRA}`,
      '--log-format',
      'combined',
    ]);
  });
  after(async () => {
    await cli?.stop();
  });

  test('--cache 60 → Cache-Control: public, max-age=60', async () => {
    const response = await send(cli.port, '/hello.txt');
    assert.equal(response.status, 200);
    assert.equal(response.field('cache-control'), 'public, max-age=60');
  });

  test('--cors → Access-Control-Allow-Origin: * on files, 404s and 304s', async () => {
    const ok = await fetch(`http://127.0.0.1:${cli.port}/hello.txt`, { headers: { origin: 'http://other.example' } });
    assert.equal(ok.headers.get('access-control-allow-origin'), '*');
    assert.equal(await ok.text(), HELLO);
    const missing = await send(cli.port, '/missing.txt', { Origin: 'http://other.example' });
    assert.equal(missing.status, 404);
    assert.equal(missing.field('access-control-allow-origin'), '*');
    const notModified = await send(cli.port, '/hello.txt', { 'If-None-Match': '*' });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.field('access-control-allow-origin'), '*');
  });

  test('--cors: a preflight OPTIONS → 204 with Allow-Methods, the requested headers echoed, Max-Age', async () => {
    const response = await send(
      cli.port,
      '/hello.txt',
      {
        Origin: 'http://other.example',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'x-custom, content-type',
      },
      'OPTIONS',
    );
    assert.equal(response.status, 204);
    assert.equal(response.field('access-control-allow-origin'), '*');
    const methods = (response.field('access-control-allow-methods') ?? '').split(',').map((method) => method.trim());
    assert.ok(methods.includes('GET') && methods.includes('HEAD'), `Allow-Methods: ${methods}`);
    assert.equal(response.field('access-control-allow-headers'), 'x-custom, content-type');
    assert.match(response.field('access-control-max-age') ?? '', /^[1-9]\d*$/);
  });

  test('without --cors: no Access-Control-Allow-Origin, and a preflight gets no CORS answer', async () => {
    const response = await send(main.port, '/hello.txt', { Origin: 'http://other.example' });
    assert.equal(response.field('access-control-allow-origin'), undefined);
    const preflight = await send(
      main.port,
      '/hello.txt',
      { Origin: 'http://other.example', 'Access-Control-Request-Method': 'GET' },
      'OPTIONS',
    );
    assert.equal(preflight.field('access-control-allow-methods'), undefined);
    assert.equal(preflight.field('access-control-allow-origin'), undefined);
  });

  const everywhere: Array<[name: string, target: string, headers: Record<string, string>, method: string, status: number]> = [
    ['a file', '/hello.txt', {}, 'GET', 200],
    ['HEAD', '/hello.txt', {}, 'HEAD', 200],
    ['a 404', '/missing.txt', {}, 'GET', 404],
    ['a 304', '/hello.txt', { 'If-None-Match': '*' }, 'GET', 304],
    ['a 206', '/data.bin', { Range: 'bytes=0-1' }, 'GET', 206],
    ['a 416', '/data.bin', { Range: 'bytes=5000-' }, 'GET', 416],
    ['a 412', '/hello.txt', { 'If-Match': '"x"' }, 'GET', 412],
    ['a 301', '/list', {}, 'GET', 301],
    ['a listing', '/list/', {}, 'GET', 200],
    ['a 405', '/hello.txt', { 'Content-Length': '0' }, 'DELETE', 405],
    ['a dotfile refused', '/.env', {}, 'GET', 404],
  ];
  for (const [name, target, headers, method, status] of everywhere) {
    test(`-H / --header fields on ${name}`, async () => {
      const response = await send(cli.port, target, headers, method);
      assert.equal(response.status, status);
      assert.equal(response.field('x-frame-options'), X_FRAME);
      assert.equal(response.field('x-extra'), X_EXTRA);
      assert.equal(response.fields.filter(([fieldName]) => fieldName.toLowerCase() === 'x-frame-options').length, 1, 'sent more than once');
    });
  }

  test('--log-format combined: referer and user agent quoted, the status and body bytes of a 206 and a 404', async () => {
    await send(cli.port, '/data.bin?combined-1', {
      Range: 'bytes=0-4',
      Referer: 'http://ref.example/page?x=1',
      'User-Agent': 'combined-test/2.0 (x)',
    });
    await send(cli.port, '/missing.txt?combined-2', {});
    await cli.waitFor(/combined-2 HTTP\/1\.1" 404 .*\n/);
    const lines = cli.output().split('\n');
    const ranged = lines.find((line) => line.includes('combined-1'));
    assert.match(
      ranged ?? '',
      /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/data\.bin\?combined-1 HTTP\/1\.1" 206 5 "http:\/\/ref\.example\/page\?x=1" "combined-test\/2\.0 \(x\)"$/,
    );
    const missing = lines.find((line) => line.includes('combined-2'));
    assert.match(missing ?? '', /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/missing\.txt\?combined-2 HTTP\/1\.1" 404 [1-9]\d* "-" "-"$/);
  });
});

describe('sockhttp serve --no-listing --no-compress --spa --log-format json', () => {
  let cli: CliServer;
  before(async () => {
    cli = await startCliServer([root, '--no-listing', '--no-compress', '--spa', '--log-format', 'json']);
  });
  after(async () => {
    await cli?.stop();
  });

  test('--no-listing → 404 for a folder without index.html', async () => {
    const response = await send(cli.port, '/list/');
    assert.equal(response.status, 404);
    assert.equal(response.body.toString(), NOT_FOUND_HTML);
  });

  test('--no-compress → no Content-Encoding, neither on the fly nor from siblings', async () => {
    for (const path of ['/page.txt', '/app.js']) {
      const response = await send(cli.port, path, { 'Accept-Encoding': 'gzip, br' });
      assert.equal(response.field('content-encoding'), undefined, path);
      assert.deepEqual(response.body, readFileSync(join(root, path.slice(1))), path);
    }
  });

  test('--spa → unknown paths get index.html for HTML clients, 404 for others; files are still files', async () => {
    const html = await send(cli.port, '/client/route', { Accept: 'text/html' });
    assert.equal(html.status, 200);
    assert.equal(html.body.toString(), INDEX_HTML);
    assert.equal((await send(cli.port, '/client/route', { Accept: '*/*' })).status, 404);
    assert.equal((await send(cli.port, '/hello.txt', { Accept: 'text/html' })).body.toString(), HELLO);
  });

  test('without those flags: no SPA fallback, listings, compression, Cache-Control: no-cache', async () => {
    const plain = await startCliServer([root, '--quiet']);
    try {
      assert.equal((await send(plain.port, '/client/route', { Accept: 'text/html' })).status, 404);
      assert.equal((await send(plain.port, '/list/')).status, 200);
      assert.equal((await send(plain.port, '/page.txt', { 'Accept-Encoding': 'gzip' })).field('content-encoding'), 'gzip');
      assert.equal((await send(plain.port, '/hello.txt')).field('cache-control'), 'no-cache');
    } finally {
      await plain.stop();
    }
  });

  test('--log-format json: one JSON object per line with method, target, status and bytesSent', async () => {
    await send(cli.port, '/hello.txt?json-1');
    await send(cli.port, '/hello.txt?json-2', { 'If-None-Match': '*' });
    await send(cli.port, '/data.bin?json-3', { Range: 'bytes=10-19' }, 'GET');
    await send(cli.port, '/hello.txt?json-4', {}, 'HEAD');
    await cli.waitFor(/json-4.*\n/);
    const lines = cli
      .output()
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('Serving '));
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const byTarget = (suffix: string) => entries.find((entry) => String(entry['target']).endsWith(suffix));
    assert.deepEqual(pick(byTarget('json-1')), {
      method: 'GET',
      target: '/hello.txt?json-1',
      status: 200,
      bytesSent: Buffer.byteLength(HELLO),
    });
    assert.deepEqual(pick(byTarget('json-2')), { method: 'GET', target: '/hello.txt?json-2', status: 304, bytesSent: 0 });
    assert.deepEqual(pick(byTarget('json-3')), { method: 'GET', target: '/data.bin?json-3', status: 206, bytesSent: 10 });
    assert.deepEqual(pick(byTarget('json-4')), { method: 'HEAD', target: '/hello.txt?json-4', status: 200, bytesSent: 0 });
  });
});

function pick(entry: Record<string, unknown> | undefined): Record<string, unknown> {
  assert.ok(entry, 'no log line for the request');
  return { method: entry['method'], target: entry['target'], status: entry['status'], bytesSent: entry['bytesSent'] };
}

describe('sockhttp serve --dotfiles allow', () => {
  test('lists and serves .env', async () => {
    const cli = await startCliServer([root, '--dotfiles', 'allow', '--quiet']);
    try {
      const page = (await send(cli.port, '/')).body.toString();
      assert.equal(page, INDEX_HTML); // the root has an index; the listing is checked in list/
      const listing = links((await send(cli.port, '/list/')).body.toString());
      const env = listing.find((link) => link.label === '.env');
      assert.ok(env, 'no .env in the listing');
      const response = await send(cli.port, env.href);
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), 'HIDDEN=1\n');
      assert.equal((await send(cli.port, '/.env')).body.toString(), 'DOTFILE=visible-with-allow\n');
    } finally {
      await cli.stop();
    }
  });
});

describe('sockhttp serve: bad flags and --help', () => {
  for (const header of ['foo', ': no-name', 'Bad Name: x', 'X-Ok: bad\u0001value']) {
    test(`--header ${JSON.stringify(header)} → exit code 2, nothing served`, async () => {
      const result = await runCli(['serve', root, '--header', header, '--port', '0'], { timeoutMs: 15_000 });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /--header/);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.ok(!result.stdout.toString().includes('Serving'));
    });
  }

  test('serve --help lists every flag', async () => {
    const result = await runCli(['serve', '--help']);
    assert.equal(result.code, 0);
    const help = result.stdout.toString();
    const flags = [
      '--port',
      '--host',
      '--cache',
      '--no-listing',
      '--dotfiles',
      '--spa',
      '--no-compress',
      '--cors',
      '--header',
      '--watch',
      '--tls-cert',
      '--tls-key',
      '--workers',
      '--log-format',
      '--quiet',
    ];
    for (const flag of flags) assert.match(help, new RegExp(`(^|[\\s,])${flag}\\b`, 'm'), `--help does not mention ${flag}`);
    for (const short of ['-p, --port', '-H, --header', '-q, --quiet']) assert.ok(help.includes(short), `--help does not mention ${short}`);
  });
});

// ---------------------------------------------------------------------------------------------------
// --watch: live reload
// ---------------------------------------------------------------------------------------------------

/** An open event-stream connection, read on a raw socket. */
interface EventStream {
  socket: Socket;
  received(): string;
  /** Resolves true once `pattern` has arrived, false after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<boolean>;
}

function openEventStream(port: number): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let received = '';
    const listeners = new Set<() => void>();
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      for (const listener of [...listeners]) listener();
    });
    socket.on('error', () => {});
    socket.once('connect', () => {
      socket.write('GET /__sockhttp/live-reload HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n');
      resolve({
        socket,
        received: () => received,
        waitFor: (pattern, timeoutMs) =>
          new Promise((resolveWait) => {
            const check = () => {
              if (!pattern.test(received)) return;
              finish(true);
            };
            const timer = setTimeout(() => finish(false), timeoutMs);
            const finish = (result: boolean) => {
              clearTimeout(timer);
              listeners.delete(check);
              resolveWait(result);
            };
            listeners.add(check);
            check();
          }),
      });
    });
    socket.once('error', reject);
  });
}

describe('sockhttp serve --watch', () => {
  let cli: CliServer;
  before(async () => {
    cli = await startCliServer([watchRoot, '--watch', '--quiet']);
  });
  after(async () => {
    await cli?.stop();
  });

  const SNIPPET_MARK = /<script>[^<]*EventSource\('\/__sockhttp\/live-reload'\)[^<]*<\/script>/;

  test('an HTML page gets the live-reload script before </body>, and is otherwise unchanged', async () => {
    const response = await send(cli.port, '/index.html');
    assert.equal(response.status, 200);
    const page = response.body.toString();
    const match = SNIPPET_MARK.exec(page);
    assert.ok(match, page);
    assert.ok(page.indexOf(match[0]) < page.lastIndexOf('</body>'), 'the script is not inside the body');
    assert.equal(page.replace(/<script>[^<]*<\/script>\n?/, ''), INDEX_HTML);
    assert.equal(response.field('content-length'), String(response.body.length));
  });

  test('a directory listing gets the script too', async () => {
    const page = (await send(cli.port, '/no-index/')).body.toString();
    assert.match(page, SNIPPET_MARK);
    assert.ok(page.includes('file.txt'));
  });

  test('an HTML page of several KiB gets the script whatever Accept-Encoding says', async () => {
    const source = readFileSync(join(watchRoot, 'big.html'), 'utf8');
    const plain = await send(cli.port, '/big.html');
    assert.match(plain.body.toString(), SNIPPET_MARK, 'no script without Accept-Encoding');
    for (const coding of ['gzip', 'br'] as const) {
      const response = await send(cli.port, '/big.html', { 'Accept-Encoding': coding });
      const body =
        response.field('content-encoding') === coding
          ? coding === 'gzip'
            ? gunzipSync(response.body)
            : brotliDecompressSync(response.body)
          : response.body;
      assert.match(
        body.toString(),
        SNIPPET_MARK,
        `Accept-Encoding: ${coding} (Content-Encoding: ${response.field('content-encoding')}): the page has no live-reload script`,
      );
      assert.ok(body.toString().includes(source.slice(0, 200)));
    }
    // What a browser gets: fetch sends Accept-Encoding and decodes.
    const fetched = await (await fetch(`http://127.0.0.1:${cli.port}/big.html`)).text();
    assert.match(fetched, SNIPPET_MARK, 'fetch (as a browser) got the page without the live-reload script');
  });

  test('other files are unchanged, byte for byte', async () => {
    for (const path of ['/style.css', '/data.json', '/sub/keep.txt']) {
      const response = await send(cli.port, path);
      assert.equal(response.status, 200, path);
      assert.deepEqual(response.body, readFileSync(join(watchRoot, path.slice(1))), path);
    }
    const compressed = await send(cli.port, '/page.txt', { 'Accept-Encoding': 'gzip' });
    const body = compressed.field('content-encoding') === 'gzip' ? gunzipSync(compressed.body) : compressed.body;
    assert.equal(body.toString(), PAGE);
  });

  test('GET /__sockhttp/live-reload is an event stream that sends "event: reload" after a file under the root is written', async () => {
    const stream = await openEventStream(cli.port);
    try {
      assert.ok(
        await stream.waitFor(/\r\n\r\n[\s\S]*retry:/, 10_000),
        `no stream head and first event: ${JSON.stringify(stream.received())}`,
      );
      const head = stream.received().slice(0, stream.received().indexOf('\r\n\r\n'));
      assert.match(head, /^HTTP\/1\.1 200 /);
      assert.match(head, /\r\ncontent-type: text\/event-stream/i);
      assert.ok(!stream.received().includes('event: reload'), 'a reload before anything changed');

      // The watcher may need a moment to cover the tree: write again (a bounded number of times) until it reports.
      let reloaded = false;
      for (let attempt = 0; attempt < 5 && !reloaded; attempt++) {
        writeFileSync(join(watchRoot, 'sub', `written-${attempt}.txt`), `change ${attempt}\n`);
        reloaded = await stream.waitFor(/event: reload\r?\n/, 2_000);
      }
      assert.ok(reloaded, `no "event: reload" within 10 s of writing under the root; received ${JSON.stringify(stream.received())}`);
    } finally {
      stream.socket.destroy();
    }
  });

  test('the 404 page gets the live-reload script too (a page not written yet appears once saved)', async () => {
    const response = await send(cli.port, '/not-written-yet.html');
    assert.equal(response.status, 404);
    assert.match(response.body.toString(), SNIPPET_MARK);
    assert.equal(response.field('content-length'), String(response.body.length));
  });

  test('a change to a hidden file, which the server never serves, reloads nothing', async () => {
    const stream = await openEventStream(cli.port);
    try {
      // First a visible change, so that the watcher is known to be running.
      let reloaded = false;
      for (let attempt = 0; attempt < 5 && !reloaded; attempt++) {
        writeFileSync(join(watchRoot, 'sub', `visible-${attempt}.txt`), `change ${attempt}\n`);
        reloaded = await stream.waitFor(/event: reload\r?\n/, 2_000);
      }
      assert.ok(reloaded, 'no reload for a visible change');
      await new Promise((resolve) => setTimeout(resolve, 300)); // past the settling delay
      const before = stream.received().split('event: reload').length;
      mkdirSync(join(watchRoot, '.git'), { recursive: true });
      for (let attempt = 0; attempt < 5; attempt++) {
        writeFileSync(join(watchRoot, '.git', 'index'), `${attempt}\n`);
        writeFileSync(join(watchRoot, 'sub', '.page.html.swp'), `${attempt}\n`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(
        await stream.waitFor(new RegExp(`(event: reload[\\s\\S]*){${before}}`), 1_000),
        false,
        'a hidden file reloaded the pages',
      );
    } finally {
      stream.socket.destroy();
    }
  });

  test('fetch reads the event stream with a body reader', async () => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 15_000);
    try {
      const response = await fetch(`http://127.0.0.1:${cli.port}/__sockhttp/live-reload`, { signal: controller.signal });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      const reader = response.body!.getReader();
      let received = '';
      const decoder = new TextDecoder();
      // Read the greeting, then write a file and read until the reload arrives (bounded by reads and the abort timer).
      for (let reads = 0; reads < 50 && !received.includes('retry:'); reads++) {
        const { value, done } = await reader.read();
        if (done) break;
        received += decoder.decode(value, { stream: true });
      }
      assert.ok(received.includes('retry:'), received);
      const writer = setInterval(() => writeFileSync(join(watchRoot, 'fetch-change.txt'), `${Date.now()}\n`), 1_000);
      try {
        writeFileSync(join(watchRoot, 'fetch-change.txt'), 'first\n');
        for (let reads = 0; reads < 50 && !received.includes('event: reload'); reads++) {
          const { value, done } = await reader.read();
          if (done) break;
          received += decoder.decode(value, { stream: true });
        }
      } finally {
        clearInterval(writer);
      }
      assert.ok(received.includes('event: reload'), received);
      await reader.cancel();
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
  });
});

describe('serveStatic({ watch: true }) in this process', () => {
  test('an open event stream outlives the stall timeout: comment lines keep it going (--stall-timeout 0.4)', async () => {
    const quick = await startCliServer([watchRoot, '--watch', '--quiet', '--stall-timeout', '0.4']);
    let stream: EventStream | undefined;
    try {
      stream = await openEventStream(quick.port);
      let closed = false;
      stream.socket.on('close', () => (closed = true));
      assert.equal(await stream.waitFor(/: ping\n\n[\s\S]*: ping\n\n[\s\S]*: ping\n\n/, 10_000), true, `no pings: ${stream.received()}`);
      // Three pings take at least 0.6 s: three times the stall timeout has passed with the stream open.
      assert.equal(closed, false, 'the stream was cut');
    } finally {
      stream?.socket.destroy();
      await quick.stop();
    }
  });

  test('a huge HTML page (9 MiB) is sent as it is, without the script: it is not read whole into memory', async () => {
    const folder = makeTempDir();
    const page = Buffer.concat([Buffer.from('<!doctype html><body>'), Buffer.alloc(9 * 1024 * 1024, 'x'), Buffer.from('</body>\n')]);
    writeFileSync(join(folder.path, 'huge.html'), page);
    const watching = await startStaticServer(folder.path, { watch: true });
    try {
      const response = await fetch(watching.url('/huge.html'));
      const body = Buffer.from(await response.arrayBuffer());
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-length'), String(page.length));
      assert.equal(sha256(body), sha256(page), 'the page was changed');
    } finally {
      await watching.close();
      folder.remove();
    }
  });

  test('the live-reload endpoint exists only with watch', async () => {
    const response = await send(main.port, '/__sockhttp/live-reload');
    assert.equal(response.status, 404);
    const dir = makeTempDir();
    writeTree(dir.path, { 'index.html': INDEX_HTML });
    const watching = await startStaticServer(dir.path, { watch: true });
    try {
      const stream = await openEventStream(watching.port);
      try {
        assert.ok(await stream.waitFor(/text\/event-stream[\s\S]*\r\n\r\n/i, 10_000), stream.received());
      } finally {
        stream.socket.destroy();
      }
    } finally {
      await watching.close();
      dir.remove();
    }
  });
});
