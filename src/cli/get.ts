/**
 * `sockhttp get`: fetch URLs as curl does (its option names, its exit codes), or the lab form
 * HOST PORT FILENAME. Built on the library: request() does the protocol, redirects, retries and
 * decoding; this file turns options into request options and writes what comes back.
 *
 * Several URLs on one command line share one Agent, so requests to the same host:port reuse one
 * kept-alive connection; the agent is closed at the end.
 *
 * The pieces: get-options.ts reads the command line, get-output.ts writes bodies and draws the
 * progress bar, get-resume.ts resumes downloads (-C -), get-report.ts shows -v, -i, -w and
 * --json-output, get-errors.ts maps failures to exit codes.
 */
import { mkdir, readFile, rename, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, type ClientEvent, type ClientResponse, type FieldLine, USER_AGENT, parseHttpDate, request } from '../index.js';
import { CommandError, EXIT_CODES, exitCodeOf } from './get-errors.js';
import { startUpDone, whenStdioMade } from './options.js';
import { type Job, type Settings, netrcEntry, parseSettings } from './get-options.js';
import {
  type FileWrite,
  bodyDelivery,
  bodyTotal,
  partialPath,
  refusingBinary,
  removeUnresumablePartials,
  planFileWrite,
  remoteFileName,
  startProgress,
  writeError,
  writeToFile,
  writeToStdout,
} from './get-output.js';
import { type Transfer, expandWriteOut, jsonReport, shownHead, shownStatus, verboseLines } from './get-report.js';
import { type ResumeState, forgetResume, loadResume, planResume } from './get-resume.js';

export { EXIT_CODES } from './get-errors.js';

