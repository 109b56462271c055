/** `sockhttp grade LAB -- CMD…`: run a student's lab program and grade it against the lab's rubric. */
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gradeClientLab } from '../grade/grade-client.js';
import { gradeServerLab, targetFor } from '../grade/grade-server.js';
import { ENV_FILE, ENV_HOST, ENV_PORT, type GradeOptions, type GradeReport, GradeSetupError } from '../grade/grading.js';
import { gradescopeResults, gradescopeSetupFailure, writeGradescopeResults } from '../grade/gradescope.js';
import { DEFAULT_HELLO_WORLD } from '../grade/lab-pages.js';
import { formatJson, formatTable, printableReport } from '../grade/report.js';
import { LAB_NAMES, type LabName, RUBRICS, isLabName } from '../grade/rubrics.js';
import { killAllPrograms } from '../grade/run-program.js';
import { defaultPort, socketHost } from '../index.js';
import { UsageError, parseNumber, wantsColor, withUsageErrors } from './options.js';

export const GRADE_HELP = `Usage: sockhttp grade LAB [options] -- COMMAND [ARGUMENTS…]
       sockhttp grade web-server URL [options]

Runs a student's lab program, in any language, and grades it against the lab's rubric:

  simple-get        a client: hand-written GET of the small lab file, printed     (gets HOST PORT)
  large-get         a client: the large file, sent in pieces, read until the close (gets HOST PORT)
  client            the lab client, run as client HOST PORT FILE                   (gets HOST PORT FILE)
  simplest-server   prints the request, answers a fixed page                       (gets PORT)
  web-server        HelloWorld.html, 404, CRLF, Content-Type, HEAD, concurrency    (gets PORT)

The program gets the host, port and file as arguments (appended, or where the command says {host},
{port}, {file}) and in ${ENV_HOST}, ${ENV_PORT}, ${ENV_FILE}. It runs in a process
group of its own, with a time limit per item, its output bounded, and is stopped at the end.

Options:
      --port PORT          servers: the port the program must listen on (default 13331, as the lab
                           says); clients: the port the grader listens on (default: a free one);
                           0: a free port for either
      --timeout SECONDS    the time limit of each item: a client's whole run, each exchange
                           with a server (default: 10)
      --start-timeout S    how long a server has to start listening (default: 10)
      --dir DIR            the program's working directory (default: the current one)
      --file FILE          the page the web server must serve and the client is served
                           (default: DIR/HelloWorld.html, else the grader's own, written there)
      --skip ITEM[,ITEM]   leave items out (e.g. concurrency for the single-threaded web server)
      --no-args            append no arguments to the command (it reads the environment)
      --map-lab-host       run the program where gaia.cs.umass.edu is 127.0.0.1 (for GET programs
                           that hard-code it; needs unprivileged user namespaces)
      --json               the report as JSON
      --gradescope FILE    also write Gradescope's results.json to FILE
  -h, --help               this help

Exit codes: 0 full marks, 1 points were lost, 2 usage error, 3 the grading could not run
(a port in use, for example).`;

