/**
 * Running a student's program safely: a child process in a process group of its own (so whatever
 * it starts is stopped with it), its output kept up to a bound, a time limit decided by the caller,
 * and a stop that always ends the whole group — at the end of grading, on Ctrl-C, and (as a last
 * resort, synchronously) when the grader itself exits.
 *
 * The program is only ever pointed at loopback addresses; cutting it off from the outside network
 * is the business of the machine or container the autograder runs in (docs/teachers.md).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type Server, connect, createServer } from 'node:net';

/** How much of each output stream is kept; the rest is counted. */
export const MAX_KEPT_OUTPUT_BYTES = 256 * 1024;
/** How long a program has to end after SIGTERM before its group gets SIGKILL. */
const STOP_GRACE_MS = 1_000;
/** How often we look whether a server listens yet. */
const LISTEN_POLL_MS = 100;

export interface ProgramExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Output kept up to MAX_KEPT_OUTPUT_BYTES, with a count of everything that came. */
class BoundedOutput {
  readonly #pieces: Buffer[] = [];
  #kept = 0;
  total = 0;

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.#kept >= MAX_KEPT_OUTPUT_BYTES) return;
    const piece = Buffer.from(chunk.subarray(0, MAX_KEPT_OUTPUT_BYTES - this.#kept));
    this.#pieces.push(piece);
    this.#kept += piece.length;
  }

  bytes(): Buffer {
    return Buffer.concat(this.#pieces);
  }
}

/** Every program group still to be stopped, for Ctrl-C and the exit of the grader. */
const liveGroups = new Set<number>();

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** Synchronously sends SIGKILL to every group still alive (for 'exit' and signal handlers). */
export function killAllPrograms(): void {
  for (const pid of liveGroups) signalGroup(pid, 'SIGKILL');
  liveGroups.clear();
}

export class Program {
  readonly command: string[];
  readonly #child: ChildProcess;
  readonly #stdout = new BoundedOutput();
  readonly #stderr = new BoundedOutput();
  readonly exited: Promise<ProgramExit>;
  /** Both output pipes are closed (every byte the program wrote has been read). */
  readonly #outputClosed: Promise<void>;
  #exit: ProgramExit | null = null;
  /** Why the program could not be started at all (ENOENT, EACCES…), or null. */
  startError: string | null = null;

  constructor(command: string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
    this.command = command;
    // detached: a new process group led by the child, so kill(-pid) reaches everything it starts.
    this.#child = spawn(command[0]!, command.slice(1), {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (this.#child.pid !== undefined) liveGroups.add(this.#child.pid);
    this.#child.stdout!.on('data', (chunk: Buffer) => this.#stdout.push(chunk));
    this.#child.stderr!.on('data', (chunk: Buffer) => this.#stderr.push(chunk));
    this.exited = new Promise((resolve) => {
      this.#child.once('error', (error: NodeJS.ErrnoException) => {
        this.startError ??= error.code ?? error.message;
        this.#exit ??= { code: null, signal: null };
        resolve(this.#exit);
      });
      this.#child.once('exit', (code, signal) => {
        this.#exit ??= { code, signal };
        resolve(this.#exit);
      });
    });
    this.#outputClosed = new Promise((resolve) => this.#child.once('close', () => resolve()));
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** How the program ended, or null while it runs. */
  get exit(): ProgramExit | null {
    return this.#exit;
  }

  stdout(): Buffer {
    return this.#stdout.bytes();
  }

  stderr(): Buffer {
    return this.#stderr.bytes();
  }

  get stdoutBytes(): number {
    return this.#stdout.total;
  }

  /** Resolves with true when the program ends within `ms`, false when it is still running then. */
  async endsWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const ended = await Promise.race([this.exited.then(() => true as const), timeout]);
    clearTimeout(timer);
    return ended;
  }

