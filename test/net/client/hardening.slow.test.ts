/**
 * Hardening of `sockhttp get` (the real bin script in a child process) against deliberately broken
 * servers written on raw node:net: endless heads and bodies, bodies over --max-filesize, bad chunk
 * sizes, short bodies, a server that drips, a reset in the middle of the body. Each failure is its
 * exit code and one line on stderr, in bounded time and memory; with -o FILE nothing is left behind
 * and an existing FILE is untouched; -o to /dev/null or a FIFO writes straight to it.
 *
 * Every server loop is bounded in bytes and time; every server and process is stopped in `finally`.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { commandExists, makeTempDir, runCommand } from '../../helpers.js';
import { type Script, type ScriptedServer, runGet, withServer, write, writeForever } from '../../security/hostile-peer.js';
import { assertOneLine } from './helpers.js';
import { delay, patternBytes } from '../server/helpers.js';

const MB = 1000 * 1000;
let folder: ReturnType<typeof makeTempDir>;
let folders = 0;

before(() => {
  folder = makeTempDir('sockhttp-get-hardening-');
});

after(() => folder?.remove());

/** A fresh, empty subfolder. */
function freshFolder(): string {
  const path = join(folder.path, `case-${++folders}`);
  mkdirSync(path);
  return path;
}

const HEAD_100K = 'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n';

interface BrokenCase {
  name: string;
  script: Script;
  args: string[];
  code: number;
  /** Checks on the server's side once the client has exited (how much it was sent, that it hung up). */
  check?: (server: ScriptedServer) => void;
}

/** The client hung up long before the endless writer's caps: it stopped reading by itself. */
function hungUpEarly(server: ScriptedServer): void {
  const [connection] = server.connections;
  assert.ok(connection !== undefined, 'no connection');
  assert.ok(connection.written < 64 * MB, `the server wrote ${connection.written} bytes before the client gave up`);
}

