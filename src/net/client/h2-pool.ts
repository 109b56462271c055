/**
 * Which requests go over HTTP/2, and on which session (RFC 9113 over h2-session.ts).
 *
 * Which protocol (curl's meanings of its options, RequestOptions.httpVersion):
 *   '2'                   https offers h2 and http/1.1 by ALPN (RFC 7301) and speaks what the server
 *                         picks; plain http stays HTTP/1.1 (no Upgrade: h2c, RFC 9113 §3.1)
 *   '2-prior-knowledge'   h2 at once, on http too (§3.3); on https ALPN offers h2 only
 * Which requests come here: wantsHttp2 in request.ts, which loads this module for the first.
 * `h2Exchange` answers null when HTTP/1.1 should be used instead, or hands back the connection the
 * server chose http/1.1 on, for request.ts to run its HTTP/1.1 exchange on it.
 *
 * Sessions. With an agent that keeps connections, one session per connection key is shared by
 * every request (multiplexed, up to the server's SETTINGS_MAX_CONCURRENT_STREAMS); requests that
 * arrive while it is being opened wait for it rather than opening their own. Without one, each
 * request has a session of its own, closed with GOAWAY when its stream ends. The sessions of an
 * agent are closed with it.
 *
 * Retries. A request the server did not process (REFUSED_STREAM; a stream above a GOAWAY's last
 * stream id) is sent again on another connection, whatever its method (§8.7), twice at most.
 */
import type { Connection, Route } from './connection.js';
import type { ExchangeResult, RequestContext, RequestPlan } from './exchange.js';
import { H2Exchange, forwarded } from './h2-exchange.js';
import { H2Session, Http2ClientError } from './h2-session.js';
import type { Agent } from './pool.js';
import { USER_AGENT } from './request.js';
import { DEFAULT_CLIENT_TIMEOUTS } from './timeouts.js';

const MAX_UNPROCESSED_RETRIES = 2;
/** How long a session with no stream is kept for the next request (as the agent's default for HTTP/1.1). */
const SESSION_IDLE_MS = 4_000;

interface SessionEntry {
  session: H2Session | null;
  /** The session being opened; 'http/1.1' when the server chose it by ALPN. */
  opening: Promise<H2Session | 'http/1.1'> | null;
  /** The server chose http/1.1 once: later requests go straight to HTTP/1.1. */
  http1Only: boolean;
}

const SESSIONS = new WeakMap<Agent, Map<string, SessionEntry>>();

function sessionsOf(agent: Agent): Map<string, SessionEntry> {
  let sessions = SESSIONS.get(agent);
  if (sessions === undefined) {
    const created = new Map<string, SessionEntry>();
    sessions = created;
    SESSIONS.set(agent, created);
    agent.whenClosed(() => {
      for (const entry of created.values()) entry.session?.close();
      created.clear();
    });
  }
  return sessions;
}

/**
 * The request over HTTP/2; null when HTTP/1.1 must be used instead (the server chose it for this
 * origin before); a Connection when the server has just chosen http/1.1 on it by ALPN.
 */
export async function h2Exchange(
  route: Route,
  key: string,
  plan: RequestPlan,
  context: RequestContext,
): Promise<ExchangeResult | Connection | null> {
  for (let attempt = 0; ; attempt++) {
    const found = await sessionFor(route, key, context, attempt > 0);
    if (found === null) return null;
    const session = found.session;
    if (!(session instanceof H2Session)) return session;
    try {
      await session.waitForSlot();
      return await new H2Exchange(session, found.reused, route, plan, context).run();
    } catch (error) {
      const unprocessed = error instanceof Http2ClientError && error.unprocessed;
      if (!unprocessed || attempt >= MAX_UNPROCESSED_RETRIES || context.signal.aborted) throw error;
      context.options.onEvent?.({ type: 'retry', url: route.target, attempt: attempt + 1, delayMs: 0, reason: error.message });
    }
  }
}

async function sessionFor(
  route: Route,
  key: string,
  context: RequestContext,
  fresh: boolean,
): Promise<{ session: H2Session | Connection; reused: boolean } | null> {
  const agent = context.agent;
  if (!agent.keepsConnections) {
    const opened = await openSession(route, key, context, true);
    return { session: opened, reused: false };
  }
  const sessions = sessionsOf(agent);
  let entry = sessions.get(key);
  if (entry === undefined) {
    entry = { session: null, opening: null, http1Only: false };
    sessions.set(key, entry);
  }
  if (entry.http1Only) return null;
  if (!fresh && entry.session?.isUsable) return { session: entry.session, reused: true };
  if (!fresh && entry.opening !== null) {
    const result = await entry.opening;
    if (result === 'http/1.1') return null;
    if (result.isUsable) return { session: result, reused: true };
  }
  const current = entry;
  let fallback: Connection | null = null;
  const opening = openSession(route, key, context, false).then((opened) => {
    if (opened instanceof H2Session) return opened;
    fallback = opened;
    return 'http/1.1' as const;
  });
  current.opening = opening;
  try {
    const result = await opening;
    if (result === 'http/1.1') {
      current.http1Only = true;
      return { session: fallback!, reused: false };
    }
    current.session = result;
    return { session: result, reused: false };
  } finally {
    if (current.opening === opening) current.opening = null;
  }
}

/** A new connection, with a session on it unless the server chose http/1.1. */
async function openSession(route: Route, key: string, context: RequestContext, closeWhenIdle: boolean): Promise<H2Session | Connection> {
  const { options } = context;
  const priorKnowledge = options.httpVersion === '2-prior-knowledge';
  const connection = await context.agent.open(route, key, {
    signal: context.signal,
    since: context.since,
    userAgent: USER_AGENT,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CLIENT_TIMEOUTS.connectMs,
    alpnProtocols: priorKnowledge ? ['h2'] : ['h2', 'http/1.1'],
    ...(forwarded(context).family !== undefined && { family: forwarded(context).family }),
    ...(forwarded(context).connectTo !== undefined && { connectTo: forwarded(context).connectTo }),
    ...(options.insecure !== undefined && { insecure: options.insecure }),
    ...(options.ca !== undefined && { ca: options.ca }),
  });
  const tls = connection.details.tls;
  // RFC 7301 §3.2: without ALPN (or with http/1.1 chosen) the server speaks HTTP/1.1; over TLS
  // with prior knowledge we still follow what the server said it speaks.
  if (tls !== null && tls.alpnProtocol !== 'h2') return connection;
  const onFrame = options.onH2Frame;
  const details = connection.details;
  const sessions = closeWhenIdle ? null : sessionsOf(context.agent);
  const session: H2Session = new H2Session(connection, {
    closeWhenIdle,
    idleTimeoutMs: SESSION_IDLE_MS,
    // The server's first SETTINGS is part of setting up the connection: the connect timeout's.
    prefaceTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CLIENT_TIMEOUTS.connectMs,
    ...(onFrame !== undefined && { onFrames: (records) => onFrame(details, records) }),
    onUnusable: () => {
      const entry = sessions?.get(key);
      if (entry?.session === session) entry.session = null;
    },
  });
  return session;
}
