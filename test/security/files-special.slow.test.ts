/**
 * Attack: blocking the server with files that are not regular files.
 *
 * Opening a FIFO for reading blocks until a writer appears. Node opens files on libuv's thread pool,
 * which has 4 threads by default: 8 FIFOs requested at once would occupy every thread forever, and
 * from then on no file can be opened by anyone — one request per FIFO is a denial of service. The
 * server must refuse what is not a regular file (FIFO, unix socket, device) with a 404, like a missing
 * file, without ever blocking; a cold regular file requested afterwards answers promptly.
 * A `404.html` that is a FIFO must not turn every miss into a hang either, and neither may a regular
 * file that a python3 helper keeps swapping (rename(2)) with a FIFO while it is requested: what was
 * checked as a regular file may be a FIFO by the time it is opened, so only the opened descriptor counts.
 *
 * The FIFO servers run as `sockhttp serve` child processes, so a server stuck on them can be killed
 * without taking this test process's own thread pool with it.
 *
 *   base/root/fifo-0 … fifo-7       FIFOs (more than the 4 thread-pool threads)
 *   base/root/fifo-link  →  fifo-0
 *   base/root/cold-*.txt            regular files never requested before
 *   base/root/socket                a unix socket
 *   base/root/zero                  a character device like /dev/zero (made only when mknod is allowed)
 *   base/trap/404.html              a FIFO
 *   base/race/swap.txt              alternately a hard link of stage/plain.txt and of stage/fifo-source (a FIFO)
 */
import assert from 'node:assert/strict';
import { closeSync, constants, existsSync, linkSync, mkdirSync, openSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess, type RunningServer, commandExists, runCommand, startCliServer } from '../helpers.js';
import {
  type RawAnswer,
  type Sandbox,
  type Swapper,
  hammer,
  makeSandbox,
  rawGet,
  startServer,
  startSwapper,
  writeFiles,
} from './helpers.js';

const FIFO_COUNT = 8;
/** Liveness only: an answer within this long counts as "did not hang". */
const LIVENESS_MS = 10_000;

const hasPython = commandExists('python3');

/** Makes the special files with python3 (node has no mkfifo or mknod); the device only if permitted. */
const MAKE_SPECIAL = `
import os, socket, stat, sys
root, trap, stage, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.mkfifo(os.path.join(stage, 'fifo-source'))
for index in range(count):
    os.mkfifo(os.path.join(root, 'fifo-%d' % index))
os.mkfifo(os.path.join(trap, '404.html'))
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(os.path.join(root, 'socket'))
listener.close()
try:
    os.mknod(os.path.join(root, 'zero'), 0o644 | stat.S_IFCHR, os.makedev(1, 5))
except PermissionError:
    pass
`;

let sandbox: Sandbox;
let trap: string;
let fifoServer: (BackgroundProcess & { port: number }) | undefined;
let trapServer: (BackgroundProcess & { port: number }) | undefined;
let raceServer: (BackgroundProcess & { port: number }) | undefined;
let race: string;
let swapper: Swapper | undefined;
let inProcess: RunningServer;

before(async () => {
  sandbox = makeSandbox();
  trap = join(sandbox.base, 'trap');
  mkdirSync(trap);
  race = join(sandbox.base, 'race');
  mkdirSync(race);
  writeFiles(race, { 'cold.txt': 'cold\n' });
  writeFiles(sandbox.stage, { 'plain.txt': 'the plain file\n' });
  linkSync(join(sandbox.stage, 'plain.txt'), join(race, 'swap.txt'));
  writeFiles(sandbox.root, Object.fromEntries(Array.from({ length: 4 }, (_, index) => [`cold-${index}.txt`, `cold file ${index}\n`])));
  writeFiles(trap, { 'page.txt': 'a page\n' });
  if (!hasPython) return;
  const made = await runCommand('python3', ['-c', MAKE_SPECIAL, sandbox.root, trap, sandbox.stage, String(FIFO_COUNT)]);
  assert.equal(made.code, 0, made.stderr);
  symlinkSync('fifo-0', join(sandbox.root, 'fifo-link'));
  fifoServer = await startCliServer([sandbox.root, '--quiet']);
  trapServer = await startCliServer([trap, '--quiet']);
  raceServer = await startCliServer([race, '--quiet']);
  inProcess = await startServer(sandbox.root);
});

after(async () => {
  await swapper?.stop().catch(() => {});
  // Release any open() still waiting on a FIFO (a non-blocking writer completes it), then stop the servers.
  for (const path of [
    ...Array.from({ length: FIFO_COUNT }, (_, index) => join(sandbox.root, `fifo-${index}`)),
    join(trap, '404.html'),
    join(sandbox.stage, 'fifo-source'),
  ]) {
    try {
      closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // ENXIO: nobody is waiting on it
    }
  }
  await fifoServer?.stop('SIGKILL');
  await trapServer?.stop('SIGKILL');
  await raceServer?.stop('SIGKILL');
  await inProcess?.close();
  sandbox?.remove();
});

