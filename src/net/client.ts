/**
 * The HTTP/1.1 client: one request over one TCP connection, read with the core's ResponseReader.
 *
 * `request` resolves once the response head has arrived; the body is a Readable stream (an async
 * iterable of Buffers) that applies backpressure to the socket: when nobody reads, the socket is
 * paused and the server's sends wait in TCP, not in our memory.
 */
import { type Socket, connect, isIP } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { Readable } from 'node:stream';
import { HttpProtocolError } from '../core/errors.js';
import { type FieldLine, Fields } from '../core/fields.js';
import type { HttpVersion } from '../core/head-parser.js';
import { DEFAULT_RESPONSE_LIMITS, type Limits } from '../core/limits.js';
import { ResponseReader } from '../core/message-reader.js';
import { serializeRequestHead } from '../core/serializer.js';
import { VERSION } from '../version.js';

/** Stable codes for every way a request can fail, so callers switch on them instead of on messages. */
export type ClientErrorCode =
  | 'bad-url'
  | 'unsupported-protocol'
  | 'unknown-host'
  | 'connect-refused'
  | 'connect-failed'
  | 'timeout'
  | 'connection-reset'
  | 'bad-response'
  | 'incomplete-body'
  | 'bad-request'
  | 'tls-certificate'
  | 'tls-handshake'
  | 'head-too-large'
  | 'body-too-large';

export class ClientError extends Error {
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientError';
    this.code = code;
  }
}

export interface RequestOptions {
  method?: string;
  /** Extra request fields. A field given here replaces the default of the same name (Host, User-Agent…). */
  headers?: Iterable<FieldLine> | Record<string, string>;
  body?: Buffer | string;
  /** The whole exchange, connection to last body byte, must finish within this time. */
  timeoutMs?: number;
  /** Receives every byte read from the connection, exactly as it arrived (for --raw and traces). */
  onRawBytes?: (bytes: Buffer) => void;
  limits?: Partial<Limits>;
  /** The body may be at most this many bytes (after decoding the chunked framing); more is an error. */
  maxBodyBytes?: number;
  /** HTTPS: do not verify the server's certificate (curl -k). */
  insecure?: boolean;
  /** HTTPS: trust these PEM certificate authorities instead of the system's. */
  ca?: Buffer | string;
}

export interface ClientResponse {
  status: number;
  reason: string;
  version: HttpVersion;
  fields: Fields;
  /** The decoded message body (chunked framing removed). Errors surface as a ClientError on the stream. */
  body: Readable;
}

export const USER_AGENT = `sockhttp/${VERSION}`;

function parseUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch {
    throw new ClientError('bad-url', `Not a valid URL: ${String(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ClientError('unsupported-protocol', `Unsupported protocol: ${parsed.protocol}`);
  if (parsed.hostname === '') throw new ClientError('bad-url', 'The URL has no host');
  return parsed;
}

function buildFields(url: URL, options: RequestOptions, bodyLength: number): FieldLine[] {
  const defaults: FieldLine[] = [
    ['Host', url.host],
    ['User-Agent', USER_AGENT],
    ['Accept', '*/*'],
    // One request per connection: say so, so the server closes rather than waits for another.
    ['Connection', 'close'],
  ];
  const extra: FieldLine[] =
    options.headers === undefined
      ? []
      : Symbol.iterator in options.headers
        ? [...(options.headers as Iterable<FieldLine>)]
        : Object.entries(options.headers);
  const overridden = new Set(extra.map(([name]) => name.toLowerCase()));
  const fields = defaults.filter(([name]) => !overridden.has(name.toLowerCase()));
  fields.push(...extra);
  if (bodyLength > 0 && !overridden.has('content-length')) fields.push(['Content-Length', String(bodyLength)]);
  return fields;
}

/** Certificate verification failures (node:tls error codes), as opposed to other handshake failures. */
const CERTIFICATE_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME/;

function connectError(error: NodeJS.ErrnoException, host: string, port: number): ClientError {
  const where = `${host}:${port}`;
  if (error.code !== undefined && CERTIFICATE_ERRORS.test(error.code)) {
    return new ClientError('tls-certificate', `The certificate of ${where} cannot be trusted (${error.code}); use --cacert, or -k to skip the check`, { cause: error });
  }
  if (error.code === 'EPROTO' || error.code?.startsWith('ERR_SSL') || error.code?.startsWith('ERR_TLS')) {
    return new ClientError('tls-handshake', `TLS handshake with ${where} failed (${error.code})`, { cause: error });
  }
  switch (error.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new ClientError('unknown-host', `Could not resolve host ${host}`, { cause: error });
    case 'ECONNREFUSED':
      return new ClientError('connect-refused', `Connection refused by ${where}`, { cause: error });
    case 'ECONNRESET':
    case 'EPIPE':
      return new ClientError('connection-reset', `Connection reset by ${where}`, { cause: error });
    default:
      return new ClientError('connect-failed', `Could not connect to ${where} (${error.code ?? error.message})`, { cause: error });
  }
}

function protocolError(error: unknown): ClientError {
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
 * Sends one request and resolves with the response head and a streaming body.
 *
 * @example
 * const response = await request('http://127.0.0.1:13331/HelloWorld.html');
 * console.log(response.status, response.fields.get('content-type'));
 * for await (const chunk of response.body) process.stdout.write(chunk);
 */
export function request(url: string | URL, options: RequestOptions = {}): Promise<ClientResponse> {
  let target: URL;
  try {
    target = parseUrl(url);
  } catch (error) {
    return Promise.reject(error);
  }
  const method = options.method ?? 'GET';
  const body = typeof options.body === 'string' ? Buffer.from(options.body, 'utf8') : (options.body ?? Buffer.alloc(0));
  let head: Buffer;
  try {
    head = serializeRequestHead(method, `${target.pathname}${target.search}` || '/', buildFields(target, options, body.length));
  } catch (error) {
    return Promise.reject(new ClientError('bad-request', (error as Error).message, { cause: error }));
  }
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const isHttps = target.protocol === 'https:';
  const port = target.port === '' ? (isHttps ? 443 : 80) : Number(target.port);
  const reader = new ResponseReader({ ...DEFAULT_RESPONSE_LIMITS, ...options.limits });
  reader.expectResponseTo(method);

  return new Promise<ClientResponse>((resolve, reject) => {
    const socket: Socket = isHttps
      ? connectTls({
          host,
          port,
          // SNI names a host, never an address (RFC 6066 §3).
          ...(isIP(host) === 0 && { servername: host }),
          rejectUnauthorized: options.insecure !== true,
          ...(options.ca !== undefined && { ca: options.ca }),
          ALPNProtocols: ['http/1.1'],
        })
      : connect({ host, port });
    let bodyStream: Readable | null = null;
    let settled = false;
    let bodyBytes = 0;
    const maxBodyBytes = options.maxBodyBytes ?? Number.POSITIVE_INFINITY;

    const fail = (error: ClientError) => {
      clearTimeout(timer);
      if (!settled) {
        settled = true;
        reject(error);
      } else {
        bodyStream?.destroy(error);
      }
      socket.destroy();
    };
    const timer = setTimeout(() => {
      fail(new ClientError('timeout', `No complete response within ${(options.timeoutMs ?? 0) / 1000} s`));
    }, options.timeoutMs ?? 2 ** 31 - 1);

    const pump = () => {
      for (;;) {
        let event;
        try {
          event = reader.next();
        } catch (error) {
          fail(protocolError(error));
          return;
        }
        switch (event.type) {
          case 'need-more':
          case 'paused':
            return;
          case 'head': {
            if (event.head.status < 200) break; // interim responses (100 Continue) are skipped
            if (event.framing.kind === 'length' && event.framing.length > maxBodyBytes) {
              fail(new ClientError('body-too-large', `The body (${event.framing.length} bytes) is larger than the limit of ${maxBodyBytes}`));
              return;
            }
            bodyStream = new Readable({ read: () => socket.resume() });
            bodyStream.once('close', () => socket.destroy()); // the reader gave up on the body
            // A body nobody reads must not crash the process when it fails; readers still get the
            // error from the stream (for await … throws it, `errored` holds it).
            bodyStream.on('error', () => {});
            settled = true;
            resolve({ status: event.head.status, reason: event.head.reason, version: event.head.version, fields: event.head.fields, body: bodyStream });
            break;
          }
          case 'body':
            bodyBytes += event.data.length;
            if (bodyBytes > maxBodyBytes) {
              fail(new ClientError('body-too-large', `The body is larger than the limit of ${maxBodyBytes} bytes`));
              return;
            }
            if (bodyStream !== null && !bodyStream.push(event.data)) socket.pause();
            break;
          case 'end':
            if (bodyStream === null) break; // the end of an interim response
            clearTimeout(timer);
            bodyStream.push(null);
            socket.destroy();
            return;
          case 'closed':
            fail(new ClientError('bad-response', 'The server closed the connection without a response'));
            return;
        }
      }
    };

    socket.setNoDelay(true);
    // For HTTPS, 'connect' is the TCP connection and 'secureConnect' the end of the handshake: a
    // failure between the two is a handshake failure, whatever the socket error says.
    let inHandshake = false;
    if (isHttps) socket.once('connect', () => (inHandshake = true));
    socket.once('secureConnect', () => (inHandshake = false));
    socket.on(isHttps ? 'secureConnect' : 'connect', () => {
      socket.write(body.length > 0 ? Buffer.concat([head, body]) : head);
    });
    socket.on('data', (chunk: Buffer) => {
      options.onRawBytes?.(chunk);
      reader.push(chunk);
      pump();
    });
    socket.on('end', () => {
      if (inHandshake) return fail(new ClientError('tls-handshake', `TLS handshake with ${host}:${port} failed (the server closed the connection)`));
      reader.peerClosed();
      pump();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (settled && bodyStream === null) return;
      if (settled) return fail(new ClientError('connection-reset', 'The connection failed during the response', { cause: error }));
      const failure = connectError(error, host, port);
      if (inHandshake && failure.code !== 'tls-certificate' && failure.code !== 'tls-handshake') {
        return fail(new ClientError('tls-handshake', `TLS handshake with ${host}:${port} failed (${error.code ?? error.message})`, { cause: error }));
      }
      fail(failure);
    });

  });
}
