/**
 * Every way a message can break the rules, as a stable string code. Callers switch on the code;
 * the message is for people and never contains the peer's bytes.
 */
export type ProtocolErrorCode =
  | 'bad-request-line'
  /** More empty lines before a request line than a server ignores (a CR/LF trickle). */
  | 'too-many-empty-lines'
  | 'bad-method'
  | 'bad-request-target'
  | 'bad-version'
  | 'unsupported-version'
  | 'request-line-too-long'
  | 'head-too-large'
  | 'too-many-fields'
  | 'bad-field-name'
  | 'bad-field-value'
  | 'whitespace-before-colon'
  | 'obsolete-line-folding'
  | 'bad-line-ending'
  | 'bad-content-length'
  | 'conflicting-content-length'
  | 'content-length-with-transfer-encoding'
  | 'bad-transfer-encoding'
  | 'unsupported-transfer-coding'
  | 'bad-chunk-size'
  | 'chunk-size-too-large'
  | 'chunk-line-too-long'
  | 'bad-chunk-extension'
  | 'bad-chunk-end'
  | 'body-too-large'
  | 'missing-host'
  | 'bad-host'
  | 'bad-status-line'
  | 'incomplete-message'
  | 'bad-field-to-send'
  /** A fault of ours, not of the message: a bug. */
  | 'internal-error';

/** Who broke the rules: the other end of the connection, or the code that called us. */
export type ErrorSide = 'peer' | 'local';

export class HttpProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  /** The status a server should answer with when the peer is at fault. */
  readonly status: number;
  readonly side: ErrorSide;

  constructor(code: ProtocolErrorCode, message: string, status = 400, side: ErrorSide = 'peer') {
    super(message);
    this.name = 'HttpProtocolError';
    this.code = code;
    this.status = status;
    this.side = side;
  }
}

export function peerError(code: ProtocolErrorCode, message: string, status = 400): HttpProtocolError {
  return new HttpProtocolError(code, message, status, 'peer');
}
