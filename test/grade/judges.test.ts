/**
 * The pure parts of `sockhttp grade`, on exact bytes: the lenient response reader (one mistake, one
 * item), how a program's printed output is compared, the placeholders of a command, the scorecard,
 * and the recording server's three ways of deciding a request head is over.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { commandFor } from '../../src/grade/grading.js';
import { LARGE_FILE, LARGE_FILE_BODY_PIECES, SMALL_FILE } from '../../src/grade/lab-pages.js';
import { startRecordingServer } from '../../src/grade/recording-server.js';
import { comparableText, printedPieces } from '../../src/grade/request-judge.js';
import { judgeHead, splitLeniently } from '../../src/grade/response-judge.js';
import { RUBRICS, Scorecard } from '../../src/grade/rubrics.js';

const PAGE = '<!DOCTYPE html>\n<html><body>Hi</body></html>\n';

describe('splitLeniently and judgeHead: each mistake fails its own verdict', () => {
  const cases: Array<[name: string, bytes: string, failing: Array<keyof ReturnType<typeof judgeHead>>]> = [
    ['a correct response', `HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n${PAGE}`, []],
    ['"\\n" line endings', `HTTP/1.1 200 OK\nContent-Type: text/html\n\n${PAGE}`, ['crlf']],
    ['no empty line before the page', `HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n${PAGE}`, ['blankLine']],
    ['no header lines', `HTTP/1.1 200 OK\r\n\r\n${PAGE}`, ['headerLines']],
  ];
  for (const [name, bytes, failing] of cases) {
    test(name, () => {
      const split = splitLeniently(Buffer.from(bytes, 'latin1'));
      const verdicts = judgeHead(split);
      const failed = (Object.keys(verdicts) as Array<keyof typeof verdicts>).filter((key) => !verdicts[key].passed);
      assert.deepEqual(failed, failing);
      assert.equal(split.status, 200);
      assert.equal(split.body.toString('latin1'), PAGE, 'the page is found after the head either way');
    });
  }

  test('a head that never ends, and no status line at all', () => {
    const unended = splitLeniently(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n'));
    assert.equal(unended.hasEmptyLine, false);
    assert.equal(unended.body.length, 0);
    assert.match(judgeHead(unended).blankLine.verdict, /the client waits for the rest of the head/);
    const garbage = splitLeniently(Buffer.from('hello\r\n\r\n'));
    assert.equal(garbage.status, null);
    assert.equal(splitLeniently(Buffer.alloc(0)).statusLine, null);
  });
});

describe('what a program printed', () => {
  test('print() after every read and CRLF turned into LF still compare equal', () => {
    const printed = Buffer.from(
      `${LARGE_FILE.toString('latin1').slice(0, 1000)}\n${LARGE_FILE.toString('latin1').slice(1000).replace(/\n/g, '\r\n')}\n`,
      'latin1',
    );
    assert.equal(printedPieces(comparableText(printed), LARGE_FILE_BODY_PIECES), LARGE_FILE_BODY_PIECES.length);
  });

  test('a printed bytes object (b"…\\r\\n…") holds the file too', () => {
    const printed = Buffer.from(`b"HTTP/1.1 200 OK\\r\\n\\r\\n${SMALL_FILE.toString('latin1').replace(/\n/g, '\\n')}"\n`, 'latin1');
    assert.ok(comparableText(printed).includes(comparableText(SMALL_FILE)));
  });

  test('the first piece only', () => {
    assert.equal(printedPieces(comparableText(LARGE_FILE_BODY_PIECES[0]!), LARGE_FILE_BODY_PIECES), 1);
    assert.equal(printedPieces('', LARGE_FILE_BODY_PIECES), 0);
  });

  test('the pieces of the large file are distinct and ASCII', () => {
    assert.equal(new Set(LARGE_FILE_BODY_PIECES.map((piece) => piece.toString('latin1'))).size, LARGE_FILE_BODY_PIECES.length);
    assert.ok(LARGE_FILE.every((byte) => byte < 0x80));
  });
});

describe('commandFor', () => {
  const values = { host: '127.0.0.1', port: 4000, file: 'HelloWorld.html' };
  test("appends the lab's arguments", () => {
    assert.deepEqual(commandFor(RUBRICS.client, ['python3', 'client.py'], values, true), [
      'python3',
      'client.py',
      '127.0.0.1',
      '4000',
      'HelloWorld.html',
    ]);
    assert.deepEqual(commandFor(RUBRICS['web-server'], ['./server'], values, true), ['./server', '4000']);
  });
  test('placeholders replace the appended arguments', () => {
    assert.deepEqual(commandFor(RUBRICS['simple-get'], ['java', 'SimpleGet', '--port={port}', '{host}'], values, true), [
      'java',
      'SimpleGet',
      '--port=4000',
      '127.0.0.1',
    ]);
  });
  test('--no-args appends nothing', () => {
    assert.deepEqual(commandFor(RUBRICS['simple-get'], ['python3', 'get.py'], values, false), ['python3', 'get.py']);
  });
});

describe('Scorecard', () => {
  test('rubric order, ungraded items failed with the reason, skipped items left out', () => {
    const card = new Scorecard(RUBRICS['web-server']);
    card.fail('head', 'a body on HEAD');
    card.pass('listening', 'listening');
    const items = card.finish('not graded', new Set(['concurrency']));
    assert.deepEqual(
      items.map((item) => item.id),
      RUBRICS['web-server'].items.map((item) => item.id).filter((id) => id !== 'concurrency'),
    );
    assert.equal(items[0]!.points, 1);
    assert.equal(items.find((item) => item.id === 'head')!.verdict, 'a body on HEAD');
    assert.equal(items.find((item) => item.id === 'not-found')!.verdict, 'not graded');
    assert.throws(() => card.pass('no-such-item', ''), /no item no-such-item/);
  });
});

describe('the recording server', () => {
  /** Sends `bytes` (and shuts our side when told to), resolves with the answer and the record. */
  async function exchangeWith(bytes: string, shut: boolean) {
    const server = await startRecordingServer(0, [Buffer.from('ANSWER')], 10);
    try {
      const answer = await new Promise<string>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port: server.port });
        let text = '';
        socket.on('connect', () => (shut ? socket.end(bytes) : socket.write(bytes)));
        socket.on('data', (chunk) => (text += chunk.toString()));
        socket.on('close', () => resolve(text));
      });
      return { answer, record: server.connections[0]! };
    } finally {
      await server.close();
    }
  }

  test('answers at the empty line, CRLF or LF', async () => {
    for (const head of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'GET / HTTP/1.1\nHost: x\n\n']) {
      const { answer, record } = await exchangeWith(head, false);
      assert.equal(answer, 'ANSWER');
      assert.equal(record.answeredBecause, 'empty-line');
      assert.equal(record.bytes.toString(), head);
    }
  });

  test('answers a head without its empty line after a quiet second, or when the client shuts its side', async () => {
    assert.equal((await exchangeWith('GET / HTTP/1.1\r\nHost: x\r\n', false)).record.answeredBecause, 'quiet');
    assert.equal((await exchangeWith('GET / HTTP/1.1\r\nHost: x\r\n', true)).record.answeredBecause, 'client-shut');
  });
});
