/**
 * h2c with prior knowledge (RFC 9113 §3.3) on a plain port: a connection is HTTP/2 when its first
 * bytes are the client preface. The HTTP/1.1 driver reads them (a real request differs at its first
 * or second byte) and, for the preface, hands the socket to the HTTP/2 driver.
 */
import type { ConnectionTrace } from '../../core/connection-trace.js';
import { CLIENT_PREFACE } from '../../core/h2/frames.js';

/**
 * Called by the HTTP/1.1 driver once it has let go of the socket, with the bytes read so far (the
 * preface and whatever followed it), whether a shutdown had begun, and its trace to go on with.
 */
export type PrefaceHandler = (bytes: Buffer, isShuttingDown: boolean, trace: ConnectionTrace | null) => void;

/** Whether the first bytes of a plain connection are the client preface (RFC 9113 §3.4), are not, or begin it so far. */
export function comparePreface(bytes: Buffer): 'h2' | 'http/1.1' | 'undecided' {
  if (bytes[0] !== CLIENT_PREFACE[0]) return 'http/1.1';
  const compared = Math.min(bytes.length, CLIENT_PREFACE.length);
  if (bytes.compare(CLIENT_PREFACE, 0, compared, 0, compared) !== 0) return 'http/1.1';
  return compared === CLIENT_PREFACE.length ? 'h2' : 'undecided';
}
