/**
 * The site features over real sockets: clean URLs, the SPA fallback, fields that replace the
 * server's own (-H and serve.json), Basic authentication, listings as JSON with breadcrumbs, the
 * hardened pages, cross-origin isolation, folder archives, and serve.json read by the CLI. Driven by
 * raw sockets with the tests' own parser, Node's fetch, curl, tar and Python's zipfile.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { encrypt as shaCrypt } from 'unixcrypt';
import { plainHttpAuthWarning } from '../../src/cli/serve.js';
import { SiteRules } from '../../src/index.js';
import {
  type RunningServer,
  commandExists,
  makeTempDir,
  rawExchange,
  runCli,
  runCommand,
  startCliServer,
  startStaticServer,
} from '../helpers.js';
import { type ParsedResponse, curl, parseSingleResponse, patternBytes, writeTree } from '../net/server/helpers.js';

const hasCurl = commandExists('curl');
const hasTar = commandExists('tar');
const hasPython = commandExists('python3');

async function send(port: number, target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<ParsedResponse> {
  const lines = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  const bytes = await rawExchange(port, `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines}Connection: close\r\n\r\n`, {
    timeoutMs: 20_000,
  });
  return parseSingleResponse(bytes, method);
}

/** Every value of the field `name` (a replaced field must appear once). */
const all = (response: ParsedResponse, name: string) =>
  response.fields.filter(([field]) => field.toLowerCase() === name.toLowerCase()).map(([, value]) => value);

