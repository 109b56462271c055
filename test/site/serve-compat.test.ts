/**
 * The same serve.json gives the same answers from sockhttp as from vercel's `serve` (the npm package,
 * a devDependency, run on a free loopback port): rewrites with parameters and globs, redirects with a
 * status, headers by glob and cleanUrls. Both are driven by Node's fetch with redirects not followed,
 * and every answer is compared: status, Location, the configured fields and the body.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess, REPO_ROOT, makeTempDir, startCliServer, startProcess } from '../helpers.js';
import { writeTree } from '../net/server/helpers.js';

const SERVE_CLI = join(REPO_ROOT, 'node_modules', 'serve', 'build', 'main.js');

const CONFIG = {
  cleanUrls: true,
  rewrites: [
    { source: '/api/:id', destination: '/api/users/:id.json' },
    { source: '/app/**', destination: '/index.html' },
  ],
  redirects: [
    { source: '/old/:slug', destination: '/blog/:slug', type: 302 },
    { source: '/moved', destination: '/about', type: 307 },
    { source: '/perm', destination: '/about' },
    { source: '/external', destination: 'https://example.com/landing', type: 308 },
  ],
  headers: [
    { source: '**/*.css', headers: [{ key: 'Cache-Control', value: 'public, max-age=31536000, immutable' }] },
    {
      source: '/blog/**',
      headers: [
        { key: 'X-Section', value: 'blog' },
        { key: 'Cache-Control', value: 'max-age=60' },
      ],
    },
    { source: '/data/*.json', headers: [{ key: 'Access-Control-Allow-Origin', value: '*' }] },
  ],
};

const TARGETS = [
  '/',
  '/about',
  '/about.html',
  '/blog/post',
  '/blog/post.html',
  '/api/7',
  '/api/8',
  '/app/deep/route',
  '/app',
  '/old/post',
  '/moved',
  '/perm',
  '/external',
  '/style.css',
  '/data/items.json',
  '/index.html',
  '/index',
  '/missing',
];

/** The fields the configuration sets (and Location): what must agree. */
const COMPARED_FIELDS = ['location', 'cache-control', 'x-section', 'access-control-allow-origin'];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Answer {
  status: number;
  fields: Record<string, string | null>;
  body: string | null;
}

async function ask(port: number, target: string): Promise<Answer> {
  const response = await fetch(`http://127.0.0.1:${port}${target}`, { redirect: 'manual', headers: { accept: 'text/html' } });
  const body = await response.text();
  const fields = Object.fromEntries(COMPARED_FIELDS.map((name) => [name, response.headers.get(name)]));
  // Each server has its own 404 page; only the status of an error must agree.
  return { status: response.status, fields, body: response.status === 200 ? body : null };
}

describe('serve.json: sockhttp answers as serve does', () => {
  let site: ReturnType<typeof makeTempDir>;
  let serve: BackgroundProcess;
  let servePort: number;
  let ours: BackgroundProcess & { port: number };

  before(async () => {
    site = makeTempDir('sockhttp-compat-');
    writeTree(site.path, {
      'serve.json': JSON.stringify(CONFIG),
      'index.html': '<!doctype html><title>home</title><p>home</p>\n',
      'about.html': '<!doctype html><title>about</title><p>about</p>\n',
      'blog/post.html': '<!doctype html><title>post</title><p>a post</p>\n',
      'api/users/7.json': '{"id":7,"name":"seven"}\n',
      'style.css': 'body { color: teal; }\n',
      'data/items.json': '[1,2,3]\n',
    });
    servePort = await freePort();
    serve = startProcess(
      process.execPath,
      [SERVE_CLI, site.path, '--listen', `tcp://127.0.0.1:${servePort}`, '--no-clipboard', '--no-port-switching', '--no-request-logging'],
      {
        env: { ...process.env, NO_UPDATE_NOTIFIER: '1', NODE_ENV: 'test' },
      },
    );
    await serve.waitFor(/Accepting connections/, 20_000);
    ours = await startCliServer([site.path, '-q']);
  });

  after(async () => {
    await ours?.stop();
    await serve?.stop();
    site?.remove();
  });

  for (const target of TARGETS) {
    test(`GET ${target}`, async () => {
      const [theirs, mine] = await Promise.all([ask(servePort, target), ask(ours.port, target)]);
      // Without a rule, serve sends no Cache-Control and sockhttp its default (no-cache, or --cache).
      if (theirs.fields['cache-control'] === null) mine.fields['cache-control'] = null;
      assert.deepEqual(mine, theirs, `serve: ${JSON.stringify(theirs)}\nsockhttp: ${JSON.stringify(mine)}`);
    });
  }

  test('a 404 gets no fields of the rules: serve would send "immutable, one year" with a missing stylesheet (a documented difference)', async () => {
    assert.equal((await ask(servePort, '/missing.css')).fields['cache-control'], 'public, max-age=31536000, immutable');
    const mine = await ask(ours.port, '/missing.css');
    assert.equal(mine.status, 404);
    assert.equal(mine.fields['cache-control'], null);
  });

  test('the serve.json itself: serve sends it, sockhttp never does (a documented difference)', async () => {
    assert.equal((await ask(servePort, '/serve.json')).status, 200);
    assert.equal((await ask(ours.port, '/serve.json')).status, 404);
  });
});
