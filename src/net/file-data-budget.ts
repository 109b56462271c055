/**
 * The file data in flight for the whole process: bytes read from files and not yet handed to the
 * kernel. Without a shared bound, every slow reader of a large file holds its own read-ahead and
 * socket buffer (about half a megabyte each), and a thousand of them hold half a gigabyte.
 *
 * A streaming connection asks for each read beyond a small floor it may always have; it gets what is
 * left of the budget (possibly nothing, and then it reads only the floor) and gives it back once the
 * socket has taken the bytes. So the budget can never deadlock a connection: each one always moves
 * on with the floor, at the pace its client reads, and its stall timeout still applies. The total is
 * bounded by the budget plus the floor times the connections streaming at once.
 */
export class FileDataBudget {
  readonly capacity: number;
  #inUse = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Bytes granted and not yet given back. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Takes up to `wanted` bytes; returns how many were granted (0 when the budget is spent). */
  take(wanted: number): number {
    const granted = Math.max(0, Math.min(wanted, this.capacity - this.#inUse));
    this.#inUse += granted;
    return granted;
  }

  give(bytes: number): void {
    this.#inUse -= bytes;
  }
}

/** The default budget shared by every server of the process: 64 MiB of file data in flight. */
export const SHARED_FILE_DATA_BUDGET = new FileDataBudget(64 * 1024 * 1024);
