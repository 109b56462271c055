/**
 * H2Connection (RFC 9113) in memory: a server and a client core joined by a fake link exchange
 * requests and responses; a hand-driven client sends exact frames to check that each malformed input
 * gets the RFC's stream or connection error and code, and that each defence ends a hostile peer.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { H2Connection, type H2Event } from '../../../src/core/h2/connection.js';
import { ERROR_CODE_VALUES } from '../../../src/core/h2/errors.js';
import { CLIENT_PREFACE, type Frame, FrameReader, serializeFrame } from '../../../src/core/h2/frames.js';
import type { H2Limits } from '../../../src/core/h2/limits.js';
import { makeCodecs, plainBlock } from './codec.js';

const GET: Array<[string, string]> = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'example.com'],
];

/** Moves bytes both ways until neither side has anything to send; returns what each side saw. */
function exchange(server: H2Connection, client: H2Connection, now = 0): { server: H2Event[]; client: H2Event[] } {
  const seen = { server: [] as H2Event[], client: [] as H2Event[] };
  for (let turn = 0; turn < 100; turn++) {
    const toServer = client.takeOutput();
    const toClient = server.takeOutput();
    if (toServer.length === 0 && toClient.length === 0) return seen;
    if (toServer.length > 0) seen.server.push(...server.receive(Buffer.concat(toServer), now));
    if (toClient.length > 0) seen.client.push(...client.receive(Buffer.concat(toClient), now));
  }
  throw new Error('the link never went quiet');
}

function pair(limits: Partial<H2Limits> = {}, codec: 'hpack' | 'plain' = 'hpack'): { server: H2Connection; client: H2Connection } {
  const server = new H2Connection({ role: 'server', ...makeCodecs(codec, limits.maxHeaderListSize), limits });
  const client = new H2Connection({ role: 'client', ...makeCodecs(codec) });
  exchange(server, client);
  return { server, client };
}

