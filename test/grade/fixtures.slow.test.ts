/**
 * Every rubric against lab programs written in Python as the students of the seed labs write them
 * (test/fixtures/labs/): the correct ones get full marks; each broken one makes ONE classic mistake,
 * which must fail exactly the item that names it — by name, and no other item.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HAS_PYTHON, assertFullMarks, grade } from './grade-helpers.js';

const skip = !HAS_PYTHON && 'python3 is not installed';

describe('correct Python lab programs get full marks', { skip }, () => {
  const programs: Array<[lab: string, file: string]> = [
    ['simple-get', 'simple_get.py'],
    ['large-get', 'large_get.py'],
    ['client', 'client.py'],
    ['simplest-server', 'simplest_server.py'],
    ['web-server', 'web_server.py'],
  ];
  for (const [lab, file] of programs) {
    test(`${lab}: ${file}`, async () => {
      const run = await grade(lab, ['python3', file]);
      assertFullMarks(run);
      assert.ok(run.report.maxScore >= 8);
      assert.equal(run.report.lab, lab);
    });
  }
});

interface Mistake {
  lab: string;
  file: string;
  /** The one item that must fail. */
  item: string;
  /** How its verdict names the mistake. */
  named: RegExp;
  options?: string[];
}

const MISTAKES: Mistake[] = [
  { lab: 'large-get', file: 'large_get_one_recv.py', item: 'read-to-close', named: /one recv: only [1-4] of 5 pieces/ },
  { lab: 'simple-get', file: 'simple_get_lf.py', item: 'crlf', named: /3 line\(s\) end with "\\n" instead of "\\r\\n"/ },
  { lab: 'simple-get', file: 'simple_get_no_blank_line.py', item: 'blank-line', named: /no empty line after the field lines/ },
  { lab: 'client', file: 'client_lf.py', item: 'crlf', named: /end with "\\n" instead of "\\r\\n"/ },
  { lab: 'web-server', file: 'web_server_lf.py', item: 'crlf', named: /line\(s\) of the head end with "\\n" instead of "\\r\\n"/ },
  { lab: 'web-server', file: 'web_server_no_404.py', item: 'not-found', named: /200 OK for a file that does not exist/ },
  {
    lab: 'web-server',
    file: 'web_server_one_at_a_time.py',
    item: 'concurrency',
    named: /one connection at a time/,
    options: ['--timeout', '2'],
  },
  { lab: 'web-server', file: 'web_server_head_body.py', item: 'head', named: /a body on HEAD: 316 bytes/ },
  { lab: 'web-server', file: 'web_server_no_blank_line.py', item: 'blank-line', named: /no empty line between the head and the page/ },
];

describe('each broken program fails exactly the item of its mistake', { skip }, () => {
  for (const mistake of MISTAKES) {
    test(`${mistake.lab}: ${mistake.file} → ${mistake.item}`, async () => {
      const run = await grade(mistake.lab, ['python3', `broken/${mistake.file}`], mistake.options);
      assert.deepEqual(
        run.failed,
        [mistake.item],
        JSON.stringify(
          run.report.items.filter((item) => !item.passed),
          null,
          2,
        ),
      );
      const item = run.item(mistake.item);
      assert.match(item.verdict, mistake.named);
      assert.equal(item.points, 0);
      assert.equal(run.report.score, run.report.maxScore - item.maxPoints);
      assert.equal(run.code, 1);
    });
  }
});
