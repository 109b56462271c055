/**
 * The fuzz invariant of STYLE.md for the HTTP/2 core: whatever frames a client sends, in whatever
 * pieces, a server H2Connection never throws; it answers with events (a connection error among
 * them), and the events and the bytes it sends are the same whole or in pieces. fast-check with fixed
 * seeds, bounded runs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { H2Connection } from '../../../src/core/h2/connection.js';
import { CLIENT_PREFACE, encodeFrameHeader } from '../../../src/core/h2/frames.js';
import { HpackEncoder } from '../../../src/core/h2/hpack/index.js';
import { makeCodecs } from './codec.js';

const RUNS = Number(process.env['PROPERTY_RUNS'] ?? 200);

/** Valid request blocks (so streams really open) among random bytes. */
const encoder = new HpackEncoder();
const REQUEST_BLOCKS = [
  [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'a'],
  ],
  [
    [':method', 'POST'],
    [':scheme', 'https'],
    [':path', '/x'],
    [':authority', 'b'],
    ['content-length', '3'],
  ],
].map((fields) => encoder.encode(fields as [string, string][]));

const rawFrame = fc
  .record({
    type: fc.integer({ min: 0, max: 11 }),
    flags: fc.constantFrom(0, 1, 4, 5, 8, 0x20, 0x25, 0xff),
    streamId: fc.constantFrom(0, 1, 2, 3, 5, 7, 2 ** 31 - 1),
    payload: fc.oneof(
      fc.uint8Array({ maxLength: 40 }).map((array) => Buffer.from(array)),
      fc.constantFrom(...REQUEST_BLOCKS),
      fc.constantFrom(Buffer.alloc(4), Buffer.from([0, 0, 0, 1]), Buffer.alloc(8), Buffer.from([0, 4, 0, 0, 0x10, 0])),
    ),
  })
  .map(({ type, flags, streamId, payload }) => Buffer.concat([encodeFrameHeader(payload.length, type, flags, streamId), payload]));

function run(pieces: Buffer[]): string {
  const server = new H2Connection({ role: 'server', ...makeCodecs('hpack') });
  const seen: unknown[] = [];
  let now = 0;
  for (const piece of pieces) {
    now += 1;
    for (const event of server.receive(piece, now)) {
      seen.push(event.type === 'connection-error' ? { type: event.type, code: event.error.code } : event);
    }
  }
  const output = Buffer.concat(server.takeOutput()).toString('hex');
  return JSON.stringify({ seen, output }, (_key, value) => (value?.type === 'Buffer' ? Buffer.from(value.data).toString('hex') : value));
}

test('random frames after the preface: never a throw, the same outcome whole or in pieces', () => {
  fc.assert(
    fc.property(fc.array(rawFrame, { maxLength: 30 }), fc.integer({ min: 1, max: 64 }), (frames, step) => {
      const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
      const bytes = Buffer.concat([CLIENT_PREFACE, settings, ...frames]);
      const pieces: Buffer[] = [];
      for (let offset = 0; offset < bytes.length; offset += step) pieces.push(bytes.subarray(offset, offset + step));
      assert.equal(run(pieces), run([bytes]));
    }),
    { seed: 44487, numRuns: RUNS },
  );
});

test('random bytes from the first byte: never a throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (array) => {
      run([Buffer.concat([CLIENT_PREFACE.subarray(0, array.length % 30), Buffer.from(array)])]);
    }),
    { seed: 7541, numRuns: RUNS },
  );
});
