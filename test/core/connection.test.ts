/**
 * ServerConnectionCore, the server side of an HTTP/1.1 connection without I/O: bytes in, events out;
 * a response in, framing and a reuse decision out. Driven here by a tiny owner that answers every
 * request with a plan of a given status and length, exactly as the socket layer does.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type AfterResponse,
  MAX_DISCARDED_BODY,
  type RespondDecision,
  ServerConnectionCore,
  type ServerEvent,
  decideServerReuse,
} from '../../src/core/connection.js';
import { DEFAULT_REQUEST_LIMITS } from '../../src/core/limits.js';

const GET = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n';

interface Observed {
  /** One entry per answer: the target (or the status of an answer decided without the handler), and the framing sent. */
  answers: { asked: string; decision: RespondDecision; after: AfterResponse }[];
  ended: boolean;
}

/** Feeds `pieces` in order; answers every request at once with `status` and `bodyLength` (a function of the target). */
function drive(
  pieces: string[],
  answer: (target: string) => [number, number | null] = () => [200, 5],
  connection = new ServerConnectionCore(DEFAULT_REQUEST_LIMITS),
): Observed & { connection: ServerConnectionCore } {
  const observed: Observed = { answers: [], ended: false };
  const pump = () => {
    for (let guard = 0; guard < 1000; guard++) {
      const event: ServerEvent = connection.next();
      switch (event.type) {
        case 'need-more':
        case 'stop-reading':
          return;
        case 'body':
          continue;
        case 'end':
          observed.ended = true;
          return;
        case 'answer':
        case 'answer-with': {
          const asked = event.type === 'answer' ? event.head.target : `status ${event.status}`;
          let [status, length] = event.type === 'answer' ? answer(event.head.target) : [event.status, 50];
          let decision = connection.respond(status, length);
          if (decision.kind === 'replace') {
            status = decision.status;
            decision = connection.respond(decision.status, 50);
          }
          observed.answers.push({ asked, decision, after: connection.responseSent() });
          if (connection.state === 'closing') {
            observed.ended = true;
            return;
          }
        }
      }
    }
    assert.fail('the connection never stopped producing events');
  };
  for (const piece of pieces) {
    connection.receive(Buffer.from(piece, 'latin1'));
    pump();
  }
  return { ...observed, connection };
}

const sent = (observed: Observed, index = 0) => {
  const decision = observed.answers[index]?.decision;
  assert.ok(decision?.kind === 'send', `answer ${index} was not sent`);
  return decision;
};

describe('ServerConnectionCore: requests and their answers', () => {
  test('a GET: answered with Content-Length, kept alive, then idle', () => {
    const run = drive([GET]);
    assert.deepEqual(sent(run), { kind: 'send', sendsBody: true, contentLength: 5, isChunked: false, connection: null });
    assert.equal(run.answers[0]!.after, 'read-next');
    assert.equal(run.connection.state, 'idle');
  });

  test('pipelined requests are answered in order, each after the one before, whatever the split', () => {
    const wire = `${GET}GET /b HTTP/1.1\r\nHost: x\r\n\r\nHEAD /c HTTP/1.1\r\nHost: x\r\n\r\n`;
    for (let split = 0; split <= wire.length; split++) {
      const run = drive([wire.slice(0, split), wire.slice(split)]);
      assert.deepEqual(
        run.answers.map((answer) => answer.asked),
        ['/a', '/b', '/c'],
        `split at ${split}`,
      );
    }
    const byteByByte = drive([...wire]);
    assert.deepEqual(
      byteByByte.answers.map((answer) => answer.asked),
      ['/a', '/b', '/c'],
    );
  });

  test('HEAD: no body, but the Content-Length a GET would have (RFC 9110 §9.3.2)', () => {
    const run = drive(['HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n']);
    assert.deepEqual(sent(run), { kind: 'send', sendsBody: false, contentLength: 5, isChunked: false, connection: null });
  });

  test('304 and 204 carry no Content-Length and no body', () => {
    for (const status of [304, 204]) {
      const run = drive([GET], () => [status, 0]);
      assert.equal(sent(run).contentLength, null);
      assert.equal(sent(run).sendsBody, false);
    }
  });

  test('a body of unknown length: chunked for HTTP/1.1; for HTTP/1.0, ended by the close', () => {
    assert.equal(sent(drive([GET], () => [200, null])).isChunked, true);
    const old = drive(['GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'], () => [200, null]);
    assert.deepEqual(sent(old), { kind: 'send', sendsBody: true, contentLength: null, isChunked: false, connection: 'close' });
    assert.equal(old.ended, true);
  });

  test('HTTP/1.0: closed unless it asks for keep-alive, and then told so', () => {
    assert.equal(sent(drive(['GET /a HTTP/1.0\r\n\r\n'])).connection, 'close');
    assert.equal(sent(drive(['GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'])).connection, 'keep-alive');
  });

  test('Connection: close is honoured, and the connection ends after the answer', () => {
    const run = drive(['GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', GET]);
    assert.equal(sent(run).connection, 'close');
    assert.equal(run.answers.length, 1, 'nothing after a close is answered');
    assert.equal(run.ended, true);
  });
});

