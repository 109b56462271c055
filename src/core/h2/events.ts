/**
 * What an H2Connection tells its owner: the events of receive(), the peer's settings, and the
 * frame records --trace describes (frame-trace.ts).
 */
import type { H2ConnectionError } from './errors.js';
import { DEFAULT_MAX_FRAME_SIZE, type Frame, type FrameHeader } from './frames.js';
import type { FieldCoding } from './header-codec.js';
import type { FieldPair, RequestPseudo } from './semantics.js';

/** The peer's settings as they apply to what we send (§6.5.2 initial values until its SETTINGS arrive). */
export interface PeerSettings {
  headerTableSize: number;
  enablePush: boolean;
  maxConcurrentStreams: number;
  initialWindowSize: number;
  maxFrameSize: number;
  maxHeaderListSize: number;
}

export const INITIAL_PEER_SETTINGS: Readonly<PeerSettings> = Object.freeze({
  headerTableSize: 4096,
  enablePush: true,
  maxConcurrentStreams: Number.POSITIVE_INFINITY,
  initialWindowSize: 65_535,
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  maxHeaderListSize: Number.POSITIVE_INFINITY,
});

export type H2Event =
  /** Server: a request's header section, well-formed by §8. */
  | { type: 'request'; streamId: number; pseudo: RequestPseudo; fields: FieldPair[]; endStream: boolean }
  /** Server: a request whose decoded fields exceed maxHeaderListSize; the stream is open for a 431. */
  | { type: 'request-too-large'; streamId: number }
  /** Client: a response header section (informational when status < 200). */
  | { type: 'response'; streamId: number; status: number; fields: FieldPair[]; endStream: boolean }
  | { type: 'data'; streamId: number; data: Buffer; endStream: boolean }
  | { type: 'trailers'; streamId: number; fields: FieldPair[] }
  /** A stream ended abnormally: reset by the peer (byPeer)... */
  | { type: 'stream-reset'; streamId: number; errorCode: number; byPeer: true }
  /** ...or by us after a stream error, with the rule it broke in our words (`message`). */
  | { type: 'stream-reset'; streamId: number; errorCode: number; byPeer: false; message: string }
  /** Windows grew (WINDOW_UPDATE or SETTINGS): data waiting for flow control may go now. */
  | { type: 'window-update'; streamId: number }
  | { type: 'settings'; settings: PeerSettings }
  | { type: 'ping-ack'; opaqueData: Buffer }
  | { type: 'goaway'; lastStreamId: number; errorCode: number }
  /** GOAWAY is queued: send the output, then close. */
  | { type: 'connection-error'; error: H2ConnectionError };

/** One frame in or out, for --trace (frame-trace.ts describes it). */
export interface FrameRecord {
  direction: 'in' | 'out';
  header: FrameHeader;
  /** The frame; a DATA frame's data is not kept (only its length, in the header). */
  frame: Frame;
  /** For the frame that ends a header block: how each field was coded, and the dynamic table's size after it. */
  codings?: FieldCoding[];
  tableSize?: number;
  /** For DATA and WINDOW_UPDATE: the windows after it (the receiver's view for 'in', the sender's for 'out'). */
  windows?: { connection: number; stream: number | null };
}
