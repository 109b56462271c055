/**
 * Where `sockhttp get` writes bodies, for each kind of destination: a regular file given with -o,
 * stdout redirected to a regular file, /dev/null (the three written with synchronous writes of
 * lent chunks), and a pipe (written as a stream). The bytes must be the same whichever way.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, type RunningServer, makeTempDir, runCli, startStaticServer } from '../helpers.js';

const MAX_TIME = ['--max-time', '30'];
const BIG_SIZE = 6 * 1024 * 1024 + 123;

function bigFile(): Buffer {
  const bytes = Buffer.alloc(BIG_SIZE);
  for (let i = 0; i + 4 <= BIG_SIZE; i += 4) bytes.writeUInt32LE((i * 2654435761) >>> 0, i);
  return bytes;
}

/** Runs the CLI with its stdout going straight to `path` (a file descriptor, not a pipe). */
function runCliToFile(args: string[], path: string): Promise<{ code: number | null; stderr: string }> {
  const fd = openSync(path, 'w');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', fd, 'pipe'] });
    closeSync(fd); // the child has its own copy
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('sockhttp get: every kind of destination gets the same bytes', () => {
  const root = makeTempDir();
  const out = makeTempDir();
  const big = bigFile();
  let server: RunningServer;
  before(async () => {
    writeFileSync(join(root.path, 'big.bin'), big);
    server = await startStaticServer(root.path);
  });
  after(async () => {
    await server?.close();
    root.remove();
    out.remove();
  });

  test('-o FILE: byte-exact', async () => {
    const path = join(out.path, 'o.bin');
    const result = await runCli(['get', server.url('/big.bin'), '-o', path, ...MAX_TIME]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(readFileSync(path).equals(big));
  });

  test('-i -o FILE: the head, then the body', async () => {
    const path = join(out.path, 'head-and-body.bin');
    const result = await runCli(['get', '-i', server.url('/big.bin'), '-o', path, ...MAX_TIME]);
    assert.equal(result.code, 0, result.stderr);
    const written = readFileSync(path);
    const headEnd = written.indexOf('\r\n\r\n') + 4;
    assert.match(written.toString('latin1', 0, headEnd), /^HTTP\/1\.1 200 OK\r\n[\s\S]*Content-Length: 6291579\r\n/);
    assert.ok(written.subarray(headEnd).equals(big));
  });

  test('stdout redirected to a regular file: byte-exact, with -i and -w in order', async () => {
    const path = join(out.path, 'stdout.bin');
    const result = await runCliToFile(['get', '-i', '-w', '\\n%{size_download}\\n', server.url('/big.bin'), ...MAX_TIME], path);
    assert.equal(result.code, 0, result.stderr);
    const written = readFileSync(path);
    const headEnd = written.indexOf('\r\n\r\n') + 4;
    assert.match(written.toString('latin1', 0, headEnd), /^HTTP\/1\.1 200 OK\r\n/);
    const tail = `\n${BIG_SIZE}\n`;
    assert.ok(written.subarray(headEnd, written.length - tail.length).equals(big));
    assert.equal(written.toString('latin1', written.length - tail.length), tail);
  });

  test('stdout redirected to a file, two URLs: both bodies, in order', async () => {
    const path = join(out.path, 'two.bin');
    const result = await runCliToFile(['get', server.url('/big.bin'), server.url('/big.bin'), ...MAX_TIME], path);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(readFileSync(path).equals(Buffer.concat([big, big])));
  });

  test('-o /dev/null: the whole body is read (size_download)', async () => {
    const result = await runCli(['get', '-w', '%{http_code} %{size_download}', server.url('/big.bin'), '-o', '/dev/null', ...MAX_TIME]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), `200 ${BIG_SIZE}`);
  });

  test('stdout a pipe: byte-exact', async () => {
    const result = await runCli(['get', server.url('/big.bin'), ...MAX_TIME]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.equals(big));
  });

  test('-o into a folder that does not exist: exit 23, nothing left behind', async () => {
    const result = await runCli(['get', server.url('/big.bin'), '-o', join(out.path, 'missing', 'x.bin'), ...MAX_TIME]);
    assert.equal(result.code, 23, result.stderr);
    assert.match(result.stderr, /^sockhttp get: cannot write .*x\.bin: ENOENT\n$/);
  });
});
