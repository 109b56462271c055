/**
 * The contract between a server connection, of either protocol, and the application: the request
 * a handler is given, and how it is asked (askHandler), so that HTTP/1.1 and HTTP/2 treat a
 * throwing or misbehaving handler the same way.
 */
import type { Fields } from '../../core/fields.js';
import type { HttpVersion } from '../../core/head-parser.js';
import { type ResponsePlan, errorPlan } from '../../core/response-plan.js';

export interface IncomingRequest {
  method: string;
  /** The request-target exactly as received. */
  target: string;
  /** '2.0' for a request that came over HTTP/2 (its method, target and Host from :method, :path and :authority). */
  version: HttpVersion | '2.0';
  fields: Fields;
  remoteAddress: string;
}

export type RequestHandler = (request: IncomingRequest) => ResponsePlan | Promise<ResponsePlan>;

/**
 * Calls the handler and gives its plan to `deliver`: at once when the handler answers at once (a
 * hot file goes out without a trip through the microtask queue; `later` is false), otherwise when
 * its promise settles. A throw, a rejection or an answer that is not a plan becomes a 500.
 */
export function askHandler(handler: RequestHandler, request: IncomingRequest, deliver: (plan: ResponsePlan, later: boolean) => void): void {
  let plan: ResponsePlan | PromiseLike<ResponsePlan>;
  try {
    plan = handler(request);
  } catch {
    plan = errorPlan(500);
  }
  if (isPromiseLike(plan)) {
    plan.then(
      (resolved) => deliver(isPlan(resolved) ? resolved : errorPlan(500), true),
      () => deliver(errorPlan(500), true),
    );
  } else {
    deliver(isPlan(plan) ? plan : errorPlan(500), false);
  }
}

/**
 * The handler's answer as a value: a plan at once when the handler answers at once, otherwise a
 * promise of one that never rejects. The same rules as askHandler (a throw, a rejection or an answer
 * that is not a plan becomes a 500), without a callback made for every request: the HTTP/1.1 driver
 * answers most requests at once and has nothing to close over then.
 */
export function handlerAnswer(handler: RequestHandler, request: IncomingRequest): ResponsePlan | Promise<ResponsePlan> {
  let plan: ResponsePlan | PromiseLike<ResponsePlan>;
  try {
    plan = handler(request);
  } catch {
    return errorPlan(500);
  }
  if (!isPromiseLike(plan)) return isPlan(plan) ? plan : errorPlan(500);
  const later = plan;
  return new Promise<ResponsePlan>((resolve) => {
    later.then(
      (resolved) => resolve(isPlan(resolved) ? resolved : errorPlan(500)),
      () => resolve(errorPlan(500)),
    );
  }).catch(() => errorPlan(500)); // a thenable whose then() throws
}

/** Not `instanceof Promise`: a handler may return any thenable, or (from plain JavaScript) anything at all. */
function isPromiseLike(answer: unknown): answer is PromiseLike<ResponsePlan> {
  return typeof (answer as { then?: unknown } | null | undefined)?.then === 'function';
}

/** The shape of a plan; what is inside is checked as it is sent. */
function isPlan(answer: unknown): answer is ResponsePlan {
  const plan = answer as Partial<ResponsePlan> | null | undefined;
  return typeof plan?.status === 'number' && Array.isArray(plan.fields) && typeof plan.body?.kind === 'string';
}
