/**
 * The server side of one HTTP/1.1 connection, with no I/O of its own (h11's Connection is the model):
 * bytes in, events out; a response in, its framing and a reuse decision out. The socket layer
 * (net/server/connection.ts) moves the bytes, runs the one timer the state names, asks the handler
 * and sends the bodies.
 *
 * Theory of operation. The owner feeds `receive(bytes)` and `peerClosed()`, and pulls `next()` until
 * it gets `need-more` or `stop-reading`. For each request the connection reads the head, then
 * whatever of its body has already arrived, and then asks for an answer (`answer`): a static server
 * never waits for a body, so a client trickling one cannot hold its answer back (nginx does the same).
 * The rest of the body is read and dropped while the answer goes out, bounded by MAX_DISCARDED_BODY.
 * The owner calls `respond(status, bodyLength)` when the answer's plan is known, which decides its
 * framing (RFC 9112 §6) and whether the connection persists (decideServerReuse, RFC 9112 §9.3), and
 * `responseSent()` once the last byte is written, which says what comes next. Requests pipelined
 * behind the current one wait unparsed in the reader, so they are answered in order.
 *
 * States, and the timer the owner runs in each (ServerTimeouts):
 *
 *   idle        no byte of the next request yet                     keepAliveMs
 *   head        a request head has begun (bytes, or empty lines)     headersMs, from its first byte
 *   answering   a request is being answered                          stallMs without progress
 *   discarding  the answer is out, the rest of the request body not  headersMs
 *   closing     the last answer is out; nothing more is parsed       the lingering close
 *   closed      both sides are done
 *
 * After a protocol error nothing more is parsed: the error's status is the answer if none has
 * started, and the connection closes after it.
 */
import { HttpProtocolError } from './errors.js';
import type { BodyFraming } from './framing.js';
import type { HttpVersion, RequestHead } from './head-parser.js';
import type { Limits } from './limits.js';
import { RequestReader } from './message-reader.js';

export type ServerConnectionState = 'idle' | 'head' | 'answering' | 'discarding' | 'closing' | 'closed';

/** What moves the connection from one state to another. */
type Input =
  | 'head-begun'
  | 'request'
  /** A response is due that the owner did not ask for: a protocol error (400…) or a head timeout (408). */
  | 'error-answer'
  | 'answered-keep'
  | 'answered-await-body'
  | 'answered-close'
  | 'body-ended'
  | 'peer-closed'
  | 'shut-down';

/** The transitions, as data: any pair not listed is a bug of the owner, reported as such. */
const TRANSITIONS: Readonly<Record<ServerConnectionState, Partial<Record<Input, ServerConnectionState>>>> = {
  idle: { 'head-begun': 'head', request: 'answering', 'error-answer': 'answering', 'peer-closed': 'closing', 'shut-down': 'closing' },
  head: { request: 'answering', 'error-answer': 'answering', 'peer-closed': 'closing', 'shut-down': 'closing' },
  answering: {
    'answered-keep': 'idle',
    'answered-await-body': 'discarding',
    'answered-close': 'closing',
    'peer-closed': 'answering',
    'shut-down': 'answering',
  },
  discarding: { 'body-ended': 'idle', 'peer-closed': 'closing', 'shut-down': 'closing', 'answered-close': 'closing' },
  closing: { 'peer-closed': 'closed', 'shut-down': 'closing' },
  closed: {},
};

export type ServerEvent =
  /** Nothing more to do until more bytes arrive (or the state's timer fires). */
  | { type: 'need-more' }
  /** Ask the handler: the head is in, with whatever body had already arrived. */
  | { type: 'answer'; head: RequestHead }
  /** Answer with this status without asking the handler (a protocol error, an expectation we cannot meet). */
  | { type: 'answer-with'; status: number }
  /** Request body bytes (a view into received memory, valid until the next `receive`). */
  | { type: 'body'; data: Buffer }
  /** Unanswered pipelined bytes are over MAX_PIPELINED_BYTES: stop reading from the socket until the answer is out. */
  | { type: 'stop-reading' }
  /** Nothing more will be read or answered: end our side of the connection (closing). */
  | { type: 'end' };

