/**
 * One HTTP/2 connection without I/O (RFC 9113), for a server or a client: bytes in, events out;
 * calls in (respond, send data, reset, ping, goaway), bytes out.
 *
 * Theory of operation. `receive(bytes, now)` feeds the frame reader and handles each whole frame:
 * the preface first (§3.4: the client's magic, then a SETTINGS frame from each side), then frames by
 * type, each checked against the stream's state (streams.ts), flow control (§6.9) and the semantics
 * of §8 (semantics.ts); header blocks are assembled and decoded in header-block.ts, SETTINGS read
 * in settings.ts. It returns the events the caller acts on (a request, a reset, a window that
 * opened). Frames this side must send in answer (SETTINGS and PING acknowledgements, WINDOW_UPDATE,
 * RST_STREAM) are queued on the output (output.ts), which the socket layer takes with `takeOutput()`.
 *
 * Flow control of what we receive (§6.9). The connection's window is given back as DATA arrives;
 * a stream's, when its data is consumed: at once by default (a server that discards request
 * bodies), or when the caller says so with consumed() (a client whose reader may stop). Either way
 * WINDOW_UPDATE goes out once more than half a window is waiting to be given back.
 *
 * Errors. A stream error (§5.4.2) resets that stream and is reported as a 'stream-reset' event; a
 * connection error (§5.4.1) queues GOAWAY with its code, is reported as 'connection-error', and from
 * then on the connection reads nothing more: the caller sends what is queued and closes.
 *
 * Time. The core has no clock: the caller passes `now` (milliseconds, any origin) with the bytes, and
 * the flood defences count events within windows of that time.
 *
 * Memory. Per connection: one frame of at most our SETTINGS_MAX_FRAME_SIZE in the reader, one header
 * block of at most maxHeaderBlockBytes, the HPACK tables, and one small record per open stream (at
 * most maxConcurrentStreams of them). Closed streams are forgotten: a stream id at or below the
 * highest seen and no longer in the map is closed (§5.1.1).
 */
import { H2ConnectionError, H2StreamError, type H2ErrorCode, ERROR_CODE_VALUES } from './errors.js';
import { CLIENT_PREFACE, FRAME_TYPES, type Frame, type FrameHeader, FrameReader, type SettingEntry, encodeFrameHeader } from './frames.js';
import { type DecodedBlock, HeaderBlockAssembler } from './header-block.js';
import type { FieldCoding, HeaderDecoder, HeaderEncoder } from './header-codec.js';
import { type FrameRecord, type H2Event, INITIAL_PEER_SETTINGS, type PeerSettings } from './events.js';
import { DEFAULT_H2_LIMITS, FloodGuard, type H2Limits } from './limits.js';
import { FrameOutput } from './output.js';
import { applyPeerSettings, localSettings } from './settings.js';
import { type FieldPair, declaredContentLength, readRequestFields, readResponseFields, readTrailerFields } from './semantics.js';
import { type H2Stream as Stream, StreamTable } from './stream-table.js';
import { FlowWindow, ReceiveWindow, type StreamEvent, type StreamState, transition } from './streams.js';

export type H2Role = 'server' | 'client';

/** §6.9.2: the connection window starts at 65,535 and only WINDOW_UPDATE changes it. */
const INITIAL_CONNECTION_WINDOW = 65_535;
/** §6.9.1: no window may exceed 2^31-1. */
const MAX_WINDOW = 2 ** 31 - 1;

export type { FrameRecord, H2Event, PeerSettings } from './events.js';

export interface H2ConnectionOptions {
  role: H2Role;
  encoder: HeaderEncoder;
  decoder: HeaderDecoder;
  limits?: Partial<H2Limits> | undefined;
  /** Keep a FrameRecord of every frame (takeFrameRecords), for --trace. */
  recordFrames?: boolean | undefined;
  /**
   * true (the default): a stream's DATA counts as consumed as soon as it is delivered, and its
   * window is given back at once (a server that discards request bodies). false: the caller reports
   * what its reader took with consumed(), so a reader that stops reading stops the peer (§6.9).
   */
  autoStreamWindowUpdate?: boolean | undefined;
  /**
   * Our receive window for the whole connection (§6.9.2: it starts at 65,535; a larger one is
   * announced by a WINDOW_UPDATE on stream 0 right after our SETTINGS). Default 65,535.
   */
  initialConnectionWindow?: number | undefined;
}

