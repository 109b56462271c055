/**
 * `symlinks: 'deny'` (CLI `--symlinks deny`): no symlink anywhere in the path under the root.
 *
 * Attack it closes: whoever can create a symlink in the folder decides what is served; even a link
 * that stays inside can route around rules made for names (a renamed alias, a sibling `.gz`).
 * Operators who never want links followed turn them off, like nginx's `disable_symlinks on`. Every
 * refusal is a 404, like a missing file. The root itself may be given through a symlink: only the
 * path under the root is checked. With the default ('follow-inside'), links that stay inside are served.
 *
 *   base/root/real.txt, realdir/page.html, app.js, stash/app.js.gz
 *   base/root/alias.txt       →  real.txt
 *   base/root/linkdir         →  realdir
 *   base/root/app.js.gz       →  stash/app.js.gz       (a precompressed sibling that is a link)
 *   base/root-link            →  root                  (the root given through a link)
 *
 * `symlinks` is not in StaticOptions yet: startServer passes it through a cast (see helpers.ts), and
 * today's server ignores it, so the 'deny' tests fail until the option lands.
 */
import assert from 'node:assert/strict';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { type BackgroundProcess, type RunningServer, startCliServer } from '../helpers.js';
import { type Sandbox, makeSandbox, rawGet, startServer, writeFiles } from './helpers.js';

const REAL = 'the real file\n';
const PAGE = '<p>the real page</p>\n';
/** Under 1 KiB, so nothing is compressed on the fly: a gzip answer can only come from the sibling. */
const APP_JS = 'console.log("app");\n';

let sandbox: Sandbox;
let denying: RunningServer;
let following: RunningServer;
let denyingThroughRootLink: RunningServer;
let cli: (BackgroundProcess & { port: number }) | undefined;

before(async () => {
  sandbox = makeSandbox();
  writeFiles(sandbox.root, { 'real.txt': REAL, 'realdir/page.html': PAGE, 'app.js': APP_JS, 'stash/app.js.gz': gzipSync(APP_JS) });
  symlinkSync('real.txt', join(sandbox.root, 'alias.txt'));
  symlinkSync('realdir', join(sandbox.root, 'linkdir'));
  symlinkSync('stash/app.js.gz', join(sandbox.root, 'app.js.gz'));
  symlinkSync('root', join(sandbox.base, 'root-link'));
  denying = await startServer(sandbox.root, { symlinks: 'deny' });
  following = await startServer(sandbox.root);
  denyingThroughRootLink = await startServer(join(sandbox.base, 'root-link'), { symlinks: 'deny' });
});

after(async () => {
  await cli?.stop();
  await Promise.all([denying, following, denyingThroughRootLink].map((server) => server?.close()));
  sandbox?.remove();
});

const THROUGH_LINKS = ['/alias.txt', '/linkdir/page.html', '/linkdir/', '/linkdir'];
const REAL_NAMES: Array<[string, string]> = [
  ['/real.txt', REAL],
  ['/realdir/page.html', PAGE],
];

describe("symlinks: 'deny'", () => {
  for (const target of THROUGH_LINKS) {
    test(`${target} (a link that stays inside) answers 404`, async () => {
      const answer = await rawGet(denying.port, target);
      assert.equal(answer.status, 404, `${target}: status ${answer.status}`);
    });
  }

  for (const [target, body] of REAL_NAMES) {
    test(`${target} (no link in the path) is served`, async () => {
      const answer = await rawGet(denying.port, target);
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), body);
    });
  }

  test('a precompressed sibling that is a symlink is not used', async () => {
    const answer = await rawGet(denying.port, '/app.js', { 'Accept-Encoding': 'gzip' });
    assert.equal(answer.status, 200);
    assert.equal(answer.field('content-encoding'), undefined, 'the gzip sibling (a symlink) was served');
    assert.equal(answer.body.toString(), APP_JS);
  });

  test('a refused link answers exactly like a missing file', async () => {
    const refused = await rawGet(denying.port, '/alias.txt');
    const missing = await rawGet(denying.port, '/no-such-file.txt');
    assert.equal(refused.status, missing.status);
    assert.deepEqual(refused.body, missing.body);
  });

  test('the root given through a symlink still works: only the path under it is checked', async () => {
    const real = await rawGet(denyingThroughRootLink.port, '/real.txt');
    assert.equal(real.status, 200);
    assert.equal(real.body.toString(), REAL);
    const alias = await rawGet(denyingThroughRootLink.port, '/alias.txt');
    assert.equal(alias.status, 404);
  });

  test('`sockhttp serve --symlinks deny` refuses the links and serves the real names', async () => {
    cli = await startCliServer([sandbox.root, '--quiet', '--symlinks', 'deny']);
    assert.equal((await rawGet(cli.port, '/alias.txt')).status, 404);
    assert.equal((await rawGet(cli.port, '/linkdir/page.html')).status, 404);
    assert.equal((await rawGet(cli.port, '/real.txt')).status, 200);
  });
});

describe("the default, symlinks: 'follow-inside'", () => {
  const served: Array<[string, string]> = [['/alias.txt', REAL], ['/linkdir/page.html', PAGE], ...REAL_NAMES];
  for (const [target, body] of served) {
    test(`${target} is served`, async () => {
      const answer = await rawGet(following.port, target);
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), body);
    });
  }

  test('the precompressed sibling that is a link inside is used', async () => {
    const answer = await rawGet(following.port, '/app.js', { 'Accept-Encoding': 'gzip' });
    assert.equal(answer.status, 200);
    assert.equal(answer.field('content-encoding'), 'gzip');
  });
});