export const GET_HELP = `Usage: sockhttp get URL... [options]
       sockhttp get HOST PORT FILENAME [options]   (the lab client: GET /FILENAME)

Fetches each URL over HTTP/1.1 (HTTP/2 with --http2) and writes the bodies to stdout.
Several URLs to the same host:port share one kept-alive connection.

Request:
      --url URL            one more URL (repeatable)
  -X, --request METHOD     request method (default: GET, or POST with a body)
  -H, --header 'N: V'      add a request field (repeatable); 'N:' removes a default field,
                           'N;' sends it empty
  -u, --user USER:PASS     Basic credentials (dropped when a redirect leaves the origin)
  -n, --netrc              credentials for the host from ~/.netrc (--netrc-file FILE: another file)
  -e, --referer URL        Referer (URL;auto or ;auto: with -L, then the URL each redirect came from)
  -b, --cookie DATA|FILE   send cookies: 'a=1; b=2', or a Netscape cookie file (as -c writes it)
  -c, --cookie-jar FILE    write every cookie held to FILE at the end (Netscape format)
  -d, --data DATA          send DATA as a form (POST, application/x-www-form-urlencoded);
                           @FILE reads a file without its line breaks; several are joined with &
      --data-binary DATA   the same, sent exactly as given; @FILE reads a file byte for byte
      --json JSON          send JSON (POST; Content-Type and Accept: application/json); @FILE too
  -G, --get                put the -d data in the URL's query and send GET
  -F, --form NAME=VALUE    multipart/form-data (POST): NAME=@FILE[;type=MIME] a file, NAME=<FILE text
  -T, --upload-file FILE   PUT the file (- for stdin); a URL ending in / gets the file's name
  -I, --head               send HEAD and show the response head
  -A, --user-agent NAME    User-Agent (default: ${USER_AGENT})
      --compressed         ask for gzip, deflate or br and decode the body
  -L, --location           follow redirects (301, 302, 303, 307, 308)
      --max-redirs N       with -L, at most N redirects (default 10)
      --retry N            retry after a connection failure or a 5xx, N times at most, for
                           idempotent methods (GET, HEAD, PUT, DELETE…); waits 1 s, 2 s, 4 s… (≤ 30 s)
      --retry-delay SECONDS  the first wait of --retry (default 1); it doubles each time
  -x, --proxy URL          use this HTTP proxy (default: $http_proxy, $https_proxy, $all_proxy)
      --noproxy LIST       hosts reached without the proxy (default: $no_proxy)
  -m, --max-time SECONDS   give up on a URL after this long (default: no limit)
      --connect-timeout SECONDS  give up on connecting (TCP, proxy tunnel, TLS handshake) after
                           this long (default 10); the head must come within 300 s of the
                           request, and the body may pause for at most 300 s
  -4, -6                   IPv4 / IPv6 addresses only
      --resolve HOST:PORT:ADDR      connect to ADDR for HOST:PORT (Host and TLS still use HOST)
      --connect-to H:P:H2:P2        connect to H2:P2 instead of H:P
  -k, --insecure           HTTPS: do not verify the server's certificate
      --http2              HTTPS: offer HTTP/2 by ALPN, HTTP/1.1 if the server does not take
                           it (plain http: stays HTTP/1.1); URLs to one origin share a connection
      --http2-prior-knowledge  speak HTTP/2 at once, without asking (h2c on http:)
      --cacert FILE        HTTPS: trust the PEM certificate authorities in FILE

Response:
  -i, --include            show the response head(s) before the body
      --raw                show the response exactly as it arrived, bytes and framing included
  -o, --output FILE        write the body to FILE, written beside it and renamed when complete
                           (one -o per URL, in order); -o - is stdout
  -O, --remote-name        write each body to a file named after the last segment of its URL
      --output-dir DIR     where -O and relative -o files go
      --create-dirs        create the folders of the -o/-O path
  -R, --remote-time        give the file the response's Last-Modified time
  -D, --dump-header FILE   write the response heads to FILE (- for stdout)
      --etag-save FILE     write the response's ETag to FILE
      --etag-compare FILE  send If-None-Match with the ETag in FILE
  -C, --continue-at -      resume an interrupted -o/-O download safely (Range with If-Range)
      --limit-rate RATE    read at most RATE bytes per second (suffix K, M or G: 1024, 1024², 1024³)
      --max-filesize BYTES fail rather than receive a body larger than this
  -f, --fail               for a status of 400 or more, write no body and exit 22
      --fail-with-body     for a status of 400 or more, write the body and exit 22
  -s, --silent             no progress bar, no messages at all
  -N, --no-buffer          accepted: the body is always written as it arrives
  -Z, --parallel           fetch the URLs at once (--parallel-max N at a time, default 50)
  -S, --show-error         with -s, still show error messages
      --progress           show the progress bar even when stderr is not a terminal
  -v, --verbose            show connections, TLS, and the request and response heads on stderr
  -w, --write-out FORMAT   (@FILE: read from FILE) print FORMAT after each URL: %{http_code} %{http_version}
                           %{content_type} %{size_download} %{time_namelookup} %{time_connect}
                           %{time_appconnect} %{time_starttransfer} %{time_total} %{url}
                           %{url_effective} %{num_redirects} %{remote_ip} %{remote_port}
                           %{exitcode} %{errormsg} %{json}; \\n \\t \\\\ and %% as in curl
      --json-output        print a JSON object per URL after its body: status, headers, timings
      --trace              show every byte sent and received on stderr, each line labelled with
                           its RFC 9112 element (request-line, field-line, chunk-size…)
      --trace-file FILE    write the trace to FILE instead (appended)
      --trace-body N       show the first N bytes of each body in the trace (default: 0)
                           (over HTTP/2: every frame, its fields decoded, HPACK codings, windows)
  -h, --help               this help

Exit codes:
  0  success (any HTTP status without --fail)
  1  unsupported protocol (a scheme other than http: and https:)
  2  usage error
  3  malformed URL
  5  the proxy's host cannot be resolved
  6  unknown host
  7  cannot connect (to the server or the proxy)
  8  malformed response
 16  HTTP/2 connection error (or no h2 with --http2-prior-knowledge)
 18  body shorter than announced
 22  HTTP error status with --fail (or with -C - when a partial download is kept)
 23  cannot write the output (or no file name in the URL for -O, or a binary body for a terminal)
 26  cannot read a -d @FILE, -F @FILE, -T FILE or -w @FILE
 28  timeout (--max-time, --connect-timeout, or the head or body timeout)
 33  cannot resume safely: the server's range does not continue the partial file, or no ranges
 35  TLS handshake failed
 47  too many redirects (--max-redirs)
 52  the server closed the connection without a response
 56  connection reset during the response
 60  untrusted certificate (see --cacert, -k)
 61  the body does not decode (--compressed)
 63  body over --max-filesize
 92  HTTP/2 stream reset by the server
 97  the proxy refused or botched the CONNECT tunnel
100  response head too large
130  interrupted (Ctrl-C)
143  terminated (SIGTERM)`;

