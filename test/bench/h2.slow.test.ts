/**
 * The HTTP/2 bench's own checks, run against real servers with one request each (no load): the
 * report reader, the answer check that must refuse a wrong status or length, and nginx's h2c
 * configuration. If these pass, `npm run bench -- --only i,j,k` times what it believes it times.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkH2, parseH2load } from '../../bench/h2.js';
import { nginxConfig } from '../../bench/nginx.js';
import { freePort, waitForPort } from '../../bench/ports.js';
import { type BackgroundProcess, CLI, commandExists, makeTempDir, runCommand, startProcess } from '../helpers.js';

const hasH2load = commandExists('h2load');
const hasNginx = commandExists('nginx');

// nghttp2 1.52's summary, as h2load printed it for one 100-byte file.
const SAMPLE = `finished in 33.41ms, 29.93 req/s, 7.37KB/s
requests: 1 total, 1 started, 1 done, 1 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 1 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 252B (252) total, 104B (104) headers (space savings 47.21%), 100B (100) data
`;

test('parseH2load reads the summary, and refuses output without one', () => {
  const report = parseH2load(SAMPLE);
  assert.ok(Math.abs(report.seconds - 0.03341) < 1e-9, String(report.seconds));
  assert.equal(report.requestsPerSecond, 29.93);
  assert.deepEqual([report.done, report.succeeded, report.failed, report.errored, report.timeout], [1, 1, 0, 0, 0]);
  assert.deepEqual(report.statusClasses, [1, 0, 0, 0]);
  assert.equal(report.dataBytes, 100);
  // A run under a millisecond (nginx answering one request) is timed in microseconds.
  assert.ok(Math.abs(parseH2load(SAMPLE.replace('33.41ms', '618us')).seconds - 0.000618) < 1e-12);
  assert.equal(parseH2load(SAMPLE.replace('33.41ms', '2.5s')).seconds, 2.5);
  assert.throws(() => parseH2load('connect to 127.0.0.1:1 failed\n'), /no summary/);
});

describe('checkH2 against real h2c servers', { skip: !hasH2load && 'h2load is not installed' }, () => {
  let tree: ReturnType<typeof makeTempDir>;
  let root: string;
  before(() => {
    tree = makeTempDir('sockhttp-bench-h2-');
    chmodSync(tree.path, 0o755); // nginx's workers run as an unprivileged user and must read the files
    root = join(tree.path, 'site');
    mkdirSync(root, { mode: 0o755 });
    writeFileSync(join(root, 'small.html'), 'x'.repeat(100));
  });
  after(() => tree.remove());

  test('sockhttp: a 2xx of the right length passes; a wrong length or a 404 throws', async () => {
    const server = startProcess(process.execPath, [CLI, 'serve', root, '--port', '0', '-q']);
    try {
      const port = Number((await server.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\//, 15_000, 'stderr'))[1]);
      const target = { name: 'sockhttp', port };
      checkH2(target, '/small.html', 100);
      assert.throws(() => checkH2(target, '/small.html', 99), /expected one 2xx of 99/);
      assert.throws(() => checkH2(target, '/missing.html', 100), /0\/0\/1\/0/);
    } finally {
      await server.stop();
    }
  });

  test('nginx with http2: speaks h2c on its plain port and passes the check', { skip: !hasNginx && 'nginx is not installed' }, async () => {
    const prefix = join(tree.path, 'nginx');
    const port = freePort();
    const config = nginxConfig(prefix, root, port, 1, { http2: true });
    let nginx: BackgroundProcess | null = null;
    try {
      nginx = startProcess('nginx', ['-p', prefix, '-c', config, '-g', 'daemon off;']);
      await waitForPort(port);
      checkH2({ name: 'nginx', port }, '/small.html', 100);
      // The port is h2c only: an HTTP/1.1 request is not answered with a 200.
      const http1 = await runCommand(
        'curl',
        ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `http://127.0.0.1:${port}/small.html`],
        {
          timeoutMs: 15_000,
        },
      );
      assert.notEqual(http1.stdout.toString(), '200');
    } finally {
      await nginx?.stop('SIGQUIT');
    }
  });
});
