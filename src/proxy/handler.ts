import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { answer, ANSWERS, sendAnswer, writeAnswer, type Answer } from '../http/answers.js';
import { AccessLog, type AccessOutcome } from '../observability/access-log.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { newRequestId } from '../observability/request-id.js';
import { originFormOf, pathEscapesRoot, splitAbsoluteForm } from '../routing/target.js';
import { expectedOrigin, fromOwnOrigin, isSafeMethod, prefersHtml, safeNext, sameOriginRequest, splitDeepLink, withoutTokenParameters } from '../session/browser.js';
import type { SessionCookies } from '../session/cookie.js';
import { loginPage, noAccessPage, PAGE_HEADERS, SWITCH_SESSION_HEADERS, TOO_MANY_ATTEMPTS } from '../session/pages.js';
import { askBeforeSwitching } from '../session/switch.js';
import { cookieHost, isPromise, type Admission, type Denial, type Gatekeeper, type MaybePromise, type Target } from './admission.js';
import { apiAudience, jobAudience } from '../assertion/audience.js';
import type { AssertionSigner } from '../assertion/signer.js';
import type { TokenRecord } from '../tokens/record.js';
import { removeOverrideHeaders } from '../api/override.js';
import type { ApiAdmission, ApiGate } from './api-gate.js';
import type { Forwarder } from './forward.js';
import { clientAddress, forwardedInfo, identityHeaders, upstreamHeaders, type ForwardedInfo } from './headers.js';
import type { LiveSockets } from './live-sockets.js';
import { RelayedSocket } from './websocket.js';
import { escapesBasePath, ESCAPES_BASE_PATH } from '../routing/path.js';
import { answerAndClose, readBodyUpTo } from './linger.js';

export interface HandlerOptions {
  readonly trustedHops: number;
  readonly keepAuthorization: boolean;
  readonly maxHeaders: number;
  readonly upstreamTimeoutMs: number;
  readonly publicScheme: 'http' | 'https' | undefined;
  readonly upstreamCookieDomain: 'remove' | 'keep';
}

/** An API request that passed: its token and what the route decided. */
interface ApiAdmitted {
  readonly ok: true;
  readonly token: TokenRecord;
  readonly admission: Extract<ApiAdmission, { ok: true }>;
}

/** The training API behind jobgate, when configured. */
export interface ApiRoute {
  readonly hosts: ReadonlySet<string>;
  readonly upstream: URL;
  readonly gate: ApiGate;
}

export interface HandlerDeps {
  readonly api: ApiRoute | undefined;
  readonly signer: AssertionSigner;
  /** The JWKS document, served at /__jobgate/jwks.json on every job host. */
  readonly jwks: Buffer;
  readonly metrics: Metrics;
  /** True once shutdown began: responses then close their connection. */
  readonly draining: () => boolean;
  readonly gatekeeper: Gatekeeper;
  readonly forwarder: Forwarder;
  readonly liveSockets: LiveSockets;
  readonly sessions: SessionCookies;
  readonly logger: Logger;
}

const INTERNAL_ERROR = answer(500, 'internal_error', 'jobgate failed to handle this request. The error is in its log.');
const CLIENT_ERROR = answer(400, 'bad_request', 'The request is malformed.');
const HEADERS_TOO_LARGE = answer(431, 'request_header_fields_too_large', 'The request headers are too large.');
const REQUEST_TIMEOUT = answer(408, 'request_timeout', 'The request was not received in time.');
const MISSING_HOST = answer(400, 'bad_request', 'An HTTP/1.1 request needs a Host header.');
const TWO_HOSTS = answer(400, 'bad_request', 'The request has more than one Host header. Send exactly one.');
const HTTP_VERSION = answer(505, 'http_version_not_supported', 'jobgate speaks HTTP/1.0 and HTTP/1.1 here.');
const PATH_ESCAPES_ROOT = answer(400, 'bad_request', 'The path climbs above the root ("..", also as "%2e%2e") or holds an encoded NUL.');
const TARGET_HOST_MISMATCH = answer(400, 'bad_request', 'The request target names another host than the Host header. Send a path as the target, or the same host in both.');
const RESERVED_NOT_FOUND = answer(404, 'not_found', 'No such jobgate page. /__jobgate/login, /__jobgate/logout and /__jobgate/jwks.json are served here.');
const LOGIN_METHOD = answer(405, 'method_not_allowed', 'Log in with a POST from the login page.');
const LOGIN_TYPE = answer(415, 'unsupported_media_type', 'The login form is sent as application/x-www-form-urlencoded.');
const LOGIN_TOO_LARGE = answer(413, 'payload_too_large', 'The login form is too large.');

