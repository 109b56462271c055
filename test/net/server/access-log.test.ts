/** The access log never hands a peer's control bytes to a terminal, in any format. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type AccessLogEntry, formatAccessLog } from '../../../src/net/server/access-log.js';

// A User-Agent with bytes the client chose: ESC, CSI (0x9B, a C1 control), DEL, a quote.
const entry: AccessLogEntry = {
  remoteAddress: '127.0.0.1',
  time: new Date(Date.UTC(2026, 11, 4, 12, 0, 0)),
  method: 'GET',
  target: '/a',
  version: '1.1',
  status: 200,
  bytesSent: 5,
  referer: undefined,
  userAgent: 'x\x1b[31m\x9b31m\x7f"',
  durationMs: 1.5,
};

describe('formatAccessLog: peer bytes are escaped', () => {
  for (const format of ['combined', 'json'] as const) {
    test(`${format}: no C0, DEL or C1 control reaches the line`, () => {
      const line = formatAccessLog(entry, format);
      assert.doesNotMatch(line, /[\x00-\x1f\x7f-\x9f]/);
    });
  }

  test('json: still one JSON object, with the exact User-Agent when parsed', () => {
    const parsed = JSON.parse(formatAccessLog(entry, 'json'));
    assert.equal(parsed.userAgent, entry.userAgent);
  });
});
