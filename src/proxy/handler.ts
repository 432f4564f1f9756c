import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { apiAudience } from '../assertion/audience.js';
import { isDenial, isPromise, type MaybePromise, type Outcome } from '../gate/index.js';
import { answer, ANSWERS, sendAnswer, writeAnswer, type Answer } from '../http/answers.js';
import { AccessLog, type AccessSubject } from '../observability/access-log.js';
import type { Logger } from '../observability/logger.js';
import { newRequestId } from '../observability/request-id.js';
import { splitDeepLink } from '../session/browser.js';
import { apiHttp, apiWebSocket } from './api-route.js';
import { gateRequest, refuse, refuseUpgrade, type HttpCall, type ProxyContext, type ProxyDeps, type ProxyOptions, type UpgradeCall } from './context.js';
import { controlHttp, controlUpgrade } from './control-route.js';
import { deepLink } from './deep-link.js';
import { forwardedInfo } from './headers.js';
import { jobHttp, jobWebSocket } from './job-route.js';
import { requestDenial } from './request-checks.js';
import { RESERVED_NOT_FOUND, RESERVED_PREFIX, reservedPage } from './reserved-pages.js';
import { RelayedSocket } from './websocket.js';

const INTERNAL_ERROR = answer(500, 'internal_error', 'jobgate failed to handle this request. The error is in its log.');
const CLIENT_ERROR = answer(400, 'bad_request', 'The request is malformed.');
const HEADERS_TOO_LARGE = answer(431, 'request_header_fields_too_large', 'The request headers are too large.');
const REQUEST_TIMEOUT = answer(408, 'request_timeout', 'The request was not received in time.');

/** Counts the requests and WebSockets in flight, and writes the access line and metrics of each as it ends. */
class RequestLedger {
  private readonly accessLog: AccessLog;
  inFlight = 0;

  constructor(
    private readonly metrics: ProxyDeps['metrics'],
    logger: Logger,
  ) {
    this.accessLog = new AccessLog(logger);
  }

  finished(req: AccessSubject, requestId: string, started: number, status: number, outcome: Outcome, kind: 'http' | 'websocket'): void {
    this.inFlight--;
    const durationMs = this.accessLog.write(req, requestId, started, status, outcome, kind);
    this.metrics.request(outcome.decision, status, durationMs / 1000);
  }
}

/**
 * The proxy listener's handlers. Every request walks one way: the request checks, then the
 * route (training API, jobgate's own pages, deep link, job traffic), each asking the gate
 * (src/gate/) and forwarding or answering, then one access log line.
 */
export function createProxyHandlers(options: ProxyOptions, deps: ProxyDeps) {
  const ctx: ProxyContext = { ...deps, options, apiAudience: deps.gate.api ? apiAudience(options.publicScheme ?? 'http', deps.gate.api.hosts) : '' };
  const ledger = new RequestLedger(deps.metrics, deps.logger);
  return {
    onRequest: (req: IncomingMessage, res: ServerResponse) => onRequest(ctx, ledger, req, res),
    onUpgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => onUpgrade(ctx, ledger, req, socket, head),
    onClientError: (error: NodeJS.ErrnoException, socket: Socket) => onClientError(deps.logger, error, socket),
    /** Requests and WebSockets not yet finished. */
    active: () => ledger.inFlight,
  };
}

async function onRequest(ctx: ProxyContext, ledger: RequestLedger, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const requestId = newRequestId();
  const outcome: Outcome = { decision: 'pending' };
  const since = ctx.liveSockets.epoch;
  ledger.inFlight++;
  res.once('close', () => ledger.finished(req, requestId, started, res.statusCode, outcome, 'http'));
  if (ctx.draining()) res.shouldKeepAlive = false;
  try {
    const forwarded = forwardedInfo(req, ctx.options.trustedHops, ctx.options.publicScheme ?? 'http');
    const refused = requestDenial(req, ctx.options.maxHeaders);
    const call: HttpCall = { req, res, view: gateRequest(req, forwarded), forwarded, outcome, requestId, since };
    const done = refused ? refuse(ctx, call, refused) : routeHttp(ctx, call);
    if (isPromise(done)) await done;
  } catch (error) {
    outcome.decision = 'internal_error';
    ctx.logger.error({ event: 'internal_error', err: error, requestId }, 'request failed');
    sendAnswer(res, INTERNAL_ERROR);
  }
}

