/**
 * The HTTP/2 frame layer (RFC 9113 §4 and §6): every frame type parsed from bytes and serialized back,
 * with the checks §6 attaches to each frame on its own (stream id zero or not, fixed lengths, padding).
 * What a frame means for a stream or the connection is decided in connection.ts.
 *
 * Theory of operation. A FrameReader is given bytes in whatever pieces the socket delivers and hands
 * back whole frames: `next()` returns a frame, or null when it needs more bytes (a normal answer,
 * never an error). Before buffering a frame it checks the length in its 9-octet header against our
 * SETTINGS_MAX_FRAME_SIZE (§4.2), so a peer cannot make us hold more than one maximum frame. A frame
 * of an unknown type is returned as 'unknown' for the trace and otherwise ignored (§4.1, §5.5). A
 * broken frame throws H2ConnectionError with the §6 code; the reader is then unusable, as is the
 * connection.
 *
 * Buffer invariant: `#buffer[#offset..]` holds the bytes received and not yet returned as frames;
 * payloads returned are views into it (no copy), valid until the caller drops them.
 */
import { H2ConnectionError } from './errors.js';

export const FRAME_HEADER_BYTES = 9;
/** §3.4: what a client sends first, before its SETTINGS. */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME_TYPES = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export type KnownFrameType = keyof typeof FRAME_TYPES;

const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

/** §5.3.2 deprecates these signals; they are parsed (their length matters) and shown, never acted on. */
export interface PriorityFields {
  exclusive: boolean;
  dependency: number;
  /** 1..256 as the RFC counts it (the wire carries weight - 1). */
  weight: number;
}

/** §6.5.2 identifiers; unknown identifiers are kept (for the trace) and ignored (§6.5.2). */
export const SETTING_IDS = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export type SettingEntry = readonly [id: number, value: number];

export type Frame =
  | { type: 'DATA'; streamId: number; endStream: boolean; data: Buffer; padLength: number | null }
  | {
      type: 'HEADERS';
      streamId: number;
      endStream: boolean;
      endHeaders: boolean;
      /** The field block fragment (HPACK bytes), without padding or priority fields. */
      fragment: Buffer;
      padLength: number | null;
      priority: PriorityFields | null;
    }
  | { type: 'PRIORITY'; streamId: number; priority: PriorityFields }
  | { type: 'RST_STREAM'; streamId: number; errorCode: number }
  | { type: 'SETTINGS'; ack: boolean; settings: readonly SettingEntry[] }
  | { type: 'PUSH_PROMISE'; streamId: number; endHeaders: boolean; promisedStreamId: number; fragment: Buffer; padLength: number | null }
  | { type: 'PING'; ack: boolean; opaqueData: Buffer }
  | { type: 'GOAWAY'; lastStreamId: number; errorCode: number; debugData: Buffer }
  | { type: 'WINDOW_UPDATE'; streamId: number; increment: number }
  | { type: 'CONTINUATION'; streamId: number; endHeaders: boolean; fragment: Buffer }
  /** A frame type this implementation does not know (§4.1: ignored). */
  | { type: 'unknown'; frameType: number; flags: number; streamId: number; payload: Buffer };

/** The 9-octet header every frame starts with (§4.1). */
export interface FrameHeader {
  length: number;
  type: number;
  flags: number;
  streamId: number;
}

/** The largest value SETTINGS_MAX_FRAME_SIZE may take (§6.5.2). */
export const MAX_ALLOWED_FRAME_SIZE = 16_777_215;
/** The initial (and smallest allowed) SETTINGS_MAX_FRAME_SIZE (§4.2). */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** §6.9.1: no window may exceed 2^31-1. */
export const MAX_WINDOW_SIZE = 2 ** 31 - 1;

