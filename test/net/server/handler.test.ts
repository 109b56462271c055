/**
 * HttpServer with handlers of our own, over raw sockets: a plan given at once or later is sent the
 * same way and keeps the connection; a handler that throws, rejects, returns nothing or returns a
 * plan that cannot be sent costs at most its connection, never the process.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, describe, test } from 'node:test';
import { type RequestHandler, type ResponsePlan, createServer } from '../../../src/index.js';
import { rawExchange } from '../../helpers.js';
import { parseResponseAt } from './helpers.js';

const servers: Array<{ close(graceMs?: number): Promise<void> }> = [];
after(async () => {
  for (const server of servers) await server.close(1_000);
});

async function serve(handler: RequestHandler): Promise<number> {
  const server = createServer({ handler });
  servers.push(server);
  return (await server.listen(0, '127.0.0.1')).port;
}

const plan = (text: string): ResponsePlan => ({
  status: 200,
  fields: [['Content-Type', 'text/plain']],
  body: { kind: 'bytes', bytes: Buffer.from(text) },
});
const twoRequests = 'GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

/** The responses in `bytes`, in order. */
function responses(bytes: Buffer): Array<{ status: number; body: string; connection: string | undefined }> {
  const found = [];
  for (let offset = 0; offset < bytes.length; ) {
    const parsed = parseResponseAt(bytes, offset, 'GET');
    if (parsed === null) break;
    found.push({ status: parsed.response.status, body: parsed.response.body.toString(), connection: parsed.response.field('connection') });
    offset = parsed.end;
  }
  return found;
}

/** Handlers that misbehave, as plain JavaScript could: each must cost a 500 and nothing more. */
const broken: Array<[string, RequestHandler]> = [
  [
    'throws',
    () => {
      throw new Error('boom');
    },
  ],
  ['rejects', () => Promise.reject(new Error('boom'))],
  ['gives a field that cannot be sent', () => ({ status: 200, fields: [['Bad Name', 'x']], body: { kind: 'empty' } })],
  ['returns nothing (plain JavaScript)', (() => undefined) as unknown as RequestHandler],
  ['resolves to nothing', (() => Promise.resolve(undefined)) as unknown as RequestHandler],
  [
    'returns a thenable whose then() throws',
    (() => ({
      // biome-ignore lint/suspicious/noThenProperty: a thenable from plain JavaScript, on purpose
      then() {
        throw new Error('boom');
      },
    })) as unknown as RequestHandler,
  ],
  [
    'returns a thenable that resolves to nothing',
    // biome-ignore lint/suspicious/noThenProperty: a thenable from plain JavaScript, on purpose
    (() => ({ then: (resolve: (value: unknown) => void) => resolve(42) })) as unknown as RequestHandler,
  ],
];

describe('HttpServer: what a handler answers', () => {
  test('a plan given at once and a plan given later are sent alike, and the connection is kept between them', async () => {
    let calls = 0;
    const port = await serve((request) =>
      ++calls % 2 === 1 ? plan(`now ${request.target}`) : Promise.resolve(plan(`later ${request.target}`)),
    );
    const answers = responses(await rawExchange(port, twoRequests, { timeoutMs: 10_000 }));
    assert.deepEqual(answers, [
      { status: 200, body: 'now /one', connection: undefined },
      { status: 200, body: 'later /two', connection: 'close' },
    ]);
  });

  for (const [what, handler] of broken) {
    test(`a handler that ${what}: 500, and the server goes on`, async () => {
      const port = await serve(handler);
      for (let round = 0; round < 2; round++) {
        const [answer] = responses(
          await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { timeoutMs: 10_000 }),
        );
        assert.equal(answer?.status, 500);
      }
    });
  }
});

