/**
 * "From another computer": the test makes a second host of its own — a network namespace joined to
 * this one by a veth pair, with a /30 of the link-local range 169.254.213.0/24 on the two ends and
 * no other route — and reaches `sockhttp serve` from there with curl and `sockhttp get`. Only the
 * two interfaces made here carry traffic; both (and the namespace) are removed in `after`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess, CLI, type CommandResult, PUBLIC_ROOT, REPO_ROOT, commandExists, startProcess } from '../../helpers.js';
import { assertOneLine } from '../client/helpers.js';

const HELLO = readFileSync(join(PUBLIC_ROOT, 'HelloWorld.html'));

interface SecondHost {
  namespace: string;
  rootLink: string;
  /** This computer's address on the veth link (what the other host connects to). */
  rootAddress: string;
  /** The other host's address. */
  otherAddress: string;
}

const suffix = process.pid % 100_000;
const NAMESPACE = `sockhttp-test-${process.pid}`;
const ROOT_LINK = `veth-sh${suffix}`;
const OTHER_LINK = `veth-sp${suffix}`;

/** Removes what createSecondHost made; every step tolerates "already gone". Synchronous, so it also runs at exit. */
function removeSecondHost(): void {
  spawnSync('ip', ['link', 'del', ROOT_LINK], { stdio: 'ignore', timeout: 10_000 });
  spawnSync('ip', ['netns', 'del', NAMESPACE], { stdio: 'ignore', timeout: 10_000 });
}

/** A /30 of 169.254.213.0/24 that no interface here uses yet (parallel runs each take their own). */
function freeSubnet(): number | null {
  const inUse = spawnSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
  for (let attempt = 0; attempt < 64; attempt++) {
    const block = ((process.pid + attempt) % 64) * 4;
    const taken = [0, 1, 2, 3].some((offset) => new RegExp(`inet 169\\.254\\.213\\.${block + offset}/`).test(inUse));
    if (!taken) return block;
  }
  return null;
}

/**
 * Runs a command to completion (killed after timeoutMs) with stdin closed. (helpers' runCommand
 * writes to the child's stdin, which fails with an unhandled EPIPE when a quick command like `ip`
 * has already exited.)
 */
function run(command: string, args: string[], timeoutMs = 20_000): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr });
    });
  });
}

