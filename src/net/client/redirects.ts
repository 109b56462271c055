/**
 * What a redirect asks of the client (RFC 9110 §15.4): where it points, the request that follows it
 * (method, content and credentials), the Referer it carries, and the body of the 3xx let go so its
 * connection can be reused. request.ts follows the chain.
 */
import type { Readable } from 'node:stream';
import { isHttpUrl } from '../../core/origin.js';
import { ClientError } from './errors.js';
import type { RequestPlan } from './exchange.js';
import type { ClientResponse } from './request.js';

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const NO_CONTENT = Buffer.alloc(0);

/** A URL as a Referer names it: without user, password or fragment (RFC 9110 §10.1.3; curl does the same). */
export function refererOf(url: URL): string {
  const referer = new URL(url.href);
  referer.username = '';
  referer.password = '';
  referer.hash = '';
  return referer.href;
}

/** Where a redirect points, resolved against the current URL (RFC 9110 §10.2.2), or null when there is nothing to follow. */
export function redirectTarget(response: ClientResponse, current: URL): URL | null {
  if (!REDIRECT_STATUSES.has(response.status)) return null;
  const location = response.fields.get('location');
  if (location === undefined) return null; // a 3xx without Location is just a response
  let next: URL;
  try {
    next = new URL(location, current);
  } catch {
    response.body.destroy();
    throw new ClientError('bad-url', 'The redirect points to a malformed URL');
  }
  if (!isHttpUrl(next)) {
    response.body.destroy();
    throw new ClientError('unsupported-protocol', `The redirect points to an unsupported protocol: ${next.protocol}`);
  }
  return next;
}

/** Fields that describe a request's content, dropped with the content itself (as the Fetch standard does). */
const CONTENT_FIELDS = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-location',
  'transfer-encoding',
]);
/** Credentials meant for one origin: never sent on to another (curl drops them too, CVE-2022-27776). */
const CREDENTIAL_FIELDS = new Set(['authorization', 'cookie']);

/**
 * The next request of a redirect chain (RFC 9110 §15.4). 303 asks for a GET (a HEAD stays a HEAD).
 * 301 and 302 allow the method to change from POST to GET, and browsers and curl do so; other
 * methods keep theirs. 307 and 308 keep the method and the content.
 */
export function redirectPlan(plan: RequestPlan, status: number, from: URL, to: URL): RequestPlan {
  const becomesGet = (status === 303 && plan.method !== 'HEAD') || ((status === 301 || status === 302) && plan.method === 'POST');
  let fields = plan.fields;
  if (becomesGet) fields = fields.filter(([name]) => !CONTENT_FIELDS.has(name.toLowerCase()));
  if (from.origin !== to.origin) fields = fields.filter(([name]) => !CREDENTIAL_FIELDS.has(name.toLowerCase()));
  return { method: becomesGet ? 'GET' : plan.method, fields, body: becomesGet ? NO_CONTENT : plan.body };
}

/** Reads and drops a body we do not pass on, so its connection can be reused; a large one is not worth it. */
export async function discardBody(body: Readable, limit = 1024 * 1024): Promise<void> {
  let received = 0;
  try {
    for await (const chunk of body) {
      received += (chunk as Buffer).length;
      if (received > limit) break; // leaving the loop destroys the body, and with it the connection
    }
  } catch {
    // A failed body costs only its connection, which is closed already.
  }
}