const NAVIGATION = { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
const ABOUT = '<!doctype html><title>about</title><p>about page</p>\n';
const APP_SHELL = '<!doctype html><title>shell</title><div id="app"></div>\n';
const SECRET = 'OUTSIDE-SECRET-91c';

let base: ReturnType<typeof makeTempDir>;
let root: string;
let plain: RunningServer;

before(async () => {
  base = makeTempDir('sockhttp-site-');
  root = join(base.path, 'root');
  writeTree(base.path, { 'outside.txt': `${SECRET}\n` });
  writeTree(root, {
    'about.html': ABOUT,
    'contact.html': '<p>contact</p>\n',
    'guide/index.html': '<p>guide index</p>\n',
    'guide.html': '<p>guide as a page</p>\n',
    'app.html': APP_SHELL,
    'hello.txt': 'hello\n',
    'files/a.txt': 'file a\n',
    'files/b.bin': patternBytes(3000),
    'files/sub/c.txt': 'file c\n',
    'files/.env': 'SECRET=1\n',
    'files/.git/config': '[core]\n',
    'single/only.txt': 'the only file\n',
  });
  symlinkSync(join(base.path, 'outside.txt'), join(root, 'files', 'leak.txt'));
  plain = await startStaticServer(root);
});

after(async () => {
  await plain.close();
  base.remove();
});

describe('clean URLs', () => {
  test('/about serves about.html; /about.html is served too, not redirected away', async () => {
    const clean = await send(plain.port, '/about');
    assert.equal(clean.status, 200);
    assert.equal(clean.body.toString(), ABOUT);
    assert.equal(clean.field('content-type'), 'text/html; charset=utf-8');
    const full = await send(plain.port, '/about.html');
    assert.equal(full.status, 200);
    assert.equal(full.body.toString(), ABOUT);
    assert.equal(clean.field('etag'), full.field('etag'), 'one representation, two URLs');
  });

  test('a folder wins over a page of the same name (its slash redirect, then its index)', async () => {
    const response = await send(plain.port, '/guide');
    assert.equal(response.status, 301);
    assert.equal(response.field('location'), '/guide/');
  });

  test('a path with an extension or a trailing slash is never cleaned', async () => {
    assert.equal((await send(plain.port, '/about.txt')).status, 404);
    assert.equal((await send(plain.port, '/about/')).status, 404);
  });

  test('cleanUrls: false (--no-clean-urls) → 404', async () => {
    const server = await startStaticServer(root, { cleanUrls: false });
    try {
      assert.equal((await send(server.port, '/about')).status, 404);
      assert.equal((await send(server.port, '/about.html')).status, 200);
    } finally {
      await server.close();
    }
  });

  test('clean URLs never reach a dotfile or leave the folder', async () => {
    writeTree(root, { '.hidden.html': 'hidden\n' });
    assert.equal((await send(plain.port, '/.hidden')).status, 404);
    assert.equal((await send(plain.port, '/files/leak')).status, 404);
    assert.ok(!(await send(plain.port, '/../outside')).body.toString().includes(SECRET));
  });
});

describe('SPA fallback (--spa FILE)', () => {
  let spa: RunningServer;
  before(async () => {
    spa = await startStaticServer(root, { spa: 'app.html', cacheControl: 'public, max-age=600' });
  });
  after(() => spa.close());

  test('a navigation that matches no file gets the shell, 200, Cache-Control: no-cache', async () => {
    for (const target of ['/dashboard', '/users/42/edit', '/a/b/']) {
      const response = await send(spa.port, target, NAVIGATION);
      assert.equal(response.status, 200, target);
      assert.equal(response.body.toString(), APP_SHELL, target);
      assert.deepEqual(all(response, 'cache-control'), ['no-cache'], target);
      assert.match(all(response, 'vary').join(', '), /\bAccept\b/, 'chosen by Accept');
    }
    assert.deepEqual(all(await send(spa.port, '/hello.txt'), 'cache-control'), ['public, max-age=600'], 'files keep --cache');
  });

  test('its 304 says no-cache too', async () => {
    const first = await send(spa.port, '/dashboard', NAVIGATION);
    const again = await send(spa.port, '/dashboard', { ...NAVIGATION, 'If-None-Match': first.field('etag')! });
    assert.equal(again.status, 304);
    assert.deepEqual(all(again, 'cache-control'), ['no-cache']);
  });

  test('a missing script, stylesheet or image is a real 404, never the shell served as JavaScript', async () => {
    for (const target of ['/assets/main.js', '/style.css', '/logo.png', '/users/42/data.json']) {
      const response = await send(spa.port, target, NAVIGATION);
      assert.equal(response.status, 404, target);
      assert.notEqual(response.body.toString(), APP_SHELL, target);
      assert.equal(response.field('content-type'), 'text/html; charset=utf-8');
    }
  });

  test('a request that does not accept HTML (fetch of data, an image) is a real 404', async () => {
    for (const accept of ['application/json', 'image/avif,image/webp,*/*', '*/*']) {
      const response = await fetch(spa.url('/dashboard'), { headers: { accept } });
      assert.equal(response.status, 404, accept);
      assert.notEqual(await response.text(), APP_SHELL);
    }
  });

  test('existing files and clean URLs come first', async () => {
    assert.equal((await send(spa.port, '/about', NAVIGATION)).body.toString(), ABOUT);
    assert.equal((await send(spa.port, '/hello.txt', NAVIGATION)).body.toString(), 'hello\n');
  });
});

describe('fields that replace the server’s own', () => {
  let server: RunningServer;
  before(async () => {
    server = await startStaticServer(root, {
      headers: [
        ['Cache-Control', 'no-store'],
        ['Content-Type', 'text/x-custom'],
        ['X-Extra', 'one'],
      ],
    });
  });
  after(() => server.close());

  for (const [label, target, headers] of [
    ['a file', '/hello.txt', {}],
    ['a clean URL', '/about', {}],
    ['a listing', '/files/', {}],
    ['a 404', '/nothing-here.txt', {}],
    ['a compressed file', '/files/b.bin', { 'Accept-Encoding': 'gzip' }],
  ] as const) {
    test(`-H Cache-Control and Content-Type appear once, with the configured value, on ${label}`, async () => {
      const response = await send(server.port, target, headers);
      assert.deepEqual(all(response, 'cache-control'), ['no-store'], label);
      assert.deepEqual(all(response, 'content-type'), ['text/x-custom'], label);
      assert.deepEqual(all(response, 'x-extra'), ['one'], label);
    });
  }

  test('several ranges are still multipart/byteranges under a configured Content-Type', async () => {
    const response = await send(server.port, '/files/b.bin', { Range: 'bytes=0-9,20-29' });
    assert.equal(response.status, 206);
    assert.match(all(response, 'content-type').join(), /^multipart\/byteranges; boundary=/);
    assert.match(response.body.toString('latin1'), /Content-Type: text\/x-custom/);
  });

  test('on a 304 too', async () => {
    const first = await send(server.port, '/hello.txt');
    const again = await send(server.port, '/hello.txt', { 'If-None-Match': first.field('etag')! });
    assert.equal(again.status, 304);
    assert.deepEqual(all(again, 'cache-control'), ['no-store']);
  });

  test('serve.json headers by glob replace per file; -H replaces them in turn', async () => {
    const site = new SiteRules({
      headers: [
        {
          source: '**/*.txt',
          headers: [
            { key: 'Cache-Control', value: 'max-age=60' },
            { key: 'X-Rule', value: 'txt' },
          ],
        },
        { source: '/files/**', headers: [{ key: 'X-Rule', value: 'files' }] },
      ],
    });
    const configured = await startStaticServer(root, { site, headers: [['X-Rule', 'flag']] });
    const ruled = await startStaticServer(root, { site });
    try {
      const hello = await send(ruled.port, '/hello.txt');
      assert.deepEqual(all(hello, 'cache-control'), ['max-age=60']);
      assert.deepEqual(all(hello, 'x-rule'), ['txt']);
      assert.deepEqual(all(await send(ruled.port, '/files/a.txt'), 'x-rule'), ['files']);
      assert.deepEqual(all(await send(ruled.port, '/about'), 'cache-control'), ['no-cache'], 'no rule: the default');
      assert.deepEqual(all(await send(configured.port, '/files/a.txt'), 'x-rule'), ['flag']);
    } finally {
      await configured.close();
      await ruled.close();
    }
  });

  test('the CLI: -H Cache-Control sends one Cache-Control (curl); -H Content-Length is refused', { skip: !hasCurl }, async () => {
    const cli = await startCliServer([root, '-q', '-H', 'Cache-Control: no-store', '-H', 'Content-Type: text/plain; charset=utf-8']);
    try {
      const { responses } = await curl([`http://127.0.0.1:${cli.port}/about`]);
      assert.deepEqual(all(responses[0]!, 'cache-control'), ['no-store']);
      assert.deepEqual(all(responses[0]!, 'content-type'), ['text/plain; charset=utf-8']);
    } finally {
      await cli.stop();
    }
    const refused = await runCli(['serve', root, '-H', 'Content-Length: 5', '--port', '0']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /cannot set Content-Length/);
  });
});

describe('Basic authentication', () => {
  const encode = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  test('no or wrong credentials → 401 with WWW-Authenticate; right ones → the file', async () => {
    const server = await startStaticServer(root, { auth: { credentials: ['ann:s3cret:with:colons'] } });
    try {
      for (const headers of [
        {},
        { Authorization: encode('ann', 'wrong') },
        { Authorization: encode('bob', 's3cret:with:colons') },
        { Authorization: 'Bearer abc' },
        { Authorization: 'Basic ***' },
      ] as Array<Record<string, string>>) {
        const response = await send(server.port, '/hello.txt', headers);
        assert.equal(response.status, 401, JSON.stringify(headers));
        assert.equal(response.field('www-authenticate'), 'Basic realm="sockhttp", charset="UTF-8"');
        assert.equal(response.field('x-content-type-options'), 'nosniff');
        assert.ok(!response.body.toString().includes('hello'));
      }
      const ok = await send(server.port, '/hello.txt', { Authorization: encode('ann', 's3cret:with:colons') });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.toString(), 'hello\n');
      // fetch sends credentials from the URL as Basic authorization
      const viaFetch = await fetch(server.url('/hello.txt'), { headers: { authorization: encode('ann', 's3cret:with:colons') } });
      assert.equal(viaFetch.status, 200);
      assert.equal((await send(server.port, '/missing.txt', { Authorization: encode('ann', 's3cret:with:colons') })).status, 404);
    } finally {
      await server.close();
    }
  });

  test('htpasswd with bcrypt ($2y$, as Apache writes it) and SHA-crypt ($5$, $6$)', async () => {
    const bcryptHash = bcrypt.hashSync('b-pass', 4).replace(/^\$2[ab]\$/, '$2y$');
    const opensslHash = spawnSync('openssl', ['passwd', '-6', '-salt', 'saltsalt', 'six-pass'], { encoding: 'utf8' }).stdout?.trim();
    const sha512 = opensslHash?.startsWith('$6$') ? opensslHash : shaCrypt('six-pass', '$6$saltsalt');
    const htpasswd = `# users\nbea:${bcryptHash}\nsix:${sha512}\nfive:${shaCrypt('five-pass', '$5$rounds=5000$abc')}\n`;
    const server = await startStaticServer(root, { auth: { htpasswd } });
    try {
      for (const [user, password] of [
        ['bea', 'b-pass'],
        ['six', 'six-pass'],
        ['five', 'five-pass'],
      ] as const) {
        assert.equal((await send(server.port, '/hello.txt', { Authorization: encode(user, password) })).status, 200, user);
        assert.equal((await send(server.port, '/hello.txt', { Authorization: encode(user, `${password}x`) })).status, 401, user);
        // a second time comes from the remembered verdict, with the same answer
        assert.equal((await send(server.port, '/hello.txt', { Authorization: encode(user, password) })).status, 200, user);
      }
    } finally {
      await server.close();
    }
  });

  test('the CLI: credentials never reach the access log or the trace; a bad --auth is a usage error', async () => {
    const authFile = join(base.path, 'users.htpasswd');
    writeFileSync(authFile, `cli:${bcrypt.hashSync('pw-in-file', 4)}\n`);
    const cli = await startCliServer([
      root,
      '--auth',
      'ann:pw-on-command-line',
      '--auth-file',
      authFile,
      '--trace',
      '--log-format',
      'combined',
    ]);
    try {
      assert.equal((await send(cli.port, '/hello.txt', { Authorization: encode('ann', 'pw-on-command-line') })).status, 200);
      assert.equal((await send(cli.port, '/hello.txt', { Authorization: encode('cli', 'pw-in-file') })).status, 200);
      assert.equal((await send(cli.port, '/hello.txt', { Authorization: encode('cli', 'wrong') })).status, 401);
    } finally {
      await cli.stop();
    }
    const everything = cli.output() + cli.errors();
    for (const secret of [
      'pw-on-command-line',
      'pw-in-file',
      Buffer.from('ann:pw-on-command-line').toString('base64'),
      Buffer.from('cli:wrong').toString('base64'),
    ]) {
      assert.ok(!everything.includes(secret), `${secret} was logged`);
    }
    const bad = await runCli(['serve', root, '--auth', 'nocolon', '--port', '0']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--auth must look like USER:PASSWORD/);
    const badFile = join(base.path, 'md5.htpasswd');
    writeFileSync(badFile, 'old:$apr1$xyz$abc\n');
    const refused = await runCli(['serve', root, '--auth-file', badFile, '--port', '0']);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr.trim().split('\n').length, 1);
    assert.match(refused.stderr, /neither bcrypt/);
  });

  test('--watch: the live-reload stream needs the credentials too', async () => {
    const server = await startStaticServer(root, { auth: { credentials: ['ann:pw'] }, watch: true });
    const headOf = (headers: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ port: server.port, host: '127.0.0.1' });
        let text = '';
        const timer = setTimeout(() => socket.destroy(new Error('no head')), 5_000);
        socket.on('data', (chunk) => {
          text += chunk.toString('latin1');
          if (text.includes('\r\n\r\n')) {
            clearTimeout(timer);
            socket.destroy();
            resolve(text.slice(0, text.indexOf('\r\n\r\n')));
          }
        });
        socket.on('error', reject);
        socket.write(`GET /__sockhttp/live-reload HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
      });
    try {
      assert.match(await headOf(''), /^HTTP\/1\.1 401 /);
      const allowed = await headOf(`Authorization: ${encode('ann', 'pw')}\r\n`);
      assert.match(allowed, /^HTTP\/1\.1 200 /);
      assert.match(allowed, /content-type: text\/event-stream/i);
    } finally {
      await server.close();
    }
  });

  test('a warning when passwords would cross a network in clear text', () => {
    assert.match(plainHttpAuthWarning('0.0.0.0', false, true) ?? '', /plain HTTP on 0\.0\.0\.0.*--https/);
    assert.match(plainHttpAuthWarning('192.168.1.20', false, true) ?? '', /plain HTTP/);
    assert.equal(plainHttpAuthWarning('127.0.0.1', false, true), null);
    assert.equal(plainHttpAuthWarning('localhost', false, true), null);
    assert.equal(plainHttpAuthWarning('0.0.0.0', true, true), null);
    assert.equal(plainHttpAuthWarning('0.0.0.0', false, false), null);
  });
});

describe('listings and the server’s own pages', () => {
  test('Accept: application/json → the listing as data; no dotfile, no link leading out', async () => {
    const response = await fetch(plain.url('/files/'), { headers: { accept: 'application/json' } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.match(response.headers.get('vary') ?? '', /Accept/);
    const listing = (await response.json()) as {
      path: string;
      entries: Array<{ name: string; type: string; size: number | null; mtime: string; url: string }>;
    };
    assert.equal(listing.path, '/files/');
    assert.deepEqual(
      listing.entries.map((entry) => [entry.name, entry.type, entry.size, entry.url]),
      [
        ['sub', 'directory', null, '/files/sub/'],
        ['a.txt', 'file', 7, '/files/a.txt'],
        ['b.bin', 'file', 3000, '/files/b.bin'],
      ],
    );
    assert.equal(listing.entries[1]!.mtime, '2021-03-04T05:06:07.000Z');
  });

  test('the HTML listing has breadcrumbs to each ancestor', async () => {
    const html = await (await fetch(plain.url('/files/sub/'))).text();
    assert.match(
      html,
      /Index of <a class="crumb" href="\/">\/<\/a><a class="crumb" href="\/files\/">files\/<\/a><span class="here">sub\/<\/span>/,
    );
  });

  test('listings and error pages carry nosniff and a CSP without scripts', async () => {
    for (const target of ['/files/', '/missing.txt', '/%00']) {
      const response = await send(plain.port, target);
      assert.equal(response.field('x-content-type-options'), 'nosniff', target);
      const csp = response.field('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/, target);
      assert.doesNotMatch(csp, /script-src/, target);
    }
    const notFound = await send(plain.port, '/missing.txt');
    assert.equal(notFound.status, 404);
    assert.match(notFound.body.toString(), /<title>404 Not Found<\/title>/);
    assert.ok(!notFound.body.toString().includes('missing.txt'), 'the page never echoes the path');
  });

  test('serve.json: unlisted names are left out of listings but served; renderSingle; directoryListing: false', async () => {
    const server = await startStaticServer(root, { site: new SiteRules({ unlisted: ['b.*'], renderSingle: true }) });
    const noListing = await startStaticServer(root, { site: new SiteRules({ directoryListing: false }) });
    try {
      const names = (
        (await (await fetch(server.url('/files/'), { headers: { accept: 'application/json' } })).json()) as {
          entries: Array<{ name: string }>;
        }
      ).entries.map((entry) => entry.name);
      assert.deepEqual(names, ['sub', 'a.txt']);
      assert.equal((await send(server.port, '/files/b.bin')).status, 200);
      assert.equal((await send(server.port, '/single/')).body.toString(), 'the only file\n');
      assert.equal((await send(noListing.port, '/files/')).status, 404);
      assert.equal((await send(noListing.port, '/guide/')).body.toString(), '<p>guide index</p>\n');
    } finally {
      await server.close();
      await noListing.close();
    }
  });
});

describe('--isolation', () => {
  test('COOP and COEP on files, listings and errors', async () => {
    const server = await startStaticServer(root, { isolation: true });
    try {
      for (const target of ['/hello.txt', '/files/', '/missing.txt']) {
        const response = await send(server.port, target);
        assert.equal(response.field('cross-origin-opener-policy'), 'same-origin', target);
        assert.equal(response.field('cross-origin-embedder-policy'), 'require-corp', target);
      }
    } finally {
      await server.close();
    }
  });
});

describe('--archives', () => {
  let server: RunningServer;
  let big: string;
  before(async () => {
    big = join(base.path, 'big');
    writeTree(big, { 'one.bin': patternBytes(6 * 1024 * 1024), 'two.bin': patternBytes(6 * 1024 * 1024 + 1) });
    server = await startStaticServer(root, { archives: true });
  });
  after(() => server.close());

  test('the listing links to the archives', async () => {
    const html = await (await fetch(server.url('/files/'))).text();
    assert.match(html, /href="\?archive=tar\.gz" download>files\.tar\.gz</);
    assert.match(html, /href="\?archive=zip" download>files\.zip</);
  });

  test('.tar.gz (read by tar): every servable file, no dotfile, no link leading out, identical bytes', {
    skip: !hasTar || !hasCurl,
  }, async () => {
    const head = await fetch(server.url('/files/?archive=tar.gz'), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'application/gzip');
    assert.match(head.headers.get('content-disposition') ?? '', /^attachment; filename="?files\.tar\.gz"?$/);
    const out = join(base.path, 'out-tar');
    mkdirSync(out);
    const result = await runCommand('sh', [
      '-c',
      `curl -sS --max-time 20 'http://127.0.0.1:${server.port}/files/?archive=tar.gz' | tar -xzvf - -C '${out}'`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const names = result.stdout.toString().trim().split('\n').sort();
    assert.deepEqual(names, ['a.txt', 'b.bin', 'sub/', 'sub/c.txt']);
    const check = await runCommand('sh', [
      '-c',
      `cmp '${join(out, 'b.bin')}' '${join(root, 'files', 'b.bin')}' && cat '${join(out, 'sub', 'c.txt')}'`,
    ]);
    assert.equal(check.stdout.toString(), 'file c\n');
  });

  test('.zip (read by Python’s zipfile): the same entries and bytes', { skip: !hasPython || !hasCurl }, async () => {
    const file = join(base.path, 'files.zip');
    const download = await runCommand('curl', [
      '-sS',
      '--max-time',
      '20',
      '-o',
      file,
      `http://127.0.0.1:${server.port}/files/?archive=zip`,
    ]);
    assert.equal(download.code, 0, download.stderr);
    const script = `import zipfile, sys, hashlib\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nfor n in sorted(z.namelist()): print(n, hashlib.sha256(z.read(n)).hexdigest() if not n.endswith('/') else '')`;
    const listed = await runCommand('python3', ['-c', script, file]);
    assert.equal(listed.code, 0, listed.stderr);
    const lines = listed.stdout.toString().trim().split('\n');
    assert.deepEqual(
      lines.map((line) => line.split(' ')[0]),
      ['a.txt', 'b.bin', 'sub/', 'sub/c.txt'],
    );
    assert.ok(!listed.stdout.toString().includes(SECRET));
  });

  test('a symlink back to an ancestor is included once, not followed round', { skip: !hasTar || !hasCurl }, async () => {
    const looped = join(base.path, 'looped');
    writeTree(looped, { 'top.txt': 'top\n', 'inner/deep.txt': 'deep\n' });
    symlinkSync('..', join(looped, 'inner', 'back-up'));
    symlinkSync('inner', join(looped, 'inner-again'));
    const loopServer = await startStaticServer(looped, { archives: true });
    try {
      const result = await runCommand('sh', [
        '-c',
        `curl -sS --max-time 20 'http://127.0.0.1:${loopServer.port}/?archive=tar.gz' | tar -tzf -`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(result.stdout.toString().trim().split('\n').sort(), ['inner/', 'inner/deep.txt', 'top.txt']);
    } finally {
      await loopServer.close();
    }
  });

  test('a dotfolder, a file, a missing folder or an unknown format is not archived', async () => {
    assert.equal((await send(server.port, '/files/.git/?archive=tar.gz')).status, 404);
    assert.equal((await send(server.port, '/hello.txt?archive=zip')).status, 200, 'a file is served as itself');
    assert.equal((await send(server.port, '/nowhere/?archive=zip')).status, 404);
    assert.equal((await send(server.port, '/files/?archive=rar')).status, 404);
    const off = await send(plain.port, '/files/?archive=zip');
    assert.equal(off.field('content-type'), 'text/html; charset=utf-8', 'without --archives: the listing');
  });

  test('at most two archives at once: a third gets 503 while two readers stall, and a slot frees when one leaves', async () => {
    const bigServer = await startStaticServer(big, { archives: true, compress: false });
    const stalled: Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const socket = connect({ port: bigServer.port, host: '127.0.0.1' });
        socket.on('error', () => {});
        // Read the head, then stop reading: the archive stalls under backpressure.
        await new Promise<void>((resolve) => {
          socket.once('data', () => {
            socket.pause();
            resolve();
          });
          socket.write('GET /?archive=zip HTTP/1.1\r\nHost: x\r\n\r\n');
        });
        stalled.push(socket);
      }
      const third = await fetch(bigServer.url('/?archive=tar.gz'));
      assert.equal(third.status, 503);
      assert.equal(third.headers.get('retry-after'), '5');
      await third.text();
      stalled.shift()!.destroy();
      let status = 0;
      for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        status = (await fetch(bigServer.url('/?archive=tar.gz'), { method: 'HEAD' })).status;
      }
      assert.equal(status, 200);
    } finally {
      for (const socket of stalled) socket.destroy();
      await bigServer.close();
    }
  });
});