export class H2Connection {
  readonly role: H2Role;
  readonly limits: Readonly<H2Limits>;
  readonly #encoder: HeaderEncoder;
  readonly #decoder: HeaderDecoder;
  readonly #reader: FrameReader;
  readonly #out: FrameOutput;
  /** 'preface': waiting for the client magic (server); 'settings': for the peer's first SETTINGS (§3.4); then 'open'. */
  #phase: 'preface' | 'settings' | 'open' | 'closed' = 'preface';
  #peer: PeerSettings = { ...INITIAL_PEER_SETTINGS };
  readonly #sendWindow = new FlowWindow(INITIAL_CONNECTION_WINDOW);
  readonly #receiveWindow: ReceiveWindow;
  readonly #autoStreamWindowUpdate: boolean;
  readonly #streams: StreamTable;
  readonly #headerBlocks: HeaderBlockAssembler;
  /** The last stream id of the GOAWAY we sent, or null before we send one. */
  #goAwayLastStreamId: number | null = null;
  #goAwayReceived = false;
  readonly #floods: FloodGuard;
  /** Answers queued since the socket layer last reported its output taken (outputDrained). */
  #queuedControlFrames = 0;

  constructor(options: H2ConnectionOptions) {
    this.role = options.role;
    this.limits = { ...DEFAULT_H2_LIMITS, ...options.limits };
    this.#encoder = options.encoder;
    this.#decoder = options.decoder;
    this.#decoder.setMaxTableSize(this.limits.headerTableSize);
    this.#reader = new FrameReader(this.limits.maxFrameSize);
    this.#floods = new FloodGuard(this.limits);
    this.#out = new FrameOutput(options.recordFrames === true);
    this.#headerBlocks = new HeaderBlockAssembler(this.#decoder, this.limits, this.#out.recording);
    this.#autoStreamWindowUpdate = options.autoStreamWindowUpdate ?? true;
    const connectionWindow = options.initialConnectionWindow ?? INITIAL_CONNECTION_WINDOW;
    if (!Number.isInteger(connectionWindow) || connectionWindow < INITIAL_CONNECTION_WINDOW || connectionWindow > MAX_WINDOW)
      throw new RangeError(`initialConnectionWindow must be an integer from ${INITIAL_CONNECTION_WINDOW} to ${MAX_WINDOW}`);
    this.#receiveWindow = new ReceiveWindow(connectionWindow);
    this.#streams = new StreamTable(options.role);
    if (options.role === 'client') {
      this.#out.push(CLIENT_PREFACE);
      this.#phase = 'settings';
    }
    // §3.4: each side's preface ends with a SETTINGS frame, which may be sent before the peer's.
    this.#sendFrame({ type: 'SETTINGS', ack: false, settings: localSettings(options.role, this.limits) });
    // The peer may send beyond 65,535 only once this arrives; accepting it from the start is safe.
    if (connectionWindow > INITIAL_CONNECTION_WINDOW) this.#sendWindowUpdate(0, connectionWindow - INITIAL_CONNECTION_WINDOW, null);
  }

  get peerSettings(): Readonly<PeerSettings> {
    return this.#peer;
  }

  /** The peer's preface (and, for a server, the client magic) has arrived. */
  get prefaceReceived(): boolean {
    return this.#phase === 'open';
  }

  get isClosed(): boolean {
    return this.#phase === 'closed';
  }

  /** Streams open or half-closed (§5.1.2). */
  get activeStreamCount(): number {
    return this.#streams.size;
  }

  get goAwaySent(): boolean {
    return this.#goAwayLastStreamId !== null;
  }

  get goAwayReceived(): boolean {
    return this.#goAwayReceived;
  }

  get connectionSendWindow(): number {
    return this.#sendWindow.size;
  }

  get outputBytes(): number {
    return this.#out.bytes;
  }

  streamState(streamId: number): StreamState {
    return this.#streams.stateOf(streamId);
  }

  /** Everything queued to send, in order; the caller writes it to the socket. */
  takeOutput(): Buffer[] {
    return this.#out.take();
  }

  takeFrameRecords(): FrameRecord[] {
    return this.#out.takeRecords();
  }

