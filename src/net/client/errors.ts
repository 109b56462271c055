/**
 * How a request fails: a ClientError with a stable code, so that callers (and `sockhttp get`, which
 * maps each code to an exit code) switch on the code instead of matching messages. Socket and parser
 * errors are turned into ClientErrors here, in one place each.
 */
import { HttpProtocolError } from '../../core/errors.js';

/** Stable codes for every way a request can fail, so callers switch on them instead of on messages. */
export type ClientErrorCode =
  | 'bad-url'
  | 'unsupported-protocol'
  | 'unknown-host'
  | 'connect-refused'
  | 'connect-failed'
  /** The whole request took longer than `timeoutMs`. */
  | 'timeout'
  /** No connection (TCP, a proxy's tunnel, TLS) within `connectTimeoutMs`. */
  | 'connect-timeout'
  /** No response head within `headersTimeoutMs` of sending the request. */
  | 'headers-timeout'
  /** No body bytes for `bodyTimeoutMs` while the body's reader wanted some. */
  | 'body-timeout'
  | 'connection-reset'
  | 'bad-response'
  | 'empty-response'
  | 'incomplete-body'
  | 'bad-request'
  | 'tls-certificate'
  | 'tls-handshake'
  | 'head-too-large'
  | 'too-many-interim-responses'
  | 'body-too-large'
  | 'proxy-unknown-host'
  | 'proxy-failed'
  | 'too-many-redirects'
  | 'bad-content-encoding'
  /** HTTP/2: the server reset the stream (RST_STREAM); `http2Code` on the Http2ClientError names why. */
  | 'stream-reset'
  /** HTTP/2: a connection error (GOAWAY with an error, a frame that breaks RFC 9113), or a request the server would not process. */
  | 'http2-error';

export class ClientError extends Error {
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientError';
    this.code = code;
  }
}

/** Certificate verification failures (node:tls error codes), as opposed to other handshake failures. */
const CERTIFICATE_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME/;

/** A socket error turned into a ClientError; `role` says whether the peer is the origin or a proxy. */
export function socketError(error: NodeJS.ErrnoException, host: string, port: number, role: 'origin' | 'proxy' = 'origin'): ClientError {
  const where = role === 'proxy' ? `proxy ${host}:${port}` : `${host}:${port}`;
  if (error.code !== undefined && CERTIFICATE_ERRORS.test(error.code)) {
    return new ClientError(
      'tls-certificate',
      `The certificate of ${where} cannot be trusted (${error.code}); use --cacert, or -k to skip the check`,
      { cause: error },
    );
  }
  if (error.code === 'EPROTO' || error.code?.startsWith('ERR_SSL') || error.code?.startsWith('ERR_TLS')) {
    return new ClientError('tls-handshake', `TLS handshake with ${where} failed (${error.code})`, { cause: error });
  }
  switch (error.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new ClientError(
        role === 'proxy' ? 'proxy-unknown-host' : 'unknown-host',
        `Could not resolve ${role === 'proxy' ? 'proxy' : 'host'} ${host}`,
        { cause: error },
      );
    case 'ECONNREFUSED':
      return new ClientError('connect-refused', `Connection refused by ${where}`, { cause: error });
    case 'ECONNRESET':
    case 'EPIPE':
      return new ClientError('connection-reset', `Connection reset by ${where}`, { cause: error });
    default:
      return new ClientError('connect-failed', `Could not connect to ${where} (${error.code ?? error.message})`, { cause: error });
  }
}

/** An error of the core's ResponseReader turned into a ClientError. */
export function protocolError(error: unknown): ClientError {
  if (error instanceof HttpProtocolError && error.code === 'incomplete-message') {
    return new ClientError('incomplete-body', 'The connection closed before the whole response arrived', { cause: error });
  }
  if (error instanceof HttpProtocolError && (error.code === 'head-too-large' || error.code === 'too-many-fields')) {
    return new ClientError('head-too-large', `The response head is too large: ${error.message}`, { cause: error });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new ClientError('bad-response', `Malformed response: ${detail}`, { cause: error });
}

/**
 * A failure of HTTP/2 itself: a stream the server reset ('stream-reset'), or a connection error
 * ('http2-error'), with the RFC 9113 §7 error code by name. `unprocessed`: the server said it did
 * not act on the request (REFUSED_STREAM, or a stream above a GOAWAY's last stream id), so it may
 * be sent again whatever its method (§8.7).
 */
export class Http2ClientError extends ClientError {
  readonly http2Code: string;
  readonly unprocessed: boolean;

  constructor(code: ClientErrorCode, http2Code: string, message: string, unprocessed = false) {
    super(code, message);
    this.http2Code = http2Code;
    this.unprocessed = unprocessed;
  }
}
