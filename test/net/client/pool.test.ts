/**
 * The Agent's idle connections come to an end: after idleTimeoutMs, or the server's shorter
 * Keep-Alive timeout less a second, a pooled connection is closed and never used again. The pool
 * has one timer for all its connections; these tests hold it to its word.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from '../../../src/index.js';

const BOUND = { timeoutMs: 10_000 };

async function eventually(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

/** A raw keep-alive server answering every request head with `ok`, and counting connections open and closed. */
interface CountingServer {
  url(path?: string): string;
  opened: number;
  closed: number;
  close(): Promise<void>;
}

async function startCountingServer(extraField = ''): Promise<CountingServer> {
  const sockets = new Set<Socket>();
  const counts = { opened: 0, closed: 0 };
  const server: Server = createServer((socket) => {
    counts.opened += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      counts.closed += 1;
      sockets.delete(socket);
    });
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
        pending = pending.slice(end + 4);
        socket.write(`HTTP/1.1 200 OK\r\n${extraField}Content-Length: 2\r\n\r\nok`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path = '/') => `http://127.0.0.1:${port}${path}`,
    get opened() {
      return counts.opened;
    },
    get closed() {
      return counts.closed;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function get(url: string, agent: Agent) {
  const response = await request(url, { ...BOUND, agent });
  for await (const _chunk of response.body);
  return response;
}

describe('Agent: idle connections end', () => {
  let server: CountingServer;
  before(async () => {
    server = await startCountingServer();
  });
  after(async () => {
    await server?.close();
  });

  test('after idleTimeoutMs the idle connection is closed, and the next request opens a new one', async () => {
    const agent = new Agent({ idleTimeoutMs: 50 });
    try {
      const closedBefore = server.closed;
      const first = await get(server.url('/a'), agent);
      assert.equal(agent.idleConnections, 1);
      await eventually(() => agent.idleConnections === 0, 'the pool closes the connection');
      await eventually(() => server.closed === closedBefore + 1, 'the server sees the close');
      const second = await get(server.url('/b'), agent);
      assert.equal(second.connection.reused, false);
      assert.notEqual(second.connection.id, first.connection.id);
    } finally {
      agent.close();
    }
  });

  test('a connection reused before its time stays in the pool, on one connection throughout', async () => {
    const agent = new Agent({ idleTimeoutMs: 5_000 });
    try {
      const openedBefore = server.opened;
      for (let i = 0; i < 20; i++) await get(server.url(`/${i}`), agent);
      assert.equal(server.opened, openedBefore + 1);
      assert.equal(agent.idleConnections, 1);
    } finally {
      agent.close();
    }
    assert.equal(agent.idleConnections, 0);
  });

  test('connections to two origins with different limits: each is closed in its own time', async () => {
    // The server's "Keep-Alive: timeout=2" less the one-second margin: 1 s, against the agent's 60 s.
    const brief = await startCountingServer('Keep-Alive: timeout=2\r\n');
    const agent = new Agent({ idleTimeoutMs: 60_000 });
    try {
      await get(server.url('/long'), agent);
      await get(brief.url('/short'), agent);
      assert.equal(agent.idleConnections, 2);
      await eventually(() => brief.closed === 1, 'the briefly kept connection is closed');
      assert.equal(agent.idleConnections, 1, 'the other one is still kept');
      const again = await get(server.url('/long'), agent);
      assert.equal(again.connection.reused, true);
    } finally {
      agent.close();
      await brief.close();
    }
  });
});
