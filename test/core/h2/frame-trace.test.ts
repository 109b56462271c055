/**
 * --trace for HTTP/2: each frame in and out described with its type, flags, stream, length, fields,
 * HPACK codings, windows and RFC section; peer text escaped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { H2Connection } from '../../../src/core/h2/connection.js';
import { DataPreview, describeFrame } from '../../../src/core/h2/frame-trace.js';
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

test('--trace-body: the first N bytes of each stream’s DATA, escaped, then nothing more for that stream', () => {
  const { server, client, move } = joined();
  move();
  const request = (path: string) =>
    client.request(
      [
        [':method', 'GET'],
        [':scheme', 'http'],
        [':path', path],
        [':authority', 'h'],
      ],
      true,
    );
  const first = request('/a');
  const second = request('/b');
  move();
  server.takeFrameRecords();
  server.respond(first, 200, [], false);
  server.respond(second, 200, [], false);
  server.sendData(first, Buffer.from('0123456789'), false);
  server.sendData(second, Buffer.from('\x1b[31mred'), false);
  server.sendData(first, Buffer.from('abcdef'), false);
  server.sendData(first, Buffer.from('more'), true);
  server.sendData(second, Buffer.from('!'), true);
  const preview = new DataPreview(12);
  const text = server
    .takeFrameRecords()
    .flatMap((record) => describeFrame(record, preview).map((line) => `${line.element} ${line.text}`))
    .filter((line) => line.startsWith('  data'))
    .join('\n');
  assert.equal(text, ['  data 0123456789', '  data \\x1b[31mred', '  data ab…', '  data !'].join('\n'));
  assert.ok(!text.includes('\x1b'), 'the escape character is shown escaped');
});

test('--trace-body: a stream reset is forgotten, and without a preview no DATA bytes are shown', () => {
  const preview = new DataPreview(4);
  const data = (streamId: number, bytes: string, endStream = false) => ({
    direction: 'out' as const,
    header: { length: bytes.length, type: 0, flags: endStream ? 1 : 0, streamId },
    frame: { type: 'DATA' as const, streamId, endStream, data: Buffer.from(bytes), padLength: null },
  });
  assert.equal(preview.take(data(1, 'abcdef'))?.toString(), 'abcd');
  assert.equal(preview.take(data(1, 'gh')), null);
  preview.take({
    direction: 'in',
    header: { length: 4, type: 3, flags: 0, streamId: 1 },
    frame: { type: 'RST_STREAM', streamId: 1, errorCode: 8 },
  });
  assert.equal(preview.take(data(1, 'xyz'))?.toString(), 'xyz', 'after the reset the stream id is forgotten');
  assert.ok(!describeFrame(data(3, 'hello')).some((line) => line.element.trim() === 'data'));
});
