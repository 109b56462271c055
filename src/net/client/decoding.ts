/**
 * Content codings (RFC 9110 §8.4): the body of a response with its codings undone, for requests made
 * with `decompress`. Each decoder is made only once the body's first bytes are known.
 */
import { PassThrough, type Readable, Transform, type TransformCallback, pipeline } from 'node:stream';
import { zlibModule } from './builtins.js';
import type { ClientResponse } from './request.js';
import { ClientError } from './errors.js';

/**
 * The body with its content codings undone, last applied first. deflate is meant to be a zlib
 * stream (RFC 9110 §8.4.1.2), but some servers send raw deflate; the first bytes tell which.
 */
export function decodeContent(response: ClientResponse): Readable {
  const codings = response.fields
    .tokens('content-encoding')
    .filter((coding) => coding !== 'identity')
    .reverse();
  if (codings.length === 0) return response.body;
  const decoders = codings.map((coding) => {
    switch (coding) {
      case 'gzip':
      case 'x-gzip':
        return new ContentDecoder(() => zlibModule().createGunzip());
      case 'deflate':
        return new ContentDecoder(chooseInflate, 2);
      case 'br':
        return new ContentDecoder(() => zlibModule().createBrotliDecompress());
      default:
        response.body.destroy();
        throw new ClientError('bad-content-encoding', `Unsupported content coding: ${coding}`);
    }
  });
  const output = new DecodedBody();
  output.on('error', () => {}); // as for the raw body: the reader gets the error from the stream
  pipeline([response.body, ...decoders, output], () => {});
  return output;
}

/** The last stage of decoding: reports a decoder's failure as a ClientError, keeping the body's own errors. */
class DecodedBody extends PassThrough {
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (error === null || error instanceof ClientError) return callback(error);
    // A reader that stopped early is not a decoding failure.
    if ((error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return callback(error);
    callback(new ClientError('bad-content-encoding', `The body does not decode: ${error.message}`, { cause: error }));
  }
}

/** deflate, in either form: a zlib stream (first byte 0x?8, first two bytes a multiple of 31: RFC 1950 §2.2) or raw. */
function chooseInflate(first: Buffer): Transform {
  const isZlib = first.length >= 2 && (first[0]! & 0x0f) === 8 && ((first[0]! << 8) | first[1]!) % 31 === 0;
  return isZlib ? zlibModule().createInflate() : zlibModule().createInflateRaw();
}

/**
 * A zlib decoder created when the first `peekBytes` of the body have arrived, so that it can be
 * chosen from them, and not at all for an empty body (the body of a 304 or a HEAD response carries
 * no compressed data, and a decoder would call its emptiness an error).
 */
class ContentDecoder extends Transform {
  readonly #create: (first: Buffer) => Transform;
  readonly #peekBytes: number;
  #inner: Transform | null = null;
  #pending = Buffer.alloc(0);

  constructor(create: (first: Buffer) => Transform, peekBytes = 1) {
    super();
    this.#create = create;
    this.#peekBytes = peekBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#inner === null) {
      this.#pending = Buffer.concat([this.#pending, chunk]);
      if (this.#pending.length < this.#peekBytes) return callback();
      chunk = this.#open();
    }
    this.#inner!.write(chunk, () => callback());
  }

  override _flush(callback: TransformCallback): void {
    if (this.#inner === null) {
      if (this.#pending.length === 0) return callback();
      const first = this.#open(); // a body shorter than the peek
      this.#inner!.write(first);
    }
    this.#inner!.once('end', () => callback());
    this.#inner!.end();
  }

  override _read(size: number): void {
    this.#inner?.resume(); // the reader wants more: let the decoder's output flow again
    super._read(size);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inner?.destroy();
    callback(error);
  }

  #open(): Buffer {
    const first = this.#pending;
    const inner = this.#create(first);
    inner.on('data', (data: Buffer) => {
      if (!this.push(data)) inner.pause();
    });
    inner.on('error', (error) => this.destroy(error));
    this.#inner = inner;
    return first;
  }
}
