/**
 * `sockhttp serve` seen through a real browser: Debian's headless Chromium, driven by playwright-core.
 * Each scenario starts the CLI as a child process on a free port, serving a folder the test writes,
 * opens a fresh Chromium profile, and saves a screenshot into test-artifacts/e2e/.
 *
 * Run with `npm run test:e2e` (not part of `npm test`). Chromium is never downloaded: install Debian's
 * (`apt-get install -y chromium`) or point CHROMIUM_PATH at one.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page, Request, Response } from 'playwright-core';
import { PUBLIC_ROOT, makeTempDir } from '../helpers.js';
import {
  HAS_FFMPEG,
  HAS_OPENSSL,
  findChromium,
  makeCertificate,
  makePng,
  makeVideo,
  saveScreenshot,
  waitUntil,
  withServerAndBrowser,
  writeTree,
} from './browser-helpers.js';

// The functions handed to page.evaluate run inside Chromium. The project compiles without the DOM
// library (src/ must not see browser globals), so the few globals they use are declared here.
// biome-ignore lint/suspicious/noExplicitAny: a browser global, typed by the page it runs in
declare const document: any;
// biome-ignore lint/suspicious/noExplicitAny: a browser global, typed by the page it runs in
declare const window: any;
// biome-ignore lint/suspicious/noExplicitAny: a browser global, typed by the page it runs in
declare function getComputedStyle(element: unknown): any;

const CHROMIUM = findChromium();
const SCENARIO = { timeout: 90_000 };

/** No favicon request: Chromium would otherwise ask for /favicon.ico, which these folders lack. */
const NO_FAVICON = '<link rel="icon" href="data:,">';

interface Exchange {
  url: string;
  path: string;
  status: number;
  resourceType: string;
  requestHeaders: Record<string, string>;
  responseHeaders: Record<string, string>;
}

/** Records every response the page receives, with the request fields Chromium really sent. */
function recordExchanges(page: Page): { exchanges: Exchange[]; settled(): Promise<void> } {
  const exchanges: Exchange[] = [];
  const pending: Promise<void>[] = [];
  page.on('response', (response: Response) => {
    const request: Request = response.request();
    pending.push(
      Promise.all([request.allHeaders(), response.allHeaders()]).then(
        ([requestHeaders, responseHeaders]) => {
          exchanges.push({
            url: response.url(),
            path: new URL(response.url()).pathname,
            status: response.status(),
            resourceType: request.resourceType(),
            requestHeaders,
            responseHeaders,
          });
        },
        () => {
          exchanges.push({
            url: response.url(),
            path: new URL(response.url()).pathname,
            status: response.status(),
            resourceType: request.resourceType(),
            requestHeaders: {},
            responseHeaders: {},
          });
        },
      ),
    );
  });
  return { exchanges, settled: async () => void (await Promise.all(pending)) };
}

interface ProtocolSeen {
  path: string;
  status: number;
  protocol: string;
  /** Chromium's id for the socket that carried the response. */
  connectionId: number;
}

/**
 * The protocol of each response as Chromium's network stack reports it to DevTools ('h2',
 * 'http/1.1'): Playwright's own Response objects do not say which one was used.
 */
async function recordProtocols(context: BrowserContext, page: Page): Promise<ProtocolSeen[]> {
  const seen: ProtocolSeen[] = [];
  const session = await context.newCDPSession(page);
  session.on('Network.responseReceived', (event) => {
    const { url, status, protocol, connectionId } = event.response;
    if (!url.startsWith('http')) return; // data: URLs (the empty favicon) have no wire protocol
    seen.push({ path: new URL(url).pathname, status, protocol: protocol ?? '(none)', connectionId });
  });
  await session.send('Network.enable');
  return seen;
}

function describeProtocols(seen: ProtocolSeen[]): string {
  return seen.map((entry) => `${entry.protocol} ${entry.status} ${entry.path} (connection ${entry.connectionId})`).join('\n');
}

function describeExchanges(exchanges: Exchange[]): string {
  return exchanges.map((exchange) => `${exchange.status} ${exchange.resourceType} ${exchange.path}`).join('\n');
}

/** The text of the first element matching `selector`, trimmed. */
async function textOf(page: Page, selector: string): Promise<string> {
  return ((await page.locator(selector).first().textContent()) ?? '').trim();
}

