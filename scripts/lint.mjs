// The one hard rule of the project: the HTTP wire protocol under src/ is our own, on node:net and
// node:tls. This check fails on any import of an HTTP library, and on any call of the global fetch.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const FORBIDDEN_MODULES = ['http', 'https', 'http2', 'undici', 'node-fetch', 'axios', 'got', 'superagent'];
const moduleNames = FORBIDDEN_MODULES.map((name) => name.replace(/[-]/g, '\\-')).join('|');
const importPattern = new RegExp(
  String.raw`(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)['"](?:node:)?(?:${moduleNames})(?:/[^'"]*)?['"]`,
);
const fetchPattern = /(?<![.\w$])fetch\s*\(|\b(?:globalThis|global|self|window)\s*\.\s*fetch\b/;

function sourceFiles(folder) {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(?:[cm]?[jt]s)$/.test(entry.name) ? [path] : [];
  });
}

/** Blanks out comments so that a comment mentioning fetch( is not a finding. */
function withoutComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, ' ')).replace(/\/\/.*$/gm, '');
}

export function findViolations(root = 'src') {
  const violations = [];
  for (const file of sourceFiles(root)) {
    const lines = withoutComments(readFileSync(file, 'utf8')).split('\n');
    lines.forEach((line, index) => {
      if (importPattern.test(line)) violations.push(`${file}:${index + 1}: imports an HTTP library: ${line.trim()}`);
      if (fetchPattern.test(line)) violations.push(`${file}:${index + 1}: calls fetch(): ${line.trim()}`);
    });
  }
  return violations;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = process.argv[2] ?? 'src';
  const violations = findViolations(root);
  if (violations.length > 0) {
    console.error(`lint: the wire protocol under ${root}/ must be our own (node:net / node:tls only):`);
    for (const violation of violations) console.error(`  ${violation}`);
    process.exit(1);
  }
  console.log(`lint: ${root}/ uses no HTTP library and no fetch()`);
}