describe('a server and a client core joined in memory', () => {
  test('a GET and its response with a body, then the stream is closed on both sides', () => {
    const { server, client } = pair();
    const streamId = client.request(GET, true);
    const atServer = exchange(server, client).server;
    assert.deepEqual(atServer, [
      {
        type: 'request',
        streamId,
        pseudo: { method: 'GET', scheme: 'https', path: '/index.html', authority: 'example.com' },
        fields: [],
        endStream: true,
      },
    ]);
    server.respond(
      streamId,
      200,
      [
        ['content-type', 'text/plain'],
        ['content-length', '5'],
      ],
      false,
    );
    server.sendData(streamId, Buffer.from('hello'), true);
    const atClient = exchange(server, client).client;
    assert.deepEqual(
      atClient.map((event) => (event.type === 'data' ? { ...event, data: event.data.toString() } : event)),
      [
        {
          type: 'response',
          streamId,
          status: 200,
          fields: [
            ['content-type', 'text/plain'],
            ['content-length', '5'],
          ],
          endStream: false,
        },
        { type: 'data', streamId, data: 'hello', endStream: true },
      ],
    );
    assert.equal(server.streamState(streamId), 'closed');
    assert.equal(client.streamState(streamId), 'closed');
    assert.equal(server.activeStreamCount, 0);
  });

  test('many concurrent streams, a big body limited by flow control (§6.9), trailers, and a request body', () => {
    const { server, client } = pair();
    const ids = [1, 2, 3].map(() => client.request(GET, true));
    assert.deepEqual(ids, [1, 3, 5]);
    exchange(server, client);
    const body = Buffer.alloc(200_000, 7);
    const received = new Map<number, number>();
    for (const id of ids) server.respond(id, 200, [], false);
    // Send what flow control allows, round-robin, until every body is out.
    const sent = new Map(ids.map((id) => [id, 0]));
    for (let turn = 0; turn < 1000 && [...sent.values()].some((n) => n < body.length); turn++) {
      for (const id of ids) {
        const offset = sent.get(id)!;
        const room = Math.min(server.sendableBytes(id), body.length - offset);
        if (offset >= body.length || (room === 0 && offset < body.length)) continue;
        server.sendData(id, body.subarray(offset, offset + room), offset + room === body.length);
        sent.set(id, offset + room);
      }
      assert.ok(server.connectionSendWindow >= 0);
      for (const event of exchange(server, client).client) {
        if (event.type === 'data') received.set(event.streamId, (received.get(event.streamId) ?? 0) + event.data.length);
      }
    }
    for (const id of ids) assert.equal(received.get(id), body.length);
    // A request with a body and trailers.
    const upload = client.request(
      [
        [':method', 'POST'],
        [':scheme', 'http'],
        [':path', '/up'],
        [':authority', 'x'],
        ['content-length', '3'],
      ],
      false,
    );
    client.sendData(upload, Buffer.from('abc'), false);
    client.sendTrailers(upload, [['x-checksum', '1']]);
    const events = exchange(server, client).server.map((event) => event.type);
    assert.deepEqual(events, ['request', 'data', 'trailers']);
  });

  test('SETTINGS_INITIAL_WINDOW_SIZE applies to open streams retroactively (§6.9.2)', () => {
    const { server, client } = pair();
    const id = client.request(GET, true);
    exchange(server, client);
    assert.equal(server.sendableBytes(id), 65_535);
    // The client lowers its initial window to 1000: the stream's window drops by 64535.
    const settings = serializeFrame({ type: 'SETTINGS', ack: false, settings: [[4, 1000]] });
    server.receive(settings, 0);
    assert.equal(server.sendableBytes(id), 1000);
    server.respond(id, 200, [], false);
    server.sendData(id, Buffer.alloc(1000), false);
    assert.equal(server.sendableBytes(id), 0);
    server.receive(serializeFrame({ type: 'SETTINGS', ack: false, settings: [[4, 0]] }), 0);
    assert.equal(server.sendableBytes(id), 0, 'a negative window sends nothing');
    server.receive(serializeFrame({ type: 'WINDOW_UPDATE', streamId: id, increment: 1500 }), 0);
    assert.equal(server.sendableBytes(id), 500);
  });

  test('PING is answered with the same data; GOAWAY from the server keeps streams in progress', () => {
    const { server, client } = pair();
    client.ping(Buffer.from('8 bytes!'));
    const id = client.request(GET, true);
    const events = exchange(server, client).client;
    server.goAway();
    events.push(...exchange(server, client).client);
    assert.ok(events.some((event) => event.type === 'ping-ack' && event.opaqueData.toString() === '8 bytes!'));
    assert.ok(events.some((event) => event.type === 'goaway' && event.lastStreamId === id));
    server.respond(id, 204, [], true);
    assert.equal(exchange(server, client).client[0]?.type, 'response');
  });

  test('a response header block larger than a frame is split into CONTINUATION frames', () => {
    const { server, client } = pair();
    const id = client.request(GET, true);
    exchange(server, client);
    const big = 'v'.repeat(30_000);
    server.respond(id, 200, [['x-big', big]], true);
    const frames = framesOf(server.takeOutput());
    assert.deepEqual(
      frames.map((frame) => frame.type),
      ['HEADERS', 'CONTINUATION'],
    );
  });
});

function framesOf(output: Buffer[]): Frame[] {
  const reader = new FrameReader(1 << 24);
  reader.push(Buffer.concat(output));
  const frames: Frame[] = [];
  for (let next = reader.next(); next !== null; next = reader.next()) frames.push(next.frame);
  return frames;
}