describe('HttpServer over HTTP/2: what a handler answers', () => {
  /** The :status of a GET over h2c (prior knowledge), with node:http2 as the client. */
  function h2Status(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on('error', reject);
      const stream = session.request({ ':path': '/' });
      stream.on('response', (headers) => {
        stream.resume();
        stream.on('end', () => {
          session.close();
          resolve(Number(headers[':status']));
        });
      });
      stream.on('error', reject);
      stream.end();
    });
  }
  for (const [what, handler] of [['answers later', () => Promise.resolve(plan('later'))] as [string, RequestHandler], ...broken]) {
    // A stream the server never answers would hang the test: bounded.
    test(`a handler that ${what}: the same status as over HTTP/1.1, and the server goes on`, { timeout: 10_000 }, async () => {
      const port = await serve(handler);
      const expected = what === 'answers later' ? 200 : 500;
      for (let round = 0; round < 2; round++) assert.equal(await h2Status(port), expected);
    });
  }
});

describe('HttpServer: the access log', () => {
  test('with a log, each answer is logged with the time it took; without one, requests are answered alike', async () => {
    // The clock is read for an answer only when there is a log to write it to: the durations must
    // still be each answer's own (an answer given at once, in the same turn, takes next to nothing).
    const entries: Array<{ target: string; durationMs: number }> = [];
    const handler: RequestHandler = (request) =>
      request.target === '/one' ? new Promise((resolve) => setTimeout(() => resolve(plan('later')), 40)) : plan('now');
    const logged = createServer({ handler, onAccess: (entry) => entries.push({ target: entry.target, durationMs: entry.durationMs }) });
    servers.push(logged);
    const port = (await logged.listen(0, '127.0.0.1')).port;
    assert.deepEqual(
      responses(await rawExchange(port, twoRequests, { timeoutMs: 10_000 })).map((each) => each.status),
      [200, 200],
    );
    assert.deepEqual(
      entries.map((entry) => entry.target),
      ['/one', '/two'],
    );
    assert.ok(entries[0]!.durationMs >= 30, `durationMs ${entries[0]!.durationMs}`);
    assert.ok(entries[1]!.durationMs < entries[0]!.durationMs, `durations ${entries[0]!.durationMs} then ${entries[1]!.durationMs}`);
    const unlogged = await serve(handler);
    assert.deepEqual(
      responses(await rawExchange(unlogged, twoRequests, { timeoutMs: 10_000 })).map((each) => each.status),
      [200, 200],
    );
  });
});

describe('HttpServer: plans are sent as they are now', () => {
  test('a handler that reuses and changes its fields array and body Buffer gets fresh bytes every time', async () => {
    const fields: [string, string][] = [['X-Count', '0']];
    const bytes = Buffer.from('count 0');
    let count = 0;
    const port = await serve(() => {
      count++;
      fields[0] = ['X-Count', String(count)];
      bytes.write(`count ${count % 10}`);
      return { status: 200, fields, body: { kind: 'bytes', bytes } };
    });
    for (let round = 1; round <= 3; round++) {
      const wire = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { timeoutMs: 10_000 });
      const parsed = parseResponseAt(wire, 0, 'GET')!;
      assert.equal(parsed.response.field('x-count'), String(round));
      assert.equal(parsed.response.body.toString(), `count ${round}`);
    }
  });
});

describe('HttpServer: Expect and HTTP/1.0 (RFC 9110 §10.1.1)', () => {
  const ok = () => plan('ok');

  test('Expect: 100-continue on a request without a body keeps the connection', async () => {
    const port = await serve(ok);
    const wire = 'GET /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const answers = responses(await rawExchange(port, wire, { timeoutMs: 10_000 }));
    assert.deepEqual(
      answers.map((answer) => [answer.status, answer.connection]),
      [
        [200, undefined],
        [200, 'close'],
      ],
    );
  });

  test('an HTTP/1.0 request ignores Expect: no 417, the handler answers', async () => {
    const port = await serve(ok);
    const [answer] = responses(await rawExchange(port, 'GET / HTTP/1.0\r\nExpect: something-else\r\n\r\n', { timeoutMs: 10_000 }));
    assert.equal(answer?.status, 200);
    assert.equal(answer?.body, 'ok');
  });

  test('the same Expect in HTTP/1.1 is a 417', async () => {
    const port = await serve(ok);
    const [answer] = responses(
      await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\n\r\n', { timeoutMs: 10_000 }),
    );
    assert.equal(answer?.status, 417);
  });
});
