/**
 * request() keeps the URL objects it parsed from strings, for the next request with the same
 * string, only while no hook of the caller's is handed the object: a hook that changes the URL it
 * was given must change nothing for later requests.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Agent, ClientError, type ClientEvent, request } from '../../../src/index.js';
import { type RawServer, readAll, startRawServer } from './helpers.js';

const answer = (text: string) => ({
  pieces: [`HTTP/1.1 200 OK\r\nContent-Length: ${text.length}\r\n\r\n${text}`],
  after: 'keep-open' as const,
});

describe('request(): parsed URLs kept by their string', () => {
  let first: RawServer;
  let second: RawServer;
  before(async () => {
    first = await startRawServer(answer('first'));
    second = await startRawServer(answer('second'));
  });
  after(async () => {
    await first.close();
    await second.close();
  });

  test('a hook that changes the URL it was given does not redirect a later request with the same string', async () => {
    const url = first.url('/page');
    const changeIt = (event: ClientEvent) => {
      if (event.type === 'request') event.url.port = String(second.port);
    };
    // Before and after the hook's request, with and without an agent: every one reaches the first server.
    for (const withHook of [false, true, false, false]) {
      const agent = new Agent();
      try {
        const response = await request(url, { agent, ...(withHook && { onEvent: changeIt }) });
        assert.equal((await readAll(response.body)).toString(), 'first');
        if (!withHook) assert.equal(response.url, url);
      } finally {
        agent.close();
      }
    }
  });

  test('a URL that does not parse fails every time, with bad-url', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      await assert.rejects(request('http://[not an address/'), (error: unknown) => {
        assert.ok(error instanceof ClientError);
        assert.equal(error.code, 'bad-url');
        return true;
      });
    }
  });

  test('two strings for two servers are never mixed up', async () => {
    for (let round = 0; round < 3; round++) {
      for (const [server, text] of [
        [first, 'first'],
        [second, 'second'],
      ] as const) {
        const response = await request(server.url('/x'));
        assert.equal((await readAll(response.body)).toString(), text);
      }
    }
  });
});
