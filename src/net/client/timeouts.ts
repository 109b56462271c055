/**
 * The client's clocks. A request has up to four, each failing with its own code so that callers
 * can tell a server that is down from one that is slow to answer or stalls halfway (undici's
 * UND_ERR_CONNECT_TIMEOUT, HEADERS_TIMEOUT and BODY_TIMEOUT are the model):
 *
 *   connect   DNS, TCP, a proxy's CONNECT tunnel and the TLS handshake (curl's --connect-timeout)
 *   headers   from the request written to the final response head (interim 1xx heads do not reset it)
 *   body      between two pieces of the body, counted only while its reader wants more: time the
 *             caller spends not reading (backpressure, --limit-rate) is not the server's fault
 *   total     `timeoutMs`, the whole request, redirects and retries included (curl's --max-time)
 *
 * The first three have defaults, so that a silent server never holds a request forever; the total
 * has none. 0 turns a phase's clock off.
 */
import { performance } from 'node:perf_hooks';
import { ClientError } from './errors.js';

export interface ClientTimeouts {
  connectMs: number;
  headersMs: number;
  bodyMs: number;
}

/** undici's defaults for the head and the body; its 10 s for connecting, where curl waits 300 s. */
export const DEFAULT_CLIENT_TIMEOUTS: Readonly<ClientTimeouts> = Object.freeze({ connectMs: 10_000, headersMs: 300_000, bodyMs: 300_000 });

/** The signal of a request without a time limit: it never aborts. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

function seconds(milliseconds: number): string {
  return `${milliseconds / 1000} s`;
}

/**
 * A single timer for the whole request; aborting its signal fails whatever is in progress. Without
 * a time limit there is neither timer nor AbortController (an EventTarget, costly to make and to
 * listen to on every request): the signal is one that never aborts.
 */
export class Deadline {
  readonly #controller: AbortController | null;
  readonly #timer: NodeJS.Timeout | null;

  constructor(timeoutMs: number | undefined) {
    if (timeoutMs === undefined) {
      this.#controller = null;
      this.#timer = null;
      return;
    }
    const controller = new AbortController();
    this.#controller = controller;
    this.#timer = setTimeout(
      () => controller.abort(new ClientError('timeout', `No complete response within ${seconds(timeoutMs)}`)),
      timeoutMs,
    );
  }

  get signal(): AbortSignal {
    return this.#controller?.signal ?? NEVER_ABORTED;
  }

  get hasTimer(): boolean {
    return this.#timer !== null;
  }

  clear(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
  }
}

/** What a connection being opened watches: whether it must stop, why, and a call when it must. */
export interface OpeningAbort {
  readonly aborted: boolean;
  readonly reason: unknown;
  /** Calls `onAbort` if the opening must stop before the returned function is called. */
  watch(onAbort: () => void): () => void;
}

/**
 * What stops a connection to `where` from opening: the request's signal, or the connect timeout
 * when it passes first, with a 'connect-timeout' error. Made once per new connection (a pooled one
 * skips it); `clear` must be called when the connection is open or has failed. Not an
 * AbortController: listening to an EventTarget costs about 0.3 ms the first time in a process, a
 * good part of a `sockhttp get` (and the request's signal, when it cannot abort, is not listened to).
 */
export class ConnectDeadline implements OpeningAbort {
  readonly #signal: AbortSignal;
  readonly #listeners = new Set<() => void>();
  #reason: unknown = undefined;
  #timer: NodeJS.Timeout | null = null;
  #forward: (() => void) | null = null;

  constructor(signal: AbortSignal, timeoutMs: number, where: string) {
    this.#signal = signal;
    if (signal.aborted) return;
    if (signal !== NEVER_ABORTED) {
      this.#forward = () => this.#abort(signal.reason);
      signal.addEventListener('abort', this.#forward, { once: true });
    }
    if (timeoutMs > 0 && timeoutMs < Number.POSITIVE_INFINITY) {
      this.#timer = setTimeout(
        () =>
          this.#abort(
            new ClientError('connect-timeout', `Could not connect to ${where} within ${seconds(timeoutMs)} (the connect timeout)`),
          ),
        timeoutMs,
      );
    }
  }

  get aborted(): boolean {
    return this.#signal.aborted || this.#reason !== undefined;
  }

  get reason(): unknown {
    return this.#reason ?? this.#signal.reason;
  }

  watch(onAbort: () => void): () => void {
    this.#listeners.add(onAbort);
    return () => this.#listeners.delete(onAbort);
  }

  clear(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#forward !== null) this.#signal.removeEventListener('abort', this.#forward);
    this.#listeners.clear();
  }

  #abort(reason: unknown): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    const listeners = [...this.#listeners];
    this.clear();
    for (const listener of listeners) listener();
  }
}

type Phase = 'head' | 'body' | 'paused' | 'stopped';

