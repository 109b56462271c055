/**
 * Shared pieces of the hostile filesystem tests (test/security/files-*.test.ts): a served folder with
 * an "outside" folder next to it, servers in this process or as `sockhttp serve` children, a raw GET
 * that keeps the exact body bytes, a bounded request loop, and a python3 helper that renames files
 * and directories in a tight loop while our server answers (python, so it truly runs concurrently).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BackgroundProcess, type RunningServer, makeTempDir, rawExchange, startProcess, startStaticServer } from '../helpers.js';
import { type ParsedResponse, RawConnection, parseSingleResponse } from '../net/server/helpers.js';

/**
 * The options these tests pass. `symlinks` is the option being added by the "open first, then decide
 * on what was opened" work; until it is in StaticOptions it goes through a cast in startServer, and
 * today's server simply ignores it (which is what the tests that use it show).
 */
export interface SecurityServerOptions {
  dotfiles?: 'allow' | 'deny';
  symlinks?: 'follow-inside' | 'deny';
  compress?: boolean;
  listing?: boolean;
}

/** serveStatic on an ephemeral loopback port, in this process. */
export function startServer(root: string, options: SecurityServerOptions = {}): Promise<RunningServer> {
  // Cast: `symlinks` is not (yet) a key of ServeStaticOptions; the object is passed through unchanged.
  return startStaticServer(root, options as Parameters<typeof startStaticServer>[1]);
}

/** A temp folder holding `root/` (served), `outside/` (must never be served) and `stage/` (for the swapper). */
export interface Sandbox {
  base: string;
  root: string;
  outside: string;
  stage: string;
  remove(): void;
}

export function makeSandbox(prefix = 'sockhttp-sec-'): Sandbox {
  const temp = makeTempDir(prefix);
  const sandbox = {
    base: temp.path,
    root: join(temp.path, 'root'),
    outside: join(temp.path, 'outside'),
    stage: join(temp.path, 'stage'),
    remove: temp.remove,
  };
  for (const folder of [sandbox.root, sandbox.outside, sandbox.stage]) mkdirSync(folder);
  return sandbox;
}

/** Writes `files` (path relative to `folder` → contents), creating folders as needed. */
export function writeFiles(folder: string, files: Record<string, string | Buffer>): void {
  for (const [relativePath, contents] of Object.entries(files)) {
    const path = join(folder, relativePath);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, contents);
  }
}

/** A marker no legitimate file here contains, unique per test file. */
export function uniqueMarker(name: string): string {
  return `MARKER-${name}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** `length` bytes of text with `marker` at the start and then every ~4 KiB, so any piece of it shows. */
export function markedText(marker: string, length: number): string {
  let text = '';
  for (let index = 0; text.length < length && index < 1_000_000; index++) text += `${marker} line ${index} ${'.'.repeat(4_000)}\n`;
  return text.slice(0, length);
}

/** Plain, compressible text of `length` bytes (no marker). */
export function plainText(length: number, seed = 1): string {
  const words = ['static', 'serving', 'range', 'etag', 'gzip', 'brotli', 'listing', 'socket', 'header', 'cache', 'vary', 'notes'];
  let text = '';
  let state = seed;
  for (let index = 0; text.length < length && index < 10_000_000; index++) {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    const high = state >>> 12;
    text += words[high % words.length]! + (high % 9 === 0 ? '\n' : ' ');
  }
  return text.slice(0, length);
}

export interface RawAnswer {
  status: number;
  field(name: string): string | undefined;
  /** Every byte received, head included: what a leak check must look at. */
  raw: Buffer;
  body: Buffer;
}

/** One GET on a fresh connection (Connection: close); the body is the raw bytes, never decoded. */
export async function rawGet(port: number, target: string, fields: Record<string, string> = {}, timeoutMs = 10_000): Promise<RawAnswer> {
  const extra = Object.entries(fields)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  const raw = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`, { timeoutMs });
  if (raw.length === 0) throw new Error(`GET ${target}: no answer within ${timeoutMs} ms`);
  const response = parseSingleResponse(raw);
  return { status: response.status, field: response.field, raw, body: response.body };
}

export interface HammerOptions {
  /** At most this many requests in all… */
  maxRequests: number;
  /** …and at most this long. */
  maxMs: number;
  /** Keep-alive connections used side by side. */
  connections?: number;
  fields?: Record<string, string>;
  /** Inspects each response; returning a string stops the run and records it as the failure. */
  check(response: ParsedResponse, index: number): string | undefined;
}

export interface HammerResult {
  requests: number;
  statuses: Record<number, number>;
  /** The first failure the check reported, with the request number it happened at. */
  failure?: string;
}

/**
 * GETs `target` (the same one, or one per request number) again and again on keep-alive connections
 * until a check fails or a bound is reached.
 */
