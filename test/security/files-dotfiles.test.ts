/**
 * Attack: reaching a dotfile through a symlink whose own name has no dot.
 *
 * The dotfile rule ("names starting with '.' are neither served nor listed unless --dotfiles allow")
 * must hold for what is actually opened, not only for the names in the request: `env.txt → .env`
 * and `gitdir → .git` lead to `.env` and `.git/config`, whose real paths have a dot segment. Under
 * the default (deny) they answer 404 like a missing file, and the root's listing does not offer them
 * (listings leave out what could not be served). With dotfiles 'allow' they are served.
 *
 *   root/.env                    the marker
 *   root/.git/config             the marker
 *   root/env.txt        →  .env
 *   root/chain.txt      →  env.txt            (two links, the last one to a dotfile)
 *   root/config.txt     →  .git/config        (a dot directory in the middle of the target)
 *   root/gitdir         →  .git
 *   root/visible.txt                          (no dot anywhere: always served)
 */
import assert from 'node:assert/strict';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningServer } from '../helpers.js';
import { type Sandbox, makeSandbox, rawGet, startServer, uniqueMarker, writeFiles } from './helpers.js';

const MARKER = uniqueMarker('dotfiles');
const ENV = `API_KEY=${MARKER}\n`;
const GIT_CONFIG = `[remote "origin"]\n\turl = https://user:${MARKER}@example.invalid/repo.git\n`;

let sandbox: Sandbox;
let denying: RunningServer;
let allowing: RunningServer;

before(async () => {
  sandbox = makeSandbox();
  writeFiles(sandbox.root, { '.env': ENV, '.git/config': GIT_CONFIG, '.git/HEAD': 'ref: refs/heads/main\n', 'visible.txt': 'visible\n' });
  symlinkSync('.env', join(sandbox.root, 'env.txt'));
  symlinkSync('env.txt', join(sandbox.root, 'chain.txt'));
  symlinkSync('.git/config', join(sandbox.root, 'config.txt'));
  symlinkSync('.git', join(sandbox.root, 'gitdir'));
  denying = await startServer(sandbox.root);
  allowing = await startServer(sandbox.root, { dotfiles: 'allow' });
});

after(async () => {
  await denying?.close();
  await allowing?.close();
  sandbox?.remove();
});

const THROUGH_LINKS = ['/env.txt', '/chain.txt', '/config.txt', '/gitdir/config', '/gitdir/HEAD', '/gitdir/', '/gitdir'];

describe('dotfiles reached through symlinks, with the default dotfiles deny', () => {
  for (const target of THROUGH_LINKS) {
    test(`${target} answers 404 without the dotfile's contents`, async () => {
      const answer = await rawGet(denying.port, target);
      assert.ok(!answer.raw.includes(MARKER), `${target} sent the dotfile (status ${answer.status})`);
      assert.equal(answer.status, 404, `${target}: status ${answer.status}`);
    });
  }

  test('with Accept-Encoding too (the compressed representation is the same file)', async () => {
    const answer = await rawGet(denying.port, '/env.txt', { 'Accept-Encoding': 'gzip, br' });
    assert.equal(answer.status, 404);
    assert.ok(!answer.raw.includes(MARKER));
  });

  test('the root listing offers neither the links to dotfiles nor the dotfiles', async () => {
    const answer = await rawGet(denying.port, '/');
    assert.equal(answer.status, 200);
    const page = answer.body.toString('utf8');
    assert.ok(page.includes('visible.txt'));
    for (const name of ['env.txt', 'chain.txt', 'config.txt', 'gitdir', '.env', '.git'])
      assert.ok(!page.includes(`>${name}`), `the listing offers ${name}`);
  });

  test('a name without any dot, reached directly, is still served', async () => {
    const answer = await rawGet(denying.port, '/visible.txt');
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), 'visible\n');
  });
});

describe('the same links with dotfiles allow', () => {
  const served: Array<[string, string]> = [
    ['/env.txt', ENV],
    ['/chain.txt', ENV],
    ['/config.txt', GIT_CONFIG],
    ['/gitdir/config', GIT_CONFIG],
    ['/.env', ENV],
  ];
  for (const [target, body] of served) {
    test(`${target} is served`, async () => {
      const answer = await rawGet(allowing.port, target);
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), body);
    });
  }
});
