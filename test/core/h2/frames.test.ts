/**
 * The frame codec (RFC 9113 §4, §6): every frame type round-trips through serializeFrame and the
 * FrameReader, fed whole, byte by byte and split at every position; random frames (fast-check with a
 * fixed seed) round-trip too; random bytes give frames or our H2ConnectionError, nothing else; and
 * every §6 rule about a single frame gives the RFC's error code.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { H2ConnectionError } from '../../../src/core/h2/errors.js';
import { type Frame, FrameReader, encodeFrameHeader, serializeFrame } from '../../../src/core/h2/frames.js';

const SAMPLES: Frame[] = [
  { type: 'DATA', streamId: 1, endStream: false, data: Buffer.from('hello'), padLength: null },
  { type: 'DATA', streamId: 3, endStream: true, data: Buffer.from('padded'), padLength: 7 },
  { type: 'DATA', streamId: 5, endStream: true, data: Buffer.alloc(0), padLength: null },
  {
    type: 'HEADERS',
    streamId: 1,
    endStream: true,
    endHeaders: true,
    fragment: Buffer.from([0x82, 0x86, 0x84]),
    padLength: null,
    priority: null,
  },
  {
    type: 'HEADERS',
    streamId: 7,
    endStream: false,
    endHeaders: false,
    fragment: Buffer.from([0x82]),
    padLength: 3,
    priority: { exclusive: true, dependency: 3, weight: 256 },
  },
  { type: 'PRIORITY', streamId: 9, priority: { exclusive: false, dependency: 1, weight: 16 } },
  { type: 'RST_STREAM', streamId: 1, errorCode: 8 },
  {
    type: 'SETTINGS',
    ack: false,
    settings: [
      [1, 4096],
      [3, 100],
      [4, 65_535],
      [5, 16_384],
      [6, 65_536],
      [0x99, 7],
    ],
  },
  { type: 'SETTINGS', ack: true, settings: [] },
  { type: 'PUSH_PROMISE', streamId: 1, endHeaders: true, promisedStreamId: 2, fragment: Buffer.from([0x82]), padLength: 2 },
  { type: 'PING', ack: false, opaqueData: Buffer.from('12345678') },
  { type: 'PING', ack: true, opaqueData: Buffer.from('abcdefgh') },
  { type: 'GOAWAY', lastStreamId: 7, errorCode: 11, debugData: Buffer.from('calm down') },
  { type: 'WINDOW_UPDATE', streamId: 0, increment: 2 ** 31 - 1 },
  { type: 'WINDOW_UPDATE', streamId: 3, increment: 1 },
  { type: 'CONTINUATION', streamId: 7, endHeaders: true, fragment: Buffer.from([0x84, 0x87]) },
  { type: 'unknown', frameType: 0xfa, flags: 0xff, streamId: 5, payload: Buffer.from('ignore me') },
];

/** Frames compared by value: Buffers as hex. */
function plain(frame: Frame): unknown {
  return JSON.parse(JSON.stringify(frame, (_key, value) => (value?.type === 'Buffer' ? Buffer.from(value.data).toString('hex') : value)));
}

function readAll(pieces: Buffer[], maxFrameSize?: number): Frame[] {
  const reader = new FrameReader(maxFrameSize);
  const frames: Frame[] = [];
  for (const piece of pieces) {
    reader.push(piece);
    for (let next = reader.next(); next !== null; next = reader.next()) frames.push(next.frame);
  }
  assert.equal(reader.bufferedBytes, 0);
  return frames;
}

function splits(bytes: Buffer): Buffer[][] {
  const ways: Buffer[][] = [[bytes], [...bytes].map((byte) => Buffer.of(byte))];
  for (let cut = 1; cut < bytes.length; cut++) ways.push([bytes.subarray(0, cut), bytes.subarray(cut)]);
  return ways;
}