  /**
   * Stops the whole group: SIGTERM, then SIGKILL after STOP_GRACE_MS; the group gets SIGKILL in any
   * case, for whatever the program left behind. Resolves once the program has exited and its
   * output is read (or a short while has passed: a grandchild may hold the pipes open).
   */
  async stop(): Promise<ProgramExit> {
    const pid = this.#child.pid;
    if (pid !== undefined) {
      if (this.#exit === null) {
        signalGroup(pid, 'SIGTERM');
        if (!(await this.endsWithin(STOP_GRACE_MS))) signalGroup(pid, 'SIGKILL');
      }
      signalGroup(pid, 'SIGKILL');
      liveGroups.delete(pid);
    }
    const exit = await this.exited;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#outputClosed, new Promise((resolve) => (timer = setTimeout(resolve, 500)))]);
    clearTimeout(timer);
    return exit;
  }
}

/** How a program ended, in words: "exited with code 1", "was killed by SIGSEGV". */
export function describeExit(exit: ProgramExit | null): string {
  if (exit === null) return 'is still running';
  if (exit.signal !== null) return `was killed by ${exit.signal}`;
  return `exited with code ${exit.code ?? '?'}`;
}

/** The ports in LISTEN state on this machine, from /proc/net/tcp{,6}; null where /proc is not readable. */
function listeningPorts(): Set<number> | null {
  const ports = new Set<number>();
  let readAny = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    readAny = true;
    for (const line of text.split('\n').slice(1)) {
      // "  sl  local_address rem_address   st …": local_address is ADDRESS:PORT in hex, st 0A is LISTEN.
      const columns = line.trim().split(/\s+/);
      if (columns.length < 4 || columns[3] !== '0A') continue;
      ports.add(Number.parseInt(columns[1]!.split(':')[1] ?? '', 16));
    }
  }
  return readAny ? ports : null;
}

/** Whether something accepts connections on 127.0.0.1:port (closing politely: a lab server may crash on a reset). */
function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => done(false), 1_000);
    const done = (accepted: boolean) => {
      clearTimeout(timer);
      if (accepted) socket.end();
      else socket.destroy();
      resolve(accepted);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Whether `port` is listening. /proc/net/tcp is read where it can be, so that no connection is made
 * to a lab server that serves one connection at a time; elsewhere a connection is tried.
 */
export async function isListening(port: number): Promise<boolean> {
  const ports = listeningPorts();
  return ports !== null ? ports.has(port) : acceptsConnections(port);
}

export type ListenOutcome = { listening: true; afterMs: number } | { listening: false; why: string };

/** Waits (at most `timeoutMs`) until the program listens on `port`, or ends, or cannot be started. */
export async function waitUntilListening(program: Program, port: number, timeoutMs: number): Promise<ListenOutcome> {
  const started = performance.now();
  const attempts = Math.max(1, Math.ceil(timeoutMs / LISTEN_POLL_MS));
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (program.startError !== null) return { listening: false, why: `could not be started (${program.startError})` };
    if (await isListening(port)) return { listening: true, afterMs: performance.now() - started };
    if (program.exit !== null) return { listening: false, why: `${describeExit(program.exit)} without listening on port ${port}` };
    await new Promise((resolve) => setTimeout(resolve, LISTEN_POLL_MS));
  }
  return { listening: false, why: `not listening on port ${port} after ${timeoutMs / 1000} s` };
}

function listenOnce(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** A port that was free on 127.0.0.1 a moment ago (bound to 0 and released). */
export async function freePort(): Promise<number> {
  const server = await listenOnce(0);
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address !== 'object') throw new Error('no port');
  return address.port;
}

/** Whether `port` is free on 127.0.0.1 (and nothing listens on it on any address). */
export async function isPortFree(port: number): Promise<boolean> {
  if (listeningPorts()?.has(port) === true) return false;
  try {
    const server = await listenOnce(port);
    await new Promise((resolve) => server.close(resolve));
    return true;
  } catch {
    return false;
  }
}
