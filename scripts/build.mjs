// `npm run build`: compiles with tsc, bundles the command line (dist/cli/, see bundleCli), then
// records that the build succeeded (dist/.build-stamp).
// With --if-stale (npm start), it compiles only when a source is newer than that record, so a start
// with nothing changed costs milliseconds instead of a full compile; --check only tells.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const STAMP = join('dist', '.build-stamp');
const INPUTS = ['src', 'test', 'examples', 'bench', 'fuzz', 'tsconfig.json', 'package.json'];

function newestChange(path) {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (stats === undefined) return 0;
  if (!stats.isDirectory()) return stats.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestChange(join(path, name))), stats.mtimeMs);
}

const built = statSync(STAMP, { throwIfNoEntry: false })?.mtimeMs ?? 0;
const isStale = Math.max(...INPUTS.map(newestChange)) >= built;
// --check: only say, by the exit code, whether a build is needed (1) or not (0).
if (process.argv.includes('--check')) process.exit(isStale ? 1 : 0);
if (process.argv.includes('--if-stale') && !isStale) process.exit(0);
// A clean output folder: a test file moved or removed must not live on as a stale compiled copy.
rmSync('dist', { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
await bundleCli();
writeFileSync(STAMP, `${new Date().toISOString()}\n`);

/**
 * The command line as a few files instead of ~150 modules. main.js is tiny; each command is a bundle
 * of its own (dist/cli/get.js, serve.js…), built apart so that it holds only what that command
 * uses: a `get` reads the client and nothing of the server. Packages imported statically are
 * bundled; those reached through import() (selfsigned, qrcode, cli-progress…) stay in node_modules
 * and load on first use, as Node loads them. Our compiled
 * modules have no side effects on import, so a module none of whose exports a command uses is left
 * out (the plugin tells esbuild; package.json's sideEffects is left alone, as it speaks to other
 * bundlers too). bin/sockhttp.js runs dist/cli/main.js, or dist/src/cli/main.js without a bundle.
 */
async function bundleCli() {
  const { build } = await import('esbuild').catch(() => ({ build: null }));
  if (build === null) return; // esbuild is a devDependency: an install without it runs the modules as compiled
  const ours = resolve('dist', 'src');
  const commands = ['serve', 'get', 'check', 'grade'];
  const plugin = (isMain) => ({
    name: 'sockhttp-cli',
    setup(context) {
      // A package reached through import() stays in node_modules, loaded by Node on first use: bundled,
      // a CommonJS one would lose its named exports (esbuild gives such a chunk a default export only).
      context.onResolve({ filter: /^[^./]/ }, (args) => (args.kind === 'dynamic-import' ? { path: args.path, external: true } : undefined));
      context.onResolve({ filter: /^\.\.?\// }, async (args) => {
        if (args.pluginData === 'inner') return undefined;
        // main.js loads each command's bundle, beside it, by the same relative name.
        if (isMain && commands.some((command) => args.path === `./${command}.js`)) return { path: args.path, external: true };
        const found = await context.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, pluginData: 'inner' });
        if (found.errors.length > 0 || !found.path.startsWith(ours)) return undefined;
        return { path: found.path, sideEffects: false };
      });
    },
  });
  const common = {
    outdir: 'dist/cli',
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
    // CommonJS dependencies call require() for Node's built-ins, which an ES module has not got.
    banner: { js: "import { createRequire as __sockhttpRequire } from 'node:module'; const require = __sockhttpRequire(import.meta.url);" },
    entryNames: '[name]',
    // Less text for V8 to parse at start; names are kept, so stack traces stay readable.
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    chunkNames: '[name]-[hash]',
  };
  await build({ ...common, entryPoints: ['dist/src/cli/main.js'], plugins: [plugin(true)] });
  await Promise.all(
    commands.map((command) => build({ ...common, entryPoints: [`dist/src/cli/${command}.js`], splitting: true, plugins: [plugin(false)] })),
  );
}
