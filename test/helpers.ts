/** Shared helpers for the end-to-end tests: servers on ephemeral loopback ports, raw sockets, the CLI. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type HttpServer, type ServeStaticOptions, serveStatic } from '../src/index.js';

/** The repository root (tests run compiled, from dist/test/). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
export const GAIA_ROOT = join(FIXTURES, 'gaia');
export const PUBLIC_ROOT = join(REPO_ROOT, 'public');
export const CLI = join(REPO_ROOT, 'bin', 'sockhttp.js');
export const EXAMPLES = join(REPO_ROOT, 'dist', 'examples');

export interface RunningServer {
  server: HttpServer;
  port: number;
  url(path?: string): string;
  close(): Promise<void>;
}

/** Our static server on an ephemeral port, in this process. */
export async function startStaticServer(root: string, options: Partial<ServeStaticOptions> = {}): Promise<RunningServer> {
  const server = await serveStatic({ root, port: 0, host: '127.0.0.1', ...options });
  const port = server.address!.port;
  return { server, port, url: (path = '/') => `http://127.0.0.1:${port}${path}`, close: () => server.close(1_000) };
}

/** A fresh temporary folder, removed by the returned function. */
export function makeTempDir(prefix = 'sockhttp-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export interface RawExchangeOptions {
  /** Shut our sending side right after writing, as the lab clients do. */
  halfClose?: boolean;
  /** Give up (and resolve with what arrived) after this long. */
  timeoutMs?: number;
}

/** Writes exact bytes to host:port and collects every byte until the server closes (or the timeout). */
export function rawExchange(port: number, bytes: Buffer | string, options: RawExchangeOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), options.timeoutMs ?? 5_000);
    socket.on('connect', () => {
      socket.write(bytes);
      if (options.halfClose) socket.end();
    });
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') return; // what arrived before the reset is still the answer
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a command to completion (bounded by timeoutMs), capturing its output. */
export function runCommand(
  command: string,
  args: string[],
  options: { timeoutMs?: number; cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr });
    });
    // A command that exits before reading its input would make this write fail with EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/** Runs `sockhttp ARGS…` (the real bin script) to completion. */
export function runCli(
  args: string[],
  options: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return runCommand(process.execPath, [CLI, ...args], options);
}

export interface BackgroundProcess {
  child: ChildProcess;
  /** Everything written to stdout so far. */
  output(): string;
  /** Everything written to stderr so far (sockhttp serve's banner and messages go there). */
  errors(): string;
  /** Resolves with the first match of `pattern` on stdout, or on stderr (rejects after timeoutMs or on exit). */
  waitFor(pattern: RegExp, timeoutMs?: number, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  /** Sends SIGTERM (then SIGKILL after a while) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a long-running process (a server) we own, to be stopped by its PID. */
export function startProcess(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): BackgroundProcess {
  const child = spawn(command, args, { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => stdout,
    errors: () => stderr,
    waitFor(pattern, timeoutMs = 10_000, stream = 'stdout') {
      const watched = stream === 'stdout' ? child.stdout! : child.stderr!;
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = (stream === 'stdout' ? stdout : stderr).match(pattern);
          if (match) {
            cleanup();
            resolve(match);
          }
        };
        const onExit = () => {
          cleanup();
          reject(new Error(`process exited before printing ${pattern}; stderr: ${stderr}`));
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern}; stdout: ${stdout}; stderr: ${stderr}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          watched.off('data', check);
          child.off('exit', onExit);
        };
        watched.on('data', check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), 8_000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}

/** `sockhttp serve ARGS… --port 0` in a child process; resolves once it prints its URL. */
export async function startCliServer(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<BackgroundProcess & { port: number }> {
  const process_ = startProcess(process.execPath, [CLI, 'serve', ...args, '--port', '0'], options);
  // The banner is on stderr: stdout carries the access log alone.
  const match = await process_.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\//, 10_000, 'stderr');
  return Object.assign(process_, { port: Number(match[1]) });
}

/** `python3 -m http.server` on a free port, serving `root` (a server nobody here wrote). */
export async function startPythonServer(root: string): Promise<BackgroundProcess & { port: number }> {
  const process_ = startProcess('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', root]);
  const match = await process_.waitFor(/port (\d+)/);
  return Object.assign(process_, { port: Number(match[1]) });
}

/**
 * nginx run with `config` (written into `prefix`) as one process we stop by its PID; resolves once
 * its port accepts connections (100 tries, 50 ms apart). `stop` also removes the prefix.
 */
export async function runNginx(prefix: { path: string; remove(): void }, config: string, port: number): Promise<{ stop(): Promise<void> }> {
  const configPath = join(prefix.path, 'nginx.conf');
  writeFileSync(configPath, config);
  const child: ChildProcess = spawn('nginx', ['-p', prefix.path, '-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    }
    prefix.remove();
  };
  for (let attempt = 0; attempt < 100; attempt++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return { stop };
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await stop();
  throw new Error(`nginx did not start: ${stderr}`);
}
