/**
 * The rubrics of `sockhttp grade`: one per socket lab, each a list of items with points. An item is
 * all or nothing: it passes (full points) or fails (none), with a one-line verdict naming the
 * mistake, and what was sent and received. The graders (grade-client.ts, grade-server.ts) produce
 * one result per item, in this order, whatever happened — a program that never ran fails every
 * item with a verdict that says so.
 */

export type LabName = 'simple-get' | 'large-get' | 'client' | 'simplest-server' | 'web-server';

/** Who listens: the grader (the student wrote a client) or the student's program (a server). */
export type LabKind = 'client' | 'server';

export interface RubricItem {
  id: string;
  points: number;
  /** What the item asks, in a few words (the Gradescope test name). */
  title: string;
}

export interface Rubric {
  lab: LabName;
  kind: LabKind;
  summary: string;
  /** The arguments appended to the student's command when it has no {host}/{port}/{file} placeholder. */
  defaultArguments: string[];
  /** The port the lab prescribes (servers), or 0: a free port chosen by the grader (clients). */
  defaultPort: number;
  items: RubricItem[];
}

/** The lab's host name: the GET labs hard-code it in their Host field (and often in connect()). */
export const LAB_HOST_NAME = 'gaia.cs.umass.edu';
export const SMALL_FILE_PATH = '/wireshark-labs/INTRO-wireshark-file1.html';
export const LARGE_FILE_PATH = '/wireshark-labs/HTTP-wireshark-file3.html';
export const WEB_SERVER_PORT = 13331;

const requestItems = (requestLine: string): RubricItem[] => [
  { id: 'request-line', points: 2, title: `request line "${requestLine}"` },
  { id: 'host', points: 2, title: `Host field naming ${LAB_HOST_NAME}` },
  { id: 'crlf', points: 1, title: 'every request line ends with CRLF' },
  { id: 'blank-line', points: 1, title: 'the request head ends with an empty line' },
];

export const RUBRICS: Record<LabName, Rubric> = {
  'simple-get': {
    lab: 'simple-get',
    kind: 'client',
    summary: 'a client that sends a hand-written GET for the small lab file and prints the response',
    defaultArguments: ['{host}', '{port}'],
    defaultPort: 0,
    items: [
      ...requestItems(`GET ${SMALL_FILE_PATH} HTTP/1.1`),
      { id: 'printed', points: 3, title: 'prints the status line and the whole file' },
      { id: 'ends', points: 1, title: 'ends by itself' },
    ],
  },
  'large-get': {
    lab: 'large-get',
    kind: 'client',
    summary: 'the same for the large lab file, which arrives in pieces: the client must read until the server closes',
    defaultArguments: ['{host}', '{port}'],
    defaultPort: 0,
    items: [
      ...requestItems(`GET ${LARGE_FILE_PATH} HTTP/1.1`),
      { id: 'printed', points: 1, title: 'prints the status line' },
      { id: 'read-to-close', points: 3, title: 'reads until the server closes: prints the whole file' },
      { id: 'ends', points: 1, title: 'ends by itself' },
    ],
  },
  client: {
    lab: 'client',
    kind: 'client',
    summary: 'the lab HTTP client, run as `client SERVER_HOST SERVER_PORT FILENAME`',
    defaultArguments: ['{host}', '{port}', '{file}'],
    defaultPort: 0,
    items: [
      { id: 'request-line', points: 2, title: 'request line "GET /FILENAME HTTP/1.x"' },
      { id: 'host', points: 1, title: 'Host field naming the server' },
      { id: 'crlf', points: 1, title: 'every request line ends with CRLF' },
      { id: 'blank-line', points: 1, title: 'the request head ends with an empty line' },
      { id: 'displays-response', points: 3, title: 'displays the status line and the whole file' },
      { id: 'ends', points: 1, title: 'ends by itself' },
    ],
  },
  'simplest-server': {
    lab: 'simplest-server',
    kind: 'server',
    summary: '"the world\'s simplest HTTP server": prints the request, answers a fixed page',
    defaultArguments: ['{port}'],
    defaultPort: WEB_SERVER_PORT,
    items: [
      { id: 'listening', points: 1, title: 'listens on the port' },
      { id: 'prints-request', points: 2, title: 'prints the request it received' },
      { id: 'status-line', points: 1, title: 'answers with a status line' },
      { id: 'header-lines', points: 1, title: 'sends header lines' },
      { id: 'blank-line', points: 1, title: 'an empty line ends the response head' },
      { id: 'crlf', points: 1, title: 'every line of the head ends with CRLF' },
      { id: 'page', points: 1, title: 'sends the page after the head' },
    ],
  },
  'web-server': {
    lab: 'web-server',
    kind: 'server',
    summary: 'the web server: HelloWorld.html with header lines, 404 Not Found, port 13331, many clients at once',
    defaultArguments: ['{port}'],
    defaultPort: WEB_SERVER_PORT,
    items: [
      { id: 'listening', points: 1, title: 'listens on the port' },
      { id: 'status-line', points: 1, title: 'answers with a status line' },
      { id: 'hello-file', points: 3, title: 'GET /HelloWorld.html: 200 and the exact bytes of the file' },
      { id: 'header-lines', points: 1, title: 'sends header lines' },
      { id: 'blank-line', points: 1, title: 'an empty line ends the response head' },
      { id: 'crlf', points: 1, title: 'every line of the head ends with CRLF' },
      { id: 'content-type', points: 1, title: 'Content-Type: text/html for the page' },
      { id: 'not-found', points: 2, title: 'a missing file: 404 Not Found' },
      { id: 'head', points: 1, title: 'HEAD: the head without a body' },
      { id: 'concurrency', points: 2, title: 'a slow client does not block a second one (multithreaded phase)' },
    ],
  },
};

