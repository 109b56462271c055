#!/usr/bin/env node
// The command-line entry point. The program is compiled from src/cli/ into dist/, and bundled into
// dist/cli/ (a few CommonJS files load faster than the ~150 ES modules of dist/src/: see
// scripts/build.mjs). This file runs those bundles itself, through node:vm, so that V8 can skip
// parsing and compiling them at every start: a code cache, as Node 22's module.enableCompileCache()
// does, which Node 20 has not got. Without bundles, it runs dist/src/ as compiled.
//
// This file is CommonJS (bin/package.json): started as an ES module, Node would first set up its
// ES module loader, about 3 ms that nothing here needs.
'use strict';
const getBuiltin = process.getBuiltinModule ?? require;
const { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, readdirSync, renameSync, rmSync, writeSync } =
  getBuiltin('node:fs');
const { dirname, join } = getBuiltin('node:path');
// The bundles' require: Node's built-ins straight from process.getBuiltinModule (Node 20.16), not
// through the CommonJS loader (its resolution and debug logging, 0.5 ms of a start); packages as usual.
const bundleRequire =
  process.getBuiltinModule === undefined ? require : (id) => (id.startsWith('node:') ? process.getBuiltinModule(id) : require(id));

const BUNDLES = join(__dirname, '..', 'dist', 'cli');
// The first line of a cache file says for what it was made (V8's own check is only the source's
// length), and ends with the CRC-32 of the data after it. V8 checks a code cache's own checksum
// only under --verify-snapshot-checksum, off in release builds, and damaged data makes it abort
// the process: the data is checked here instead, with node:zlib's crc32 (0.5 ms of a start, where
// node:v8 and V8's checksum were 0.8 ms).
const CACHE_FORMAT = 'sockhttp-code-cache 3';
// The process event by which a command says its start-up is over (src/cli/options.ts).
const STARTED_UP = 'sockhttp:started-up';
// The commands that emit it; the others' cache is made at exit.
const SAYS_STARTED_UP = new Set(['serve', 'get']);

/**
 * Where cache files may live, in order: beside the bundles, or per user when the install is
 * read-only. Functions, so that the second (node:os) is looked up only when the first fails;
 * SOCKHTTP_CODE_CACHE names another folder, or is 0 or off for none.
 */
function cacheFolders() {
  const setting = process.env['SOCKHTTP_CODE_CACHE'];
  if (setting === '0' || setting === 'off') return [];
  if (setting) return [() => setting];
  return [() => BUNDLES, userCacheFolder];
}

function userCacheFolder() {
  const { homedir, platform } = getBuiltin('node:os');
  const home = homedir();
  if (platform() === 'win32') return join(process.env['LOCALAPPDATA'] || join(home, 'AppData', 'Local'), 'sockhttp', 'Cache');
  if (platform() === 'darwin') return join(home, 'Library', 'Caches', 'sockhttp');
  return join(process.env['XDG_CACHE_HOME'] || join(home, '.cache'), 'sockhttp');
}

/**
 * Runs dist/cli/NAME.js as a CommonJS module and returns its exports. The bundle is the module's
 * function, `(function (exports, require, module, __filename, __dirname, __sockhttp) {…})`, and
 * ends with a line naming its content (`//# sockhttp-bundle <sha-256>`, written by the build); the
 * cache file is used only if it was made for that content, that size and time of the file, this
 * Node and this architecture, and its data is whole.
 * A missing, stale, damaged or unwritable cache costs a compilation, never a failure.
 */
function loadBundle(name, { cache = true } = {}) {
  const file = join(BUNDLES, `${name}.js`);
  const fd = openSync(file, 'r');
  let source;
  let stats;
  try {
    stats = fstatSync(fd);
    // ASCII (the build checks): read as latin1, copied from the bytes read. As utf8, Node reads it
    // another way that left the process 0.4 MB larger (RSS of an idle serve: 45.6 vs 45.2 MB).
    source = readWhole(fd, stats.size).toString('latin1');
  } finally {
    closeSync(fd);
  }
  const id = /\/\/# sockhttp-bundle (\w+)\s*$/.exec(source.slice(-120))?.[1] ?? 'none';
  const header = `${CACHE_FORMAT} ${process.version} ${process.arch} ${id} ${stats.size} ${stats.mtimeMs}`;
  const folders = cache ? cacheFolders() : [];
  const cacheName = `${name}.${id.slice(0, 16)}.v8cache`;
  let cached;
  for (const folder of folders) {
    cached = readCache(folder, cacheName, header);
    if (cached !== undefined) break;
  }
  // The bundle is a function expression (made so by the build), its first line the wrapper's.
  const script = new (getBuiltin('node:vm').Script)(source, { filename: file, lineOffset: -1, cachedData: cached });
  const module = { exports: {} };
  // What the bundle's import.meta.url and import() of a package become (see scripts/build.mjs).
  let url;
  const host = {
    get url() {
      url ??= getBuiltin('node:url').pathToFileURL(file).href;
      return url;
    },
    import: importPackage,
  };
  // This file's require finds packages as one made for the bundle would: both are in the package.
  const run = script.runInThisContext();
  // A bundle from before bundles were functions (bin updated, dist/cli not rebuilt): the compiled
  // modules are run instead, as when there are no bundles (see start).
  if (typeof run !== 'function') throw Object.assign(new Error(`${file} is not a current bundle`), { code: 'ENOENT' });
  run.call(module.exports, module.exports, bundleRequire, module, file, BUNDLES, host);
  if (folders.length > 0 && (cached === undefined || script.cachedDataRejected)) {
    // Made at exit, the cache holds every function this run compiled, not only the top level. serve
    // and get say instead when what they run at every start is done (see startUpDone in
    // src/cli/options.ts): serve once listening, so the cache does not hold all a long run compiled;
    // get once a transfer succeeded, so a first run that was `get --help` or a failure does not
    // leave a cache without the request's path, accepted and lacking at every start after.
    const write = () => {
      process.off('exit', write);
      process.off(STARTED_UP, write);
      writeCache(script, folders, cacheName, header);
    };
    if (!SAYS_STARTED_UP.has(name)) process.once('exit', write);
    process.once(STARTED_UP, write);
  }
  return module.exports;
}

