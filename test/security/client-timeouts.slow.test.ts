/**
 * Timeouts per phase, with stable codes (undici's UND_ERR_CONNECT_TIMEOUT, HEADERS_TIMEOUT and
 * BODY_TIMEOUT are the model): connecting (TCP, a proxy's CONNECT tunnel and the TLS handshake,
 * curl's --connect-timeout), waiting for the response head, and a body that stops arriving. Each
 * has a default, so a silent server never holds a request forever. `sockhttp get` exits 28 for all
 * three, as curl does for its timeouts.
 *
 * The peers are raw node:net servers that accept and then say nothing (a TLS client waits for the
 * ServerHello forever), or stop in the middle. No assertion is about how long anything took.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Agent, ClientError, type ClientErrorCode, DEFAULT_CLIENT_TIMEOUTS, request } from '../../src/index.js';
import { runCli } from '../helpers.js';
import { assertOneLine, readAll, startRawServer } from '../net/client/helpers.js';
import { patternBytes } from '../net/server/helpers.js';

/** node:test's own bound on each test: a client that hangs fails the test instead of the run. */
const BOUNDED = { timeout: 30_000 };

function clientError(code: ClientErrorCode) {
  return (error: unknown) => {
    assert.ok(error instanceof ClientError, `expected a ClientError, got ${String(error)}`);
    assert.equal(error.code, code, `error message: ${error.message}`);
    return true;
  };
}

/** A server that accepts connections and never writes a byte. */
function silentServer() {
  return startRawServer({ pieces: [], waitForRequestHead: false, after: 'keep-open' });
}

describe('request(): a timeout for each phase, with its own code', () => {
  test('the defaults: 10 s to connect, 300 s for the head, 300 s between body bytes', () => {
    assert.deepEqual({ ...DEFAULT_CLIENT_TIMEOUTS }, { connectMs: 10_000, headersMs: 300_000, bodyMs: 300_000 });
  });

  test('a TLS handshake that never completes: connect-timeout', BOUNDED, async () => {
    const server = await silentServer();
    try {
      await assert.rejects(request(`https://127.0.0.1:${server.port}/`, { connectTimeoutMs: 300 }), clientError('connect-timeout'));
    } finally {
      await server.close();
    }
  });

  test('the whole-request timeout passing while the connection opens: timeout, not connect-timeout', BOUNDED, async () => {
    const server = await silentServer();
    try {
      await assert.rejects(
        request(`https://127.0.0.1:${server.port}/`, { timeoutMs: 300, connectTimeoutMs: 20_000 }),
        clientError('timeout'),
      );
    } finally {
      await server.close();
    }
  });

  test('a proxy that never answers CONNECT: connect-timeout', BOUNDED, async () => {
    const proxy = await startRawServer({ pieces: [], after: 'keep-open' });
    try {
      const pending = request('https://origin.test/', { proxy: `http://127.0.0.1:${proxy.port}`, connectTimeoutMs: 300 });
      await assert.rejects(pending, clientError('connect-timeout'));
      assert.match(await proxy.requestHead(), /^CONNECT origin\.test:443 HTTP\/1\.1\r\n/);
    } finally {
      await proxy.close();
    }
  });

  test('a server that accepts the request and never answers: headers-timeout', BOUNDED, async () => {
    const server = await startRawServer({ pieces: [], after: 'keep-open' });
    try {
      await assert.rejects(request(server.url('/'), { headersTimeoutMs: 300 }), clientError('headers-timeout'));
    } finally {
      await server.close();
    }
  });

  test('a kept-alive connection that takes the request and says nothing: headers-timeout, not sent again', BOUNDED, async () => {
    const server = await startRawServer({ pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi'], after: 'keep-open' });
    const agent = new Agent();
    try {
      const first = await request(server.url('/'), { agent });
      assert.equal((await readAll(first.body)).toString(), 'hi');
      await assert.rejects(request(server.url('/'), { agent, headersTimeoutMs: 300 }), clientError('headers-timeout'));
      assert.equal(server.received().length, 1, 'the request was sent again on a new connection');
    } finally {
      agent.close();
      await server.close();
    }
  });

  test('a head that trickles in, a byte at a time, never beats headers-timeout', BOUNDED, async () => {
    const head = 'HTTP/1.1 200 OK\r\nX-Slow: ' + 'a'.repeat(200);
    const server = await startRawServer({ pieces: head.split(''), delayMs: 20, after: 'keep-open' });
    try {
      await assert.rejects(request(server.url('/'), { headersTimeoutMs: 300 }), clientError('headers-timeout'));
    } finally {
      await server.close();
    }
  });

  test('a body that stops arriving: body-timeout, on the body stream', BOUNDED, async () => {
    const server = await startRawServer({ pieces: ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n', 'only ten b'], after: 'keep-open' });
    try {
      const response = await request(server.url('/'), { bodyTimeoutMs: 300 });
      assert.equal(response.status, 200);
      await assert.rejects(readAll(response.body), clientError('body-timeout'));
    } finally {
      await server.close();
    }
  });

  test('the body timeout counts only while the reader wants data: a reader that waits is not timed out', BOUNDED, async () => {
    const body = patternBytes(4 * 1024 * 1024); // far more than the stream's and the sockets' buffers
    const server = await startRawServer({ pieces: [`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`, body] });
    try {
      const response = await request(server.url('/'), { bodyTimeoutMs: 200 });
      await new Promise((resolve) => setTimeout(resolve, 800)); // the reader is busy elsewhere
      assert.ok((await readAll(response.body)).equals(body));
    } finally {
      await server.close();
    }
  });

  test('timeoutMs (the whole request) keeps its own code: timeout', BOUNDED, async () => {
    const server = await startRawServer({ pieces: [], after: 'keep-open' });
    try {
      await assert.rejects(request(server.url('/'), { timeoutMs: 300 }), clientError('timeout'));
    } finally {
      await server.close();
    }
  });
});

describe('sockhttp get --connect-timeout', () => {
  test('a TLS handshake that never completes: exit 28, one line naming the connect timeout', BOUNDED, async () => {
    const server = await silentServer();
    try {
      const result = await runCli(['get', '--connect-timeout', '0.5', `https://127.0.0.1:${server.port}/`]);
      assert.equal(result.code, 28, result.stderr);
      assertOneLine(result.stderr);
      assert.match(result.stderr, /^sockhttp get: .*connect/i);
    } finally {
      await server.close();
    }
  });

  test('without --connect-timeout, the default (10 s) still ends a handshake that never completes: exit 28', BOUNDED, async () => {
    const server = await silentServer();
    try {
      const result = await runCli(['get', `https://127.0.0.1:${server.port}/`], { timeoutMs: 25_000 });
      assert.equal(result.signal, null, 'killed: no connect timeout by default');
      assert.equal(result.code, 28, result.stderr);
      assertOneLine(result.stderr);
    } finally {
      await server.close();
    }
  });

  test('a connect timeout that is not a positive number is a usage error (exit 2)', async () => {
    for (const value of ['0', '-1', 'soon']) {
      const result = await runCli(['get', '--connect-timeout', value, 'http://127.0.0.1:9/']);
      assert.equal(result.code, 2, `${value}: ${result.stderr}`);
    }
  });
});
