/**
 * Parser micro-benchmark: one realistic browser request head (~500 bytes, 12 fields) parsed many
 * times by RequestReader, in nanoseconds per request. Before timing, the result is checked.
 *
 *   npm run bench:parser
 *
 * As context only, the same head is sent N times over one keep-alive loopback connection to a
 * node:http server (llhttp), which includes the socket and the server's own work: it is an upper
 * bound for llhttp, not a like-for-like figure.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { RequestReader } from '../src/index.js';

const HEAD = Buffer.from(
  [
    'GET /assets/app.js?v=3 HTTP/1.1',
    'Host: 127.0.0.1:13331',
    'Connection: keep-alive',
    'sec-ch-ua: "Chromium";v="156", "Not A(Brand";v="24"',
    'sec-ch-ua-mobile: ?0',
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36',
    'sec-ch-ua-platform: "Linux"',
    'Accept: */*',
    'Sec-Fetch-Site: same-origin',
    'Sec-Fetch-Mode: no-cors',
    'Sec-Fetch-Dest: script',
    'Referer: http://127.0.0.1:13331/index.html',
    'Accept-Encoding: gzip, deflate, br, zstd',
    '',
    '',
  ].join('\r\n'),
  'latin1',
);

function parseOnce(): string {
  const reader = new RequestReader();
  reader.push(HEAD);
  const event = reader.next();
  if (event.type !== 'head') throw new Error('no head');
  return event.head.target;
}

function measure(iterations: number): number {
  const start = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < iterations; i++) sink += parseOnce().length;
  const elapsed = Number(process.hrtime.bigint() - start);
  if (sink === 0) throw new Error('unreachable');
  return elapsed / iterations;
}

async function nodeHttpRoundTrip(requests: number): Promise<number> {
  const server = createServer((_request, response) => response.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const socket = connect({ port, host: '127.0.0.1' });
  await new Promise((resolve) => socket.once('connect', resolve));
  const start = process.hrtime.bigint();
  for (let i = 0; i < requests; i++) {
    socket.write(HEAD);
    await new Promise((resolve) => socket.once('data', resolve));
  }
  const elapsed = Number(process.hrtime.bigint() - start);
  socket.destroy();
  server.close();
  return elapsed / requests;
}

// Check the answer before timing anything.
{
  const reader = new RequestReader();
  reader.push(HEAD);
  const event = reader.next();
  assert.equal(event.type, 'head');
  if (event.type === 'head') {
    assert.equal(event.head.method, 'GET');
    assert.equal(event.head.target, '/assets/app.js?v=3');
    assert.equal(event.head.fields.size, 12);
    assert.equal(event.head.fields.get('accept-encoding'), 'gzip, deflate, br, zstd');
    assert.equal(event.keepAlive, true);
  }
}

measure(20_000); // warm-up: let the JIT settle
const samples = Array.from({ length: 5 }, () => measure(200_000)).sort((a, b) => a - b);
const median = samples[2]!;
console.log(`RequestReader: ${median.toFixed(0)} ns per ${HEAD.length}-byte, 12-field request head (median of 5 × 200,000)`);
const roundTrip = await nodeHttpRoundTrip(20_000);
console.log(
  `context: a node:http keep-alive round trip over loopback (llhttp + socket + server): ${(roundTrip / 1000).toFixed(1)} µs per request`,
);
