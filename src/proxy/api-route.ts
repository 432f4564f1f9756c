import { removeOverrideHeaders } from '../api/override.js';
import { Denial, isDenial, type ApiAccess, type ApiAdmission } from '../gate/index.js';
import { apiAnswer, type BodyCheck } from '../api/index.js';
import { withoutTokenParameters } from '../session/browser.js';
import { connectRelay, headersFor, recordOutcome, refuse, refuseUpgrade, type Call, type HttpCall, type ProxyContext, type UpgradeCall } from './context.js';
import { answerAndClose, readBodyUpTo } from '../http/linger.js';

const BODY_TOO_LARGE = new Denial(
  'body_too_large',
  apiAnswer({
    status: 413,
    error: 'payload_too_large',
    reason: 'body_too_large',
    message: 'The request body is larger than jobgate checks (JOBGATE_API_MAX_BODY_BYTES).',
  }),
);

/** Training-API traffic: the gate's admission, the body check when the rule needs one, then forward. */
export async function apiHttp(ctx: ProxyContext, call: HttpCall, api: ApiAccess): Promise<void> {
  const admission = await admit(call, api, false);
  if (isDenial(admission)) return refuse(ctx, call, admission);
  const { req, res } = call;
  let body: Buffer | undefined;
  if (admission.bodyCheck) {
    const checked = await readCheckedBody(call, api, admission.bodyCheck);
    if (isDenial(checked)) {
      recordOutcome(call.outcome, checked.with({ tokenId: admission.token.id }));
      return answerAndClose(req, res, checked.answer); // part of the body may be unread
    }
    body = checked;
  }
  req.url = withoutTokenParameters(admission.url);
  const headers = await headersFor(ctx, call, { token: admission.token, via: 'bearer', upstream: api.upstream }, ctx.apiAudience, false, body?.length);
  ctx.liveSockets.track(ctx.forwarder.web(req, res, api.upstream, headers, body), admission.jobId, admission.token, 'api', call.since);
}

/** A WebSocket to the training API: the same admission, then relayed. */
export async function apiWebSocket(ctx: ProxyContext, call: UpgradeCall, api: ApiAccess): Promise<void> {
  const admission = await admit(call, api, true);
  if (call.socket.destroyed) return;
  if (isDenial(admission)) return refuseUpgrade(ctx, call, admission);
  const { req } = call;
  req.url = withoutTokenParameters(admission.url);
  // Registered before any further await: a revocation from now on closes it, even mid-handshake.
  const relay = call.relay();
  ctx.liveSockets.add(relay, admission.jobId, admission.token, 'api', call.since);
  const headers = await headersFor(ctx, call, { token: admission.token, via: 'bearer', upstream: api.upstream }, ctx.apiAudience, true);
  connectRelay(ctx, call, relay, api.upstream, headers);
}

async function admit(call: Call, api: ApiAccess, upgrade: boolean): Promise<ApiAdmission | Denial> {
  const admission = await api.admit(call.view, upgrade);
  if (isDenial(admission)) return admission;
  const { outcome } = call;
  outcome.decision = admission.decision;
  outcome.tokenId = admission.token.id;
  if (admission.jobId !== undefined) outcome.jobId = admission.jobId;
  // The upstream runs the method (and path) jobgate decided on, not one a header asks for.
  removeOverrideHeaders(call.req.headers);
  return admission;
}

/** Reads a body that must be checked (bounded) and runs the check: the bytes to forward, or the denial (400, 403, 413, 415). */
async function readCheckedBody(call: HttpCall, api: ApiAccess, check: BodyCheck): Promise<Buffer | Denial> {
  const { req } = call;
  const early = api.bodyDenial(req.headers);
  if (early) return early;
  const body = await readBodyUpTo(req, api.maxBodyBytes);
  if (body === undefined) return BODY_TOO_LARGE;
  return api.checkBody(check, req.headers, body);
}
