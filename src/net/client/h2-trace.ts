/**
 * A minimal description of HTTP/2 frames for `get --trace`: one line per frame (type, flags,
 * stream, length, its main fields, the RFC section), then one per header field with how HPACK
 * coded it, and the windows after DATA and WINDOW_UPDATE.
 *
 * TO BE REPLACED by the core's describer (src/core/h2/frame-trace.ts, `describeFrame`, same
 * signature) once the h2 branch commits it; this file then goes.
 */
import type { FrameRecord } from '../../core/h2/connection.js';
import { errorCodeName } from '../../core/h2/errors.js';
import { SETTING_IDS, flagNames } from '../../core/h2/frames.js';
import { escapeBytes } from '../../core/trace.js';

export interface FrameTraceLine {
  element: string;
  text: string;
}

const SETTING_NAMES = new Map<number, string>(Object.entries(SETTING_IDS).map(([name, id]) => [id, name]));

function shown(text: string): string {
  return escapeBytes(Buffer.from(text, 'latin1'));
}

export function describeFrame(record: FrameRecord): FrameTraceLine[] {
  const { header, frame } = record;
  const flags = flagNames(header.type, header.flags);
  let detail = '';
  let section = 'RFC 9113 §4.1';
  switch (frame.type) {
    case 'DATA':
      section = 'RFC 9113 §6.1';
      break;
    case 'HEADERS':
      section = 'RFC 9113 §6.2';
      break;
    case 'CONTINUATION':
      section = 'RFC 9113 §6.10';
      break;
    case 'PRIORITY':
      section = 'RFC 9113 §6.3';
      break;
    case 'RST_STREAM':
      detail = ` ${errorCodeName(frame.errorCode)}`;
      section = 'RFC 9113 §6.4';
      break;
    case 'SETTINGS':
      detail = frame.settings.map(([id, value]) => ` ${SETTING_NAMES.get(id) ?? `0x${id.toString(16)}`}=${value}`).join('');
      section = 'RFC 9113 §6.5';
      break;
    case 'PUSH_PROMISE':
      section = 'RFC 9113 §6.6';
      break;
    case 'PING':
      detail = ` ${frame.opaqueData.toString('hex')}`;
      section = 'RFC 9113 §6.7';
      break;
    case 'GOAWAY':
      detail = ` last-stream-id=${frame.lastStreamId} ${errorCodeName(frame.errorCode)}`;
      section = 'RFC 9113 §6.8';
      break;
    case 'WINDOW_UPDATE':
      detail = ` +${frame.increment}`;
      section = 'RFC 9113 §6.9';
      break;
    case 'unknown':
      section = 'RFC 9113 §5.5, ignored';
      break;
  }
  const type = frame.type === 'unknown' ? `type 0x${header.type.toString(16)}` : frame.type;
  const flagText = flags.length > 0 ? ` [${flags.join(' ')}]` : '';
  const lines: FrameTraceLine[] = [
    { element: type, text: `stream ${header.streamId}, ${header.length} bytes${flagText}${detail} (${section})` },
  ];
  for (const coding of record.codings ?? []) {
    const index = coding.index === null ? '' : ` index ${coding.index}`;
    const huffman = coding.valueHuffman ? ', Huffman' : '';
    lines.push({
      element: 'field',
      text: `${shown(coding.name)}: ${shown(coding.value)} (${coding.representation}${index}${huffman}, RFC 7541 §6)`,
    });
  }
  if (record.tableSize !== undefined) lines.push({ element: 'table', text: `dynamic table ${record.tableSize} bytes (RFC 7541 §4.1)` });
  if (record.windows !== undefined) {
    const stream = record.windows.stream === null ? '' : `, stream ${record.windows.stream}`;
    lines.push({ element: 'window', text: `connection ${record.windows.connection}${stream} (RFC 9113 §6.9.1)` });
  }
  return lines;
}
