/**
 * Live reload for `serve --watch`, with no dependency: HTML pages get a small script that listens to
 * a Server-Sent Events stream; when anything under the root changes, every page open on it reloads.
 */
import { type FSWatcher, watch } from 'node:fs';
import { PassThrough } from 'node:stream';
import type { ResponsePlan } from '../../core/response-plan.js';

export const LIVE_RELOAD_PATH = '/__sockhttp/live-reload';

export const LIVE_RELOAD_SNIPPET =
  `<script>/* sockhttp --watch */(() => { const events = new EventSource('${LIVE_RELOAD_PATH}'); ` +
  `events.addEventListener('reload', () => location.reload()); })();</script>\n`;

/** Changes closer together than this become one reload (an editor's save is often several writes). */
const SETTLE_MS = 80;
/** An open stream gets a comment line this often, so the server's stall timeout never ends it. */
const DEFAULT_PING_MS = 15_000;

/** Whether a path relative to the root has a segment starting with '.'. */
function isHidden(relative: string): boolean {
  return relative.split(/[\\/]/).some((segment) => segment.startsWith('.'));
}

export class LiveReload {
  readonly #clients = new Set<PassThrough>();
  readonly #watcher: FSWatcher;
  #pending: NodeJS.Timeout | null = null;
  readonly #ping: NodeJS.Timeout;

  /**
   * `pingMs` must be shorter than the server's stall timeout. With `ignoreHidden`, a change under a
   * name starting with '.' (.git, an editor's swap file) reloads nothing: the server never serves it.
   */
  constructor(root: string, pingMs = DEFAULT_PING_MS, { ignoreHidden = true } = {}) {
    this.#watcher = watch(root, { recursive: true }, (_event, name) => {
      if (ignoreHidden && name !== null && isHidden(String(name))) return;
      this.#changed();
    });
    this.#watcher.on('error', () => {}); // a folder removed while watched must not stop the server
    // A line starting with ":" is a comment: browsers ignore it (HTML Living Standard, server-sent events).
    this.#ping = setInterval(() => {
      for (const client of this.#clients) client.write(': ping\n\n');
    }, pingMs).unref();
  }

  /** The event stream when the request asks for it, otherwise null. */
  answer(method: string, target: string): ResponsePlan | null {
    if (method !== 'GET' || target.split('?')[0] !== LIVE_RELOAD_PATH) return null;
    const stream = new PassThrough();
    // retry: how soon the browser reconnects after the server restarts.
    stream.write('retry: 1000\n\n');
    this.#clients.add(stream);
    stream.once('close', () => this.#clients.delete(stream));
    return {
      status: 200,
      fields: [
        ['Content-Type', 'text/event-stream'],
        ['Cache-Control', 'no-cache'],
      ],
      body: { kind: 'stream', stream },
    };
  }

  close(): void {
    this.#watcher.close();
    clearInterval(this.#ping);
    if (this.#pending !== null) clearTimeout(this.#pending);
    for (const client of this.#clients) client.end();
    this.#clients.clear();
  }

  #changed(): void {
    if (this.#pending !== null) return;
    this.#pending = setTimeout(() => {
      this.#pending = null;
      for (const client of this.#clients) client.write('event: reload\ndata: changed\n\n');
    }, SETTLE_MS);
  }
}
