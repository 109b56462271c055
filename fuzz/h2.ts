/**
 * A mutation fuzzer for the HTTP/2 frame reader and connection core (RFC 9113). One invariant: any
 * bytes a client sends after the preface, in whatever pieces, make a server H2Connection answer
 * with events and frames — never throw — and the same ones whole or split.
 *
 *   npm run fuzz:h2 -- --minutes 10 [--seed 42]
 *
 * A failing input is written to fuzz/findings/ and the run exits 1. The fast suite runs a short,
 * seeded round (test/core/h2/fuzz.test.ts).
 */
import { H2Connection } from '../src/core/h2/connection.js';
import { CLIENT_PREFACE, type Frame, serializeFrame } from '../src/core/h2/frames.js';
import { HpackDecoder, HpackEncoder } from '../src/core/h2/hpack/index.js';
import { fuzzCommand, makeRandom } from './common.js';

const encoder = new HpackEncoder();
const GET = encoder.encode([
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'example.com'],
]);
const POST = encoder.encode([
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/form'],
  [':authority', 'a'],
  ['content-length', '4'],
]);

/** Conversations a client may have: each a frame sequence after the preface and SETTINGS. */
const SEEDS: Frame[][] = [
  [{ type: 'HEADERS', streamId: 1, endStream: true, endHeaders: true, fragment: GET, padLength: null, priority: null }],
  [
    { type: 'HEADERS', streamId: 1, endStream: false, endHeaders: false, fragment: POST.subarray(0, 3), padLength: 2, priority: null },
    { type: 'CONTINUATION', streamId: 1, endHeaders: true, fragment: POST.subarray(3) },
    { type: 'DATA', streamId: 1, endStream: false, data: Buffer.from('ab'), padLength: 5 },
    { type: 'DATA', streamId: 1, endStream: true, data: Buffer.from('cd'), padLength: null },
  ],
  [
    { type: 'PRIORITY', streamId: 3, priority: { exclusive: true, dependency: 0, weight: 200 } },
    {
      type: 'HEADERS',
      streamId: 5,
      endStream: true,
      endHeaders: true,
      fragment: GET,
      padLength: null,
      priority: { exclusive: false, dependency: 3, weight: 16 },
    },
    { type: 'RST_STREAM', streamId: 5, errorCode: 8 },
    { type: 'WINDOW_UPDATE', streamId: 0, increment: 1000 },
    { type: 'PING', ack: false, opaqueData: Buffer.from('abcdefgh') },
    {
      type: 'SETTINGS',
      ack: false,
      settings: [
        [4, 1],
        [5, 20_000],
        [1, 0],
      ],
    },
    { type: 'GOAWAY', lastStreamId: 0, errorCode: 0, debugData: Buffer.alloc(0) },
  ],
];
const SEED_BYTES = SEEDS.map((frames) => Buffer.concat(frames.map(serializeFrame)));
const INTERESTING = [[0], [0xff], [0, 0, 0], [0x7f, 0xff, 0xff, 0xff], [0x80, 0, 0, 0], [0, 0, 0, 1, 0x5]].map((bytes) =>
  Buffer.from(bytes),
);

function mutate(input: Buffer, random: (limit: number) => number): Buffer {
  let bytes = Buffer.from(input);
  const rounds = 1 + random(4);
  for (let round = 0; round < rounds; round++) {
    const at = random(bytes.length + 1);
    switch (random(5)) {
      case 0:
        if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = random(256);
        break;
      case 1:
        if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)]! ^= 1 << random(8);
        break;
      case 2:
        bytes = Buffer.concat([bytes.subarray(0, at), INTERESTING[random(INTERESTING.length)]!, bytes.subarray(at)]);
        break;
      case 3:
        bytes = bytes.subarray(0, at);
        break;
      default:
        bytes = Buffer.concat([bytes.subarray(0, at), SEED_BYTES[random(SEED_BYTES.length)]!, bytes.subarray(at)]);
    }
  }
  return bytes;
}

const START = Buffer.concat([CLIENT_PREFACE, serializeFrame({ type: 'SETTINGS', ack: false, settings: [] })]);

/** What a server core makes of these pieces: its events and its output, as text to compare. */
function outcome(pieces: Buffer[]): string {
  const server = new H2Connection({ role: 'server', encoder: new HpackEncoder(), decoder: new HpackDecoder() });
  const events: string[] = [];
  for (const piece of pieces) {
    for (const event of server.receive(piece, 0)) events.push(event.type === 'connection-error' ? `error ${event.error.code}` : event.type);
  }
  return `${events.join(',')} ${Buffer.concat(server.takeOutput()).toString('hex')}`;
}

export interface H2FuzzResult {
  inputs: number;
  failure: { input: Buffer; message: string } | null;
}

export function runH2Fuzz({
  seconds,
  seed,
  maxInputs = Number.POSITIVE_INFINITY,
}: {
  seconds: number;
  seed: number;
  maxInputs?: number;
}): H2FuzzResult {
  const random = makeRandom(seed);
  const deadline = Date.now() + seconds * 1000;
  let inputs = 0;
  while (Date.now() < deadline && inputs < maxInputs) {
    const input = Buffer.concat([START, mutate(SEED_BYTES[random(SEED_BYTES.length)]!, random)]);
    inputs++;
    try {
      const whole = outcome([input]);
      const step = 1 + random(40);
      const pieces: Buffer[] = [];
      for (let offset = 0; offset < input.length; offset += step) pieces.push(input.subarray(offset, offset + step));
      const split = outcome(pieces);
      if (whole !== split) return { inputs, failure: { input, message: `whole: ${whole}\nsplit by ${step}: ${split}` } };
    } catch (error) {
      return { inputs, failure: { input, message: `threw ${(error as Error).stack ?? String(error)}` } };
    }
  }
  return { inputs, failure: null };
}

fuzzCommand(import.meta.url, 'fuzz h2', 'inputs', (options) => {
  const { inputs, failure } = runH2Fuzz(options);
  return { inputs, finding: failure && { ...failure, stem: 'h2' } };
});
