/**
 * `--trace` for HTTP/2: each frame in or out described in lines, the way trace.ts labels HTTP/1.1
 * bytes: its type, flags, stream, length and fields decoded, with the RFC section behind it. For a
 * header block, each field and how HPACK coded it (RFC 7541 §6) and the dynamic table's size after
 * it; for DATA and WINDOW_UPDATE, the flow-control windows after it (RFC 9113 §6.9). Pure: a record
 * in, lines out. Peer text is escaped as in trace.ts, so nothing raw reaches a terminal.
 */
import type { FrameRecord } from './connection.js';
import { errorCodeName } from './errors.js';
import { type Frame, SETTING_IDS, flagNames } from './frames.js';
import type { FieldCoding } from './header-codec.js';
import { escapeBytes } from '../trace.js';

export interface FrameTraceLine {
  /** The frame type for the frame's first line, 'field' / 'table' / 'window' for the lines after it. */
  element: string;
  text: string;
}

const SECTIONS: Record<Frame['type'], string> = {
  DATA: 'RFC 9113 §6.1',
  HEADERS: 'RFC 9113 §6.2',
  PRIORITY: 'RFC 9113 §6.3',
  RST_STREAM: 'RFC 9113 §6.4',
  SETTINGS: 'RFC 9113 §6.5',
  PUSH_PROMISE: 'RFC 9113 §6.6',
  PING: 'RFC 9113 §6.7',
  GOAWAY: 'RFC 9113 §6.8',
  WINDOW_UPDATE: 'RFC 9113 §6.9',
  CONTINUATION: 'RFC 9113 §6.10',
  unknown: 'RFC 9113 §4.1, ignored',
};

const SETTING_NAMES = new Map<number, string>(Object.entries(SETTING_IDS).map(([name, id]) => [id, `SETTINGS_${name}`]));

/** Streams whose first DATA bytes are being shown, at most this many at once (the rest show none). */
const MAX_PREVIEWED_STREAMS = 1_000;

/**
 * --trace-body over HTTP/2: the first `bodyBytes` of each stream's DATA, in each direction, shown
 * under the frames that carry them. A stream is forgotten when its DATA ends (END_STREAM) or it is
 * reset.
 */
export class DataPreview {
  readonly #bodyBytes: number;
  /** Bytes shown so far, by direction and stream. */
  readonly #shown = new Map<string, number>();

  constructor(bodyBytes: number) {
    this.#bodyBytes = bodyBytes;
  }

