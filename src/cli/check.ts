/** `sockhttp check URL`: probe any HTTP/1.x server and print a report card. */
import { parseArgs } from 'node:util';
import { type ProbeResult, type Verdict, runProbes } from '../check/probes.js';
import type { Target } from '../check/wire.js';
import { defaultPort, escapeBytes, isHttpUrl, socketHost } from '../index.js';
import { UsageError, parseNumber, wantsColor, withUsageErrors } from './options.js';

export const CHECK_HELP = `Usage: sockhttp check URL [options]

Probes an HTTP/1.x server — a lab server, nginx, sockhttp — and prints one line a probe: PASS, WARN
or FAIL, what was sent, what came back, and the RFC section behind the verdict. It talks only to the
host and port of URL, and every probe is bounded in time.

Options:
      --json               the report as JSON
      --timeout SECONDS    how long one probe waits for an answer (default: 5)
      --slow-timeout S     how long a half-sent request is held open to see whether the server
                           gives up on it (default: 12)
  -k, --insecure           HTTPS: do not verify the server's certificate
  -h, --help               this help

Exit codes: 0 nothing failed, 1 some probe failed, 2 usage error.`;

const OPTIONS = {
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  'slow-timeout': { type: 'string' },
  insecure: { type: 'boolean', short: 'k' },
  help: { type: 'boolean', short: 'h' },
} as const;

function targetOf(text: string, insecure: boolean): Target {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    throw new UsageError(`not a valid URL: ${text}`);
  }
  if (!isHttpUrl(url)) throw new UsageError(`only http and https URLs can be checked, not ${url.protocol}`);
  const isTls = url.protocol === 'https:';
  return {
    host: socketHost(url),
    port: defaultPort(url),
    isTls,
    insecure,
    authority: url.host,
    path: `${url.pathname}${url.search}` || '/',
  };
}

/**
 * The last guard of the terminal (and of the JSON): the probes escape whatever text the server
 * chose, so no report line should hold a control character, a C1 control or a bidirectional
 * override; any that slips through is shown escaped, never raw.
 */
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const printable = (text: string) => text.replace(UNPRINTABLE, (character) => escapeBytes(Buffer.from(character)));
const printableResult = (result: ProbeResult): ProbeResult => ({
  ...result,
  sent: printable(result.sent),
  received: printable(result.received),
  rfc: printable(result.rfc),
});

const TINTS: Record<Verdict, string> = { PASS: '\x1b[32m', WARN: '\x1b[33m', FAIL: '\x1b[31m', SKIP: '\x1b[2m' };

function formatLine(result: ProbeResult, color: boolean): string {
  const verdict = color ? `${TINTS[result.verdict]}${result.verdict}\x1b[0m` : result.verdict;
  return `${verdict}  ${result.id.padEnd(16)} ${result.sent}  →  ${result.received}  (${result.rfc})`;
}

export async function runCheck(args: string[]): Promise<number> {
  let target: Target;
  let values;
  let probeMs: number;
  let slowMs: number;
  try {
    const parsed = withUsageErrors(() => parseArgs({ args, options: OPTIONS, allowPositionals: true }));
    values = parsed.values;
    if (values.help) {
      process.stdout.write(`${CHECK_HELP}\n`);
      return 0;
    }
    if (parsed.positionals.length !== 1) throw new UsageError('give one URL to check');
    target = targetOf(parsed.positionals[0]!, values.insecure === true);
    probeMs = (parseNumber(values.timeout, '--timeout', { min: 0.1, max: 120, integer: false }) ?? 5) * 1000;
    slowMs = (parseNumber(values['slow-timeout'], '--slow-timeout', { min: 0.1, max: 600, integer: false }) ?? 12) * 1000;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`sockhttp check: ${error.message} (try 'sockhttp check --help')\n`);
    return 2;
  }
  const url = `${target.isTls ? 'https' : 'http'}://${target.authority}${target.path}`;
  const color = wantsColor(process.stdout);
  // The report is shown line by line as the probes finish: the last ones hold a connection open
  // for up to --slow-timeout, and a report that says nothing meanwhile looks hung.
  if (!values.json) process.stdout.write(`sockhttp check ${url}\n\n`);
  const onResult = values.json
    ? undefined
    : (result: ProbeResult) => process.stdout.write(`${formatLine(printableResult(result), color)}\n`);
  const results = (await runProbes(target, { probeMs, slowMs, ...(onResult && { onResult }) })).map(printableResult);
  const count = (verdict: Verdict) => results.filter((result) => result.verdict === verdict).length;
  const failed = count('FAIL');
  if (values.json) {
    const summary = { passed: count('PASS'), warnings: count('WARN'), failed, skipped: count('SKIP') };
    process.stdout.write(`${JSON.stringify({ url, summary, probes: results }, null, 2)}\n`);
  } else {
    const warnings = count('WARN');
    process.stdout.write(
      `\n${count('PASS')} passed, ${failed} failed, ${count('SKIP')} skipped, ${warnings} warning${warnings === 1 ? '' : 's'}\n`,
    );
  }
  return failed > 0 ? 1 : 0;
}
