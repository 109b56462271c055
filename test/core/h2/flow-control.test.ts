/**
 * The receiving side of flow control (RFC 9113 §6.9) in memory: a stream's window given back when
 * the caller reports its reader consumed the bytes (autoStreamWindowUpdate false) or at once (the
 * default), a connection window larger than 65,535 announced after SETTINGS (§6.9.2), and the
 * reason carried by a 'stream-reset' we sent.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { H2Connection, type H2ConnectionOptions, type H2Event } from '../../../src/core/h2/connection.js';
import { type Frame, FrameReader, SETTING_IDS, serializeFrame } from '../../../src/core/h2/frames.js';
import { ReceiveWindow } from '../../../src/core/h2/streams.js';
import { makeCodecs, plainBlock } from './codec.js';

const GET: Array<[string, string]> = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'example.com'],
];

function exchange(server: H2Connection, client: H2Connection): { server: H2Event[]; client: H2Event[] } {
  const seen = { server: [] as H2Event[], client: [] as H2Event[] };
  for (let turn = 0; turn < 100; turn++) {
    const toServer = client.takeOutput();
    const toClient = server.takeOutput();
    if (toServer.length === 0 && toClient.length === 0) return seen;
    if (toServer.length > 0) seen.server.push(...server.receive(Buffer.concat(toServer), 0));
    if (toClient.length > 0) seen.client.push(...client.receive(Buffer.concat(toClient), 0));
  }
  throw new Error('the link never went quiet');
}

function pair(clientOptions: Partial<H2ConnectionOptions> = {}): { server: H2Connection; client: H2Connection } {
  const server = new H2Connection({ role: 'server', ...makeCodecs('hpack') });
  const client = new H2Connection({ role: 'client', ...makeCodecs('hpack'), ...clientOptions });
  exchange(server, client);
  return { server, client };
}

/** The frames in a side's output, without taking them from the link (they are put back as bytes). */
function framesOf(output: Buffer[]): Frame[] {
  const reader = new FrameReader(1 << 24);
  const bytes = Buffer.concat(output);
  // The client's output starts with the preface magic.
  reader.push(bytes.subarray(0, 3).toString('latin1') === 'PRI' ? bytes.subarray(24) : bytes);
  const frames: Frame[] = [];
  for (let next = reader.next(); next !== null; next = reader.next()) frames.push(next.frame);
  return frames;
}

/** Opens a stream and has the server send all the stream window lets it. */
function fillStream(server: H2Connection, client: H2Connection): number {
  const streamId = client.request(GET, true);
  exchange(server, client);
  server.respond(streamId, 200, [], false);
  server.sendData(streamId, Buffer.alloc(server.sendableBytes(streamId)), false);
  exchange(server, client);
  return streamId;
}

describe('manual stream flow control (autoStreamWindowUpdate: false)', () => {
  test('the window comes back only as the caller reports bytes consumed, once more than half is', () => {
    // A large connection window, so that the stream's is the one that limits the server.
    const { server, client } = pair({ autoStreamWindowUpdate: false, initialConnectionWindow: 1 << 20 });
    const streamId = fillStream(server, client);
    assert.equal(server.sendableBytes(streamId), 0, 'nothing consumed: the server is held back');
    assert.ok(server.connectionSendWindow > 0, 'the connection window is given back at once');
    client.consumed(streamId, 20_000);
    assert.deepEqual(framesOf(client.takeOutput()), [], 'under half the window: no WINDOW_UPDATE yet');
    client.consumed(streamId, 20_000);
    const frames = framesOf(client.takeOutput());
    assert.deepEqual(frames, [{ type: 'WINDOW_UPDATE', streamId, increment: 40_000 }]);
    server.receive(serializeFrame(frames[0]!), 0);
    assert.equal(server.sendableBytes(streamId), 40_000);
  });

  test('consumed() never gives back more than was received, and ignores closed and unknown streams', () => {
    const { server, client } = pair({ autoStreamWindowUpdate: false });
    const streamId = fillStream(server, client);
    client.consumed(streamId, 10_000_000);
    assert.deepEqual(framesOf(client.takeOutput()), [{ type: 'WINDOW_UPDATE', streamId, increment: 65_535 }]);
    client.consumed(streamId, 10_000_000);
    assert.deepEqual(framesOf(client.takeOutput()), []);
    client.consumed(99, 50_000);
    client.reset(streamId, 'CANCEL');
    client.takeOutput();
    client.consumed(streamId, 50_000);
    assert.deepEqual(framesOf(client.takeOutput()), []);
  });

  test('padding is consumed by the core: the caller never sees it', () => {
    const client = new H2Connection({ role: 'client', ...makeCodecs('plain'), autoStreamWindowUpdate: false });
    const streamId = client.request(GET, true);
    client.takeOutput();
    const frames: Buffer[] = [
      serializeFrame({ type: 'SETTINGS', ack: false, settings: [] }),
      serializeFrame({
        type: 'HEADERS',
        streamId,
        endStream: false,
        endHeaders: true,
        fragment: plainBlock([[':status', '200']]),
        padLength: null,
        priority: null,
      }),
    ];
    // 128 frames of 255 bytes of padding and its length octet: 32,768 bytes, just over half the window.
    for (let index = 0; index < 128; index++)
      frames.push(serializeFrame({ type: 'DATA', streamId, endStream: false, data: Buffer.alloc(0), padLength: 255 }));
    client.receive(Buffer.concat(frames), 0);
    const updates = framesOf(client.takeOutput()).filter((frame) => frame.type === 'WINDOW_UPDATE' && frame.streamId !== 0);
    assert.deepEqual(updates, [{ type: 'WINDOW_UPDATE', streamId, increment: 32_768 }]);
  });

  test('the default gives a stream window back as DATA is delivered', () => {
    const { server, client } = pair();
    const streamId = fillStream(server, client);
    assert.ok(server.sendableBytes(streamId) > 0);
  });
});

