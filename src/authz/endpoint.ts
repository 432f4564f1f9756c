import { createServer, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { apiAudience, jobAudience } from '../assertion/audience.js';
import type { AssertionSigner } from '../assertion/signer.js';
import { answer, ANSWERS, sendAnswer, type Answer } from '../http/answers.js';
import { AccessLog, type AccessOutcome } from '../observability/access-log.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { newRequestId } from '../observability/request-id.js';
import { cookieHost, isPromise, type Denial, type Gatekeeper, type Target } from '../proxy/admission.js';
import type { ApiRoute } from '../proxy/handler.js';
import { identityHeaders } from '../proxy/headers.js';
import { sameRoutedHost, splitAbsoluteForm } from '../routing/target.js';
import { absoluteLocation, expectedOrigin, fromOwnOrigin, isSafeMethod, prefersHtml, safeNext, splitDeepLink } from '../session/browser.js';
import { loginPage, noAccessPage, PAGE_HEADERS, SWITCH_SESSION_HEADERS, TOO_MANY_ATTEMPTS } from '../session/pages.js';
import { askBeforeSwitching } from '../session/switch.js';
import type { TokenRecord } from '../tokens/record.js';
import type { AddressBlocks } from '../util/address-blocks.js';

export interface AuthzDeps {
  readonly gatekeeper: Gatekeeper;
  readonly api: ApiRoute | undefined;
  readonly signer: AssertionSigner;
  readonly trusted: AddressBlocks;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly publicScheme: 'http' | 'https' | undefined;
}

const UNTRUSTED_SOURCE = answer(
  403,
  'untrusted_source',
  'This decision endpoint answers only the proxies listed in JOBGATE_AUTHZ_TRUSTED, since it believes their X-Forwarded-* headers.',
);
const NO_ORIGINAL_HOST = answer(400, 'bad_request', 'The sub-request names no original host: send X-Forwarded-Host (or X-Original-URL).');
const BODY_NOT_AVAILABLE = answer(
  403,
  'insufficient_scope',
  'This API path checks the request body for tokens with a label selector, which a forward-auth sub-request does not carry. Send it through the jobgate proxy, or use an unscoped operator token.',
  { error: 'insufficient_scope', description: 'The request body cannot be checked here' },
);
const QUERY_NOT_AVAILABLE = answer(
  403,
  'insufficient_scope',
  "This API path adds the token's label selector to the query for tokens with a selector, which a forward-auth decision cannot do to the request it allows. Send it through the jobgate proxy, or use an unscoped operator token.",
  { error: 'insufficient_scope', description: 'The query cannot be scoped here' },
);
// The same answer as the inline proxy's for a WebSocket that a session cookie would open from another site.
/** Request headers the shared pipeline reads: credential, browser detection, WebSocket origin. */
const DECISION_HEADERS = ['authorization', 'cookie', 'origin', 'accept'] as const;

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

const NO_ORIGINAL_METHOD = answer(
  400,
  'invalid_request',
  'The sub-request names no original method: send X-Forwarded-Method (or X-Original-Method). jobgate does not guess it.',
);
const BAD_ORIGINAL_METHOD = answer(400, 'invalid_request', 'The original method (X-Forwarded-Method or X-Original-Method) is not an HTTP method name.');
const ORIGINAL_HOSTS_DISAGREE = answer(
  400,
  'invalid_request',
  'The sub-request names two different original hosts (X-Forwarded-Host, and the host of X-Original-URL or of an absolute X-Forwarded-Uri). The edge must send the host it routes on.',
);
/** An HTTP method is a token (RFC 9110 5.6.2). */
const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The request the edge is asking about, or why it cannot be decided. */
export type OriginalRequest =
  | { readonly ok: true; readonly method: string; readonly host: string | undefined; readonly uri: string; readonly proto: string | undefined }
  | { readonly ok: false; readonly decision: string; readonly answer: Answer };

/**
 * The request the edge proxy is asking about, from X-Forwarded-* (which win) or X-Original-URL.
 * Never a guess: no method is a 400, and so are two hosts that disagree (an edge that sends the
 * client's Host beside the URL it routes on), since jobgate must decide on the host the edge routes on.
 */
export function originalRequest(req: IncomingMessage): OriginalRequest {
  let original: URL | undefined;
  const originalUrl = first(req.headers['x-original-url']);
  if (originalUrl) {
    try {
      original = new URL(originalUrl);
    } catch {
      original = undefined;
    }
  }
  const method = first(req.headers['x-forwarded-method']) ?? first(req.headers['x-original-method']);
  if (method === undefined || method === '') return { ok: false, decision: 'no_original_method', answer: NO_ORIGINAL_METHOD };
  if (!METHOD_TOKEN.test(method)) return { ok: false, decision: 'bad_original_method', answer: BAD_ORIGINAL_METHOD };
  const forwardedHost = first(req.headers['x-forwarded-host']);
  const originalHost = original?.host || undefined;
  if (forwardedHost !== undefined && originalHost !== undefined && !sameRoutedHost(forwardedHost, originalHost)) {
    return { ok: false, decision: 'original_hosts_disagree', answer: ORIGINAL_HOSTS_DISAGREE };
  }
  let host = forwardedHost ?? originalHost;
  let uri = first(req.headers['x-forwarded-uri']) ?? (original ? `${original.pathname}${original.search}` : '/');
  const absolute = uri.startsWith('/') ? undefined : splitAbsoluteForm(uri);
  if (absolute) {
    if (host !== undefined && !sameRoutedHost(host, absolute.authority)) return { ok: false, decision: 'original_hosts_disagree', answer: ORIGINAL_HOSTS_DISAGREE };
    host ??= absolute.authority;
    uri = absolute.path;
  }
  return {
    ok: true,
    method: method.toUpperCase(),
    host,
    uri: uri.startsWith('/') ? uri : `/${uri}`,
    proto: first(req.headers['x-forwarded-proto']) ?? original?.protocol.slice(0, -1),
  };
}

/** The client: the last X-Forwarded-For entry, the one the trusted source added. */
function clientOf(req: IncomingMessage): string {
  const forwardedFor = first(req.headers['x-forwarded-for']);
  const last = forwardedFor?.split(',').pop()?.trim();
  return last && last.length > 0 ? last : (req.socket.remoteAddress ?? 'unknown');
}

/**
 * The forward-auth decision endpoint (nginx auth_request, Traefik ForwardAuth, Envoy
 * ext_authz over HTTP): the same decision as the inline proxy, answered as 200 with the
 * identity headers and the assertion, or 401/403 with the same RFC 6750 headers and bodies
 * (the login or refusal page for a browser's navigation), 303 for a deep link. What needs the
 * body or another request target than the client's (scoped API writes and lists) is refused.
 * See docs/forward-auth.md.
 */
export function createAuthzServer(deps: AuthzDeps): Server {
  const { gatekeeper, api, signer, trusted, logger, metrics } = deps;
  // The same audiences as the inline proxy's (src/assertion/audience.ts).
  const apiAssertionAudience = api ? apiAudience(deps.publicScheme ?? 'http', api.hosts) : '';

  const allow = async (res: ServerResponse, token: TokenRecord | undefined, audience: string) => {
    const headers: Record<string, string> = { 'cache-control': 'no-store', 'content-length': '0' };
    if (token) {
      const identity = identityHeaders(token);
      headers['x-jobgate-token-id'] = identity.tokenId;
      headers['x-jobgate-token-name'] = identity.tokenName;
      headers['x-jobgate-role'] = identity.role;
      headers['x-jobgate-assertion'] = signer.cached(token, audience) ?? (await signer.assertionFor(token, audience));
    }
    res.writeHead(200, headers);
    res.end();
  };

  /** A page (login, refusal) with jobgate's page headers. */
  const sendPage = (res: ServerResponse, status: number, html: string, method: string, extra: OutgoingHttpHeaders = {}) => {
    const body = Buffer.from(html);
    res.writeHead(status, { ...PAGE_HEADERS, 'content-length': body.length, ...extra });
    res.end(method === 'HEAD' ? undefined : body);
  };

  /**
   * A refusal, as the inline proxy answers it: for a browser's navigation to a job (`subject`
   * given), the login page (401, 429) or the refusal page (403); otherwise JSON and the RFC 6750
   * challenge. Traefik returns this answer to the client as it is; nginx keeps the status only.
   */
  const refuse = (res: ServerResponse, outcome: AccessOutcome, denial: Denial | { decision: string; answer: Answer }, subject?: IncomingMessage) => {
    outcome.decision = denial.decision;
    const jobId = 'jobId' in denial ? denial.jobId : undefined;
    if (jobId) outcome.jobId = jobId;
    if ('tokenId' in denial && denial.tokenId) outcome.tokenId = denial.tokenId;
    if ('recordError' in denial && denial.recordError) {
      logger.error({ event: 'invalid_record', key: denial.recordError.key, reason: denial.recordError.reason }, denial.recordError.message);
    }
    const reply = denial.answer;
    if (subject && jobId !== undefined && prefersHtml(subject)) {
      const method = subject.method ?? 'GET';
      const auth = reply.headers['www-authenticate'] ? { 'www-authenticate': reply.headers['www-authenticate'] } : {};
      if (reply.status === 401) return sendPage(res, 401, loginPage({ jobId, next: safeNext(subject.url) }), method, auth);
      if (reply.status === 403) return sendPage(res, 403, noAccessPage(jobId), method, auth);
      if (reply.status === 429) {
        return sendPage(res, 429, loginPage({ jobId, next: safeNext(subject.url), error: TOO_MANY_ATTEMPTS }), method, {
          'retry-after': reply.headers['retry-after'] ?? '60',
        });
      }
    }
    sendAnswer(res, reply);
  };

  async function decide(req: IncomingMessage, res: ServerResponse, outcome: AccessOutcome, setLogged: (subject: IncomingMessage) => void): Promise<void> {
    if (!trusted.has(req.socket.remoteAddress)) return refuse(res, outcome, { decision: 'untrusted_source', answer: UNTRUSTED_SOURCE });
    const original = originalRequest(req);
    if (!original.ok) return refuse(res, outcome, original);
    if (!original.host) return refuse(res, outcome, { decision: 'bad_request', answer: NO_ORIGINAL_HOST });
    // The original request, as the shared pipeline reads one: only the headers a decision needs.
    const rawHeaders: string[] = ['Host', original.host];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!.toLowerCase();
      if ((DECISION_HEADERS as readonly string[]).includes(name)) rawHeaders.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    }
    const headers: IncomingHttpHeaders = { host: original.host };
    for (const name of DECISION_HEADERS) if (req.headers[name] !== undefined) headers[name] = req.headers[name];
    const subject = { method: original.method, url: original.uri, headers, rawHeaders, httpVersion: '1.1', socket: req.socket } as unknown as IncomingMessage;
    setLogged(subject);
    const client = clientOf(req);
    const https = (original.proto ?? deps.publicScheme) === 'https';
    // Upgrade and Connection are hop-by-hop (nginx and Traefik drop them); the handshake's own headers are not.
    const websocket = req.headers['sec-websocket-key'] !== undefined;

    if (api && api.hosts.has(cookieHost(subject))) {
      const badPath = api.gate.pathDenial(subject);
      if (badPath) return refuse(res, outcome, badPath);
      const token = await gatekeeper.authenticateApi(subject, client);
      if ('ok' in token) return refuse(res, outcome, token);
      outcome.tokenId = token.id;
      const admission = await api.gate.admit(subject, token, websocket);
      if (!admission.ok) return refuse(res, outcome, admission, subject);
      if (admission.jobId !== undefined) outcome.jobId = admission.jobId;
      // The rule needs the body (job creation, relabel by a scoped token): not here.
      if (admission.bodyCheck) return refuse(res, outcome, { decision: 'body_not_available', answer: BODY_NOT_AVAILABLE });
      // The inline proxy would forward another query (a scoped list): the edge forwards the client's, so no.
      if (admission.url !== subject.url) return refuse(res, outcome, { decision: 'query_not_available', answer: QUERY_NOT_AVAILABLE });
      outcome.decision = admission.decision;
      return allow(res, token, apiAssertionAudience);
    }

    const routed = gatekeeper.route(subject);
    const target = isPromise(routed) ? await routed : routed;
    if ('ok' in target) return refuse(res, outcome, target, subject);
    outcome.jobId = target.job.id;
    const link = original.method === 'GET' || original.method === 'HEAD' ? splitDeepLink(original.uri) : undefined;
    if (link) return deepLink(res, outcome, target, link, { host: original.host, https, client, subject, fetchHeaders: req.headers });
    const authorized = gatekeeper.authorize(subject, target, client, https);
    const admission = isPromise(authorized) ? await authorized : authorized;
    if (!admission.ok) return refuse(res, outcome, admission, subject);
    if (admission.token) outcome.tokenId = admission.token.id;
    // A cookie rides along with any page's WebSocket: only the job's own pages may use it (as inline).
    if (websocket && admission.via === 'session' && headers.origin !== undefined && headers.origin.toLowerCase() !== expectedOrigin(original.host, https)) {
      return refuse(res, outcome, { decision: 'foreign_origin', answer: ANSWERS.foreignOrigin });
    }
    // And state changes only from the job's own pages (as inline); the edge passes the client's Origin and Sec-Fetch-Site.
    if (admission.via === 'session' && !isSafeMethod(original.method) && !fromOwnOrigin(req.headers, expectedOrigin(original.host, https))) {
      return refuse(res, outcome, { decision: 'foreign_origin', answer: ANSWERS.foreignOrigin });
    }
    outcome.decision = admission.decision;
    return allow(res, admission.token, jobAudience(target.job.id, target.port));
  }

  /**
   * `?jobgate_token=` on a job URL: exchanged for a session cookie, then 303 to the URL without
   * it, as inline. The Location is absolute: Traefik resolves a relative one against this endpoint.
   * It names the original host and a same-host path, or there is no redirect at all (400).
   * Followed from elsewhere while a valid session for another token exists: the page that asks
   * first (409, so that the edge answers it instead of forwarding; Traefik shows it as it is).
   */
  async function deepLink(
    res: ServerResponse,
    outcome: AccessOutcome,
    target: Target,
    link: { token: string; rest: string },
    at: { host: string; https: boolean; client: string; subject: IncomingMessage; fetchHeaders: IncomingHttpHeaders },
  ): Promise<void> {
    const location = absoluteLocation(at.https, at.host, link.rest);
    if (location === undefined) {
      return refuse(res, outcome, { decision: 'bad_request', answer: answer(400, 'bad_request', 'The original host is not a plain host name and port.') });
    }
    const asked = await askBeforeSwitching(gatekeeper, at.subject, at.fetchHeaders, target, link, at.https);
    if (asked && 'ok' in asked) return refuse(res, outcome, asked);
    if (asked) {
      outcome.decision = 'deep_link_confirm';
      outcome.tokenId = asked.currentTokenId;
      return sendPage(res, 409, asked.page, at.subject.method ?? 'GET', SWITCH_SESSION_HEADERS);
    }
    const exchange = await gatekeeper.exchange(link.token, target, at.client, at.subject, at.https);
    if (exchange.kind === 'denied') return refuse(res, outcome, exchange.denial);
    outcome.decision = exchange.kind === 'session' ? 'deep_link' : `deep_link_${exchange.kind}`;
    if (exchange.kind === 'session' || exchange.kind === 'out_of_scope') outcome.tokenId = exchange.token.id;
    const headers: OutgoingHttpHeaders = {
      location,
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'content-length': 0,
    };
    if (exchange.kind === 'session') headers['set-cookie'] = exchange.setCookie;
    res.writeHead(303, headers);
    res.end();
  }

  const accessLog = new AccessLog(logger);
  return createServer((req, res) => {
    const started = performance.now();
    const outcome: AccessOutcome = { decision: 'pending' };
    const requestId = newRequestId();
    // The id of this decision's access line, for the edge to pass on (Traefik: authResponseHeaders).
    res.setHeader('x-request-id', requestId);
    // The access line names the original request (method, host, path) once it is known.
    let logged: IncomingMessage = req;
    res.once('close', () => {
      const durationMs = accessLog.write(logged, requestId, started, res.statusCode, outcome, 'authz');
      metrics.request(outcome.decision, res.statusCode, durationMs / 1000);
    });
    decide(req, res, outcome, (subject) => (logged = subject)).catch((error: unknown) => {
      outcome.decision = 'internal_error';
      logger.error({ event: 'internal_error', err: error, requestId }, 'authz decision failed');
      sendAnswer(res, answer(500, 'internal_error', 'jobgate failed to decide. The error is in its log.'));
    });
  });
}
