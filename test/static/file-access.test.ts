/**
 * FileAccess, the one seam to the filesystem: every decision is made on what was opened. Each case
 * runs twice, through /proc/self/fd (Linux) and through the portable fallback, and both must agree.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, readSync, realpathSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileAccess, type FileAccessOptions, type Opened } from '../../src/static/file-access.js';
import { makeTempDir } from '../helpers.js';

let base: ReturnType<typeof makeTempDir>;
let root: string;
const socketServer = createServer();

before(async () => {
  base = makeTempDir();
  const baseReal = realpathSync(base.path);
  root = join(baseReal, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(join(root, '.git'));
  mkdirSync(join(baseReal, 'outside'));
  writeFileSync(join(baseReal, 'outside', 'secret.txt'), 'SECRET');
  writeFileSync(join(root, 'page.txt'), 'page');
  writeFileSync(join(root, 'sub', 'inner.txt'), 'inner');
  writeFileSync(join(root, '.env'), 'TOKEN=1');
  writeFileSync(join(root, '.git', 'config'), '[core]');
  symlinkSync('page.txt', join(root, 'alias.txt'));
  symlinkSync('sub', join(root, 'linked-sub'));
  symlinkSync('../outside/secret.txt', join(root, 'out.txt'));
  symlinkSync('../outside', join(root, 'out-dir'));
  symlinkSync('.env', join(root, 'env.txt'));
  symlinkSync('.git', join(root, 'gitdir'));
  symlinkSync('missing.txt', join(root, 'dangling.txt'));
  execFileSync('mkfifo', [join(root, 'pipe')]);
  await new Promise<void>((resolve) => socketServer.listen(join(root, 'socket'), resolve));
});

after(async () => {
  await new Promise((resolve) => socketServer.close(resolve));
  base.remove();
});

const kindOf = (opened: Opened) => opened.kind;

for (const withoutProc of [false, true]) {
  const through = withoutProc ? 'the portable fallback' : '/proc/self/fd';
  const accessWith = (options: Partial<FileAccessOptions> = {}) =>
    new FileAccess(root, { allowDotfiles: false, symlinks: 'follow-inside', withoutProc, ...options });

  describe(`FileAccess through ${through}`, () => {
    const table: [string, string, Opened['kind']][] = [
      ['a regular file', 'page.txt', 'file'],
      ['a directory', 'sub', 'directory'],
      ['the root itself', '', 'directory'],
      ['a symlink to a file inside', 'alias.txt', 'file'],
      ['a symlink to a directory inside', 'linked-sub', 'directory'],
      ['a file through a linked directory', 'linked-sub/inner.txt', 'file'],
      ['a symlink that leads out', 'out.txt', 'refused'],
      ['a file under a linked directory outside', 'out-dir/secret.txt', 'refused'],
      ['a symlink that names a dotfile', 'env.txt', 'refused'],
      ['a file under a symlink to a dot directory', 'gitdir/config', 'refused'],
      ['a dotfile named directly', '.env', 'refused'],
      ['a FIFO (refused without ever being opened for reading)', 'pipe', 'refused'],
      ['a unix socket', 'socket', 'refused'],
      ['a dangling symlink', 'dangling.txt', 'absent'],
      ['nothing', 'nothing.txt', 'absent'],
    ];
    for (const [what, path, expected] of table) {
      test(`${what} (${path || '/'}) → ${expected}`, () => {
        assert.equal(kindOf(accessWith().open(join(root, path), false)), expected);
      });
    }

    test('dotfiles allowed: a dotfile by its real path is served', () => {
      const access = accessWith({ allowDotfiles: true });
      assert.equal(kindOf(access.open(join(root, 'env.txt'), false)), 'file');
      assert.equal(kindOf(access.open(join(root, 'gitdir', 'config'), false)), 'file');
      assert.equal(kindOf(access.open(join(root, 'out.txt'), false)), 'refused', 'outside stays refused');
    });

    test("symlinks 'deny': no path through a symlink, even one that stays inside", () => {
      const access = accessWith({ symlinks: 'deny' });
      assert.equal(kindOf(access.open(join(root, 'alias.txt'), false)), 'refused');
      assert.equal(kindOf(access.open(join(root, 'linked-sub', 'inner.txt'), false)), 'refused');
      assert.equal(kindOf(access.open(join(root, 'page.txt'), false)), 'file');
      assert.equal(kindOf(access.open(join(root, 'sub', 'inner.txt'), false)), 'file');
    });

    test('opened for reading: the descriptor reads the verified file; identity and real path come from it', () => {
      const opened = accessWith().open(join(root, 'alias.txt'), true);
      assert.equal(opened.kind, 'file');
      if (opened.kind !== 'file' || opened.fd === null) return;
      try {
        assert.equal(opened.realPath, join(root, 'page.txt'));
        assert.equal(opened.identity.size, 4);
        const buffer = Buffer.alloc(16);
        assert.equal(buffer.subarray(0, readSync(opened.fd, buffer)).toString(), 'page');
      } finally {
        closeSync(opened.fd);
      }
    });

    test('a file removed after it was verified is not served from its cached real path', () => {
      const path = join(root, 'temporary.txt');
      writeFileSync(path, 'soon gone');
      const access = accessWith();
      assert.equal(kindOf(access.open(path, false)), 'file');
      unlinkSync(path);
      assert.equal(kindOf(access.open(path, false)), 'absent');
    });

    test('readDirectory lists the verified directory, and refuses one outside or reached through a dotfile', async () => {
      const access = accessWith();
      const listing = await access.readDirectory(join(root, 'sub'));
      assert.deepEqual(listing?.names, ['inner.txt']);
      assert.equal(await access.readDirectory(join(root, 'out-dir')), null);
      assert.equal(await access.readDirectory(join(root, 'gitdir')), null);
    });
  });
}
