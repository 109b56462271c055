/**
 * The listening socket passed down by a supervisor: systemd's socket activation (LISTEN_FDS, run
 * with systemd-socket-activate from Debian's systemd package) and --fd from any parent; and the
 * example unit pair in docs/deploy/, checked by systemd-analyze verify.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, REPO_ROOT, commandExists, makeTempDir, runCommand, startProcess } from '../helpers.js';

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port, path, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body }));
    });
    outgoing.setTimeout(10_000, () => outgoing.destroy(new Error('timed out')));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** A port free a moment ago (the supervisor binds it, not us). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let folder: ReturnType<typeof makeTempDir>;
before(() => {
  folder = makeTempDir();
  writeFileSync(join(folder.path, 'x.txt'), 'passed down\n');
});
after(() => folder?.remove());

const SOCKET_ACTIVATE = '/usr/bin/systemd-socket-activate';

/** A supervisor in python3: binds a socket, then becomes the command in argv with it open on fd 5. */
const PARENT = [
  'import os, socket, sys',
  'listener = socket.socket()',
  "listener.bind(('127.0.0.1', 0))",
  'listener.listen(128)',
  'os.dup2(listener.fileno(), 5)',
  "print('port', listener.getsockname()[1], file=sys.stderr, flush=True)",
  'os.execv(sys.argv[1], sys.argv[1:])',
].join('\n');
const hasSocketActivate = commandExists(SOCKET_ACTIVATE);

describe('socket activation', () => {
  test('systemd-socket-activate: serves on the socket systemd passes (LISTEN_FDS, fd 3)', {
    skip: !hasSocketActivate && 'systemd-socket-activate is not installed (Debian package systemd)',
  }, async () => {
    const port = await freePort();
    const supervisor = startProcess(SOCKET_ACTIVATE, ['-l', `127.0.0.1:${port}`, process.execPath, CLI, 'serve', folder.path, '-q']);
    try {
      // It binds first and starts sockhttp on the first connection, which waits in the kernel's queue.
      await supervisor.waitFor(/Listening on/, 10_000, 'stderr');
      const answer = await get(port, '/x.txt');
      assert.equal(answer.status, 200);
      assert.equal(answer.body, 'passed down\n');
      await supervisor.waitFor(/\(socket 3 passed down\)/, 10_000, 'stderr');
      assert.match(supervisor.errors(), new RegExp(`Serving .* at http://127\\.0\\.0\\.1:${port}/ \\(socket 3 passed down\\)`));
    } finally {
      await supervisor.stop();
    }
  });

  test('--fd N: a parent binds the socket and passes it as descriptor 5', {
    skip: !commandExists('python3') && 'python3 is missing',
  }, async () => {
    // python3 is the supervisor: it binds, then becomes sockhttp with the socket left open on fd 5.
    const child = startProcess('python3', ['-c', PARENT, process.execPath, CLI, 'serve', folder.path, '--fd', '5', '-q']);
    try {
      const [, port] = await child.waitFor(/port (\d+)/, 10_000, 'stderr');
      await child.waitFor(/\(socket 5 passed down\)/, 10_000, 'stderr');
      assert.equal((await get(Number(port), '/x.txt')).body, 'passed down\n');
      assert.equal(await child.stop(), 0);
    } finally {
      await child.stop('SIGKILL');
    }
  });

  test('--fd N with --tls-cert: HTTPS on the socket passed down', {
    skip: (!commandExists('python3') || !commandExists('openssl')) && 'python3 or openssl is missing',
  }, async () => {
    const certs = makeTempDir();
    try {
      const made = await runCommand(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=passed',
          '-keyout',
          join(certs.path, 'k.pem'),
          '-out',
          join(certs.path, 'c.pem'),
        ],
        { timeoutMs: 30_000 },
      );
      assert.equal(made.code, 0, made.stderr);
      const child = startProcess('python3', [
        '-c',
        PARENT,
        process.execPath,
        CLI,
        'serve',
        folder.path,
        '--fd',
        '5',
        '-q',
        '--tls-cert',
        join(certs.path, 'c.pem'),
        '--tls-key',
        join(certs.path, 'k.pem'),
      ]);
      try {
        const [, port] = await child.waitFor(/port (\d+)/, 10_000, 'stderr');
        await child.waitFor(/https:\/\/127\.0\.0\.1:\d+\/ \(socket 5 passed down\)/, 10_000, 'stderr');
        const body = await new Promise<string>((resolve, reject) => {
          const outgoing = httpsRequest(
            { host: '127.0.0.1', port: Number(port), path: '/x.txt', rejectUnauthorized: false, agent: false },
            (response) => {
              let text = '';
              response.setEncoding('utf8');
              response.on('data', (chunk: string) => (text += chunk));
              response.on('end', () => resolve(text));
            },
          );
          outgoing.on('error', reject);
          outgoing.end();
        });
        assert.equal(body, 'passed down\n');
      } finally {
        await child.stop('SIGKILL');
      }
    } finally {
      certs.remove();
    }
  });

  test('LISTEN_FDS meant for another process (LISTEN_PID differs) is ignored: it binds --port itself', async () => {
    const child = startProcess(process.execPath, [CLI, 'serve', folder.path, '-q', '--port', '0'], {
      env: { ...process.env, LISTEN_FDS: '1', LISTEN_PID: '1' },
    });
    try {
      const [, port] = await child.waitFor(/127\.0\.0\.1:(\d+)\//, 10_000, 'stderr');
      assert.equal((await get(Number(port), '/x.txt')).status, 200);
      assert.doesNotMatch(child.errors(), /passed down/);
    } finally {
      await child.stop();
    }
  });

  test('bad --fd values and --fd with --workers: one line, exit 2', async () => {
    for (const args of [
      ['--fd', 'x'],
      ['--fd', '1'],
      ['--fd', '3', '--workers', '2'],
    ]) {
      const result = await runCommand(process.execPath, [CLI, 'serve', folder.path, ...args], { timeoutMs: 10_000 });
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, /--fd|--workers/);
    }
  });
});

