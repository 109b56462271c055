/**
 * The floor of Node: the least a program on node:net can do per request. Each file of the folder is
 * read at start into one complete response (status line, fields and body, Date fixed at start);
 * each request is found by its blank line and answered with one write of the Buffer its path names
 * (and a close when it carries `Connection: close`, as wrk sends it). No field is parsed, nothing
 * is checked, and there is no timer. It is not a server anyone should run: the bench shows it beside
 * sockhttp so the CPU time per request that Node's own sockets and event loop cost is on the table,
 * apart from what sockhttp adds to it.
 *
 *   node dist/bench/peers/node-net-floor.js DOCROOT PORT
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import mime from 'mime-types';

const [root, portText] = process.argv.slice(2);
if (root === undefined || portText === undefined) {
  console.error('usage: node-net-floor DOCROOT PORT');
  process.exit(2);
}

const MAX_CACHED = 16 * 1024 * 1024;
const date = new Date().toUTCString();

function response(status: string, type: string, body: Buffer, extra = ''): Buffer {
  const head = `HTTP/1.1 ${status}\r\nServer: floor\r\nDate: ${date}\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\n${extra}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

const answers = new Map<string, Buffer>();
for (const name of readdirSync(root)) {
  const path = join(root, name);
  const stats = statSync(path);
  if (!stats.isFile() || stats.size > MAX_CACHED) continue;
  const type = mime.contentType(name) || 'application/octet-stream';
  const validators = `Last-Modified: ${stats.mtime.toUTCString()}\r\nETag: "${stats.mtimeMs.toString(16)}-${stats.size.toString(16)}"\r\n`;
  answers.set(`/${name}`, response('200 OK', type, readFileSync(path), validators));
}
const notFound = response('404 Not Found', 'text/html; charset=utf-8', Buffer.from('<!doctype html><title>404 Not Found</title>\n'));

const BLANK_LINE = Buffer.from('\r\n\r\n');
const CLOSE = Buffer.from('\r\nConnection: close\r\n');

const server = createServer({ noDelay: true }, (socket) => {
  let held: Buffer | null = null;
  socket.on('data', (chunk: Buffer) => {
    let bytes = held === null ? chunk : Buffer.concat([held, chunk]);
    held = null;
    for (;;) {
      const end = bytes.indexOf(BLANK_LINE);
      if (end === -1) break;
      // "GET /path HTTP/1.1": the path is between the first two spaces.
      const first = bytes.indexOf(32);
      const second = bytes.indexOf(32, first + 1);
      const answer = answers.get(bytes.toString('latin1', first + 1, second)) ?? notFound;
      // The bench's (b) asks for a close with this exact field, as wrk sends it.
      if (bytes.indexOf(CLOSE) !== -1 && bytes.indexOf(CLOSE) < end) {
        socket.end(answer);
        return;
      }
      socket.write(answer);
      bytes = bytes.subarray(end + 4);
    }
    if (bytes.length > 0) held = bytes;
  });
  socket.on('error', () => socket.destroy());
});
server.listen(Number(portText), '127.0.0.1', () => console.log(`listening on ${portText}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
