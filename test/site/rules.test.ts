/**
 * serve.json, without sockets: the compiled rules (redirects, rewrites, headers by glob, cleanUrls,
 * trailingSlash, unlisted, directoryListing), field replacement, the loader's one-line errors, and
 * Basic credentials.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { BasicAuth, SiteConfigError, SiteRules, decodeBasic, loadSiteConfig, replaceFields } from '../../src/index.js';
import { makeTempDir } from '../helpers.js';

describe('SiteRules.route: serve-handler order and matching', () => {
  const rules = new SiteRules({
    redirects: [
      { source: '/old/:slug', destination: '/new/:slug', type: 302 },
      { source: '/docs/**', destination: '/manual', type: 307 },
      { source: '/away', destination: 'https://example.com/:path' },
    ],
    rewrites: [
      { source: '/api/:id', destination: '/data/:id.json' },
      { source: '/app/**', destination: '/index.html' },
      { source: '/data/:name.json', destination: '/fixtures/:name.json' },
    ],
  });

  test('a redirect fills the destination with the matched parameter, with its status (301 by default)', () => {
    assert.deepEqual(rules.route('/old/hello', false), { kind: 'redirect', location: '/new/hello', status: 302 });
    assert.deepEqual(rules.route('/docs/a/b', false), { kind: 'redirect', location: '/manual', status: 307 });
  });

  test('a destination whose parameter the match cannot give is skipped, not thrown', () => {
    assert.deepEqual(rules.route('/away', false), { kind: 'none' });
  });

  test('Location is percent-encoded once (serve encodes a non-ASCII parameter twice)', () => {
    assert.deepEqual(rules.route('/old/été', false), { kind: 'redirect', location: '/new/%C3%A9t%C3%A9', status: 302 });
  });

  test('rewrites: the first match, then later rules may rewrite its result once each', () => {
    assert.deepEqual(rules.route('/api/7', false), { kind: 'rewrite', path: '/fixtures/7.json' });
    assert.deepEqual(rules.route('/app/some/route', false), { kind: 'rewrite', path: '/index.html' });
    assert.deepEqual(rules.route('/other', false), { kind: 'none' });
  });

  test('without routing rules, the handler never asks (routes is false)', () => {
    assert.equal(new SiteRules({ headers: [{ source: '**/*.js', headers: [{ key: 'X', value: 'y' }] }] }).routes, false);
    assert.equal(rules.routes, true);
  });

  test('cleanUrls asked for: /x.html and /x/index redirect to /x; /index.html reaches / in two steps, as in serve', () => {
    const clean = new SiteRules({ cleanUrls: true });
    assert.deepEqual(clean.route('/about.html', true), { kind: 'redirect', location: '/about', status: 301 });
    assert.deepEqual(clean.route('/docs/index', false), { kind: 'redirect', location: '/docs', status: 301 });
    assert.deepEqual(clean.route('/index.html', true), { kind: 'redirect', location: '/index', status: 301 });
    assert.deepEqual(clean.route('/index', false), { kind: 'redirect', location: '/', status: 301 });
    assert.deepEqual(clean.route('/about', false), { kind: 'none' });
  });

  test('cleanUrls as globs applies only where they match', () => {
    const clean = new SiteRules({ cleanUrls: ['/blog/**'] });
    assert.equal(clean.cleanUrlsFor('/blog/post'), true);
    assert.equal(clean.cleanUrlsFor('/shop/item'), false);
    assert.equal(new SiteRules({}).cleanUrlsFor('/x'), undefined);
  });

  test('trailingSlash true adds one to extension-less paths; false removes it', () => {
    const add = new SiteRules({ trailingSlash: true });
    assert.deepEqual(add.route('/docs', false), { kind: 'redirect', location: '/docs/', status: 301 });
    assert.deepEqual(add.route('/app.js', true), { kind: 'none' });
    const remove = new SiteRules({ trailingSlash: false });
    assert.deepEqual(remove.route('/docs/', false), { kind: 'redirect', location: '/docs', status: 301 });
    assert.deepEqual(remove.route('/', false), { kind: 'none' });
  });
});

describe('SiteRules: headers, unlisted, directoryListing', () => {
  const rules = new SiteRules({
    headers: [
      { source: '**/*.@(js|css)', headers: [{ key: 'Cache-Control', value: 'max-age=31536000' }] },
      {
        source: '/vendor/**',
        headers: [
          { key: 'Cache-Control', value: 'no-store' },
          { key: 'X-Vendor', value: '1' },
        ],
      },
    ],
    unlisted: ['secret*', '*.bak'],
    directoryListing: ['/public/**', '/public'],
  });

  test('every matching rule applies in order; a later field replaces an earlier one of the same name', () => {
    assert.deepEqual(rules.fieldsFor('/app.js'), [['Cache-Control', 'max-age=31536000']]);
    assert.deepEqual(rules.fieldsFor('/vendor/lib.js'), [
      ['Cache-Control', 'no-store'],
      ['X-Vendor', '1'],
    ]);
    assert.deepEqual(rules.fieldsFor('/index.html'), []);
  });

  test('unlisted matches names; .DS_Store and .git are never listed', () => {
    assert.equal(rules.isUnlisted('secret.txt'), true);
    assert.equal(rules.isUnlisted('old.bak'), true);
    assert.equal(rules.isUnlisted('.git'), true);
    assert.equal(rules.isUnlisted('readme.md'), false);
  });

  test('directoryListing globs', () => {
    assert.equal(rules.listingAllowed('/public'), true);
    assert.equal(rules.listingAllowed('/public/sub'), true);
    assert.equal(rules.listingAllowed('/private'), false);
    assert.equal(new SiteRules({}).listingAllowed('/x'), true);
    assert.equal(new SiteRules({ directoryListing: false }).listingAllowed('/x'), false);
  });
});

