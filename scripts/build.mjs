// `npm run build`: compiles with tsc, bundles the command line (dist/cli/, see bundleCli), then
// records that the build succeeded (dist/.build-stamp).
// With --if-stale (npm start), it compiles only when a source is newer than that record, so a start
// with nothing changed costs milliseconds instead of a full compile; --check only tells.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

/**
 * Packages a command needs only for some of its options, left in node_modules and require()d by the
 * bundle when first used: a plain `get` reads no cookie or form library (tldts, tough-cookie's
 * public suffix list, and the MIME database are 300 kB of the get bundle otherwise), a plain `serve`
 * makes no archive. Each has a CommonJS entry (Node 20 cannot require() an ES module).
 */
const LOADED_ON_USE = {
  get: ['tough-cookie', 'form-data-encoder', 'mime-types'],
  serve: ['tar-stream', 'yazl', 'content-disposition'],
};

/**
 * Modules imported at the top of a library file but used only once a request is served: in the
 * bundles, each is evaluated on first use instead of at start, behind a Proxy that loads it when one
 * of its exports is first read (or it is called). The MIME database and its maps are 2 to 5 ms of a
 * `serve` start (mime-types, and compressible's own copy of mime-db); node:fs/promises, 0.7 ms, is
 * not called by a plain `get`; nor node:timers/promises (--retry's waits) and node:os (--netrc's home
 * folder), 0.2 ms together. Nothing here may need a file descriptor to load: a server out of them
 * (EMFILE) must still answer. So not node:crypto (1.3 ms): loaded on the first request, OpenSSL's
 * set-up failed under EMFILE and the server stopped accepting (hardening.slow.test.ts, 2 runs in 10).
 * Nor node:perf_hooks: its performance.now() checks that `this` is the real object (the bundles
 * have scripts/bundle-performance.mjs instead).
 */
const LOADED_WHEN_USED = ['mime-types', 'compressible', 'node:fs/promises', 'node:timers/promises', 'node:os'];

/** What node:perf_hooks and the global `performance` are in the bundles: performance.now() alone, without the module. */
const PERFORMANCE = resolve('scripts', 'bundle-performance.mjs');

/**
 * An ES module standing for `name`, which is required on first use: its default export and each
 * named one is a Proxy (over a function, so that it can be called or constructed) reading through
 * to the real module. The names are those the module has here, at build time.
 */
