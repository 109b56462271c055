/**
 * --trace for HTTP/2: each frame in and out described with its type, flags, stream, length, fields,
 * HPACK codings, windows and RFC section; peer text escaped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { H2Connection } from '../../../src/core/h2/connection.js';
import { describeFrame } from '../../../src/core/h2/frame-trace.js';
import { makeCodecs } from './codec.js';

function joined() {
  const server = new H2Connection({ role: 'server', ...makeCodecs('hpack'), recordFrames: true });
  const client = new H2Connection({ role: 'client', ...makeCodecs('hpack') });
  const move = () => {
    for (let turn = 0; turn < 10; turn++) {
      const toServer = client.takeOutput();
      const toClient = server.takeOutput();
      if (toServer.length === 0 && toClient.length === 0) return;
      if (toServer.length > 0) server.receive(Buffer.concat(toServer), 0);
      if (toClient.length > 0) client.receive(Buffer.concat(toClient), 0);
    }
  };
  return { server, client, move };
}

test('every frame of an exchange is described, with fields, codings, windows and sections', () => {
  const { server, client, move } = joined();
  move();
  const id = client.request(
    [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/a'],
      [':authority', 'h'],
      ['x-evil', 'a\x9b31mred'],
    ],
    true,
  );
  move();
  server.respond(id, 200, [['content-type', 'text/plain']], false);
  server.sendData(id, Buffer.from('hi'), true);
  client.ping(Buffer.from('pingpong'));
  move();
  const text = server
    .takeFrameRecords()
    .flatMap((record) => describeFrame(record).map((line) => `${record.direction} ${line.element} ${line.text}`))
    .join('\n');
  assert.match(
    text,
    /^out SETTINGS stream 0, \d+ bytes, SETTINGS_MAX_CONCURRENT_STREAMS=100 SETTINGS_MAX_HEADER_LIST_SIZE=65536 {2}\(RFC 9113 §6\.5\)$/m,
  );
  assert.match(text, /^in SETTINGS stream 0, \d+ bytes, SETTINGS_ENABLE_PUSH=0/m);
  assert.match(text, /^out SETTINGS stream 0, 0 bytes, ACK/m);
  assert.match(text, /^in HEADERS stream 1, \d+ bytes, END_STREAM END_HEADERS {2}\(RFC 9113 §6\.2\)$/m);
  assert.match(text, /^in {3}field :method: GET {2}/m);
  assert.match(text, /RFC 7541 §6\.\d/);
  assert.match(text, /^in {3}table dynamic table \d+ bytes/m);
  assert.match(text, /x-evil: a\\x9b31mred/, 'the C1 control is shown escaped');
  assert.ok(!text.includes('\x9b'));
  assert.match(text, /^out HEADERS stream 1, \d+ bytes, END_HEADERS/m);
  assert.match(text, /^out DATA stream 1, 2 bytes, END_STREAM {2}\(RFC 9113 §6\.1\)$/m);
  assert.match(text, /^out {3}window connection window 65533, stream 1 window 65533 \(we may send\) {2}\(RFC 9113 §6\.9\)$/m);
  assert.match(text, /^in PING stream 0, 8 bytes, opaque data 70696e67706f6e67/m);
  assert.match(text, /^out PING stream 0, 8 bytes, ACK/m);
});

test('GOAWAY, RST_STREAM and unknown settings are named', () => {
  const { server, client, move } = joined();
  move();
  server.goAway('ENHANCE_YOUR_CALM', 'calm');
  server.receive(Buffer.from([0, 0, 6, 4, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 1]), 0);
  void client;
  const text = server
    .takeFrameRecords()
    .flatMap((record) => describeFrame(record).map((line) => `${line.element} ${line.text}`))
    .join('\n');
  assert.match(text, /GOAWAY stream 0, 12 bytes, last stream 0, ENHANCE_YOUR_CALM, "calm"/);
  assert.match(text, /unknown 0x1234 \(ignored\)=1/);
});