describe('replaceFields', () => {
  test('a configured field replaces every field of its name (any case), others keep their order', () => {
    assert.deepEqual(
      replaceFields(
        [
          ['Content-Type', 'text/plain'],
          ['Cache-Control', 'no-cache'],
          ['ETag', '"1"'],
        ],
        [['cache-control', 'no-store']],
      ),
      [
        ['Content-Type', 'text/plain'],
        ['ETag', '"1"'],
        ['cache-control', 'no-store'],
      ],
    );
  });

  test('two overrides of one name are both kept (-H given twice for Link)', () => {
    assert.deepEqual(
      replaceFields(
        [['Link', 'a']],
        [
          ['Link', 'b'],
          ['Link', 'c'],
        ],
      ),
      [
        ['Link', 'b'],
        ['Link', 'c'],
      ],
    );
  });
});

describe('loadSiteConfig', () => {
  const folder = makeTempDir('sockhttp-config-');
  after(() => folder.remove());
  const write = (name: string, text: string) => {
    const path = join(folder.path, name);
    writeFileSync(path, text);
    return path;
  };
  const problem = (text: string) => {
    const file = write('bad.json', text);
    try {
      loadSiteConfig(folder.path, file);
    } catch (error) {
      assert.ok(error instanceof SiteConfigError);
      assert.ok(!error.message.includes('\n'), 'one line');
      return error.message;
    }
    assert.fail('accepted');
  };

  test('no serve.json in the folder: null', () => {
    assert.equal(loadSiteConfig(folder.path), null);
  });

  test('a valid file: rules, and `public` relative to the served folder', () => {
    const file = write(
      'serve.json',
      JSON.stringify({ public: 'dist', cleanUrls: false, headers: [{ source: '*.js', headers: [{ key: 'X-A', value: 'b' }] }] }),
    );
    const loaded = loadSiteConfig(folder.path);
    assert.ok(loaded);
    assert.equal(loaded.file, file);
    assert.equal(loaded.root, join(folder.path, 'dist'));
    assert.equal(loaded.config.cleanUrls, false);
  });

  test('each problem is one line naming the key', () => {
    assert.match(problem('{"cleanUrls": "yes"}'), /cleanUrls must be boolean,array/);
    assert.match(
      problem('{"redirects": [{"source": "/a", "destination": "/b", "type": 200}]}'),
      /redirects\.0\.type must be equal to one of the allowed values/,
    );
    assert.match(problem('{"rewrites": [{"source": "/a"}]}'), /rewrites\.0 must have required property 'destination'/);
    assert.match(
      problem('{"headers": [{"source": "**", "headers": [{"key": "Bad Name", "value": "x"}]}]}'),
      /headers\.0\.headers\.0\.key must match pattern/,
    );
    assert.match(
      problem('{"headers": [{"source": "**", "headers": [{"key": "Content-Length", "value": "1"}]}]}'),
      /Content-Length' is set by the server itself/,
    );
    assert.match(problem('{"unknownKey": 1}'), /the top level must NOT have additional properties \('unknownKey'\)/);
    assert.match(problem('{not json'), /not valid JSON/);
    assert.match(problem('[1]'), /must be a JSON object/);
  });

  test('--config naming a missing file is an error, not "no config"', () => {
    assert.throws(
      () => loadSiteConfig(folder.path, join(folder.path, 'nope.json')),
      (error: Error) => error instanceof SiteConfigError && /cannot read it \(ENOENT\)/.test(error.message),
    );
  });
});

describe('Basic credentials (RFC 7617)', () => {
  test('decodeBasic: scheme in any case, user up to the first colon, password may hold colons, UTF-8', () => {
    const encode = (text: string) => Buffer.from(text, 'utf8').toString('base64');
    assert.deepEqual(decodeBasic(`Basic ${encode('ann:se:cret')}`), { user: 'ann', password: 'se:cret' });
    assert.deepEqual(decodeBasic(`bAsIc ${encode('zoë:pässword')}`), { user: 'zoë', password: 'pässword' });
    assert.equal(decodeBasic(`Bearer ${encode('ann:x')}`), null);
    assert.equal(decodeBasic(`Basic ${encode('no-colon')}`), null);
    assert.equal(decodeBasic('Basic !!!'), null);
  });

  test('BasicAuth refuses an htpasswd hash it cannot check safely (MD5, crypt, plain)', () => {
    assert.throws(() => new BasicAuth({ htpasswd: 'ann:$apr1$abc$def\n' }), /neither bcrypt/);
    assert.throws(() => new BasicAuth({ htpasswd: 'ann:plaintext\n' }), /neither bcrypt/);
    assert.throws(() => new BasicAuth({ credentials: ['no-colon'] }), /USER:PASSWORD/);
  });
});