  /** The bytes of this DATA frame to show (maybe none). */
  take(record: FrameRecord): Buffer | null {
    const { frame } = record;
    const streamId = record.header.streamId;
    if (frame.type === 'RST_STREAM') {
      this.#shown.delete(`in${streamId}`);
      this.#shown.delete(`out${streamId}`);
    }
    if (frame.type !== 'DATA') return null;
    const key = `${record.direction}${streamId}`;
    const tracked = this.#shown.get(key);
    if (tracked === undefined && this.#shown.size >= MAX_PREVIEWED_STREAMS) return null;
    const shown = tracked ?? 0;
    if (frame.endStream) this.#shown.delete(key);
    else this.#shown.set(key, Math.min(shown + frame.data.length, this.#bodyBytes));
    if (shown >= this.#bodyBytes || frame.data.length === 0) return null;
    return frame.data.subarray(0, this.#bodyBytes - shown);
  }
}

/** The lines describing one frame; with a preview, the first bytes of each stream's DATA too. */
export function describeFrame(record: FrameRecord, preview: DataPreview | null = null): FrameTraceLine[] {
  const { header, frame } = record;
  const flags = flagNames(header.type, header.flags);
  const parts = [`stream ${header.streamId}`, `${header.length} bytes`];
  if (flags.length > 0) parts.push(flags.join(' '));
  const details = frameDetails(frame);
  if (details !== '') parts.push(details);
  const typeName = frame.type === 'unknown' ? `type 0x${frame.frameType.toString(16)}` : frame.type;
  const lines: FrameTraceLine[] = [{ element: typeName, text: `${parts.join(', ')}  (${SECTIONS[frame.type]})` }];
  if (record.codings !== undefined) {
    for (const coding of record.codings) lines.push({ element: '  field', text: describeCoding(coding) });
    lines.push({ element: '  table', text: `dynamic table ${record.tableSize ?? 0} bytes  (RFC 7541 §4.1)` });
  }
  const data = preview?.take(record) ?? null;
  if (data !== null) lines.push({ element: '  data', text: `${escapeBytes(data)}${data.length < header.length ? '…' : ''}` });
  if (record.windows !== undefined) {
    const { connection, stream } = record.windows;
    // A DATA frame in, or a WINDOW_UPDATE we send, concerns what the peer may still send us.
    const whose = (frame.type === 'DATA') === (record.direction === 'in') ? 'we accept' : 'we may send';
    const text =
      stream === null
        ? `connection window ${connection} (${whose})`
        : `connection window ${connection}, stream ${header.streamId} window ${stream} (${whose})`;
    lines.push({ element: '  window', text: `${text}  (RFC 9113 §6.9)` });
  }
  return lines;
}

function frameDetails(frame: Frame): string {
  switch (frame.type) {
    case 'DATA':
    case 'CONTINUATION':
      return frame.type === 'DATA' && frame.padLength !== null ? `pad ${frame.padLength}` : '';
    case 'HEADERS': {
      const details: string[] = [];
      if (frame.padLength !== null) details.push(`pad ${frame.padLength}`);
      if (frame.priority !== null)
        details.push(`priority ignored (§5.3.2): depends on ${frame.priority.dependency}, weight ${frame.priority.weight}`);
      return details.join(', ');
    }
    case 'PRIORITY':
      return `depends on ${frame.priority.dependency}${frame.priority.exclusive ? ' exclusively' : ''}, weight ${frame.priority.weight}; ignored (§5.3.2)`;
    case 'RST_STREAM':
      return errorCodeName(frame.errorCode);
    case 'SETTINGS':
      return frame.settings.map(([id, value]) => `${SETTING_NAMES.get(id) ?? `unknown 0x${id.toString(16)} (ignored)`}=${value}`).join(' ');
    case 'PUSH_PROMISE':
      return `promised stream ${frame.promisedStreamId}`;
    case 'PING':
      return `opaque data ${frame.opaqueData.toString('hex')}`;
    case 'GOAWAY': {
      const debug = frame.debugData.length > 0 ? `, "${escapeBytes(frame.debugData.subarray(0, 200))}"` : '';
      return `last stream ${frame.lastStreamId}, ${errorCodeName(frame.errorCode)}${debug}`;
    }
    case 'WINDOW_UPDATE':
      return `increment ${frame.increment}`;
    case 'unknown':
      return '';
  }
}

const REPRESENTATIONS: Record<FieldCoding['representation'], string> = {
  indexed: 'indexed (RFC 7541 §6.1)',
  'literal-incremental': 'literal with incremental indexing (RFC 7541 §6.2.1)',
  'literal-without-indexing': 'literal without indexing (RFC 7541 §6.2.2)',
  'literal-never-indexed': 'literal never indexed (RFC 7541 §6.2.3)',
};

function describeCoding(coding: FieldCoding): string {
  const how: string[] = [];
  if (coding.index !== null) how.push(coding.representation === 'indexed' ? `index ${coding.index}` : `name index ${coding.index}`);
  if (coding.nameHuffman !== null) how.push(coding.nameHuffman ? 'name Huffman' : 'name raw');
  if (coding.valueHuffman !== null) how.push(coding.valueHuffman ? 'value Huffman' : 'value raw');
  const field = `${escapeBytes(Buffer.from(coding.name, 'latin1'))}: ${escapeBytes(Buffer.from(coding.value, 'latin1'))}`;
  return `${field}  ${REPRESENTATIONS[coding.representation]}${how.length > 0 ? `, ${how.join(', ')}` : ''}`;
}
