/**
 * The contract between a server connection, of either protocol, and the application: the request
 * a handler is given, and how it is asked (handlerAnswer), so that HTTP/1.1 and HTTP/2 treat a
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
 * The handler's answer as a value: a plan at once when the handler answers at once (a hot file goes
 * out without a trip through the microtask queue), otherwise a promise of one that never rejects. A
 * throw, a rejection, a thenable whose then() throws, or an answer that is not a plan becomes a 500.
 * No callback is made for a handler that answers at once, which is most requests.
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