  /** The socket layer's output has been taken by the peer (a write went through, or 'drain'). */
  outputDrained(): void {
    this.#queuedControlFrames = 0;
  }

  /** Bytes from the peer, in any pieces; `now` stamps them for the flood defences. */
  receive(bytes: Buffer, now: number): H2Event[] {
    const events: H2Event[] = [];
    if (this.#phase === 'closed') return events;
    this.#now = now;
    try {
      this.#reader.push(bytes);
      if (this.#phase === 'preface') {
        // Compared as it arrives: an HTTP/1.1 request is told apart at its first differing byte.
        const held = Math.min(this.#reader.bufferedBytes, CLIENT_PREFACE.length);
        const start = this.#reader.take(held)!;
        if (!start.equals(CLIENT_PREFACE.subarray(0, held)))
          throw new H2ConnectionError('PROTOCOL_ERROR', 'the connection did not start with the HTTP/2 preface');
        if (held < CLIENT_PREFACE.length) {
          this.#reader.push(Buffer.from(start)); // keep the partial preface until the rest comes
          return events;
        }
        this.#phase = 'settings';
      }
      for (;;) {
        const next = this.#reader.next();
        if (next === null) break;
        this.#out.record('in', next.header, next.frame);
        this.#handleFrame(next.header, next.frame, now, events);
      }
    } catch (error) {
      if (!(error instanceof H2ConnectionError)) throw error;
      this.#failConnection(error, events);
    }
    return events;
  }

  /** Server: the response head on a stream. */
  respond(streamId: number, status: number, fields: readonly FieldPair[], endStream: boolean): void {
    this.#sendHeaderBlock(streamId, [[':status', String(status)], ...fields], endStream);
  }

  /** Client: opens a stream with a request's fields (pseudo-header fields first); returns its id. */
  request(fields: readonly FieldPair[], endStream: boolean): number {
    if (this.role !== 'client') throw new H2ConnectionError('INTERNAL_ERROR', 'only a client opens streams', 'local');
    if (this.#goAwayReceived || this.#phase === 'closed')
      throw new H2ConnectionError('REFUSED_STREAM', 'the connection is going away', 'local');
    const streamId = this.#streams.openLocal(this.#peer.initialWindowSize, this.limits.initialWindowSize).id;
    this.#sendHeaderBlock(streamId, fields, endStream);
    return streamId;
  }

  /** Trailers: a header block that ends the stream. */
  sendTrailers(streamId: number, fields: readonly FieldPair[]): void {
    this.#sendHeaderBlock(streamId, fields, true);
  }

  /** How many DATA bytes may go on this stream now (§6.9: the smaller of the two windows). */
  sendableBytes(streamId: number): number {
    const stream = this.#streams.get(streamId);
    if (stream === undefined || (stream.state !== 'open' && stream.state !== 'half-closed-remote')) return 0;
    return Math.max(0, Math.min(this.#sendWindow.size, stream.sendWindow.size));
  }

  /** Whether DATA can still be sent on the stream (it is open on our side). */
  canSend(streamId: number): boolean {
    const state = this.#streams.get(streamId)?.state;
    return state === 'open' || state === 'half-closed-remote';
  }

  /**
   * Queues DATA, split into frames of the peer's SETTINGS_MAX_FRAME_SIZE. `data` must fit in
   * sendableBytes (an empty frame always fits: it ends a stream).
   */
  sendData(streamId: number, data: Buffer, endStream: boolean): void {
    const stream = this.#streams.get(streamId);
    if (stream === undefined || !this.canSend(streamId))
      throw new H2StreamError(streamId, 'STREAM_CLOSED', 'DATA on a stream that is not open', 'local');
    if (data.length > this.sendableBytes(streamId))
      throw new H2StreamError(streamId, 'FLOW_CONTROL_ERROR', 'DATA beyond the window', 'local');
    const frameSize = this.#peer.maxFrameSize;
    let offset = 0;
    do {
      const piece = data.subarray(offset, offset + frameSize);
      offset += piece.length;
      const last = offset >= data.length;
      this.#sendWindow.consume(piece.length);
      stream.sendWindow.consume(piece.length);
      const flags = last && endStream ? 0x1 : 0;
      const header: FrameHeader = { length: piece.length, type: FRAME_TYPES.DATA, flags, streamId };
      this.#out.push(encodeFrameHeader(piece.length, FRAME_TYPES.DATA, flags, streamId));
      if (piece.length > 0) this.#out.push(piece);
      this.#out.record(
        'out',
        header,
        { type: 'DATA', streamId, endStream: last && endStream, data: piece, padLength: null },
        {
          connection: this.#sendWindow.size,
          stream: stream.sendWindow.size,
        },
      );
    } while (offset < data.length);
    if (endStream) this.#applyLocal(stream, 'send-end-stream');
  }

  /**
   * The caller's reader has taken `bytes` of a stream's DATA (with autoStreamWindowUpdate false):
   * its window is given back once more than half of it is consumed (§6.9). A stream that is closed
   * or unknown is ignored: a reader may finish after the stream did.
   */
  consumed(streamId: number, bytes: number): void {
    const stream = this.#streams.get(streamId);
    if (stream === undefined || (stream.state !== 'open' && stream.state !== 'half-closed-local')) return;
    const increment = stream.receiveWindow.consumed(bytes);
    if (increment > 0) this.#sendWindowUpdate(streamId, increment, stream.receiveWindow.size);
  }

  /** Ends a stream with RST_STREAM (§6.4); nothing more is sent or delivered on it. */
  reset(streamId: number, code: H2ErrorCode): void {
    const stream = this.#streams.get(streamId);
    if (stream === undefined) return;
    this.#streams.forget(streamId, true);
    this.#sendFrame({ type: 'RST_STREAM', streamId, errorCode: ERROR_CODE_VALUES[code] });
  }

  ping(opaqueData: Buffer): void {
    this.#sendFrame({ type: 'PING', ack: false, opaqueData });
  }

  /**
   * GOAWAY (§6.8): no stream above the last one we have seen will be processed. With NO_ERROR, the
   * streams in progress finish (a graceful shutdown); with an error code, the caller closes after it.
   */
  goAway(code: H2ErrorCode = 'NO_ERROR', debug = ''): void {
    if (this.#goAwayLastStreamId !== null && code === 'NO_ERROR') return;
    this.#goAwayLastStreamId = this.#streams.highestPeerStreamId;
    this.#sendFrame({
      type: 'GOAWAY',
      lastStreamId: this.#streams.highestPeerStreamId,
      errorCode: ERROR_CODE_VALUES[code],
      debugData: Buffer.from(debug, 'latin1'),
    });
  }

  // ---- receiving ----

  #handleFrame(header: FrameHeader, frame: Frame, now: number, events: H2Event[]): void {
    const blockStreamId = this.#headerBlocks.pendingStreamId;
    // §6.10: a header block is one unit; nothing else may come between its frames.
    if (blockStreamId !== null && (frame.type !== 'CONTINUATION' || frame.streamId !== blockStreamId)) {
      throw new H2ConnectionError('PROTOCOL_ERROR', 'a frame other than CONTINUATION inside a header block');
    }
    if (this.#phase === 'settings' && (frame.type !== 'SETTINGS' || frame.ack)) {
      throw new H2ConnectionError('PROTOCOL_ERROR', 'the first frame was not SETTINGS'); // §3.4
    }
    try {
      switch (frame.type) {
        case 'DATA':
          this.#onData(header, frame, now, events);
          return;
        case 'HEADERS':
          this.#onHeaders(frame, events);
          return;
        case 'CONTINUATION':
          this.#onBlock(this.#headerBlocks.continue(frame), events);
          return;
        case 'PRIORITY':
          this.#floods.controlFrame(now);
          // §5.3.1: a stream cannot depend on itself.
          if (frame.priority.dependency === frame.streamId)
            throw new H2StreamError(frame.streamId, 'PROTOCOL_ERROR', 'a stream that depends on itself');
          return;
        case 'RST_STREAM':
          this.#onReset(frame.streamId, frame.errorCode, now, events);
          return;
        case 'SETTINGS':
          this.#onSettings(frame.ack, frame.settings, now, events);
          return;
        case 'PUSH_PROMISE':
          // §8.4: a client cannot push; we announce ENABLE_PUSH 0 as a client, so a server may not either.
          throw new H2ConnectionError('PROTOCOL_ERROR', 'PUSH_PROMISE received (push is never enabled)');
        case 'PING':
          if (frame.ack) {
            events.push({ type: 'ping-ack', opaqueData: Buffer.from(frame.opaqueData) });
            return;
          }
          this.#floods.controlFrame(now);
          this.#sendAnswer({ type: 'PING', ack: true, opaqueData: Buffer.from(frame.opaqueData) });
          return;
        case 'GOAWAY':
          this.#goAwayReceived = true;
          events.push({ type: 'goaway', lastStreamId: frame.lastStreamId, errorCode: frame.errorCode });
          return;
        case 'WINDOW_UPDATE':
          this.#onWindowUpdate(frame.streamId, frame.increment, now, events);
          return;
        case 'unknown':
          return; // §5.5: unknown frame types are ignored
      }
    } catch (error) {
      if (!(error instanceof H2StreamError)) throw error;
      this.#failStream(error, events);
    }
  }

  #onData(header: FrameHeader, frame: Frame & { type: 'DATA' }, now: number, events: H2Event[]): void {
    const { streamId } = frame;
    // §6.9.1: the whole payload, padding included, counts against both windows.
    if (!this.#receiveWindow.receive(header.length)) throw new H2ConnectionError('FLOW_CONTROL_ERROR', 'DATA beyond the connection window');
    this.#annotateLast({ connection: this.#receiveWindow.size, stream: null });
    // The connection's window is given back at once: one slow reader must not stop every stream.
    const connectionIncrement = this.#receiveWindow.consumed(header.length);
    if (connectionIncrement > 0) this.#sendWindowUpdate(0, connectionIncrement, null);
    const stream = this.#streams.get(streamId);
    if (stream === undefined) {
      if (this.#streams.isIdle(streamId)) throw new H2ConnectionError('PROTOCOL_ERROR', 'DATA on an idle stream'); // §5.1
      // A stream closed here (reset, refused, finished): DATA in flight is ignored (§5.1, "closed"),
      // after counting it for the connection above.
      return;
    }
    if (stream.state !== 'open' && stream.state !== 'half-closed-local') {
      throw new H2StreamError(streamId, 'STREAM_CLOSED', 'DATA after END_STREAM');
    }
    if (!stream.receiveWindow.receive(header.length))
      throw new H2StreamError(streamId, 'FLOW_CONTROL_ERROR', 'DATA beyond the stream window');
    this.#annotateLast({ connection: this.#receiveWindow.size, stream: stream.receiveWindow.size });
    if (frame.data.length === 0 && !frame.endStream) this.#floods.controlFrame(now); // empty DATA frames do nothing but cost
    stream.receivedLength += frame.data.length;
    // §8.1.1: content-length must agree with the DATA received.
    if (stream.expectedLength !== null) {
      if (stream.receivedLength > stream.expectedLength || (frame.endStream && stream.receivedLength !== stream.expectedLength)) {
        throw new H2StreamError(streamId, 'PROTOCOL_ERROR', 'DATA that does not match content-length');
      }
    }
    events.push({ type: 'data', streamId, data: frame.data, endStream: frame.endStream });
    if (frame.endStream) {
      this.#applyPeer(stream, 'recv-end-stream');
    } else {
      // Padding (and its length octet) is never delivered, so it is consumed here; the data is
      // consumed now too unless the caller reports it (consumed()).
      const delivered = this.#autoStreamWindowUpdate ? header.length : header.length - frame.data.length;
      const increment = stream.receiveWindow.consumed(delivered);
      if (increment > 0) this.#sendWindowUpdate(streamId, increment, stream.receiveWindow.size);
    }
  }

  #sendWindowUpdate(streamId: number, increment: number, streamWindow: number | null): void {
    this.#out.send({ type: 'WINDOW_UPDATE', streamId, increment }, { connection: this.#receiveWindow.size, stream: streamWindow });
    this.#queuedControlFrames++;
  }

  #onHeaders(frame: Frame & { type: 'HEADERS' }, events: H2Event[]): void {
    const { streamId } = frame;
    if (frame.priority !== null && frame.priority.dependency === streamId) {
      // §5.3.1; the block must still be decoded to keep HPACK in step, so it is read and then the stream reset.
      this.#onBlock(this.#headerBlocks.start(frame, true), events);
      throw new H2StreamError(streamId, 'PROTOCOL_ERROR', 'a stream that depends on itself');
    }
    this.#onBlock(this.#headerBlocks.start(frame, false), events);
  }

  /** A header block is complete (or null: CONTINUATION frames are due). */
  #onBlock(block: DecodedBlock | null, events: H2Event[]): void {
    if (block === null) return;
    const last = this.#out.lastIncoming();
    if (last !== null && block.codings !== undefined) {
      last.codings = block.codings;
      last.tableSize = this.#headerBlocks.tableSize;
    }
    if (block.discard) return;
    if (this.role === 'server') this.#onRequestBlock(block, events);
    else this.#onResponseBlock(block, events);
  }

