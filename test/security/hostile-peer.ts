/**
 * Hostile peers for the client's tests: a TCP server on 127.0.0.1 that runs a script of exact writes
 * on each connection once the request head has arrived (endless heads, endless bodies, stalls,
 * resets), and `sockhttp get` run as a user runs it (the bin script in a child process), with its
 * peak RSS sampled. Every writer is bounded in bytes and time.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { type Server, type Socket, createServer } from 'node:net';
import { CLI, type CommandResult } from '../helpers.js';
import { sampleRss } from '../net/server/helpers.js';

/** An endless writer gives up after this many bytes or this long, whichever comes first. */
const WRITE_CAP_BYTES = 512 * 1024 * 1024;
const WRITE_CAP_MS = 20_000;

/** What a scripted server does with a connection once the request head has arrived. */
export type Script = (socket: Socket, log: ConnectionLog) => Promise<void> | void;

export interface ConnectionLog {
  /** Bytes written to this connection. */
  written: number;
  /** True once the client closed (or reset) the connection. */
  clientGone: boolean;
}

export interface ScriptedServer {
  port: number;
  url: string;
  connections: ConnectionLog[];
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1 that runs `script` on each connection after reading its request head. */
export async function startScriptedServer(script: Script): Promise<ScriptedServer> {
  const sockets = new Set<Socket>();
  const connections: ConnectionLog[] = [];
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    const log: ConnectionLog = { written: 0, clientGone: false };
    connections.push(log);
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => {
      log.clientGone = true;
      sockets.delete(socket);
    });
    let request = Buffer.alloc(0);
    let started = false;
    // Reads for as long as the connection lives, so that closing never resets on unread bytes.
    socket.on('data', (chunk: Buffer) => {
      if (started) return;
      request = Buffer.concat([request, chunk]);
      if (!request.includes('\r\n\r\n')) return;
      started = true;
      Promise.resolve(script(socket, log)).catch(() => socket.destroy());
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return {
    port: address.port,
    url: `http://127.0.0.1:${address.port}/file.bin`,
    connections,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes `piece` over and over with backpressure until the client goes (or the caps). */
export async function writeForever(socket: Socket, log: ConnectionLog, piece: Buffer | string): Promise<void> {
  const bytes = typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece;
  const deadline = Date.now() + WRITE_CAP_MS;
  while (!socket.destroyed && log.written < WRITE_CAP_BYTES && Date.now() < deadline) {
    log.written += bytes.length;
    if (!socket.write(bytes)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(done, 1_000);
        socket.on('drain', done);
        socket.on('close', done);
      });
    }
  }
}

export function write(socket: Socket, log: ConnectionLog, bytes: Buffer | string): void {
  log.written += bytes.length;
  socket.write(bytes);
}

export async function withServer<T>(script: Script, body: (server: ScriptedServer) => Promise<T>): Promise<T> {
  const server = await startScriptedServer(script);
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

/** `sockhttp get ARGS…` to completion (killed after timeoutMs), sampling its RSS. */
export function runGet(args: string[], timeoutMs = 20_000): Promise<CommandResult & { peakRss: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'get', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const sampler = sampleRss(child.pid!, 50);
    const stdout: Buffer[] = [];
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => {
      clearTimeout(timer);
      sampler.stop();
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const samples = sampler.stop();
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr, peakRss: samples.length === 0 ? 0 : Math.max(...samples) });
    });
  });
}