// ---------------------------------------------------------------------------------------------
// One URL

/**
 * -v lines, the heads -i shows (those of a retried attempt forgotten), and a warning per retry.
 * Heads are kept only when they will be shown: every one of them is the server's to choose, and
 * so is how many come (the client bounds interim responses per exchange, -L the redirects).
 */
function onClientEvent(event: ClientEvent, settings: Settings, delivery: Delivery, transfer: Transfer): void {
  const heads = delivery.heads;
  if (settings.verbose) for (const line of verboseLines(event)) process.stderr.write(`${line}\n`);
  if (event.type === 'response-head') {
    if ((settings.showHead && !settings.raw) || settings.dumpHeader !== null)
      heads.push(shownHead(event.version, event.status, event.reason, event.fields));
    // Every response of the chain may set cookies, the redirects' included (RFC 6265 §5.3).
    settings.cookies?.store(event.url, event.fields.getAll('set-cookie'));
  }
  if (event.type === 'redirect') transfer.redirects = (transfer.redirects ?? 0) + 1;
  if (event.type === 'retry') {
    heads.length = 0;
    if (!settings.silent) process.stderr.write(`sockhttp get: ${event.reason}; retry ${event.attempt} in ${event.delayMs / 1000} s\n`);
  }
}

/** What one URL's run knows besides its response: where the body goes and what to show before it. */
interface Delivery {
  url: string;
  /** The file (-o, -O), or undefined for stdout. */
  destination: string | undefined;
  /** The partial download -C - continues, if there is a usable one. */
  resume: ResumeState | null;
  /** Every response head, for -i. */
  heads: string[];
  /** The bytes as received, for --raw. */
  rawChunks: Buffer[] | null;
  /** -o - given: stdout even when it is a terminal and the body binary. */
  explicitStdout: boolean;
}

async function fetchOne(job: Job, settings: Settings, transfer: Transfer, agent: Agent, keepAlive: boolean): Promise<void> {
  const named = job.remoteName ? remoteFileName(job.url) : undefined;
  const destination = named === undefined ? job.output : job.outputDir === undefined ? named : join(job.outputDir, named);
  if (destination !== undefined && settings.createDirs) {
    await mkdir(dirname(destination), { recursive: true }).catch((error: unknown) => {
      throw writeError(dirname(destination), error);
    });
  }
  const delivery: Delivery = {
    url: job.url,
    destination,
    resume: settings.resume ? await loadResume(destination!, job.url) : null,
    heads: [],
    rawChunks: settings.raw ? [] : null,
    explicitStdout: job.explicitStdout,
  };
  // A range of the partial download's representation, or the whole of a changed one: If-Range
  // makes the server choose (RFC 9110 §13.1.5, §14.2).
  const state = delivery.resume;
  // A partial file another tool left has no validator: the range alone, checked against what comes back.
  const resumeFields: FieldLine[] = state === null ? [] : [['Range', `bytes=${state.size}-`]];
  if (state?.record) resumeFields.push(['If-Range', state.record.validator]);
  const base = settings.requestOptions;
  const extraFields = [...resumeFields, ...(await jobFields(job.url, settings))];
  const response = await request(job.url, {
    ...base,
    headers: [...(base.headers as FieldLine[]), ...extraFields],
    agent,
    keepAlive,
    // Only when the bytes are wanted: the client must assume a hook keeps every chunk it is given,
    // and then reads each one into fresh memory.
    ...((settings.raw || settings.traces) && {
      onRawBytes: (bytes: Buffer) => {
        delivery.rawChunks?.push(bytes);
        settings.traces?.received(bytes);
      },
    }),
    ...(settings.traces && { onSentBytes: (bytes: Buffer) => settings.traces!.sent(bytes) }),
    ...(settings.traces && { onH2Frame: (connection, records) => settings.traces!.frames(connection, records) }),
    onEvent: (event) => {
      settings.traces?.onEvent(event);
      onClientEvent(event, settings, delivery, transfer);
    },
  });
  transfer.response = response;
  try {
    await writeResponse(response, delivery, settings);
  } catch (error) {
    response.body.destroy(); // whatever went wrong, the rest of the body is not wanted
    throw error;
  }
}