export const LAB_NAMES = Object.keys(RUBRICS) as LabName[];

export const isLabName = (name: string): name is LabName => Object.hasOwn(RUBRICS, name);

export interface ItemResult {
  id: string;
  title: string;
  points: number;
  maxPoints: number;
  passed: boolean;
  /** Why: one line naming what was right or the mistake. */
  verdict: string;
  /** What was sent (by the program to the grader, or by the grader to the program), in short. */
  sent: string;
  /** What came back, in short. */
  received: string;
}

/**
 * Collects the results of one rubric: `pass`/`fail` record an item by id; `finish` returns them in
 * the rubric's order, every item not graded (the program never got that far) failed with `missing`,
 * and the items left out with --skip dropped.
 */
export class Scorecard {
  readonly #rubric: Rubric;
  readonly #results = new Map<string, ItemResult>();

  constructor(rubric: Rubric) {
    this.#rubric = rubric;
  }

  pass(id: string, verdict: string, sent = '', received = ''): void {
    this.#record(id, true, verdict, sent, received);
  }

  fail(id: string, verdict: string, sent = '', received = ''): void {
    this.#record(id, false, verdict, sent, received);
  }

  record(id: string, passed: boolean, verdict: string, sent = '', received = ''): void {
    this.#record(id, passed, verdict, sent, received);
  }

  has(id: string): boolean {
    return this.#results.has(id);
  }

  finish(missing: string, skip: ReadonlySet<string>): ItemResult[] {
    return this.#rubric.items
      .filter((item) => !skip.has(item.id))
      .map(
        (item) =>
          this.#results.get(item.id) ?? {
            id: item.id,
            title: item.title,
            points: 0,
            maxPoints: item.points,
            passed: false,
            verdict: missing,
            sent: '',
            received: '',
          },
      );
  }

  #record(id: string, passed: boolean, verdict: string, sent: string, received: string): void {
    const item = this.#rubric.items.find((candidate) => candidate.id === id);
    if (item === undefined) throw new Error(`no item ${id} in the ${this.#rubric.lab} rubric`);
    this.#results.set(id, {
      id,
      title: item.title,
      points: passed ? item.points : 0,
      maxPoints: item.points,
      passed,
      verdict,
      sent,
      received,
    });
  }
}