export function readFrameHeader(bytes: Buffer, offset = 0): FrameHeader {
  return {
    length: bytes.readUIntBE(offset, 3),
    type: bytes[offset + 3]!,
    flags: bytes[offset + 4]!,
    // §4.1: the reserved bit is ignored on receipt.
    streamId: bytes.readUInt32BE(offset + 5) & 0x7fffffff,
  };
}

export function encodeFrameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUIntBE(length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return header;
}

export class FrameReader {
  #buffer: Buffer = Buffer.alloc(0);
  #offset = 0;
  /** Our SETTINGS_MAX_FRAME_SIZE: the largest frame payload we accept (§4.2). */
  maxFrameSize: number;

  constructor(maxFrameSize = DEFAULT_MAX_FRAME_SIZE) {
    this.maxFrameSize = maxFrameSize;
  }

  push(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.#offset === this.#buffer.length) {
      this.#buffer = bytes;
    } else {
      this.#buffer = Buffer.concat([this.#buffer.subarray(this.#offset), bytes]);
    }
    this.#offset = 0;
  }

  /** Bytes held and not yet returned as frames. */
  get bufferedBytes(): number {
    return this.#buffer.length - this.#offset;
  }

  /** Takes back raw bytes not yet parsed (for the preface, read before any frame). */
  take(length: number): Buffer | null {
    if (this.bufferedBytes < length) return null;
    const bytes = this.#buffer.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return bytes;
  }

  /** The next whole frame and its header, or null when more bytes are needed. Throws H2ConnectionError. */
  next(): { header: FrameHeader; frame: Frame } | null {
    if (this.bufferedBytes < FRAME_HEADER_BYTES) return null;
    const header = readFrameHeader(this.#buffer, this.#offset);
    // §4.2: a frame larger than we allow is a FRAME_SIZE_ERROR; checked before it is buffered.
    if (header.length > this.maxFrameSize) {
      throw new H2ConnectionError(
        'FRAME_SIZE_ERROR',
        `a frame of ${header.length} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${this.maxFrameSize}`,
      );
    }
    if (this.bufferedBytes < FRAME_HEADER_BYTES + header.length) return null;
    const start = this.#offset + FRAME_HEADER_BYTES;
    const payload = this.#buffer.subarray(start, start + header.length);
    this.#offset = start + header.length;
    if (this.#offset === this.#buffer.length) {
      this.#buffer = Buffer.alloc(0);
      this.#offset = 0;
    }
    return { header, frame: parseFramePayload(header, payload) };
  }
}

