/**
 * A mutation fuzzer for the protocol core. One invariant: any input, fed whole or in random pieces,
 * either parses or raises our HttpProtocolError — never anything else — and the outcome is the same
 * however the bytes are split.
 *
 *   npm run fuzz -- --minutes 10 [--seed 42]
 *
 * A failing input is written to fuzz/findings/ and the run exits 1. `npm test` runs a short, seeded
 * round of the same loop (test/fuzz.test.ts).
 */
import { fuzzCommand, makeRandom } from './common.js';
import { HttpProtocolError, RequestReader, ResponseReader } from '../src/index.js';

const SEEDS = [
  'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET /wireshark-labs/INTRO-wireshark-file1.html HTTP/1.1\r\nHost:gaia.cs.umass.edu\r\n\r\n',
  'POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: a\r\n\r\n',
  'PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: yes\r\n\r\n',
  'GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  'HTTP/1.0 200 OK\nContent-Type: text/html\n\n<html>close-delimited</html>',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
  // Empty lines before a request line (a few are ignored, more refused), and a CR/LF trickle.
  '\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n',
  '\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n',
  '\r\n\r\n\r\n\r\n',
  // A GET announcing a body that never comes.
  'GET /big.bin HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n',
  // Bytes that cannot begin a request: a TLS ClientHello, an ELF header.
  '\x16\x03\x01\x00\xc4\x01\x00\x00\xc0\x03\x03',
  '\x7fELF\x02\x01\x01\x00',
].map((text) => Buffer.from(text, 'latin1'));

const INTERESTING = [
  '\r\n',
  '\n',
  '\r',
  ' ',
  '\t',
  ':',
  ';',
  ',',
  '0',
  'f',
  '\0',
  'Transfer-Encoding: chunked\r\n',
  'Content-Length: 9999999999999999\r\n',
  'Host: x\r\n',
  '\x7f',
  '\xff',
  '\x16\x03\x01',
].map((text) => Buffer.from(text, 'latin1'));

function mutate(input: Buffer, random: (limit: number) => number): Buffer {
  let bytes = Buffer.from(input);
  const rounds = 1 + random(4);
  for (let round = 0; round < rounds; round++) {
    const at = random(bytes.length + 1);
    switch (random(6)) {
      case 0: // flip a byte
        if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = random(256);
        break;
      case 1: // insert something interesting
        bytes = Buffer.concat([bytes.subarray(0, at), INTERESTING[random(INTERESTING.length)]!, bytes.subarray(at)]);
        break;
      case 2: // delete a run
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + random(8))]);
        break;
      case 3: {
        // repeat a run (long lines, many fields)
        const run = bytes.subarray(at, at + 1 + random(20));
        const repeated = Buffer.alloc(random(3000), run.length > 0 ? run : 'a');
        bytes = Buffer.concat([bytes.subarray(0, at), repeated, bytes.subarray(at)]);
        break;
      }
      case 4: // splice another seed in
        bytes = Buffer.concat([bytes.subarray(0, at), SEEDS[random(SEEDS.length)]!]);
        break;
      default: // random bytes
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(Array.from({ length: random(16) }, () => random(256)))]);
    }
  }
  return bytes;
}

/** Every event, or the error code it ended with, as one comparable string. */
function outcome(kind: 'request' | 'response', pieces: Buffer[]): string {
  const reader = kind === 'request' ? new RequestReader() : new ResponseReader();
  if (reader instanceof ResponseReader) for (let i = 0; i < 8; i++) reader.expectResponseTo('GET');
  const events: string[] = [];
  const drain = () => {
    for (let guard = 0; guard < 100_000; guard++) {
      const event = reader.next();
      if (event.type === 'need-more' || event.type === 'closed') return;
      if (event.type === 'paused') {
        reader.resume();
        continue;
      }
      events.push(
        event.type === 'head'
          ? `head:${JSON.stringify(event.head)}:${JSON.stringify(event.framing)}`
          : event.type === 'body'
            ? 'body'
            : `end:${JSON.stringify(event.trailers)}`,
      );
    }
    throw new Error('the reader produced events without end');
  };
  try {
    for (const piece of pieces) {
      reader.push(piece);
      drain();
    }
    reader.peerClosed();
    drain();
  } catch (error) {
    if (!(error instanceof HttpProtocolError)) throw error;
    events.push(`error:${error.code}`);
  }
  // Body events depend on how the bytes were split; their concatenation does not, so compare heads,
  // ends and errors only.
  return events.filter((event) => event !== 'body').join('\n');
}

function split(bytes: Buffer, random: (limit: number) => number): Buffer[] {
  const pieces: Buffer[] = [];
  let start = 0;
  while (start < bytes.length) {
    const length = 1 + random(Math.min(64, bytes.length - start));
    pieces.push(bytes.subarray(start, start + length));
    start += length;
  }
  return pieces;
}

export interface FuzzResult {
  inputs: number;
  failure: { input: Buffer; kind: 'request' | 'response'; message: string } | null;
}

/** Runs the fuzzer until `seconds` have passed or `maxInputs` inputs were tried. */
export function runFuzz({
  seconds,
  seed,
  maxInputs = Number.POSITIVE_INFINITY,
}: {
  seconds: number;
  seed: number;
  maxInputs?: number;
}): FuzzResult {
  const random = makeRandom(seed);
  const deadline = Date.now() + seconds * 1000;
  let inputs = 0;
  while (Date.now() < deadline && inputs < maxInputs) {
    const input = mutate(SEEDS[random(SEEDS.length)]!, random);
    for (const kind of ['request', 'response'] as const) {
      inputs++;
      try {
        const whole = outcome(kind, [input]);
        const pieces = outcome(kind, split(input, random));
        if (whole !== pieces) return { inputs, failure: { input, kind, message: `split changes the outcome:\n${whole}\n---\n${pieces}` } };
      } catch (error) {
        return { inputs, failure: { input, kind, message: `threw ${(error as Error).stack ?? String(error)}` } };
      }
    }
  }
  return { inputs, failure: null };
}

fuzzCommand(import.meta.url, 'fuzz', 'inputs', (options) => {
  const { inputs, failure } = runFuzz(options);
  return {
    inputs,
    finding: failure && { input: failure.input, stem: failure.kind, message: `(${failure.kind} reader)\n${failure.message}` },
  };
});