/** The answer, or the reason there is none (a timeout is the server hanging). */
async function answerOrReason(port: number, target: string): Promise<RawAnswer | string> {
  try {
    return await rawGet(port, target, {}, LIVENESS_MS);
  } catch (error) {
    return (error as Error).message;
  }
}

function describeAnswers(targets: string[], answers: Array<RawAnswer | string>): string {
  return targets
    .map((target, index) => `${target}: ${typeof answers[index] === 'string' ? answers[index] : (answers[index] as RawAnswer).status}`)
    .join('; ');
}

describe('files that are not regular files never block the server', { skip: !hasPython && 'needs python3' }, () => {
  test(`${FIFO_COUNT} FIFOs requested at once answer 404, and a cold regular file is still served within ${LIVENESS_MS / 1000} s`, async () => {
    const fifoTargets = [...Array.from({ length: FIFO_COUNT }, (_, index) => `/fifo-${index}`), '/fifo-link'];
    const fifoAnswers = Promise.all(fifoTargets.map((target) => answerOrReason(fifoServer!.port, target)));
    // Give the FIFO requests a head start, so that they hold the thread pool if they can.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const cold = await answerOrReason(fifoServer!.port, '/cold-0.txt');
    const answers = await fifoAnswers;
    assert.ok(typeof cold !== 'string', `the cold regular file got no answer after the FIFO requests: ${cold}`);
    assert.equal(cold.status, 200);
    assert.equal(cold.body.toString(), 'cold file 0\n');
    const statuses = answers.map((answer) => (typeof answer === 'string' ? null : answer.status));
    assert.deepEqual(
      statuses,
      fifoTargets.map(() => 404),
      describeAnswers(fifoTargets, answers),
    );
  });

  test('a unix socket file answers 404', async () => {
    const answer = await answerOrReason(inProcess.port, '/socket');
    assert.ok(typeof answer !== 'string', answer as string);
    assert.equal(answer.status, 404, `status ${answer.status}`);
  });

  test('a character device answers 404', async (context) => {
    if (!existsSync(join(sandbox.root, 'zero'))) {
      context.skip('mknod is not permitted here');
      return;
    }
    const answer = await answerOrReason(inProcess.port, '/zero');
    assert.ok(typeof answer !== 'string', answer as string);
    assert.equal(answer.status, 404, `status ${answer.status}`);
  });

  test('a 404.html that is a FIFO does not make a missing file hang', async () => {
    const answers = await Promise.all(
      Array.from({ length: FIFO_COUNT }, (_, index) => answerOrReason(trapServer!.port, `/missing-${index}`)),
    );
    const targets = answers.map((_, index) => `/missing-${index}`);
    assert.deepEqual(
      answers.map((answer) => (typeof answer === 'string' ? null : answer.status)),
      targets.map(() => 404),
      describeAnswers(targets, answers),
    );
    const page = await answerOrReason(trapServer!.port, '/page.txt');
    assert.ok(typeof page !== 'string', `a regular file got no answer afterwards: ${page}`);
    assert.equal(page.status, 200);
  });

  test('a regular file swapped with a FIFO while it is requested never blocks the server', async () => {
    assert.equal((await rawGet(raceServer!.port, '/swap.txt')).status, 200, 'served before the race');
    swapper = await startSwapper({
      mode: 'rename',
      target: join(race, 'swap.txt'),
      hardLinkOf: join(sandbox.stage, 'fifo-source'),
      plainSource: join(sandbox.stage, 'plain.txt'),
      stage: sandbox.stage,
      final: 'link',
    });
    let failure: string | undefined;
    let swaps;
    try {
      const result = await hammer(raceServer!.port, '/swap.txt', {
        maxRequests: 3_000,
        maxMs: 10_000,
        check: (response) => ([200, 404, 503].includes(response.status) ? undefined : `status ${response.status}`),
      });
      failure = result.failure === undefined ? undefined : `${result.failure} (statuses ${JSON.stringify(result.statuses)})`;
    } catch (error) {
      failure = (error as Error).message; // a request with no answer within 10 s: the server is blocked
    } finally {
      swaps = await swapper.stop();
      swapper = undefined;
    }
    assert.ok(swaps > 100, `the swapper made only ${swaps} swaps: the race did not run`);
    assert.equal(failure, undefined, `during the race (${swaps} swaps): ${failure}`);
    // The FIFO is now in place for good.
    const cold = await answerOrReason(raceServer!.port, '/cold.txt');
    assert.ok(typeof cold !== 'string', `a cold regular file got no answer after the race: ${cold}`);
    assert.equal(cold.status, 200);
    const fifo = await answerOrReason(raceServer!.port, '/swap.txt');
    assert.ok(typeof fifo !== 'string', `the FIFO left in place got no answer: ${fifo}`);
    assert.equal(fifo.status, 404);
  });
});