  #onRequestBlock(decoded: DecodedBlock, events: H2Event[]): void {
    const { streamId, endStream } = decoded;
    const existing = this.#streams.get(streamId);
    if (existing !== undefined) {
      // A second header block on a stream: trailers, which must end it (§8.1).
      if (existing.state !== 'open') throw new H2StreamError(streamId, 'STREAM_CLOSED', 'HEADERS after END_STREAM');
      if (!endStream) throw new H2StreamError(streamId, 'PROTOCOL_ERROR', 'trailers without END_STREAM');
      if (decoded.tooLarge) throw new H2StreamError(streamId, 'PROTOCOL_ERROR', 'trailers over the header list limit');
      const fields = readTrailerFields(streamId, decoded.fields);
      if (existing.expectedLength !== null && existing.receivedLength !== existing.expectedLength) {
        throw new H2StreamError(streamId, 'PROTOCOL_ERROR', 'DATA that does not match content-length');
      }
      events.push({ type: 'trailers', streamId, fields });
      this.#applyPeer(existing, 'recv-end-stream');
      return;
    }
    // §5.1.1: client streams are odd and increase; a lower id that is not open is closed.
    if (streamId % 2 === 0) throw new H2ConnectionError('PROTOCOL_ERROR', 'a client stream with an even id');
    if (streamId <= this.#streams.highestPeerStreamId) {
      // §5.1 "closed": frames may still arrive on a stream we reset (trailers of a request whose
      // answer ended it); they are ignored. On any other closed stream, HEADERS is an error.
      if (this.#streams.wasReset(streamId)) return;
      // A stream that ended (END_STREAM both ways) is closed (§5.1); an id below the highest that
      // was never used is a new stream out of order (§5.1.1).
      if (this.#streams.wasClosed(streamId)) throw new H2ConnectionError('STREAM_CLOSED', 'HEADERS on a closed stream');
      throw new H2ConnectionError('PROTOCOL_ERROR', 'a stream id lower than one already used');
    }
    this.#streams.notePeerStream(streamId);
    // §6.8: streams above the last id of our GOAWAY are ignored.
    if (this.#goAwayLastStreamId !== null && streamId > this.#goAwayLastStreamId) return;
    const stream = this.#streams.create(streamId, this.#peer.initialWindowSize, this.limits.initialWindowSize);
    stream.state = transition('idle', 'recv-headers')!;
    if (this.#streams.size >= this.limits.maxConcurrentStreams) {
      // §5.1.2: beyond our limit, REFUSED_STREAM (the client may retry it). Counted like a reset:
      // opening streams only to have them refused is the same attack.
      this.#streams.forget(streamId, true);
      this.#sendAnswer({ type: 'RST_STREAM', streamId, errorCode: ERROR_CODE_VALUES.REFUSED_STREAM });
      events.push({
        type: 'stream-reset',
        streamId,
        errorCode: ERROR_CODE_VALUES.REFUSED_STREAM,
        byPeer: false,
        message: `more than ${this.limits.maxConcurrentStreams} concurrent streams`,
      });
      this.#floods.reset(this.#now);
      return;
    }
    this.#streams.add(stream);
    if (endStream) stream.state = transition(stream.state, 'recv-end-stream')!;
    if (decoded.tooLarge) {
      events.push({ type: 'request-too-large', streamId });
      return;
    }
    const request = readRequestFields(streamId, decoded.fields);
    stream.expectedLength = declaredContentLength(streamId, request.fields);
    if (endStream && stream.expectedLength !== null && stream.expectedLength !== 0) {
      throw new H2StreamError(streamId, 'PROTOCOL_ERROR', 'a content-length with no DATA');
    }
    stream.headersReceived = true;
    events.push({ type: 'request', streamId, pseudo: request.pseudo, fields: request.fields, endStream });
  }

  #onResponseBlock(decoded: DecodedBlock, events: H2Event[]): void {
    const { streamId, endStream } = decoded;
    const stream = this.#streams.get(streamId);
    if (stream === undefined) {
      if (this.#streams.isIdle(streamId)) throw new H2ConnectionError('PROTOCOL_ERROR', 'HEADERS on a stream we did not open');
      return; // a stream we reset: its answer may still be in flight
    }
    if (stream.state !== 'open' && stream.state !== 'half-closed-local')
      throw new H2StreamError(streamId, 'STREAM_CLOSED', 'HEADERS after END_STREAM');
    if (decoded.tooLarge) throw new H2StreamError(streamId, 'PROTOCOL_ERROR', 'a response over the header list limit');
    if (stream.headersReceived) {
      if (!endStream) throw new H2StreamError(streamId, 'PROTOCOL_ERROR', 'trailers without END_STREAM');
      events.push({ type: 'trailers', streamId, fields: readTrailerFields(streamId, decoded.fields) });
    } else {
      const response = readResponseFields(streamId, decoded.fields);
      if (response.status >= 200) {
        stream.headersReceived = true;
        stream.expectedLength = declaredContentLength(streamId, response.fields);
      } else if (endStream) {
        throw new H2StreamError(streamId, 'PROTOCOL_ERROR', 'an informational response with END_STREAM');
      }
      events.push({ type: 'response', streamId, status: response.status, fields: response.fields, endStream });
    }
    if (endStream) this.#applyPeer(stream, 'recv-end-stream');
  }

  #onReset(streamId: number, errorCode: number, now: number, events: H2Event[]): void {
    const stream = this.#streams.get(streamId);
    if (stream === undefined) {
      if (this.#streams.isIdle(streamId)) throw new H2ConnectionError('PROTOCOL_ERROR', 'RST_STREAM on an idle stream'); // §6.4
      return;
    }
    this.#streams.forget(streamId, false);
    events.push({ type: 'stream-reset', streamId, errorCode, byPeer: true });
    // CVE-2023-44487 (Rapid Reset): a stream cancelled before our answer is complete cost us the
    // work of starting that answer; many of them are the attack.
    if (this.role === 'server') this.#floods.reset(now);
  }

  #onSettings(ack: boolean, settings: readonly SettingEntry[], now: number, events: H2Event[]): void {
    if (ack) return; // our settings apply from the start (see limits: we only announce values that are safe before the ACK)
    if (this.#phase === 'settings') this.#phase = 'open';
    else this.#floods.controlFrame(now);
    const peer = this.#peer;
    applyPeerSettings(peer, settings, {
      // We keep at most the default 4 KiB table whatever the peer allows (RFC 7541 §4.2: the encoder chooses).
      headerTableSize: (size) => this.#encoder.setMaxTableSize(Math.min(size, 4096)),
      initialWindowDelta: (delta) => {
        for (const stream of this.#streams.values()) if (!stream.sendWindow.grow(delta)) return false;
        return true;
      },
    });
    this.#sendAnswer({ type: 'SETTINGS', ack: true, settings: [] });
    events.push({ type: 'settings', settings: { ...peer } });
    events.push({ type: 'window-update', streamId: 0 });
  }

  #onWindowUpdate(streamId: number, increment: number, now: number, events: H2Event[]): void {
    if (streamId === 0) {
      if (increment === 0) throw new H2ConnectionError('PROTOCOL_ERROR', 'a WINDOW_UPDATE of 0 on the connection'); // §6.9
      if (!this.#sendWindow.grow(increment)) throw new H2ConnectionError('FLOW_CONTROL_ERROR', 'the connection window above 2^31-1'); // §6.9.1
      this.#annotateLast({ connection: this.#sendWindow.size, stream: null });
      events.push({ type: 'window-update', streamId: 0 });
      return;
    }
    const stream = this.#streams.get(streamId);
    if (stream === undefined) {
      if (this.#streams.isIdle(streamId)) throw new H2ConnectionError('PROTOCOL_ERROR', 'WINDOW_UPDATE on an idle stream'); // §5.1
      this.#floods.controlFrame(now);
      return;
    }
    if (increment === 0) throw new H2StreamError(streamId, 'PROTOCOL_ERROR', 'a WINDOW_UPDATE of 0');
    if (!stream.sendWindow.grow(increment)) throw new H2StreamError(streamId, 'FLOW_CONTROL_ERROR', 'a stream window above 2^31-1');
    this.#annotateLast({ connection: this.#sendWindow.size, stream: stream.sendWindow.size });
    events.push({ type: 'window-update', streamId });
  }

  /** Puts the windows on the record of the frame being handled (the last one read). */
  #annotateLast(windows: NonNullable<FrameRecord['windows']>): void {
    const last = this.#out.lastIncoming();
    if (last !== null) last.windows = windows;
  }

  /** The time of the bytes being handled (receive's `now`). */
  #now = 0;

  #applyPeer(stream: Stream, event: StreamEvent): void {
    const next = transition(stream.state, event);
    if (next === null) throw new H2StreamError(stream.id, 'STREAM_CLOSED', `${event} in state ${stream.state}`);
    this.#streams.setState(stream, next);
  }

  #applyLocal(stream: Stream, event: StreamEvent): void {
    const next = transition(stream.state, event);
    if (next === null) throw new H2StreamError(stream.id, 'STREAM_CLOSED', `${event} in state ${stream.state}`, 'local');
    this.#streams.setState(stream, next);
    // §8.1: a server whose response is complete while the request is not yet may reset the rest of
    // it with NO_ERROR, so the client stops sending a body nobody reads.
    if (this.role === 'server' && next === 'half-closed-local') {
      this.#streams.forget(stream.id, true);
      this.#sendFrame({ type: 'RST_STREAM', streamId: stream.id, errorCode: ERROR_CODE_VALUES.NO_ERROR });
    }
  }

  #failStream(error: H2StreamError, events: H2Event[]): void {
    this.#streams.forget(error.streamId, true);
    this.#sendAnswer({ type: 'RST_STREAM', streamId: error.streamId, errorCode: ERROR_CODE_VALUES[error.code] });
    events.push({
      type: 'stream-reset',
      streamId: error.streamId,
      errorCode: ERROR_CODE_VALUES[error.code],
      byPeer: false,
      message: error.message,
    });
  }

