/**
 * The pages the server writes itself — error pages and directory listings — with one look, and the
 * fields that keep a browser from treating them as anything else: `X-Content-Type-Options: nosniff`
 * and a Content-Security-Policy that allows no script, no connection and no framing (live reload's
 * script and event stream are allowed only under --watch). The pages name the status and nothing
 * else: no request bytes, paths or internal details ever go into an error page.
 */
import type { FieldLine } from '../core/fields.js';
import { reasonPhrase } from '../core/status.js';

export const PAGE_STYLE = `
:root { color-scheme: light dark; --fg: #1f2328; --muted: #656d76; --line: #d8dee4; --accent: #0969da; --bg: #fff; --card: #f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #8d96a0; --line: #30363d; --accent: #4493f8; --bg: #0d1117; --card: #161b22; } }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: var(--bg); color: var(--fg); }
main { max-width: 56rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.3rem; font-weight: 600; margin: 0 0 1rem; word-break: break-all; }
nav.crumbs a { color: var(--accent); }
nav.crumbs span.here { color: var(--fg); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
table { border-collapse: collapse; width: 100%; border: 1px solid var(--line); border-radius: 6px; overflow: hidden; }
td { padding: .45rem .75rem; border-top: 1px solid var(--line); }
tr:first-child td { border-top: none; }
tr:hover td { background: var(--card); }
td.name { word-break: break-all; }
td.size, td.date { white-space: nowrap; color: var(--muted); text-align: right; font-variant-numeric: tabular-nums; }
p.downloads { color: var(--muted); font-size: .9rem; }
.status { color: var(--muted); }
footer { color: var(--muted); font-size: .85rem; margin-top: 1.5rem; }
@media (max-width: 32rem) { td.date { display: none; } }
`;

/** The fields of every page the server writes: no sniffing, no script, no framing. */
export function pageFields(liveReload: boolean): FieldLine[] {
  const scripts = liveReload ? "; script-src 'unsafe-inline'; connect-src 'self'" : '';
  return [
    ['X-Content-Type-Options', 'nosniff'],
    [
      'Content-Security-Policy',
      `default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'${scripts}`,
    ],
  ];
}

/**
 * The part of PAGE_STYLE an error page uses: the same look in a page under 1 KiB, small enough to
 * go out in the packet that carries the head.
 */
const ERROR_STYLE = `
:root { color-scheme: light dark; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; }
main { max-width: 56rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.3rem; font-weight: 600; margin: 0 0 1rem; }
.status { color: #656d76; }
a { color: #0969da; text-decoration: none; }
`;

export function page(title: string, body: string, style = PAGE_STYLE): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${title}</title>
<style>${style}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

const MESSAGES: Record<number, string> = {
  400: 'The request could not be understood.',
  401: 'This site needs a user name and password.',
  403: 'You may not see this page.',
  404: 'There is nothing at this address.',
  405: 'This method is not allowed here.',
  412: 'A precondition of the request did not hold.',
  416: 'The requested range is not part of this file.',
  500: 'Something went wrong on the server.',
  501: 'This method is not supported.',
  503: 'The server is busy; try again in a moment.',
};

/** The HTML of the error page for `status`. */
export function errorPageHtml(status: number): string {
  const reason = reasonPhrase(status);
  const message = MESSAGES[status] ?? '';
  const title = `${status} ${reason}`.trim();
  return page(
    title,
    `<h1><span class="status">${status}</span> ${reason}</h1>\n<p>${message}</p>\n<p><a href="/">Go to the home page</a></p>`,
    ERROR_STYLE,
  );
}
