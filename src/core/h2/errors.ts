/**
 * HTTP/2 errors (RFC 9113 §5.4, §7). A connection error ends the whole connection with GOAWAY; a
 * stream error ends one stream with RST_STREAM and leaves the others alone. Both carry the RFC's
 * error code and which side broke the rules, as the HTTP/1.1 errors of ../errors.ts do; the message
 * is for people and never contains the peer's bytes.
 */
import type { ErrorSide } from '../errors.js';

/** RFC 9113 §7, by name; ERROR_CODE_VALUES gives the number on the wire. */
export type H2ErrorCode =
  | 'NO_ERROR'
  | 'PROTOCOL_ERROR'
  | 'INTERNAL_ERROR'
  | 'FLOW_CONTROL_ERROR'
  | 'SETTINGS_TIMEOUT'
  | 'STREAM_CLOSED'
  | 'FRAME_SIZE_ERROR'
  | 'REFUSED_STREAM'
  | 'CANCEL'
  | 'COMPRESSION_ERROR'
  | 'CONNECT_ERROR'
  | 'ENHANCE_YOUR_CALM'
  | 'INADEQUATE_SECURITY'
  | 'HTTP_1_1_REQUIRED';

export const ERROR_CODE_VALUES: Readonly<Record<H2ErrorCode, number>> = Object.freeze({
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
});

const NAMES_BY_VALUE = new Map<number, H2ErrorCode>(Object.entries(ERROR_CODE_VALUES).map(([name, value]) => [value, name as H2ErrorCode]));

/** The name of a wire error code; unknown codes are kept as a number (§7: they MUST NOT trigger special behaviour). */
export function errorCodeName(value: number): string {
  return NAMES_BY_VALUE.get(value) ?? `0x${value.toString(16)}`;
}

/** An error that ends the connection (§5.4.1): GOAWAY with this code, then close. */
export class H2ConnectionError extends Error {
  readonly code: H2ErrorCode;
  readonly side: ErrorSide;

  constructor(code: H2ErrorCode, message: string, side: ErrorSide = 'peer') {
    super(message);
    this.name = 'H2ConnectionError';
    this.code = code;
    this.side = side;
  }
}

/** An error that ends one stream (§5.4.2): RST_STREAM with this code; the connection goes on. */
export class H2StreamError extends Error {
  readonly code: H2ErrorCode;
  readonly streamId: number;
  readonly side: ErrorSide;

  constructor(streamId: number, code: H2ErrorCode, message: string, side: ErrorSide = 'peer') {
    super(message);
    this.name = 'H2StreamError';
    this.code = code;
    this.streamId = streamId;
    this.side = side;
  }
}