export async function hammer(port: number, target: string | ((index: number) => string), options: HammerOptions): Promise<HammerResult> {
  const deadline = Date.now() + options.maxMs;
  const extra = Object.entries(options.fields ?? {})
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  const requestFor = (index: number) =>
    `GET ${typeof target === 'string' ? target : target(index)} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
  const result: HammerResult = { requests: 0, statuses: {} };
  const worker = async () => {
    let connection: RawConnection | null = null;
    try {
      while (result.failure === undefined && result.requests < options.maxRequests && Date.now() < deadline) {
        if (connection === null || connection.serverEnded) {
          connection?.destroy();
          connection = await RawConnection.open(port);
        }
        const index = result.requests++;
        connection.write(requestFor(index));
        const response = await connection.readResponse('GET', 10_000);
        result.statuses[response.status] = (result.statuses[response.status] ?? 0) + 1;
        const failure = options.check(response, index);
        if (failure !== undefined && result.failure === undefined) result.failure = `request ${index + 1}: ${failure}`;
        if (/^close$/i.test(response.field('connection') ?? '')) {
          connection.destroy();
          connection = null;
        }
      }
    } finally {
      connection?.destroy();
    }
  };
  await Promise.all(Array.from({ length: options.connections ?? 4 }, worker));
  return result;
}

/** A check for hammer: the marker must not be in the head or the body. */
export function withoutMarker(marker: string): HammerOptions['check'] {
  return (response) =>
    response.headText.includes(marker) || response.body.includes(marker) ? `status ${response.status} carried the marker` : undefined;
}

/**
 * The swapper, in python3 so it runs beside our event loop. Modes:
 *  - "rename": `target` becomes, alternately, a symlink to `linkTo` (or, with `hardLinkOf`, a hard
 *    link of that file, say a FIFO) and a hard link of `plainSource`, each made in `stage` and renamed
 *    over `target` (rename(2) is atomic: `target` always exists).
 *  - "exchange": `target` and `other` (a symlink to an outside directory) trade places with
 *    renameat2(RENAME_EXCHANGE), atomically, again and again.
 * It stops by itself after `seconds` or `maxSwaps`, or on SIGTERM, and leaves `target` in the state
 * `final` ("link": the symlink (or hard-linked file) is in place; "plain": the real file or directory is).
 */
const SWAPPER = `
import ctypes, json, os, signal, sys, time
spec = json.loads(sys.argv[1])
stopping = False
def on_term(*_):
    global stopping
    stopping = True
signal.signal(signal.SIGTERM, on_term)
target = spec['target']
if spec['mode'] == 'rename':
    tmp_link = os.path.join(spec['stage'], 'swap-link')
    tmp_plain = os.path.join(spec['stage'], 'swap-plain')
    def put_link():
        if spec.get('hardLinkOf'):
            os.link(spec['hardLinkOf'], tmp_link)
        else:
            os.symlink(spec['linkTo'], tmp_link)
        os.rename(tmp_link, target)
    def put_plain():
        os.link(spec['plainSource'], tmp_plain)
        os.rename(tmp_plain, target)
    steps = [put_link, put_plain]
    def is_link():
        return os.lstat(target).st_ino != os.lstat(spec['plainSource']).st_ino
else:
    libc = ctypes.CDLL(None, use_errno=True)
    a = target.encode()
    b = spec['other'].encode()
    def exchange():
        if libc.renameat2(-100, a, -100, b, 2) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
    steps = [exchange, exchange]
    def is_link():
        return os.path.islink(target)
deadline = time.monotonic() + spec['seconds']
swaps = 0
print('ready', flush=True)
while not stopping and swaps < spec['maxSwaps']:
    if swaps % 256 == 0 and time.monotonic() > deadline:
        break
    steps[swaps % 2]()
    swaps += 1
if is_link() != (spec['final'] == 'link'):
    steps[swaps % 2]()
    swaps += 1
print('swaps %d link=%s' % (swaps, is_link()), flush=True)
`;

export type SwapSpec =
  | {
      mode: 'rename';
      target: string;
      linkTo?: string;
      hardLinkOf?: string;
      plainSource: string;
      stage: string;
      final: 'link' | 'plain';
      seconds?: number;
      maxSwaps?: number;
    }
  | { mode: 'exchange'; target: string; other: string; final: 'link' | 'plain'; seconds?: number; maxSwaps?: number };

export interface Swapper {
  process: BackgroundProcess;
  /** Stops the loop (SIGTERM), waits for the final state to be in place, and returns how many swaps were made. */
  stop(): Promise<number>;
}

/** Starts the swapper and resolves once its loop runs. Bounded: 30 s and 50 million swaps unless told less. */
export async function startSwapper(spec: SwapSpec): Promise<Swapper> {
  const full = { seconds: 30, maxSwaps: 50_000_000, ...spec };
  const child = startProcess('python3', ['-u', '-c', SWAPPER, JSON.stringify(full)]);
  await child.waitFor(/^ready$/m, 10_000);
  return {
    process: child,
    async stop() {
      await child.stop('SIGTERM');
      const match = /swaps (\d+) link=(True|False)/.exec(child.output());
      if (match === null) throw new Error(`the swapper did not finish cleanly: ${child.output()}`);
      return Number(match[1]);
    },
  };
}
