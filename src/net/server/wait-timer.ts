/**
 * The one timer behind a connection's waits (idle, head, body, linger…). A wait ends at a deadline
 * that is never extended while the same wait goes on, so a slowloris client trickling one byte at a
 * time (or only empty lines) still has to finish its head within headersMs of its first byte.
 *
 * Waits start and stop for every request, so they only set a deadline: the timer that enforces it
 * is rescheduled only when it would fire too late, and when it fires early (for a wait that has
 * since ended or been replaced by a later one) it sleeps again. No timer is created or cleared per
 * request.
 */
export class WaitTimer<Wait extends string> {
  readonly #onExpired: (waitingFor: Wait) => void;
  #waitingFor: Wait | null = null;
  /** When the wait ends, in performance.now() milliseconds. */
  #deadline = 0;
  #timer: NodeJS.Timeout | null = null;
  /** When the timer fires: at or before the deadline. */
  #due = 0;

  /** `onExpired` is called when a wait reaches its deadline (not for one stopped before). */
  constructor(onExpired: (waitingFor: Wait) => void) {
    this.#onExpired = onExpired;
  }

  get waitingFor(): Wait | null {
    return this.#waitingFor;
  }

  /** Starts a wait that ends `ms` from now, unless that wait is running already: then it keeps its deadline. */
  start(waitingFor: Wait, ms: number): void {
    if (waitingFor === this.#waitingFor) return;
    this.#waitingFor = waitingFor;
    this.#deadline = performance.now() + ms;
    if (this.#timer === null || this.#due > this.#deadline) this.#schedule();
  }

  /** Ends the current wait. The timer stays, for the next wait. */
  stop(): void {
    this.#waitingFor = null;
  }

  /** Ends the current wait and lets go of the timer itself, once the connection is over. */
  dispose(): void {
    this.#waitingFor = null;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#due = this.#deadline;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, this.#deadline - performance.now()));
  }

  #fire(): void {
    this.#timer = null;
    const waitingFor = this.#waitingFor;
    if (waitingFor === null) return;
    if (performance.now() < this.#deadline) {
      this.#schedule();
      return;
    }
    this.#waitingFor = null;
    this.#onExpired(waitingFor);
  }
}
