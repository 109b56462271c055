/**
 * `sockhttp check URL`, run as a user runs it (the real bin script, via runCli), against:
 *  - our own server, which must pass every probe;
 *  - servers nobody here wrote (python3 -m http.server, nginx), whose real behaviour is asserted;
 *  - deliberately broken little servers on raw node:net, each with ONE classic lab mistake, which
 *    the report must name (that probe FAILs);
 *  - the lab web server of examples/;
 *  - usage errors, a closed port, and a server that never answers (the run still ends).
 *
 * To stay fast: `--slow-timeout 2` everywhere, servers of ours with `--headers-timeout 1`, and
 * `--timeout 1` against the broken servers whose responses never end.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { type Server, Socket, connect, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  EXAMPLES,
  PUBLIC_ROOT,
  type BackgroundProcess,
  commandExists,
  makeTempDir,
  rawExchange,
  runCli,
  startCliServer,
  startProcess,
  startPythonServer,
  CLI,
} from '../helpers.js';
import { assertOneLine, closedPort, startRawServer } from '../net/client/helpers.js';
import { delay } from '../net/server/helpers.js';

/** Every probe of src/check/probes.ts, in report order. */
const PROBE_IDS = [
  'status-line',
  'line-endings',
  'framing',
  'content-length',
  'date',
  'content-type',
  'head',
  'not-found',
  'malformed',
  'host-required',
  'keep-alive',
  'pipelining',
  'connection-close',
  'traversal',
  'conditional',
  'range',
  'range-416',
  'concurrency',
  'slow-request',
];

type Verdict = 'PASS' | 'WARN' | 'FAIL' | 'SKIP';

interface Probe {
  id: string;
  verdict: Verdict;
  sent: string;
  received: string;
  rfc: string;
}

interface Report {
  url: string;
  summary: { passed: number; warnings: number; failed: number; skipped: number };
  probes: Probe[];
}

interface CheckRun {
  code: number | null;
  report: Report;
  /** id → verdict */
  verdicts: Record<string, Verdict>;
  /** The ids that did not PASS, with their verdicts. */
  notPassed: Record<string, Verdict>;
}

const FAST = ['--slow-timeout', '2'];

/** `sockhttp check URL --json ARGS…`, bounded generously (a run that hangs fails here, it does not hang the suite). */
async function check(url: string, args: string[] = []): Promise<CheckRun> {
  const result = await runCli(['check', url, '--json', ...FAST, ...args], { timeoutMs: 180_000 });
  assert.equal(result.signal, null, `check was killed (it did not end by itself): ${result.stderr}`);
  let report: Report;
  try {
    report = JSON.parse(result.stdout.toString('utf8')) as Report;
  } catch {
    assert.fail(`check --json printed no JSON (exit ${result.code}): ${result.stdout.toString()} ${result.stderr}`);
  }
  const verdicts = Object.fromEntries(report.probes.map((probe) => [probe.id, probe.verdict]));
  const notPassed = Object.fromEntries(report.probes.filter((probe) => probe.verdict !== 'PASS').map((probe) => [probe.id, probe.verdict]));
  return { code: result.code, report, verdicts, notPassed };
}

const explain = (run: CheckRun) => run.report.probes.map((probe) => `${probe.verdict} ${probe.id}: ${probe.received}`).join('\n');

/** A file under `public/` that every server here can serve. */
const HELLO = '/HelloWorld.html';

// ---------------------------------------------------------------------------------------------

