/**
 * Assembly of an incoming header block (RFC 9113 §4.3, §6.10): a HEADERS frame and the
 * CONTINUATION frames up to END_HEADERS are one unit, decoded as a whole once it is complete, in
 * the order blocks arrive (HPACK's dynamic table is shared by the whole connection).
 *
 * Memory. One block at a time, bounded in bytes and in frames before it is complete
 * (CVE-2023-45288, CONTINUATION floods): beyond either, the connection ends with ENHANCE_YOUR_CALM.
 */
import { H2ConnectionError } from './errors.js';
import type { Frame } from './frames.js';
import type { FieldCoding, HeaderDecoder } from './header-codec.js';
import type { H2Limits } from './limits.js';

/** A complete, decoded header block. */
export interface DecodedBlock {
  streamId: number;
  endStream: boolean;
  /** Decoded only to keep HPACK in step (a stream refused or reset as it opened): no events. */
  discard: boolean;
  fields: [string, string][];
  /** The decoded fields exceed SETTINGS_MAX_HEADER_LIST_SIZE (the decoder stopped keeping them). */
  tooLarge: boolean;
  /** How each field was coded, when frames are recorded (--trace). */
  codings: FieldCoding[] | undefined;
}

interface PendingBlock {
  streamId: number;
  endStream: boolean;
  discard: boolean;
  fragments: Buffer[];
  bytes: number;
  continuations: number;
}

export class HeaderBlockAssembler {
  readonly #decoder: HeaderDecoder;
  readonly #limits: Pick<H2Limits, 'maxHeaderBlockBytes' | 'maxContinuationFrames'>;
  readonly #recordCodings: boolean;
  #pending: PendingBlock | null = null;

  constructor(decoder: HeaderDecoder, limits: Pick<H2Limits, 'maxHeaderBlockBytes' | 'maxContinuationFrames'>, recordCodings: boolean) {
    this.#decoder = decoder;
    this.#limits = limits;
    this.#recordCodings = recordCodings;
  }

  /** The stream of the block waiting for CONTINUATION frames, or null. */
  get pendingStreamId(): number | null {
    return this.#pending?.streamId ?? null;
  }

  /** A HEADERS frame: the block, decoded, if it ends here; null while CONTINUATION frames are due. */
  start(frame: Frame & { type: 'HEADERS' }, discard: boolean): DecodedBlock | null {
    this.#pending = {
      streamId: frame.streamId,
      endStream: frame.endStream,
      discard,
      // Copied: the frame's fragment is a view of the reader's buffer, reused for the next frame.
      fragments: [Buffer.from(frame.fragment)],
      bytes: frame.fragment.length,
      continuations: 0,
    };
    this.#checkSize(this.#pending);
    return frame.endHeaders ? this.#finish() : null;
  }

  /** A CONTINUATION frame of the pending block (the caller checked its stream, §6.10). */
  continue(frame: Frame & { type: 'CONTINUATION' }): DecodedBlock | null {
    const block = this.#pending;
    if (block === null) throw new H2ConnectionError('PROTOCOL_ERROR', 'CONTINUATION without a header block'); // §6.10
    block.fragments.push(Buffer.from(frame.fragment));
    block.bytes += frame.fragment.length;
    block.continuations++;
    this.#checkSize(block);
    return frame.endHeaders ? this.#finish() : null;
  }

  /** The connection failed: a block in progress is dropped. */
  clear(): void {
    this.#pending = null;
  }

  get tableSize(): number {
    return this.#decoder.tableSize;
  }

  /** CVE-2023-45288: a header block is bounded in bytes and in frames before END_HEADERS arrives. */
  #checkSize(block: PendingBlock): void {
    if (block.bytes > this.#limits.maxHeaderBlockBytes) {
      throw new H2ConnectionError('ENHANCE_YOUR_CALM', `a header block over ${this.#limits.maxHeaderBlockBytes} bytes`);
    }
    if (block.continuations > this.#limits.maxContinuationFrames) {
      throw new H2ConnectionError(
        'ENHANCE_YOUR_CALM',
        `a header block in more than ${this.#limits.maxContinuationFrames} CONTINUATION frames`,
      );
    }
  }

  #finish(): DecodedBlock {
    const block = this.#pending!;
    this.#pending = null;
    const codings: FieldCoding[] | undefined = this.#recordCodings ? [] : undefined;
    let decoded: { fields: [string, string][]; tooLarge: boolean };
    try {
      decoded = this.#decoder.decode(block.fragments.length === 1 ? block.fragments[0]! : Buffer.concat(block.fragments), codings);
    } catch (error) {
      // §4.3: a header block that cannot be decoded breaks the shared HPACK state: the connection ends.
      throw new H2ConnectionError(
        'COMPRESSION_ERROR',
        `a header block that cannot be decoded (${(error as { code?: string }).code ?? 'error'})`,
      );
    }
    return { streamId: block.streamId, endStream: block.endStream, discard: block.discard, ...decoded, codings };
  }
}
