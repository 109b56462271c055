/**
 * The house's dependency rule, read from the import statements of every source file (README, "How
 * it is built"). A wrong arrow fails here, with the file and the import that broke the rule.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from './helpers.js';

/** The layer a repository path belongs to. */
function layerOf(path: string): string {
  if (path === 'src/index.ts') return 'index';
  if (path === 'src/version.ts') return 'version';
  const parts = path.split('/');
  if (parts[0] === 'examples') return 'examples';
  if (parts[1] === 'net') return `net/${parts[2]}`;
  return parts[1]!;
}

/** What each layer may import (besides itself, and Node's own modules where noted). */
const ALLOWED: Record<string, string[]> = {
  core: [],
  site: ['core'],
  static: ['core', 'site'],
  'net/server': ['core'],
  'net/client': ['core', 'version'],
  check: ['core'],
  grade: ['core', 'check'],
  index: ['core', 'site', 'static', 'net/server', 'net/client', 'version'],
  cli: ['index', 'check', 'grade', 'version'],
  examples: ['index'],
  version: [],
};

/** Layers that may use Node's modules only for types: nothing of the core touches sockets, files, timers or clocks. */
const TYPES_ONLY_FROM_NODE = new Set(['core']);

/** The static layer reaches the disk through one seam: open first, then decide on what was opened. */
const FILESYSTEM_SEAM = 'src/static/file-access.ts';

function sourceFiles(folder: string): string[] {
  return readdirSync(join(REPO_ROOT, folder), { withFileTypes: true }).flatMap((entry) => {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]/gm;

test('every import follows the dependency rule', () => {
  const violations: string[] = [];
  const files = [...sourceFiles('src'), ...sourceFiles('examples')];
  for (const file of files) {
    const from = layerOf(file);
    const allowed = ALLOWED[from];
    if (allowed === undefined) {
      violations.push(`${file}: a folder the rule does not know (add it to ALLOWED and README)`);
      continue;
    }
    for (const match of readFileSync(join(REPO_ROOT, file), 'utf8').matchAll(IMPORT)) {
      const [, , typeOnly, specifier] = match;
      if (specifier!.startsWith('node:')) {
        if (TYPES_ONLY_FROM_NODE.has(from) && typeOnly === undefined)
          violations.push(`${file}: ${from} may not use ${specifier} (types only)`);
        if (from === 'static' && /^node:fs(\/|$)/.test(specifier!) && file !== FILESYSTEM_SEAM)
          violations.push(`${file}: the disk only through ${FILESYSTEM_SEAM}`);
        continue;
      }
      if (!specifier!.startsWith('.')) continue; // a package from npm
      const target = relative(REPO_ROOT, resolve(REPO_ROOT, dirname(file), specifier!)).replace(/\.js$/, '.ts');
      const to = layerOf(target);
      if (to !== from && !allowed.includes(to)) violations.push(`${file}: ${from} → ${to} (${specifier})`);
    }
  }
  assert.deepEqual(violations, []);
  assert.ok(files.length > 40, `only ${files.length} files were read: is the walk broken?`);
});