async function ip(args: string[]): Promise<void> {
  const result = await run('ip', args, 15_000);
  if (result.code !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr.trim() || `exit ${result.code}`}`);
}

/** Makes the second host, or says why it cannot be made (then nothing is left behind). */
async function createSecondHost(): Promise<SecondHost | string> {
  if (process.platform !== 'linux' || !commandExists('ip'))
    return 'network namespaces unavailable: needs Linux and the ip command (iproute2)';
  process.once('exit', removeSecondHost); // a backstop if the run dies before `after`
  try {
    await ip(['netns', 'add', NAMESPACE]);
  } catch (error) {
    removeSecondHost();
    process.off('exit', removeSecondHost);
    return `network namespaces unavailable: ${(error as Error).message}`;
  }
  try {
    const block = freeSubnet();
    if (block === null) throw new Error('no free /30 in 169.254.213.0/24');
    const rootAddress = `169.254.213.${block + 1}`;
    const otherAddress = `169.254.213.${block + 2}`;
    await ip(['link', 'add', ROOT_LINK, 'type', 'veth', 'peer', 'name', OTHER_LINK]);
    await ip(['link', 'set', OTHER_LINK, 'netns', NAMESPACE]);
    await ip(['addr', 'add', `${rootAddress}/30`, 'dev', ROOT_LINK]);
    await ip(['link', 'set', ROOT_LINK, 'up']);
    await ip(['-n', NAMESPACE, 'addr', 'add', `${otherAddress}/30`, 'dev', OTHER_LINK]);
    await ip(['-n', NAMESPACE, 'link', 'set', OTHER_LINK, 'up']);
    await ip(['-n', NAMESPACE, 'link', 'set', 'lo', 'up']);
    return { namespace: NAMESPACE, rootLink: ROOT_LINK, rootAddress, otherAddress };
  } catch (error) {
    removeSecondHost();
    process.off('exit', removeSecondHost);
    return `network namespaces unavailable: ${(error as Error).message}`;
  }
}

const host = await createSecondHost();
const skip = typeof host === 'string' ? host : false;
const hasCurl = commandExists('curl');

/** `sockhttp serve PUBLIC_ROOT ARGS… --port 0`, resolved once its banner shows http://ADDRESS:PORT/; stopped if it never does. */
async function startServe(args: string[], address: string): Promise<BackgroundProcess & { port: number }> {
  const server = startProcess(process.execPath, [CLI, 'serve', PUBLIC_ROOT, ...args, '--port', '0']);
  try {
    const match = await server.waitFor(new RegExp(`http://${address.replace(/\./g, '\\.')}:(\\d+)/`), 15_000, 'stderr');
    return Object.assign(server, { port: Number(match[1]) });
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** Runs a command on the other host. */
function onOtherHost(second: SecondHost, command: string, args: string[]): Promise<CommandResult> {
  return run('ip', ['netns', 'exec', second.namespace, command, ...args]);
}

describe('sockhttp serve reached from another host (a network namespace)', { skip }, () => {
  const second = host as SecondHost;
  const servers: BackgroundProcess[] = [];

  after(async () => {
    for (const server of servers) await server.stop();
    removeSecondHost();
    process.off('exit', removeSecondHost);
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
    assert.ok(!left.split('\n').some((line) => line.split(' ')[0] === NAMESPACE), `namespace ${NAMESPACE} was not removed`);
  });

  test('the second host is isolated: its only route is the /30 made here', async () => {
    const routes = await onOtherHost(second, 'ip', ['-4', 'route', 'show']);
    assert.equal(routes.code, 0, routes.stderr);
    const lines = routes.stdout.toString().trim().split('\n');
    assert.equal(lines.length, 1, `routes in the namespace: ${routes.stdout.toString()}`);
    assert.match(lines[0]!, new RegExp(`dev ${OTHER_LINK}`));
    // No default route: an address off the link (TEST-NET-1) has no route from there.
    const elsewhere = await onOtherHost(second, 'ip', ['-4', 'route', 'get', '192.0.2.1']);
    assert.notEqual(elsewhere.code, 0, 'the namespace should have no route beyond the veth link');
  });

  describe('--host 0.0.0.0', () => {
    let server: BackgroundProcess & { port: number };
    const url = (path: string) => `http://${second.rootAddress}:${server.port}${path}`;

    before(async () => {
      server = await startServe(['--host', '0.0.0.0'], '127.0.0.1');
      servers.push(server);
    });

    test("its banner lists this computer's address on the new link", () => {
      assert.ok(server.errors().includes(`http://${second.rootAddress}:${server.port}/`), `banner: ${server.errors()}`);
    });

    test('curl on the other host: 200 and the exact bytes', { skip: !hasCurl && 'curl is not installed' }, async () => {
      const result = await onOtherHost(second, 'curl', ['-s', '-S', '--max-time', '10', '-o', '-', url('/HelloWorld.html')]);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(result.stdout.equals(HELLO), `body: ${JSON.stringify(result.stdout.toString().slice(0, 200))}`);
      const status = await onOtherHost(second, 'curl', [
        '-s',
        '-S',
        '--max-time',
        '10',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        url('/HelloWorld.html'),
      ]);
      assert.equal(status.stdout.toString(), '200');
    });

    test('sockhttp get on the other host: the exact bytes', async () => {
      const result = await onOtherHost(second, process.execPath, [CLI, 'get', '--max-time', '10', url('/HelloWorld.html')]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
      assert.ok(result.stdout.equals(HELLO));
      const lab = await onOtherHost(second, process.execPath, [
        CLI,
        'get',
        second.rootAddress,
        String(server.port),
        'HelloWorld.html',
        '--max-time',
        '10',
      ]);
      assert.equal(lab.code, 0, lab.stderr);
      assert.ok(lab.stdout.equals(HELLO));
    });

    test("the access log names the other host's address", async () => {
      // The requests above were answered, so their log lines are (or are about to be) on stdout.
      const logged = () =>
        server
          .output()
          .split('\n')
          .some((line) => line.startsWith(`${second.otherAddress} `) && line.includes('"GET /HelloWorld.html HTTP/1.1" 200'));
      for (let attempt = 0; attempt < 50 && !logged(); attempt++) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.ok(logged(), `stdout: ${server.output()}`);
    });
  });

  describe('the default --host 127.0.0.1', () => {
    let server: BackgroundProcess & { port: number };

    before(async () => {
      server = await startServe(['--quiet'], '127.0.0.1');
      servers.push(server);
    });

    test('is up on this computer', async () => {
      assert.match(server.errors(), new RegExp(`http://127\\.0\\.0\\.1:${server.port}/`));
      const local = await run(process.execPath, [CLI, 'get', '--max-time', '10', `http://127.0.0.1:${server.port}/HelloWorld.html`]);
      assert.equal(local.code, 0, local.stderr);
      assert.ok(local.stdout.equals(HELLO));
    });

    test('curl on the other host cannot reach it (connection refused, exit 7)', { skip: !hasCurl && 'curl is not installed' }, async () => {
      const result = await onOtherHost(second, 'curl', [
        '-s',
        '--max-time',
        '3',
        `http://${second.rootAddress}:${server.port}/HelloWorld.html`,
      ]);
      assert.equal(result.code, 7, `curl exit ${result.code}: ${result.stderr}`);
      assert.equal(result.stdout.length, 0);
    });

    test('sockhttp get on the other host cannot reach it (exit 7, one line)', async () => {
      const result = await onOtherHost(second, process.execPath, [
        CLI,
        'get',
        '--max-time',
        '3',
        `http://${second.rootAddress}:${server.port}/HelloWorld.html`,
      ]);
      assert.equal(result.code, 7, `exit ${result.code}: ${result.stderr}`);
      assertOneLine(result.stderr);
      assert.equal(result.stdout.length, 0);
    });
  });

  describe("--host set to this computer's address on the link", () => {
    let server: BackgroundProcess & { port: number };

    before(async () => {
      server = await startServe(['--quiet', '--host', second.rootAddress], second.rootAddress);
      servers.push(server);
    });

    test('sockhttp get on the other host: the exact bytes', async () => {
      const result = await onOtherHost(second, process.execPath, [
        CLI,
        'get',
        '--max-time',
        '10',
        `http://${second.rootAddress}:${server.port}/HelloWorld.html`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(result.stdout.equals(HELLO));
    });

    test('not on 127.0.0.1 (exit 7)', async () => {
      const result = await run(process.execPath, [CLI, 'get', '--max-time', '3', `http://127.0.0.1:${server.port}/HelloWorld.html`]);
      assert.equal(result.code, 7, `exit ${result.code}: ${result.stderr}`);
    });
  });
});