const OPTIONS = {
  port: { type: 'string' },
  timeout: { type: 'string' },
  'start-timeout': { type: 'string' },
  dir: { type: 'string' },
  file: { type: 'string' },
  skip: { type: 'string', multiple: true },
  'no-args': { type: 'boolean' },
  'map-lab-host': { type: 'boolean' },
  json: { type: 'boolean' },
  gradescope: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Plan {
  lab: LabName;
  options: GradeOptions;
  url: URL | null;
  json: boolean;
  gradescopeFile: string | null;
  /** A HelloWorld.html the grader wrote into DIR, removed at the end. */
  writtenPage: string | null;
}

function readPlan(args: string[]): Plan | 'help' {
  const separator = args.indexOf('--');
  const before = separator === -1 ? args : args.slice(0, separator);
  const command = separator === -1 ? null : args.slice(separator + 1);
  const { values, positionals } = withUsageErrors(() => parseArgs({ args: before, options: OPTIONS, allowPositionals: true }));
  if (values.help) return 'help';
  const [labName, urlText, ...extra] = positionals;
  if (labName === undefined) throw new UsageError(`name the lab to grade: ${LAB_NAMES.join(', ')}`);
  if (!isLabName(labName)) throw new UsageError(`unknown lab '${labName}': the labs are ${LAB_NAMES.join(', ')}`);
  const rubric = RUBRICS[labName];
  if (extra.length > 0 || (urlText !== undefined && labName !== 'web-server'))
    throw new UsageError(`put the program to run after --, e.g. sockhttp grade ${labName} -- python3 ${labName.replace('-', '_')}.py`);
  if (urlText !== undefined && command !== null) throw new UsageError('give either a URL or a program to run, not both');
  if (urlText === undefined && (command === null || command.length === 0))
    throw new UsageError(`give the program to run after --, e.g. sockhttp grade ${labName} -- python3 ${labName.replace('-', '_')}.py`);
  let url: URL | null = null;
  if (urlText !== undefined) {
    try {
      url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(urlText) ? urlText : `http://${urlText}`);
    } catch {
      throw new UsageError(`not a valid URL: ${urlText}`);
    }
    if (url.protocol !== 'http:') throw new UsageError(`only http URLs can be graded, not ${url.protocol}`);
  }
  if (values['map-lab-host'] && rubric.kind !== 'client')
    throw new UsageError('--map-lab-host is for the client labs (simple-get, large-get, client)');

  const port = parseNumber(values.port, '--port', { min: 0, max: 65535 }) ?? rubric.defaultPort;
  const timeoutMs = (parseNumber(values.timeout, '--timeout', { min: 0.5, max: 600, integer: false }) ?? 10) * 1000;
  const startTimeoutMs = (parseNumber(values['start-timeout'], '--start-timeout', { min: 0.5, max: 600, integer: false }) ?? 10) * 1000;
  const cwd = resolve(values.dir ?? '.');
  if (!existsSync(cwd) || !statSync(cwd).isDirectory()) throw new UsageError(`--dir ${values.dir}: not a folder`);
  const skip = new Set(
    (values.skip ?? [])
      .flatMap((text) => text.split(','))
      .map((text) => text.trim())
      .filter((text) => text !== ''),
  );
  for (const id of skip) {
    if (!rubric.items.some((item) => item.id === id))
      throw new UsageError(`--skip ${id}: the ${labName} items are ${rubric.items.map((item) => item.id).join(', ')}`);
  }

  // The page: --file, else DIR/HelloWorld.html, else ours (written into DIR for a web server to serve).
  let pageName = 'HelloWorld.html';
  let page: Buffer;
  let writtenPage: string | null = null;
  if (values.file !== undefined) {
    try {
      page = readFileSync(values.file);
    } catch (error) {
      throw new UsageError(`--file ${values.file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    pageName = basename(values.file);
  } else if (existsSync(join(cwd, pageName))) {
    page = readFileSync(join(cwd, pageName));
  } else if (labName === 'web-server' && url !== null) {
    throw new UsageError('give --file with the HelloWorld.html the server serves, so its bytes can be compared');
  } else {
    page = DEFAULT_HELLO_WORLD;
    if (labName === 'web-server') writtenPage = join(cwd, pageName);
  }
  return {
    lab: labName,
    url,
    json: values.json === true,
    gradescopeFile: values.gradescope ?? null,
    writtenPage,
    options: {
      command,
      url: url?.href ?? null,
      port,
      timeoutMs,
      startTimeoutMs,
      cwd,
      page,
      pageName,
      appendArguments: values['no-args'] !== true,
      mapLabHost: values['map-lab-host'] === true,
      skip,
    },
  };
}

function writeResults(file: string, results: Parameters<typeof writeGradescopeResults>[1]): void {
  try {
    writeGradescopeResults(file, results);
  } catch (error) {
    throw new GradeSetupError(`--gradescope ${file}: cannot write it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

async function grade(plan: Plan): Promise<GradeReport> {
  const { lab, options, url } = plan;
  if (lab === 'simplest-server' || lab === 'web-server') {
    const target =
      url === null
        ? null
        : targetFor(socketHost(url), defaultPort(url), url.pathname === '/' ? `/${options.pageName}` : `${url.pathname}${url.search}`);
    return gradeServerLab(lab, options, target);
  }
  return gradeClientLab(lab, options);
}

export async function runGrade(args: string[]): Promise<number> {
  let plan: Plan | 'help';
  try {
    plan = readPlan(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`sockhttp grade: ${error.message} (try 'sockhttp grade --help')\n`);
    return 2;
  }
  if (plan === 'help') {
    process.stdout.write(`${GRADE_HELP}\n`);
    return 0;
  }
  const writtenPage = plan.writtenPage;
  const cleanUp = () => {
    killAllPrograms();
    if (writtenPage !== null) rmSync(writtenPage, { force: true });
  };
  // Ctrl-C (or a stop from the autograder) must not leave a student's program running.
  const onSignal = (signal: NodeJS.Signals) => {
    cleanUp();
    process.stderr.write(`sockhttp grade: stopped by ${signal}\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', killAllPrograms);
  try {
    if (writtenPage !== null) writeFileSync(writtenPage, plan.options.page, { flag: 'wx' });
    const report = printableReport(await grade(plan));
    process.stdout.write(plan.json ? formatJson(report) : formatTable(report, wantsColor(process.stdout)));
    if (plan.gradescopeFile !== null) writeResults(plan.gradescopeFile, gradescopeResults(report));
    return report.score === report.maxScore ? 0 : 1;
  } catch (error) {
    if (!(error instanceof GradeSetupError)) throw error;
    process.stderr.write(`sockhttp grade: ${error.message}\n`);
    if (plan.gradescopeFile !== null && !error.message.startsWith('--gradescope')) {
      try {
        writeResults(plan.gradescopeFile, gradescopeSetupFailure(error.message));
      } catch (writeError) {
        process.stderr.write(`sockhttp grade: ${(writeError as Error).message}\n`);
      }
    }
    return 3;
  } finally {
    cleanUp();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killAllPrograms);
  }
}