/** Fields that depend on the URL: --netrc's credentials for its host, --etag-compare's If-None-Match. */
async function jobFields(url: string, settings: Settings): Promise<FieldLine[]> {
  const fields: FieldLine[] = [];
  const given = (name: string) => (settings.requestOptions.headers as FieldLine[]).some(([field]) => field.toLowerCase() === name);
  if (settings.netrc !== null && URL.canParse(url) && !given('authorization')) {
    const target = new URL(url);
    const entry = target.username === '' ? netrcEntry(settings.netrc, target.hostname) : undefined;
    if (entry !== undefined)
      fields.push(['Authorization', `Basic ${Buffer.from(`${entry.login}:${entry.password}`, 'utf8').toString('base64')}`]);
  }
  if (settings.etagCompare !== null && !given('if-none-match')) {
    // curl: a missing file sends no condition (and so fetches the file).
    const etag = (await readFile(settings.etagCompare, 'utf8').catch(() => '')).trim();
    if (etag !== '') fields.push(['If-None-Match', etag]);
  }
  return fields;
}

/** -D, --etag-save: what is written about a response besides its body. */
async function writeResponseNotes(response: ClientResponse, delivery: Delivery, settings: Settings): Promise<void> {
  if (settings.dumpHeader !== null) {
    const text = delivery.heads.join('');
    if (!(settings.showHead && !settings.raw)) delivery.heads.length = 0;
    if (settings.dumpHeader === '-') process.stdout.write(text);
    else
      await writeFile(settings.dumpHeader, text, { flag: 'a' }).catch((error: unknown) => {
        throw writeError(settings.dumpHeader!, error);
      });
  }
  if (settings.etagSave !== null) {
    const etag = response.fields.get('etag');
    await writeFile(settings.etagSave, etag === undefined ? '' : `${etag}\n`).catch((error: unknown) => {
      throw writeError(settings.etagSave!, error);
    });
  }
}

async function writeResponse(response: ClientResponse, delivery: Delivery, settings: Settings): Promise<void> {
  const { destination } = delivery;
  await writeResponseNotes(response, delivery, settings);
  let file: FileWrite | 'complete' | null = null;
  // -C - looks first: its 416 ("you have it all already") is a success, not a --fail error.
  if (settings.resume) file = await planResume(response, destination!, delivery.url, delivery.resume);
  const failed = settings.fail && response.status >= 400;
  const failure = () => new CommandError('http-error', `the server answered ${shownStatus(response.status, response.reason)} (--fail)`);
  if (failed && !settings.failWithBody) {
    // curl -fI: the head is what was asked for, and it is shown before the failure.
    if (settings.showHead && response.status >= 400 && settings.requestOptions.method === 'HEAD')
      process.stdout.write(delivery.heads.join(''));
    throw failure();
  }
  if (file === 'complete') {
    response.body.destroy();
    if (delivery.resume?.record === null) return; // the file was whole already, where it is
    await rename(partialPath(destination!), destination!).catch((error: unknown) => {
      throw writeError(destination!, error);
    });
    await forgetResume(destination!);
    return;
  }
  file ??= destination === undefined ? null : await planFileWrite(destination);
  const startValue = file?.appendAt ?? 0;
  const progress = await startProgress(settings, file === null, bodyTotal(response, startValue), startValue);
  const prefix = settings.showHead && !settings.raw ? delivery.heads.join('') : '';
  const terminalSafe = file === null && process.stdout.isTTY === true && !delivery.explicitStdout;
  try {
    const body = bodyDelivery(response, delivery.rawChunks, progress, startValue);
    if (file === null) await writeToStdout(terminalSafe ? refusingBinary(body) : body, prefix);
    else await writeToFile(file, body, prefix);
  } finally {
    progress?.stop();
  }
  if (file?.keepOnFailure) await forgetResume(file.destination);
  if (file !== null && settings.remoteTime) await setRemoteTime(file.destination, response);
  if (failed) throw failure();
}

/** -R: the file's time is the Last-Modified of the response, when it has one. */
async function setRemoteTime(path: string, response: ClientResponse): Promise<void> {
  const text = response.fields.get('last-modified');
  const time = text === undefined ? null : parseHttpDate(text, Date.now());
  if (time !== null) await utimes(path, new Date(time), new Date(time)).catch(() => {});
}

