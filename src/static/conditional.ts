/**
 * Validators and preconditions (RFC 9110 §8.8, §13), with no I/O.
 *
 * The ETag is strong and made of the file's modification time and size, like nginx's: it changes
 * whenever the file does, and being strong it may be used with If-Range. A variant sent with a
 * content coding (gzip, br) has an ETag of its own, since its bytes differ.
 */
import type { Fields } from '../core/fields.js';
import { parseHttpDate } from '../core/http-date.js';

export interface Validators {
  etag: string;
  /** Last modification time in milliseconds, whole seconds (HTTP dates have no finer resolution). */
  lastModified: number;
}

export function makeValidators(mtimeMs: number, size: number, coding?: string): Validators {
  const tag = `${Math.floor(mtimeMs).toString(16)}-${size.toString(16)}${coding ? `-${coding}` : ''}`;
  return { etag: `"${tag}"`, lastModified: Math.floor(mtimeMs / 1000) * 1000 };
}

/** The entity-tags of an If-Match / If-None-Match list, or "*" (RFC 9110 §13.1.1). */
function parseEntityTags(value: string): string[] | '*' {
  if (value.trim() === '*') return '*';
  return value.match(/(?:W\/)?"[^"]*"/g) ?? [];
}

const opaque = (tag: string) => (tag.startsWith('W/') ? tag.slice(2) : tag);

/** Strong comparison: both strong and identical (RFC 9110 §8.8.3.2). */
export function strongMatch(a: string, b: string): boolean {
  return !a.startsWith('W/') && !b.startsWith('W/') && a === b;
}

/** Weak comparison: identical opaque tags, weakness ignored. */
export function weakMatch(a: string, b: string): boolean {
  return opaque(a) === opaque(b);
}

export type PreconditionResult = 'proceed' | 'not-modified' | 'precondition-failed';

/**
 * Evaluates the preconditions of a request on an existing representation, in the order RFC 9110
 * §13.2.2 prescribes: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since. A date field
 * that does not parse is ignored, as the RFC requires.
 */
export function evaluatePreconditions(method: string, fields: Fields, validators: Validators, now: Now): PreconditionResult {
  const isRead = method === 'GET' || method === 'HEAD';
  const ifMatch = fields.get('if-match');
  if (ifMatch !== undefined) {
    const tags = parseEntityTags(ifMatch);
    if (tags !== '*' && !tags.some((tag) => strongMatch(tag, validators.etag))) return 'precondition-failed';
  } else {
    const ifUnmodifiedSince = parseOptionalDate(fields.get('if-unmodified-since'), now);
    if (ifUnmodifiedSince !== null && validators.lastModified > ifUnmodifiedSince) return 'precondition-failed';
  }
  const ifNoneMatch = fields.get('if-none-match');
  if (ifNoneMatch !== undefined) {
    const tags = parseEntityTags(ifNoneMatch);
    if (tags === '*' || tags.some((tag) => weakMatch(tag, validators.etag))) return isRead ? 'not-modified' : 'precondition-failed';
  } else if (isRead) {
    const ifModifiedSince = parseOptionalDate(fields.get('if-modified-since'), now);
    if (ifModifiedSince !== null && validators.lastModified <= ifModifiedSince) return 'not-modified';
  }
  return 'proceed';
}

/**
 * If-Range (RFC 9110 §13.1.5): the Range applies only if the validator still matches — an entity-tag
 * by strong comparison, or a date equal to Last-Modified. Otherwise the whole representation is sent.
 */
export function rangeStillApplies(fields: Fields, validators: Validators, now: Now): boolean {
  const ifRange = fields.get('if-range');
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) return strongMatch(value, validators.etag);
  const date = parseHttpDate(value, timeOf(now));
  return date !== null && date === validators.lastModified;
}

function parseOptionalDate(value: string | undefined, now: Now): number | null {
  return value === undefined ? null : parseHttpDate(value.trim(), timeOf(now));
}

/**
 * The current time (for reading two-digit years in dates), or a clock to read it from only when a
 * date is parsed: most requests carry no date precondition and need no clock at all.
 */
export type Now = number | (() => number);

const timeOf = (now: Now): number => (typeof now === 'number' ? now : now());
