import { jobAudience } from '../assertion/audience.js';
import { Denial, isDenial, isPromise, type JobAdmission, type MaybePromise, type Target } from '../gate/index.js';
import { escapesBasePath, ESCAPES_BASE_PATH } from '../routing/path.js';
import { withoutTokenParameters } from '../session/browser.js';
import { connectRelay, headersFor, recordOutcome, refuse, refuseUpgrade, type Call, type HttpCall, type ProxyContext, type UpgradeCall } from './context.js';

const BASE_PATH_ESCAPED = new Denial('bad_path', ESCAPES_BASE_PATH);

/**
 * Job-URL traffic: the gate's admission, then forwarded. On a warm cache this runs without a
 * promise until the upstream answers, so the caller awaits only what needed Redis.
 */
export function jobHttp(ctx: ProxyContext, call: HttpCall, target: Target): MaybePromise<void> {
  const admitted = admit(ctx, call, target, false);
  return isPromise(admitted) ? admitted.then((admission) => forward(ctx, call, target, admission)) : forward(ctx, call, target, admitted);
}

function forward(ctx: ProxyContext, call: HttpCall, target: Target, admission: JobAdmission | Denial): MaybePromise<void> {
  if (isDenial(admission)) return refuse(ctx, call, admission);
  call.req.url = withoutTokenParameters(call.view.url);
  const headers = headersFor(ctx, call, admission, jobAudience(target.job.id, target.port), false);
  return isPromise(headers) ? headers.then((ready) => send(ctx, call, admission, ready)) : send(ctx, call, admission, headers);
}

function send(ctx: ProxyContext, call: HttpCall, admission: JobAdmission, headers: string[]): void {
  const response = ctx.forwarder.web(call.req, call.res, admission.upstream, headers);
  if (admission.token) ctx.liveSockets.track(response, admission.job.id, admission.token, 'job', call.since);
}

/** A WebSocket on a job URL: the same admission, then relayed (registered for revocation first). */
export async function jobWebSocket(ctx: ProxyContext, call: UpgradeCall, target: Target): Promise<void> {
  const admission = await admit(ctx, call, target, true);
  if (call.socket.destroyed) return;
  if (isDenial(admission)) return refuseUpgrade(ctx, call, admission);
  const relay = call.relay();
  ctx.liveSockets.add(relay, admission.job.id, admission.token, 'job', call.since);
  call.req.url = withoutTokenParameters(call.view.url);
  const headers = await headersFor(ctx, call, admission, jobAudience(target.job.id, target.port), true);
  connectRelay(ctx, call, relay, admission.upstream, headers);
}

/** The gate's admission, recorded for the access line, and a path that stays under the upstream's base path. */
function admit(ctx: ProxyContext, call: Call, target: Target, websocket: boolean): MaybePromise<JobAdmission | Denial> {
  const admitted = ctx.gate.admitToJob(call.view, target, websocket);
  return isPromise(admitted) ? admitted.then((admission) => withinBasePath(call, admission)) : withinBasePath(call, admitted);
}

function withinBasePath(call: Call, admission: JobAdmission | Denial): JobAdmission | Denial {
  recordOutcome(call.outcome, admission);
  if (isDenial(admission) || !escapesBasePath(admission.upstream, call.view.url)) return admission;
  return BASE_PATH_ESCAPED;
}
