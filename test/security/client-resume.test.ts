/**
 * `sockhttp get -C -` never splices other content into a partial download. The partial file is
 * appended to only when the server's 206 continues exactly what was asked (Content-Range starting
 * at the partial file's size, as long as its Content-Length says, to the recorded end) and its
 * representation is the recorded one (the same strong validator: If-Range was honoured). A refused
 * 206 leaves the partial file as it was (exit 33), and so does a 206 whose body runs past its range:
 * no byte beyond the range is written, and the bytes of this run are cut off again.
 *
 * The servers are raw node:net sockets writing exact bytes; the partial download and its record
 * are written by the test, as an interrupted run leaves them.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { makeTempDir, runCli } from '../helpers.js';
import { type RawAnswer, assertOneLine, startRawServer } from '../net/client/helpers.js';

const WHOLE = Buffer.from('0123456789'.repeat(10), 'latin1'); // 100 bytes
const HAVE = 40;
const REST = WHOLE.subarray(HAVE);
const LAST_MODIFIED = 'Tue, 01 Dec 2026 10:00:00 GMT';

const folder = makeTempDir('sockhttp-get-resume-security-');
after(() => folder.remove());
let cases = 0;

interface Outcome {
  code: number | null;
  stderr: string;
  requestHead: string;
  dir: string;
  destination: string;
  partial: string;
  record: string;
}

/** A partial download of `have` bytes recorded with `validator`, resumed with -C - against `answer`. */
async function resumeAgainst(answer: RawAnswer, validator = '"v1"', have = HAVE): Promise<Outcome> {
  const dir = join(folder.path, `case-${++cases}`);
  mkdirSync(dir);
  const destination = join(dir, 'file.bin');
  const partial = join(dir, '.file.bin.sockhttp-partial');
  const record = join(dir, '.file.bin.sockhttp-resume.json');
  const server = await startRawServer(answer);
  try {
    writeFileSync(partial, WHOLE.subarray(0, have));
    writeFileSync(record, JSON.stringify({ url: server.url('/file.bin'), validator, total: WHOLE.length }));
    const result = await runCli(['get', '-C', '-', '-o', destination, server.url('/file.bin'), '--max-time', '15']);
    return { code: result.code, stderr: result.stderr, requestHead: await server.requestHead(), dir, destination, partial, record };
  } finally {
    await server.close();
  }
}

function partialResponse(fields: string, body: Buffer | string, after: RawAnswer['after'] = 'end'): RawAnswer {
  return { pieces: [`HTTP/1.1 206 Partial Content\r\n${fields}\r\n`, body], after };
}

/** Refused: exit 33, one line on stderr, the partial file and its record as they were, no FILE. */
function assertUntouched(outcome: Outcome, have = HAVE): void {
  assert.equal(outcome.code, 33, outcome.stderr);
  assertOneLine(outcome.stderr);
  assert.ok(
    readFileSync(outcome.partial).equals(WHOLE.subarray(0, have)),
    `the partial file changed: ${JSON.stringify(readFileSync(outcome.partial).toString('latin1'))}`,
  );
  assert.ok(existsSync(outcome.record), 'the resume record is gone');
  assert.equal(existsSync(outcome.destination), false);
  assert.equal(readdirSync(outcome.dir).length, 2);
}

const RANGE = 'Content-Range: bytes 40-99/100\r\n';

