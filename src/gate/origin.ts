import { ANSWERS } from '../http/answers.js';
import { expectedOrigin, fromOwnOrigin, isSafeMethod } from '../session/browser.js';
import { Denial } from './denial.js';
import type { GateRequest } from './request.js';

const FOREIGN_ORIGIN = new Denial('foreign_origin', ANSWERS.foreignOrigin);

/**
 * For a request the session cookie authenticates: the denial when it did not come from the
 * job's own pages. All jobs share one registrable domain, so the cookie rides along with
 * another job's page: a WebSocket handshake from another origin is refused, and so is any
 * state change (an unsafe method) not from the job's own origin.
 */
export function crossOriginDenial(req: GateRequest, via: 'bearer' | 'session' | undefined, websocket: boolean): Denial | undefined {
  if (via !== 'session') return undefined;
  const origin = req.headers.origin;
  if (websocket && origin !== undefined && origin.toLowerCase() !== expectedOrigin(req.publicHost, req.https)) return FOREIGN_ORIGIN;
  if (!isSafeMethod(req.method) && !fromOwnOrigin(req.headers, expectedOrigin(req.publicHost, req.https))) return FOREIGN_ORIGIN;
  return undefined;
}