describe('sockhttp check: against our own server', () => {
  let server: BackgroundProcess & { port: number };
  before(async () => {
    server = await startCliServer([PUBLIC_ROOT, '--headers-timeout', '1', '--quiet']);
  });
  after(() => server?.stop());

  test('every probe passes, exit 0, one line a probe', async () => {
    const result = await runCli(['check', `http://127.0.0.1:${server.port}${HELLO}`, ...FAST], { timeoutMs: 120_000 });
    assert.equal(result.code, 0, result.stdout.toString());
    const lines = result.stdout.toString().split('\n');
    assert.equal(lines[0], `sockhttp check http://127.0.0.1:${server.port}${HELLO}`);
    const probeLines = lines.filter((line) => /^(PASS|WARN|FAIL|SKIP) /.test(line));
    assert.deepEqual(
      probeLines.map((line) => line.split(/\s+/)[1]),
      PROBE_IDS,
    );
    for (const line of probeLines) assert.match(line, /^PASS {2}\S+\s+.+ {2}→ {2}.+ {2}\((RFC \d+ §[\d.]+)\)$/, line);
    assert.ok(!result.stdout.includes('\x1b'), 'no colours into a pipe');
    assert.match(result.stdout.toString(), new RegExp(`\\n${PROBE_IDS.length} passed, 0 failed, 0 skipped, 0 warnings\\n$`));
  });

  test('--json: summary.failed is 0, one entry per probe with id, verdict, sent, received, rfc', async () => {
    const run = await check(`http://127.0.0.1:${server.port}${HELLO}`);
    assert.equal(run.code, 0);
    assert.equal(run.report.url, `http://127.0.0.1:${server.port}${HELLO}`);
    assert.deepEqual(run.report.summary, { passed: PROBE_IDS.length, warnings: 0, failed: 0, skipped: 0 });
    assert.deepEqual(
      run.report.probes.map((probe) => probe.id),
      PROBE_IDS,
    );
    for (const probe of run.report.probes) {
      assert.deepEqual(Object.keys(probe).sort(), ['id', 'received', 'rfc', 'sent', 'verdict'], probe.id);
      assert.equal(probe.verdict, 'PASS', `${probe.id}: ${probe.received}`);
      assert.ok(probe.sent.length > 0 && probe.received.length > 0, probe.id);
      assert.match(probe.rfc, /^RFC 911[02] §\d+(\.\d+)*$/, probe.id);
    }
  });

  test('a URL that is itself a 404 (a mistyped file name) is a FAIL naming the status, never a clean report', async () => {
    const run = await check(`http://127.0.0.1:${server.port}/HelloWrold.html`);
    assert.equal(run.code, 1, explain(run));
    assert.equal(run.verdicts['target'], 'FAIL', explain(run));
    assert.match(run.report.probes.find((probe) => probe.id === 'target')!.received, /answered 404 Not Found, not 2xx/);
    assert.ok(run.report.summary.failed >= 1);
    const text = await runCli(['check', `http://127.0.0.1:${server.port}/HelloWrold.html`, ...FAST], { timeoutMs: 60_000 });
    assert.equal(text.code, 1);
    assert.match(text.stdout.toString(), /^FAIL\s+target\s/m);
    assert.doesNotMatch(text.stdout.toString(), / 0 failed/);
  });

  test('each probe line is shown as it finishes, while the slow probes still run', async () => {
    const running = startProcess(process.execPath, [CLI, 'check', `http://127.0.0.1:${server.port}${HELLO}`, '--slow-timeout', '3']);
    try {
      await running.waitFor(/^PASS\s+status-line\s/m, 30_000);
      assert.equal(running.child.exitCode, null, 'the first verdict came only when check had finished');
      await running.waitFor(/\n\d+ passed, 0 failed, 0 skipped, 0 warnings\n/, 60_000);
    } finally {
      await running.stop();
    }
  });
});