describe('ServerConnectionCore: Expect (RFC 9110 §10.1.1)', () => {
  test('100-continue without a body keeps the connection', () => {
    const run = drive(['GET /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n', GET]);
    assert.equal(sent(run).connection, null);
    assert.equal(run.answers.length, 2);
  });

  test('100-continue with a body not sent yet: answered at once, and closed (the body may never come)', () => {
    const run = drive(['POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n']);
    assert.equal(run.answers[0]!.asked, '/a');
    assert.equal(sent(run).connection, 'close');
  });

  test('an unknown expectation is 417 in HTTP/1.1 and ignored in HTTP/1.0', () => {
    const modern = drive(['GET /a HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n']);
    assert.equal(modern.answers[0]!.asked, 'status 417');
    const old = drive(['GET /a HTTP/1.0\r\nExpect: teapot\r\n\r\n']);
    assert.equal(old.answers[0]!.asked, '/a');
  });
});

describe('ServerConnectionCore: request bodies are never waited for', () => {
  test('a body trickling in: the answer goes out at once, the rest is discarded, then the next request', () => {
    const run = drive(['POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab']);
    assert.equal(run.answers[0]!.after, 'await-body');
    assert.equal(run.connection.state, 'discarding');
    const more = drive(['cdef', GET], undefined, run.connection);
    assert.deepEqual(
      more.answers.map((answer) => answer.asked),
      ['/a'],
    );
    assert.equal(more.connection.state, 'idle');
  });

  test('a body that came with its head is read before the answer: an error in it is the answer', () => {
    const run = drive(['POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n']);
    assert.equal(run.answers[0]!.asked, 'status 400');
    assert.equal(sent(run).connection, 'close');
  });

  test('an error in a body after the handler was asked replaces its answer', () => {
    const connection = new ServerConnectionCore(DEFAULT_REQUEST_LIMITS);
    connection.receive(Buffer.from('POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'));
    assert.equal(connection.next().type, 'answer');
    connection.receive(Buffer.from('zz\r\n'));
    assert.equal(connection.next().type, 'need-more');
    assert.deepEqual(connection.respond(200, 5), { kind: 'replace', status: 400 });
    assert.equal(connection.respond(400, 50).kind, 'send');
    assert.equal(connection.responseSent(), 'close');
  });

  test('a body announced larger than can be discarded: answered, then closed', () => {
    const run = drive([`POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX_DISCARDED_BODY + 1}\r\n\r\n`]);
    assert.equal(sent(run).connection, 'close');
  });
});

describe('ServerConnectionCore: what is not a request', () => {
  test('bytes that cannot begin a request (a TLS ClientHello) are a 400 at once', () => {
    const run = drive(['\x16\x03\x01\x02\x00\x01']);
    assert.equal(run.answers[0]!.asked, 'status 400');
    assert.equal(run.ended, true);
  });

  test('empty lines start the head: the head timer runs from the first of them', () => {
    const { connection } = drive(['\r\n']);
    assert.equal(connection.state, 'head');
    assert.equal(connection.headTimedOut().type, 'answer-with');
  });

  test('a client that closes between requests ends the connection; one that closes mid-head too, unanswered', () => {
    const between = drive([GET]);
    between.connection.peerClosed();
    assert.equal(between.connection.next().type, 'end');
    const midHead = drive(['GET /a HT']);
    midHead.connection.peerClosed();
    assert.equal(midHead.connection.next().type, 'end');
    assert.equal(midHead.answers.length, 0);
  });

  test('shutting down: a connection idle between requests ends now; a busy one after its answer, told to close', () => {
    const idle = new ServerConnectionCore(DEFAULT_REQUEST_LIMITS);
    idle.receive(Buffer.from(GET));
    assert.equal(idle.next().type, 'answer');
    idle.respond(200, 5);
    assert.equal(idle.responseSent(), 'read-next');
    assert.equal(idle.next().type, 'need-more');
    idle.shutDown();
    assert.equal(idle.next().type, 'end');
    const busy = new ServerConnectionCore(DEFAULT_REQUEST_LIMITS);
    busy.receive(Buffer.from(GET));
    assert.equal(busy.next().type, 'answer');
    busy.shutDown();
    const decision = busy.respond(200, 5);
    assert.equal(decision.kind === 'send' && decision.connection, 'close');
    assert.equal(busy.responseSent(), 'close');
  });

  test('shutting down: a fresh connection, or one whose first head is on its way, gets that request answered, then closes', () => {
    for (const before of ['', 'GET /a HT']) {
      const fresh = new ServerConnectionCore(DEFAULT_REQUEST_LIMITS);
      fresh.receive(Buffer.from(before));
      assert.equal(fresh.next().type, 'need-more');
      fresh.shutDown();
      assert.equal(fresh.next().type, 'need-more', 'not ended before its request');
      fresh.receive(Buffer.from(before === '' ? GET : GET.slice(before.length)));
      assert.equal(fresh.next().type, 'answer');
      const decision = fresh.respond(200, 5);
      assert.equal(decision.kind === 'send' && decision.connection, 'close');
      assert.equal(fresh.responseSent(), 'close');
    }
  });

  test('a response without a request is our bug, reported as such', () => {
    assert.throws(() => new ServerConnectionCore(DEFAULT_REQUEST_LIMITS).respond(200, 5), { code: 'internal-error' });
  });
});

