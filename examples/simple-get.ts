// The socket lab's "simple GET": open a TCP connection, write an HTTP request
// by hand, read once, print what came back. Only node:net is used, so every
// byte on the wire is one that this file wrote or received.
//
// Usage: node dist/examples/simple-get.js [HOST [PORT]]
//        (defaults: gaia.cs.umass.edu 80)

import { connect } from 'node:net';

const PROGRAM_NAME = 'simple-get';
const DEFAULT_HOST = 'gaia.cs.umass.edu';
const DEFAULT_PORT = 80;

// If the server says nothing for this long (including while connecting), give
// up instead of hanging forever.
const TIMEOUT_MILLISECONDS = 10_000;

// The request is written out byte for byte, as in the lab. The Host field names
// gaia.cs.umass.edu even when HOST on the command line points somewhere else:
// that lets a local stand-in server answer exactly as the real one would.
// The empty line (the second CRLF) tells the server the request head is over.
const REQUEST = 'GET /wireshark-labs/INTRO-wireshark-file1.html HTTP/1.1\r\n' + 'Host:gaia.cs.umass.edu\r\n' + '\r\n';

const host = process.argv[2] ?? DEFAULT_HOST;
const portText = process.argv[3] ?? String(DEFAULT_PORT);
const port = Number(portText);

if (host === '' || !/^[0-9]{1,5}$/.test(portText) || port < 1 || port > 65535) {
  process.stderr.write(`${PROGRAM_NAME}: usage: node dist/examples/${PROGRAM_NAME}.js [HOST [PORT]]\n`);
  process.exit(1);
}

let isConnected = false;
let hasAnswer = false;

const socket = connect({ host, port });
socket.setTimeout(TIMEOUT_MILLISECONDS);

socket.once('connect', () => {
  isConnected = true;
  socket.write(REQUEST);
});

// Exactly one read. The lab file is 81 bytes, so the whole response (a short
// head plus that body) is a few hundred bytes: the server sends it in one TCP
// segment, and it normally arrives here as one 'data' event.
//
// That is luck, not a promise. TCP delivers a stream of bytes with no message
// boundaries: a bigger response is split across many segments, and even a
// small one may be delivered in pieces. A real client keeps reading until the
// HTTP framing (Content-Length, chunked coding, or the connection closing)
// says the message is complete -- see large-get.ts.
socket.once('data', (chunk: Buffer) => {
  hasAnswer = true;
  process.stdout.write(chunk);
  // We asked for nothing else, so there is no reason to wait for more.
  socket.destroy();
});

socket.once('end', () => {
  if (!hasAnswer) {
    fail(`${host}:${port} closed the connection without answering`);
  }
});

socket.once('timeout', () => {
  const phase = isConnected ? 'no answer from' : 'cannot connect to';
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