describe('-C -: a 206 is appended only when it continues the recorded representation', () => {
  test('a 206 that continues it (same strong ETag, exact range): the file comes out whole', async () => {
    const outcome = await resumeAgainst(partialResponse(`ETag: "v1"\r\n${RANGE}Content-Length: 60\r\n`, REST));
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.ok(readFileSync(outcome.destination).equals(WHOLE));
    assert.deepEqual(readdirSync(outcome.dir), ['file.bin']);
    assert.match(outcome.requestHead, /\r\nRange: bytes=40-\r\n/);
    assert.match(outcome.requestHead, /\r\nIf-Range: "v1"\r\n/);
  });

  test('a 206 without any validator (If-Range may have been ignored): refused', async () => {
    assertUntouched(await resumeAgainst(partialResponse(`${RANGE}Content-Length: 60\r\n`, REST)));
  });

  test('a 206 with a weak ETag: refused', async () => {
    assertUntouched(await resumeAgainst(partialResponse(`ETag: W/"v1"\r\n${RANGE}Content-Length: 60\r\n`, REST)));
  });

  test('recorded Last-Modified: a 206 without Last-Modified is refused', async () => {
    assertUntouched(await resumeAgainst(partialResponse(`${RANGE}Content-Length: 60\r\n`, REST), LAST_MODIFIED));
  });

  test('recorded Last-Modified: a 206 with another Last-Modified is refused', async () => {
    assertUntouched(
      await resumeAgainst(
        partialResponse(`Last-Modified: Wed, 02 Dec 2026 10:00:00 GMT\r\n${RANGE}Content-Length: 60\r\n`, REST),
        LAST_MODIFIED,
      ),
    );
  });

  test('recorded Last-Modified: a 206 with the same one continues the file', async () => {
    const outcome = await resumeAgainst(
      partialResponse(`Last-Modified: ${LAST_MODIFIED}\r\n${RANGE}Content-Length: 60\r\n`, REST),
      LAST_MODIFIED,
    );
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.ok(readFileSync(outcome.destination).equals(WHOLE));
  });

  test('a Content-Length other than the length of the range: refused before a byte is written', async () => {
    assertUntouched(
      await resumeAgainst(partialResponse(`ETag: "v1"\r\n${RANGE}Content-Length: 80\r\n`, Buffer.concat([REST, Buffer.alloc(20, 'X')]))),
    );
  });

  test("a 206 in a content coding (its bytes are not the file's): refused", async () => {
    assertUntouched(await resumeAgainst(partialResponse(`ETag: "v1"\r\n${RANGE}Content-Encoding: gzip\r\nContent-Length: 60\r\n`, REST)));
  });
});

describe('-C -: a 206 body longer than its range leaves the partial file as it was', () => {
  test('chunked, 20 bytes past the range: exit 33, nothing of this run is left in the partial file', async () => {
    const chunked = `3c\r\n${REST.toString('latin1')}\r\n14\r\n${'X'.repeat(20)}\r\n0\r\n\r\n`;
    assertUntouched(await resumeAgainst(partialResponse(`ETag: "v1"\r\n${RANGE}Transfer-Encoding: chunked\r\n`, chunked)));
  });

  test('delimited by the close, 20 bytes past the range: the same', async () => {
    assertUntouched(
      await resumeAgainst(partialResponse(`ETag: "v1"\r\n${RANGE}Connection: close\r\n`, Buffer.concat([REST, Buffer.alloc(20, 'X')]))),
    );
  });

  test('an empty partial file (Range: bytes=0-), 20 bytes past the range: left empty', async () => {
    const chunked = `64\r\n${WHOLE.toString('latin1')}\r\n14\r\n${'X'.repeat(20)}\r\n0\r\n\r\n`;
    const outcome = await resumeAgainst(
      partialResponse(`ETag: "v1"\r\nContent-Range: bytes 0-99/100\r\nTransfer-Encoding: chunked\r\n`, chunked),
      '"v1"',
      0,
    );
    assert.match(outcome.requestHead, /\r\nRange: bytes=0-\r\n/);
    assertUntouched(outcome, 0);
  });

  test('a 206 cut short keeps what arrived for the next -C - (exit 18)', async () => {
    const outcome = await resumeAgainst(partialResponse(`ETag: "v1"\r\n${RANGE}Content-Length: 60\r\n`, REST.subarray(0, 20)));
    assert.equal(outcome.code, 18, outcome.stderr);
    assert.ok(readFileSync(outcome.partial).equals(WHOLE.subarray(0, HAVE + 20)));
    assert.ok(existsSync(outcome.record));
  });
});