describe('ServerConnectionCore: closing at once or lingering', () => {
  const closing = (pieces: string[], answer?: (target: string) => [number, number | null]) => {
    const run = drive(pieces, answer);
    assert.equal(run.connection.state, 'closing');
    return run.connection.mayCloseAtOnce;
  };

  test('the client asked for the close and everything it sent has been read: closed at once', () => {
    assert.equal(closing(['GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']), true);
    assert.equal(closing(['GET /a HTTP/1.0\r\n\r\n']), true);
    assert.equal(closing(['POST /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc']), true);
  });

  test('bytes after the closing request, or a body still to come: the close lingers', () => {
    assert.equal(closing([`GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n${GET}`]), false);
    assert.equal(closing(['POST /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 9\r\n\r\nabc']), false);
  });

  test('a close the server decides lingers: a protocol error, a body too large', () => {
    assert.equal(closing(['GET /a HTTP/1.1\r\n\r\n']), false); // no Host: 400
    assert.equal(closing([`POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX_DISCARDED_BODY + 1}\r\n\r\n`]), false);
  });

  test('a close because of a shutdown lingers (the next request may be on its way); once the client has shut its side, never', () => {
    const connection = new ServerConnectionCore(DEFAULT_REQUEST_LIMITS);
    connection.receive(Buffer.from(GET));
    assert.equal(connection.next().type, 'answer');
    connection.shutDown();
    connection.respond(200, 5);
    assert.equal(connection.responseSent(), 'close');
    assert.equal(connection.mayCloseAtOnce, false);
    connection.peerClosed();
    assert.equal(connection.mayCloseAtOnce, true);
  });
});

describe('decideServerReuse: every reason in one place', () => {
  const base = {
    clientWantsKeepAlive: true,
    version: '1.1' as const,
    requestFraming: { kind: 'none' as const },
    expectsContinue: false,
    discardedBytes: 0,
    failed: false,
    responseEndsAtClose: false,
    shuttingDown: false,
  };
  const cases: [string, Partial<typeof base>, string | null][] = [
    ['a plain request', {}, null],
    ['the client asked to close', { clientWantsKeepAlive: false }, 'client-asked'],
    ['a protocol error', { failed: true }, 'protocol-error'],
    ['shutting down', { shuttingDown: true }, 'shutting-down'],
    ['a body announced too large', { requestFraming: { kind: 'length', length: MAX_DISCARDED_BODY + 1 } as never }, 'body-too-large'],
    ['a body counted too large', { discardedBytes: MAX_DISCARDED_BODY + 1 }, 'body-too-large'],
    ['100-continue with a body', { expectsContinue: true, requestFraming: { kind: 'chunked' } as never }, 'body-withheld'],
    ['100-continue without a body', { expectsContinue: true }, null],
    ['a response ended by the close', { responseEndsAtClose: true }, 'length-by-close'],
  ];
  for (const [name, facts, reason] of cases) {
    test(`${name} → ${reason ?? 'kept'}`, () => {
      const verdict = decideServerReuse({ ...base, ...facts });
      assert.equal(verdict.keepAlive ? null : verdict.reason, reason);
    });
  }
});
