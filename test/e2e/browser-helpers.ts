/**
 * Helpers for the browser tests: finding a Chromium binary (never downloading one), launching it
 * headless with a throwaway profile, `sockhttp serve` as a child process for each scenario, fixture
 * files (a PNG built byte by byte, a short video from ffmpeg) and screenshots.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { type BackgroundProcess, CLI, REPO_ROOT, commandExists, makeTempDir, runCommand, startProcess } from '../helpers.js';

export const SCREENSHOT_DIR = join(REPO_ROOT, 'test-artifacts', 'e2e');

/**
 * Flags for Chromium on a machine with no outside network: without the background-networking ones,
 * Chromium keeps trying to reach Google's hosts and its refused connections crowd the run.
 * `--headless` comes from Playwright's `headless: true`; `--user-data-dir` from launchPersistentContext.
 */
export const CHROMIUM_FLAGS = [
  '--no-sandbox', // the tests run as root, where Chromium's sandbox refuses to start
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The Chromium to drive: $CHROMIUM_PATH when set (and only it), else Debian's package. Null when there is none. */
export function findChromium(): string | null {
  const chosen = process.env['CHROMIUM_PATH'];
  const candidates = chosen !== undefined && chosen !== '' ? [chosen] : ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((path) => existsSync(path)) ?? null;
}

export const HAS_FFMPEG = commandExists('ffmpeg');

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
}

export type CliServer = BackgroundProcess & { port: number };

export interface ScenarioOptions {
  /** Serve HTTPS with this certificate; Chromium is told to accept it (it is self-signed). */
  tls?: { cert: string; key: string };
}

export interface Scenario extends BrowserSession {
  server: CliServer;
  url(path?: string): string;
}

/**
 * Runs `body` with `sockhttp serve ARGS… --port 0` and a fresh headless Chromium (its own profile in a
 * temporary folder). Whatever happens, the browser is closed, the profile removed and the server
 * stopped by its PID.
 */
export async function withServerAndBrowser(
  chromiumPath: string,
  serveArgs: string[],
  body: (scenario: Scenario) => Promise<void>,
  options: ScenarioOptions = {},
): Promise<void> {
  const scheme = options.tls === undefined ? 'http' : 'https';
  const tlsArgs = options.tls === undefined ? [] : ['--tls-cert', options.tls.cert, '--tls-key', options.tls.key];
  const server = await startServeProcess([...serveArgs, ...tlsArgs], scheme);
  const profile = makeTempDir('sockhttp-chromium-profile-');
  let context: BrowserContext | null = null;
  try {
    context = await chromium.launchPersistentContext(profile.path, {
      executablePath: chromiumPath,
      headless: true,
      args: CHROMIUM_FLAGS,
      timeout: 30_000,
      viewport: { width: 1000, height: 700 },
      colorScheme: 'light', // public/style.css has a dark scheme too; the colour checks expect the light one
      ignoreHTTPSErrors: options.tls !== undefined,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(10_000);
    page.setDefaultNavigationTimeout(15_000);
    await body({ context, page, server, url: (path = '/') => `${scheme}://127.0.0.1:${server.port}${path}` });
  } finally {
    try {
      if (context !== null) await withTimeout(context.close(), 15_000, 'closing Chromium');
    } finally {
      profile.remove();
      await server.stop();
    }
  }
}

/** `sockhttp serve ARGS… --port 0`; resolves once its banner (on stderr) shows the URL. */
async function startServeProcess(args: string[], scheme: 'http' | 'https'): Promise<CliServer> {
  const server = startProcess(process.execPath, [CLI, 'serve', ...args, '--port', '0']);
  try {
    const match = await server.waitFor(new RegExp(`${scheme}://127\\.0\\.0\\.1:(\\d+)/`), 15_000, 'stderr');
    return Object.assign(server, { port: Number(match[1]) });
  } catch (error) {
    await server.stop();
    throw error;
  }
}

export const HAS_OPENSSL = commandExists('openssl');

/** A throwaway self-signed certificate for 127.0.0.1, made by openssl in `folder`. */
export async function makeCertificate(folder: string): Promise<{ cert: string; key: string }> {
  const cert = join(folder, 'cert.pem');
  const key = join(folder, 'key.pem');
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert];
  args.push('-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
  const result = await runCommand('openssl', args, { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`openssl failed (${result.code ?? result.signal}): ${result.stderr}`);
  return { cert, key };
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `condition` every 100 ms until it returns true, or throws after timeoutMs with `what`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await condition()) return;
    } catch {
      // e.g. the page is navigating and its context is gone: try again
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Saves a full-page screenshot as test-artifacts/e2e/NAME.png and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true, timeout: 10_000 });
  return path;
}

/** Writes files (path → contents) under root, making folders as needed. */
export function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [path, contents] of Object.entries(files)) {
    const fullPath = join(root, path);
    mkdirSync(dirname(fullPath), { recursive: true });
    writeFileSync(fullPath, contents);
  }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, byte) => {
  let value = byte;
  for (let bit = 0; bit < 8; bit++) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
  return value >>> 0;
});

/** CRC-32 as PNG chunks use it (ISO 3309, the same as zlib's and gzip's). */
export function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}

/** A truecolour PNG (8 bits per channel, no alpha) whose pixel at (x, y) is colour(x, y) = [r, g, b]. */
export function makePng(width: number, height: number, colour: (x: number, y: number) => [number, number, number]): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace
  const rowBytes = 1 + width * 3;
  const pixels = Buffer.alloc(rowBytes * height);
  for (let y = 0; y < height; y++) {
    pixels[y * rowBytes] = 0; // filter type None for every scanline
    for (let x = 0; x < width; x++) pixels.set(colour(x, y), y * rowBytes + 1 + x * 3);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, pngChunk('IHDR', header), pngChunk('IDAT', deflateSync(pixels)), pngChunk('IEND', Buffer.alloc(0))]);
}

/**
 * Two seconds of VP8 WebM made by ffmpeg (about 1 MB: the noise keeps the encoder from shrinking it,
 * so the file is streamed from disk and Chromium fetches it in ranges).
 */
export async function makeVideo(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const result = await runCommand(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc=duration=2:size=640x360:rate=25',
      '-vf',
      'noise=alls=30:allf=t',
      '-c:v',
      'libvpx',
      '-b:v',
      '4M',
      '-minrate',
      '4M',
      '-maxrate',
      '4M',
      '-deadline',
      'realtime',
      '-cpu-used',
      '8',
      '-an',
      '-y',
      path,
    ],
    { timeoutMs: 60_000 },
  );
  if (result.code !== 0) throw new Error(`ffmpeg failed (${result.code ?? result.signal}): ${result.stderr}`);
}