/** One frame from its header and payload, with the checks of RFC 9113 §6. Throws H2ConnectionError. */
export function parseFramePayload(header: FrameHeader, payload: Buffer): Frame {
  const { type, flags, streamId } = header;
  switch (type) {
    case FRAME_TYPES.DATA: {
      requireStream(streamId, 'DATA'); // §6.1
      const { body, padLength } = removePadding(flags, payload, 'DATA');
      return { type: 'DATA', streamId, endStream: (flags & FLAG_END_STREAM) !== 0, data: body, padLength };
    }
    case FRAME_TYPES.HEADERS: {
      requireStream(streamId, 'HEADERS'); // §6.2
      const { body, padLength } = removePadding(flags, payload, 'HEADERS');
      let fragment = body;
      let priority: PriorityFields | null = null;
      if ((flags & FLAG_PRIORITY) !== 0) {
        if (body.length < 5) throw new H2ConnectionError('FRAME_SIZE_ERROR', 'a HEADERS frame too short for its priority fields');
        priority = readPriority(body);
        fragment = body.subarray(5);
      }
      return {
        type: 'HEADERS',
        streamId,
        endStream: (flags & FLAG_END_STREAM) !== 0,
        endHeaders: (flags & FLAG_END_HEADERS) !== 0,
        fragment,
        padLength,
        priority,
      };
    }
    case FRAME_TYPES.PRIORITY:
      requireStream(streamId, 'PRIORITY'); // §6.3
      // §6.3 makes a wrong length a stream error; a 5-octet frame is so simple that we end the connection.
      if (payload.length !== 5) throw new H2ConnectionError('FRAME_SIZE_ERROR', 'a PRIORITY frame must be 5 bytes');
      return { type: 'PRIORITY', streamId, priority: readPriority(payload) };
    case FRAME_TYPES.RST_STREAM:
      requireStream(streamId, 'RST_STREAM'); // §6.4
      if (payload.length !== 4) throw new H2ConnectionError('FRAME_SIZE_ERROR', 'a RST_STREAM frame must be 4 bytes');
      return { type: 'RST_STREAM', streamId, errorCode: payload.readUInt32BE(0) };
    case FRAME_TYPES.SETTINGS:
      return parseSettings(flags, streamId, payload);
    case FRAME_TYPES.PUSH_PROMISE: {
      requireStream(streamId, 'PUSH_PROMISE'); // §6.6
      const { body, padLength } = removePadding(flags, payload, 'PUSH_PROMISE');
      if (body.length < 4) throw new H2ConnectionError('FRAME_SIZE_ERROR', 'a PUSH_PROMISE frame too short for its stream id');
      return {
        type: 'PUSH_PROMISE',
        streamId,
        endHeaders: (flags & FLAG_END_HEADERS) !== 0,
        promisedStreamId: body.readUInt32BE(0) & 0x7fffffff,
        fragment: body.subarray(4),
        padLength,
      };
    }
    case FRAME_TYPES.PING:
      if (streamId !== 0) throw new H2ConnectionError('PROTOCOL_ERROR', 'a PING frame on a stream'); // §6.7
      if (payload.length !== 8) throw new H2ConnectionError('FRAME_SIZE_ERROR', 'a PING frame must be 8 bytes');
      return { type: 'PING', ack: (flags & FLAG_ACK) !== 0, opaqueData: payload };
    case FRAME_TYPES.GOAWAY:
      if (streamId !== 0) throw new H2ConnectionError('PROTOCOL_ERROR', 'a GOAWAY frame on a stream'); // §6.8
      if (payload.length < 8) throw new H2ConnectionError('FRAME_SIZE_ERROR', 'a GOAWAY frame shorter than 8 bytes');
      return {
        type: 'GOAWAY',
        lastStreamId: payload.readUInt32BE(0) & 0x7fffffff,
        errorCode: payload.readUInt32BE(4),
        debugData: payload.subarray(8),
      };
    case FRAME_TYPES.WINDOW_UPDATE:
      // §6.9: a wrong length is a connection error; an increment of 0 is judged by the connection
      // (a stream error on a stream, a connection error on the connection).
      if (payload.length !== 4) throw new H2ConnectionError('FRAME_SIZE_ERROR', 'a WINDOW_UPDATE frame must be 4 bytes');
      return { type: 'WINDOW_UPDATE', streamId, increment: payload.readUInt32BE(0) & 0x7fffffff };
    case FRAME_TYPES.CONTINUATION:
      requireStream(streamId, 'CONTINUATION'); // §6.10
      return { type: 'CONTINUATION', streamId, endHeaders: (flags & FLAG_END_HEADERS) !== 0, fragment: payload };
    default:
      return { type: 'unknown', frameType: type, flags, streamId, payload };
  }
}

function requireStream(streamId: number, type: KnownFrameType): void {
  if (streamId === 0) throw new H2ConnectionError('PROTOCOL_ERROR', `a ${type} frame on stream 0`);
}

/** §6.1: "If the length of the padding is the length of the frame payload or greater, the recipient MUST treat this as a connection error". */
function removePadding(flags: number, payload: Buffer, type: KnownFrameType): { body: Buffer; padLength: number | null } {
  if ((flags & FLAG_PADDED) === 0) return { body: payload, padLength: null };
  if (payload.length < 1) throw new H2ConnectionError('FRAME_SIZE_ERROR', `a padded ${type} frame without a pad length`);
  const padLength = payload[0]!;
  if (padLength >= payload.length) throw new H2ConnectionError('PROTOCOL_ERROR', `the padding of a ${type} frame is as long as the frame`);
  return { body: payload.subarray(1, payload.length - padLength), padLength };
}