describe('configured receive windows (§6.9.2)', () => {
  test('a connection window over 65,535 is announced right after SETTINGS; the stream window by SETTINGS_INITIAL_WINDOW_SIZE', () => {
    const client = new H2Connection({
      role: 'client',
      ...makeCodecs('hpack'),
      initialConnectionWindow: 1 << 20,
      limits: { initialWindowSize: 256 * 1024 },
    });
    const frames = framesOf(client.takeOutput());
    assert.equal(frames.length, 2);
    assert.equal(frames[0]!.type, 'SETTINGS');
    assert.ok(
      frames[0]!.type === 'SETTINGS' &&
        frames[0]!.settings.some(([id, value]) => id === SETTING_IDS.INITIAL_WINDOW_SIZE && value === 256 * 1024),
    );
    assert.deepEqual(frames[1], { type: 'WINDOW_UPDATE', streamId: 0, increment: (1 << 20) - 65_535 });

    // Over a link: the server may send a whole stream window, and 1 MiB on the connection.
    const server = new H2Connection({ role: 'server', ...makeCodecs('hpack') });
    const linked = new H2Connection({
      role: 'client',
      ...makeCodecs('hpack'),
      initialConnectionWindow: 1 << 20,
      limits: { initialWindowSize: 256 * 1024 },
    });
    exchange(server, linked);
    assert.equal(server.connectionSendWindow, 1 << 20);
    const streamId = linked.request(GET, true);
    exchange(server, linked);
    server.respond(streamId, 200, [], false);
    assert.equal(server.sendableBytes(streamId), 256 * 1024);
  });

  test('the default sends no connection WINDOW_UPDATE; a window out of range is refused', () => {
    const client = new H2Connection({ role: 'client', ...makeCodecs('hpack') });
    assert.deepEqual(
      framesOf(client.takeOutput()).map((frame) => frame.type),
      ['SETTINGS'],
    );
    for (const size of [65_534, 2 ** 31, 1.5]) {
      assert.throws(() => new H2Connection({ role: 'client', ...makeCodecs('hpack'), initialConnectionWindow: size }), RangeError);
    }
  });

  test('the connection window is given back once more than half of it is used', () => {
    const window = new ReceiveWindow(1000);
    assert.ok(window.receive(500));
    assert.equal(window.consumed(500), 0);
    assert.ok(window.receive(1));
    assert.equal(window.consumed(1), 501);
    assert.equal(window.size, 1000);
    assert.ok(!window.receive(1001), 'beyond the window');
  });
});

describe("a 'stream-reset' we sent says why", () => {
  test('a response whose DATA does not match its content-length', () => {
    const { server, client } = pair();
    const streamId = client.request(GET, true);
    exchange(server, client);
    server.respond(streamId, 200, [['content-length', '5']], false);
    server.sendData(streamId, Buffer.from('abc'), true);
    const reset = exchange(server, client).client.find((event) => event.type === 'stream-reset');
    assert.deepEqual(reset, {
      type: 'stream-reset',
      streamId,
      errorCode: 1,
      byPeer: false,
      message: 'DATA that does not match content-length',
    });
  });
});
