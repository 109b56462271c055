/**
 * The client's clocks: the deadline of a whole request (`timeoutMs`, curl's --max-time).
 */
import { ClientError } from './client-errors.js';

/** The signal of a request without a time limit: it never aborts. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

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
    this.#timer = setTimeout(() => controller.abort(new ClientError('timeout', `No complete response within ${timeoutMs / 1000} s`)), timeoutMs);
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
