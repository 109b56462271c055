/**
 * `--trace`: every byte of a connection, as it crosses the wire, one labelled line per RFC 9112
 * element. The labelling is WireLabeller's (trace.ts); this file adds the time (from a clock the
 * caller gives), the connection and the direction, and colours, and hands the lines to a writer.
 * Shared by the server and the client, so it lives in the core: it does no I/O of its own.
 *
 *   09:12:01.337 #3 < request-line   GET /HelloWorld.html HTTP/1.1\r\n
 *   09:12:01.339 #3 > status-line    HTTP/1.1 200 OK\r\n
 */
import type { FrameRecord } from './h2/events.js';
import { DataPreview, describeFrame } from './h2/frame-trace.js';
import { type TraceLine, WireLabeller } from './trace.js';

export interface TraceOptions {
  /** Where the lines go (stderr, a file). */
  write: (text: string) => void;
  /** ANSI colours (only for a terminal, and never with NO_COLOR). */
  color: boolean;
  /** Bytes of each body to show before summarizing the rest (--trace-body). */
  bodyBytes: number;
  /** The time each line is stamped with; without it, lines carry no time. The socket layers supply the wall clock. */
  clock?: () => Date;
}

const COLORS = { sent: '\x1b[36m', received: '\x1b[32m', dim: '\x1b[2m', reset: '\x1b[0m' };

/** The trace of one connection. `sentRole`: what this side sends — responses for a server, requests for a client. */
export class ConnectionTrace {
  readonly #id: number;
  readonly #options: TraceOptions;
  readonly #sent: WireLabeller;
  readonly #received: WireLabeller;
  /** The labeller that reads requests, whichever direction they travel; its methods tell the other one about HEAD. */
  readonly #requests: WireLabeller;
  readonly #responses: WireLabeller;
  #dataPreview: DataPreview | null | undefined;

  constructor(id: number, sentRole: 'request' | 'response', options: TraceOptions) {
    this.#id = id;
    this.#options = options;
    this.#sent = new WireLabeller(sentRole, options.bodyBytes);
    this.#received = new WireLabeller(sentRole === 'request' ? 'response' : 'request', options.bodyBytes);
    this.#requests = sentRole === 'request' ? this.#sent : this.#received;
    this.#responses = sentRole === 'request' ? this.#received : this.#sent;
  }

  note(text: string): void {
    this.#emit('*', [{ element: 'unparsed', text }], true);
  }

  sent(bytes: Buffer): void {
    this.#emit('>', this.#label(this.#sent, bytes));
  }

  received(bytes: Buffer): void {
    this.#emit('<', this.#label(this.#received, bytes));
  }

  /** HTTP/2: frames in and out, described by h2/frame-trace.ts (with the first bytes of each stream's DATA, per --trace-body). */
  frames(records: readonly FrameRecord[]): void {
    if (records.length === 0) return;
    this.#dataPreview ??= this.#options.bodyBytes > 0 ? new DataPreview(this.#options.bodyBytes) : null;
    for (const record of records) this.#emit(record.direction === 'in' ? '<' : '>', describeFrame(record, this.#dataPreview));
  }

  closed(): void {
    this.#emit('<', this.#received.finish());
    this.#emit('>', this.#sent.finish());
    this.note('connection closed');
  }

  #label(labeller: WireLabeller, bytes: Buffer): TraceLine[] {
    const lines = labeller.push(bytes);
    if (labeller === this.#requests) {
      for (const line of lines) {
        if (line.element === 'request-line') this.#responses.expectResponseTo(line.text.split(' ')[0]!);
      }
    }
    return lines;
  }

  #emit(direction: '>' | '<' | '*', lines: ReadonlyArray<{ element: string; text: string }>, isNote = false): void {
    if (lines.length === 0) return;
    const { color } = this.#options;
    const clock = this.#options.clock;
    const time = clock === undefined ? '' : `${clock().toISOString().slice(11, 23)} `;
    let text = '';
    for (const line of lines) {
      const element = isNote ? ''.padEnd(14) : line.element.padEnd(14);
      if (color) {
        const tint = direction === '>' ? COLORS.sent : direction === '<' ? COLORS.received : COLORS.dim;
        text += `${COLORS.dim}${time}#${this.#id}${COLORS.reset} ${tint}${direction} ${COLORS.dim}${element}${COLORS.reset}${tint}${line.text}${COLORS.reset}\n`;
      } else {
        text += `${time}#${this.#id} ${direction} ${element}${line.text}\n`;
      }
    }
    this.#options.write(text);
  }
}