/** The framing of a response, decided by decideResponseFraming. */
export interface ResponseFraming {
  /** Whether the body is sent: not for HEAD, 1xx, 204 and 304 (RFC 9110 §9.3.2, §15). */
  sendsBody: boolean;
  /** The Content-Length to send, or null for none (chunked, close-delimited, or no content). */
  contentLength: number | null;
  isChunked: boolean;
  /** The Connection field to send: 'close', 'keep-alive' (for an HTTP/1.0 client that asked), or none. */
  connection: 'close' | 'keep-alive' | null;
}

export type RespondDecision =
  | ({ kind: 'send' } & ResponseFraming)
  /** The request failed (in its body) after the handler was asked: send this status instead of its plan. */
  | { kind: 'replace'; status: number };

/** What comes after a response: the next request, the rest of this one's body, or the end. */
export type AfterResponse = 'read-next' | 'await-body' | 'close';

/**
 * A request body up to this size is read and discarded, so the connection can be kept; a larger one
 * (announced, or counted as it arrives) ends the connection after the response.
 */
export const MAX_DISCARDED_BODY = 1024 * 1024;
/** Once a paused reader holds this many unanswered bytes, reading from the socket stops. */
export const MAX_PIPELINED_BYTES = 64 * 1024;

/** Why a connection does not persist after a response. */
export type CloseReason =
  /** `Connection: close`, or HTTP/1.0 without `keep-alive` (RFC 9112 §9.3). */
  | 'client-asked'
  /** The request broke the protocol: nothing after it can be trusted (RFC 9112 §11). */
  | 'protocol-error'
  /** A body too large to discard, announced or counted. */
  | 'body-too-large'
  /** A body the client holds back until it hears 100 Continue: it may never come (RFC 9110 §10.1.1). */
  | 'body-withheld'
  /** A response of unknown length to an HTTP/1.0 client ends with the connection (RFC 9112 §6.3). */
  | 'length-by-close'
  /** The server is shutting down. */
  | 'shutting-down';

export interface ReuseFacts {
  clientWantsKeepAlive: boolean;
  version: HttpVersion;
  requestFraming: BodyFraming;
  expectsContinue: boolean;
  discardedBytes: number;
  failed: boolean;
  /** The response's body length is unknown (a stream) and the client speaks HTTP/1.0. */
  responseEndsAtClose: boolean;
  shuttingDown: boolean;
}

/** Whether the connection may carry another request after this exchange: every reason in one place. */
export function decideServerReuse(facts: ReuseFacts): { keepAlive: true } | { keepAlive: false; reason: CloseReason } {
  if (facts.failed) return { keepAlive: false, reason: 'protocol-error' };
  if (facts.shuttingDown) return { keepAlive: false, reason: 'shutting-down' };
  if (!facts.clientWantsKeepAlive) return { keepAlive: false, reason: 'client-asked' };
  const framing = facts.requestFraming;
  if ((framing.kind === 'length' && framing.length > MAX_DISCARDED_BODY) || facts.discardedBytes > MAX_DISCARDED_BODY) {
    return { keepAlive: false, reason: 'body-too-large' };
  }
  if (facts.expectsContinue && framing.kind !== 'none') return { keepAlive: false, reason: 'body-withheld' };
  if (facts.responseEndsAtClose) return { keepAlive: false, reason: 'length-by-close' };
  return KEEP_ALIVE;
}

const KEEP_ALIVE = Object.freeze({ keepAlive: true as const });

/**
 * The framing of a response to `method` with `status` and a body of `bodyLength` bytes (null: not
 * known in advance), for a client speaking `version` (RFC 9112 §6.1–6.3, RFC 9110 §6.4.1).
 */
