/**
 * The clocks of exchanges on one kept-alive connection. The connection keeps one timer for all its
 * exchanges (PhaseTimer, timeouts.ts) and leaves it armed between them; these tests hold each
 * exchange to its own limits whatever an earlier exchange on the same connection armed: a shorter
 * limit after a longer one still fires, and a limit an earlier exchange had is not applied to a
 * later one. No assertion is about how long anything took; node:test's timeout bounds each test.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Agent, ClientError, request } from '../../../src/index.js';

const BOUNDED = { timeout: 20_000 };
const HEAD_END = '\r\n\r\n';
const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi';

/**
 * What the server does with the n-th request head it receives (over all connections): answer at
 * once, answer after a pause, or say nothing.
 */
type Plan = { kind: 'answer'; afterMs: number } | { kind: 'silent' };

let plans: Plan[] = [];
let requestsSeen = 0;
let connectionsSeen = 0;
let server: Server;
let port = 0;
const sockets = new Set<Socket>();
const timers = new Set<NodeJS.Timeout>();

before(async () => {
  server = createServer((socket) => {
    connectionsSeen += 1;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf(HEAD_END); end !== -1; end = pending.indexOf(HEAD_END)) {
        pending = pending.slice(end + HEAD_END.length);
        const plan = plans[requestsSeen++] ?? { kind: 'answer', afterMs: 0 };
        if (plan.kind === 'silent') continue;
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!socket.destroyed) socket.write(OK);
        }, plan.afterMs);
        timers.add(timer);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  for (const timer of timers) clearTimeout(timer);
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function reset(next: Plan[]): void {
  plans = next;
  requestsSeen = 0;
  connectionsSeen = 0;
}

async function body(url: string, options: Parameters<typeof request>[1]): Promise<string> {
  const response = await request(url, options);
  let text = '';
  for await (const chunk of response.body) text += (chunk as Buffer).toString('latin1');
  return text;
}

describe('the clocks of exchanges on one kept-alive connection', () => {
  test('a short headers timeout after a long one on the same connection still fires', BOUNDED, async () => {
    reset([{ kind: 'answer', afterMs: 0 }, { kind: 'silent' }]);
    const agent = new Agent();
    try {
      const url = `http://127.0.0.1:${port}/`;
      assert.equal(await body(url, { agent, headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000 }), 'hi');
      await assert.rejects(request(url, { agent, headersTimeoutMs: 150 }), (error: unknown) => {
        assert.ok(error instanceof ClientError);
        assert.equal(error.code, 'headers-timeout');
        return true;
      });
      assert.equal(connectionsSeen, 1, 'both requests went on one connection');
    } finally {
      agent.close();
    }
  });

  test('a headers timeout of an earlier exchange does not apply to a later one without a limit', BOUNDED, async () => {
    reset([
      { kind: 'answer', afterMs: 0 },
      { kind: 'answer', afterMs: 400 },
    ]);
    const agent = new Agent();
    try {
      const url = `http://127.0.0.1:${port}/`;
      assert.equal(await body(url, { agent, headersTimeoutMs: 100, bodyTimeoutMs: 100 }), 'hi');
      assert.equal(await body(url, { agent, headersTimeoutMs: 0, bodyTimeoutMs: 0 }), 'hi');
      assert.equal(connectionsSeen, 1, 'both requests went on one connection');
    } finally {
      agent.close();
    }
  });

  test('a connection resting in the pool past an earlier exchange limit is not failed, and serves the next request', BOUNDED, async () => {
    reset([
      { kind: 'answer', afterMs: 0 },
      { kind: 'answer', afterMs: 0 },
    ]);
    const agent = new Agent();
    try {
      const url = `http://127.0.0.1:${port}/`;
      assert.equal(await body(url, { agent, headersTimeoutMs: 50, bodyTimeoutMs: 50 }), 'hi');
      await new Promise((resolve) => setTimeout(resolve, 200)); // the timer armed for 50 ms fires while the connection rests
      assert.equal(agent.idleConnections, 1);
      assert.equal(await body(url, { agent }), 'hi');
      assert.equal(connectionsSeen, 1, 'both requests went on one connection');
    } finally {
      agent.close();
    }
  });

  test('the later exchange keeps its own limit after an earlier, shorter one was armed', BOUNDED, async () => {
    // The first exchange arms the timer for 100 ms; the second, allowed 5 s, is answered after 300 ms.
    reset([
      { kind: 'answer', afterMs: 0 },
      { kind: 'answer', afterMs: 300 },
    ]);
    const agent = new Agent();
    try {
      const url = `http://127.0.0.1:${port}/`;
      assert.equal(await body(url, { agent, headersTimeoutMs: 100 }), 'hi');
      assert.equal(await body(url, { agent, headersTimeoutMs: 5_000 }), 'hi');
    } finally {
      agent.close();
    }
  });
});
