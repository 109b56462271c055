/**
 * The client side of --trace: one ConnectionTrace per connection of an Agent, fed by request()'s hooks.
 */
import { ConnectionTrace, type TraceOptions } from '../../core/connection-trace.js';
import type { FrameRecord } from '../../core/h2/connection.js';
import type { ConnectionDetails } from './connection.js';
import type { ClientEvent } from './request.js';

/**
 * The client side of --trace: one ConnectionTrace per connection of an Agent, fed by request()'s
 * hooks. A 'request' event names the connection the next bytes travel on (new or reused); a
 * connection the client closes ends its trace.
 */
export class ClientTraces {
  readonly #options: TraceOptions;
  readonly #traces = new Map<number, ConnectionTrace>();
  #current: ConnectionTrace | null = null;

  constructor(options: TraceOptions) {
    this.#options = { clock: () => new Date(), ...options };
  }

  onEvent(event: ClientEvent): void {
    if (event.type === 'request') {
      const { id, host, port, remoteAddress, remotePort, tls } = event.connection;
      let trace = this.#traces.get(id);
      if (trace === undefined) {
        trace = new ConnectionTrace(id, 'request', this.#options);
        trace.note(`connected to ${host} (${remoteAddress}) port ${remotePort || port}${tls ? `, ${tls.protocol}` : ''}`);
        this.#traces.set(id, trace);
      } else {
        trace.note('re-using this connection');
      }
      this.#current = trace;
    } else if (event.type === 'connection-done' && !event.kept) {
      this.#traces.get(event.connection.id)?.closed();
      this.#traces.delete(event.connection.id);
    }
  }

  /** HTTP/2: the frames of a connection, each described in lines by the core's frame-trace.ts. */
  frames(connection: ConnectionDetails, records: FrameRecord[]): void {
    let trace = this.#traces.get(connection.id);
    if (trace === undefined) {
      trace = new ConnectionTrace(connection.id, 'request', this.#options);
      this.#traces.set(connection.id, trace);
    }
    trace.frames(records);
  }

  sent(bytes: Buffer): void {
    this.#current?.sent(bytes);
  }

  received(bytes: Buffer): void {
    this.#current?.received(bytes);
  }

  /** The run is over: connections still kept in the pool are closed with it. */
  closeAll(): void {
    for (const trace of this.#traces.values()) trace.closed();
    this.#traces.clear();
  }
}
