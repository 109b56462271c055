/**
 * What every HTTP/1.1 (and HTTP/2) connection of a listener shares: the handler, the limits, the
 * timeouts, the access log and trace settings. The listener makes one and hands it to each driver.
 */
import type { TraceOptions } from '../../core/connection-trace.js';
import type { Limits } from '../../core/limits.js';
import type { AccessLogEntry } from './access-log.js';
import type { FileDataBudget } from './file-data-budget.js';
import type { RequestHandler } from './request-handler.js';
import type { ServerConnection } from './connection.js';

export interface ServerTimeouts {
  /** A request head must arrive within this time of its first byte. */
  headersMs: number;
  /** An idle keep-alive connection is closed after this time. */
  keepAliveMs: number;
  /** A request or response that makes no progress for this long ends the connection. */
  stallMs: number;
}

export const DEFAULT_TIMEOUTS: Readonly<ServerTimeouts> = Object.freeze({ headersMs: 10_000, keepAliveMs: 5_000, stallMs: 30_000 });

export interface ConnectionSettings {
  handler: RequestHandler;
  limits: Limits;
  timeouts: ServerTimeouts;
  onAccess: ((entry: AccessLogEntry) => void) | undefined;
  /** When set, every byte in and out of the connection is traced (--trace). */
  trace: TraceOptions | undefined;
  /** File data in flight, shared with every other connection (default: the process's). */
  fileDataBudget?: FileDataBudget | undefined;
  /** Called once the connection's socket has closed (the listener's count of open connections). */
  released?: ((connection: ServerConnection) => void) | undefined;
}
