/**
 * The limits of an HTTP/2 connection, each with the attack it bounds. Times are in the milliseconds
 * the caller stamps its calls with (the core has no clock). Defaults are in DEFAULT_H2_LIMITS.
 */
import { H2ConnectionError } from './errors.js';

export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we announce (§5.1.2); a stream beyond it is refused with REFUSED_STREAM. */
  maxConcurrentStreams: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE we announce: request body bytes a peer may send per stream before we ask for more. */
  initialWindowSize: number;
  /** SETTINGS_MAX_FRAME_SIZE we announce: the largest frame payload we buffer (§4.2). */
  maxFrameSize: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we announce and enforce on decoded fields (HPACK bombs): beyond it, 431. */
  maxHeaderListSize: number;
  /** SETTINGS_HEADER_TABLE_SIZE we announce: the HPACK dynamic table the peer may make us keep. */
  headerTableSize: number;
  /**
   * CONTINUATION floods (CVE-2023-45288): HPACK bytes of one header block, HEADERS and CONTINUATION
   * frames together, before END_HEADERS. Beyond it, GOAWAY ENHANCE_YOUR_CALM.
   */
  maxHeaderBlockBytes: number;
  /** CONTINUATION floods with empty frames: CONTINUATION frames of one header block. */
  maxContinuationFrames: number;
  /**
   * Rapid Reset (CVE-2023-44487): streams the peer opens and cancels (RST_STREAM before our answer
   * is complete), or that we refuse, within resetWindowMs. Beyond it, GOAWAY ENHANCE_YOUR_CALM.
   */
  maxResetsPerWindow: number;
  resetWindowMs: number;
  /**
   * SETTINGS and PING floods: frames that make us answer (SETTINGS, PING) or that do nothing
   * (PRIORITY, empty DATA, WINDOW_UPDATE on idle streams) within controlWindowMs.
   */
  maxControlFramesPerWindow: number;
  controlWindowMs: number;
  /**
   * Answers (ACKs, RST_STREAM) queued while the socket layer reports its output as not taken by the
   * peer: a peer that floods and never reads cannot grow our output buffer. → ENHANCE_YOUR_CALM
   */
  maxQueuedControlFrames: number;
}

export const DEFAULT_H2_LIMITS: Readonly<H2Limits> = Object.freeze({
  maxConcurrentStreams: 100,
  // A static server reads no request bodies: a small window is plenty and bounds what a peer may push.
  initialWindowSize: 65_535,
  maxFrameSize: 16_384,
  maxHeaderListSize: 64 * 1024,
  headerTableSize: 4_096,
  maxHeaderBlockBytes: 64 * 1024,
  maxContinuationFrames: 32,
  maxResetsPerWindow: 200,
  resetWindowMs: 10_000,
  maxControlFramesPerWindow: 1_000,
  controlWindowMs: 10_000,
  maxQueuedControlFrames: 1_000,
});

/**
 * Counts events (resets, control frames) in fixed windows of the caller's time: `count(now)` is
 * false once more than `max` happened within `windowMs` of the window's first event.
 */
export class EventWindow {
  readonly #max: number;
  readonly #windowMs: number;
  #start = Number.NEGATIVE_INFINITY;
  #count = 0;

  constructor(max: number, windowMs: number) {
    this.#max = max;
    this.#windowMs = windowMs;
  }

  count(now: number): boolean {
    if (now - this.#start > this.#windowMs) {
      this.#start = now;
      this.#count = 0;
    }
    return ++this.#count <= this.#max;
  }
}

/** The flood defences of one connection: each count beyond its limit is a connection error. */
export class FloodGuard {
  readonly #limits: Readonly<H2Limits>;
  readonly #resets: EventWindow;
  readonly #controlFrames: EventWindow;

  constructor(limits: Readonly<H2Limits>) {
    this.#limits = limits;
    this.#resets = new EventWindow(limits.maxResetsPerWindow, limits.resetWindowMs);
    this.#controlFrames = new EventWindow(limits.maxControlFramesPerWindow, limits.controlWindowMs);
  }

  /** Rapid Reset (CVE-2023-44487): a stream cancelled before our answer is complete, or refused. */
  reset(now: number): void {
    if (!this.#resets.count(now)) {
      const { maxResetsPerWindow, resetWindowMs } = this.#limits;
      throw new H2ConnectionError('ENHANCE_YOUR_CALM', `more than ${maxResetsPerWindow} streams reset in ${resetWindowMs} ms`);
    }
  }

  /** SETTINGS, PING and idle-frame floods. */
  controlFrame(now: number): void {
    if (!this.#controlFrames.count(now)) {
      const { maxControlFramesPerWindow, controlWindowMs } = this.#limits;
      throw new H2ConnectionError('ENHANCE_YOUR_CALM', `more than ${maxControlFramesPerWindow} control frames in ${controlWindowMs} ms`);
    }
  }
}
