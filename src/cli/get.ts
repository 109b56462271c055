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
import { rename } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { Agent, type ClientEvent, type ClientResponse, type FieldLine, USER_AGENT, request } from '../index.js';
import { CommandError, EXIT_CODES, exitCodeOf } from './get-errors.js';
import { type Job, type Settings, parseSettings } from './get-options.js';
import {
  type FileWrite,
  bodyDelivery,
  bodyTotal,
  partialPath,
  planFileWrite,
  remoteFileName,
  startProgress,
  writeError,
  writeToFile,
  writeToStdout,
} from './get-output.js';
import { type Transfer, expandWriteOut, jsonReport, shownHead, shownStatus, verboseLines } from './get-report.js';
import { type ResumeRecord, forgetResume, loadResume, planResume } from './get-resume.js';

export { EXIT_CODES } from './get-errors.js';

export const GET_HELP = `Usage: sockhttp get URL... [options]
       sockhttp get HOST PORT FILENAME [options]   (the lab client: GET /FILENAME)

Fetches each URL over HTTP/1.1 (HTTP/2 with --http2) and writes the bodies to stdout.
Several URLs to the same host:port share one kept-alive connection.

Request:
  -X, --request METHOD     request method (default: GET, or POST with a body)
  -H, --header 'N: V'      add a request field (repeatable)
  -d, --data DATA          send DATA as a form (POST, application/x-www-form-urlencoded);
                           @FILE reads a file without its line breaks; several are joined with &
      --data-binary DATA   the same, sent exactly as given; @FILE reads a file byte for byte
      --json JSON          send JSON (POST; Content-Type and Accept: application/json); @FILE too
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
  -k, --insecure           HTTPS: do not verify the server's certificate
      --http2              HTTPS: offer HTTP/2 by ALPN, HTTP/1.1 if the server does not take
                           it (plain http: stays HTTP/1.1); URLs to one origin share a connection
      --http2-prior-knowledge  speak HTTP/2 at once, without asking (h2c on http:)
      --cacert FILE        HTTPS: trust the PEM certificate authorities in FILE

Response:
  -i, --include            show the response head(s) before the body
      --raw                show the response exactly as it arrived, bytes and framing included
  -o, --output FILE        write the body to FILE, written beside it and renamed when complete
                           (one -o per URL, in order)
  -O, --remote-name        write each body to a file named after the last segment of its URL
  -C, --continue-at -      resume an interrupted -o/-O download safely (Range with If-Range)
      --limit-rate RATE    read at most RATE bytes per second (suffix K, M or G: 1024, 1024², 1024³)
      --max-filesize BYTES fail rather than receive a body larger than this
  -f, --fail               for a status of 400 or more, write no body and exit 22
  -s, --silent             no progress bar, no error messages
  -S, --show-error         with -s, still show error messages
      --progress           show the progress bar even when stderr is not a terminal
  -v, --verbose            show connections, TLS, and the request and response heads on stderr
  -w, --write-out FORMAT   print FORMAT after each URL: %{http_code} %{http_version}
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
  1  unsupported protocol (http: and https: are supported)
  2  usage error
  3  malformed URL
  5  the proxy's host cannot be resolved
  6  unknown host
  7  cannot connect (to the server or the proxy)
  8  malformed response
 16  HTTP/2 connection error (or no h2 with --http2-prior-knowledge)
 18  body shorter than announced
 22  HTTP error status with --fail (or with -C - when a partial download is kept)
 23  cannot write the output (or no file name in the URL for -O)
 26  cannot read a --data @FILE
 28  timeout (--max-time, --connect-timeout, or the head or body timeout)
 33  cannot resume safely: the server's range does not continue the partial file
 35  TLS handshake failed
 47  too many redirects (--max-redirs)
 52  the server closed the connection without a response
 56  connection reset during the response
 60  untrusted certificate (see --cacert, -k)
 61  the body does not decode (--compressed)
 63  body over --max-filesize
 92  HTTP/2 stream reset by the server
 97  the proxy refused or botched the CONNECT tunnel
100  response head too large`;

