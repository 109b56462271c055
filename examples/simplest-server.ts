// "The world's simplest HTTP server", from the socket lab, on node:net only.
// It accepts a connection, reads until it has the whole request head, prints
// that head, and answers every request -- whatever its method or target --
// with the same small page. Then it closes the connection.
//
// Usage: node dist/examples/simplest-server.js [PORT]
//        (default 8080; 0 asks the operating system for any free port)
// Try:   curl -v http://127.0.0.1:8080/

import { createServer, type Socket } from 'node:net';

const PROGRAM_NAME = 'simplest-server';

// Loopback only: a lab server has no business being reachable from elsewhere.
const HOST = '127.0.0.1';
const DEFAULT_PORT = 8080;

// Ports below 1024 need special privileges on most systems, so we do not offer
// them; 0 is allowed because it means "any free port", handy for tests.
const LOWEST_UNPRIVILEGED_PORT = 1024;

// A request head larger than this is almost certainly not a browser: without a
// cap, a peer could make us buffer bytes for ever while waiting for CRLF CRLF.
const MAX_REQUEST_HEAD_BYTES = 64 * 1024;

// A peer that connects and then goes silent (or trickles a byte now and then,
// the "slowloris" attack) would otherwise hold its connection open for ever.
const IDLE_TIMEOUT_MILLISECONDS = 10_000;

// The head ends at the first empty line (RFC 9112 section 2.1).
const END_OF_HEAD = Buffer.from('\r\n\r\n', 'latin1');

const CARRIAGE_RETURN = 0x0d;
const LINE_FEED = 0x0a;

const PAGE_BODY = Buffer.from(
  '<!DOCTYPE html>\n' +
    '<html lang="en">\n' +
    '<head><meta charset="UTF-8"><title>Wireshark lab</title></head>\n' +
    "<body><p>Congratulations! You've downloaded the first Wireshark lab file!</p></body>\n" +
    '</html>\n',
  'utf8',
);

// The answer never changes, so the whole response is built once at start-up.
// Content-Length must count bytes, not characters, which is why it is taken
// from the Buffer. "Connection: close" tells the client that we will close the
// connection after this response rather than wait for another request.
const RESPONSE = Buffer.concat([
  Buffer.from(
    'HTTP/1.1 200 OK\r\n' +
      'Content-Type: text/html; charset=UTF-8\r\n' +
      `Content-Length: ${PAGE_BODY.length}\r\n` +
      'Connection: close\r\n' +
      '\r\n',
    'latin1',
  ),
  PAGE_BODY,
]);

const portText = process.argv[2] ?? String(DEFAULT_PORT);
const port = Number(portText);
const isPortAllowed = /^[0-9]{1,5}$/.test(portText) && (port === 0 || (port >= LOWEST_UNPRIVILEGED_PORT && port <= 65535));

if (!isPortAllowed) {
  process.stderr.write(`${PROGRAM_NAME}: PORT must be 0 or between ${LOWEST_UNPRIVILEGED_PORT} and 65535\n`);
  process.exit(1);
}

// Kept so that a shutdown can close connections that are still open; otherwise
// the process would wait for each of them to finish or time out.
const openSockets = new Set<Socket>();

const server = createServer((socket) => {
  openSockets.add(socket);
  socket.once('close', () => openSockets.delete(socket));
  socket.setTimeout(IDLE_TIMEOUT_MILLISECONDS, () => socket.destroy());

  // A peer that resets the connection is not our problem to report, but an
  // 'error' event with no listener would crash the whole server.
  socket.on('error', () => {});

  // Invariant: receivedBytes holds everything read so far, and no CRLF CRLF
  // starts before searchStart (bytes before it were already searched).
  let receivedBytes = Buffer.alloc(0);

  const readRequestHead = (chunk: Buffer): void => {
    // The terminator may straddle two reads, so step back three bytes.
    const searchStart = Math.max(0, receivedBytes.length - (END_OF_HEAD.length - 1));
    receivedBytes = Buffer.concat([receivedBytes, chunk]);

    const endOfHeadIndex = receivedBytes.indexOf(END_OF_HEAD, searchStart);
    const headLength = endOfHeadIndex === -1 ? receivedBytes.length : endOfHeadIndex + END_OF_HEAD.length;
    if (headLength > MAX_REQUEST_HEAD_BYTES) {
      process.stdout.write(`--- request head from ${describePeer(socket)} is too large; closing ---\n`);
      socket.destroy();
      return;
    }
    if (endOfHeadIndex === -1) {
      return; // Not the whole head yet: wait for the next read.
    }

    // Anything after the head (a body, a pipelined request) is ignored. The
    // socket keeps flowing with no 'data' listener, so such bytes are read and
    // dropped: closing with unread bytes in the kernel's buffer would make it
    // send a reset, and the client could lose our response.
    socket.off('data', readRequestHead);

    const requestHead = receivedBytes.subarray(0, headLength);
    process.stdout.write(`--- request from ${describePeer(socket)} ---\n${escapeForTerminal(requestHead)}`);

    // end() sends our response and then a FIN; Node closes the socket fully
    // once the client closes its side too (or the idle timeout fires).
    socket.end(RESPONSE);
  };

  socket.on('data', readRequestHead);
});

server.once('listening', () => {
  const address = server.address();
  const listeningPort = typeof address === 'object' && address !== null ? address.port : port;
  process.stdout.write(`Listening on http://${HOST}:${listeningPort}/\n`);
});

server.on('error', (error: NodeJS.ErrnoException) => {
  process.stderr.write(`${PROGRAM_NAME}: cannot listen on ${HOST}:${port}: ${error.code ?? error.message}\n`);
  process.exitCode = 1;
});

server.listen({ host: HOST, port });

// `once`, so that a second Ctrl-C falls back to Node's default and kills the
// process even if closing somehow hangs.
process.once('SIGINT', shutDown);
process.once('SIGTERM', shutDown);

function shutDown(signal: NodeJS.Signals): void {
  process.stdout.write(`Received ${signal}; closing the server.\n`);
  server.close();
  for (const socket of openSockets) {
    socket.destroy();
  }
  // Nothing is left to keep the event loop busy, so Node exits with code 0.
}

function describePeer(socket: Socket): string {
  return `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? '?'}`;
}

// The request comes from whoever connected, and printing raw bytes would let
// them send escape sequences to our terminal (moving the cursor, rewriting
// earlier lines, changing the window title). Only printable ASCII and CRLF line
// ends are printed as they are; every other byte, including a lone CR or LF,
// is shown as \xNN.
function escapeForTerminal(bytes: Buffer): string {
  let text = '';
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index];
    if (byte === CARRIAGE_RETURN && bytes[index + 1] === LINE_FEED) {
      text += '\r\n';
      index++;
    } else if (byte >= 0x20 && byte < 0x7f) {
      text += String.fromCharCode(byte);
    } else {
      text += `\\x${byte.toString(16).padStart(2, '0')}`;
    }
  }
  return text;
}