export function decideResponseFraming(
  method: string,
  version: HttpVersion,
  status: number,
  bodyLength: number | null,
  keepAlive: boolean,
): ResponseFraming {
  const hasNoContent = status < 200 || status === 204 || status === 304;
  // A body of unknown length is chunked for HTTP/1.1; an HTTP/1.0 client only understands a body
  // that ends when the connection does.
  const isChunked = !hasNoContent && bodyLength === null && version === '1.1';
  return {
    sendsBody: !hasNoContent && method !== 'HEAD' && bodyLength !== 0,
    // HEAD gets the Content-Length a GET would have (RFC 9110 §9.3.2).
    contentLength: hasNoContent ? null : bodyLength,
    isChunked,
    connection: !keepAlive ? 'close' : version === '1.0' ? 'keep-alive' : null,
  };
}

/** One request and its answer. */
interface Exchange {
  head: RequestHead | null;
  framing: BodyFraming;
  clientWantsKeepAlive: boolean;
  expectsContinue: boolean;
  /** The handler has been asked, or the answer decided without it. */
  isAnswered: boolean;
  requestEnded: boolean;
  responseStarted: boolean;
  discardedBytes: number;
  /** The status the request's failure calls for, once it failed. */
  failedStatus: number | null;
  keepAlive: boolean;
  /** Why the connection does not persist after this exchange, once the response has decided it. */
  closeReason: CloseReason | null;
}

const NEED_MORE: ServerEvent = Object.freeze({ type: 'need-more' });
const STOP_READING: ServerEvent = Object.freeze({ type: 'stop-reading' });
const END: ServerEvent = Object.freeze({ type: 'end' });

export class ServerConnectionCore {
  readonly #reader: RequestReader;
  #state: ServerConnectionState = 'idle';
  #exchange: Exchange | null = null;
  #shuttingDown = false;
  /** An answer has been completed on this connection (it is no longer a fresh one). */
  #hasAnswered = false;
  /** An `end` event is owed to the owner. */
  #endDue = false;
  #peerHasClosed = false;
  /** See mayCloseAtOnce. */
  #closesAtOnce = false;

  constructor(limits: Limits) {
    this.#reader = new RequestReader(limits);
  }

  get state(): ServerConnectionState {
    return this.#state;
  }

  get isShuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** The request being answered, if any (for the access log). */
  get currentHead(): RequestHead | null {
    return this.#exchange?.head ?? null;
  }