/**
 * The `size` bytes of the file open at `fd` (fewer if it shrank), read straight into one buffer:
 * readFileSync's general path (another fstat, a read loop for files of unknown size) cost 0.1 ms
 * more at every start.
 */
function readWhole(fd, size) {
  const bytes = Buffer.allocUnsafeSlow(size);
  let filled = 0;
  while (filled < size) {
    const read = readSync(fd, bytes, filled, size - filled, filled);
    if (read === 0) break;
    filled += read;
  }
  return bytes.subarray(0, filled);
}

/** The CRC-32 of `data` as 8 hex digits, by node:zlib (Node 20.15); null before it: then no cache is read or written. */
function checksumOf(data) {
  const { crc32 } = getBuiltin('node:zlib');
  return crc32 === undefined ? null : crc32(data).toString(16).padStart(8, '0');
}

/** The data of the cache file made for `header`, if there is one and it is whole; undefined otherwise. */
function readCache(folder, cacheName, header) {
  let fd;
  let file;
  try {
    fd = openSync(join(folder(), cacheName), 'r');
    file = readWhole(fd, fstatSync(fd).size);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const end = file.indexOf(10);
  if (end === -1 || file.toString('latin1', 0, end - 8) !== `${header} `) return undefined;
  const data = file.subarray(end + 1);
  const checksum = checksumOf(data);
  if (checksum === null || file.toString('latin1', end - 8, end) !== checksum) return undefined;
  return data;
}

function writeCache(script, folders, cacheName, header) {
  let file;
  try {
    const data = script.createCachedData();
    const checksum = checksumOf(data);
    if (checksum === null) return;
    file = Buffer.concat([Buffer.from(`${header} ${checksum}\n`, 'latin1'), data]);
  } catch {
    return;
  }
  const [command] = cacheName.split('.');
  for (const where of folders) {
    let folder;
    let partial;
    try {
      folder = where();
      const path = join(folder, cacheName);
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // A new file only ('wx': no file or link of that name is followed, or written by two at
      // once), on the disk before it is renamed into place: a reader sees the whole file or none.
      const temporary = `${path}.${process.pid}.tmp`;
      const fd = openSync(temporary, 'wx', 0o600);
      partial = temporary; // ours to remove from here on
      try {
        for (let written = 0; written < file.length; ) written += writeSync(fd, file, written);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(partial, path);
    } catch {
      try {
        if (partial !== undefined) rmSync(partial, { force: true });
      } catch {}
      continue;
    }
    // The caches of this command's earlier bundles are of no more use.
    try {
      for (const other of readdirSync(folder)) {
        if (other !== cacheName && other.startsWith(`${command}.`) && other.endsWith('.v8cache'))
          rmSync(join(folder, other), { force: true });
      }
    } catch {}
    return;
  }
}

/**
 * import() for the bundles, of the packages they load on first use (selfsigned, cli-progress, open…):
 * found from here as from dist/cli/, both inside the package (see scripts/build.mjs).
 */
function importPackage(specifier) {
  return import(specifier);
}

/** Each command's bundle and the function in it that runs the command (as src/cli/main.ts calls them). */
const COMMANDS = { serve: 'runServe', get: 'runGet', check: 'runCheck', grade: 'runGrade' };

/**
 * What runs the command line: a command's bundle straight away (main.js, the dispatch, would cost
 * reading and compiling one more file, 0.6 ms); main() of main.js for the rest (--help, --version,
 * a mistake); main() of the compiled modules when there are no bundles (an install without esbuild).
 */
async function start(args) {
  const [command, ...rest] = args;
  // `sockhttp get --version` and the like are main()'s.
  const isVersion = rest.length === 1 && (rest[0] === '--version' || rest[0] === '-V');
  try {
    if (Object.hasOwn(COMMANDS, command) && !isVersion) {
      const run = loadBundle(command)[COMMANDS[command]];
      return () => run(rest);
    }
    // main.js is 3 kB: compiled faster than a cache is checked.
    const { main } = loadBundle('main', { cache: false });
    return () => main(args, async (name) => loadBundle(name));
  } catch (error) {
    if (error?.code !== 'ENOENT') throw error;
    const { main } = await import('../dist/src/cli/main.js');
    return () => main(args);
  }
}

/**
 * The end of a command's process, once its event loop is empty and the 'exit' listeners have run:
 * nothing is left to write or to close, but Node would still free its environment and V8's heap
 * before the process ends (about 1 ms of a `get`). process.exit() from here skips that (the
 * 'exit' event is not emitted twice). Not after an uncaught error: Node emits 'exit' before it
 * prints one, and the error must be seen. A listener added after this one is let run, as usual.
 */
let failed = false;
process.on('uncaughtExceptionMonitor', () => {
  failed = true;
});
function endAtOnce() {
  if (!failed && process.listeners('exit').at(-1) === endAtOnce) process.exit();
}

start(process.argv.slice(2))
  .then((run) => run())
  .then((code) => {
    process.exitCode = code;
    process.on('exit', endAtOnce);
  });
