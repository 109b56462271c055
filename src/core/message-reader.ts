/**
 * Reading a stream of HTTP/1.1 messages from one connection, with no I/O of its own.
 *
 * Theory of operation. The owner pushes bytes in as they arrive (`push`), and pulls events out
 * (`next`) until it gets `need-more`. Each message yields one `head` event, zero or more `body` events
 * (views into the received bytes, never copies) and one `end` event. Then:
 *  - a RequestReader pauses: it answers `paused` until the owner calls `resume()`, which a server does
 *    once it has sent the response. Requests pipelined behind it wait in the buffer, unparsed, so the
 *    server answers them in order and can stop reading from a client that floods it;
 *  - a ResponseReader goes on to the next response; each response is read against the method of the
 *    request it answers (`expectResponseTo`), because a response to HEAD has no body.
 * When the peer closes, the owner calls `peerClosed()`: between messages that gives a `closed` event;
 * inside a message it ends a body delimited by the close, or is an `incomplete-message` error.
 *
 * States: 'head' (waiting for a message head), 'body' (decoding a body), 'paused', 'closed', 'error'.
 * After an error every call to `next` throws the same error: a connection never re-synchronizes.
 *
 * Buffer invariant: the unread bytes are #buffer[#offset, #buffer.length). #buffer is either a chunk
 * as received or a view of the start of #storage, which has room to append. #headScanResume is an
 * index into #buffer at which the search for the end of an incomplete head goes on.
 */
import { CR, LF } from './chars.js';
import { HttpProtocolError, peerError } from './errors.js';
import type { Fields } from './fields.js';
import { type BodyDecoder, ChunkedDecoder, LengthDecoder, UntilCloseDecoder } from './body-decoder.js';
import { type BodyFraming, decideRequestBodyLength, decideResponseBodyLength, wantsKeepAlive } from './framing.js';
import {
  type RequestHead,
  type RequestLineProgress,
  type ResponseHead,
  checkRequestLinePrefix,
  newRequestLineProgress,
  parseRequestHead,
  parseResponseHead,
  scanForHeadEnd,
} from './head-parser.js';
import { DEFAULT_REQUEST_LIMITS, DEFAULT_RESPONSE_LIMITS, type Limits } from './limits.js';

export type ReaderEvent<Head> =
  | { type: 'need-more' }
  /** `keepAlive`: whether, as far as this message says, the connection may carry another message after it. */
  | { type: 'head'; head: Head; framing: BodyFraming; keepAlive: boolean }
  | { type: 'body'; data: Buffer }
  | { type: 'end'; trailers: Fields | null }
  | { type: 'paused' }
  | { type: 'closed' };

type ReaderState = 'head' | 'body' | 'paused' | 'closed' | 'error';

const EMPTY = Buffer.alloc(0);
const NEED_MORE = Object.freeze({ type: 'need-more' as const });
const PAUSED = Object.freeze({ type: 'paused' as const });
const CLOSED = Object.freeze({ type: 'closed' as const });
const END_WITHOUT_TRAILERS = Object.freeze({ type: 'end' as const, trailers: null });
/** A body of no bytes has no state to keep: most requests share this one decoder. */
const NO_BODY_DECODER = new LengthDecoder(0);

abstract class MessageReader<Head> {
  protected readonly limits: Limits;
  #buffer: Buffer = EMPTY;
  /** Memory we own and may append into; #buffer is a view of its start when it is in use. */
  #storage: Buffer | null = null;
  #offset = 0;
  #headScanResume = 0;
  #state: ReaderState = 'head';
  #decoder: BodyDecoder = NO_BODY_DECODER;
  #peerHasClosed = false;
  #error: HttpProtocolError | null = null;
  /** Empty lines skipped before the current request line (RFC 9112 §2.2), bounded by the limits. */
  #emptyLinesSkipped = 0;
  /** How much of an incomplete request line is known to be a valid beginning of one. */
  #requestLine: RequestLineProgress = newRequestLineProgress();

  constructor(limits: Limits) {
    this.limits = limits;
  }

  /** Bytes received and not yet turned into events. */
  get bufferedBytes(): number {
    return this.#buffer.length - this.#offset;
  }

  get state(): ReaderState {
    return this.#state;
  }

  /**
   * Whether a message head has begun: some of its bytes are here, or empty lines before it were
   * skipped. A server's head deadline runs from then, so a peer sending only CR and LF cannot keep
   * a connection looking idle.
   */
  get headStarted(): boolean {
    return this.#state === 'head' && (this.#offset < this.#buffer.length || this.#emptyLinesSkipped > 0);
  }