/** A client written frame by frame, with the plain codec so a test can send any header block. */
class HandClient {
  readonly server: H2Connection;
  now = 0;
  constructor(limits: Partial<H2Limits> = {}) {
    this.server = new H2Connection({ role: 'server', ...makeCodecs('plain', limits.maxHeaderListSize), limits });
    this.server.receive(Buffer.concat([CLIENT_PREFACE, serializeFrame({ type: 'SETTINGS', ack: false, settings: [] })]), 0);
    this.server.takeOutput();
  }
  send(...frames: Frame[]): { events: H2Event[]; frames: Frame[] } {
    const events = this.server.receive(Buffer.concat(frames.map(serializeFrame)), this.now);
    return { events, frames: framesOf(this.server.takeOutput()) };
  }
  headers(streamId: number, fields: Array<[string, string]>, endStream = true): Frame {
    return { type: 'HEADERS', streamId, endStream, endHeaders: true, fragment: plainBlock(fields), padLength: null, priority: null };
  }
}

function expectReset(result: { frames: Frame[] }, streamId: number, code: keyof typeof ERROR_CODE_VALUES): void {
  const reset = result.frames.find((frame) => frame.type === 'RST_STREAM');
  assert.deepEqual(reset, { type: 'RST_STREAM', streamId, errorCode: ERROR_CODE_VALUES[code] }, `expected RST_STREAM ${code}`);
  assert.ok(!result.frames.some((frame) => frame.type === 'GOAWAY'), 'and no GOAWAY');
}

function expectGoAway(result: { events: H2Event[]; frames: Frame[] }, code: keyof typeof ERROR_CODE_VALUES): void {
  const goAway = result.frames.find((frame) => frame.type === 'GOAWAY');
  assert.ok(goAway !== undefined && goAway.type === 'GOAWAY', 'expected GOAWAY');
  assert.equal(goAway.errorCode, ERROR_CODE_VALUES[code], `expected GOAWAY ${code}`);
  assert.ok(result.events.some((event) => event.type === 'connection-error'));
}

describe('malformed requests are stream errors PROTOCOL_ERROR (RFC 9113 §8.1.1)', () => {
  const cases: Array<[string, Array<[string, string]>]> = [
    ['no :method', GET.filter(([name]) => name !== ':method')],
    ['no :path', GET.filter(([name]) => name !== ':path')],
    ['an empty :path', GET.map(([name, value]) => [name, name === ':path' ? '' : value])],
    ['no :scheme', GET.filter(([name]) => name !== ':scheme')],
    ['an unknown pseudo-header', [...GET, [':protocol', 'websocket']]],
    ['a response pseudo-header in a request', [[':status', '200'], ...GET]],
    ['a pseudo-header after a regular field', [GET[0]!, ['accept', '*/*'], ...GET.slice(1)]],
    ['a pseudo-header twice', [...GET, [':path', '/again']]],
    ['an uppercase field name', [...GET, ['Accept', '*/*']]],
    ['connection', [...GET, ['connection', 'keep-alive']]],
    ['keep-alive', [...GET, ['keep-alive', '5']]],
    ['proxy-connection', [...GET, ['proxy-connection', 'keep-alive']]],
    ['transfer-encoding', [...GET, ['transfer-encoding', 'chunked']]],
    ['upgrade', [...GET, ['upgrade', 'h2c']]],
    ['te other than trailers', [...GET, ['te', 'gzip']]],
    ['a value with a NUL', [...GET, ['x', 'a\0b']]],
    ['a value with CR LF', [...GET, ['x', 'a\r\nb: c']]],
    ['a value with a leading space', [...GET, ['x', ' a']]],
    ['a name that is not a token', [...GET, ['x y', 'a']]],
    ['content-length with END_STREAM and no DATA', [...GET, ['content-length', '3']]],
    ['a content-length that is not a number', [...GET, ['content-length', 'ten']]],
  ];
  for (const [name, fields] of cases) {
    test(name, () => {
      const peer = new HandClient();
      const result = peer.send(peer.headers(1, fields));
      expectReset(result, 1, 'PROTOCOL_ERROR');
      assert.ok(!result.events.some((event) => event.type === 'request'));
      // The connection goes on: the next stream is served.
      const next = peer.send(peer.headers(3, GET));
      assert.equal(next.events[0]?.type, 'request');
    });
  }

  test('te: trailers is allowed', () => {
    const peer = new HandClient();
    assert.equal(peer.send(peer.headers(1, [...GET, ['te', 'trailers']])).events[0]?.type, 'request');
  });

  test('DATA longer or shorter than content-length', () => {
    const peer = new HandClient();
    const post: Array<[string, string]> = [[':method', 'POST'], ...GET.slice(1), ['content-length', '3']];
    peer.send(peer.headers(1, post, false));
    expectReset(
      peer.send({ type: 'DATA', streamId: 1, endStream: false, data: Buffer.from('abcd'), padLength: null }),
      1,
      'PROTOCOL_ERROR',
    );
    peer.send(peer.headers(3, post, false));
    expectReset(peer.send({ type: 'DATA', streamId: 3, endStream: true, data: Buffer.from('ab'), padLength: null }), 3, 'PROTOCOL_ERROR');
  });

  test('trailers without END_STREAM, and with a pseudo-header', () => {
    const peer = new HandClient();
    peer.send(peer.headers(1, GET, false));
    expectReset(peer.send(peer.headers(1, [['x', '1']], false)), 1, 'PROTOCOL_ERROR');
    peer.send(peer.headers(3, GET, false));
    expectReset(peer.send(peer.headers(3, [[':path', '/']], true)), 3, 'PROTOCOL_ERROR');
  });
});