describe('docs/deploy: the systemd unit pair', () => {
  const works = commandExists('systemd-analyze');
  test('passes systemd-analyze verify with no warning', {
    skip: !works && 'systemd-analyze is not installed (Debian package systemd)',
  }, async () => {
    const units = makeTempDir();
    try {
      copyFileSync(join(REPO_ROOT, 'docs', 'deploy', 'sockhttp.socket'), join(units.path, 'sockhttp.socket'));
      // verify requires ExecStart's program to exist: the documented path names an npm -g install.
      const service = readFileSync(join(REPO_ROOT, 'docs', 'deploy', 'sockhttp.service'), 'utf8');
      assert.match(service, /^ExecStart=\/usr\/local\/bin\/sockhttp serve /m);
      writeFileSync(join(units.path, 'sockhttp.service'), service.replace('/usr/local/bin/sockhttp', CLI));
      const result = await runCommand(
        'systemd-analyze',
        ['verify', join(units.path, 'sockhttp.socket'), join(units.path, 'sockhttp.service')],
        {
          timeoutMs: 30_000,
        },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr.trim(), '', 'no warning about any line');
      for (const hardening of ['DynamicUser=yes', 'ProtectSystem=strict', 'ReadOnlyPaths=/srv/www', 'ExecReload=/bin/kill -HUP $MAINPID']) {
        assert.ok(service.includes(hardening), hardening);
      }
      // a broken line is reported: the check can fail
      writeFileSync(
        join(units.path, 'sockhttp.service'),
        service.replace('/usr/local/bin/sockhttp', CLI).replace('ProtectSystem=strict', 'ProtectSystem=bogus'),
      );
      const broken = await runCommand('systemd-analyze', ['verify', join(units.path, 'sockhttp.service')], { timeoutMs: 30_000 });
      assert.match(broken.stderr, /protect system/i);
    } finally {
      units.remove();
    }
  });
});