/**
 * The headers and body clocks of an exchange, on one timer. The body clock is not restarted for
 * every chunk (a timer update per read would cost more than the read): a chunk only notes the time,
 * and when the timer fires it looks at how long ago that was and waits for the rest if needed, the
 * way the server's connection timers work.
 *
 * An HTTP/1.1 connection keeps one PhaseTimer for all its exchanges (Connection.clockFor): between
 * them it rests, with its timer still armed, and the next exchange uses that timer when it fires no
 * later than the exchange's own limit. A timer that fires while nothing is timed lapses; one that
 * fires before the current phase's limit is armed again for the rest. So a kept-alive connection
 * sets a timer about once per timeout (300 s by default), not two per request (setTimeout and
 * clearTimeout cost ~8% of the CPU of 1,000 small sequential GETs).
 */
export class PhaseTimer {
  #headersMs: number;
  #bodyMs: number;
  #onTimeout: ((error: ClientError) => void) | null;
  #phase: Phase = 'stopped';
  #timer: NodeJS.Timeout | null = null;
  /** performance.now() at which #timer fires (+∞ when none is armed). */
  #timerAt = Number.POSITIVE_INFINITY;
  /** performance.now() when the head phase started. */
  #headSince = 0;
  /** performance.now() of the last sign of progress in the body phase. */
  #lastProgress = 0;

  constructor(headersMs: number, bodyMs: number, onTimeout: (error: ClientError) => void) {
    this.#headersMs = headersMs;
    this.#bodyMs = bodyMs;
    this.#onTimeout = onTimeout;
  }

  /** The next exchange on the same connection: its limits and its failure; a timer still armed is kept. */
  reuse(headersMs: number, bodyMs: number, onTimeout: (error: ClientError) => void): void {
    this.#headersMs = headersMs;
    this.#bodyMs = bodyMs;
    this.#onTimeout = onTimeout;
    this.#phase = 'stopped';
  }

  /** The request is on its way: the final response head must arrive within headersMs. */
  startHead(): void {
    this.#phase = 'head';
    this.#headSince = performance.now();
    this.#armBy(this.#headSince, this.#headersMs);
  }

  /** The final head arrived: from now on, body bytes must keep coming while they are wanted. */
  startBody(): void {
    this.#phase = 'body';
    this.#lastProgress = performance.now();
    this.#armBy(this.#lastProgress, this.#bodyMs);
  }

  /** Body bytes arrived. */
  progress(): void {
    if (this.#phase === 'body') this.#lastProgress = performance.now();
  }

  /** We stopped reading (the body's reader is full, or --limit-rate waits): the server is not late. */
  pause(): void {
    if (this.#phase === 'body') this.#phase = 'paused';
  }

  /** We read again: the body clock starts over. */
  resume(): void {
    if (this.#phase !== 'paused' && this.#phase !== 'body') return;
    this.#phase = 'body';
    this.#lastProgress = performance.now();
    this.#armBy(this.#lastProgress, this.#bodyMs);
  }

  /** Nothing is timed any more, and the timer is cleared (the exchange, or the connection, is over). */
  stop(): void {
    this.rest();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  /** Between two exchanges of a connection: nothing is timed, the failure callback is dropped, the timer stays armed. */
  rest(): void {
    this.#phase = 'stopped';
    this.#onTimeout = null;
  }

  /** Makes sure the timer fires no later than `milliseconds` after `from` (when the phase has a limit). */
  #armBy(from: number, milliseconds: number): void {
    if (!(milliseconds > 0 && milliseconds < Number.POSITIVE_INFINITY)) return;
    const at = from + milliseconds;
    if (this.#timer !== null) {
      if (this.#timerAt <= at) return; // it fires first, and #fire waits for the rest
      clearTimeout(this.#timer);
    }
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(1, at - performance.now()));
    this.#timer.unref(); // the socket keeps the process alive while it is wanted, not this timer
  }

  #fire(): void {
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    switch (this.#phase) {
      case 'head': {
        if (!(this.#headersMs > 0 && this.#headersMs < Number.POSITIVE_INFINITY)) return;
        const waitedMs = now - this.#headSince;
        if (waitedMs < this.#headersMs) return this.#armBy(this.#headSince, this.#headersMs); // set for an earlier exchange
        this.#phase = 'stopped';
        return this.#timeOut(
          new ClientError('headers-timeout', `No response head within ${seconds(this.#headersMs)} of the request (the headers timeout)`),
        );
      }
      case 'body': {
        if (!(this.#bodyMs > 0 && this.#bodyMs < Number.POSITIVE_INFINITY)) return;
        const idleMs = now - this.#lastProgress;
        if (idleMs < this.#bodyMs) return this.#armBy(this.#lastProgress, this.#bodyMs);
        this.#phase = 'stopped';
        return this.#timeOut(
          new ClientError('body-timeout', `The body stalled: nothing arrived for ${seconds(this.#bodyMs)} (the body timeout)`),
        );
      }
      case 'paused': // resume() arms the timer again
      case 'stopped': // resting between exchanges: the timer lapses
        return;
    }
  }

  #timeOut(error: ClientError): void {
    const onTimeout = this.#onTimeout;
    this.#onTimeout = null;
    onTimeout?.(error);
  }
}
