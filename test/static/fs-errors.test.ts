import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { statusForFsError } from '../../src/static/fs-errors.js';
import { CLI, commandExists, makeTempDir, rawExchange, startProcess } from '../helpers.js';

describe('statusForFsError: the one place filesystem errors become statuses', () => {
  const vectors: Array<[string | undefined, number]> = [
    ['ENOENT', 404],
    ['ENOTDIR', 404],
    ['EISDIR', 404],
    ['ELOOP', 404],
    ['ENAMETOOLONG', 404],
    ['EACCES', 403],
    ['EPERM', 403],
    ['EMFILE', 503],
    ['ENFILE', 503],
    ['EIO', 500],
    [undefined, 500],
  ];
  for (const [code, status] of vectors) {
    test(`${code ?? 'no code'} → ${status}`, () => {
      assert.equal(statusForFsError(Object.assign(new Error('x'), code === undefined ? {} : { code })), status);
    });
  }
});

// Root reads every file whatever its mode, so the server runs as "nobody" here (setpriv, as root).
const canDropPrivileges = process.getuid?.() === 0 && commandExists('setpriv');

describe('an unreadable file', { skip: !canDropPrivileges && 'needs root and setpriv to run the server as an unprivileged user' }, () => {
  test('answers 403 with the small error page, and the server goes on serving others', async () => {
    const folder = makeTempDir();
    chmodSync(folder.path, 0o755);
    writeFileSync(join(folder.path, 'secret.txt'), 'not for you\n');
    chmodSync(join(folder.path, 'secret.txt'), 0o000);
    writeFileSync(join(folder.path, 'open.txt'), 'hello\n');
    chmodSync(join(folder.path, 'open.txt'), 0o644);
    const server = startProcess('setpriv', [
      '--reuid=nobody',
      '--regid=nogroup',
      '--clear-groups',
      process.execPath,
      CLI,
      'serve',
      folder.path,
      '--port',
      '0',
      '-q',
    ]);
    try {
      const port = Number((await server.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\//, 10_000, 'stderr'))[1]);
      const refused = (await rawExchange(port, 'GET /secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toString('latin1');
      assert.match(refused, /^HTTP\/1\.1 403 Forbidden\r\n/);
      assert.doesNotMatch(refused, /not for you|EACCES|secret\.txt/);
      const served = (await rawExchange(port, 'GET /open.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toString('latin1');
      assert.match(served, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello\n$/);
    } finally {
      await server.stop();
      folder.remove();
    }
  });
});
