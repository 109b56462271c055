/**
 * The HTTP/2 client against hostile servers on raw node:net that write exact frames: a malformed
 * frame, a header block that never ends, a window pushed past 2^31-1, DATA beyond content-length,
 * no SETTINGS at all, an HTTP/1.1 answer to prior knowledge, a close mid-body, REFUSED_STREAM.
 * Each gives a typed ClientError within its bound: never a crash, a hang or unbounded memory.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { describe, test } from 'node:test';
import { CLIENT_PREFACE, serializeFrame } from '../../../src/core/h2/frames.js';
import { HpackEncoder } from '../../../src/core/h2/hpack/index.js';
import { ClientError, type ClientErrorCode, Http2ClientError, request } from '../../../src/index.js';
import { readAll } from './helpers.js';

const SETTINGS = serializeFrame({ type: 'SETTINGS', ack: false, settings: [] });
const SETTINGS_ACK = serializeFrame({ type: 'SETTINGS', ack: true, settings: [] });

function headers(streamId: number, fields: Array<[string, string]>, endStream: boolean, endHeaders = true): Buffer {
  const fragment = new HpackEncoder().encode(fields);
  return serializeFrame({ type: 'HEADERS', streamId, endStream, endHeaders, fragment, padLength: null, priority: null });
}

function data(streamId: number, text: string | Buffer, endStream: boolean): Buffer {
  return serializeFrame({ type: 'DATA', streamId, endStream, data: Buffer.from(text), padLength: null });
}

/** The stream ids of the HEADERS frames in what the client sent so far (after its preface). */
function requestStreams(bytes: Buffer): number[] {
  const ids: number[] = [];
  let offset = CLIENT_PREFACE.length;
  while (offset + 9 <= bytes.length) {
    const length = bytes.readUIntBE(offset, 3);
    if (bytes[offset + 3] === 0x1) ids.push(bytes.readUInt32BE(offset + 5) & 0x7fffffff);
    offset += 9 + length;
  }
  return ids;
}

/**
 * A server that calls `onRequest` with the socket once the client's first HEADERS arrives
 * (`first` is written as soon as it connects); `connections` counts them.
 */
