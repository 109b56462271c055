/**
 * The HTML page of a directory listing, with no I/O. Every name is escaped for HTML and
 * percent-encoded for the link, so a file named `<script>alert(1)</script>` shows as text and links
 * to itself.
 */
import { page } from './pages.js';
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

export interface ListingOptions {
  /** Offer the folder as archives (--archives): the formats to link to, such as "tar.gz" and "zip". */
  archiveFormats?: readonly string[];
}

/**
 * "Index of /a/b/" as breadcrumbs: the root and each ancestor a link, the folder itself plain text,
 * so the heading reads exactly as the path does.
 */
function breadcrumbs(segments: string[]): string {
  const crumb = (label: string, index: number) => {
    if (index === segments.length) return `<span class="here">${label}</span>`;
    return `<a class="crumb" href="${escapeHtml(encodePath(segments.slice(0, index), true))}">${label}</a>`;
  };
  const parts = [crumb('/', 0), ...segments.map((segment, index) => crumb(`${escapeHtml(segment)}/`, index + 1))];
  return `<nav class="crumbs" aria-label="Path">Index of ${parts.join('')}</nav>`;
}

/** The listing of the directory at URL path `segments`. */
export function renderListing(segments: string[], entries: ListingEntry[], options: ListingOptions = {}): string {
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
  const folderName = escapeHtml(segments[segments.length - 1] ?? 'site');
  const downloads = (options.archiveFormats ?? []).map(
    (format) => `<a class="download" href="?archive=${format}" download>${folderName}.${format}</a>`,
  );
  const body = [
    `<h1>${breadcrumbs(segments)}</h1>`,
    downloads.length > 0 ? `<p class="downloads">Download this folder: ${downloads.join(' · ')}</p>` : '',
    `<table>\n${rows.join('\n')}\n</table>`,
    `<footer>${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}</footer>`,
  ];
  return page(title, body.filter((part) => part !== '').join('\n'));
}

/** The listing as data (Accept: application/json): each entry's name, type, size, modification time and URL. */
export function renderListingJson(segments: string[], entries: ListingEntry[]): string {
  return JSON.stringify({
    path: encodePath(segments, true),
    entries: sortEntries(entries).map((entry) => ({
      name: entry.name,
      type: entry.isDirectory ? 'directory' : 'file',
      size: entry.isDirectory ? null : entry.size,
      mtime: new Date(entry.mtimeMs).toISOString(),
      url: encodePath([...segments, entry.name], entry.isDirectory),
    })),
  });
}
