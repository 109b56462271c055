/**
 * Every size limit of the protocol core, with the reason it exists. A limit turns an attacker's
 * "send forever" into a bounded amount of work and memory; each is configurable.
 */
export interface Limits {
  /** Request line (or status line) bytes. Longer URLs than this are nearly always attacks or bugs; nginx uses 8 KiB too. → 414 */
  maxStartLineBytes: number;
  /** The whole head: start line and every field line. Bounds memory held per connection before a message is even known. → 431 */
  maxHeadBytes: number;
  /** Number of field lines (and of trailer lines). Bounds the work of building the field index. → 431 */
  maxFieldCount: number;
  /** A chunk-size line with its extensions. Extensions are never used by us; unbounded ones are a known DoS. */
  maxChunkLineBytes: number;
  /** Trailer section bytes. */
  maxTrailerBytes: number;
  /** Tolerate a lone LF as a line terminator (RFC 9112 §2.2 MAY). Off for requests (smuggling), on for responses (lab servers). */
  allowBareLineFeed: boolean;
  /**
   * Empty lines ignored before a request line (RFC 9112 §2.2: a server SHOULD ignore at least one,
   * for clients that add a CRLF after a body). More are a 400: an endless stream of CRLF would
   * otherwise keep a connection open without ever starting a request.
   */
  maxEmptyLinesBeforeRequest: number;
}

export const DEFAULT_REQUEST_LIMITS: Readonly<Limits> = Object.freeze({
  maxStartLineBytes: 8 * 1024,
  maxHeadBytes: 64 * 1024,
  maxFieldCount: 100,
  maxChunkLineBytes: 4 * 1024,
  maxTrailerBytes: 16 * 1024,
  allowBareLineFeed: false,
  maxEmptyLinesBeforeRequest: 4,
});

export const DEFAULT_RESPONSE_LIMITS: Readonly<Limits> = Object.freeze({
  maxStartLineBytes: 8 * 1024,
  maxHeadBytes: 256 * 1024,
  maxFieldCount: 500,
  maxChunkLineBytes: 4 * 1024,
  maxTrailerBytes: 64 * 1024,
  allowBareLineFeed: true,
  maxEmptyLinesBeforeRequest: 4,
});