async function startRawH2(
  onRequest: (socket: Socket, streamId: number, connection: number) => void,
  first: Buffer = SETTINGS,
): Promise<{ port: number; connections: number; close(): void }> {
  const state = { connections: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const connection = ++state.connections;
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    if (first.length > 0) socket.write(first);
    let received = Buffer.alloc(0);
    let answered = 0;
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const streams = requestStreams(received);
      while (answered < streams.length) onRequest(socket, streams[answered++]!, connection);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return state.connections;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

async function failureOf(port: number, options: Parameters<typeof request>[1] = {}, readBody = true): Promise<ClientError> {
  const started = Date.now();
  const outcome = await request(`http://127.0.0.1:${port}/`, { timeoutMs: 5_000, httpVersion: '2-prior-knowledge', ...options })
    .then(
      async (response) => (readBody ? readAll(response.body).then(() => null) : null),
      (error: unknown) => error,
    )
    .catch((error: unknown) => error);
  assert.ok(outcome instanceof ClientError, `not a ClientError: ${String(outcome)}`);
  assert.ok(Date.now() - started < 4_000, 'it took the whole-request timeout');
  return outcome;
}

function expectCode(error: ClientError, code: ClientErrorCode, http2Code?: string): void {
  assert.equal(error.code, code, error.message);
  if (http2Code !== undefined) {
    assert.ok(error instanceof Http2ClientError);
    assert.equal(error.http2Code, http2Code, error.message);
  }
  assert.doesNotMatch(error.message, /\n/);
}

describe('hostile HTTP/2 servers', () => {
  test('a SETTINGS frame whose length is not a multiple of 6: http2-error FRAME_SIZE_ERROR', async () => {
    const bad = Buffer.from([0, 0, 5, 0x4, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5]);
    const server = await startRawH2(() => {}, bad);
    try {
      expectCode(await failureOf(server.port), 'http2-error', 'FRAME_SIZE_ERROR');
    } finally {
      server.close();
    }
  });

  test('a header block that never ends (CONTINUATION flood, CVE-2023-45288): http2-error ENHANCE_YOUR_CALM', async () => {
    const server = await startRawH2((socket, streamId) => {
      socket.write(SETTINGS_ACK);
      socket.write(headers(streamId, [[':status', '200']], false, false));
      const filler = serializeFrame({ type: 'CONTINUATION', streamId, endHeaders: false, fragment: Buffer.alloc(8_000, 0x40) });
      for (let index = 0; index < 20; index++) socket.write(filler);
    });
    try {
      expectCode(await failureOf(server.port), 'http2-error', 'ENHANCE_YOUR_CALM');
    } finally {
      server.close();
    }
  });

  test('a WINDOW_UPDATE that takes the connection window past 2^31-1: http2-error FLOW_CONTROL_ERROR', async () => {
    const server = await startRawH2((socket) => {
      socket.write(SETTINGS_ACK);
      socket.write(serializeFrame({ type: 'WINDOW_UPDATE', streamId: 0, increment: 2 ** 31 - 1 }));
    });
    try {
      expectCode(await failureOf(server.port), 'http2-error', 'FLOW_CONTROL_ERROR');
    } finally {
      server.close();
    }
  });

  test('DATA beyond content-length: bad-response, and the stream is reset', async () => {
    const server = await startRawH2((socket, streamId) => {
      socket.write(SETTINGS_ACK);
      socket.write(
        headers(
          streamId,
          [
            [':status', '200'],
            ['content-length', '3'],
          ],
          false,
        ),
      );
      socket.write(data(streamId, 'more than three', true));
    });
    try {
      const failure = await failureOf(server.port);
      expectCode(failure, 'bad-response', 'PROTOCOL_ERROR');
      // The rule the response broke, in our words (the core's reason for the reset).
      assert.match(failure.message, /DATA that does not match content-length/);
    } finally {
      server.close();
    }
  });

  test('a response without :status: bad-response', async () => {
    const server = await startRawH2((socket, streamId) => {
      socket.write(SETTINGS_ACK);
      socket.write(headers(streamId, [['content-type', 'text/plain']], true));
    });
    try {
      expectCode(await failureOf(server.port), 'bad-response');
    } finally {
      server.close();
    }
  });

  test('a server that never sends SETTINGS nor anything else: headers-timeout', async () => {
    const server = await startRawH2(() => {}, Buffer.alloc(0));
    try {
      expectCode(await failureOf(server.port, { headersTimeoutMs: 200 }), 'headers-timeout');
    } finally {
      server.close();
    }
  });

  test('a server silent past the connect timeout: http2-error SETTINGS_TIMEOUT', async () => {
    const server = await startRawH2(() => {}, Buffer.alloc(0));
    try {
      expectCode(await failureOf(server.port, { connectTimeoutMs: 200 }), 'http2-error', 'SETTINGS_TIMEOUT');
    } finally {
      server.close();
    }
  });

  test('an HTTP/1.1 answer to prior knowledge: http2-error PROTOCOL_ERROR (the first frame was not SETTINGS)', async () => {
    const server = await startRawH2(() => {}, Buffer.from('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n'));
    try {
      expectCode(await failureOf(server.port), 'http2-error', 'PROTOCOL_ERROR');
    } finally {
      server.close();
    }
  });

  test('a server that closes mid-body: connection-reset on the body', async () => {
    const server = await startRawH2((socket, streamId) => {
      socket.write(SETTINGS_ACK);
      socket.write(headers(streamId, [[':status', '200']], false));
      socket.write(data(streamId, 'part of it', false));
      setTimeout(() => socket.destroy(), 20);
    });
    try {
      expectCode(await failureOf(server.port), 'connection-reset');
    } finally {
      server.close();
    }
  });

  test('DATA on a stream the client never opened: http2-error PROTOCOL_ERROR', async () => {
    const server = await startRawH2((socket) => {
      socket.write(SETTINGS_ACK);
      socket.write(data(41, 'unasked', false));
    });
    try {
      expectCode(await failureOf(server.port), 'http2-error', 'PROTOCOL_ERROR');
    } finally {
      server.close();
    }
  });

  test('a body that stalls: body-timeout, and the stream is cancelled with RST_STREAM CANCEL', async () => {
    let cancelled = false;
    const server = await startRawH2((socket, streamId) => {
      socket.write(SETTINGS_ACK);
      socket.write(headers(streamId, [[':status', '200']], false));
      socket.write(data(streamId, 'a start', false));
      socket.on('data', (chunk: Buffer) => {
        // RST_STREAM (type 3) with CANCEL (8) on this stream.
        const index = chunk.indexOf(Buffer.from([0, 0, 4, 3, 0]));
        if (index !== -1 && chunk.readUInt32BE(index + 9) === 8) cancelled = true;
      });
    });
    try {
      expectCode(await failureOf(server.port, { bodyTimeoutMs: 200 }), 'body-timeout');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(cancelled, 'no RST_STREAM CANCEL reached the server');
    } finally {
      server.close();
    }
  });

  test('a WINDOW_UPDATE that takes a stream window past 2^31-1: that stream fails (FLOW_CONTROL_ERROR)', async () => {
    const server = await startRawH2((socket, streamId) => {
      socket.write(SETTINGS_ACK);
      socket.write(serializeFrame({ type: 'WINDOW_UPDATE', streamId, increment: 2 ** 31 - 1 }));
    });
    try {
      expectCode(await failureOf(server.port), 'bad-response', 'FLOW_CONTROL_ERROR');
    } finally {
      server.close();
    }
  });

  test('GOAWAY with last stream 0 on every connection: the request was never processed, retried twice, then http2-error', async () => {
    const server = await startRawH2((socket) => {
      socket.write(SETTINGS_ACK);
      socket.write(serializeFrame({ type: 'GOAWAY', lastStreamId: 0, errorCode: 0xb, debugData: Buffer.alloc(0) }));
    });
    try {
      expectCode(await failureOf(server.port), 'http2-error', 'ENHANCE_YOUR_CALM');
      assert.equal(server.connections, 3);
    } finally {
      server.close();
    }
  });

  test('REFUSED_STREAM: the request is sent again on a new connection (§8.7), even a POST', async () => {
    const server = await startRawH2((socket, streamId, connection) => {
      socket.write(SETTINGS_ACK);
      if (connection === 1) {
        socket.write(serializeFrame({ type: 'RST_STREAM', streamId, errorCode: 0x7 }));
        return;
      }
      socket.write(headers(streamId, [[':status', '200']], false));
      socket.write(data(streamId, `connection ${connection}`, true));
    });
    try {
      const response = await request(`http://127.0.0.1:${server.port}/`, {
        timeoutMs: 5_000,
        method: 'POST',
        body: 'x',
        httpVersion: '2-prior-knowledge',
      });
      assert.equal((await readAll(response.body)).toString(), 'connection 2');
    } finally {
      server.close();
    }
  });

  test('RST_STREAM REFUSED_STREAM on every connection: stream-reset after two retries', async () => {
    const server = await startRawH2((socket, streamId) => {
      socket.write(SETTINGS_ACK);
      socket.write(serializeFrame({ type: 'RST_STREAM', streamId, errorCode: 0x7 }));
    });
    try {
      expectCode(await failureOf(server.port), 'stream-reset', 'REFUSED_STREAM');
      assert.equal(server.connections, 3);
    } finally {
      server.close();
    }
  });
});