describe('serve.json through the CLI', () => {
  let site: ReturnType<typeof makeTempDir>;
  before(() => {
    site = makeTempDir('sockhttp-servejson-');
    writeTree(site.path, {
      'serve.json': JSON.stringify({
        cleanUrls: true,
        redirects: [{ source: '/old', destination: '/about', type: 302 }],
        headers: [{ source: '**/*.txt', headers: [{ key: 'X-Txt', value: '1' }] }],
      }),
      'about.html': ABOUT,
      'notes.txt': 'notes\n',
      'dist/index.html': '<p>from public</p>\n',
    });
  });
  after(() => site.remove());

  test('the folder’s serve.json applies, and is itself neither served nor listed', async () => {
    const cli = await startCliServer([site.path, '-q']);
    try {
      assert.equal((await send(cli.port, '/about.html')).field('location'), '/about');
      const old = await send(cli.port, '/old');
      assert.equal(old.status, 302);
      assert.equal(old.field('location'), '/about');
      assert.equal((await send(cli.port, '/notes.txt')).field('x-txt'), '1');
      assert.equal((await send(cli.port, '/serve.json')).status, 404);
      assert.ok(!(await (await fetch(`http://127.0.0.1:${cli.port}/`)).text()).includes('serve.json'));
    } finally {
      await cli.stop();
    }
  });

  test('flags override the file: --no-clean-urls', async () => {
    const cli = await startCliServer([site.path, '-q', '--no-clean-urls']);
    try {
      assert.equal((await send(cli.port, '/about.html')).status, 200);
      assert.equal((await send(cli.port, '/about')).status, 404);
    } finally {
      await cli.stop();
    }
  });

  test('--config FILE and `public`', async () => {
    const config = join(site.path, 'other.json');
    writeFileSync(config, JSON.stringify({ public: 'dist' }));
    const cli = await startCliServer([site.path, '-q', '--config', config]);
    try {
      assert.equal((await send(cli.port, '/')).body.toString(), '<p>from public</p>\n');
    } finally {
      await cli.stop();
    }
  });

  test('the flags reach the server: --spa FILE, --spa=FILE, --isolation, --archives', async () => {
    for (const spaArgs of [['--spa', 'about.html'], ['--spa=about.html']]) {
      const cli = await startCliServer([site.path, '-q', ...spaArgs, '--isolation', '--archives']);
      try {
        const shell = await send(cli.port, '/client/route', NAVIGATION);
        assert.equal(shell.body.toString(), ABOUT, spaArgs.join(' '));
        assert.equal(shell.field('cache-control'), 'no-cache');
        assert.equal(shell.field('cross-origin-embedder-policy'), 'require-corp');
        assert.equal((await send(cli.port, '/client/app.js', NAVIGATION)).status, 404);
        const archive = await fetch(`http://127.0.0.1:${cli.port}/dist/?archive=zip`);
        assert.equal(archive.headers.get('content-type'), 'application/zip');
        assert.ok((await archive.arrayBuffer()).byteLength > 0);
      } finally {
        await cli.stop();
      }
    }
  });

  test('an invalid file: one line naming the key, exit 1', async () => {
    const config = join(site.path, 'invalid.json');
    writeFileSync(config, JSON.stringify({ redirects: [{ source: '/a', destination: '/b', type: 'temporary' }] }));
    const result = await runCli(['serve', site.path, '--config', config, '--port', '0']);
    assert.equal(result.code, 1);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /invalid\.json: redirects\.0\.type must be equal to one of the allowed values/);
  });
});