describe('stream and connection errors of §5 and §6', () => {
  const connectionCases: Array<[string, (peer: HandClient) => Frame[], keyof typeof ERROR_CODE_VALUES]> = [
    [
      'DATA on an idle stream (§5.1)',
      () => [{ type: 'DATA', streamId: 1, endStream: true, data: Buffer.from('x'), padLength: null }],
      'PROTOCOL_ERROR',
    ],
    ['RST_STREAM on an idle stream (§6.4)', () => [{ type: 'RST_STREAM', streamId: 5, errorCode: 8 }], 'PROTOCOL_ERROR'],
    ['WINDOW_UPDATE on an idle stream (§5.1)', () => [{ type: 'WINDOW_UPDATE', streamId: 5, increment: 1 }], 'PROTOCOL_ERROR'],
    ['an even client stream id (§5.1.1)', (peer) => [peer.headers(2, GET)], 'PROTOCOL_ERROR'],
    ['a stream id lower than one already used (§5.1.1)', (peer) => [peer.headers(5, GET), peer.headers(3, GET)], 'PROTOCOL_ERROR'],
    [
      'HEADERS on a stream closed by END_STREAM both ways (§5.1)',
      (peer) => {
        peer.send(peer.headers(1, GET));
        peer.server.respond(1, 204, [], true);
        peer.server.takeOutput();
        return [peer.headers(1, GET)];
      },
      'STREAM_CLOSED',
    ],
    [
      'a frame between HEADERS and CONTINUATION (§6.10)',
      (peer) => [{ ...peer.headers(1, GET), endHeaders: false } as Frame, { type: 'PING', ack: false, opaqueData: Buffer.alloc(8) }],
      'PROTOCOL_ERROR',
    ],
    [
      'CONTINUATION without HEADERS (§6.10)',
      () => [{ type: 'CONTINUATION', streamId: 1, endHeaders: true, fragment: Buffer.alloc(0) }],
      'PROTOCOL_ERROR',
    ],
    [
      'PUSH_PROMISE from a client (§8.4)',
      () => [{ type: 'PUSH_PROMISE', streamId: 1, endHeaders: true, promisedStreamId: 2, fragment: Buffer.alloc(0), padLength: null }],
      'PROTOCOL_ERROR',
    ],
    ['a WINDOW_UPDATE of 0 on the connection (§6.9)', () => [{ type: 'WINDOW_UPDATE', streamId: 0, increment: 0 }], 'PROTOCOL_ERROR'],
    [
      'the connection window past 2^31-1 (§6.9.1)',
      () => [{ type: 'WINDOW_UPDATE', streamId: 0, increment: 2 ** 31 - 1 }],
      'FLOW_CONTROL_ERROR',
    ],
    [
      'a header block that cannot be decoded (§4.3)',
      (peer) => [{ ...peer.headers(1, GET), fragment: Buffer.from([0, 9, 1]) } as Frame],
      'COMPRESSION_ERROR',
    ],
    [
      'SETTINGS_INITIAL_WINDOW_SIZE overflowing an open stream (§6.9.2)',
      (peer) => [
        peer.headers(1, GET),
        { type: 'WINDOW_UPDATE', streamId: 1, increment: 2 ** 31 - 1 - 65_535 },
        { type: 'SETTINGS', ack: false, settings: [[4, 65_536]] },
      ],
      'FLOW_CONTROL_ERROR',
    ],
  ];
  for (const [name, frames, code] of connectionCases) {
    test(`${name} → GOAWAY ${code}`, () => {
      const peer = new HandClient();
      const result = peer.send(...frames(peer));
      expectGoAway(result, code);
      assert.ok(peer.server.isClosed);
      assert.deepEqual(peer.send(peer.headers(101, GET)).events, [], 'nothing is read after a connection error');
    });
  }

  test('DATA within the windows, given back as it is read (§6.9)', () => {
    const peer = new HandClient();
    peer.send(peer.headers(1, [[':method', 'POST'], ...GET.slice(1)], false));
    const frames: Frame[] = [];
    for (let index = 0; index < 5; index++)
      frames.push({ type: 'DATA', streamId: 1, endStream: false, data: Buffer.alloc(16_000), padLength: null });
    // The server gives the window back as it reads: a peer that keeps within it is never stopped.
    const result = peer.send(...frames);
    assert.ok(!result.frames.some((frame) => frame.type === 'GOAWAY' || frame.type === 'RST_STREAM'));
    assert.ok(result.frames.some((frame) => frame.type === 'WINDOW_UPDATE' && frame.streamId === 1));
  });

  test('DATA past the connection window → GOAWAY FLOW_CONTROL_ERROR (§6.9.1)', () => {
    const peer = new HandClient({ maxFrameSize: 100_000 });
    peer.send(peer.headers(1, [[':method', 'POST'], ...GET.slice(1)], false));
    const result = peer.send({ type: 'DATA', streamId: 1, endStream: false, data: Buffer.alloc(70_000), padLength: null });
    expectGoAway(result, 'FLOW_CONTROL_ERROR');
  });

  test('a WINDOW_UPDATE of 0 on a stream → RST_STREAM PROTOCOL_ERROR; past 2^31-1 → FLOW_CONTROL_ERROR', () => {
    const peer = new HandClient();
    peer.send(peer.headers(1, GET));
    expectReset(peer.send({ type: 'WINDOW_UPDATE', streamId: 1, increment: 0 }), 1, 'PROTOCOL_ERROR');
    peer.send(peer.headers(3, GET));
    expectReset(peer.send({ type: 'WINDOW_UPDATE', streamId: 3, increment: 2 ** 31 - 1 }), 3, 'FLOW_CONTROL_ERROR');
  });

  test('trailers in flight on a stream the server has answered and reset with NO_ERROR are ignored (§5.1, §8.1)', () => {
    const peer = new HandClient();
    peer.send(peer.headers(1, [[':method', 'POST'], ...GET.slice(1)], false));
    peer.server.respond(1, 405, [], true);
    const answer = framesOf(peer.server.takeOutput());
    assert.deepEqual(
      answer.map((frame) => frame.type),
      ['HEADERS', 'RST_STREAM'],
    );
    const result = peer.send(
      { type: 'DATA', streamId: 1, endStream: false, data: Buffer.from('x'), padLength: null },
      peer.headers(1, [['x-trailer', '1']], true),
    );
    assert.deepEqual(result.events, []);
    assert.ok(!peer.server.isClosed);
    assert.equal(peer.send(peer.headers(3, GET)).events[0]?.type, 'request');
  });

  test('DATA after END_STREAM → RST_STREAM STREAM_CLOSED (§5.1 half-closed (remote))', () => {
    const peer = new HandClient();
    peer.send(peer.headers(1, GET, true));
    expectReset(peer.send({ type: 'DATA', streamId: 1, endStream: false, data: Buffer.from('x'), padLength: null }), 1, 'STREAM_CLOSED');
  });

  test('a stream that depends on itself → RST_STREAM PROTOCOL_ERROR (§5.3.1)', () => {
    const peer = new HandClient();
    expectReset(
      peer.send({ type: 'PRIORITY', streamId: 3, priority: { exclusive: false, dependency: 3, weight: 1 } }),
      3,
      'PROTOCOL_ERROR',
    );
  });

  test('a connection that does not start with the preface is refused; the preface may come in pieces (§3.4)', () => {
    const server = new H2Connection({ role: 'server', ...makeCodecs('plain') });
    const events = server.receive(Buffer.from('GET / HTTP/1.1\r\n'), 0);
    assert.equal(events[0]?.type, 'connection-error');
    const split = new H2Connection({ role: 'server', ...makeCodecs('plain') });
    const bytes = Buffer.concat([CLIENT_PREFACE, serializeFrame({ type: 'SETTINGS', ack: false, settings: [] })]);
    for (const byte of bytes)
      assert.deepEqual(
        split.receive(Buffer.of(byte), 0).filter((event) => event.type === 'connection-error'),
        [],
      );
    assert.ok(framesOf(split.takeOutput()).some((frame) => frame.type === 'SETTINGS' && frame.ack));
  });

  test('a first frame other than SETTINGS → GOAWAY PROTOCOL_ERROR (§3.4)', () => {
    const server = new H2Connection({ role: 'server', ...makeCodecs('plain') });
    server.takeOutput();
    const events = server.receive(
      Buffer.concat([CLIENT_PREFACE, serializeFrame({ type: 'PING', ack: false, opaqueData: Buffer.alloc(8) })]),
      0,
    );
    expectGoAway({ events, frames: framesOf(server.takeOutput()) }, 'PROTOCOL_ERROR');
  });

  test('unknown frame types and settings are ignored (§4.1, §6.5.2)', () => {
    const peer = new HandClient();
    const result = peer.send(
      { type: 'unknown', frameType: 0xbb, flags: 0, streamId: 0, payload: Buffer.from('?') },
      { type: 'SETTINGS', ack: false, settings: [[0x77, 1]] },
    );
    assert.ok(!result.frames.some((frame) => frame.type === 'GOAWAY'));
  });
});