async function onUpgrade(ctx: ProxyContext, ledger: RequestLedger, req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
  const started = performance.now();
  const requestId = newRequestId();
  const outcome: Outcome = { decision: 'pending' };
  let status = 101;
  let relay: RelayedSocket | undefined;
  ledger.inFlight++;
  socket.on('error', () => socket.destroy());
  // A WebSocket may stay open for hours: its close keeps what the access line names, not the request.
  const subject: AccessSubject = { method: req.method, url: req.url, headers: { host: req.headers.host } };
  socket.once('close', () => ledger.finished(subject, requestId, started, relay?.refusedWith ?? status, outcome, 'websocket'));
  const refuseWith = (reply: Answer) => {
    status = reply.status;
    writeAnswer(socket, reply);
  };
  try {
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
      outcome.decision = 'not_websocket';
      return refuseWith(ANSWERS.notWebSocket);
    }
    const forwarded = forwardedInfo(req, ctx.options.trustedHops, ctx.options.publicScheme ?? 'http');
    const refused = requestDenial(req, ctx.options.maxHeaders);
    const view = gateRequest(req, forwarded);
    const since = ctx.liveSockets.epoch;
    const onRelayFailure = (failed: IncomingMessage, reply: Answer, error: Error): void => {
      status = reply.status;
      logUpstreamFailure(ctx.logger, failed, reply, error);
    };
    const call: UpgradeCall = {
      req,
      socket,
      head,
      view,
      forwarded,
      outcome,
      requestId,
      since,
      refuse: refuseWith,
      relay: () => (relay = new RelayedSocket(socket)),
      onRelayFailure,
    };
    await (refused ? refuseUpgrade(ctx, call, refused) : routeUpgrade(ctx, call));
  } catch (error) {
    outcome.decision = 'internal_error';
    ctx.logger.error({ event: 'internal_error', err: error, requestId }, 'upgrade failed');
    refuseWith(INTERNAL_ERROR);
  }
}

function onClientError(logger: Logger, error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  const reply = error.code === 'HPE_HEADER_OVERFLOW' ? HEADERS_TOO_LARGE : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? REQUEST_TIMEOUT : CLIENT_ERROR;
  logger.info({ event: 'client_error', code: error.code, status: reply.status, remoteAddress: socket.remoteAddress }, 'malformed or slow request refused');
  writeAnswer(socket, reply);
}

/** Which route an HTTP request takes: the control API, the training API, jobgate's pages, a deep link, or the job. */
function routeHttp(ctx: ProxyContext, call: HttpCall): MaybePromise<void> {
  if (ctx.control && ctx.gate.isControl(call.view)) return controlHttp(ctx, call, ctx.control);
  const api = ctx.gate.apiFor(call.view);
  if (api) return apiHttp(ctx, call, api);
  const routed = ctx.gate.target(call.view);
  return isPromise(routed) ? routed.then((target) => routeToJob(ctx, call, target)) : routeToJob(ctx, call, routed);
}

function routeToJob(ctx: ProxyContext, call: HttpCall, target: Awaited<ReturnType<ProxyContext['gate']['target']>>): MaybePromise<void> {
  if (isDenial(target)) return refuse(ctx, call, target);
  call.outcome.jobId = target.job.id;
  const { url, method } = call.view;
  if (url.startsWith(RESERVED_PREFIX)) return reservedPage(ctx, call, target);
  const link = method === 'GET' || method === 'HEAD' ? splitDeepLink(url) : undefined;
  if (link) return deepLink(ctx, call, target, link);
  return jobHttp(ctx, call, target);
}

/** Which route a WebSocket handshake takes: the training API or the job (jobgate's pages have none). */
async function routeUpgrade(ctx: ProxyContext, call: UpgradeCall): Promise<void> {
  if (ctx.control && ctx.gate.isControl(call.view)) return controlUpgrade(call);
  const api = ctx.gate.apiFor(call.view);
  if (api) return apiWebSocket(ctx, call, api);
  const target = await ctx.gate.target(call.view);
  if (isDenial(target)) return refuseUpgrade(ctx, call, target);
  call.outcome.jobId = target.job.id;
  if (call.view.url.startsWith(RESERVED_PREFIX)) {
    call.outcome.decision = 'not_found';
    return call.refuse(RESERVED_NOT_FOUND);
  }
  return jobWebSocket(ctx, call, target);
}

/** Logs an upstream that refused, failed or timed out (no address in the answer; the log has the host). */
export function logUpstreamFailure(logger: Logger, req: IncomingMessage, reply: Answer, error: Error): void {
  logger.warn({ event: 'upstream_error', status: reply.status, code: (error as NodeJS.ErrnoException).code, host: req.headers.host }, 'upstream failed');
}

/** {@link logUpstreamFailure} for one logger, as the forwarder takes it. */
export function upstreamFailureLogger(logger: Logger) {
  return (req: IncomingMessage, reply: Answer, error: Error): void => logUpstreamFailure(logger, req, reply, error);
}
