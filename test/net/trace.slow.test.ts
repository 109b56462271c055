/**
 * `sockhttp serve DIR --trace`, run as a child process exactly as a user runs it: the trace arrives
 * on its stderr (a pipe here) or in the --trace-file, one line per RFC 9112 element:
 *
 *   09:12:01.337 #3 < request-line  GET /HelloWorld.html HTTP/1.1\r\n
 *
 * Clients: curl, raw sockets sending exact bytes (the lab's request, a hostile one), and the
 * live-reload event stream of --watch for a chunked response. Colours: never in a pipe or a file;
 * on a terminal (a pseudo-terminal made with `script`) unless NO_COLOR is set.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, GAIA_ROOT, commandExists, makeTempDir, rawExchange, runCli, runCommand, startStaticServer } from '../helpers.js';
import { RawConnection, delay } from './server/helpers.js';

const FILE1_PATH = '/wireshark-labs/INTRO-wireshark-file1.html';
const FILE3_PATH = '/wireshark-labs/HTTP-wireshark-file3.html';
const FILE1 = readFileSync(join(GAIA_ROOT, FILE1_PATH));
const FILE3 = readFileSync(join(GAIA_ROOT, FILE3_PATH));
const LAB_REQUEST = `GET ${FILE1_PATH} HTTP/1.1\r\nHost:gaia.cs.umass.edu\r\n\r\n`;
const HAS_CURL = commandExists('curl');

// ---------------------------------------------------------------------------------------------
// Reading a trace

interface TraceEntry {
  time: string;
  connection: number;
  direction: '<' | '>' | '*';
  /** '' for a note (connection from…, connection closed). */
  element: string;
  text: string;
}

/** `HH:MM:SS.mmm #N D ELEMENT…(14 columns)TEXT` */
const TRACE_LINE = /^(\d{2}:\d{2}:\d{2}\.\d{3}) #(\d+) ([<>*]) (.{14})(.*)$/;

function parseTrace(output: string): TraceEntry[] {
  return output
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('Serving ')) // serve's banner shares stderr with the trace
    .map((line) => {
      const match = TRACE_LINE.exec(line);
      assert.ok(match !== null, `not a trace line: ${JSON.stringify(line)}`);
      return {
        time: match[1]!,
        connection: Number(match[2]),
        direction: match[3] as TraceEntry['direction'],
        element: match[4]!.trimEnd(),
        text: match[5]!,
      };
    });
}

/** The entries of the connection whose request-line is `requestLine` (as shown, with its \r\n). */
function connectionWith(entries: TraceEntry[], requestLine: string): TraceEntry[] {
  const first = entries.find((entry) => entry.element === 'request-line' && entry.text === requestLine);
  if (first === undefined) return [];
  return entries.filter((entry) => entry.connection === first.connection);
}

const isClosed = (entries: TraceEntry[]) => entries.some((entry) => entry.direction === '*' && entry.text === 'connection closed');

/** [direction, element, text] triples: what a test compares. */
const shape = (entries: TraceEntry[]) => entries.map((entry) => [entry.direction, entry.element, entry.text]);

/** Polls `read` until `done` says yes (at most `timeoutMs`); returns the last value either way. */
async function pollUntil<T>(read: () => T, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = read();
  for (let round = 0; round < 1_000 && !done(value) && Date.now() < deadline; round++) {
    await delay(20);
    value = read();
  }
  return value;
}

/** The head lines of a response as the trace shows them (CRLF as the four characters \r\n). */
function headLinesOf(response: Buffer): string[] {
  const end = response.indexOf('\r\n\r\n');
  assert.ok(end !== -1, 'a whole response head');
  return response
    .toString('latin1', 0, end)
    .split('\r\n')
    .map((line) => `${line}\\r\\n`);
}

// ---------------------------------------------------------------------------------------------
// `sockhttp serve` with its stderr captured (startProcess keeps stderr to itself)

