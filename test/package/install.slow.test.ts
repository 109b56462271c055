/**
 * The package as a user gets it: `npm pack`, then installed in a fresh folder, globally into a
 * prefix, and run through `npx` from the tarball, each with nothing of the clone around it. The
 * installed `sockhttp` must serve a folder and fetch from it. Dependencies come from npm's cache
 * (filled by `npm ci`), falling back to the registry.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT, makeTempDir } from '../helpers.js';

const NPM_QUIET = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

let work: ReturnType<typeof makeTempDir>;
let tarball: string;
let files: string[];

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
}

/** Runs an installed `sockhttp serve` on a free port, fetches a file with an installed `sockhttp get`, stops the server. */
async function serveAndGet(binary: string, folder: string): Promise<string> {
  let server: ChildProcess | undefined;
  try {
    server = spawn(binary, ['serve', folder, '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let banner = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner: ${banner}`)), 20_000);
      const onData = (chunk: Buffer) => {
        banner += chunk.toString();
        const match = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(banner);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      };
      server!.stdout!.on('data', onData);
      server!.stderr!.on('data', onData);
    });
    return execFileSync(binary, ['get', `http://127.0.0.1:${port}/hello.txt`], { encoding: 'utf8', timeout: 20_000 });
  } finally {
    server?.kill('SIGTERM');
  }
}

before(() => {
  work = makeTempDir('sockhttp-install-');
  // The pretest build made dist/: packing runs no script, so nothing of the clone is rebuilt now.
  const name = npm(['pack', '--ignore-scripts', '--pack-destination', work.path, ...NPM_QUIET], REPO_ROOT)
    .trim()
    .split('\n')
    .pop()!;
  tarball = join(work.path, name);
  files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
  writeFileSync(join(work.path, 'hello.txt'), 'hello from an installed sockhttp\n');
});

after(() => work?.remove());

describe('the npm package', () => {
  test('holds the program, its types, the demo site, README and LICENSE, and no dev-only file', () => {
    for (const needed of [
      'package/bin/sockhttp.js',
      'package/dist/src/index.js',
      'package/dist/src/index.d.ts',
      'package/dist/src/cli/main.js',
      'package/public/index.html',
      'package/README.md',
      'package/LICENSE',
    ]) {
      assert.ok(files.includes(needed), `missing ${needed}`);
    }
    const devOnly = files.filter((file) =>
      /^package\/(src|test|bench|fuzz|scripts|examples|docs|\.ci)\/|\.map$|tsconfig|\.tsbuildinfo|\.build-stamp/.test(file),
    );
    assert.deepEqual(devOnly, []);
  });

  test('installed in a fresh folder, it serves and fetches', async () => {
    const folder = join(work.path, 'local');
    execFileSync('mkdir', ['-p', folder]);
    writeFileSync(join(folder, 'package.json'), '{"name":"consumer","version":"1.0.0","private":true}\n');
    npm(['install', tarball, ...NPM_QUIET], folder);
    const binary = join(folder, 'node_modules', '.bin', 'sockhttp');
    assert.match(execFileSync(binary, ['--version'], { encoding: 'utf8' }), /^\d+\.\d+\.\d+/);
    assert.equal(await serveAndGet(binary, work.path), 'hello from an installed sockhttp\n');
    // The library is importable by its name, as the README shows.
    const imported = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "import('sockhttp').then((m) => console.log(typeof m.serveStatic, typeof m.request))"],
      { cwd: folder, encoding: 'utf8' },
    );
    assert.equal(imported.trim(), 'function function');
  });

  test('npm install -g puts sockhttp on the PATH of that prefix', async () => {
    const prefix = join(work.path, 'global');
    npm(['install', '-g', '--prefix', prefix, tarball, ...NPM_QUIET], work.path);
    const binary = join(prefix, 'bin', 'sockhttp');
    assert.ok(statSync(binary).isFile() || readdirSync(join(prefix, 'bin')).includes('sockhttp'));
    assert.equal(await serveAndGet(binary, work.path), 'hello from an installed sockhttp\n');
  });

  test('npx runs it straight from the tarball', () => {
    const output = npm(['exec', '--yes', `--package=${tarball}`, '--', 'sockhttp', '--version'], work.path);
    assert.match(output, /^\d+\.\d+\.\d+/);
  });
});

describe('npm start', () => {
  // In a folder of its own, so that the check never rebuilds (and empties) the dist/ the tests run from.
  test('compiles only when a source changed since the last successful build', () => {
    const project = join(work.path, 'project');
    for (const folder of ['scripts', 'src', 'dist']) execFileSync('mkdir', ['-p', join(project, folder)]);
    writeFileSync(join(project, 'scripts', 'build.mjs'), readFileSync(join(REPO_ROOT, 'scripts', 'build.mjs')));
    writeFileSync(join(project, 'src', 'a.ts'), 'export const a = 1;\n');
    const check = () => spawnSync(process.execPath, ['scripts/build.mjs', '--check'], { cwd: project }).status;
    assert.equal(check(), 1, 'never built: a build is needed');
    const stamp = join(project, 'dist', '.build-stamp');
    writeFileSync(stamp, 'built\n');
    const later = new Date(Date.now() + 60_000);
    utimesSync(stamp, later, later);
    assert.equal(check(), 0, 'nothing changed since the build: no compile');
    const evenLater = new Date(Date.now() + 120_000);
    utimesSync(join(project, 'src', 'a.ts'), evenLater, evenLater);
    assert.equal(check(), 1, 'a source changed: a build is needed');
  });
});