  #failConnection(error: H2ConnectionError, events: H2Event[]): void {
    if (this.#phase !== 'preface' || error.code !== 'PROTOCOL_ERROR') {
      this.#goAwayLastStreamId = null;
      this.goAway(error.code, error.message);
    }
    this.#phase = 'closed';
    this.#headerBlocks.clear();
    events.push({ type: 'connection-error', error });
  }

  // ---- sending ----

  #sendHeaderBlock(streamId: number, fields: readonly FieldPair[], endStream: boolean): void {
    const stream = this.#streams.get(streamId);
    if (stream === undefined) throw new H2StreamError(streamId, 'STREAM_CLOSED', 'HEADERS on a stream that is not open', 'local');
    const codings: FieldCoding[] | undefined = this.#out.recording ? [] : undefined;
    const block = this.#encoder.encode(fields, codings);
    const frameSize = this.#peer.maxFrameSize;
    let offset = 0;
    let first = true;
    do {
      const fragment = block.subarray(offset, offset + frameSize);
      offset += fragment.length;
      const endHeaders = offset >= block.length;
      const frame: Frame = first
        ? { type: 'HEADERS', streamId, endStream, endHeaders, fragment, padLength: null, priority: null }
        : { type: 'CONTINUATION', streamId, endHeaders, fragment };
      first = false;
      const record = this.#out.send(frame);
      if (record !== null && endHeaders) {
        record.codings = codings;
        record.tableSize = this.#encoder.tableSize;
      }
    } while (offset < block.length);
    this.#applyLocal(stream, 'send-headers');
    if (endStream && this.#streams.get(streamId) !== undefined) this.#applyLocal(stream, 'send-end-stream');
  }

  /** A frame we send because the peer made us (an ACK, a reset): counted against maxQueuedControlFrames. */
  #sendAnswer(frame: Frame): void {
    this.#sendFrame(frame);
    if (++this.#queuedControlFrames > this.limits.maxQueuedControlFrames) {
      throw new H2ConnectionError('ENHANCE_YOUR_CALM', 'the peer does not read the answers to its control frames');
    }
  }

  #sendFrame(frame: Frame): void {
    this.#out.send(frame);
  }
}
