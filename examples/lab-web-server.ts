/**
 * The lab web server: serves the files of its folder on port 13331, one request at a time.
 *
 *   node dist/examples/lab-web-server.js [PORT [FOLDER]]     (defaults: 13331 and the current folder)
 *   then open http://127.0.0.1:13331/HelloWorld.html
 *
 * Like the lab's server it handles one connection completely (read the request, find the file, send
 * a status line, header lines and the file, close) before it looks at the next one. Connections that
 * arrive meanwhile wait in a queue. `sockhttp serve` is the concurrent version of this program.
 *
 * The protocol work is done by sockhttp's public API: RequestReader parses the request bytes,
 * serializeResponseHead writes the status line and header lines.
 */
import { readFile } from 'node:fs/promises';
import { type Socket, createServer } from 'node:net';
import { extname, join, resolve } from 'node:path';
import { HttpProtocolError, RequestReader, type RequestHead, serializeResponseHead } from '../src/index.js';

const port = Number(process.argv[2] ?? 13331);
const folder = resolve(process.argv[3] ?? '.');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Reads from the socket until a whole request head has arrived (or the request is malformed). */
function readRequest(socket: Socket): Promise<RequestHead> {
  return new Promise((resolveHead, reject) => {
    const reader = new RequestReader();
    const onData = (chunk: Buffer) => {
      reader.push(chunk);
      try {
        const event = reader.next();
        if (event.type !== 'head') return; // not all of the head yet: wait for more bytes
        socket.off('data', onData);
        resolveHead(event.head);
      } catch (error) {
        socket.off('data', onData);
        reject(error);
      }
    };
    socket.on('data', onData);
    // 'close' too: a connection destroyed by the timeout below never emits 'end'.
    const gone = () => reject(new Error('the client closed before sending a whole request'));
    socket.once('end', gone);
    socket.once('close', gone);
  });
}

/** Status line and header lines, then the body — except for HEAD, whose answer is the head alone. */
function send(socket: Socket, method: string, status: number, contentType: string, body: Buffer): void {
  const head = serializeResponseHead(status, [
    ['Content-Type', contentType],
    ['Content-Length', String(body.length)],
    ['Connection', 'close'],
  ]);
  socket.end(method === 'HEAD' ? head : Buffer.concat([head, body]));
}

async function handleConnection(socket: Socket): Promise<void> {
  socket.on('error', () => {}); // a client that vanishes must not stop the server
  // One at a time means a silent client would block everyone behind it: give each 10 seconds.
  socket.setTimeout(10_000, () => socket.destroy());
  let method = 'GET';
  try {
    const request = await readRequest(socket);
    method = request.method;
    console.log(`${request.method} ${request.target} HTTP/${request.version}`);
    // The lab takes the file name straight from the request line ("/HelloWorld.html"). Here every
    // path segment must be a plain name: none empty, none starting with "." (so no "..", no
    // dotfiles), no slash or backslash once decoded — so nothing outside the folder can be read.
    const segments = request.target.split('?')[0]!.slice(1).split('/').map(decodeURIComponent);
    if (segments.some((segment) => segment === '' || segment.startsWith('.') || /[/\\\0]/.test(segment))) {
      throw new Error('not a file name');
    }
    const contents = await readFile(join(folder, ...segments));
    send(socket, method, 200, TYPES[extname(segments[segments.length - 1]!).toLowerCase()] ?? 'application/octet-stream', contents);
  } catch (error) {
    if (socket.destroyed) return; // timed out or gone: nobody is left to answer
    if (error instanceof HttpProtocolError) {
      send(socket, method, error.status, 'text/plain; charset=utf-8', Buffer.from(`${error.message}\n`));
    } else {
      send(socket, method, 404, 'text/html; charset=utf-8', Buffer.from('<html><body><h1>404 Not Found</h1></body></html>\n'));
    }
  }
  // Wait until this client is gone before taking the next one.
  if (!socket.closed) await new Promise((done) => socket.once('close', done));
}

const waiting: Socket[] = [];
let busy = false;

async function serveQueue(): Promise<void> {
  if (busy) return;
  busy = true;
  for (let socket = waiting.shift(); socket !== undefined; socket = waiting.shift()) {
    await handleConnection(socket);
  }
  busy = false;
}

const server = createServer({ allowHalfOpen: true }, (socket) => {
  waiting.push(socket);
  void serveQueue();
});
server.on('error', (error: NodeJS.ErrnoException) => {
  console.error(`lab-web-server: cannot listen on port ${port}: ${error.code ?? error.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  const actualPort = typeof address === 'object' && address !== null ? address.port : port;
  console.log(`Ready to serve ${folder} at http://127.0.0.1:${actualPort}/ (one request at a time)`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