function lazyModule(name) {
  const names = Object.keys(createRequire(import.meta.url)(name)).filter((key) => /^[A-Za-z_$][\w$]*$/.test(key) && key !== 'default');
  return [
    'let loaded;',
    `const load = () => (loaded ??= require(${JSON.stringify(name)}));`,
    'const lazy = (read) => new Proxy(function () {}, {',
    '  get: (_, key) => read()[key],',
    '  has: (_, key) => key in read(),',
    '  apply: (_, self, args) => Reflect.apply(read(), self, args),',
    '  construct: (_, args) => Reflect.construct(read(), args),',
    '});',
    'export default /* @__PURE__ */ lazy(load);',
    ...names.map((key) => `export const ${key} = /* @__PURE__ */ lazy(() => load().${key});`),
  ].join('\n');
}

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
 * and load on first use, as Node loads them. Our compiled modules have no side effects on import,
 * so a module none of whose exports a command uses is left out (the plugin tells esbuild;
 * package.json's sideEffects is left alone, as it speaks to other bundlers too).
 *
 * The bundles are CommonJS, run by bin/sockhttp.js through node:vm with a V8 code cache; Node never
 * loads them itself (they are .js files of a "type": "module" package). CommonJS because
 * ES modules are resolved, linked and evaluated in many more steps, each built-in imported costs a
 * facade, and vm can cache the compilation of a script only. A module of ours reached through
 * import() (get's cookies and forms) is in the same file, evaluated on first use. Each bundle is
 * the module's function, as an expression for bin/sockhttp.js to call, and ends with a line naming
 * its content, against which bin/sockhttp.js checks its cache.
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
      // a CommonJS one would lose its named exports, and ES-only ones (open) cannot be require()d.
      context.onResolve({ filter: /^[^./]/ }, (args) => (args.kind === 'dynamic-import' ? { path: args.path, external: true } : undefined));
      const lazy = new RegExp(`^(${LOADED_WHEN_USED.join('|')})$`);
      context.onResolve({ filter: lazy }, (args) =>
        args.kind === 'import-statement' ? { path: args.path, namespace: 'sockhttp-lazy', pluginData: args.resolveDir } : undefined,
      );
      // createRequire(import.meta.url), in our modules, loads built-ins and packages on first use; in a
      // bundle, the require bin/sockhttp.js gives it does the same, from the same package, without
      // loading node:module (and the ES module loader it brings).
      context.onResolve({ filter: /^node:module$/ }, (args) =>
        args.kind === 'import-statement' ? { path: args.path, namespace: 'sockhttp-module' } : undefined,
      );
      context.onResolve({ filter: /^node:perf_hooks$/ }, (args) => (args.kind === 'import-statement' ? { path: PERFORMANCE } : undefined));
      context.onLoad({ filter: /.*/, namespace: 'sockhttp-module' }, () => ({
        contents: 'export const createRequire = () => require;',
        loader: 'js',
      }));
      context.onLoad({ filter: /.*/, namespace: 'sockhttp-lazy' }, (args) => ({
        contents: lazyModule(args.path),
        resolveDir: args.pluginData,
        loader: 'js',
      }));
      context.onResolve({ filter: /^\.\.?\// }, async (args) => {
        if (args.pluginData === 'inner') return undefined;
        // main.js is given each command's bundle by bin/sockhttp.js (its import() is not reached).
        if (isMain && commands.some((command) => args.path === `./${command}.js`)) return { path: args.path, external: true };
        const found = await context.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, pluginData: 'inner' });
        if (found.errors.length > 0 || !found.path.startsWith(ours)) return undefined;
        return { path: found.path, sideEffects: false };
      });
    },
  });
  const entries = ['main', ...commands];
  const results = await Promise.all(
    entries.map((entry) =>
      build({
        entryPoints: [`dist/src/cli/${entry}.js`],
        outfile: `dist/cli/${entry}.js`,
        bundle: true,
        format: 'cjs',
        platform: 'node',
        target: 'node20',
        logLevel: 'warning',
        metafile: true,
        write: false,
        // bin/sockhttp.js gives each bundle its file: URL, made when read (createRequire(import.meta.url)
        // in our modules, which the plugin answers without it).
        define: { 'import.meta.url': '__sockhttp.url' },
        // Less text to read. Identifiers are not minified, so stack traces stay readable; nor is
        // keepNames set, whose __name() call for each function and class cost 2 to 4 ms at every start.
        minifyWhitespace: true,
        minifySyntax: true,
        plugins: [plugin(entry === 'main')],
        // The global `performance` too (read by the server and the pool without an import).
        inject: [PERFORMANCE],
        external: LOADED_ON_USE[entry] ?? [],
      }),
    ),
  );
  mkdirSync(join('dist', 'cli'), { recursive: true });
  const bundles = [];
  for (const [index, entry] of entries.entries()) {
    const { metafile, outputFiles } = results[index];
    let text = outputFiles[0].text;
    // import() of a package, in a script run by node:vm, would need vm's importModuleDynamically,
    // which Node 20 calls experimental (a warning on stderr) and loses when the script comes from a
    // code cache. bin/sockhttp.js gives each bundle an __sockhttp.import that does the import() itself.
    const packages = Object.values(metafile.outputs)[0].imports.filter(
      (record) => record.kind === 'dynamic-import' && record.external && !record.path.startsWith('.'),
    );
    for (const { path } of packages) {
      const call = `import(${JSON.stringify(path)})`;
      if (!text.includes(call)) throw new Error(`dist/cli/${entry}.js: no ${call} to hand to bin/sockhttp.js`);
      text = text.replaceAll(call, `__sockhttp.import(${JSON.stringify(path)})`);
    }
    // createRequire(import.meta.url) is `require` in a bundle (see the plugin): the URL, made with
    // node:url when first read, 0.6 ms of a start, is not needed for it.
    text = text.replace(/\bcreateRequire\(__sockhttp\.url\)/g, 'createRequire()');
    if (/[^\0-\x7f]/.test(text)) throw new Error(`dist/cli/${entry}.js: not ASCII (bin/sockhttp.js reads it as latin1)`);
    const leftover = /(?<![\w$.])import\((?!"\.)/.exec(text);
    if (leftover !== null) throw new Error(`dist/cli/${entry}.js: an import() bin/sockhttp.js cannot serve, at ${leftover.index}`);
    // The function bin/sockhttp.js calls, written here: the file's text is then the script's source
    // as it is read, not copied into a wrapper at every start (a second copy of 0.2 to 0.5 MB, kept).
    text = `(function (exports, require, module, __filename, __dirname, __sockhttp) {\n${text}\n})`;
    const id = createHash('sha256').update(text).digest('hex');
    bundles.push([join('dist', 'cli', `${entry}.js`), `${text}\n//# sockhttp-bundle ${id}\n`]);
  }
  // All or none: bin/sockhttp.js runs the bundles when main.js is there.
  for (const [file, text] of bundles) writeFileSync(file, text);
}
