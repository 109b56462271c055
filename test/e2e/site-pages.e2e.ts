/**
 * The pages sockhttp writes itself, in headless Chromium: a listing with breadcrumbs and archive
 * links, and the built-in 404 page. Both are sent with a Content-Security-Policy that forbids scripts:
 * the checks below prove their inline style still applies and that Chromium reports no violation.
 * Screenshots go to test-artifacts/e2e/.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { ConsoleMessage, Page } from 'playwright-core';
import { makeTempDir } from '../helpers.js';
import { findChromium, saveScreenshot, withServerAndBrowser, writeTree } from './browser-helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: a browser global, typed by the page it runs in
declare function getComputedStyle(element: unknown): any;

const CHROMIUM = findChromium();
const SCENARIO = { timeout: 90_000 };

async function style(page: Page, selector: string, property: string): Promise<string> {
  return page
    .locator(selector)
    .first()
    .evaluate((element, name) => getComputedStyle(element).getPropertyValue(name), property);
}

describe('the server’s own pages in headless Chromium', { skip: CHROMIUM === null ? 'no Chromium binary' : false }, () => {
  const folder = makeTempDir('sockhttp-e2e-site-');
  after(() => folder.remove());
  writeTree(folder.path, {
    'docs/guide/intro.txt': 'intro\n',
    'docs/guide/chapter one.txt': 'one\n'.repeat(500),
    'docs/guide/images/readme.txt': 'images\n',
    'docs/readme.txt': 'readme\n',
  });

  test('a listing: breadcrumbs, archive links, styled under its CSP; the 404 page likewise', SCENARIO, async () => {
    await withServerAndBrowser(CHROMIUM ?? '', [folder.path, '--archives'], async ({ page, url }) => {
      const violations: string[] = [];
      page.on('console', (message: ConsoleMessage) => {
        if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
      });
      const response = await page.goto(url('/docs/guide/'));
      assert.equal(response?.status(), 200);
      assert.equal((await page.locator('h1').textContent())?.trim(), 'Index of /docs/guide/');
      assert.equal(await style(page, 'table', 'border-collapse'), 'collapse', 'the inline style applies');
      assert.equal(await style(page, 'main', 'max-width'), '896px');
      assert.ok(await page.getByRole('link', { name: 'guide.tar.gz' }).isVisible());
      assert.ok(await page.getByRole('link', { name: 'guide.zip' }).isVisible());
      await saveScreenshot(page, 'site-listing');

      await page.getByRole('link', { name: 'docs/', exact: true }).click();
      await page.waitForURL(url('/docs/'));
      assert.equal((await page.locator('h1').textContent())?.trim(), 'Index of /docs/');

      const missing = await page.goto(url('/docs/no-such-page'));
      assert.equal(missing?.status(), 404);
      assert.equal(await page.title(), '404 Not Found');
      assert.equal((await page.locator('h1').textContent())?.trim(), '404 Not Found');
      assert.equal(await style(page, 'main', 'max-width'), '896px');
      await saveScreenshot(page, 'site-not-found');
      assert.deepEqual(violations, []);
    });
  });
});