describe('sockhttp check: a page larger than what check keeps (1 MiB)', () => {
  let site: ReturnType<typeof makeTempDir>;
  let server: BackgroundProcess & { port: number };
  const SIZE = 3 * 1024 * 1024;
  before(async () => {
    site = makeTempDir();
    const page = Buffer.alloc(SIZE);
    for (let index = 0; index < SIZE; index++) page[index] = 0x61 + (index % 26);
    writeFileSync(join(site.path, 'big.txt'), page);
    server = await startCliServer([site.path, '--headers-timeout', '1', '--quiet']);
  });
  after(async () => {
    await server?.stop();
    site?.remove();
  });

  test('is judged like a small one: every probe passes, the whole length is counted', async () => {
    const run = await check(`http://127.0.0.1:${server.port}/big.txt`);
    assert.deepEqual(run.notPassed, {}, explain(run));
    assert.equal(run.report.probes.find((probe) => probe.id === 'content-length')!.received, `${SIZE} body bytes, as announced`);
    assert.equal(run.code, 0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('sockhttp check: against python3 -m http.server', { skip: !commandExists('python3') && 'python3 is not installed' }, () => {
  let server: BackgroundProcess & { port: number };
  before(async () => {
    server = await startPythonServer(PUBLIC_ROOT);
  });
  after(() => server?.stop());

  test('its real shortcomings are reported, and the FAIL makes the exit code 1', async () => {
    const run = await check(`http://127.0.0.1:${server.port}${HELLO}`);
    assert.deepEqual(
      run.notPassed,
      {
        // "GET this is not a request line": http.server takes the last word as the version, sees no
        // "HTTP/", treats the request as HTTP/0.9 and answers with a bare HTML error page — no
        // status line at all — then closes. Not a 200, so a WARN rather than a FAIL.
        malformed: 'WARN',
        // It accepts an HTTP/1.1 request without Host (RFC 9112 §3.2 requires 400): the one FAIL.
        'host-required': 'FAIL',
        // It answers "HTTP/1.0 200 OK" and closes after every response: no persistent connections…
        'keep-alive': 'WARN',
        // …so of two pipelined requests only the first is answered.
        pipelining: 'WARN',
        // No Range support, and no Accept-Ranges: bytes claimed.
        range: 'SKIP',
        // A half-sent request is kept open as long as the client likes (no header timeout).
        'slow-request': 'WARN',
      },
      explain(run),
    );
    assert.match(run.report.probes.find((probe) => probe.id === 'status-line')!.received, /HTTP\/1\.0 200 OK/);
    assert.equal(run.report.summary.failed, 1);
    assert.equal(run.code, 1);
  });
});

// ---------------------------------------------------------------------------------------------
// nginx, started by us from a config in a temp prefix, on an ephemeral port

function nginxConfig(prefix: string, root: string, port: number): string {
  return `worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log error;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  client_header_timeout 1s;
  keepalive_timeout 5s;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`;
}

/** Resolves once something accepts connections on the port (bounded). */
async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}) before listening`);
    const open = await new Promise<boolean>((done) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (open) return;
    await delay(50);
  }
  throw new Error(`nothing listens on port ${port}`);
}

const NGINX = '/usr/sbin/nginx';

describe('sockhttp check: against nginx', { skip: !existsSync(NGINX) && `nginx is not installed (${NGINX} is missing)` }, () => {
  let prefix: ReturnType<typeof makeTempDir>;
  let nginx: ChildProcess | undefined;
  let port: number;
  let nginxStderr = '';

  before(async () => {
    prefix = makeTempDir('sockhttp-nginx-');
    const root = join(prefix.path, 'www');
    mkdirSync(join(prefix.path, 'logs'));
    cpSync(PUBLIC_ROOT, root, { recursive: true });
    // nginx's workers run as an unprivileged user: the prefix (mkdtemp makes it 0700) and the docroot must be readable.
    chmodSync(prefix.path, 0o755);
    chmodSync(root, 0o755);
    for (const name of readdirSync(root)) chmodSync(join(root, name), statSync(join(root, name)).isDirectory() ? 0o755 : 0o644);
    port = await closedPort();
    const config = join(prefix.path, 'nginx.conf');
    writeFileSync(config, nginxConfig(prefix.path, root, port));
    nginx = spawn(NGINX, ['-p', prefix.path, '-c', config, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    nginx.stderr!.on('data', (chunk: Buffer) => (nginxStderr += chunk.toString()));
    try {
      await waitForPort(port, nginx);
    } catch (error) {
      throw new Error(`${(error as Error).message}: ${nginxStderr}`);
    }
  });

  after(async () => {
    if (nginx !== undefined && nginx.exitCode === null && nginx.signalCode === null) {
      const exited = new Promise((done) => nginx!.once('exit', done));
      nginx.kill('SIGQUIT'); // graceful stop of the master, which stops its worker
      const killer = setTimeout(() => nginx!.kill('SIGKILL'), 8_000);
      await exited;
      clearTimeout(killer);
    }
    prefix?.remove();
  });

  test('every probe passes, exit 0', async () => {
    const run = await check(`http://127.0.0.1:${port}${HELLO}`);
    assert.deepEqual(run.notPassed, {}, explain(run));
    assert.equal(run.code, 0);
    // nginx closes a connection whose head does not arrive within client_header_timeout (1 s) without a 408.
    assert.match(run.report.probes.find((probe) => probe.id === 'slow-request')!.received, /closed/);
  });
});