function readPriority(bytes: Buffer): PriorityFields {
  const word = bytes.readUInt32BE(0);
  return { exclusive: (word & 0x80000000) !== 0, dependency: word & 0x7fffffff, weight: bytes[4]! + 1 };
}

function parseSettings(flags: number, streamId: number, payload: Buffer): Frame {
  if (streamId !== 0) throw new H2ConnectionError('PROTOCOL_ERROR', 'a SETTINGS frame on a stream'); // §6.5
  const ack = (flags & FLAG_ACK) !== 0;
  if (ack && payload.length !== 0) throw new H2ConnectionError('FRAME_SIZE_ERROR', 'a SETTINGS acknowledgement with a payload');
  if (payload.length % 6 !== 0) throw new H2ConnectionError('FRAME_SIZE_ERROR', 'a SETTINGS frame whose length is not a multiple of 6');
  const settings: SettingEntry[] = [];
  for (let offset = 0; offset < payload.length; offset += 6) {
    const id = payload.readUInt16BE(offset);
    const value = payload.readUInt32BE(offset + 2);
    checkSetting(id, value);
    settings.push([id, value]);
  }
  return { type: 'SETTINGS', ack, settings };
}

/** §6.5.2: the values a setting may take. */
function checkSetting(id: number, value: number): void {
  switch (id) {
    case SETTING_IDS.ENABLE_PUSH:
      if (value > 1) throw new H2ConnectionError('PROTOCOL_ERROR', 'SETTINGS_ENABLE_PUSH must be 0 or 1');
      return;
    case SETTING_IDS.INITIAL_WINDOW_SIZE:
      if (value > MAX_WINDOW_SIZE) throw new H2ConnectionError('FLOW_CONTROL_ERROR', 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
      return;
    case SETTING_IDS.MAX_FRAME_SIZE:
      if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_ALLOWED_FRAME_SIZE) {
        throw new H2ConnectionError('PROTOCOL_ERROR', 'SETTINGS_MAX_FRAME_SIZE outside 16384..16777215');
      }
      return;
  }
}

/** The bytes of one frame, header included. A DATA or HEADERS frame's padding is made of zeros (§6.1). */
export function serializeFrame(frame: Frame): Buffer {
  switch (frame.type) {
    case 'DATA':
      return withPadding(FRAME_TYPES.DATA, frame.endStream ? FLAG_END_STREAM : 0, frame.streamId, [frame.data], frame.padLength);
    case 'HEADERS': {
      let flags = (frame.endStream ? FLAG_END_STREAM : 0) | (frame.endHeaders ? FLAG_END_HEADERS : 0);
      const parts = [frame.fragment];
      if (frame.priority !== null) {
        flags |= FLAG_PRIORITY;
        parts.unshift(writePriority(frame.priority));
      }
      return withPadding(FRAME_TYPES.HEADERS, flags, frame.streamId, parts, frame.padLength);
    }
    case 'PRIORITY':
      return Buffer.concat([encodeFrameHeader(5, FRAME_TYPES.PRIORITY, 0, frame.streamId), writePriority(frame.priority)]);
    case 'RST_STREAM':
      return Buffer.concat([encodeFrameHeader(4, FRAME_TYPES.RST_STREAM, 0, frame.streamId), uint32(frame.errorCode)]);
    case 'SETTINGS': {
      const payload = Buffer.allocUnsafe(frame.settings.length * 6);
      frame.settings.forEach(([id, value], index) => {
        payload.writeUInt16BE(id, index * 6);
        payload.writeUInt32BE(value, index * 6 + 2);
      });
      return Buffer.concat([encodeFrameHeader(payload.length, FRAME_TYPES.SETTINGS, frame.ack ? FLAG_ACK : 0, 0), payload]);
    }
    case 'PUSH_PROMISE':
      return withPadding(
        FRAME_TYPES.PUSH_PROMISE,
        frame.endHeaders ? FLAG_END_HEADERS : 0,
        frame.streamId,
        [uint32(frame.promisedStreamId & 0x7fffffff), frame.fragment],
        frame.padLength,
      );
    case 'PING':
      return Buffer.concat([encodeFrameHeader(8, FRAME_TYPES.PING, frame.ack ? FLAG_ACK : 0, 0), frame.opaqueData]);
    case 'GOAWAY': {
      const payload = Buffer.concat([uint32(frame.lastStreamId & 0x7fffffff), uint32(frame.errorCode), frame.debugData]);
      return Buffer.concat([encodeFrameHeader(payload.length, FRAME_TYPES.GOAWAY, 0, 0), payload]);
    }
    case 'WINDOW_UPDATE':
      return Buffer.concat([encodeFrameHeader(4, FRAME_TYPES.WINDOW_UPDATE, 0, frame.streamId), uint32(frame.increment & 0x7fffffff)]);
    case 'CONTINUATION':
      return Buffer.concat([
        encodeFrameHeader(frame.fragment.length, FRAME_TYPES.CONTINUATION, frame.endHeaders ? FLAG_END_HEADERS : 0, frame.streamId),
        frame.fragment,
      ]);
    case 'unknown':
      return Buffer.concat([encodeFrameHeader(frame.payload.length, frame.frameType, frame.flags, frame.streamId), frame.payload]);
  }
}

