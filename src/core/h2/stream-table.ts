/**
 * The streams of one HTTP/2 connection (RFC 9113 §5.1): the open ones, each with its state and
 * windows, and what is needed to tell an idle stream id from a closed one once it is forgotten.
 *
 * Memory: one small record per open or half-closed stream (the connection refuses streams beyond
 * maxConcurrentStreams), plus the ids of the last RECENT_STREAMS streams reset and closed. A stream
 * id at or below the highest seen and not in the table is closed (§5.1.1); those two short lists only
 * choose the error (or the silence) for frames that arrive on it late.
 */
import { FlowWindow, ReceiveWindow, type StreamState } from './streams.js';

export interface H2Stream {
  readonly id: number;
  state: StreamState;
  readonly sendWindow: FlowWindow;
  readonly receiveWindow: ReceiveWindow;
  /** The peer's declared content-length (§8.1.1), and the DATA bytes received so far. */
  expectedLength: number | null;
  receivedLength: number;
  /** A final response (client) or the request head (server) has arrived: the next HEADERS are trailers. */
  headersReceived: boolean;
}

/** How many of the streams we reset, or that closed, are remembered. */
const RECENT_STREAMS = 128;

export class StreamTable {
  readonly #isServer: boolean;
  readonly #streams = new Map<number, H2Stream>();
  #highestPeerStreamId = 0;
  #nextLocalStreamId: number;
  /** Streams we reset lately (bounded: the oldest are forgotten), whose frames in flight are ignored. */
  readonly #recentlyReset = new Set<number>();
  /** Streams that ended normally lately (bounded likewise), told apart from ids never used. */
  readonly #recentlyClosed = new Set<number>();

  constructor(role: 'server' | 'client') {
    this.#isServer = role === 'server';
    this.#nextLocalStreamId = this.#isServer ? 2 : 1;
  }

  /** Open or half-closed streams (§5.1.2). */
  get size(): number {
    return this.#streams.size;
  }

  /** The highest stream id the peer has opened (GOAWAY's last stream id, §6.8). */
  get highestPeerStreamId(): number {
    return this.#highestPeerStreamId;
  }

  get(streamId: number): H2Stream | undefined {
    return this.#streams.get(streamId);
  }

  values(): IterableIterator<H2Stream> {
    return this.#streams.values();
  }

  stateOf(streamId: number): StreamState {
    const stream = this.#streams.get(streamId);
    if (stream !== undefined) return stream.state;
    return this.isIdle(streamId) ? 'idle' : 'closed';
  }

  /** Never used yet by the side whose ids these are (§5.1.1): neither open nor closed. */
  isIdle(streamId: number): boolean {
    const peerInitiated = (streamId % 2 === 1) === this.#isServer;
    return peerInitiated ? streamId > this.#highestPeerStreamId : streamId >= this.#nextLocalStreamId;
  }

  /** A new stream id from the peer: every lower id of the peer's that is not open is now closed. */
  notePeerStream(streamId: number): void {
    this.#highestPeerStreamId = streamId;
  }

  /** A record for a stream, not yet in the table (add() puts it there). */
  create(streamId: number, sendWindow: number, receiveWindow: number): H2Stream {
    return {
      id: streamId,
      state: 'idle',
      sendWindow: new FlowWindow(sendWindow),
      receiveWindow: new ReceiveWindow(receiveWindow),
      expectedLength: null,
      receivedLength: 0,
      headersReceived: false,
    };
  }

  add(stream: H2Stream): void {
    this.#streams.set(stream.id, stream);
  }

  /** The next id of our own (odd for a client), and its record in the table. */
  openLocal(sendWindow: number, receiveWindow: number): H2Stream {
    const stream = this.create(this.#nextLocalStreamId, sendWindow, receiveWindow);
    this.#nextLocalStreamId += 2;
    this.add(stream);
    return stream;
  }

  setState(stream: H2Stream, state: StreamState): void {
    stream.state = state;
    if (state === 'closed') {
      this.#streams.delete(stream.id);
      remember(this.#recentlyClosed, stream.id);
    }
  }

  /** A stream ended by RST_STREAM, sent (ours: remembered, so its late frames are ignored) or received. */
  forget(streamId: number, weReset: boolean): void {
    this.#streams.delete(streamId);
    if (weReset) remember(this.#recentlyReset, streamId);
  }

  wasReset(streamId: number): boolean {
    return this.#recentlyReset.has(streamId);
  }

  wasClosed(streamId: number): boolean {
    return this.#recentlyClosed.has(streamId);
  }
}

function remember(streams: Set<number>, streamId: number): void {
  streams.add(streamId);
  if (streams.size > RECENT_STREAMS) streams.delete(streams.values().next().value!);
}