interface TracedServer {
  child: ChildProcess;
  port: number;
  stdout(): string;
  stderr(): string;
  /** SIGTERM (SIGKILL after 8 s) by PID; resolves with the exit code. */
  stop(): Promise<number | null>;
}

async function startTracedServer(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<TracedServer> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args, '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const server: TracedServer = {
    child,
    port: 0,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 8_000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
  const banner = await pollUntil(
    () => /http:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr),
    (match) => match !== null || child.exitCode !== null,
  );
  if (banner === null) {
    await server.stop();
    assert.fail(`sockhttp serve did not start: ${stderr}`);
  }
  server.port = Number(banner[1]);
  return server;
}

/** Sends exact bytes on a connection of our own, reads one response, and closes. */
async function oneRequest(port: number, request: string | Buffer, method = 'GET'): Promise<Buffer> {
  const connection = await RawConnection.open(port);
  try {
    connection.write(request);
    const response = await connection.readResponse(method, 10_000);
    return Buffer.concat([Buffer.from(`${response.headText}\r\n\r\n`, 'latin1'), response.body]);
  } finally {
    connection.destroy();
  }
}

// ---------------------------------------------------------------------------------------------

describe('serve --trace: stderr', () => {
  let server: TracedServer;

  before(async () => {
    server = await startTracedServer([GAIA_ROOT, '--trace', '--quiet']);
  });
  after(() => server?.stop());

  const trace = () => parseTrace(server.stderr());

  test("the lab's request from a raw socket: every byte in and out, labelled", async () => {
    const response = await oneRequest(server.port, LAB_REQUEST);
    const entries = await pollUntil(() => connectionWith(trace(), `GET ${FILE1_PATH} HTTP/1.1\\r\\n`), isClosed);
    assert.ok(isClosed(entries), `the connection's close is traced: ${server.stderr()}`);
    const [statusLine, ...fieldLines] = headLinesOf(response);
    assert.equal(statusLine, 'HTTP/1.1 200 OK\\r\\n');
    assert.deepEqual(shape(entries.slice(1)), [
      ['<', 'request-line', `GET ${FILE1_PATH} HTTP/1.1\\r\\n`],
      // No space after the colon: OWS is optional (RFC 9110 §5.6.3), so this is a valid field line.
      ['<', 'field-line', 'Host:gaia.cs.umass.edu\\r\\n'],
      ['<', 'empty-line', '\\r\\n'],
      ['>', 'status-line', statusLine],
      ...fieldLines.map((line) => ['>', 'field-line', line]),
      ['>', 'empty-line', '\\r\\n'],
      ['>', 'body', `… ${FILE1.length} bytes of body …`],
      ['*', '', 'connection closed'],
    ]);
    assert.match(entries[0]!.text, /^connection from 127\.0\.0\.1 port \d+$/);
    assert.ok(fieldLines.includes(`Content-Length: ${FILE1.length}\\r\\n`), 'the response the socket got is the one traced');
    // The whole line, as a reader sees it: time, #connection, direction, element padded to 14 columns.
    const raw = server.stderr().split('\n');
    assert.ok(
      raw.some((line) =>
        new RegExp(
          `^\\d{2}:\\d{2}:\\d{2}\\.\\d{3} #${entries[0]!.connection} < request-line  GET /wireshark-labs/INTRO-wireshark-file1\\.html HTTP/1\\.1\\\\r\\\\n$`,
        ).test(line),
      ),
      server.stderr(),
    );
  });

  test('a request from curl: its field lines, our status line, the 4,500-byte body summarized', {
    skip: !HAS_CURL && 'curl is not installed',
  }, async () => {
    const result = await runCommand(
      'curl',
      ['-s', '-S', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${server.port}${FILE3_PATH}`],
      { timeoutMs: 20_000 },
    );
    assert.equal(result.stdout.toString(), '200', result.stderr);
    const entries = await pollUntil(() => connectionWith(trace(), `GET ${FILE3_PATH} HTTP/1.1\\r\\n`), isClosed);
    const received = entries.filter((entry) => entry.direction === '<');
    const sent = entries.filter((entry) => entry.direction === '>');
    assert.deepEqual(shape(received.slice(0, 2)), [
      ['<', 'request-line', `GET ${FILE3_PATH} HTTP/1.1\\r\\n`],
      ['<', 'field-line', `Host: 127.0.0.1:${server.port}\\r\\n`],
    ]);
    assert.ok(
      received.some((entry) => entry.element === 'field-line' && /^User-Agent: curl\/[\d.]+\\r\\n$/.test(entry.text)),
      JSON.stringify(received),
    );
    assert.deepEqual(shape(received.slice(-1)), [['<', 'empty-line', '\\r\\n']]);
    assert.deepEqual(shape(sent.slice(0, 1)), [['>', 'status-line', 'HTTP/1.1 200 OK\\r\\n']]);
    assert.ok(
      sent.some((entry) => entry.element === 'field-line' && entry.text === `Content-Length: ${FILE3.length}\\r\\n`),
      JSON.stringify(sent),
    );
    assert.deepEqual(shape(sent.slice(-2)), [
      ['>', 'empty-line', '\\r\\n'],
      ['>', 'body', '… 4,500 bytes of body …'],
    ]);
  });

  test('a hostile request (ESC sequences, a bidi override) arrives escaped; no raw ESC anywhere', async () => {
    const hostile = Buffer.concat([
      Buffer.from('GET /\x1b[2J\x1b]0;owned\x07', 'latin1'),
      Buffer.from('evil\u202Elmth.exe HTTP/1.1\r\nHost: x\r\nX-Note: caf\u00e9 \x1b[31mred\r\n\r\n', 'utf8'),
    ]);
    const answer = await rawExchange(server.port, hostile, { timeoutMs: 10_000 });
    assert.match(answer.toString('latin1'), /^HTTP\/1\.1 400 /, 'our server refuses the request line');
    const requestLine = 'GET /\\x1b[2J\\x1b]0;owned\\x07evil\\u{202e}lmth.exe HTTP/1.1\\r\\n';
    const entries = await pollUntil(() => connectionWith(trace(), requestLine), isClosed);
    assert.deepEqual(shape(entries.filter((entry) => entry.direction === '<')), [
      ['<', 'request-line', requestLine],
      ['<', 'field-line', 'Host: x\\r\\n'],
      ['<', 'field-line', 'X-Note: café \\x1b[31mred\\r\\n'],
      ['<', 'empty-line', '\\r\\n'],
    ]);
    const output = server.stderr();
    assert.ok(!output.includes('\x1b'), 'no raw ESC in the trace (and no colours: stderr is a pipe)');
    assert.ok(!output.includes('\u202E'), 'no raw bidi override in the trace');
    assert.ok(!output.includes('\x07'), 'no raw BEL in the trace');
  });
});

describe('serve --trace-file, --trace-body', () => {
  let folder: ReturnType<typeof makeTempDir>;
  let server: TracedServer;
  let traceFile: string;

  before(async () => {
    folder = makeTempDir();
    traceFile = join(folder.path, 'trace.txt');
    writeFileSync(traceFile, 'a line from an earlier run\n');
    server = await startTracedServer([GAIA_ROOT, '--trace-file', traceFile, '--trace-body', '10', '--quiet']);
  });
  after(async () => {
    await server?.stop();
    folder?.remove();
  });

  const fileText = () => readFileSync(traceFile, 'utf8');
  const trace = () => parseTrace(fileText().split('\n').slice(1).join('\n'));

  test('the trace is appended to the file, and --trace-body 10 shows the first 10 bytes of the body', async () => {
    await oneRequest(server.port, `GET ${FILE3_PATH} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const entries = await pollUntil(() => connectionWith(trace(), `GET ${FILE3_PATH} HTTP/1.1\\r\\n`), isClosed);
    const first10 = FILE3.subarray(0, 10).toString('latin1');
    assert.match(first10, /^[\x20-\x7e]{10}$/, 'the fixture starts with printable ASCII');
    assert.deepEqual(shape(entries.filter((entry) => entry.element === 'body')), [['>', 'body', `${first10}… 4,500 bytes of body …`]]);
    assert.equal(fileText().split('\n')[0], 'a line from an earlier run', 'appended, not truncated');
    assert.doesNotMatch(server.stderr(), /request-line/, 'with --trace-file nothing is traced on stderr');
  });

  test('two bodies on one connection: each gets its own 10-byte preview', async () => {
    const connection = await RawConnection.open(server.port);
    try {
      connection.write(`GET ${FILE1_PATH} HTTP/1.1\r\nHost: x\r\n\r\nGET ${FILE3_PATH} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await connection.readResponse('GET', 10_000);
      await connection.readResponse('GET', 10_000);
    } finally {
      connection.destroy();
    }
    const entries = await pollUntil(() => connectionWith(trace(), `GET ${FILE1_PATH} HTTP/1.1\\r\\n`), isClosed);
    assert.deepEqual(
      entries.filter((entry) => entry.element === 'request-line').map((entry) => entry.text),
      [`GET ${FILE1_PATH} HTTP/1.1\\r\\n`, `GET ${FILE3_PATH} HTTP/1.1\\r\\n`],
      'both requests on the same connection',
    );
    // file1 starts "<html>\nCon": the LF in the preview is shown as \n.
    assert.equal(FILE1.subarray(0, 10).toString('latin1'), '<html>\nCon');
    assert.deepEqual(shape(entries.filter((entry) => entry.element === 'body')), [
      ['>', 'body', `<html>\\nCon… ${FILE1.length} bytes of body …`],
      ['>', 'body', `${FILE3.subarray(0, 10).toString('latin1')}… 4,500 bytes of body …`],
    ]);
  });

  test('no colours and no raw ESC in a file, even for a hostile request', async () => {
    await rawExchange(server.port, 'GET /\x1b[31m HTTP/1.1\r\nHost: \x1b]0;t\x07\r\n\r\n', { timeoutMs: 10_000 });
    const entries = await pollUntil(() => connectionWith(trace(), 'GET /\\x1b[31m HTTP/1.1\\r\\n'), isClosed);
    assert.ok(entries.length > 0, fileText());
    assert.ok(!fileText().includes('\x1b'), 'no ESC byte in the trace file');
  });
});

describe('serve --trace: a chunked response (the --watch live-reload event stream)', () => {
  let folder: ReturnType<typeof makeTempDir>;

  before(() => {
    folder = makeTempDir();
    writeFileSync(join(folder.path, 'index.html'), '<p>watched</p>\n');
  });
  after(() => folder?.remove());

  test('chunk-size and chunk-data lines as the stream goes, last-chunk and empty-line when the server stops', async () => {
    const server = await startTracedServer([folder.path, '--watch', '--trace', '--trace-body', '10', '--quiet']);
    let connection: RawConnection | undefined;
    try {
      connection = await RawConnection.open(server.port);
      connection.write('GET /__sockhttp/live-reload HTTP/1.1\r\nHost: x\r\n\r\n');
      const requestLine = 'GET /__sockhttp/live-reload HTTP/1.1\\r\\n';
      const chunkLines = (entries: TraceEntry[]) => entries.filter((entry) => entry.element.startsWith('chunk-'));
      let entries = await pollUntil(
        () => connectionWith(parseTrace(server.stderr()), requestLine),
        (found) => chunkLines(found).length >= 2,
      );
      const sent = entries.filter((entry) => entry.direction === '>');
      assert.ok(
        sent.some((entry) => entry.element === 'field-line' && entry.text === 'Transfer-Encoding: chunked\\r\\n'),
        server.stderr(),
      );
      // The first event ("retry: 1000\n\n", 13 bytes): its size in hex, then 10 bytes of preview.
      assert.deepEqual(shape(chunkLines(entries).slice(0, 2)), [
        ['>', 'chunk-size', 'd\\r\\n'],
        ['>', 'chunk-data', 'retry: 100… 13 bytes of chunk data …\\r\\n'],
      ]);
      // A change under the folder sends the next event as the next chunk.
      const before = chunkLines(entries).length;
      // Waits for both lines of the chunk: its size line may be traced before its data line.
      for (let attempt = 0; attempt < 5 && chunkLines(entries).length < before + 2; attempt++) {
        writeFileSync(join(folder.path, 'index.html'), `<p>changed ${attempt}</p>\n`);
        entries = await pollUntil(
          () => connectionWith(parseTrace(server.stderr()), requestLine),
          (found) => chunkLines(found).length >= before + 2,
          2_000,
        );
      }
      const next = chunkLines(entries).slice(before, before + 2);
      assert.equal(next[0]?.element, 'chunk-size', server.stderr());
      assert.match(next[0]!.text, /^[0-9a-f]+\\r\\n$/);
      assert.equal(next[1]?.element, 'chunk-data');
      assert.match(next[1]!.text, new RegExp(`^event: rel… ${Number.parseInt(next[0]!.text, 16)} bytes of chunk data …\\\\r\\\\n$`));
      // Stopping the server ends the stream properly: the last chunk and the empty line.
      assert.equal(await server.stop(), 0);
      entries = connectionWith(parseTrace(server.stderr()), requestLine);
      assert.deepEqual(shape(entries.slice(-3)), [
        ['>', 'last-chunk', '0\\r\\n'],
        ['>', 'empty-line', '\\r\\n'],
        ['*', '', 'connection closed'],
      ]);
    } finally {
      connection?.destroy();
      await server.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Colours on a terminal: `script` runs the server on a pseudo-terminal

/** Can `script` give a command a terminal here? (util-linux script; -e passes the exit code on.) */
function canMakePty(): boolean {
  if (!commandExists('script')) return false;
  const probe = spawnSync('script', ['-q', '-e', '-c', 'test -t 2', '/dev/null'], { stdio: ['pipe', 'ignore', 'ignore'], timeout: 10_000 });
  return probe.status === 0;
}
const PTY_SKIP = canMakePty()
  ? false
  : 'cannot make a pseudo-terminal here (`script -q -e -c CMD /dev/null` from util-linux is missing or does not work)';

const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/** The PIDs of the direct children of `pid` (Linux /proc), so that we can stop exactly them. */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `sockhttp serve GAIA_ROOT ARGS… --trace` on a pseudo-terminal, sends one request with
 * Connection: close, and returns everything the terminal showed (stdout and stderr together).
 */
async function traceOnTerminal(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const command = `exec ${[process.execPath, CLI, 'serve', GAIA_ROOT, '--port', '0', '--quiet', ...args].map(shellQuote).join(' ')}`;
  // stdin stays an open pipe: script ends when its input ends.
  const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let servers: number[] = [];
  try {
    const banner = await pollUntil(
      () => /http:\/\/127\.0\.0\.1:(\d+)\//.exec(output),
      (match) => match !== null || child.exitCode !== null,
    );
    assert.ok(banner !== null, `no banner on the terminal: ${JSON.stringify(output)}`);
    servers = childPids(child.pid!);
    await rawExchange(Number(banner[1]), `GET ${FILE1_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { timeoutMs: 10_000 });
    await pollUntil(
      () => output,
      (text) => text.includes('connection closed') || !args.includes('--trace'),
      5_000,
    );
    return output;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 8_000);
    await exited;
    clearTimeout(killer);
    for (const pid of servers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}

describe('serve --trace on a terminal: colours, and NO_COLOR', { skip: PTY_SKIP }, () => {
  const withoutNoColor = () => {
    const env = { ...process.env };
    delete env['NO_COLOR'];
    return env;
  };

  test('on a terminal the trace is coloured (the control for the two tests below)', async () => {
    const output = await traceOnTerminal(['--trace'], withoutNoColor());
    assert.match(output, /request-line/);
    assert.match(output, /\x1b\[/, `expected ANSI colours on a terminal: ${JSON.stringify(output.slice(0, 400))}`);
  });

  test('NO_COLOR=1: no colours, even on a terminal', async () => {
    const output = await traceOnTerminal(['--trace'], { ...withoutNoColor(), NO_COLOR: '1' });
    assert.match(output, /< request-line {2}GET \/wireshark-labs\/INTRO-wireshark-file1\.html HTTP\/1\.1\\r\\n/);
    assert.ok(!output.includes('\x1b'), JSON.stringify(output.slice(0, 400)));
  });

  test('--trace-file: no colours in the file, even when stderr is a terminal', async () => {
    const folder = makeTempDir();
    try {
      const file = join(folder.path, 'trace.txt');
      await traceOnTerminal(['--trace-file', file], withoutNoColor());
      const text = await pollUntil(
        () => readFileSync(file, 'utf8'),
        (contents) => contents.includes('connection closed'),
      );
      assert.match(text, /request-line/);
      assert.ok(!text.includes('\x1b'), JSON.stringify(text.slice(0, 400)));
    } finally {
      folder.remove();
    }
  });
});

describe('get --trace: the client side of the wire', () => {
  let server: Awaited<ReturnType<typeof startStaticServer>>;
  const FILE1 = '/wireshark-labs/INTRO-wireshark-file1.html';
  const FILE3 = '/wireshark-labs/HTTP-wireshark-file3.html';

  before(async () => {
    server = await startStaticServer(GAIA_ROOT);
  });
  after(() => server?.close());

  test('two URLs on one connection: requests as sent (>), responses as received (<), bodies summarized, reuse noted', async () => {
    const result = await runCli([
      'get',
      server.url(FILE1),
      server.url(FILE3),
      '--trace',
      '--trace-body',
      '6',
      '-o',
      '/dev/null',
      '-o',
      '/dev/null',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    const labelled = lines.map((line) => line.replace(/^\d\d:\d\d:\d\d\.\d{3} /, ''));
    assert.ok(labelled.includes(`#1 > request-line  GET ${FILE1} HTTP/1.1\\r\\n`), lines.join('\n'));
    assert.ok(labelled.includes(`#1 > field-line    Host: 127.0.0.1:${server.port}\\r\\n`), lines.join('\n'));
    assert.ok(labelled.includes('#1 < status-line   HTTP/1.1 200 OK\\r\\n'), lines.join('\n'));
    assert.ok(labelled.includes('#1 < field-line    Content-Length: 81\\r\\n'), lines.join('\n'));
    assert.ok(labelled.includes('#1 < body          <html>… 81 bytes of body …'), lines.join('\n'));
    assert.ok(labelled.includes('#1 < body          <!DOCT… 4,500 bytes of body …'), lines.join('\n'));
    assert.ok(
      labelled.some((line) => line.startsWith('#1 *') && line.includes('re-using this connection')),
      lines.join('\n'),
    );
    assert.ok(!labelled.some((line) => line.startsWith('#2 ')), 'the second URL must travel on connection #1');
  });

  test('--trace-file writes the trace to a file and nothing to stderr', async () => {
    const folder = makeTempDir();
    try {
      const file = join(folder.path, 'client.trace');
      const result = await runCli(['get', server.url(FILE1), '--trace-file', file, '-o', '/dev/null']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
      assert.match(readFileSync(file, 'utf8'), /#1 > request-line {2}GET \/wireshark-labs\/INTRO-wireshark-file1\.html HTTP\/1\.1\\r\\n/);
    } finally {
      folder.remove();
    }
  });
});