async function runJob(job: Job, settings: Settings, agent: Agent, keepAlive: boolean): Promise<number> {
  const transfer: Transfer = { url: job.url, response: null, exitCode: 0, error: null, startedAt: performance.now() };
  try {
    await fetchOne(job, settings, transfer, agent, keepAlive);
    if (transfer.exitCode === 0) startUpDone();
  } catch (error) {
    const failure = exitCodeOf(error);
    if (failure === null) throw error;
    transfer.exitCode = failure.code;
    transfer.error = failure.message;
    if (settings.showErrors) process.stderr.write(`sockhttp get: ${failure.message}\n`);
  }
  if (settings.writeOut !== null) process.stdout.write(expandWriteOut(settings.writeOut, transfer));
  if (settings.jsonOutput) process.stdout.write(`${jsonReport(transfer)}\n`);
  return transfer.exitCode;
}

export async function runGet(args: string[]): Promise<number> {
  // A reader of stderr that went away (`2>&1 | head`) loses the messages, not the exit code.
  whenStdioMade('stderr', (stream) => stream.on('error', () => {}));
  let settings: Settings | 'help';
  try {
    settings = await parseSettings(args);
  } catch (error) {
    const failure = exitCodeOf(error);
    if (failure === null) throw error;
    process.stderr.write(`sockhttp get: ${failure.message}\n`);
    return failure.code;
  }
  if (settings === 'help') {
    process.stdout.write(`${GET_HELP}\n`);
    return 0;
  }
  // A reader that goes away (`sockhttp get URL | head -c 10`) ends the download, quietly, with
  // curl's exit code for a failed write (23): there is nobody left to tell. Put on stdout when its
  // stream is made: a `get -o FILE` may never make it (0.5 ms; 2 ms for a pipe).
  whenStdioMade('stdout', (stream) =>
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(EXIT_CODES['write-failed']);
    }),
  );
  const interrupted = onInterrupt(settings);
  const agent = new Agent();
  try {
    return await runJobs(settings, agent);
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    agent.close();
    if (settings.cookieJar !== null) saveCookies(settings);
    settings.traces?.closeAll();
  }
}

/**
 * One URL after another, stopping at the first failure (curl's --fail-early). The connection is
 * kept alive while more requests may follow, and the last one says Connection: close. With -Z, up
 * to --parallel-max transfers at once, each URL's exit code kept and the first failure returned.
 */
async function runJobs(settings: Settings, agent: Agent): Promise<number> {
  const { jobs } = settings;
  if (settings.parallel <= 1) {
    for (const [index, job] of jobs.entries()) {
      const isLast = index === jobs.length - 1;
      const code = await runJob(job, settings, agent, !isLast || settings.requestOptions.followRedirects === true);
      if (code !== 0) return code;
    }
    return 0;
  }
  const codes: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const index = next++;
      codes[index] = await runJob(jobs[index]!, settings, agent, true);
    }
  };
  await Promise.all(Array.from({ length: Math.min(settings.parallel, jobs.length) }, worker));
  return codes.find((code) => code !== 0) ?? 0;
}

function saveCookies(settings: Settings): void {
  try {
    settings.cookies!.save(settings.cookieJar!);
  } catch (error) {
    if (settings.showErrors) process.stderr.write(`sockhttp get: ${writeError(settings.cookieJar!, error).message}\n`);
    process.exitCode = EXIT_CODES['write-failed'];
  }
}

/**
 * Ctrl-C ends the command at once, as curl does: a line saying so (unless -s), the hidden partial
 * files that cannot be resumed removed, exit 130 (128 + SIGINT, what shells report). SIGTERM (kill)
 * does the same, exit 143.
 */
function onInterrupt(settings: Settings): (signal: NodeJS.Signals) => void {
  const handler = (signal: NodeJS.Signals) => {
    removeUnresumablePartials();
    const interrupted = signal === 'SIGINT';
    if (!settings.silent) process.stderr.write(`\nsockhttp get: ${interrupted ? 'interrupted (Ctrl-C)' : 'terminated (SIGTERM)'}\n`);
    process.exit(interrupted ? 130 : 143);
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return handler;
}
