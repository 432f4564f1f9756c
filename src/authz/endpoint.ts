import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { apiAudience, jobAudience } from '../assertion/audience.js';
import type { AssertionSigner } from '../assertion/signer.js';
import {
  Denial,
  isDenial,
  isPromise,
  pageReply,
  type ApiAccess,
  type DeepLink,
  type Gate,
  type GateRequest,
  type Outcome,
  type Reply,
  type Target,
} from '../gate/index.js';
import { answer, sendAnswer, type Answer } from '../http/answers.js';
import { AccessLog, type AccessSubject } from '../observability/access-log.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { newRequestId } from '../observability/request-id.js';
import { identityHeaders } from '../gate/identity.js';
import { absoluteLocation, splitDeepLink } from '../session/browser.js';
import { SWITCH_SESSION_HEADERS } from '../session/pages.js';
import type { TokenRecord } from '../tokens/record.js';
import type { AddressBlocks } from '../util/address-blocks.js';
import { gateRequestOf, originalRequest } from './original-request.js';

export interface AuthzDeps {
  readonly gate: Gate;
  readonly signer: AssertionSigner;
  readonly trusted: AddressBlocks;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly publicScheme: 'http' | 'https' | undefined;
}

const UNTRUSTED_SOURCE = new Denial(
  'untrusted_source',
  answer(
    403,
    'untrusted_source',
    'This decision endpoint answers only the proxies listed in JOBGATE_AUTHZ_TRUSTED, since it believes their X-Forwarded-* headers.',
  ),
);
const BODY_NOT_AVAILABLE = new Denial(
  'body_not_available',
  answer(
    403,
    'insufficient_scope',
    'This API path checks the request body for tokens with a label selector, which a forward-auth sub-request does not carry. Send it through the jobgate proxy, or use an unscoped operator token.',
    { error: 'insufficient_scope', description: 'The request body cannot be checked here' },
  ),
);
const QUERY_NOT_AVAILABLE = new Denial(
  'query_not_available',
  answer(
    403,
    'insufficient_scope',
    "This API path adds the token's label selector to the query for tokens with a selector, which a forward-auth decision cannot do to the request it allows. Send it through the jobgate proxy, or use an unscoped operator token.",
    { error: 'insufficient_scope', description: 'The query cannot be scoped here' },
  ),
);
const NOT_A_PLAIN_HOST = new Denial('bad_request', answer(400, 'bad_request', 'The original host is not a plain host name and port.'));
const INTERNAL_ERROR = answer(500, 'internal_error', 'jobgate failed to decide. The error is in its log.');

/** One decision as it is made: the sub-request, its answer, and the original request once read. */
interface Decision {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly outcome: Outcome;
  /** What the access line names: the original request once it is known. */
  logged: AccessSubject;
}

/** What the decisions share, built once. */
interface AuthzContext extends AuthzDeps {
  /** The same audiences as the inline proxy's (src/assertion/audience.ts). */
  readonly apiAudience: string;
}

/**
 * The forward-auth decision endpoint (nginx auth_request, Traefik ForwardAuth, Envoy
 * ext_authz over HTTP): the gate's decision, as the inline proxy makes it, answered as 200 with
 * the identity headers and the assertion, or 401/403 with the same RFC 6750 headers and bodies
 * (the login or refusal page for a browser's navigation), 303 for a deep link. What needs the
 * body or another request target than the client's (scoped API writes and lists) is refused.
 * See docs/forward-auth.md.
 */
export function createAuthzServer(deps: AuthzDeps): Server {
  const ctx: AuthzContext = { ...deps, apiAudience: deps.gate.api ? apiAudience(deps.publicScheme ?? 'http', deps.gate.api.hosts) : '' };
  const accessLog = new AccessLog(deps.logger);
  return createServer((req, res) => {
    const started = performance.now();
    const requestId = newRequestId();
    const decision: Decision = { req, res, outcome: { decision: 'pending' }, logged: req };
    // The id of this decision's access line, for the edge to pass on (Traefik: authResponseHeaders).
    res.setHeader('x-request-id', requestId);
    res.once('close', () => {
      const durationMs = accessLog.write(decision.logged, requestId, started, res.statusCode, decision.outcome, 'authz');
      deps.metrics.request(decision.outcome.decision, res.statusCode, durationMs / 1000);
    });
    decide(ctx, decision).catch((error: unknown) => {
      decision.outcome.decision = 'internal_error';
      deps.logger.error({ event: 'internal_error', err: error, requestId }, 'authz decision failed');
      sendAnswer(res, INTERNAL_ERROR);
    });
  });
}