// ---------------------------------------------------------------------------------------------
// Broken little servers: a correct small server on raw node:net, then one classic mistake each

interface Mistakes {
  /** No Content-Length, and the connection stays open after the body: nobody can tell where it ends. */
  noLengthNoClose?: boolean;
  /** Sends the file on HEAD too. */
  bodyOnHead?: boolean;
  /** Ends lines with "\n" instead of "\r\n". */
  bareLineFeeds?: boolean;
  /** 200 with a page for a file that does not exist. */
  okForMissing?: boolean;
  /** Joins the request path to its folder without any check: "/../../etc/passwd" escapes it. */
  traversal?: boolean;
  /** Serves one connection completely before it accepts the next (the lab's first server). */
  oneAtATime?: boolean;
}

interface LabServer {
  port: number;
  close(): Promise<void>;
}

/**
 * A small static server that gets every probe right (Date, Content-Type, Content-Length, HEAD,
 * 404, 400 for a malformed request or a missing Host, keep-alive and pipelining, Connection: close,
 * no traversal, a 1 s header timeout) — except for the mistakes it is given.
 */
async function startLabServer(root: string, mistakes: Mistakes = {}): Promise<LabServer> {
  const eol = mistakes.bareLineFeeds ? '\n' : '\r\n';
  const sockets = new Set<Socket>();
  const queue: Socket[] = [];
  let busy: Socket | null = null;

  const respond = (socket: Socket, status: string, body: Buffer, method: string, close: boolean) => {
    const fields = [`Date: ${new Date().toUTCString()}`, 'Content-Type: text/html; charset=utf-8'];
    if (!mistakes.noLengthNoClose) fields.push(`Content-Length: ${body.length}`);
    if (close) fields.push('Connection: close');
    const head = Buffer.from(`HTTP/1.1 ${status}${eol}${fields.map((field) => `${field}${eol}`).join('')}${eol}`, 'latin1');
    const sendBody = method !== 'HEAD' || mistakes.bodyOnHead;
    socket.write(sendBody ? Buffer.concat([head, body]) : head);
    if (close) socket.end();
  };

  const fileFor = (target: string): Buffer | null => {
    let path: string;
    try {
      path = decodeURIComponent(target.split('?')[0]!);
    } catch {
      return null;
    }
    if (!mistakes.traversal && (path.split(/[/\\]/).includes('..') || path.includes('\0'))) return null;
    const file = join(root, path); // the traversal mistake: nothing stops ".." from leaving root
    try {
      return statSync(file).isFile() ? readFileSync(file) : null;
    } catch {
      return null;
    }
  };

  const serve = (socket: Socket) => {
    let buffer = Buffer.alloc(0);
    let headTimer: NodeJS.Timeout | null = null;
    const clearHeadTimer = () => {
      if (headTimer !== null) clearTimeout(headTimer);
      headTimer = null;
    };
    socket.on('close', clearHeadTimer);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      // Every complete head in the buffer, in order (pipelining); at most 100 per read.
      for (let count = 0; count < 100 && !socket.destroyed && socket.writable; count++) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) break;
        const lines = buffer.toString('latin1', 0, end).split('\r\n');
        buffer = buffer.subarray(end + 4);
        const request = /^([A-Z]+) (\S+) HTTP\/(1\.[01])$/.exec(lines[0]!);
        const hasHost = lines.slice(1).some((line) => /^host:/i.test(line));
        if (request === null || (request[3] === '1.1' && !hasHost)) {
          respond(socket, '400 Bad Request', Buffer.from('<h1>400 Bad Request</h1>\n'), 'GET', true);
          return;
        }
        const [, method, target] = request as unknown as [string, string, string];
        const close = lines.slice(1).some((line) => /^connection:\s*close\s*$/i.test(line));
        const file = fileFor(target);
        if (file !== null) respond(socket, '200 OK', file, method, close);
        else if (mistakes.okForMissing) respond(socket, '200 OK', Buffer.from('<h1>Welcome!</h1>\n'), method, close);
        else respond(socket, '404 Not Found', Buffer.from('<h1>404 Not Found</h1>\n'), method, close);
      }
      // A head that has begun must be complete within 1 s (the one-at-a-time server has no such timer, like the lab's).
      if (buffer.length > 0 && headTimer === null && !mistakes.oneAtATime) headTimer = setTimeout(() => socket.destroy(), 1_000);
      if (buffer.length === 0) clearHeadTimer();
    });
  };

  const next = () => {
    if (busy !== null) return;
    const socket = queue.shift();
    if (socket === undefined) return;
    busy = socket;
    socket.once('close', () => {
      busy = null;
      next();
    });
    serve(socket);
  };

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    if (mistakes.oneAtATime) {
      queue.push(socket);
      next();
    } else {
      serve(socket);
    }
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return {
    port: address.port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

describe('sockhttp check: each classic lab mistake is caught by name', () => {
  let site: ReturnType<typeof makeTempDir>;
  let root: string;

  before(() => {
    site = makeTempDir();
    root = join(site.path, 'www');
    mkdirSync(root);
    writeFileSync(join(root, 'HelloWorld.html'), readFileSync(join(PUBLIC_ROOT, 'HelloWorld.html')));
  });
  after(() => site?.remove());

  /** Starts the server with `mistakes`, checks it, always stops it. */
  async function checkLabServer(mistakes: Mistakes, args: string[] = []): Promise<CheckRun> {
    const server = await startLabServer(root, mistakes);
    try {
      return await check(`http://127.0.0.1:${server.port}${HELLO}`, args);
    } finally {
      await server.close();
    }
  }

  test('the control: without a mistake the little server fails nothing (conditional and range are SKIPped: no ETag, no Accept-Ranges)', async () => {
    const run = await checkLabServer({});
    assert.deepEqual(run.notPassed, { conditional: 'SKIP', range: 'SKIP' }, explain(run));
    assert.equal(run.code, 0);
  });

  // One run against the no-Content-Length server serves two tests (its responses never end, so
  // every probe waits its full --timeout: keep that at 1 s).
  let framingRun: Promise<CheckRun> | undefined;
  const framing = () => (framingRun ??= checkLabServer({ noLengthNoClose: true }, ['--timeout', '1']));

  test('no Content-Length and no close → framing FAIL', async () => {
    const run = await framing();
    assert.equal(run.verdicts['framing'], 'FAIL', explain(run));
    assert.match(run.report.probes.find((probe) => probe.id === 'framing')!.received, /no Content-Length and no close/);
    // The same mistake also breaks reuse of the connection: a second request in turn is never sent
    // and two pipelined ones cannot be told apart when the first response never ends.
    assert.equal(run.verdicts['keep-alive'], 'FAIL', explain(run));
    assert.notEqual(run.verdicts['pipelining'], 'PASS', explain(run));
    assert.equal(run.code, 1);
  });

  test('no Content-Length and no close is not blamed on concurrency', async () => {
    // This server serves every connection at once; its responses just never end. A response head
    // that arrives while another client stalls shows that the stalled client blocked nobody.
    const run = await framing();
    const concurrency = run.report.probes.find((probe) => probe.id === 'concurrency')!;
    assert.notEqual(concurrency.verdict, 'FAIL', `a framing mistake reported as "${concurrency.received}":\n${explain(run)}`);
  });

  test('a body on HEAD → head FAIL (and nothing else)', async () => {
    const run = await checkLabServer({ bodyOnHead: true });
    assert.deepEqual(run.notPassed, { head: 'FAIL', conditional: 'SKIP', range: 'SKIP' }, explain(run));
    assert.match(run.report.probes.find((probe) => probe.id === 'head')!.received, /a body on HEAD/);
    assert.equal(run.code, 1);
  });

  test('"\\n" instead of "\\r\\n" → line-endings FAIL (and nothing else)', async () => {
    const run = await checkLabServer({ bareLineFeeds: true });
    assert.deepEqual(run.notPassed, { 'line-endings': 'FAIL', conditional: 'SKIP', range: 'SKIP' }, explain(run));
    // The status line, Date, Content-Type, Content-Length and the empty line: five lines.
    assert.match(
      run.report.probes.find((probe) => probe.id === 'line-endings')!.received,
      /^5 line\(s\) end with "\\n" instead of "\\r\\n"$/,
    );
    assert.equal(run.code, 1);
  });

  test('a page with blank lines ("\\n\\n") in its body, after a CRLF head → line-endings PASS (the body is not the head)', async () => {
    writeFileSync(join(root, 'blank-lines.html'), '<!DOCTYPE html>\n<title>Blank lines</title>\n\n<p>one</p>\n\n<p>two</p>\n');
    const server = await startLabServer(root);
    try {
      const run = await check(`http://127.0.0.1:${server.port}/blank-lines.html`);
      assert.deepEqual(run.notPassed, { conditional: 'SKIP', range: 'SKIP' }, explain(run));
      assert.equal(run.report.probes.find((probe) => probe.id === 'line-endings')!.received, 'every line ends with "\\r\\n"');
    } finally {
      await server.close();
    }
  });

  test('200 for a missing file → not-found FAIL', async () => {
    const run = await checkLabServer({ okForMissing: true });
    assert.equal(run.verdicts['not-found'], 'FAIL', explain(run));
    // Consequences of the same mistake, not failures: the pipelining probe tells its two answers
    // apart by the 404 of the second, and the traversal probe needs /etc/passwd's contents.
    assert.deepEqual(run.notPassed, { 'not-found': 'FAIL', pipelining: 'WARN', conditional: 'SKIP', range: 'SKIP' }, explain(run));
    assert.equal(run.code, 1);
  });

  test('serving "../" → traversal FAIL', { skip: !existsSync('/etc/passwd') && 'no /etc/passwd to find' }, async () => {
    // The server joins the decoded path to its folder; six ".." climb from the temp folder to "/".
    assert.equal(
      resolve(root, '../../../../../../etc/passwd'),
      '/etc/passwd',
      `the temp folder ${root} is too deep for the probe's six ".."`,
    );
    assert.match(readFileSync('/etc/passwd', 'latin1'), /root:[^:\n]*:0:0:/, 'the probe recognizes /etc/passwd by its root line');
    const run = await checkLabServer({ traversal: true });
    assert.deepEqual(run.notPassed, { traversal: 'FAIL', conditional: 'SKIP', range: 'SKIP' }, explain(run));
    assert.match(run.report.probes.find((probe) => probe.id === 'traversal')!.received, /\/etc\/passwd/);
    assert.equal(run.code, 1);
  });

  test('one connection at a time → concurrency FAIL', async () => {
    const run = await checkLabServer({ oneAtATime: true });
    // While a client sits on half a request, nobody else is served: that is the mistake to name.
    assert.equal(run.verdicts['concurrency'], 'FAIL', explain(run));
    assert.equal(run.code, 1);
  });
});

// ---------------------------------------------------------------------------------------------

describe('sockhttp check: the lab web server of examples/', () => {
  let lab: BackgroundProcess | undefined;
  let port: number;

  before(async () => {
    lab = startProcess(process.execPath, [join(EXAMPLES, 'lab-web-server.js'), '0', PUBLIC_ROOT]);
    const match = await lab.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\//);
    port = Number(match[1]);
  });
  after(() => lab?.stop());

  test('what check says about it', async () => {
    const run = await check(`http://127.0.0.1:${port}${HELLO}`);
    // Its real shortcomings, as check reports them:
    //  - date FAIL: its head has Content-Type, Content-Length and Connection: close, but no Date;
    //  - head PASS: it answers HEAD with the head alone;
    //  - keep-alive and pipelining WARN: it closes after every response (Connection: close);
    //  - conditional and range SKIP: no ETag, Last-Modified or Accept-Ranges;
    //  - slow-request WARN: a half-sent request is held until its 10-second socket timeout;
    //  - concurrency FAIL: it serves one connection at a time, so a client sitting on half a
    //    request blocks everyone behind it.
    assert.equal(run.verdicts['date'], 'FAIL', explain(run));
    assert.equal(run.verdicts['head'], 'PASS', explain(run));
    assert.equal(run.verdicts['keep-alive'], 'WARN', explain(run));
    assert.equal(run.verdicts['pipelining'], 'WARN', explain(run));
    assert.equal(run.verdicts['conditional'], 'SKIP', explain(run));
    assert.equal(run.verdicts['range'], 'SKIP', explain(run));
    assert.equal(run.verdicts['slow-request'], 'WARN', explain(run));
    assert.equal(run.verdicts['not-found'], 'PASS', 'its 404 works');
    assert.equal(run.verdicts['traversal'], 'PASS', 'it refuses ".." segments');
    assert.equal(run.verdicts['concurrency'], 'FAIL', explain(run));
    assert.equal(run.code, 1);
  });

  test('after it times out a silent client (10 s), it serves the next one', async () => {
    // With check's defaults (--slow-timeout 12) the half-sent request of the slow-request probe
    // outlives the lab server's 10-second socket timeout. The server must then move on to the
    // connections waiting behind it; if it does not, every later probe (and every later visitor)
    // waits for ever.
    const own = startProcess(process.execPath, [join(EXAMPLES, 'lab-web-server.js'), '0', PUBLIC_ROOT]);
    const silent = new Socket();
    try {
      const ownPort = Number((await own.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
      silent.on('error', () => {});
      const closedByServer = new Promise<boolean>((done) => {
        const timer = setTimeout(() => done(false), 20_000);
        silent.once('close', () => {
          clearTimeout(timer);
          done(true);
        });
      });
      silent.connect(ownPort, '127.0.0.1', () => silent.write(`GET ${HELLO} HTTP/1.1\r\nHost: x\r\n`));
      assert.ok(await closedByServer, 'the lab server closes a silent connection after its 10-second timeout');
      const answer = await rawExchange(ownPort, `GET ${HELLO} HTTP/1.1\r\nHost: x\r\n\r\n`, { timeoutMs: 5_000 });
      assert.match(answer.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/, 'the next client is served');
    } finally {
      silent.destroy();
      await own.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("sockhttp check: a hostile server's text is escaped, never printed raw", () => {
  /** A raw server that answers every connection with `head` and a 2-byte body, then closes. */
  const hostile = (head: string) =>
    startRawServer({
      pieces: [Buffer.from(`${head}Date: ${new Date().toUTCString()}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`, 'latin1')],
    });

  /** No control character (C0 other than the line feeds, DEL, C1) and no bidirectional override, anywhere. */
  function assertNothingRaw(text: string, what: string): void {
    const raw = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/.exec(text);
    assert.equal(
      raw,
      null,
      `${what} holds a raw U+${(raw?.[0].codePointAt(0) ?? 0).toString(16).padStart(4, '0')}: ${JSON.stringify(text)}`,
    );
  }

  test('a reason phrase with ESC[31m and an OSC title sequence: shown escaped, in the report and in --json', async () => {
    const server = await hostile('HTTP/1.1 200 \x1b[31mRED\x1b]0;pwned\x07 OK\r\n');
    try {
      const human = await runCli(['check', server.url(HELLO), ...FAST, '--timeout', '1'], { timeoutMs: 120_000 });
      const text = human.stdout.toString('utf8');
      assertNothingRaw(text.replace(/\n/g, ''), 'the report');
      const statusLine = text.split('\n').find((line) => /^\S+\s+status-line /.test(line));
      assert.ok(statusLine !== undefined, text);
      // Controls in a reason phrase are not allowed (RFC 9112 §4): the status line is not a valid one.
      assert.match(
        statusLine,
        /^FAIL {2}status-line .*"HTTP\/1\.1 200 \\x1b\[31mRED\\x1b\]0;pwned\\x07 OK" is not an HTTP\/1\.x status line/,
      );

      const run = await check(server.url(HELLO), ['--timeout', '1']);
      for (const probe of run.report.probes) {
        assertNothingRaw(probe.sent, `${probe.id}: sent`);
        assertNothingRaw(probe.received, `${probe.id}: received`);
      }
      assert.match(run.report.probes.find((probe) => probe.id === 'status-line')!.received, /\\x1b\[31mRED\\x1b\]0;pwned\\x07 OK/);
    } finally {
      await server.close();
    }
  });

  test('bytes past ASCII in the reason phrase and field values: valid UTF-8 shown as letters, C1 controls and stray bytes escaped', async () => {
    // 0x9b alone is the C1 control CSI when taken as latin1; E2 9C 93 is "✓" in UTF-8. Both are
    // obs-text, which a reason phrase and a field value may hold.
    const server = await hostile('HTTP/1.1 200 OK \xe2\x9c\x93 \x9b2J\r\nContent-Type: text/html; x=\x9b31m\r\nETag: "\x9b1m"\r\n');
    try {
      const run = await check(server.url(HELLO), ['--timeout', '1']);
      for (const probe of run.report.probes) {
        assertNothingRaw(probe.sent, `${probe.id}: sent`);
        assertNothingRaw(probe.received, `${probe.id}: received`);
      }
      const received = (id: string) => run.report.probes.find((probe) => probe.id === id)!.received;
      assert.equal(run.verdicts['status-line'], 'PASS', explain(run));
      assert.equal(received('status-line'), '"HTTP/1.1 200 OK ✓ \\x9b2J"');
      assert.equal(received('content-type'), 'Content-Type: text/html; x=\\x9b31m');
      assert.equal(run.report.probes.find((probe) => probe.id === 'conditional')!.sent, `GET ${HELLO} with If-None-Match: "\\x9b1m"`);
      assert.match(received('not-found'), /^200 OK ✓ \\x9b2J for a file that does not exist$/);
    } finally {
      await server.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('sockhttp check: usage, unreachable and silent servers', () => {
  test('no URL → exit 2, one line on stderr', async () => {
    const result = await runCli(['check'], { timeoutMs: 20_000 });
    assert.equal(result.code, 2);
    assertOneLine(result.stderr);
    assert.match(result.stderr, /^sockhttp check: give one URL to check/);
    assert.equal(result.stdout.length, 0);
  });

  test('ftp://x → exit 2, one line on stderr', async () => {
    const result = await runCli(['check', 'ftp://x'], { timeoutMs: 20_000 });
    assert.equal(result.code, 2);
    assertOneLine(result.stderr);
    assert.match(result.stderr, /only http and https URLs can be checked, not ftp:/);
  });

  test('a closed port → exactly one FAIL line, connect; exit 1', async () => {
    const port = await closedPort();
    const result = await runCli(['check', `http://127.0.0.1:${port}/`, ...FAST], { timeoutMs: 60_000 });
    assert.equal(result.code, 1);
    const verdictLines = result.stdout
      .toString()
      .split('\n')
      .filter((line) => /^(PASS|WARN|FAIL|SKIP) /.test(line));
    assert.equal(verdictLines.length, 1, result.stdout.toString());
    assert.match(verdictLines[0]!, /^FAIL {2}connect\s+connect to 127\.0\.0\.1:\d+ {2}→ {2}cannot connect \(ECONNREFUSED\)/);
  });

  test('a server that accepts and never answers: every probe is bounded, the run ends by itself', async () => {
    const silent = await startRawServer({ pieces: [], after: 'keep-open', waitForRequestHead: false });
    try {
      const run = await check(silent.url(HELLO), ['--timeout', '1']);
      assert.equal(run.code, 1);
      assert.equal(run.verdicts['status-line'], 'FAIL', explain(run));
      assert.match(run.report.probes.find((probe) => probe.id === 'status-line')!.received, /no response in time/);
      assert.equal(run.verdicts['slow-request'], 'WARN', explain(run));
      for (const probe of run.report.probes) assert.ok(['PASS', 'WARN', 'FAIL', 'SKIP'].includes(probe.verdict), probe.id);
    } finally {
      await silent.close();
    }
  });
});
