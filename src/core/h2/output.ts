/**
 * What an H2Connection sends, and what it saw: the bytes queued for the socket layer, in order,
 * and (for --trace) one FrameRecord per frame in or out. Both are taken by the caller after each
 * turn, so neither grows without bound.
 */
import type { FrameRecord } from './events.js';
import { type Frame, type FrameHeader, serializeFrame } from './frames.js';

const EMPTY = Buffer.alloc(0);

export class FrameOutput {
  #output: Buffer[] = [];
  #bytes = 0;
  #records: FrameRecord[] | null;

  constructor(recordFrames: boolean) {
    this.#records = recordFrames ? [] : null;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get recording(): boolean {
    return this.#records !== null;
  }

  push(bytes: Buffer): void {
    this.#output.push(bytes);
    this.#bytes += bytes.length;
  }

  /** Serializes, queues and records a frame. */
  send(frame: Frame, windows?: FrameRecord['windows']): FrameRecord | null {
    const bytes = serializeFrame(frame);
    this.push(bytes);
    const header = { length: bytes.length - 9, type: bytes[3]!, flags: bytes[4]!, streamId: bytes.readUInt32BE(5) & 0x7fffffff };
    return this.record('out', header, frame, windows);
  }

  take(): Buffer[] {
    const output = this.#output;
    this.#output = [];
    this.#bytes = 0;
    return output;
  }

  takeRecords(): FrameRecord[] {
    if (this.#records === null) return [];
    const records = this.#records;
    this.#records = [];
    return records;
  }

  record(direction: 'in' | 'out', header: FrameHeader, frame: Frame, windows?: FrameRecord['windows']): FrameRecord | null {
    if (this.#records === null) return null;
    // An unknown frame's payload is not kept, only its length (in the header). A DATA frame's data
    // is kept as the view it is, for --trace-body: records are taken at every flush, so the view
    // holds the buffer no longer than sending it does.
    const kept: Frame = frame.type === 'unknown' ? { ...frame, payload: EMPTY } : frame;
    const record: FrameRecord = { direction, header, frame: kept };
    if (windows !== undefined) record.windows = windows;
    this.#records.push(record);
    return record;
  }

  /** The record of the last frame read, for what handling it found out (codings, windows). */
  lastIncoming(): FrameRecord | null {
    const records = this.#records;
    if (records === null) return null;
    for (let index = records.length - 1; index >= 0; index--) {
      if (records[index]!.direction === 'in') return records[index]!;
    }
    return null;
  }
}