  receive(bytes: Buffer): void {
    // After an error, or once closing, bytes are dropped: keeping them would only grow memory.
    if (this.#state === 'closing' || this.#state === 'closed' || this.#reader.state === 'error') return;
    this.#reader.push(bytes);
  }

  /**
   * Once the connection is closing: whether it may be closed as soon as the last response has been
   * handed to the kernel, without the lingering close. A close with unread bytes in the kernel's
   * buffer, or bytes arriving after it, resets the connection and can destroy a response the client
   * has not read yet (RFC 9112 §9.6). That cannot happen when the client has shut its sending side,
   * nor, as far as anyone can tell, when it asked for the close itself and everything it sent has
   * been read: no body left, nothing pipelined after it (nginx's test too, ngx_http_finalize_connection).
   * A close the server decides (an error, a body too large, a shutdown, an idle or a body timeout)
   * lingers: the client may be sending its next request as we close.
   */
  get mayCloseAtOnce(): boolean {
    return this.#peerHasClosed || this.#closesAtOnce;
  }

  /** The client shut its sending side. It may still be reading (lab clients do exactly this). */
  peerClosed(): void {
    this.#peerHasClosed = true;
    this.#reader.peerClosed();
    if (this.#state === 'closing') this.#move('peer-closed');
  }

  /**
   * Graceful shutdown: a connection idle between requests ends now; a busy one after its current
   * answer. A connection that has not been answered yet (just accepted, or with a head on its way)
   * gets its request answered first, with `Connection: close`, as Go's Shutdown and nginx do: the
   * client has sent, or is about to send, a request it cannot know is unwelcome, and closing on
   * unread bytes would reset the connection. Its wait stays bounded by the head and idle timers (and
   * by the listener's grace period).
   */
  shutDown(): void {
    this.#shuttingDown = true;
    const awaitsFirstAnswer = !this.#hasAnswered && (this.#state === 'idle' || this.#state === 'head');
    if (awaitsFirstAnswer) return;
    if (this.#state === 'idle' || this.#state === 'head' || this.#state === 'discarding') {
      this.#move('shut-down');
      this.#endDue = true;
    }
  }

  /** The head did not arrive within its time: answer 408 and close (the owner checks the state is 'head'). */
  headTimedOut(): ServerEvent {
    return this.#answerWithError(408);
  }

  /** The rest of a body did not arrive within its time after the answer: give up on the connection. */
  bodyTimedOut(): ServerEvent {
    this.#exchange = null;
    this.#move('answered-close');
    return END;
  }

  next(): ServerEvent {
    if (this.#endDue) {
      this.#endDue = false;
      return END;
    }
    if (this.#state === 'closing' || this.#state === 'closed') return NEED_MORE;
    for (;;) {
      const exchange = this.#exchange;
      let event;
      try {
        event = this.#reader.next();
      } catch (error) {
        return this.#onProtocolError(error);
      }
      switch (event.type) {
        case 'need-more':
          if (exchange === null) {
            if (this.#state === 'idle' && this.#reader.headStarted) this.#move('head-begun');
            return NEED_MORE;
          }
          // What came with the head has been read: answer now, without waiting for the rest.
          if (!exchange.isAnswered) return this.#askForAnswer(exchange);
          return NEED_MORE;
        case 'head':
          this.#startExchange(event.head, event.framing, event.keepAlive);
          if (this.#exchange!.isAnswered) return { type: 'answer-with', status: 417 };
          break;
        case 'body':
          exchange!.discardedBytes += event.data.length;
          if (exchange!.discardedBytes > MAX_DISCARDED_BODY) {
            // Too much to discard: the connection ends with this exchange, and nothing more is read.
            exchange!.keepAlive = false;
            if (!exchange!.isAnswered) return this.#askForAnswer(exchange!);
            if (this.#state === 'discarding') return this.bodyTimedOut();
            return STOP_READING;
          }
          return event;
        case 'end':
          exchange!.requestEnded = true;
          if (!exchange!.isAnswered) return this.#askForAnswer(exchange!);
          if (this.#state === 'discarding') this.#finishExchange();
          break;
        case 'paused':
          return this.#reader.bufferedBytes > MAX_PIPELINED_BYTES ? STOP_READING : NEED_MORE;
        case 'closed':
          this.#move('peer-closed');
          return END;
      }
    }
  }

  /**
   * The plan of the current answer is known: its status and body length (null: unknown, a stream).
   * Decides the framing and, once and for all, whether the connection persists after it.
   */
  respond(status: number, bodyLength: number | null): RespondDecision {
    const exchange = this.#exchange;
    if (exchange === null || this.#state !== 'answering')
      throw new HttpProtocolError('internal-error', 'A response without a request', 500, 'local');
    if (exchange.failedStatus !== null && status !== exchange.failedStatus) return { kind: 'replace', status: exchange.failedStatus };
    exchange.responseStarted = true;
    const version = exchange.head?.version ?? '1.1';
    const method = exchange.head?.method ?? 'GET';
    const hasContent = !(status < 200 || status === 204 || status === 304);
    const verdict = decideServerReuse({
      clientWantsKeepAlive: exchange.clientWantsKeepAlive && exchange.keepAlive,
      version,
      requestFraming: exchange.framing,
      expectsContinue: exchange.expectsContinue,
      discardedBytes: exchange.discardedBytes,
      failed: exchange.failedStatus !== null,
      responseEndsAtClose: hasContent && bodyLength === null && version !== '1.1',
      shuttingDown: this.#shuttingDown,
    });
    exchange.keepAlive = verdict.keepAlive;
    exchange.closeReason = verdict.keepAlive ? null : verdict.reason;
    const framing = decideResponseFraming(method, version, status, bodyLength, verdict.keepAlive);
    // Written out, not spread: a spread copies through a generic builtin on every response.
    return {
      kind: 'send',
      sendsBody: framing.sendsBody,
      contentLength: framing.contentLength,
      isChunked: framing.isChunked,
      connection: framing.connection,
    };
  }

  /** The last byte of the answer has been written. */
  responseSent(): AfterResponse {
    const exchange = this.#exchange!;
    if (!exchange.keepAlive || this.#shuttingDown) {
      this.#closesAtOnce = exchange.closeReason === 'client-asked' && exchange.requestEnded && this.#reader.bufferedBytes === 0;
      this.#exchange = null;
      this.#move('answered-close');
      return 'close';
    }
    if (!exchange.requestEnded) {
      this.#move('answered-await-body');
      return 'await-body';
    }
    this.#finishExchange();
    return 'read-next';
  }

  #startExchange(head: RequestHead, framing: BodyFraming, clientWantsKeepAlive: boolean): void {
    this.#move('request');
    // Expect came with HTTP/1.1; an HTTP/1.0 request's Expect is ignored (RFC 9110 §10.1.1).
    const expectation = head.version === '1.0' ? undefined : head.fields.get('expect')?.toLowerCase();
    const exchange: Exchange = {
      head,
      framing,
      clientWantsKeepAlive,
      expectsContinue: expectation === '100-continue',
      isAnswered: false,
      requestEnded: false,
      responseStarted: false,
      discardedBytes: 0,
      failedStatus: null,
      keepAlive: true,
      closeReason: null,
    };
    this.#exchange = exchange;
    // We never need a body before answering, so 100-continue is answered with the final status at
    // once (RFC 9110 §10.1.1). Any other expectation cannot be met: 417.
    if (expectation !== undefined && expectation !== '100-continue') {
      exchange.isAnswered = true;
      exchange.failedStatus = 417;
    }
  }

  #askForAnswer(exchange: Exchange): ServerEvent {
    exchange.isAnswered = true;
    return { type: 'answer', head: exchange.head! };
  }

  #onProtocolError(error: unknown): ServerEvent {
    const status = error instanceof HttpProtocolError ? error.status : 400;
    const exchange = this.#exchange;
    if (exchange === null) {
      if (error instanceof HttpProtocolError && error.code === 'incomplete-message') {
        // The client hung up mid-head: nobody is left to read an answer.
        this.#move('peer-closed');
        return END;
      }
      return this.#answerWithError(status);
    }
    // In the body of a request being answered. If its response has not started, the answer becomes
    // the error status; otherwise the response finishes. Either way, the connection closes after it.
    exchange.keepAlive = false;
    if (!exchange.responseStarted) exchange.failedStatus = status;
    if (!exchange.isAnswered) {
      exchange.isAnswered = true;
      return { type: 'answer-with', status };
    }
    if (this.#state === 'discarding') return this.bodyTimedOut();
    return NEED_MORE;
  }

  #answerWithError(status: number): ServerEvent {
    this.#move('error-answer');
    this.#exchange = {
      head: null,
      framing: { kind: 'none' },
      clientWantsKeepAlive: false,
      expectsContinue: false,
      isAnswered: true,
      requestEnded: true,
      responseStarted: false,
      discardedBytes: 0,
      failedStatus: status,
      keepAlive: false,
      closeReason: 'protocol-error',
    };
    return { type: 'answer-with', status };
  }

  #finishExchange(): void {
    this.#hasAnswered = true;
    this.#exchange = null;
    this.#reader.resume();
    this.#move(this.#state === 'discarding' ? 'body-ended' : 'answered-keep');
  }

  #move(input: Input): void {
    const next = TRANSITIONS[this.#state][input];
    if (next === undefined) throw new HttpProtocolError('internal-error', `No transition from ${this.#state} on ${input}`, 500, 'local');
    this.#state = next;
  }
}
