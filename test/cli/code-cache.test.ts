/**
 * bin/sockhttp.js runs the command bundles (dist/cli/) with a V8 code cache. The cache must only
 * ever save time: a missing, foreign, truncated or damaged cache file, or a folder where none can
 * be written, costs a compilation and nothing else: same output, exit 0, nothing on stderr.
 * SOCKHTTP_CODE_CACHE points each test at a folder of its own.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT, type RunningServer, makeTempDir, runCli, startCliServer, startStaticServer } from '../helpers.js';

const BUNDLED = existsSync(join(REPO_ROOT, 'dist', 'cli', 'get.js'));

describe('the code cache of the command bundles', { skip: BUNDLED ? false : 'no bundles (esbuild absent)' }, () => {
  const root = makeTempDir();
  let server: RunningServer;
  before(async () => {
    writeFileSync(join(root.path, 'small.txt'), 'small\n');
    server = await startStaticServer(root.path);
  });
  after(async () => {
    await server?.close();
    root.remove();
  });

  const get = async (folder: string, extra: string[] = []) => {
    const result = await runCli(['get', '--max-time', '20', ...extra, server.url('/small.txt')], {
      env: { ...process.env, SOCKHTTP_CODE_CACHE: folder },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'small\n');
    return result;
  };
  const cacheFile = (folder: string) => {
    const names = readdirSync(folder).filter((name) => name.startsWith('get.') && name.endsWith('.v8cache'));
    assert.equal(names.length, 1, `one cache file for get in ${readdirSync(folder).join(', ')}`);
    return join(folder, names[0]!);
  };

  test('the first run writes a cache for the command (not for main.js, 3 kB); the next ones use it', async () => {
    const folder = makeTempDir();
    try {
      await get(folder.path);
      const file = cacheFile(folder.path);
      assert.ok(!readdirSync(folder.path).some((name) => name.startsWith('main.')));
      const first = readFileSync(file);
      assert.match(
        first.subarray(0, 200).toString('latin1'),
        /^sockhttp-code-cache 3 v\d+\.\d+\.\d+ \w+ [0-9a-f]{64} \d+ [\d.]+ [0-9a-f]{8}\n/,
      );
      await get(folder.path);
      // A cache that was accepted is not written again.
      assert.ok(readFileSync(file).equals(first));
    } finally {
      folder.remove();
    }
  });

  test('a damaged cache (the header right, the data overwritten) is refused by its CRC-32: no crash', async () => {
    const folder = makeTempDir();
    try {
      await get(folder.path);
      const file = cacheFile(folder.path);
      const bytes = readFileSync(file);
      const start = bytes.indexOf(10) + 1;
      // Deserialized, this makes V8 abort the process ("unreachable code"): it is refused before,
      // its CRC-32 no longer that of its data.
      for (let at = start + 64; at < bytes.length; at += 97) bytes[at] = 0xff;
      writeFileSync(file, bytes);
      await get(folder.path);
      // Refused, it is made again.
      assert.ok(!readFileSync(file).equals(bytes));
      await get(folder.path);
    } finally {
      folder.remove();
    }
  });

  test('damaged, with its file times put back as they were (cp -p, tar, a restored backup): still refused, no crash', async () => {
    const folder = makeTempDir();
    try {
      await get(folder.path);
      const file = cacheFile(folder.path);
      const { atime, mtime } = statSync(file);
      const bytes = readFileSync(file);
      for (let at = bytes.indexOf(10) + 1 + 64; at < bytes.length; at += 97) bytes[at] = 0xff;
      writeFileSync(file, bytes);
      utimesSync(file, atime, mtime);
      await get(folder.path);
      assert.ok(!readFileSync(file).equals(bytes), 'the damaged cache was not made again');
    } finally {
      folder.remove();
    }
  });

  test('an error thrown after the command has ended is printed: ending the process at once does not hide it', async () => {
    const folder = makeTempDir();
    try {
      const preload = join(folder.path, 'late.cjs');
      writeFileSync(preload, "process.once('sockhttp:started-up', () => setImmediate(() => { throw new Error('late failure'); }));\n");
      const result = await runCli(['get', '-s', '-o', join(folder.path, 'out'), server.url('/small.txt')], {
        env: { ...process.env, SOCKHTTP_CODE_CACHE: folder.path, NODE_OPTIONS: `--require ${preload}` },
      });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /Error: late failure\n\s+at /);
    } finally {
      folder.remove();
    }
  });

  test('truncated, empty, foreign or garbage cache files are ignored', async () => {
    const folder = makeTempDir();
    try {
      await get(folder.path);
      const file = cacheFile(folder.path);
      const good = readFileSync(file);
      const header = good.subarray(0, good.indexOf(10) + 1).toString('latin1');
      const variants = [
        good.subarray(0, Math.floor(good.length / 2)),
        Buffer.alloc(0),
        Buffer.from(header),
        // Made for another bundle of the same size: the content hash differs.
        Buffer.concat([Buffer.from(header.replace(/ [0-9a-f]{64} /, ` ${'0'.repeat(64)} `)), good.subarray(header.length)]),
        Buffer.concat([Buffer.from(header), Buffer.alloc(50_000, 0x5a)]),
      ];
      for (const variant of variants) {
        writeFileSync(file, variant);
        await get(folder.path);
      }
    } finally {
      folder.remove();
    }
  });

  test('a folder where nothing can be written (a read-only install) changes nothing', async () => {
    const result = await get('/dev/null/no-such-folder');
    assert.equal(result.stderr, '');
  });

  test('a package loaded on first use (cli-progress for --progress) is found from a cached bundle', async () => {
    const folder = makeTempDir();
    try {
      await get(folder.path, ['--progress']);
      const result = await get(folder.path, ['--progress']);
      assert.match(result.stderr, /100%/);
    } finally {
      folder.remove();
    }
  });

  test("serve's cache is made once it listens, of its start-up: not at exit, of all a long run compiled", async () => {
    const folder = makeTempDir();
    const server = await startCliServer([root.path], { env: { ...process.env, SOCKHTTP_CODE_CACHE: folder.path } });
    try {
      const written = () => readdirSync(folder.path).filter((name) => name.startsWith('serve.') && name.endsWith('.v8cache'));
      // Written right after the banner; a bounded wait for the file system.
      for (let tries = 0; tries < 100 && written().length === 0; tries++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(written().length, 1, 'the cache exists while the server runs');
      const first = readFileSync(join(folder.path, written()[0]!));
      const answer = await runCli(['get', '-s', `http://127.0.0.1:${server.port}/small.txt`], {
        env: { ...process.env, SOCKHTTP_CODE_CACHE: 'off' },
      });
      assert.equal(answer.stdout.toString(), 'small\n');
      assert.equal(await server.stop(), 0);
      // Serving and stopping compiled more; the cache is what start-up ran.
      assert.ok(readFileSync(join(folder.path, written()[0]!)).equals(first));
    } finally {
      await server.stop();
      folder.remove();
    }
  });

  test("get's cache is made by a run that transferred something: not by --help nor by a failure", async () => {
    const folder = makeTempDir();
    const env = { ...process.env, SOCKHTTP_CODE_CACHE: folder.path };
    const getCaches = () => readdirSync(folder.path).filter((name) => name.startsWith('get.'));
    try {
      assert.equal((await runCli(['get', '--help'], { env })).code, 0);
      assert.deepEqual(getCaches(), [], 'no cache from --help');
      const refused = await runCli(['get', '-s', '--max-time', '20', 'http://127.0.0.1:1/'], { env });
      assert.notEqual(refused.code, 0);
      assert.deepEqual(getCaches(), [], 'no cache from a failed transfer');
      await get(folder.path);
      assert.equal(getCaches().length, 1, 'a cache from the first transfer that succeeded');
    } finally {
      folder.remove();
    }
  });

  test('SOCKHTTP_CODE_CACHE=off: no cache anywhere', async () => {
    const result = await get('off');
    assert.equal(result.stderr, '');
  });
});