describe('frames round-trip (RFC 9113 §6)', () => {
  for (const frame of SAMPLES) {
    test(`${frame.type}${'streamId' in frame ? ` on stream ${frame.streamId}` : ''}: whole, byte by byte, at every split`, () => {
      const bytes = serializeFrame(frame);
      for (const pieces of splits(bytes)) assert.deepEqual(readAll(pieces).map(plain), [plain(frame)]);
    });
  }

  test('all of them back to back, at every split: every strict prefix reports need-more', () => {
    const bytes = Buffer.concat(SAMPLES.map(serializeFrame));
    for (const pieces of splits(bytes)) assert.deepEqual(readAll(pieces).map(plain), SAMPLES.map(plain));
    const reader = new FrameReader();
    const first = serializeFrame(SAMPLES[0]!);
    for (let length = 0; length < first.length; length++) {
      const prefixReader = new FrameReader();
      prefixReader.push(first.subarray(0, length));
      assert.equal(prefixReader.next(), null);
    }
    reader.push(first);
    assert.notEqual(reader.next(), null);
  });

  test('random frames round-trip (fast-check, fixed seed)', () => {
    const bytesArb = (max: number) => fc.uint8Array({ maxLength: max }).map((array) => Buffer.from(array));
    const streamId = fc.integer({ min: 1, max: 2 ** 31 - 1 });
    const pad = fc.option(fc.integer({ min: 0, max: 255 }), { nil: null });
    const priority = fc.option(
      fc.record({
        exclusive: fc.boolean(),
        dependency: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        weight: fc.integer({ min: 1, max: 256 }),
      }),
      { nil: null },
    );
    const frameArb: fc.Arbitrary<Frame> = fc.oneof(
      fc.record({ type: fc.constant('DATA' as const), streamId, endStream: fc.boolean(), data: bytesArb(300), padLength: pad }),
      fc.record({
        type: fc.constant('HEADERS' as const),
        streamId,
        endStream: fc.boolean(),
        endHeaders: fc.boolean(),
        fragment: bytesArb(300),
        padLength: pad,
        priority,
      }),
      fc.record({
        type: fc.constant('SETTINGS' as const),
        ack: fc.constant(false),
        settings: fc.array(fc.tuple(fc.integer({ min: 7, max: 0xffff }), fc.integer({ min: 0, max: 2 ** 32 - 1 })), { maxLength: 10 }),
      }),
      fc.record({
        type: fc.constant('GOAWAY' as const),
        lastStreamId: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        errorCode: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        debugData: bytesArb(50),
      }),
      fc.record({ type: fc.constant('CONTINUATION' as const), streamId, endHeaders: fc.boolean(), fragment: bytesArb(300) }),
    );
    fc.assert(
      fc.property(frameArb, fc.integer({ min: 0, max: 700 }), (frame, cut) => {
        const bytes = serializeFrame(frame);
        const at = Math.min(cut, bytes.length);
        assert.deepEqual(readAll([bytes.subarray(0, at), bytes.subarray(at)]).map(plain), [plain(frame)]);
      }),
      { seed: 20231010, numRuns: 300 },
    );
  });

  test('random bytes give frames or H2ConnectionError, nothing else, whole or in pieces', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 50 }), (array, step) => {
        const bytes = Buffer.from(array);
        const outcome = (pieces: Buffer[]) => {
          try {
            return readAll2(pieces);
          } catch (error) {
            assert.ok(error instanceof H2ConnectionError, String(error));
            return error.code;
          }
        };
        const pieces: Buffer[] = [];
        for (let offset = 0; offset < bytes.length; offset += step) pieces.push(bytes.subarray(offset, offset + step));
        assert.deepEqual(outcome(pieces), outcome([bytes]));
      }),
      { seed: 45288, numRuns: 500 },
    );
  });
});

/** Like readAll but without the "nothing left over" check (random bytes end mid-frame). */
function readAll2(pieces: Buffer[]): unknown[] {
  const reader = new FrameReader();
  const frames: unknown[] = [];
  for (const piece of pieces) {
    reader.push(piece);
    for (let next = reader.next(); next !== null; next = reader.next()) frames.push(plain(next.frame));
  }
  return frames;
}

function raw(type: number, flags: number, streamId: number, payload: Buffer | number[]): Buffer {
  const body = Buffer.from(payload);
  return Buffer.concat([encodeFrameHeader(body.length, type, flags, streamId), body]);
}