// ---------------------------------------------------------------------------------------------
// One URL

/**
 * -v lines, the heads -i shows (those of a retried attempt forgotten), and a warning per retry.
 * Heads are kept only when they will be shown: every one of them is the server's to choose, and
 * so is how many come (the client bounds interim responses per exchange, -L the redirects).
 */
function onClientEvent(event: ClientEvent, settings: Settings, heads: string[]): void {
  if (settings.verbose) for (const line of verboseLines(event)) process.stderr.write(`${line}\n`);
  if (event.type === 'response-head' && settings.showHead && !settings.raw)
    heads.push(shownHead(event.version, event.status, event.reason, event.fields));
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
  resume: { record: ResumeRecord; size: number } | null;
  /** Every response head, for -i. */
  heads: string[];
  /** The bytes as received, for --raw. */
  rawChunks: Buffer[] | null;
}

async function fetchOne(job: Job, settings: Settings, transfer: Transfer, agent: Agent, keepAlive: boolean): Promise<void> {
  const destination = job.remoteName ? remoteFileName(job.url) : job.output;
  const delivery: Delivery = {
    url: job.url,
    destination,
    resume: settings.resume ? await loadResume(destination!, job.url) : null,
    heads: [],
    rawChunks: settings.raw ? [] : null,
  };
  // A range of the partial download's representation, or the whole of a changed one: If-Range
  // makes the server choose (RFC 9110 §13.1.5, §14.2).
  const state = delivery.resume;
  const resumeFields: FieldLine[] =
    state === null
      ? []
      : [
          ['Range', `bytes=${state.size}-`],
          ['If-Range', state.record.validator],
        ];
  const base = settings.requestOptions;
  const response = await request(job.url, {
    ...base,
    headers: [...(base.headers as FieldLine[]), ...resumeFields],
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
      onClientEvent(event, settings, delivery.heads);
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

async function writeResponse(response: ClientResponse, delivery: Delivery, settings: Settings): Promise<void> {
  const { destination } = delivery;
  let file: FileWrite | 'complete' | null = null;
  // -C - looks first: its 416 ("you have it all already") is a success, not a --fail error.
  if (settings.resume) file = await planResume(response, destination!, delivery.url, delivery.resume);
  if (settings.fail && response.status >= 400) {
    throw new CommandError('http-error', `the server answered ${shownStatus(response.status, response.reason)} (--fail)`);
  }
  if (file === 'complete') {
    response.body.destroy();
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
  try {
    const body = bodyDelivery(response, delivery.rawChunks, progress, startValue);
    if (file === null) await writeToStdout(body, prefix);
    else await writeToFile(file, body, prefix);
  } finally {
    progress?.stop();
  }
  if (file?.keepOnFailure) await forgetResume(file.destination);
}

async function runJob(job: Job, settings: Settings, agent: Agent, keepAlive: boolean): Promise<number> {
  const transfer: Transfer = { url: job.url, response: null, exitCode: 0, error: null, startedAt: performance.now() };
  try {
    await fetchOne(job, settings, transfer, agent, keepAlive);
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
  // curl's exit code for a failed write (23): there is nobody left to tell.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_CODES['write-failed']);
  });
  const agent = new Agent();
  try {
    // One URL after another, stopping at the first failure (curl's --fail-early). The connection
    // is kept alive while more requests may follow, and the last one says Connection: close.
    for (const [index, job] of settings.jobs.entries()) {
      const isLast = index === settings.jobs.length - 1;
      const code = await runJob(job, settings, agent, !isLast || settings.requestOptions.followRedirects === true);
      if (code !== 0) return code;
    }
    return 0;
  } finally {
    agent.close();
    settings.traces?.closeAll();
  }
}