describe('defences', () => {
  test('Rapid Reset (CVE-2023-44487): resets beyond the cap in the window → GOAWAY ENHANCE_YOUR_CALM', () => {
    const peer = new HandClient({ maxResetsPerWindow: 10, resetWindowMs: 1000 });
    let result: { events: H2Event[]; frames: Frame[] } = { events: [], frames: [] };
    let id = 1;
    for (; id < 40 && !peer.server.isClosed; id += 2) {
      result = peer.send(peer.headers(id, GET), { type: 'RST_STREAM', streamId: id, errorCode: 8 });
    }
    expectGoAway(result, 'ENHANCE_YOUR_CALM');
    assert.equal(id, 23, 'the 11th reset ends it');
    // Resets spread over time are fine.
    const slow = new HandClient({ maxResetsPerWindow: 10, resetWindowMs: 1000 });
    for (let stream = 1; stream < 80; stream += 2) {
      slow.now += 200;
      slow.send(slow.headers(stream, GET), { type: 'RST_STREAM', streamId: stream, errorCode: 8 });
    }
    assert.ok(!slow.server.isClosed);
  });

  test('streams beyond SETTINGS_MAX_CONCURRENT_STREAMS are refused with REFUSED_STREAM (§5.1.2)', () => {
    const peer = new HandClient({ maxConcurrentStreams: 2 });
    peer.send(peer.headers(1, GET), peer.headers(3, GET));
    expectReset(peer.send(peer.headers(5, GET)), 5, 'REFUSED_STREAM');
    assert.equal(peer.server.activeStreamCount, 2);
  });

  test('CONTINUATION flood (CVE-2023-45288): too many frames → GOAWAY ENHANCE_YOUR_CALM', () => {
    const peer = new HandClient({ maxContinuationFrames: 8 });
    const frames: Frame[] = [{ ...peer.headers(1, GET), endHeaders: false } as Frame];
    for (let index = 0; index < 20; index++)
      frames.push({ type: 'CONTINUATION', streamId: 1, endHeaders: false, fragment: Buffer.alloc(0) });
    expectGoAway(peer.send(...frames), 'ENHANCE_YOUR_CALM');
  });

  test('CONTINUATION flood: a header block over maxHeaderBlockBytes → GOAWAY ENHANCE_YOUR_CALM', () => {
    const peer = new HandClient({ maxHeaderBlockBytes: 4096 });
    const frames: Frame[] = [{ ...peer.headers(1, GET), endHeaders: false } as Frame];
    for (let index = 0; index < 3; index++)
      frames.push({ type: 'CONTINUATION', streamId: 1, endHeaders: false, fragment: Buffer.alloc(2000, 0x61) });
    expectGoAway(peer.send(...frames), 'ENHANCE_YOUR_CALM');
  });

  test('HPACK bomb: decoded fields over maxHeaderListSize → a request-too-large event (the server answers 431)', () => {
    const peer = new HandClient({ maxHeaderListSize: 1000 });
    const result = peer.send(peer.headers(1, [...GET, ['x-big', 'a'.repeat(2000)]]));
    assert.deepEqual(result.events, [{ type: 'request-too-large', streamId: 1 }]);
    assert.equal(peer.server.streamState(1), 'half-closed-remote', 'open for the 431');
  });

  test('PING flood → GOAWAY ENHANCE_YOUR_CALM', () => {
    const peer = new HandClient({ maxControlFramesPerWindow: 50 });
    const pings: Frame[] = Array.from({ length: 60 }, () => ({ type: 'PING', ack: false, opaqueData: Buffer.alloc(8) }));
    expectGoAway(peer.send(...pings), 'ENHANCE_YOUR_CALM');
  });

  test('SETTINGS flood → GOAWAY ENHANCE_YOUR_CALM', () => {
    const peer = new HandClient({ maxControlFramesPerWindow: 50 });
    const settings: Frame[] = Array.from({ length: 60 }, () => ({ type: 'SETTINGS', ack: false, settings: [] }));
    expectGoAway(peer.send(...settings), 'ENHANCE_YOUR_CALM');
  });

  test('answers queued while the peer does not read → GOAWAY ENHANCE_YOUR_CALM', () => {
    const peer = new HandClient({ maxQueuedControlFrames: 20, maxControlFramesPerWindow: 10_000 });
    const pings: Frame[] = Array.from({ length: 30 }, () => ({ type: 'PING', ack: false, opaqueData: Buffer.alloc(8) }));
    expectGoAway(peer.send(...pings), 'ENHANCE_YOUR_CALM');
    // The same pings with the output reported taken in between are fine.
    const reading = new HandClient({ maxQueuedControlFrames: 20, maxControlFramesPerWindow: 10_000 });
    for (const ping of pings) {
      reading.send(ping);
      reading.server.outputDrained();
    }
    assert.ok(!reading.server.isClosed);
  });
});
