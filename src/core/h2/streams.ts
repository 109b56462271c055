/**
 * Stream states (RFC 9113 §5.1) as a table, and flow-control windows (§5.2, §6.9).
 *
 *                          +--------+
 *                  send PP |        | recv PP
 *                 ,--------+  idle  +--------.
 *                /         |        |         \
 *               v          +--------+          v
 *        +----------+          |           +----------+
 *        | reserved |          | send H /  | reserved |
 *        | (local)  |          | recv H    | (remote) |
 *        +---+------+          v           +------+---+
 *            |             +--------+             |
 *            |     recv ES |        | send ES     |
 *     send H |     ,-------+  open  +-------.     | recv H
 *            |    /        |        |        \    |
 *            v   v         +---+----+         v   v
 *        +----------+          |           +----------+
 *        |   half-  |          |           |   half-  |
 *        |  closed  |          | send R /  |  closed  |
 *        | (remote) |          | recv R    | (local)  |
 *        +----+-----+          |           +-----+----+
 *             |                |                 |
 *             | send ES /      |       recv ES / |
 *             |  send R /      v        send R / |
 *             |  recv R    +--------+   recv R   |
 *             `----------->|        |<-----------'
 *                          | closed |
 *                          +--------+
 *
 * A transition missing from the table is not allowed in that state; the connection decides which
 * error that is (§5.1 names one per state).
 */
import { MAX_WINDOW_SIZE } from './frames.js';

export type StreamState = 'idle' | 'reserved-local' | 'reserved-remote' | 'open' | 'half-closed-local' | 'half-closed-remote' | 'closed';

export type StreamEvent =
  | 'send-headers'
  | 'recv-headers'
  | 'send-push-promise'
  | 'recv-push-promise'
  | 'send-end-stream'
  | 'recv-end-stream'
  | 'send-reset'
  | 'recv-reset';

export const STREAM_TRANSITIONS: Readonly<Record<StreamState, Readonly<Partial<Record<StreamEvent, StreamState>>>>> = Object.freeze({
  idle: { 'send-headers': 'open', 'recv-headers': 'open', 'send-push-promise': 'reserved-local', 'recv-push-promise': 'reserved-remote' },
  'reserved-local': { 'send-headers': 'half-closed-remote', 'send-reset': 'closed', 'recv-reset': 'closed' },
  'reserved-remote': { 'recv-headers': 'half-closed-local', 'send-reset': 'closed', 'recv-reset': 'closed' },
  open: {
    'send-headers': 'open',
    'recv-headers': 'open',
    'send-end-stream': 'half-closed-local',
    'recv-end-stream': 'half-closed-remote',
    'send-reset': 'closed',
    'recv-reset': 'closed',
  },
  'half-closed-local': { 'recv-headers': 'half-closed-local', 'recv-end-stream': 'closed', 'send-reset': 'closed', 'recv-reset': 'closed' },
  'half-closed-remote': {
    'send-headers': 'half-closed-remote',
    'send-end-stream': 'closed',
    'send-reset': 'closed',
    'recv-reset': 'closed',
  },
  closed: {},
});

/** The state after `event`, or null when the event is not allowed in `state`. */
export function transition(state: StreamState, event: StreamEvent): StreamState | null {
  return STREAM_TRANSITIONS[state][event] ?? null;
}

/**
 * One direction's flow-control window (§6.9). The sender's view: bytes it may still send. The
 * receiver's view: bytes the peer may still send before we send WINDOW_UPDATE. A window may go
 * negative after SETTINGS_INITIAL_WINDOW_SIZE shrinks (§6.9.2), never above 2^31-1.
 */
export class FlowWindow {
  #size: number;

  constructor(initial: number) {
    this.#size = initial;
  }

  get size(): number {
    return this.#size;
  }

  /** Takes `bytes` from the window; false (and nothing taken) when they do not fit: a FLOW_CONTROL_ERROR on receipt. */
  consume(bytes: number): boolean {
    if (bytes > this.#size) return false;
    this.#size -= bytes;
    return true;
  }

  /** Adds to the window (WINDOW_UPDATE, or a change of the initial size); false on overflow past 2^31-1. */
  grow(delta: number): boolean {
    if (this.#size + delta > MAX_WINDOW_SIZE) return false;
    this.#size += delta;
    return true;
  }
}

/**
 * The receiver's side of a window (§6.9): what the peer may still send, and the bytes the
 * application has consumed that are not yet given back. WINDOW_UPDATE goes out only once more than
 * half the target window is waiting to be given back, so a stream read in small pieces does not
 * answer each DATA frame with a WINDOW_UPDATE.
 */
export class ReceiveWindow {
  /** The size the window is kept at: our SETTINGS_INITIAL_WINDOW_SIZE, or the connection's chosen size. */
  readonly target: number;
  readonly #window: FlowWindow;
  #consumed = 0;

  constructor(target: number, initial = target) {
    this.target = target;
    this.#window = new FlowWindow(initial);
  }

  /** What the peer may still send. */
  get size(): number {
    return this.#window.size;
  }

  /** DATA arrived: false (and nothing taken) when it is beyond the window, a FLOW_CONTROL_ERROR. */
  receive(bytes: number): boolean {
    return this.#window.consume(bytes);
  }

  /** The application is done with `bytes`: the increment to send in a WINDOW_UPDATE now, or 0. */
  consumed(bytes: number): number {
    if (bytes <= 0) return 0;
    // Never more than was received and not yet given back: a caller's miscount cannot grow the window past its target.
    this.#consumed = Math.min(this.#consumed + bytes, this.target - this.#window.size);
    if (this.#consumed <= this.target / 2) return 0;
    const increment = this.#consumed;
    this.#consumed = 0;
    this.#window.grow(increment);
    return increment;
  }
}
