/**
 * A mutation fuzzer for the HPACK decoder (RFC 7541). One invariant: any field block either decodes
 * or raises our HpackError — never anything else — on a decoder in whatever state earlier blocks
 * left it. And whatever decodes survives a round trip through our encoder and a fresh decoder.
 *
 *   npm run fuzz:hpack -- --minutes 10 [--seed 42]
 *
 * A failing input is written to fuzz/findings/ and the run exits 1. The fast suite runs a short,
 * seeded round (test/core/h2/hpack/fuzz.test.ts).
 */
import assert from 'node:assert/strict';
import { HpackDecoder, HpackEncoder, HpackError } from '../src/core/h2/hpack/index.js';
import { fuzzCommand, makeRandom } from './common.js';

const encoder = new HpackEncoder();
const SEEDS: Buffer[] = [
  // RFC 7541 C.3.1, C.4.1, C.4.3, C.6.1 (a 256-octet table) and C.2.3 (never indexed).
  '828684410f7777772e6578616d706c652e636f6d',
  '828684418cf1e3c2e5f23a6ba0ab90f4ff',
  '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf',
  '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3',
  '100870617373776f726406736563726574',
  // Size updates, a big index, a long Huffman string of high octets.
  '203fe11f82',
  'ff80808008',
].map((text) => Buffer.from(text, 'hex'));
SEEDS.push(
  encoder.encode([
    [':status', '200'],
    ['content-type', 'text/html'],
    ['set-cookie', 'a=b'],
    ['x-bytes', '\u00ff\u00fe\u0000\u0001\u007f'],
  ]),
  encoder.encode([
    [':status', '200'],
    ['content-type', 'text/html'],
  ]),
);

const INTERESTING = [[0x80], [0xbe], [0x20], [0x3f, 0xe1, 0x1f], [0x40], [0x00], [0x10], [0x7f], [0xff], [0xff, 0xff, 0xff, 0xff]].map(
  (bytes) => Buffer.from(bytes),
);

function mutate(input: Buffer, random: (limit: number) => number): Buffer {
  let bytes = Buffer.from(input);
  const rounds = 1 + random(4);
  for (let round = 0; round < rounds; round++) {
    const at = random(bytes.length + 1);
    switch (random(6)) {
      case 0: // flip a byte
        if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = random(256);
        break;
      case 1: // flip a bit
        if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)]! ^= 1 << random(8);
        break;
      case 2: // insert something interesting
        bytes = Buffer.concat([bytes.subarray(0, at), INTERESTING[random(INTERESTING.length)]!, bytes.subarray(at)]);
        break;
      case 3: // cut
        bytes = bytes.subarray(0, at);
        break;
      case 4: {
        // repeat a run (the same index many times: a bomb)
        const run = bytes.subarray(at, at + 1 + random(4));
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.alloc(random(2000), run.length > 0 ? run : 'a'), bytes.subarray(at)]);
        break;
      }
      default: // splice another seed in
        bytes = Buffer.concat([bytes.subarray(0, at), SEEDS[random(SEEDS.length)]!]);
    }
  }
  return bytes;
}

export interface HpackFuzzResult {
  inputs: number;
  failure: { input: Buffer; message: string } | null;
}

/** Runs the fuzzer until `seconds` have passed or `maxInputs` blocks were tried. */
export function runHpackFuzz({
  seconds,
  seed,
  maxInputs = Number.POSITIVE_INFINITY,
}: {
  seconds: number;
  seed: number;
  maxInputs?: number;
}): HpackFuzzResult {
  const random = makeRandom(seed);
  const deadline = Date.now() + seconds * 1000;
  let decoder = new HpackDecoder({ maxHeaderListSize: 8192 });
  let inputs = 0;
  while (Date.now() < deadline && inputs < maxInputs) {
    const input = mutate(SEEDS[random(SEEDS.length)]!, random);
    inputs++;
    try {
      const decoded = decoder.decode(input);
      if (!decoded.tooLarge) {
        const again = new HpackDecoder().decode(new HpackEncoder().encode(decoded.fields));
        assert.deepEqual(again.fields, decoded.fields, 'the decoded fields do not survive a round trip');
      }
    } catch (error) {
      if (!(error instanceof HpackError))
        return { inputs, failure: { input, message: `threw ${(error as Error).stack ?? String(error)}` } };
      // After a COMPRESSION_ERROR the connection ends: the next block meets a fresh decoder.
      decoder = new HpackDecoder({ maxHeaderListSize: 8192 });
    }
  }
  return { inputs, failure: null };
}

fuzzCommand(import.meta.url, 'fuzz hpack', 'blocks', (options) => {
  const { inputs, failure } = runHpackFuzz(options);
  return { inputs, finding: failure && { ...failure, stem: 'hpack' } };
});
