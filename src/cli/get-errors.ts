/**
 * `sockhttp get`'s exit codes, and the failures of the command itself (as opposed to those of the
 * request, which are ClientErrors).
 */
import { ClientError, type ClientErrorCode } from '../index.js';
import { UsageError } from './options.js';

/** Failures of the command itself rather than of the request; each has its exit code. */
export type CommandFailure = 'usage' | 'write-failed' | 'read-failed' | 'http-error' | 'range-error';

/** Exit codes: curl's numbers where curl has one, so scripts written for curl read them the same way. */
export const EXIT_CODES: Readonly<Record<ClientErrorCode | CommandFailure, number>> = Object.freeze({
  'unsupported-protocol': 1,
  usage: 2,
  'bad-request': 2,
  'bad-url': 3,
  'proxy-unknown-host': 5,
  'unknown-host': 6,
  'connect-refused': 7,
  'connect-failed': 7,
  'bad-response': 8,
  'http2-error': 16,
  'too-many-interim-responses': 8,
  'incomplete-body': 18,
  'http-error': 22,
  'write-failed': 23,
  'read-failed': 26,
  timeout: 28,
  'connect-timeout': 28,
  'headers-timeout': 28,
  'body-timeout': 28,
  'range-error': 33,
  'tls-handshake': 35,
  'too-many-redirects': 47,
  'connection-reset': 56,
  'empty-response': 52,
  'tls-certificate': 60,
  'bad-content-encoding': 61,
  'body-too-large': 63,
  'stream-reset': 92,
  'proxy-failed': 97,
  'head-too-large': 100,
});

/** A failure of the command (not of the request), with the kind that picks its exit code. */
export class CommandError extends Error {
  readonly kind: CommandFailure;

  constructor(kind: CommandFailure, message: string) {
    super(message);
    this.kind = kind;
  }
}

export function exitCodeOf(error: unknown): { code: number; message: string } | null {
  if (error instanceof UsageError) return { code: EXIT_CODES.usage, message: `${error.message} (try 'sockhttp get --help')` };
  if (error instanceof ClientError) return { code: EXIT_CODES[error.code], message: error.message };
  if (error instanceof CommandError) return { code: EXIT_CODES[error.kind], message: error.message };
  return null;
}
