/**
 * The HTML page of a directory listing, with no I/O. Every name is escaped for HTML and
 * percent-encoded for the link, so a file named `<script>alert(1)</script>` shows as text and links
 * to itself.
 */
import { encodePath } from './resolve.js';

export interface ListingEntry {
  name: string;
  isDirectory: boolean;
  size: number;
  mtimeMs: number;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

function formatSize(size: number): string {
  if (size < 1024) return `${size} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

function formatDate(mtimeMs: number): string {
  return new Date(mtimeMs).toISOString().replace('T', ' ').slice(0, 16);
}

/** Folders first, then files; each group by name, case-insensitively. */
export function sortEntries(entries: ListingEntry[]): ListingEntry[] {
  return [...entries].sort((a, b) => {
    if (a.isDirectory !== b.isDirectory) return a.isDirectory ? -1 : 1;
    const byName = a.name.toLowerCase().localeCompare(b.name.toLowerCase(), 'en');
    return byName !== 0 ? byName : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

/** The listing of the directory at URL path `segments`. */
export function renderListing(segments: string[], entries: ListingEntry[]): string {
  const title = `Index of /${segments.map((segment) => `${escapeHtml(segment)}/`).join('')}`;
  const rows = sortEntries(entries).map((entry) => {
    const href = encodePath([...segments, entry.name], entry.isDirectory);
    const label = escapeHtml(entry.name) + (entry.isDirectory ? '/' : '');
    const size = entry.isDirectory ? '—' : formatSize(entry.size);
    return `<tr><td class="name"><a href="${escapeHtml(href)}">${label}</a></td><td class="size">${size}</td><td class="date">${formatDate(entry.mtimeMs)}</td></tr>`;
  });
  if (segments.length > 0) {
    const parent = encodePath(segments.slice(0, -1), true);
    rows.unshift(`<tr><td class="name"><a href="${escapeHtml(parent)}">../</a></td><td class="size"></td><td class="date"></td></tr>`);
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; margin: 1rem auto; max-width: 56rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.25rem; word-break: break-all; }
table { border-collapse: collapse; width: 100%; }
td { padding: .35rem .5rem; border-bottom: 1px solid #eee; }
td.name { word-break: break-all; }
td.size, td.date { white-space: nowrap; color: #666; text-align: right; }
a { text-decoration: none; }
@media (max-width: 32rem) { td.date { display: none; } }
</style>
</head>
<body>
<h1>${title}</h1>
<table>
${rows.join('\n')}
</table>
</body>
</html>
`;
}
