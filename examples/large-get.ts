// The socket lab's GET for a larger file: the same hand-written request as
// simple-get.ts, but this time we keep reading until the server closes the
// connection, because a response of several kilobytes does not come back in
// one read. Only node:net is used.
//
// Usage: node dist/examples/large-get.js [HOST [PORT]]
//        (defaults: gaia.cs.umass.edu 80)

import { connect } from 'node:net';

const PROGRAM_NAME = 'large-get';
const DEFAULT_HOST = 'gaia.cs.umass.edu';
const DEFAULT_PORT = 80;

// If the server goes quiet for this long (including while connecting), give up.
// It is a limit on silence, not on the whole download: every arriving chunk
// restarts the clock.
const TIMEOUT_MILLISECONDS = 10_000;

// We keep everything in memory until the end, so a server that never stops
// sending must not be allowed to use up all of it.
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

// An HTTP/1.1 connection is persistent by default (RFC 9112 section 9.3): after
// the response the server keeps the connection open and waits for our next
// request. This program learns that the response is complete only when the
// connection closes, so without help it would wait until the server's idle
// timer ran out. "Connection: close" (RFC 9112 section 9.6) tells the server
// this is our only request, so it closes the connection right after the last
// byte of the response -- and that close is our "end of message".
//
// As in the lab, the Host field stays gaia.cs.umass.edu even when HOST on the
// command line points at a local stand-in.
const REQUEST =
  'GET /wireshark-labs/HTTP-wireshark-file3.html HTTP/1.1\r\n' + 'Host:gaia.cs.umass.edu\r\n' + 'Connection: close\r\n' + '\r\n';

const host = process.argv[2] ?? DEFAULT_HOST;
const portText = process.argv[3] ?? String(DEFAULT_PORT);
const port = Number(portText);

if (host === '' || !/^[0-9]{1,5}$/.test(portText) || port < 1 || port > 65535) {
  process.stderr.write(`${PROGRAM_NAME}: usage: node dist/examples/${PROGRAM_NAME}.js [HOST [PORT]]\n`);
  process.exit(1);
}

let isConnected = false;
const receivedChunks: Buffer[] = [];
let receivedByteCount = 0;

const socket = connect({ host, port });
socket.setTimeout(TIMEOUT_MILLISECONDS);

socket.once('connect', () => {
  isConnected = true;
  socket.write(REQUEST);
});

// Each 'data' event is one read: whatever bytes happened to arrive. How the
// response is cut into chunks depends on segment sizes and timing, so we only
// collect them and look at the whole once the server is done.
socket.on('data', (chunk: Buffer) => {
  receivedByteCount += chunk.length;
  if (receivedByteCount > MAX_RESPONSE_BYTES) {
    fail(`response from ${host}:${port} is larger than ${MAX_RESPONSE_BYTES} bytes`);
    return;
  }
  receivedChunks.push(chunk);
});

// 'end' means the server closed its side: nothing more will arrive.
socket.once('end', () => {
  if (receivedByteCount === 0) {
    fail(`${host}:${port} closed the connection without answering`);
    return;
  }
  process.stdout.write(Buffer.concat(receivedChunks, receivedByteCount));
  socket.destroy();
});

socket.once('timeout', () => {
  const phase = isConnected ? 'no data from' : 'cannot connect to';
  fail(`${phase} ${host}:${port} within ${TIMEOUT_MILLISECONDS / 1000} s`);
});

socket.on('error', (error: NodeJS.ErrnoException) => {
  const code = error.code ?? error.message;
  if (isConnected) {
    fail(`connection to ${host}:${port} failed: ${code}`);
  } else {
    fail(`cannot connect to ${host}:${port}: ${code}`);
  }
});

// Set the exit code rather than calling process.exit(), so anything already
// handed to stdout is flushed before the process ends on its own.
function fail(message: string): void {
  process.stderr.write(`${PROGRAM_NAME}: ${message}\n`);
  process.exitCode = 1;
  socket.destroy();
}
