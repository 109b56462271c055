/**
 * The stall timeout (ServerTimeouts.stallMs) in each way an HTTP/1.1 answer can stop making progress:
 * a handler that never answers, and a large body to a client that never reads, kept alive or closing.
 * The inactivity timer is armed only when an answer does not go out at once, so each of these must
 * still arm it. Peers are raw sockets; the server's connection count says when it let go.
 */
import assert from 'node:assert/strict';
import { type Socket, connect } from 'node:net';
import { after, describe, test } from 'node:test';
import { type HttpServer, type RequestHandler, createServer } from '../../../src/index.js';
import { delay } from './helpers.js';

const STALL_MS = 300;
const servers: HttpServer[] = [];
const sockets: Socket[] = [];
after(async () => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) await server.close(1_000);
});

async function serve(handler: RequestHandler): Promise<{ server: HttpServer; port: number }> {
  const server = createServer({ handler, timeouts: { stallMs: STALL_MS, keepAliveMs: 60_000, headersMs: 60_000 } });
  servers.push(server);
  return { server, port: (await server.listen(0, '127.0.0.1')).port };
}

/** A client that sends `request` and never reads. */
function neverReads(port: number, request: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    sockets.push(socket);
    socket.on('error', () => {});
    socket.once('connect', () => {
      socket.pause();
      socket.write(request);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Polls (bounded) until the server has no connection left. */
async function letGo(server: HttpServer): Promise<boolean> {
  for (let polls = 0; polls < 100 && server.connectionCount > 0; polls++) await delay(50);
  return server.connectionCount === 0;
}

const LARGE = Buffer.alloc(32 * 1024 * 1024, 'x');
const largeBody: RequestHandler = () => ({ status: 200, fields: [], body: { kind: 'bytes', bytes: LARGE } });

describe('the stall timeout ends an answer that makes no progress', () => {
  test('a handler that never answers', async () => {
    const { server, port } = await serve(() => new Promise(() => {}));
    await neverReads(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await delay(50);
    assert.equal(server.connectionCount, 1);
    assert.equal(await letGo(server), true, 'the connection outlived its stall timeout');
  });

  test('a large body to a client that never reads, on a connection kept alive', async () => {
    const { server, port } = await serve(largeBody);
    await neverReads(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(await letGo(server), true, 'the connection outlived its stall timeout');
  });

  test('a large body to a client that never reads, after it asked to close', async () => {
    const { server, port } = await serve(largeBody);
    await neverReads(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(await letGo(server), true, 'the connection outlived its stall timeout');
  });

  test('a large body to a client that never reads, closed by the server (HTTP/1.0 with a body still coming)', async () => {
    const { server, port } = await serve(largeBody);
    await neverReads(port, 'POST / HTTP/1.0\r\nContent-Length: 10\r\n\r\nabc');
    assert.equal(await letGo(server), true, 'the connection outlived its stall timeout');
  });
});