async function computedStyle(page: Page, selector: string, property: string): Promise<string> {
  return page
    .locator(selector)
    .first()
    .evaluate((element, name) => getComputedStyle(element).getPropertyValue(name), property);
}

describe('sockhttp serve in headless Chromium', {
  skip:
    CHROMIUM === null
      ? `no Chromium binary at ${process.env['CHROMIUM_PATH'] || '/usr/bin/chromium'}: install Debian's (apt-get install -y chromium) or set CHROMIUM_PATH`
      : false,
}, () => {
  const chromiumPath = CHROMIUM ?? '';
  const folders: Array<ReturnType<typeof makeTempDir>> = [];
  const tempFolder = () => {
    const folder = makeTempDir('sockhttp-e2e-');
    folders.push(folder);
    return folder.path;
  };
  after(() => {
    for (const folder of folders) folder.remove();
  });

  test('the bundled site: HelloWorld.html, and index.html with its stylesheet', SCENARIO, async () => {
    await withServerAndBrowser(chromiumPath, [PUBLIC_ROOT], async ({ page, url }) => {
      const hello = await page.goto(url('/HelloWorld.html'));
      assert.equal(hello?.status(), 200);
      assert.equal(await page.title(), 'Hello World');
      const heading = page.locator('h1');
      assert.ok(await heading.isVisible(), 'the h1 is visible');
      assert.equal(await textOf(page, 'h1'), 'Hello, World!');
      await saveScreenshot(page, 'hello-world');

      const { exchanges, settled } = recordExchanges(page);
      const index = await page.goto(url('/'));
      assert.equal(index?.status(), 200);
      assert.equal(await page.title(), 'sockhttp');
      assert.equal(await textOf(page, 'h1'), 'HTTP/1.1, one socket at a time');
      // Values only public/style.css sets (Chromium's defaults differ): the stylesheet arrived and applied.
      assert.equal(await computedStyle(page, 'body', 'margin-top'), '0px');
      assert.equal(await computedStyle(page, '.wordmark', 'font-weight'), '700');
      assert.equal(await computedStyle(page, '.wordmark', 'color'), 'rgb(11, 110, 79)');
      assert.equal(await computedStyle(page, '.wire-request', 'border-left-width'), '4px');
      assert.equal(await computedStyle(page, '.wire-request', 'border-left-color'), 'rgb(9, 105, 218)');
      await settled();
      const stylesheet = exchanges.find((exchange) => exchange.path === '/style.css');
      assert.equal(stylesheet?.status, 200, describeExchanges(exchanges));
      assert.match(stylesheet.responseHeaders['content-type'] ?? '', /^text\/css/);
      await saveScreenshot(page, 'index');
    });
  });

  describe('a page with a stylesheet, a module script, images and a video', () => {
    let root: string;
    before(async () => {
      root = tempFolder();
      writeTree(root, {
        'index.html': `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Media page</title>
${NO_FAVICON}
<link rel="stylesheet" href="css/page.css">
<script type="module" src="js/app.js"></script>
</head>
<body>
<h1>Media page</h1>
<p id="marker">the script has not run</p>
<p><img id="png" src="images/gradient.png" alt="a gradient" width="128" height="64">
<img id="svg" src="images/circle.svg" alt="a circle" width="64" height="64"></p>
${HAS_FFMPEG ? '<video id="video" src="media/clip.webm" preload="auto" muted controls width="320" height="180"></video>' : '<p>(no video: ffmpeg not found)</p>'}
</body>
</html>
`,
        'css/page.css':
          '#marker { color: rgb(1, 2, 3); border-left: 7px solid rgb(200, 0, 0); padding-left: 4px; }\nh1 { letter-spacing: 3px; }\n',
        // A module script: Chromium refuses to run it unless the Content-Type is a JavaScript one.
        'js/app.js':
          "const marker = document.getElementById('marker');\nmarker.textContent = 'the script ran';\ndocument.body.dataset.scriptRan = 'yes';\n",
        'images/gradient.png': makePng(32, 16, (x, y) => [x * 8, y * 16, 160]),
        'images/circle.svg':
          '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64"><circle cx="32" cy="32" r="28" fill="#0b6e4f"/></svg>\n',
      });
      if (HAS_FFMPEG) await makeVideo(join(root, 'media', 'clip.webm'));
    });

    test(
      'every subresource loads, the script runs, the CSS applies, images decode, the video is fetched in ranges',
      SCENARIO,
      async (t) => {
        await withServerAndBrowser(chromiumPath, [root], async ({ page, url }) => {
          const { exchanges, settled } = recordExchanges(page);
          const response = await page.goto(url('/'), { waitUntil: 'load' });
          assert.equal(response?.status(), 200);

          await page.waitForFunction(() => document.body.dataset.scriptRan === 'yes', undefined, { timeout: 10_000 });
          assert.equal(await textOf(page, '#marker'), 'the script ran');
          assert.equal(await computedStyle(page, '#marker', 'border-left-width'), '7px');
          assert.equal(await computedStyle(page, '#marker', 'color'), 'rgb(1, 2, 3)');
          assert.equal(await computedStyle(page, 'h1', 'letter-spacing'), '3px');
          for (const id of ['png', 'svg']) {
            const size = await page.locator(`#${id}`).evaluate((image) => ({ complete: image.complete, naturalWidth: image.naturalWidth }));
            assert.ok(size.complete && size.naturalWidth > 0, `#${id} decoded: ${JSON.stringify(size)}`);
          }
          assert.equal(await page.locator('#png').evaluate((image) => image.naturalWidth), 32);

          await t.test(
            'the <video> gets 206 Partial Content and reaches HAVE_METADATA',
            { skip: HAS_FFMPEG ? false : 'ffmpeg not found: no video to serve, so the <video> part is skipped' },
            async () => {
              // readyState 1 = HAVE_METADATA; allow time for Chromium's media pipeline to start.
              await page.waitForFunction(() => document.getElementById('video').readyState >= 1, undefined, { timeout: 15_000 });
              const video = await page.locator('#video').evaluate((element) => ({
                readyState: element.readyState,
                duration: element.duration,
                width: element.videoWidth,
                error: element.error?.code ?? null,
              }));
              assert.equal(video.error, null);
              assert.equal(video.width, 640);
              assert.ok(video.duration > 1.5 && video.duration < 2.5, `duration ${video.duration}`);
              // A frame to show in the screenshot; not part of the check (HAVE_CURRENT_DATA = 2).
              await page
                .waitForFunction(() => document.getElementById('video').readyState >= 2, undefined, { timeout: 5_000 })
                .catch(() => undefined);
              await settled();
              const videoExchanges = exchanges.filter((exchange) => exchange.path === '/media/clip.webm');
              assert.ok(videoExchanges.length > 0, describeExchanges(exchanges));
              const partial = videoExchanges.find((exchange) => exchange.status === 206);
              assert.ok(partial, `no 206 among the video's responses:\n${describeExchanges(videoExchanges)}`);
              assert.match(partial.requestHeaders['range'] ?? '', /^bytes=\d+-\d*$/);
              assert.match(partial.responseHeaders['content-range'] ?? '', /^bytes \d+-\d+\/\d+$/);
              assert.equal(partial.responseHeaders['content-type'], 'video/webm');
              for (const exchange of videoExchanges)
                t.diagnostic(
                  `video: ${exchange.status} for Range ${exchange.requestHeaders['range'] ?? '(none)'}: ${exchange.responseHeaders['content-range'] ?? exchange.responseHeaders['content-length'] + ' bytes'}`,
                );
            },
          );

          await saveScreenshot(page, 'media-page');
          await settled();
          const expected = [
            '/',
            '/css/page.css',
            '/js/app.js',
            '/images/gradient.png',
            '/images/circle.svg',
            ...(HAS_FFMPEG ? ['/media/clip.webm'] : []),
          ];
          for (const path of expected)
            assert.ok(
              exchanges.some((exchange) => exchange.path === path),
              `no response for ${path}:\n${describeExchanges(exchanges)}`,
            );
          const failed = exchanges.filter((exchange) => exchange.status !== 200 && exchange.status !== 206);
          assert.deepEqual(failed, [], `responses other than 200/206:\n${describeExchanges(exchanges)}`);
          const types = Object.fromEntries(exchanges.map((exchange) => [exchange.path, exchange.responseHeaders['content-type']]));
          assert.match(types['/css/page.css'] ?? '', /^text\/css/);
          assert.match(types['/js/app.js'] ?? '', /^(text|application)\/javascript/);
          assert.equal(types['/images/gradient.png'], 'image/png');
          assert.equal(types['/images/circle.svg'], 'image/svg+xml');
        });
      },
    );

    // What Chromium itself says about each response's protocol (DevTools' Network.responseReceived),
    // checked against the server's access log, which records the version of every request or stream.
    for (const { name, serveArgs, protocol, logVersion } of [
      {
        name: 'over HTTPS, ALPN picks h2: the page, every subresource and the video ranges',
        serveArgs: [],
        protocol: 'h2',
        logVersion: 'HTTP/2.0',
      },
      {
        name: 'over HTTPS with --no-http2: everything over http/1.1',
        serveArgs: ['--no-http2'],
        protocol: 'http/1.1',
        logVersion: 'HTTP/1.1',
      },
    ])
      test(name, { ...SCENARIO, skip: HAS_OPENSSL ? false : 'openssl not found: no certificate for HTTPS' }, async (t) => {
        const certificate = await makeCertificate(tempFolder());
        await withServerAndBrowser(
          chromiumPath,
          [root, ...serveArgs],
          async ({ context, page, server, url }) => {
            const protocols = await recordProtocols(context, page);
            const response = await page.goto(url('/'), { waitUntil: 'load' });
            assert.equal(response?.status(), 200);
            await page.waitForFunction(() => document.body.dataset.scriptRan === 'yes', undefined, { timeout: 10_000 });
            assert.equal(await computedStyle(page, '#marker', 'border-left-width'), '7px');
            if (HAS_FFMPEG)
              await page.waitForFunction(() => document.getElementById('video').readyState >= 1, undefined, { timeout: 15_000 });
            const expected = [
              '/',
              '/css/page.css',
              '/js/app.js',
              '/images/gradient.png',
              '/images/circle.svg',
              ...(HAS_FFMPEG ? ['/media/clip.webm'] : []),
            ];
            await waitUntil(
              () => expected.every((path) => protocols.some((seen) => seen.path === path)),
              5_000,
              `DevTools reports every resource; it has:\n${describeProtocols(protocols)}`,
            );
            const others = protocols.filter((seen) => seen.protocol !== protocol);
            assert.deepEqual(others, [], `responses not over ${protocol}:\n${describeProtocols(protocols)}`);
            const failed = protocols.filter((seen) => seen.status !== 200 && seen.status !== 206);
            assert.deepEqual(failed, [], describeProtocols(protocols));
            // RFC 9113 §9.1: one connection per origin, every request a stream on it.
            if (protocol === 'h2') assert.equal(new Set(protocols.map((seen) => seen.connectionId)).size, 1, describeProtocols(protocols));
            if (HAS_FFMPEG)
              assert.ok(
                protocols.some((seen) => seen.path === '/media/clip.webm' && seen.status === 206),
                `the video came in ranges (206) over ${protocol}:\n${describeProtocols(protocols)}`,
              );

            const logged = () =>
              server
                .output()
                .split('\n')
                .filter((line) => line.includes('"GET '));
            await waitUntil(
              () => expected.every((path) => logged().some((line) => line.includes(`"GET ${path} `))),
              5_000,
              `the access log has every resource; it has:\n${server.output()}`,
            );
            const wrongVersion = logged().filter((line) => !line.includes(` ${logVersion}" `));
            assert.deepEqual(wrongVersion, [], `access log lines not ${logVersion}:\n${server.output()}`);
            if (HAS_FFMPEG)
              assert.ok(
                logged().some((line) => line.includes(`"GET /media/clip.webm ${logVersion}" 206 `)),
                `a 206 for the video in the access log:\n${server.output()}`,
              );
            t.diagnostic(`DevTools saw:\n${describeProtocols(protocols)}`);
            await saveScreenshot(page, `media-page-${protocol.replace('/', '-')}`);
          },
          { tls: certificate },
        );
      });
  });

  test('a directory listing with awkward names, whose links all work', SCENARIO, async () => {
    // The name's UTF-8 bytes, percent-encoded: what the listing links to and Chromium requests.
    const CAFE_PATH = `/${encodeURIComponent('café-Ωμέγα.txt')}`;
    const root = tempFolder();
    writeTree(root, {
      'hello world.txt': 'the file with a space in its name\n',
      'café-Ωμέγα.txt': 'non-ASCII name, non-ASCII text: ça marche, Ωμέγα, привет\n',
      'plain.txt': 'just plain\n',
      'sub folder/inner.txt': 'inside the subfolder\n',
    });
    await withServerAndBrowser(chromiumPath, [root], async ({ page, url }) => {
      const { exchanges, settled } = recordExchanges(page);
      const link = (name: string) => page.getByRole('link', { name, exact: true });

      assert.equal((await page.goto(url('/')))?.status(), 200);
      assert.equal(await textOf(page, 'h1'), 'Index of /');
      for (const name of ['sub folder/', 'café-Ωμέγα.txt', 'hello world.txt', 'plain.txt'])
        assert.ok(await link(name).isVisible(), `a link for ${name}`);
      assert.equal(await link('../').count(), 0, 'the root has no parent link');
      await saveScreenshot(page, 'listing');

      await link('hello world.txt').click();
      await page.waitForURL(url('/hello%20world.txt'));
      assert.equal(await textOf(page, 'body'), 'the file with a space in its name');
      await page.goBack();
      await page.waitForURL(url('/'));

      await link('café-Ωμέγα.txt').click();
      await page.waitForURL(url(CAFE_PATH));
      assert.equal(await textOf(page, 'body'), 'non-ASCII name, non-ASCII text: ça marche, Ωμέγα, привет');
      await page.goBack();
      await page.waitForURL(url('/'));

      await link('sub folder/').click();
      await page.waitForURL(url('/sub%20folder/'));
      assert.equal(await textOf(page, 'h1'), 'Index of /sub folder/');
      assert.ok(await link('inner.txt').isVisible());
      await saveScreenshot(page, 'listing-subfolder');

      await link('inner.txt').click();
      await page.waitForURL(url('/sub%20folder/inner.txt'));
      assert.equal(await textOf(page, 'body'), 'inside the subfolder');
      await page.goBack();
      await page.waitForURL(url('/sub%20folder/'));

      await link('../').click();
      await page.waitForURL(url('/'));
      assert.equal(await textOf(page, 'h1'), 'Index of /');

      await settled();
      const documents = exchanges.filter((exchange) => exchange.resourceType === 'document');
      assert.ok(documents.length >= 5, describeExchanges(exchanges));
      for (const exchange of documents) assert.ok(exchange.status === 200 || exchange.status === 304, describeExchanges(exchanges));
      const text = documents.find((exchange) => exchange.path === CAFE_PATH);
      assert.equal(text?.responseHeaders['content-type'], 'text/plain; charset=utf-8');
    });
  });

  test("a missing path shows the folder's 404.html, with status 404", SCENARIO, async () => {
    const root = tempFolder();
    writeTree(root, {
      'index.html': `<!doctype html><html><head><title>Home</title>${NO_FAVICON}</head><body><h1>Home</h1></body></html>\n`,
      '404.html': `<!doctype html><html><head><title>Lost</title>${NO_FAVICON}</head><body><h1>Nothing here, friend</h1><p class="hint">Try the <a href="/">home page</a>.</p></body></html>\n`,
    });
    await withServerAndBrowser(chromiumPath, [root], async ({ page, url }) => {
      const response = await page.goto(url('/no/such/page.html'));
      assert.equal(response?.status(), 404);
      assert.equal(await page.title(), 'Lost');
      assert.equal(await textOf(page, 'h1'), 'Nothing here, friend');
      await saveScreenshot(page, 'not-found-custom');
      await page.getByRole('link', { name: 'home page' }).click();
      await page.waitForURL(url('/'));
      assert.equal(await textOf(page, 'h1'), 'Home');
    });
  });

  test('without a 404.html, the built-in page says 404 Not Found', SCENARIO, async () => {
    const root = tempFolder();
    writeTree(root, { 'index.html': '<!doctype html><title>Home</title><h1>Home</h1>\n' });
    await withServerAndBrowser(chromiumPath, [root], async ({ page, url }) => {
      const response = await page.goto(url('/missing.html'));
      assert.equal(response?.status(), 404);
      assert.equal(await page.title(), '404 Not Found');
      assert.equal(await textOf(page, 'h1'), '404 Not Found');
      await saveScreenshot(page, 'not-found-builtin');
    });
  });

  test('a second visit revalidates: Chromium sends validators and gets 304 Not Modified', SCENARIO, async (t) => {
    const root = tempFolder();
    writeTree(root, {
      'page.html': `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Revalidate me</title>${NO_FAVICON}<link rel="stylesheet" href="page.css"></head>
<body><h1>Revalidate me</h1><p>${'Some text to make the page worth caching. '.repeat(40)}</p><img src="tile.png" alt="tile" width="64" height="64"></body></html>
`,
      'page.css': 'h1 { color: rgb(120, 0, 90); }\n',
      'tile.png': makePng(8, 8, (x, y) => ((x + y) % 2 === 0 ? [240, 240, 240] : [40, 40, 40])),
    });
    await withServerAndBrowser(chromiumPath, [root], async ({ page, url, server }) => {
      const first = await page.goto(url('/page.html'));
      assert.equal(first?.status(), 200);
      assert.equal(first?.headers()['cache-control'], 'no-cache');
      assert.ok(first?.headers()['etag'], 'the page has an ETag');
      assert.equal(await computedStyle(page, 'h1', 'color'), 'rgb(120, 0, 90)');
      const linesBefore = server.output().split('\n').length;

      const { exchanges, settled } = recordExchanges(page);
      await page.reload({ waitUntil: 'load' });
      assert.equal(await textOf(page, 'h1'), 'Revalidate me');
      assert.equal(await computedStyle(page, 'h1', 'color'), 'rgb(120, 0, 90)');
      await settled();

      const conditional = exchanges.filter(
        (exchange) => exchange.requestHeaders['if-none-match'] !== undefined || exchange.requestHeaders['if-modified-since'] !== undefined,
      );
      assert.ok(conditional.length > 0, `no conditional request on reload:\n${describeExchanges(exchanges)}`);
      // The server's access log (Common Log Format on stdout) is the authority on what went on the wire.
      const reloadLog = () =>
        server
          .output()
          .split('\n')
          .slice(linesBefore - 1)
          .filter((line) => / 304 -$/.test(line));
      await waitUntil(() => reloadLog().length > 0, 5_000, `the access log shows a 304; it has:\n${server.output()}`);
      assert.ok(
        reloadLog().some((line) => line.includes('"GET /page.html HTTP/1.1" 304')),
        `the page itself was revalidated:\n${server.output()}`,
      );
      t.diagnostic(`on reload, Chromium reported:\n${describeExchanges(exchanges)}\nand the access log has:\n${reloadLog().join('\n')}`);
      await saveScreenshot(page, 'revalidated');
    });
  });

  test('--watch: editing the file reloads the open page by itself', SCENARIO, async () => {
    const root = tempFolder();
    const pagePath = join(root, 'page.html');
    const pageWith = (heading: string) =>
      `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Watched</title>${NO_FAVICON}</head>\n<body><h1>${heading}</h1></body></html>\n`;
    writeFileSync(pagePath, pageWith('Before the edit'));
    await withServerAndBrowser(chromiumPath, [root, '--watch'], async ({ page, url }) => {
      // The snippet keeps its EventSource to itself; this init script (run before any page script)
      // keeps a list of every EventSource the page opens, so the test can see when one is open.
      await page.addInitScript(() => {
        const NativeEventSource = window.EventSource;
        window.sockhttpEventSources = [];
        window.EventSource = class extends NativeEventSource {
          constructor(streamUrl: string, options?: unknown) {
            super(streamUrl, options);
            window.sockhttpEventSources.push(this);
          }
        };
      });
      const eventStream = page.waitForResponse((response) => new URL(response.url()).pathname === '/__sockhttp/live-reload', {
        timeout: 10_000,
      });
      assert.equal((await page.goto(url('/page.html')))?.status(), 200);
      assert.equal(await textOf(page, 'h1'), 'Before the edit');
      const stream = await eventStream;
      assert.equal(stream.status(), 200);
      assert.match(stream.headers()['content-type'] ?? '', /^text\/event-stream/);
      // readyState 1 = OPEN: the browser has the stream's head and listens for events.
      await page.waitForFunction(
        () => window.sockhttpEventSources.some((source: { readyState: number }) => source.readyState === 1),
        undefined,
        { timeout: 10_000 },
      );
      // A mark on this window object: a real reload gives the page a new one, without it.
      await page.evaluate(() => {
        window.sockhttpBeforeEdit = true;
      });

      writeFileSync(pagePath, pageWith('After the edit'));
      await waitUntil(async () => (await textOf(page, 'h1')) === 'After the edit', 10_000, 'the page shows the edited heading');
      assert.equal(await page.evaluate(() => window.sockhttpBeforeEdit), undefined, 'the page really reloaded (a new window object)');
      await saveScreenshot(page, 'watch-reloaded');
    });
  });
});
