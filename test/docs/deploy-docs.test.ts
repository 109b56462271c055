/**
 * docs/deploy.md shows each file of docs/deploy/ exactly as it is, and each file is read by the tool
 * that reads it where that tool is installed (nginx and systemd-analyze run in the slow tests that use
 * those files; HAProxy and kubectl here, skipped with the reason when missing).
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT, commandExists, makeTempDir, runCommand } from '../helpers.js';

const DEPLOY = join(REPO_ROOT, 'docs', 'deploy');
const guide = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
const serveHelp = async () =>
  (await runCommand(process.execPath, [join(REPO_ROOT, 'bin', 'sockhttp.js'), 'serve', '--help'])).stdout.toString();

describe('docs/deploy.md', () => {
  for (const name of readdirSync(DEPLOY)) {
    test(`shows docs/deploy/${name} as it is, in a fenced block`, () => {
      const text = readFileSync(join(DEPLOY, name), 'utf8');
      assert.ok(guide.includes(`\n${text}\`\`\`\n`), `docs/deploy.md does not show ${name} as it is`);
    });
  }

  test('every serve flag the examples use is one serve --help lists', async () => {
    const help = await serveHelp();
    const used = new Set<string>();
    for (const name of readdirSync(DEPLOY)) {
      for (const match of readFileSync(join(DEPLOY, name), 'utf8').matchAll(/(?<![\w-])--([a-z][a-z-]+)/g)) used.add(match[1]!);
    }
    for (const text of guide.matchAll(/sockhttp serve [^\n`]*/g))
      for (const match of text[0].matchAll(/--([a-z][a-z-]+)/g)) used.add(match[1]!);
    // flags of other programs in the files (npm install -g, docker build --file…), not of serve
    for (const other of ['dry-run', 'now']) used.delete(other);
    assert.ok(used.size > 5, [...used].join(' '));
    for (const flag of used) assert.match(help, new RegExp(`--${flag}\\b`), `--${flag} is not a serve flag`);
  });

  test('haproxy -c accepts haproxy.cfg', {
    skip: !commandExists('haproxy') && 'haproxy is not installed (Debian package haproxy)',
  }, async () => {
    const result = await runCommand('haproxy', ['-c', '-f', join(DEPLOY, 'haproxy.cfg')], { timeoutMs: 20_000 });
    assert.equal(result.code, 0, result.stderr);
  });

  test('kubectl reads kubernetes.yaml: a Deployment with probes on the health path, and a Service', {
    skip: !commandExists('kubectl') && 'kubectl is not installed',
  }, async () => {
    // `kubectl apply --dry-run=client` needs an API server for its schemas; kustomize parses the
    // resources with kubectl's own reader and needs none.
    const folder = makeTempDir();
    try {
      copyFileSync(join(DEPLOY, 'kubernetes.yaml'), join(folder.path, 'kubernetes.yaml'));
      writeFileSync(join(folder.path, 'kustomization.yaml'), 'resources:\n- kubernetes.yaml\n');
      const result = await runCommand('kubectl', ['kustomize', folder.path], { timeoutMs: 20_000 });
      assert.equal(result.code, 0, result.stderr);
      const text = result.stdout.toString();
      assert.match(text, /^kind: Deployment$/m);
      assert.match(text, /^kind: Service$/m);
      assert.equal(text.match(/path: \/healthz/g)?.length, 2, 'readiness and liveness probes on /healthz');
      assert.match(text, /--health=\/healthz/);
    } finally {
      folder.remove();
    }
  });
});