function withPadding(type: number, flags: number, streamId: number, parts: Buffer[], padLength: number | null): Buffer {
  let length = parts.reduce((total, part) => total + part.length, 0);
  if (padLength === null) return Buffer.concat([encodeFrameHeader(length, type, flags, streamId), ...parts]);
  length += 1 + padLength;
  return Buffer.concat([
    encodeFrameHeader(length, type, flags | FLAG_PADDED, streamId),
    Buffer.of(padLength),
    ...parts,
    Buffer.alloc(padLength),
  ]);
}

function writePriority(priority: PriorityFields): Buffer {
  const bytes = Buffer.allocUnsafe(5);
  bytes.writeUInt32BE(((priority.exclusive ? 0x80000000 : 0) | (priority.dependency & 0x7fffffff)) >>> 0, 0);
  bytes[4] = priority.weight - 1;
  return bytes;
}

function uint32(value: number): Buffer {
  const bytes = Buffer.allocUnsafe(4);
  bytes.writeUInt32BE(value >>> 0, 0);
  return bytes;
}

/** The flag bits of a frame as the RFC names them, for the trace. */
export function flagNames(type: number, flags: number): string[] {
  const names: string[] = [];
  const has = (bit: number) => (flags & bit) !== 0;
  switch (type) {
    case FRAME_TYPES.DATA:
      if (has(FLAG_END_STREAM)) names.push('END_STREAM');
      if (has(FLAG_PADDED)) names.push('PADDED');
      break;
    case FRAME_TYPES.HEADERS:
      if (has(FLAG_END_STREAM)) names.push('END_STREAM');
      if (has(FLAG_END_HEADERS)) names.push('END_HEADERS');
      if (has(FLAG_PADDED)) names.push('PADDED');
      if (has(FLAG_PRIORITY)) names.push('PRIORITY');
      break;
    case FRAME_TYPES.SETTINGS:
    case FRAME_TYPES.PING:
      if (has(FLAG_ACK)) names.push('ACK');
      break;
    case FRAME_TYPES.PUSH_PROMISE:
      if (has(FLAG_END_HEADERS)) names.push('END_HEADERS');
      if (has(FLAG_PADDED)) names.push('PADDED');
      break;
    case FRAME_TYPES.CONTINUATION:
      if (has(FLAG_END_HEADERS)) names.push('END_HEADERS');
      break;
  }
  return names;
}