/** The JWKS may be cached for a few minutes: key rotation waits longer than that. */
export const JWKS_HEADERS = (length: number) => ({
  'content-type': 'application/jwk-set+json',
  'content-length': length,
  'cache-control': 'public, max-age=300',
  'access-control-allow-origin': '*',
});

/** Most a login form may weigh: a token, a path to go back to, and some slack. */
const MAX_LOGIN_BODY_BYTES = 8192;
const LOGIN_FAILED = 'That token is not valid. Check that you pasted the whole value, or ask for a new token.';

/**
 * The proxy listener's handlers. Every request walks one way: route, then jobgate's own
 * pages (/__jobgate/*, deep links), then credential, identity and decision, then forward
 * or answer, then one access log line.
 */
export function createProxyHandlers(options: HandlerOptions, deps: HandlerDeps) {
  const { gatekeeper, forwarder, liveSockets, sessions, logger, metrics, draining, api, signer, jwks } = deps;

  /** The assertion for a verified identity: cached, so usually without an await. */
  const assertionFor = (token: TokenRecord | undefined, audience: string): string | undefined | Promise<string> =>
    token === undefined ? undefined : (signer.cached(token, audience) ?? signer.assertionFor(token, audience));
  const accessLog = new AccessLog(logger);
  let inFlight = 0;
  const finished = (req: IncomingMessage, requestId: string, started: number, status: number, outcome: AccessOutcome, kind: 'http' | 'websocket') => {
    inFlight--;
    const durationMs = accessLog.write(req, requestId, started, status, outcome, kind);
    metrics.request(outcome.decision, status, durationMs / 1000);
  };
  const onUpstreamFailure = upstreamFailureLogger(logger);
  const ownScheme = options.publicScheme ?? 'http';
  const apiAssertionAudience = api ? apiAudience(ownScheme, api.hosts) : '';

  /** Checks that need nothing but the request, run once before the API or job route is chosen. */
  const requestDenial = (req: IncomingMessage): Denial | undefined => {
    if (req.headers.host === undefined && req.httpVersion !== '1.0') return { ok: false, decision: 'missing_host', answer: MISSING_HOST };
    if (req.rawHeaders.length > options.maxHeaders * 2) return { ok: false, decision: 'too_many_headers', answer: ANSWERS.tooManyHeaders };
    return targetDenial(req);
  };

  /**
   * The host an edge in front routes on must be the one decided on. Node keeps the first of two
   * Host headers (RFC 9112 3.2: 400). An absolute-form target names the host (RFC 9112 3.2.2), not
   * Host: refused unless both agree, then read as the path it carries, as an edge passes it on.
   */
  const targetDenial = (req: IncomingMessage): Denial | undefined => {
    if (hostHeaderCount(req.rawHeaders) > 1) return { ok: false, decision: 'two_hosts', answer: TWO_HOSTS };
    if (req.httpVersionMajor !== 1) return { ok: false, decision: 'http_version', answer: HTTP_VERSION };
    // RFC 9112 6.1: the framing of an HTTP/1.0 message with Transfer-Encoding is faulty.
    if (req.httpVersion === '1.0' && req.headers['transfer-encoding'] !== undefined) return { ok: false, decision: 'bad_framing', answer: CLIENT_ERROR };
    const url = req.url ?? '/';
    if (url.charCodeAt(0) !== 47 /* / */) {
      // HTTP/1.0 may name the host in the target alone.
      if (req.headers.host === undefined && req.httpVersion === '1.0') req.headers.host = splitAbsoluteForm(url)?.authority;
      const path = originFormOf(url, req.headers.host);
      if (path === undefined) return { ok: false, decision: 'target_host_mismatch', answer: TARGET_HOST_MISMATCH };
      req.url = path;
    }
    return pathEscapesRoot(req.url!) ? { ok: false, decision: 'bad_path', answer: PATH_ESCAPES_ROOT } : undefined;
  };

  const logRecordError = (denial: Denial) => {
    if (denial.recordError) logger.error({ event: 'invalid_record', key: denial.recordError.key, reason: denial.recordError.reason }, denial.recordError.message);
  };

  /**
   * The upstream headers of a request that passed, once its assertion is there (usually at
   * once, from the signer's cache). `audience` is who the assertion is for (src/assertion/audience.ts).
   */
  const headersFor = (
    req: IncomingMessage,
    passed: { readonly token: TokenRecord | undefined; readonly via: 'bearer' | 'session' | undefined; readonly upstream: URL },
    audience: string,
    forwarded: ForwardedInfo,
    requestId: string,
    upgrade: boolean,
    bodyLength?: number,
  ): MaybePromise<string[]> => {
    const build = (assertion: string | undefined) =>
      upstreamHeaders(req.headers, {
        identity: passed.token ? identityHeaders(passed.token) : undefined,
        authorization: passed.via !== 'bearer' ? 'job' : options.keepAuthorization ? 'keep' : 'remove',
        forwarded,
        requestId,
        upgrade,
        assertion,
        bodyLength,
        defaultHost: passed.upstream.host,
      });
    const assertion = assertionFor(passed.token, audience);
    return isPromise(assertion) ? assertion.then(build) : build(assertion);
  };

  /** A page (login, refusal) with jobgate's page headers. */
  const sendPage = (res: ServerResponse, status: number, html: string, extra: OutgoingHttpHeaders = {}) => {
    const body = Buffer.from(html);
    res.writeHead(status, { ...PAGE_HEADERS, 'content-length': body.length, ...extra });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };

  /** A refusal: the login page for browsers, JSON and RFC 6750 headers for everyone else. */
  const refuse = (req: IncomingMessage, res: ServerResponse, denial: Denial, https: boolean) => {
    const clear = denial.staleSession ? { 'set-cookie': sessions.clear(https) } : {};
    const reply = denial.answer;
    if (denial.jobId !== undefined && prefersHtml(req)) {
      const auth = reply.headers['www-authenticate'] ? { 'www-authenticate': reply.headers['www-authenticate'] } : {};
      if (reply.status === 401) return sendPage(res, 401, loginPage({ jobId: denial.jobId, next: safeNext(req.url) }), { ...auth, ...clear });
      if (reply.status === 403) return sendPage(res, 403, noAccessPage(denial.jobId), auth);
      if (reply.status === 429) {
        return sendPage(res, 429, loginPage({ jobId: denial.jobId, next: safeNext(req.url), error: TOO_MANY_ATTEMPTS }), {
          'retry-after': reply.headers['retry-after'] ?? '60',
        });
      }
    }
    if (res.headersSent) return void res.destroy();
    res.writeHead(reply.status, denial.staleSession ? { ...reply.headers, ...clear } : reply.headers);
    res.end(reply.body);
  };

  async function readForm(req: IncomingMessage): Promise<URLSearchParams | Answer> {
    const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') return LOGIN_TYPE;
    if (Number(req.headers['content-length'] ?? 0) > MAX_LOGIN_BODY_BYTES) return LOGIN_TOO_LARGE;
    const body = await readBodyUpTo(req, MAX_LOGIN_BODY_BYTES);
    return body === undefined ? LOGIN_TOO_LARGE : new URLSearchParams(body.toString('utf8'));
  }

  /** /__jobgate/login and /__jobgate/logout on a job's host. */
  async function reserved(req: IncomingMessage, res: ServerResponse, target: Target, forwarded: ForwardedInfo, outcome: AccessOutcome): Promise<void> {
    const https = forwarded.proto === 'https';
    const path = req.url!.split('?')[0];
    const jobId = target.job.id;
    if (path === '/__jobgate/jwks.json') {
      outcome.decision = 'jwks';
      res.writeHead(200, JWKS_HEADERS(jwks.length));
      return void res.end(req.method === 'HEAD' ? undefined : jwks);
    }
    if (path === '/__jobgate/logout') {
      outcome.decision = 'logout';
      return sendPage(res, 200, loginPage({ jobId, next: '/', notice: 'You are logged out.' }), { 'set-cookie': sessions.clear(https) });
    }
    if (path !== '/__jobgate/login') {
      outcome.decision = 'not_found';
      return sendAnswer(res, RESERVED_NOT_FOUND);
    }
    if (req.method !== 'POST') {
      outcome.decision = 'bad_login';
      return sendAnswer(res, LOGIN_METHOD);
    }
    if (!sameOriginRequest(req, expectedOrigin(forwarded.host, https))) {
      outcome.decision = 'foreign_origin';
      return sendAnswer(res, ANSWERS.foreignOrigin);
    }
    const form = await readForm(req);
    if (!(form instanceof URLSearchParams)) {
      outcome.decision = 'bad_login';
      if (form === LOGIN_TOO_LARGE) return answerAndClose(req, res, form);
      return sendAnswer(res, form);
    }
    const next = safeNext(form.get('next'));
    const exchange = await gatekeeper.exchange(form.get('token') ?? '', target, clientAddress(forwarded), req, https);
    switch (exchange.kind) {
      case 'session':
        outcome.decision = 'login';
        outcome.tokenId = exchange.token.id;
        res.writeHead(303, { location: next, 'set-cookie': exchange.setCookie, 'cache-control': 'no-store', 'content-length': 0 });
        return void res.end();
      case 'out_of_scope':
        outcome.decision = 'login_scope_denied';
        outcome.tokenId = exchange.token.id;
        return sendPage(res, 403, noAccessPage(jobId, 'This token'));
      case 'limited':
        outcome.decision = 'too_many_failures';
        return sendPage(res, 429, loginPage({ jobId, next, error: TOO_MANY_ATTEMPTS }), {
          'retry-after': String(exchange.retryAfter),
        });
      case 'invalid':
        outcome.decision = 'login_failed';
        return sendPage(res, 401, loginPage({ jobId, next, error: LOGIN_FAILED }));
      case 'denied':
        recordOutcome(outcome, exchange.denial);
        return refuse(req, res, exchange.denial, https);
    }
  }

  /**
   * `?jobgate_token=` on a job URL: exchanged for a session, then 303 to the URL without it.
   * Followed from elsewhere while a valid session for another token exists: a page that asks first.
   */
  async function deepLink(req: IncomingMessage, res: ServerResponse, target: Target, forwarded: ForwardedInfo, link: { token: string; rest: string }, outcome: AccessOutcome) {
    const https = forwarded.proto === 'https';
    const asked = await askBeforeSwitching(gatekeeper, req, req.headers, target, link, https);
    if (asked && 'ok' in asked) {
      recordOutcome(outcome, asked);
      return refuse(req, res, asked, https);
    }
    if (asked) {
      outcome.decision = 'deep_link_confirm';
      outcome.tokenId = asked.currentTokenId;
      return sendPage(res, 409, asked.page, SWITCH_SESSION_HEADERS);
    }
    const exchange = await gatekeeper.exchange(link.token, target, clientAddress(forwarded), req, https);
    if (exchange.kind === 'denied') {
      recordOutcome(outcome, exchange.denial);
      return refuse(req, res, exchange.denial, https);
    }
    outcome.decision = exchange.kind === 'session' ? 'deep_link' : `deep_link_${exchange.kind}`;
    if (exchange.kind === 'session' || exchange.kind === 'out_of_scope') outcome.tokenId = exchange.token.id;
    const headers: OutgoingHttpHeaders = { location: link.rest, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'content-length': 0 };
    if (exchange.kind === 'session') headers['set-cookie'] = exchange.setCookie;
    res.writeHead(303, headers);
    res.end();
  }

  /** Training-API traffic: path hygiene, bearer token, route policy and scope, then forward. */
  async function apiRequest(
    route: ApiRoute,
    req: IncomingMessage,
    res: ServerResponse,
    forwarded: ForwardedInfo,
    requestId: string,
    outcome: AccessOutcome,
    since: number,
  ): Promise<void> {
    const admitted = await admitApi(route, req, forwarded, outcome, false);
    if (!admitted.ok) return refuse(req, res, admitted, false);
    const { token, admission } = admitted;
    let body: Buffer | undefined;
    if (admission.bodyCheck) {
      const checked = await route.gate.checkBody(req, admission.bodyCheck);
      if (!Buffer.isBuffer(checked)) {
        recordOutcome(outcome, { ...checked, tokenId: token.id });
        return answerAndClose(req, res, checked.answer); // part of the body may be unread
      }
      body = checked;
    }
    req.url = withoutTokenParameters(admission.url);
    const headers = await headersFor(req, { token, via: 'bearer', upstream: route.upstream }, apiAssertionAudience, forwarded, requestId, false, body?.length);
    liveSockets.track(forwarder.web(req, res, route.upstream, headers, body), admission.jobId, token, 'api', since);
  }

  /** The API checks shared by HTTP and WebSocket requests. */
  async function admitApi(route: ApiRoute, req: IncomingMessage, forwarded: ForwardedInfo, outcome: AccessOutcome, upgrade: boolean): Promise<Denial | ApiAdmitted> {
    const badPath = route.gate.pathDenial(req);
    if (badPath) {
      recordOutcome(outcome, badPath);
      return badPath;
    }
    const token = await gatekeeper.authenticateApi(req, clientAddress(forwarded));
    if ('ok' in token) {
      recordOutcome(outcome, token);
      logRecordError(token);
      return token;
    }
    outcome.tokenId = token.id;
    const admission = await route.gate.admit(req, token, upgrade);
    if (!admission.ok) {
      recordOutcome(outcome, admission);
      logRecordError(admission);
      return admission;
    }
    outcome.decision = admission.decision;
    if (admission.jobId !== undefined) outcome.jobId = admission.jobId;
    // The upstream runs the method (and path) jobgate decided on, not one a header asks for.
    removeOverrideHeaders(req.headers);
    return { ok: true, token, admission };
  }

  /** The API route when the request's Host is an API host (after requestDenial, so Host is the host decided on). */
  const apiRouteFor = (req: IncomingMessage): ApiRoute | undefined => (api && api.hosts.has(cookieHost(req)) ? api : undefined);

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const requestId = newRequestId();
    const outcome: AccessOutcome = { decision: 'pending' };
    // Changes to tokens and jobs from here on are re-checked when the response is tracked.
    const since = liveSockets.epoch;
    inFlight++;
    res.once('close', () => finished(req, requestId, started, res.statusCode, outcome, 'http'));
    if (draining()) res.shouldKeepAlive = false;
    try {
      const forwarded = forwardedInfo(req, options.trustedHops, ownScheme);
      const https = forwarded.proto === 'https';
      const refused = requestDenial(req);
      if (refused) {
        recordOutcome(outcome, refused);
        return refuse(req, res, refused, https);
      }
      const apiRoute = apiRouteFor(req);
      if (apiRoute) return await apiRequest(apiRoute, req, res, forwarded, requestId, outcome, since);
      const routed = gatekeeper.route(req);
      const target = isPromise(routed) ? await routed : routed;
      if ('ok' in target) {
        recordOutcome(outcome, target);
        logRecordError(target);
        return refuse(req, res, target, https);
      }
      outcome.jobId = target.job.id;
      const url = req.url ?? '/';
      if (url.startsWith('/__jobgate/')) return await reserved(req, res, target, forwarded, outcome);
      const link = req.method === 'GET' || req.method === 'HEAD' ? splitDeepLink(url) : undefined;
      if (link) return await deepLink(req, res, target, forwarded, link, outcome);

      const authorized = gatekeeper.authorize(req, target, clientAddress(forwarded), https);
      const admission = isPromise(authorized) ? await authorized : authorized;
      recordOutcome(outcome, admission);
      if (!admission.ok) {
        logRecordError(admission);
        return refuse(req, res, admission, https);
      }
      if (escapesBasePath(admission.upstream, url)) {
        outcome.decision = 'bad_path';
        return sendAnswer(res, ESCAPES_BASE_PATH);
      }
      // The cookie rides along with another job's page too: state changes only from the job's own.
      if (admission.via === 'session' && !isSafeMethod(req.method) && !fromOwnOrigin(req.headers, expectedOrigin(forwarded.host, https))) {
        outcome.decision = 'foreign_origin';
        return sendAnswer(res, ANSWERS.foreignOrigin);
      }
      req.url = withoutTokenParameters(url);
      const headers = headersFor(req, admission, jobAudience(target.job.id, target.port), forwarded, requestId, false);
      const response = forwarder.web(req, res, admission.upstream, isPromise(headers) ? await headers : headers);
      if (admission.token) liveSockets.track(response, admission.job.id, admission.token, 'job', since);
    } catch (error) {
      outcome.decision = 'internal_error';
      logger.error({ event: 'internal_error', err: error, requestId }, 'request failed');
      sendAnswer(res, INTERNAL_ERROR);
    }
  }

  async function onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const started = performance.now();
    const requestId = newRequestId();
    const outcome: AccessOutcome = { decision: 'pending' };
    const since = liveSockets.epoch;
    let status = 101;
    let relay: RelayedSocket | undefined;
    inFlight++;
    socket.on('error', () => socket.destroy());
    socket.once('close', () => finished(req, requestId, started, relay?.refusedWith ?? status, outcome, 'websocket'));
    const refuseUpgrade = (reply: Answer) => {
      status = reply.status;
      writeAnswer(socket, reply);
    };
    const onRelayFailure = (failedReq: IncomingMessage, reply: Answer, error: Error) => {
      status = reply.status;
      onUpstreamFailure(failedReq, reply, error);
    };
    try {
      if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
        outcome.decision = 'not_websocket';
        return refuseUpgrade(ANSWERS.notWebSocket);
      }
      const forwarded = forwardedInfo(req, options.trustedHops, ownScheme);
      const https = forwarded.proto === 'https';
      const refused = requestDenial(req);
      if (refused) {
        recordOutcome(outcome, refused);
        return refuseUpgrade(refused.answer);
      }
      const apiRoute = apiRouteFor(req);
      if (apiRoute) {
        const admitted = await admitApi(apiRoute, req, forwarded, outcome, true);
        if (socket.destroyed) return;
        if (!admitted.ok) return refuseUpgrade(admitted.answer);
        const { token, admission } = admitted;
        req.url = withoutTokenParameters(admission.url);
        // Registered before any further await: a revocation from now on closes it, even mid-handshake.
        relay = new RelayedSocket(socket);
        liveSockets.add(relay, admission.jobId, token, 'api', since);
        const headers = await headersFor(req, { token, via: 'bearer', upstream: apiRoute.upstream }, apiAssertionAudience, forwarded, requestId, true);
        relay.connect(req, head, apiRoute.upstream, headers, options.upstreamTimeoutMs, onRelayFailure, options.upstreamCookieDomain === 'keep');
        return;
      }
      const target = await gatekeeper.route(req);
      if ('ok' in target) {
        recordOutcome(outcome, target);
        logRecordError(target);
        return refuseUpgrade(target.answer);
      }
      outcome.jobId = target.job.id;
      if ((req.url ?? '/').startsWith('/__jobgate/')) {
        outcome.decision = 'not_found';
        return refuseUpgrade(RESERVED_NOT_FOUND);
      }
      const admission = await gatekeeper.authorize(req, target, clientAddress(forwarded), https);
      recordOutcome(outcome, admission);
      if (socket.destroyed) return;
      if (!admission.ok) {
        logRecordError(admission);
        return refuseUpgrade(admission.answer);
      }
      // A cookie rides along with any page's WebSocket: only the job's own pages may use it.
      if (admission.via === 'session' && req.headers.origin !== undefined && req.headers.origin.toLowerCase() !== expectedOrigin(forwarded.host, https)) {
        outcome.decision = 'foreign_origin';
        return refuseUpgrade(ANSWERS.foreignOrigin);
      }
      if (escapesBasePath(admission.upstream, req.url ?? '/')) {
        outcome.decision = 'bad_path';
        return refuseUpgrade(ESCAPES_BASE_PATH);
      }
      relay = new RelayedSocket(socket);
      liveSockets.add(relay, admission.job.id, admission.token, 'job', since);
      req.url = withoutTokenParameters(req.url ?? '/');
      const headers = await headersFor(req, admission, jobAudience(target.job.id, target.port), forwarded, requestId, true);
      relay.connect(req, head, admission.upstream, headers, options.upstreamTimeoutMs, onRelayFailure, options.upstreamCookieDomain === 'keep');
    } catch (error) {
      outcome.decision = 'internal_error';
      logger.error({ event: 'internal_error', err: error, requestId }, 'upgrade failed');
      refuseUpgrade(INTERNAL_ERROR);
    }
  }

  function onClientError(error: NodeJS.ErrnoException, socket: Socket): void {
    if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const reply = error.code === 'HPE_HEADER_OVERFLOW' ? HEADERS_TOO_LARGE : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? REQUEST_TIMEOUT : CLIENT_ERROR;
    logger.info({ event: 'client_error', code: error.code, status: reply.status, remoteAddress: socket.remoteAddress }, 'malformed or slow request refused');
    writeAnswer(socket, reply);
  }

  /** Requests and WebSockets not yet finished. */
  const active = () => inFlight;

  return { onRequest, onUpgrade, onClientError, active };
}

/** Copies what the access log says about an admission. */
function recordOutcome(outcome: AccessOutcome, admission: Admission | Denial): void {
  outcome.decision = admission.decision;
  if (admission.ok) {
    outcome.jobId = admission.job.id;
    if (admission.token) outcome.tokenId = admission.token.id;
  } else {
    if (admission.jobId) outcome.jobId = admission.jobId;
    if (admission.tokenId) outcome.tokenId = admission.tokenId;
  }
}

/** Logs an upstream that refused, failed or timed out (no address in the answer; the log has the host). */
export function upstreamFailureLogger(logger: Logger) {
  return (req: IncomingMessage, reply: Answer, error: Error): void => {
    logger.warn({ event: 'upstream_error', status: reply.status, code: (error as NodeJS.ErrnoException).code, host: req.headers.host }, 'upstream failed');
  };
}

function hostHeaderCount(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') count++;
  }
  return count;
}
