/**
 * The server a client lab talks to: it records every byte each connection sends (up to a bound),
 * and answers once per connection with a fixed list of pieces, pausing between them, then closes.
 *
 * It answers as soon as the request head is complete (an empty line, CRLF or a lone LF), when the
 * client shuts its side, or — leniently, so that a head without its empty line can still be graded
 * on everything else — after QUIET_MS without a new byte. Nothing more is written once the client
 * has gone away: `piecesSent` then tells how much of the answer it stayed for.
 */
import { type Server, type Socket, createServer } from 'node:net';
import { readLineEndings } from '../check/probes.js';

/** How much of each connection's bytes is kept, and how many connections are recorded. */
const MAX_RECORDED_BYTES = 64 * 1024;
const MAX_CONNECTIONS = 16;
/** Silence after which an unfinished request head is answered anyway. */
export const QUIET_MS = 1_000;

export type AnsweredBecause = 'empty-line' | 'client-shut' | 'quiet' | 'not-answered';

export interface RecordedConnection {
  /** The bytes the client sent, at most MAX_RECORDED_BYTES. */
  bytes: Buffer;
  receivedBytes: number;
  answeredBecause: AnsweredBecause;
  /** How many of the answer's pieces were written before the client went away (or all of them). */
  piecesSent: number;
}

export interface RecordingServer {
  port: number;
  connections: RecordedConnection[];
  close(): Promise<void>;
}

export async function startRecordingServer(port: number, answer: Buffer[], pauseMs: number): Promise<RecordingServer> {
  const connections: RecordedConnection[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, action: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      action();
    }, ms);
    timers.add(timer);
    return timer;
  };

  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    if (connections.length >= MAX_CONNECTIONS) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const record: RecordedConnection = { bytes: Buffer.alloc(0), receivedBytes: 0, answeredBecause: 'not-answered', piecesSent: 0 };
    connections.push(record);
    let quietTimer: NodeJS.Timeout | undefined;

    const sendPiece = (index: number) => {
      if (socket.destroyed || socket.writableEnded) return;
      if (index >= answer.length) {
        socket.end();
        return;
      }
      socket.write(answer[index]!);
      record.piecesSent = index + 1;
      if (index + 1 < answer.length) later(pauseMs, () => sendPiece(index + 1));
      else socket.end();
    };
    const answerNow = (because: AnsweredBecause) => {
      if (record.answeredBecause !== 'not-answered') return;
      record.answeredBecause = because;
      if (quietTimer !== undefined) clearTimeout(quietTimer);
      sendPiece(0);
    };

    socket.on('data', (chunk: Buffer) => {
      record.receivedBytes += chunk.length;
      if (record.bytes.length < MAX_RECORDED_BYTES)
        record.bytes = Buffer.concat([record.bytes, chunk.subarray(0, MAX_RECORDED_BYTES - record.bytes.length)]);
      if (record.answeredBecause !== 'not-answered') return;
      if (readLineEndings(record.bytes).hasEmptyLine) answerNow('empty-line');
      else {
        if (quietTimer !== undefined) clearTimeout(quietTimer);
        quietTimer = later(QUIET_MS, () => answerNow('quiet'));
      }
    });
    socket.once('end', () => {
      if (record.receivedBytes > 0) answerNow('client-shut');
      else socket.end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address !== null ? address.port : port;
  return {
    port: actualPort,
    connections,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
