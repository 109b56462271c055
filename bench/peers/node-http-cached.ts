/**
 * The best a node:http static server does: every file of the folder read into memory at start, with
 * its headers ready, answered from a Map. A peer for the benchmark (bench/ may use node:http).
 *
 *   node dist/bench/peers/node-http-cached.js DOCROOT PORT
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import mime from 'mime-types';

const [root, portText] = process.argv.slice(2);
if (root === undefined || portText === undefined) {
  console.error('usage: node-http-cached DOCROOT PORT');
  process.exit(2);
}

/** Files up to this size are cached; bigger ones (the 1 GiB file) are not part of its workloads. */
const MAX_CACHED = 16 * 1024 * 1024;
const files = new Map<string, { body: Buffer; headers: Record<string, string> }>();
for (const name of readdirSync(root)) {
  const path = join(root, name);
  const stats = statSync(path);
  if (!stats.isFile() || stats.size > MAX_CACHED) continue;
  const body = readFileSync(path);
  files.set(`/${name}`, {
    body,
    headers: {
      'Content-Type': mime.contentType(name) || 'application/octet-stream',
      'Content-Length': String(body.length),
      'Last-Modified': stats.mtime.toUTCString(),
      ETag: `"${stats.mtimeMs.toString(16)}-${stats.size.toString(16)}"`,
    },
  });
}

const notFound = Buffer.from('<!doctype html><title>404 Not Found</title><h1>404 Not Found</h1>\n');
const server = createServer((request, response) => {
  const file = files.get((request.url ?? '/').split('?')[0]!);
  if (file === undefined) {
    response.writeHead(404, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': String(notFound.length) });
    response.end(notFound);
    return;
  }
  response.writeHead(200, file.headers);
  response.end(request.method === 'HEAD' ? undefined : file.body);
});
server.keepAliveTimeout = 5_000;
server.listen(Number(portText), '127.0.0.1', () => console.log(`listening on ${portText}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