async function decide(ctx: AuthzContext, decision: Decision): Promise<void> {
  if (!ctx.trusted.has(decision.req.socket.remoteAddress)) return refuse(ctx, decision, UNTRUSTED_SOURCE);
  const original = originalRequest(decision.req);
  if (isDenial(original)) return refuse(ctx, decision, original);
  decision.logged = { method: original.method, url: original.uri, headers: { host: original.host } };
  const view = gateRequestOf(decision.req, original, ctx.publicScheme);
  // Upgrade and Connection are hop-by-hop (nginx and Traefik drop them); the handshake's own headers are not.
  const websocket = decision.req.headers['sec-websocket-key'] !== undefined;
  const api = ctx.gate.apiFor(view);
  if (api) return decideApi(ctx, decision, view, api, websocket);
  const routed = ctx.gate.target(view);
  const target = isPromise(routed) ? await routed : routed;
  if (isDenial(target)) return refuse(ctx, decision, target, view);
  decision.outcome.jobId = target.job.id;
  const link = view.method === 'GET' || view.method === 'HEAD' ? splitDeepLink(view.url) : undefined;
  if (link) return deepLink(ctx, decision, view, target, link);
  const admitted = ctx.gate.admitToJob(view, target, websocket);
  const admission = isPromise(admitted) ? await admitted : admitted;
  if (isDenial(admission)) return refuse(ctx, decision, admission, view);
  if (admission.token) decision.outcome.tokenId = admission.token.id;
  decision.outcome.decision = admission.decision;
  return allow(ctx, decision.res, admission.token, jobAudience(target.job.id, target.port));
}

/** The training API, as inline, but only what the edge can forward as the client sent it. */
async function decideApi(ctx: AuthzContext, decision: Decision, view: GateRequest, api: ApiAccess, websocket: boolean): Promise<void> {
  const admission = await api.admit(view, websocket);
  if (isDenial(admission)) return refuse(ctx, decision, admission, view);
  const { outcome } = decision;
  outcome.tokenId = admission.token.id;
  if (admission.jobId !== undefined) outcome.jobId = admission.jobId;
  // The rule needs the body (job creation, relabel by a scoped token): not here.
  if (admission.bodyCheck) return refuse(ctx, decision, BODY_NOT_AVAILABLE);
  // The inline proxy would forward another query (a scoped list): the edge forwards the client's, so no.
  if (admission.url !== view.url) return refuse(ctx, decision, QUERY_NOT_AVAILABLE);
  outcome.decision = admission.decision;
  return allow(ctx, decision.res, admission.token, ctx.apiAudience);
}

/**
 * `?jobgate_token=` on a job URL: exchanged for a session cookie, then 303 to the URL without
 * it, as inline. The Location is absolute: Traefik resolves a relative one against this endpoint.
 * It names the original host and a same-host path, or there is no redirect at all (400).
 * Followed from elsewhere while a valid session for another token exists: the page that asks
 * first (409, so that the edge answers it instead of forwarding; Traefik shows it as it is).
 */
async function deepLink(ctx: AuthzContext, decision: Decision, view: GateRequest, target: Target, link: DeepLink): Promise<void> {
  const location = absoluteLocation(view.https, view.publicHost, link.rest);
  if (location === undefined) return refuse(ctx, decision, NOT_A_PLAIN_HOST);
  const result = await ctx.gate.followDeepLink(view, target, link);
  if (isDenial(result)) return refuse(ctx, decision, result, view);
  const { outcome, res } = decision;
  if (result.kind === 'ask') {
    outcome.decision = 'deep_link_confirm';
    outcome.tokenId = result.currentTokenId;
    return send(res, pageReply(409, result.page, {}, SWITCH_SESSION_HEADERS), view.method);
  }
  outcome.decision = result.decision;
  if (result.tokenId !== undefined) outcome.tokenId = result.tokenId;
  const headers: OutgoingHttpHeaders = { location, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'content-length': 0 };
  if (result.setCookie !== undefined) headers['set-cookie'] = result.setCookie;
  res.writeHead(303, headers);
  res.end();
}

/** 200: the request may pass, with who made it and the assertion for the upstream. */
async function allow(ctx: AuthzContext, res: ServerResponse, token: TokenRecord | undefined, audience: string): Promise<void> {
  const headers: Record<string, string> = { 'cache-control': 'no-store', 'content-length': '0' };
  if (token) {
    const identity = identityHeaders(token);
    headers['x-jobgate-token-id'] = identity.tokenId;
    headers['x-jobgate-token-name'] = identity.tokenName;
    headers['x-jobgate-role'] = identity.role;
    headers['x-jobgate-assertion'] = ctx.signer.cached(token, audience) ?? (await ctx.signer.assertionFor(token, audience));
  }
  res.writeHead(200, headers);
  res.end();
}

/**
 * A refusal, as the inline proxy answers it (the gate's answer: the login or refusal page for a
 * browser's navigation to a job, else JSON and the RFC 6750 challenge); without the original
 * request (`view`), always JSON. Traefik returns this answer to the client as it is; nginx keeps
 * the status only.
 */
function refuse(ctx: AuthzContext, decision: Decision, denial: Denial, view?: GateRequest): void {
  const { outcome } = decision;
  outcome.decision = denial.decision;
  if (denial.jobId) outcome.jobId = denial.jobId;
  if (denial.tokenId) outcome.tokenId = denial.tokenId;
  const error = denial.recordError;
  if (error) ctx.logger.error({ event: 'invalid_record', key: error.key, reason: error.reason }, error.message);
  if (!view) return sendAnswer(decision.res, denial.answer);
  send(decision.res, ctx.gate.refusal(denial, view), view.method);
}

/** Sends a reply; for an original HEAD request, without its body. */
function send(res: ServerResponse, reply: Reply | Answer, method: string): void {
  res.writeHead(reply.status, reply.headers as Record<string, string | number | string[]>);
  res.end(method === 'HEAD' ? undefined : reply.body);
}
