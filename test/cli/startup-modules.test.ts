/**
 * What a plain `sockhttp get` of an http: URL and a plain `sockhttp serve` load before they are done
 * (issue 16: each module of Node's is time at every start). None of those the commands load on first
 * use: node:perf_hooks (the bundles read performance.now() from process.hrtime), node:fs/promises, node:timers/promises, TLS; nor
 * the stream of stdout, or serve's of stderr, 2 ms each for a pipe. A preload script notes which
 * streams were made and lists Node's modules at exit.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, REPO_ROOT, type RunningServer, makeTempDir, startStaticServer } from '../helpers.js';

const BUNDLED = existsSync(join(REPO_ROOT, 'dist', 'cli', 'get.js'));

// Not node:zlib: bin/sockhttp.js checks the code cache with its crc32.
const LOADED_ON_USE = ['perf_hooks', 'fs/promises', 'timers/promises', 'tls'];

/** Notes when process.stdout or process.stderr is first read (Node makes the stream then), and lists all at exit. */
const PRELOAD = `
const made = [];
for (const name of ['stdout', 'stderr']) {
  const property = Object.getOwnPropertyDescriptor(process, name);
  Object.defineProperty(process, name, {
    ...property,
    get() {
      Object.defineProperty(process, name, property);
      made.push(name);
      return property.get.call(process);
    },
  });
}
process.on('exit', () =>
  require('node:fs').writeFileSync(process.env.MODULES_FILE, JSON.stringify({ modules: process.moduleLoadList, made })),
);
`;

describe('what the commands load at start', { skip: BUNDLED ? false : 'no bundles (esbuild absent)' }, () => {
  const temp = makeTempDir();
  const preload = join(temp.path, 'modules.cjs');
  let server: RunningServer;
  before(async () => {
    writeFileSync(join(temp.path, 'small.txt'), 'small\n');
    writeFileSync(preload, PRELOAD);
    server = await startStaticServer(temp.path);
  });
  after(async () => {
    await server?.close();
    temp.remove();
  });

  /**
   * Runs the command with stdout and stderr to files; `until`, if given, is text of stderr after
   * which the process is sent SIGTERM. Gives Node's modules it loaded and what it wrote.
   */
  async function run(name: string, args: string[], until?: string, during?: (stderr: string, pid: number) => Promise<void>) {
    const modulesFile = join(temp.path, `${name}.modules.json`);
    const outFile = join(temp.path, `${name}.out`);
    const errFile = join(temp.path, `${name}.err`);
    const out = openSync(outFile, 'w');
    const err = openSync(errFile, 'w');
    const child = spawn(process.execPath, ['-r', preload, CLI, ...args], {
      stdio: ['ignore', out, err],
      env: { ...process.env, MODULES_FILE: modulesFile, SOCKHTTP_CODE_CACHE: join(temp.path, 'cache') },
    });
    closeSync(out);
    closeSync(err);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    if (until !== undefined) {
      for (let tries = 0; tries < 400 && !readFileSync(errFile, 'utf8').includes(until); tries++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await during?.(readFileSync(errFile, 'utf8'), child.pid!);
      child.kill('SIGTERM');
    }
    const code = await exited;
    const listed = JSON.parse(readFileSync(modulesFile, 'utf8')) as { modules: string[]; made: string[] };
    const modules = listed.modules.filter((entry) => entry.startsWith('NativeModule ')).map((entry) => entry.slice('NativeModule '.length));
    return { code, modules, made: listed.made, stdout: readFileSync(outFile, 'utf8'), stderr: readFileSync(errFile, 'utf8') };
  }

  test('sockhttp get -o FILE of an http: URL', async () => {
    const saved = join(temp.path, 'saved.txt');
    // Twice: the first run writes the code cache.
    for (const round of [1, 2]) {
      const result = await run(`get${round}`, ['get', '-s', '-o', saved, server.url('/small.txt')]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(readFileSync(saved, 'utf8'), 'small\n');
      assert.ok(result.modules.includes('net'), 'the list is of this process');
      assert.deepEqual(
        LOADED_ON_USE.filter((name) => result.modules.includes(name)),
        [],
      );
      // Not stderr: Node's net.Socket compares itself with process.stderr when it is destroyed.
      assert.ok(!result.made.includes('stdout'), `made: ${result.made.join(', ')}`);
    }
  });

  test('sockhttp serve, until stopped: nor node:crypto', async () => {
    const result = await run('serve', ['serve', temp.path, '--port', '0'], 'http://');
    assert.match(result.stderr, /^Serving .* at http:\/\/127\.0\.0\.1:\d+\//);
    assert.deepEqual(
      [...LOADED_ON_USE, 'crypto'].filter((name) => result.modules.includes(name)),
      [],
    );
    assert.deepEqual(result.made, []);
  });

  test('sockhttp serve answers a multi-range request without node:crypto (its boundary from /dev/urandom, opened at start)', async () => {
    let answer = '';
    let openedAtStart: boolean | null = null;
    const result = await run('serve-ranges', ['serve', temp.path, '--port', '0', '-q'], 'http://', async (stderr, pid) => {
      // Before any request (where /proc tells): a server out of descriptors could not open it then.
      if (existsSync(`/proc/${pid}/fd`)) {
        openedAtStart = readdirSync(`/proc/${pid}/fd`).some((fd) => {
          try {
            return readlinkSync(`/proc/${pid}/fd/${fd}`) === '/dev/urandom';
          } catch {
            return false;
          }
        });
      }
      const port = /127\.0\.0\.1:(\d+)/.exec(stderr)![1];
      const response = await fetch(`http://127.0.0.1:${port}/small.txt`, { headers: { range: 'bytes=0-0,2-3' } });
      answer = `${response.status} ${response.headers.get('content-type')}`;
      await response.arrayBuffer();
    });
    assert.match(answer, /^206 multipart\/byteranges; boundary=[0-9a-f]{24}$/);
    assert.ok(!result.modules.includes('crypto'), 'node:crypto was loaded');
    assert.notEqual(openedAtStart, false, '/dev/urandom was not open before the request');
  });

  for (const feature of [
    ['--auth', 'user:secret'],
    ['--etag', 'content'],
  ]) {
    test(`sockhttp serve ${feature[0]} loads node:crypto as it starts, not on a request (a server out of descriptors must answer)`, async () => {
      const result = await run(`serve${feature[0]}`, ['serve', temp.path, '--port', '0', ...feature], 'http://');
      assert.match(result.stderr, /^Serving .* at http:\/\/127\.0\.0\.1:\d+\//);
      assert.ok(result.modules.includes('crypto'), 'node:crypto was not loaded');
    });
  }
});