  push(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.#offset === this.#buffer.length) {
      // Nothing unread: use the received bytes as they are, without a copy.
      this.#buffer = bytes;
      this.#offset = 0;
      this.#headScanResume = 0;
      return;
    }
    const end = this.#buffer.length;
    if (this.#storage !== null && this.#buffer.buffer === this.#storage.buffer && this.#storage.length - end >= bytes.length) {
      // Room left after the unread bytes: append in place. Views handed out earlier end at or
      // before `end`, so writing past it changes none of them.
      bytes.copy(this.#storage, end);
      this.#buffer = this.#storage.subarray(0, end + bytes.length);
      return;
    }
    // Move the unread bytes to new storage with room to spare, growing geometrically, so a head
    // that trickles in a byte at a time is copied O(log n) times, not n times.
    const unread = end - this.#offset;
    this.#storage = Buffer.allocUnsafeSlow(Math.max(2 * (unread + bytes.length), 4096));
    this.#buffer.copy(this.#storage, 0, this.#offset);
    bytes.copy(this.#storage, unread);
    this.#buffer = this.#storage.subarray(0, unread + bytes.length);
    this.#headScanResume = Math.max(0, this.#headScanResume - this.#offset);
    this.#offset = 0;
  }

  /** The peer will send nothing more (its side of the connection is shut). */
  peerClosed(): void {
    this.#peerHasClosed = true;
  }

  next(): ReaderEvent<Head> {
    if (this.#state === 'error') throw this.#error!;
    try {
      return this.#step();
    } catch (error) {
      this.#state = 'error';
      // Anything else thrown here is our bug, not the peer's: a 500, and never blamed on the message.
      this.#error =
        error instanceof HttpProtocolError
          ? error
          : new HttpProtocolError('internal-error', `The reader failed: ${String(error)}`, 500, 'local');
      throw this.#error;
    }
  }

  /** Lets a paused reader go on to the next message. */
  resume(): void {
    if (this.#state === 'paused') this.#state = 'head';
  }

  protected abstract parseHead(buffer: Buffer, start: number, headEnd: number): { head: Head; framing: BodyFraming; keepAlive: boolean };
  protected abstract afterMessage(): 'head' | 'paused';
  protected abstract get isRequest(): boolean;

  #step(): ReaderEvent<Head> {
    switch (this.#state) {
      case 'head':
        return this.#readHead();
      case 'body':
        return this.#readBody();
      case 'paused':
        return PAUSED;
      case 'closed':
        return CLOSED;
      case 'error':
        throw this.#error!;
    }
  }

  #readHead(): ReaderEvent<Head> {
    const buffer = this.#buffer;
    if (this.isRequest) this.#skipEmptyLines();
    if (this.#offset === buffer.length) {
      if (!this.#peerHasClosed) return NEED_MORE;
      this.#state = 'closed';
      return CLOSED;
    }
    if (this.isRequest) {
      // Bytes that cannot begin a request line are refused now, not at the head timeout. Only the
      // first maxStartLineBytes are looked at, so a line that is too long is a 414 however it is split.
      const checkEnd = Math.min(buffer.length, this.#offset + this.limits.maxStartLineBytes + 1);
      checkRequestLinePrefix(buffer, this.#offset, checkEnd, this.#requestLine, this.limits.allowBareLineFeed);
    }
    const scan = scanForHeadEnd(buffer, this.#offset, Math.max(this.#offset, this.#headScanResume), this.limits, this.isRequest);
    if (!scan.complete) {
      this.#headScanResume = scan.resumeAt;
      if (this.#peerHasClosed) throw peerError('incomplete-message', 'The connection closed in the middle of a message head');
      return NEED_MORE;
    }
    const parsed = this.parseHead(buffer, this.#offset, scan.headEnd);
    this.#emptyLinesSkipped = 0;
    // Reset in place: one object per connection, not one per request.
    const progress = this.#requestLine;
    progress.checkedBytes = 0;
    progress.part = 'method';
    progress.partStart = 0;
    this.#offset = scan.headEnd;
    this.#headScanResume = scan.headEnd;
    this.#decoder = createDecoder(parsed.framing, this.limits);
    this.#state = 'body';
    // Written out, not spread: a spread copies through a generic builtin on every message.
    return { type: 'head', head: parsed.head, framing: parsed.framing, keepAlive: parsed.keepAlive };
  }

  /**
   * A server ignores empty lines before a request line (RFC 9112 §2.2), for clients that add a CRLF
   * after a body, but only a few: see Limits.maxEmptyLinesBeforeRequest.
   */
  #skipEmptyLines(): void {
    const buffer = this.#buffer;
    for (;;) {
      if (buffer[this.#offset] === CR && buffer[this.#offset + 1] === LF) this.#offset += 2;
      else if (buffer[this.#offset] === LF && this.limits.allowBareLineFeed) this.#offset += 1;
      else return;
      if (++this.#emptyLinesSkipped > this.limits.maxEmptyLinesBeforeRequest) {
        throw peerError('too-many-empty-lines', 'Too many empty lines before the request line');
      }
    }
  }

  #readBody(): ReaderEvent<Head> {
    const step = this.#decoder.decode(this.#buffer, this.#offset);
    this.#offset += step.consumed;
    switch (step.kind) {
      case 'data':
        return { type: 'body', data: step.data };
      case 'end':
        return this.#finishMessage(step.trailers);
      case 'need-more':
        if (!this.#peerHasClosed) return NEED_MORE;
        if (this.#decoder.endsAtClose()) return this.#finishMessage(null);
        throw peerError('incomplete-message', 'The connection closed before the end of the message body');
    }
  }

  #finishMessage(trailers: Fields | null): ReaderEvent<Head> {
    this.#state = this.afterMessage();
    if (this.#offset === this.#buffer.length) {
      // Drop the reference so a connection idle between messages holds no old buffer.
      this.#buffer = EMPTY;
      this.#storage = null;
      this.#offset = 0;
      this.#headScanResume = 0;
    }
    return trailers === null ? END_WITHOUT_TRAILERS : { type: 'end', trailers };
  }
}

function createDecoder(framing: BodyFraming, limits: Limits): BodyDecoder {
  switch (framing.kind) {
    case 'none':
      return NO_BODY_DECODER;
    case 'length':
      return new LengthDecoder(framing.length);
    case 'chunked':
      return new ChunkedDecoder(limits);
    case 'until-close':
      return new UntilCloseDecoder();
  }
}

/** Host = uri-host [ ":" port ] (RFC 9110 §7.2); an empty value is allowed for targets without authority. */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/;

/** Server side: reads requests, pausing after each until its response has been sent. */
export class RequestReader extends MessageReader<RequestHead> {
  constructor(limits: Limits = DEFAULT_REQUEST_LIMITS) {
    super(limits);
  }

  protected get isRequest(): boolean {
    return true;
  }

  protected parseHead(buffer: Buffer, start: number, headEnd: number) {
    const head = parseRequestHead(buffer, start, headEnd, this.limits);
    // A server must answer 400 to an HTTP/1.1 request without exactly one valid Host (RFC 9112 §3.2).
    const hosts = head.fields.getAll('host');
    if (hosts.length === 0 && head.version === '1.1') throw peerError('missing-host', 'An HTTP/1.1 request needs a Host field');
    if (hosts.length > 1) throw peerError('bad-host', 'A request may have only one Host field');
    if (hosts.length === 1 && !HOST_VALUE.test(hosts[0]!)) throw peerError('bad-host', 'The Host field is malformed');
    const framing = decideRequestBodyLength(head.version, head.fields);
    return { head, framing, keepAlive: wantsKeepAlive(head.version, head.fields) };
  }

  protected afterMessage(): 'paused' {
    return 'paused';
  }
}

/** Client side: reads the responses to the requests announced with `expectResponseTo`, in order. */
export class ResponseReader extends MessageReader<ResponseHead> {
  readonly #pendingMethods: string[] = [];
  #lastWasInterim = false;

  constructor(limits: Limits = DEFAULT_RESPONSE_LIMITS) {
    super(limits);
  }

  /** Announces a request that has been sent; its response is read with its method in mind. */
  expectResponseTo(method: string): void {
    this.#pendingMethods.push(method);
  }

  protected get isRequest(): boolean {
    return false;
  }

  protected parseHead(buffer: Buffer, start: number, headEnd: number) {
    const head = parseResponseHead(buffer, start, headEnd, this.limits);
    const method = this.#pendingMethods[0];
    if (method === undefined) throw peerError('bad-status-line', 'A response arrived for no request', 502);
    const { framing, mustClose } = decideResponseBodyLength(method, head.status, head.version, head.fields);
    // Interim (1xx) responses come before the final one and leave it outstanding (RFC 9110 §15.2);
    // 101 switches protocols, after which there is no more HTTP/1.1 to read.
    this.#lastWasInterim = head.status < 200 && head.status !== 101;
    const keepAlive = !mustClose && head.status !== 101 && wantsKeepAlive(head.version, head.fields);
    return { head, framing, keepAlive };
  }

  protected afterMessage(): 'head' {
    if (!this.#lastWasInterim) this.#pendingMethods.shift();
    return 'head';
  }
}
