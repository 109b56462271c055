/**
 * The project's own lab programs (examples/, compiled to dist/examples/) graded like a student's:
 * the GET labs, the lab client and the simplest server get full marks; the lab web server serves
 * one connection at a time, so it passes everything but concurrency (full marks with
 * --skip concurrency, the single-threaded phase of the lab).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EXAMPLES, PUBLIC_ROOT } from '../helpers.js';
import { assertFullMarks, grade } from './grade-helpers.js';

const example = (name: string) => [process.execPath, join(EXAMPLES, `${name}.js`)];

describe('sockhttp grade on examples/', () => {
  test('simple-get', async () => assertFullMarks(await grade('simple-get', example('simple-get'))));
  test('large-get', async () => assertFullMarks(await grade('large-get', example('large-get'))));
  test('client (lab-client)', async () => assertFullMarks(await grade('client', example('lab-client'))));
  test('simplest-server', async () => assertFullMarks(await grade('simplest-server', example('simplest-server'))));

  test('web-server (lab-web-server): one connection at a time fails concurrency only', async () => {
    const run = await grade('web-server', example('lab-web-server'), ['--dir', PUBLIC_ROOT, '--timeout', '2']);
    assert.deepEqual(run.failed, ['concurrency']);
    assert.match(run.item('concurrency').verdict, /one connection at a time/);
    assert.equal(run.code, 1);
  });

  test('web-server (lab-web-server) --skip concurrency: full marks for the single-threaded phase', async () => {
    const run = await grade('web-server', example('lab-web-server'), ['--dir', PUBLIC_ROOT, '--skip', 'concurrency']);
    assertFullMarks(run);
    assert.ok(!run.report.items.some((item) => item.id === 'concurrency'));
  });
});
