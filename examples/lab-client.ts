/**
 * The lab HTTP client:  node dist/examples/lab-client.js SERVER_HOST SERVER_PORT FILENAME
 *
 * Sends `GET /FILENAME` to the server and displays the server's response exactly as it arrived:
 * status line, header lines, empty line, body. The connection and the parsing of the response are
 * done by sockhttp's public API (`request`); `onRawBytes` hands us every byte as it was received.
 */
import { ClientError, request } from '../src/index.js';

const [host, port, fileName] = process.argv.slice(2);
if (host === undefined || port === undefined || fileName === undefined) {
  console.error('usage: client SERVER_HOST SERVER_PORT FILENAME');
  process.exit(2);
}

const path = fileName.startsWith('/') ? fileName : `/${fileName}`;
const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;

try {
  const response = await request(url, {
    timeoutMs: 10_000,
    onRawBytes: (bytes) => process.stdout.write(bytes),
  });
  // The bytes are already on screen; reading the body to its end tells us the response is complete.
  for await (const _chunk of response.body);
} catch (error) {
  console.error(`client: ${error instanceof ClientError ? error.message : String(error)}`);
  process.exit(1);
}