const CASES: BrokenCase[] = [
  {
    name: 'endless header lines (X: aaaa… forever) → 100',
    script: async (socket, log) => {
      write(socket, log, 'HTTP/1.1 200 OK\r\n');
      await writeForever(socket, log, `X: ${'a'.repeat(1_000)}\r\n`);
    },
    args: [],
    code: 100,
    check: hungUpEarly,
  },
  {
    name: 'one endless header line → 100',
    script: async (socket, log) => {
      write(socket, log, 'HTTP/1.1 200 OK\r\nX-Endless: ');
      await writeForever(socket, log, 'a'.repeat(16 * 1024));
    },
    args: [],
    code: 100,
    check: hungUpEarly,
  },
  {
    name: 'a 1 MB head, then nothing → 100',
    script: (socket, log) => write(socket, log, `HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(MB)}\r\nContent-Length: 0\r\n\r\n`),
    args: [],
    code: 100,
  },
  {
    name: 'an endless chunked body with --max-filesize 100000 → 63',
    script: async (socket, log) => {
      write(socket, log, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      await writeForever(socket, log, `1000\r\n${'c'.repeat(0x1000)}\r\n`);
    },
    args: ['--max-filesize', '100000'],
    code: 63,
    check: hungUpEarly,
  },
  {
    // The server sends the head and nothing more: a client that waited for the body would hit --max-time (28).
    name: 'a Content-Length over --max-filesize → 63 before any body byte',
    script: (socket, log) => write(socket, log, 'HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n'),
    args: ['--max-filesize', '100000'],
    code: 63,
  },
  {
    name: 'a bad chunk size after a good chunk → 8',
    script: async (socket, log) => {
      write(socket, log, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      await delay(50);
      write(socket, log, 'xyz\r\nworld\r\n0\r\n\r\n');
    },
    args: [],
    code: 8,
  },
  {
    name: 'a Content-Length longer than what is sent, then the close → 18',
    script: (socket, log) => {
      write(socket, log, HEAD_100K + 'd'.repeat(40_000));
      socket.end();
    },
    args: [],
    code: 18,
  },
  {
    name: 'a server that drips one byte a second, --max-time 1 → 28',
    script: async (socket, log) => {
      write(socket, log, HEAD_100K);
      for (let sent = 0; sent < 30 && !socket.destroyed; sent++) {
        write(socket, log, 'e');
        await delay(1_000);
      }
    },
    args: ['--max-time', '1'],
    code: 28,
  },
  {
    name: 'a reset in the middle of the body → 56',
    script: async (socket, log) => {
      write(socket, log, HEAD_100K + 'f'.repeat(30_000));
      await delay(100);
      socket.resetAndDestroy();
    },
    args: [],
    code: 56,
  },
];

describe('sockhttp get against broken servers: the exit code, one line on stderr, nothing left behind', () => {
  for (const broken of CASES) {
    test(broken.name, async (t) => {
      // --max-time 20 bounds every run whose case is not about time (runGet's kill timer bounds it again).
      const args = broken.args.includes('--max-time') ? broken.args : [...broken.args, '--max-time', '20'];
      const toNew = join(freshFolder(), 'download.bin');
      const existingFolder = freshFolder();
      const existing = join(existingFolder, 'download.bin');
      writeFileSync(existing, 'the previous, complete download\n');

      await withServer(broken.script, async (server) => {
        const [toStdout, toNewFile, toExistingFile] = await Promise.all([
          runGet([server.url, ...args]),
          runGet([server.url, '-o', toNew, ...args]),
          runGet([server.url, '-o', existing, ...args]),
        ]);
        for (const [what, result] of [
          ['stdout', toStdout],
          ['-o FILE', toNewFile],
          ['-o EXISTING', toExistingFile],
        ] as const) {
          assert.equal(result.signal, null, `${what}: killed after its time was up`);
          assert.equal(result.code, broken.code, `${what}: exit code; stderr: ${result.stderr}`);
          assertOneLine(result.stderr, `${what}: stderr`);
          assert.match(result.stderr, /^sockhttp get: /);
          // Its memory stays small, whatever the server sends (node itself is about 40-50 MB).
          assert.ok(result.peakRss < 150 * MB, `${what}: RSS reached ${(result.peakRss / MB).toFixed(1)} MB`);
        }
        assert.equal(toNewFile.stdout.length, 0);
        assert.equal(toExistingFile.stdout.length, 0);
        t.diagnostic(
          `peak RSS of the client: ${(Math.max(toStdout.peakRss, toNewFile.peakRss, toExistingFile.peakRss) / MB).toFixed(1)} MB; written by the server: ${server.connections.map((connection) => connection.written).join(', ')} bytes`,
        );
        broken.check?.(server);
      });
      assert.equal(existsSync(toNew), false, '-o FILE left FILE behind');
      assert.deepEqual(readdirSync(join(toNew, '..')), [], '-o FILE left something beside FILE');
      assert.equal(readFileSync(existing, 'utf8'), 'the previous, complete download\n', 'the existing FILE was changed');
      assert.deepEqual(readdirSync(existingFolder), ['download.bin'], '-o EXISTING left something beside FILE');
    });
  }
});

describe('sockhttp get -o to something that is not a regular file', () => {
  const BODY = patternBytes(300 * 1024); // several times a pipe's buffer

  test('-o /dev/null: a failed download writes straight to it and leaves it a character device', {
    skip: !existsSync('/dev/null') && 'no /dev/null here',
  }, async () => {
    await withServer(
      (socket, log) => {
        write(socket, log, HEAD_100K + 'g'.repeat(10_000));
        socket.end();
      },
      async (server) => {
        const result = await runGet([server.url, '-o', '/dev/null', '--max-time', '20']);
        assert.equal(result.code, 18, result.stderr);
        assertOneLine(result.stderr);
      },
    );
    assert.ok(statSync('/dev/null').isCharacterDevice(), '/dev/null is no longer a character device');
    assert.equal(existsSync('/dev/.null.sockhttp-partial'), false, 'a partial file was made beside /dev/null');
  });

  describe('a FIFO', { skip: !commandExists('mkfifo') && 'mkfifo is not installed' }, () => {
    test('the body goes straight into the FIFO (read from its other end), which stays a FIFO', async () => {
      const sub = freshFolder();
      const fifo = join(sub, 'pipe');
      assert.equal((await runCommand('mkfifo', [fifo])).code, 0);
      await withServer(
        (socket, log) => {
          write(socket, log, `HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\n\r\n`);
          write(socket, log, BODY);
          socket.end();
        },
        async (server) => {
          // The reader is a child process, so a writer that never comes cannot hang this test: it is killed.
          const reader = runCommand('cat', [fifo], { timeoutMs: 20_000 });
          const result = await runGet([server.url, '-o', fifo, '--max-time', '15']);
          const read = await reader;
          assert.equal(result.code, 0, result.stderr);
          assert.equal(result.stderr, '');
          assert.equal(read.code, 0, `cat was killed: the FIFO was never written (${read.signal})`);
          assert.ok(read.stdout.equals(BODY), `the FIFO gave ${read.stdout.length} bytes, not the ${BODY.length} of the body`);
        },
      );
      assert.ok(lstatSync(fifo).isFIFO(), 'the FIFO was replaced');
      assert.deepEqual(readdirSync(sub), ['pipe']);
    });

    test('a failed download into a FIFO: exit 18, the FIFO is neither replaced nor removed', async () => {
      const sub = freshFolder();
      const fifo = join(sub, 'pipe');
      assert.equal((await runCommand('mkfifo', [fifo])).code, 0);
      await withServer(
        (socket, log) => {
          write(socket, log, HEAD_100K + 'h'.repeat(20_000));
          socket.end();
        },
        async (server) => {
          const reader = runCommand('cat', [fifo], { timeoutMs: 20_000 });
          const result = await runGet([server.url, '-o', fifo, '--max-time', '15']);
          const read = await reader;
          assert.equal(result.code, 18, result.stderr);
          assertOneLine(result.stderr);
          assert.equal(read.code, 0, `cat was killed: the FIFO was never opened (${read.signal})`);
          assert.ok(read.stdout.length <= 20_000);
        },
      );
      assert.ok(lstatSync(fifo).isFIFO(), 'the FIFO was replaced');
      assert.deepEqual(readdirSync(sub), ['pipe']);
    });
  });
});
