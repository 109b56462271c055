/**
 * Zero-setup HTTPS (a certificate made once, kept in the user's cache folder, verified by curl with
 * it as the only trusted authority, reused after a restart), the QR code of the network URL (read
 * back into modules and compared with the encoder's own matrix) and --open (the opener stubbed with
 * SOCKHTTP_OPENER). HOME and XDG_CACHE_HOME point at a temporary folder; nothing binds a
 * non-loopback address.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import QRCode from 'qrcode';
import { ensureLocalCertificate, renderQrCode } from '../../src/index.js';
import { commandExists, makeTempDir, runCommand, startCliServer, startProcess, CLI } from '../helpers.js';
import { writeTree } from '../net/server/helpers.js';

const hasCurl = commandExists('curl');

let home: ReturnType<typeof makeTempDir>;
let root: string;
let env: NodeJS.ProcessEnv;

before(() => {
  home = makeTempDir('sockhttp-home-');
  root = join(home.path, 'site');
  writeTree(root, { 'hello.txt': 'hello over tls\n' });
  env = { ...process.env, HOME: home.path, XDG_CACHE_HOME: join(home.path, 'cache') };
});
after(() => home.remove());

async function startHttps(): Promise<{ port: number; fingerprint: string; stop(): Promise<unknown>; output(): string }> {
  const server = startProcess(process.execPath, [CLI, 'serve', root, '--https', '--port', '0', '-q'], { env });
  const [, port] = await server.waitFor(/https:\/\/127\.0\.0\.1:(\d+)\//, 30_000, 'stderr');
  const [, fingerprint] = await server.waitFor(/SHA-256 ([0-9A-F:]{95})/, 10_000, 'stderr');
  return { port: Number(port), fingerprint: fingerprint!, stop: () => server.stop(), output: () => server.errors() };
}

describe('--https without certificate files', () => {
  const certFile = () => join(home.path, 'cache', 'sockhttp', 'https', 'localhost.crt');
  const keyFile = () => join(home.path, 'cache', 'sockhttp', 'https', 'localhost.key');

  test('makes a certificate in $XDG_CACHE_HOME/sockhttp, prints its SHA-256, and curl trusting only it gets the file', {
    skip: !hasCurl,
  }, async () => {
    const server = await startHttps();
    try {
      assert.match(server.output(), /HTTPS certificate made: /);
      assert.ok(existsSync(certFile()) && existsSync(keyFile()));
      assert.equal(statSync(keyFile()).mode & 0o777, 0o600, 'the private key is readable by its owner only');
      const certificate = new X509Certificate(readFileSync(certFile()));
      assert.equal(server.fingerprint, certificate.fingerprint256);
      assert.ok(certificate.checkHost('localhost'));
      assert.ok(certificate.checkIP('127.0.0.1'));
      for (const url of [`https://127.0.0.1:${server.port}/hello.txt`, `https://localhost:${server.port}/hello.txt`]) {
        const result = await runCommand('curl', [
          '-sS',
          '--max-time',
          '10',
          '--cacert',
          certFile(),
          '--resolve',
          `localhost:${server.port}:127.0.0.1`,
          url,
        ]);
        assert.equal(result.code, 0, `${url}: ${result.stderr}`);
        assert.equal(result.stdout.toString(), 'hello over tls\n');
      }
    } finally {
      await server.stop();
    }
  });

  test('a restart reuses it: same fingerprint, so a browser exception survives', { skip: !hasCurl }, async () => {
    const before = new X509Certificate(readFileSync(certFile())).fingerprint256;
    const server = await startHttps();
    try {
      assert.match(server.output(), /HTTPS certificate reused: /);
      assert.equal(server.fingerprint, before);
    } finally {
      await server.stop();
    }
  });

  test('one that no longer names every address, or is damaged, is made again', async () => {
    const folder = join(home.path, 'elsewhere');
    const first = await ensureLocalCertificate(['localhost', '127.0.0.1'], folder);
    assert.equal(first.created, true);
    assert.equal((await ensureLocalCertificate(['localhost', '127.0.0.1'], folder)).created, false);
    const wider = await ensureLocalCertificate(['localhost', '127.0.0.1', '10.1.2.3'], folder);
    assert.equal(wider.created, true);
    assert.ok(new X509Certificate(wider.cert).checkIP('10.1.2.3'));
    writeFileSync(join(folder, 'localhost.crt'), 'not a certificate');
    assert.equal((await ensureLocalCertificate(['localhost'], folder)).created, true);
  });
});

describe('the QR code of the network URL', () => {
  /** Reads the half-block drawing back into dark (true) and light modules, without its margin. */
  function readBack(drawing: string): boolean[][] {
    const lines = drawing
      .replace(/\u001b\[[0-9;]*m/g, '')
      .split('\n')
      .filter((line) => /[█▀▄]/.test(line));
    const rows: boolean[][] = [];
    for (const line of lines) {
      const chars = [...line];
      rows.push(chars.map((char) => char === '█' || char === '▀'));
      rows.push(chars.map((char) => char === '█' || char === '▄'));
    }
    return rows;
  }

  test('renderQrCode draws exactly the modules of the QR code of the URL', async () => {
    const url = 'http://192.168.1.23:13331/';
    const drawing = await renderQrCode(url);
    const { modules } = QRCode.create(url, { errorCorrectionLevel: 'L' });
    const read = readBack(drawing);
    // Find the top-left dark module of the finder pattern, then compare module by module.
    const top = read.findIndex((row) => row.includes(true));
    const left = read[top]!.indexOf(true);
    for (let row = 0; row < modules.size; row++) {
      for (let column = 0; column < modules.size; column++) {
        assert.equal(read[top + row]?.[left + column], modules.get(row, column) === 1, `module ${row},${column}`);
      }
    }
  });

  test('the CLI draws none when its output is not a terminal or it listens on loopback only', async () => {
    const cli = await startCliServer([root, '-q']);
    try {
      assert.doesNotMatch(cli.output() + cli.errors(), /[█▀▄]/);
    } finally {
      await cli.stop();
    }
  });
});

describe('--open', () => {
  test('opens the server’s URL with the opener (stubbed through SOCKHTTP_OPENER)', async () => {
    const log = join(home.path, 'opened.txt');
    const stub = join(home.path, 'opener.sh');
    writeFileSync(stub, `#!/bin/sh\necho "$@" >> '${log}'\n`);
    chmodSync(stub, 0o755);
    const cli = await startCliServer([root, '-q', '--open'], { env: { ...env, SOCKHTTP_OPENER: stub } });
    try {
      let opened = '';
      for (let attempt = 0; attempt < 100 && opened === ''; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        opened = existsSync(log) ? readFileSync(log, 'utf8') : '';
      }
      assert.equal(opened.trim(), `http://127.0.0.1:${cli.port}/`);
    } finally {
      await cli.stop();
    }
  });
});
