/**
 * Nothing outside the served folder is ever served. Every hostile target goes through a raw socket,
 * byte for byte, so no client gets the chance to normalize it first.
 *
 *   base/
 *     root/                 the served folder
 *       inside.txt
 *       sub/file.txt
 *       link-inside.txt  →  inside.txt                 (stays inside: served)
 *       linked-sub       →  sub                        (stays inside: served)
 *       link-out.txt     →  ../outside/secret.txt      (leaves: refused)
 *       dir-out          →  ../outside                 (leaves: refused)
 *       link-prefix.txt  →  ../root-sibling/secret.txt (a sibling whose name starts like the root's)
 *       link-absolute    →  /abs/path/to/outside/secret.txt
 *       inside.txt.gz    →  ../outside/secret.txt      (a "precompressed sibling" that leaves)
 *     trap/                 a second served folder, whose special files all lead out
 *       index.html       →  ../outside/index.html
 *       404.html         →  ../outside/secret.txt
 *     outside/secret.txt
 *     root-sibling/secret.txt
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningServer, makeTempDir, rawExchange, startStaticServer } from '../../helpers.js';
import { parseSingleResponse, writeTree } from './helpers.js';

const SECRET = 'TOP-SECRET-7d1f3c';
const SIBLING_SECRET = 'SIBLING-SECRET-2b9e';
const INSIDE = 'inside the root\n';
const SUB_FILE = 'a file in sub\n';

let base: ReturnType<typeof makeTempDir>;
let root: string;
let servers: Array<[name: string, server: RunningServer]> = [];

before(async () => {
  base = makeTempDir();
  root = join(base.path, 'root');
  writeTree(base.path, {
    'root/inside.txt': INSIDE,
    'root/sub/file.txt': SUB_FILE,
    'root/.hidden/file.txt': 'hidden\n',
    'outside/secret.txt': `${SECRET}\n`,
    'outside/index.html': `<p>${SECRET}</p>\n`,
    'root-sibling/secret.txt': `${SIBLING_SECRET}\n`,
  });
  symlinkSync('inside.txt', join(root, 'link-inside.txt'));
  symlinkSync('sub', join(root, 'linked-sub'));
  symlinkSync('../outside/secret.txt', join(root, 'link-out.txt'));
  symlinkSync('../outside', join(root, 'dir-out'));
  symlinkSync('../root-sibling/secret.txt', join(root, 'link-prefix.txt'));
  symlinkSync(join(base.path, 'outside', 'secret.txt'), join(root, 'link-absolute'));
  symlinkSync('../outside/secret.txt', join(root, 'inside.txt.gz'));
  mkdirSync(join(base.path, 'trap'));
  symlinkSync('../outside/index.html', join(base.path, 'trap', 'index.html'));
  symlinkSync('../outside/secret.txt', join(base.path, 'trap', '404.html'));
  servers = [
    ['dotfiles denied', await startStaticServer(root)],
    ['dotfiles allowed', await startStaticServer(root, { dotfiles: 'allow' })],
  ];
});

after(async () => {
  await Promise.all(servers.map(([, server]) => server.close()));
  base?.remove();
});

function requestBytes(target: string): string {
  return `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
}

const HOSTILE_TARGETS = [
  '/../secret.txt',
  '/../outside/secret.txt',
  '/../../outside/secret.txt',
  '/sub/../../outside/secret.txt',
  '/%2e%2e/outside/secret.txt',
  '/%2E%2E/outside/secret.txt',
  '/.%2e/outside/secret.txt',
  '/%2e./outside/secret.txt',
  '/%2E%2E%2Foutside%2Fsecret.txt',
  '/%2e%2e%2foutside%2fsecret.txt',
  '/..%2foutside/secret.txt',
  '/..%2Foutside%2Fsecret.txt',
  '/..%5coutside%5csecret.txt',
  '/..\\outside\\secret.txt',
  '/sub\\..\\..\\outside\\secret.txt',
  '/%00',
  '/a%00.txt',
  '/..%00/outside/secret.txt',
  '/./../outside/secret.txt',
  '//../outside/secret.txt',
  '/.../outside/secret.txt',
  '/..;/outside/secret.txt',
  '/%252e%252e/outside/secret.txt',
  '/%252e%252e%252foutside%252fsecret.txt',
  '/%c0%ae%c0%ae/outside/secret.txt',
  '/%e0%80%ae%e0%80%ae/outside/secret.txt',
  '/..%c0%afoutside/secret.txt',
  'http://x/../outside/secret.txt',
  'http://x/%2e%2e/outside/secret.txt',
  'http://x/..%2foutside/secret.txt',
  '../outside/secret.txt',
  'outside/secret.txt',
  '/link-out.txt',
  '/link-prefix.txt',
  '/link-absolute',
  '/inside.txt.gz',
  '/dir-out',
  '/dir-out/',
  '/dir-out/secret.txt',
  '/dir-out/index.html',
  '/sub/../dir-out/secret.txt',
  '/linked-sub/../../outside/secret.txt',
];

describe('no way out of the root', () => {
  test('the secret is really there, one level up (so the refusals below mean something)', async () => {
    // Served from `base` instead, the same file is found: the fixture is right.
    const baseServer = await startStaticServer(base.path);
    try {
      const response = parseSingleResponse(await rawExchange(baseServer.port, requestBytes('/outside/secret.txt')));
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), `${SECRET}\n`);
    } finally {
      await baseServer.close();
    }
  });

  for (const serverIndex of [0, 1]) {
    for (const target of HOSTILE_TARGETS) {
      test(`${JSON.stringify(target)} (${serverIndex === 0 ? 'dotfiles denied' : 'dotfiles allowed'}) → 400/403/404 without the secret`, async () => {
        const [, server] = servers[serverIndex]!;
        const bytes = await rawExchange(server.port, requestBytes(target));
        const response = parseSingleResponse(bytes);
        assert.ok([400, 403, 404].includes(response.status), `status ${response.status}`);
        const text = bytes.toString('latin1');
        assert.ok(!text.includes(SECRET) && !text.includes(SIBLING_SECRET), 'the secret leaked');
        // Error pages carry no internal detail: no filesystem path.
        assert.ok(!text.includes(base.path), 'a filesystem path leaked');
        assert.equal(response.field('location'), undefined);
      });
    }
  }

  test('the secret never leaks when the hostile targets are pipelined on one connection', async () => {
    const [, server] = servers[1]!;
    const bytes =
      HOSTILE_TARGETS.map((target) => `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`).join('') + requestBytes('/inside.txt');
    const received = await rawExchange(server.port, bytes);
    const text = received.toString('latin1');
    assert.ok(!text.includes(SECRET) && !text.includes(SIBLING_SECRET), 'the secret leaked');
    // Every request was answered (the last one is the file inside the root).
    assert.equal(text.match(/^HTTP\/1\.1 \d{3} /gm)?.length, HOSTILE_TARGETS.length + 1);
    assert.ok(text.endsWith(INSIDE));
  });
});

describe('what stays inside the root is served', () => {
  const servedTargets: Array<[target: string, body: string]> = [
    ['/inside.txt', INSIDE],
    ['/link-inside.txt', INSIDE],
    ['/linked-sub/file.txt', SUB_FILE],
    ['/sub/../inside.txt', INSIDE],
    ['/sub/%2e%2e/inside.txt', INSIDE],
    ['/linked-sub/../inside.txt', INSIDE],
    ['http://x/sub/file.txt', SUB_FILE],
  ];
  for (const [target, body] of servedTargets) {
    test(`${target} → 200`, async () => {
      const response = parseSingleResponse(await rawExchange(servers[0]![1].port, requestBytes(target)));
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), body);
    });
  }
});

describe('special files never lead out of the root', () => {
  const leaks = (text: string) => text.includes(SECRET) || text.includes(SIBLING_SECRET);

  test('the listing of the root shows what is inside and nothing that leads out', async () => {
    for (const [name, server] of servers) {
      const response = parseSingleResponse(await rawExchange(server.port, requestBytes('/')));
      assert.equal(response.status, 200, name);
      const page = response.body.toString();
      for (const shown of ['inside.txt', 'link-inside.txt', 'linked-sub', 'sub'])
        assert.ok(page.includes(`href="/${shown}`), `${name}: ${shown} is not listed`);
      for (const hidden of ['link-out.txt', 'dir-out', 'link-prefix.txt', 'link-absolute', 'inside.txt.gz'])
        assert.ok(!page.includes(hidden), `${name}: ${hidden} is listed`);
      assert.equal(page.includes('.hidden'), name === 'dotfiles allowed', name);
      assert.ok(!leaks(page) && !page.includes(base.path), name);
    }
  });

  test('a precompressed sibling that leads out is never sent instead of the file', async () => {
    const [, server] = servers[0]!;
    const request = `GET /inside.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip, br\r\nConnection: close\r\n\r\n`;
    const bytes = await rawExchange(server.port, request);
    const response = parseSingleResponse(bytes);
    assert.equal(response.status, 200);
    assert.equal(response.field('content-encoding'), undefined);
    assert.equal(response.body.toString(), INSIDE);
    assert.ok(!leaks(bytes.toString('latin1')));
  });

  test('an index.html, a 404.html and the SPA fallback that lead out are never served', async () => {
    const trap = await startStaticServer(join(base.path, 'trap'), { spa: true });
    try {
      for (const [target, accept] of [
        ['/', '*/*'],
        ['/index.html', '*/*'],
        ['/404.html', '*/*'],
        ['/missing', 'text/html'],
        ['/missing', '*/*'],
      ] as const) {
        const request = `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: ${accept}\r\nConnection: close\r\n\r\n`;
        const bytes = await rawExchange(trap.port, request);
        const response = parseSingleResponse(bytes);
        assert.ok([200, 404].includes(response.status), `${target}: status ${response.status}`);
        assert.ok(!leaks(bytes.toString('latin1')), `${target} (Accept: ${accept}) leaked the secret`);
      }
    } finally {
      await trap.close();
    }
  });
});
