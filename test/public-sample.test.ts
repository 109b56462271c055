/**
 * The demo page (public/index.html) shows "what just happened on the wire": its sample response head
 * must be what the server really sends for HelloWorld.html, the fields in the server's order, with
 * no made-up dates.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PUBLIC_ROOT, rawExchange, startStaticServer } from './helpers.js';

test("the demo page's response sample has the server's fields, in its order, and no dates", async () => {
  const page = readFileSync(join(PUBLIC_ROOT, 'index.html'), 'utf8');
  const sample = /<pre class="wire wire-response"[^>]*><code>([\s\S]*?)<\/code><\/pre>/.exec(page)?.[1];
  assert.ok(sample, 'no response sample in public/index.html');
  assert.doesNotMatch(sample, /\b(19|20)\d\d\b/, 'the sample has a date, which the server would never send again');
  const sampleLines = sample.trim().split('\n');
  const server = await startStaticServer(PUBLIC_ROOT);
  try {
    const request =
      'GET /HelloWorld.html HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: close\r\n\r\n';
    const response = (await rawExchange(server.port, request)).toString('latin1');
    const head = response.slice(0, response.indexOf('\r\n\r\n')).split('\r\n');
    assert.equal(sampleLines[0], head[0]);
    const names = (lines: string[]) => lines.slice(1).map((line) => line.slice(0, line.indexOf(':')));
    assert.deepEqual(
      names(sampleLines),
      names(head).filter((name) => name !== 'Connection'),
    );
    assert.ok(sampleLines.includes(head.find((line) => line.startsWith('Content-Length:'))!), 'Content-Length differs');
  } finally {
    await server.close();
  }
});