describe('frame errors (RFC 9113 §4.2, §6)', () => {
  const cases: Array<[string, Buffer, string]> = [
    ['DATA on stream 0 (§6.1)', raw(0, 0, 0, [1]), 'PROTOCOL_ERROR'],
    ['DATA padding as long as the payload (§6.1)', raw(0, 0x8, 1, [3, 0, 0]), 'PROTOCOL_ERROR'],
    ['HEADERS on stream 0 (§6.2)', raw(1, 0x4, 0, [0x82]), 'PROTOCOL_ERROR'],
    ['HEADERS with PRIORITY but 4 bytes', raw(1, 0x24, 1, [0, 0, 0, 0]), 'FRAME_SIZE_ERROR'],
    ['PRIORITY on stream 0 (§6.3)', raw(2, 0, 0, [0, 0, 0, 1, 1]), 'PROTOCOL_ERROR'],
    ['PRIORITY of 4 bytes (§6.3)', raw(2, 0, 1, [0, 0, 0, 1]), 'FRAME_SIZE_ERROR'],
    ['RST_STREAM on stream 0 (§6.4)', raw(3, 0, 0, [0, 0, 0, 1]), 'PROTOCOL_ERROR'],
    ['RST_STREAM of 3 bytes (§6.4)', raw(3, 0, 1, [0, 0, 1]), 'FRAME_SIZE_ERROR'],
    ['SETTINGS on a stream (§6.5)', raw(4, 0, 1, []), 'PROTOCOL_ERROR'],
    ['SETTINGS ACK with a payload (§6.5)', raw(4, 1, 0, [0, 1, 0, 0, 0, 0]), 'FRAME_SIZE_ERROR'],
    ['SETTINGS of 5 bytes (§6.5)', raw(4, 0, 0, [0, 1, 0, 0, 0]), 'FRAME_SIZE_ERROR'],
    ['SETTINGS_ENABLE_PUSH 2 (§6.5.2)', raw(4, 0, 0, [0, 2, 0, 0, 0, 2]), 'PROTOCOL_ERROR'],
    ['SETTINGS_INITIAL_WINDOW_SIZE 2^31 (§6.5.2)', raw(4, 0, 0, [0, 4, 0x80, 0, 0, 0]), 'FLOW_CONTROL_ERROR'],
    ['SETTINGS_MAX_FRAME_SIZE 16383 (§6.5.2)', raw(4, 0, 0, [0, 5, 0, 0, 0x3f, 0xff]), 'PROTOCOL_ERROR'],
    ['SETTINGS_MAX_FRAME_SIZE 2^24 (§6.5.2)', raw(4, 0, 0, [0, 5, 1, 0, 0, 0]), 'PROTOCOL_ERROR'],
    ['PUSH_PROMISE on stream 0 (§6.6)', raw(5, 4, 0, [0, 0, 0, 2]), 'PROTOCOL_ERROR'],
    ['PING on a stream (§6.7)', raw(6, 0, 1, [1, 2, 3, 4, 5, 6, 7, 8]), 'PROTOCOL_ERROR'],
    ['PING of 7 bytes (§6.7)', raw(6, 0, 0, [1, 2, 3, 4, 5, 6, 7]), 'FRAME_SIZE_ERROR'],
    ['GOAWAY on a stream (§6.8)', raw(7, 0, 1, [0, 0, 0, 0, 0, 0, 0, 0]), 'PROTOCOL_ERROR'],
    ['GOAWAY of 7 bytes (§6.8)', raw(7, 0, 0, [0, 0, 0, 0, 0, 0, 0]), 'FRAME_SIZE_ERROR'],
    ['WINDOW_UPDATE of 3 bytes (§6.9)', raw(8, 0, 0, [0, 0, 1]), 'FRAME_SIZE_ERROR'],
    ['CONTINUATION on stream 0 (§6.10)', raw(9, 4, 0, [0x82]), 'PROTOCOL_ERROR'],
    ['a frame over SETTINGS_MAX_FRAME_SIZE (§4.2)', encodeFrameHeader(16_385, 0, 0, 1), 'FRAME_SIZE_ERROR'],
  ];
  for (const [name, bytes, code] of cases) {
    test(`${name} → ${code}`, () => {
      const reader = new FrameReader();
      reader.push(bytes);
      assert.throws(
        () => reader.next(),
        (error: unknown) => error instanceof H2ConnectionError && error.code === code,
      );
    });
  }

  test('a frame up to a larger SETTINGS_MAX_FRAME_SIZE is read', () => {
    const frame: Frame = { type: 'DATA', streamId: 1, endStream: false, data: Buffer.alloc(20_000, 1), padLength: null };
    assert.equal(readAll([serializeFrame(frame)], 32_768).length, 1);
  });
});
