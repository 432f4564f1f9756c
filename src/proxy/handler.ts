import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { answer, ANSWERS, sendAnswer, writeAnswer, type Answer } from '../http/answers.js';
import { logAccess } from '../observability/access-log.js';
import type { Logger } from '../observability/logger.js';
import type { Admission, Gatekeeper } from './admission.js';
import type { Forwarder } from './forward.js';
import { clientAddress, forwardedInfo, identityHeaders, prepareUpstreamHeaders, type ForwardedInfo } from './headers.js';
import type { LiveSockets } from './live-sockets.js';
import { relayWebSocket } from './websocket.js';

export interface HandlerOptions {
  readonly trustedHops: number;
  readonly keepAuthorization: boolean;
  readonly maxHeaders: number;
  readonly upstreamTimeoutMs: number;
}

export interface HandlerDeps {
  readonly gatekeeper: Gatekeeper;
  readonly forwarder: Forwarder;
  readonly liveSockets: LiveSockets;
  readonly logger: Logger;
}

const INTERNAL_ERROR = answer(500, 'internal_error', 'jobgate failed to handle this request. The error is in its log.');
const CLIENT_ERROR = answer(400, 'bad_request', 'The request is malformed.');
const HEADERS_TOO_LARGE = answer(431, 'request_header_fields_too_large', 'The request headers are too large.');
const REQUEST_TIMEOUT = answer(408, 'request_timeout', 'The request was not received in time.');
const MISSING_HOST = answer(400, 'bad_request', 'An HTTP/1.1 request needs a Host header.');

/**
 * The proxy listener's handlers. Every request walks one way: admit (route, credential,
 * identity, decision), then forward or answer, then one access log line.
 */
export function createProxyHandlers(options: HandlerOptions, deps: HandlerDeps) {
  const { gatekeeper, forwarder, liveSockets, logger } = deps;
  const requestIdPrefix = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
  let requestCounter = 0;
  const nextRequestId = () => `${requestIdPrefix}-${(requestCounter++).toString(36)}`;

  const onUpstreamFailure = upstreamFailureLogger(logger);

  const admit = async (req: IncomingMessage, forwarded: ForwardedInfo): Promise<Admission> => {
    if (req.headers.host === undefined && req.httpVersion !== '1.0') return { ok: false, decision: 'missing_host', answer: MISSING_HOST };
    if (req.rawHeaders.length > options.maxHeaders * 2) return { ok: false, decision: 'too_many_headers', answer: ANSWERS.tooManyHeaders };
    const admission = await gatekeeper.admit(req, clientAddress(forwarded));
    if (!admission.ok && admission.recordError) {
      logger.error({ event: 'invalid_record', key: admission.recordError.key, reason: admission.recordError.reason }, admission.recordError.message);
    }
    return admission;
  };

  const rewriteHeaders = (req: IncomingMessage, admission: Extract<Admission, { ok: true }>, forwarded: ForwardedInfo, requestId: string, upgrade: boolean) => {
    prepareUpstreamHeaders(req.headers, {
      identity: admission.token ? identityHeaders(admission.token) : undefined,
      stripAuthorization: !options.keepAuthorization && admission.decision === 'allowed',
      forwarded,
      requestId,
      upgrade,
    });
  };

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const requestId = nextRequestId();
    let admission: Admission | undefined;
    res.once('close', () => logAccess(logger, req, requestId, started, res.statusCode, admission, 'http'));
    try {
      const forwarded = forwardedInfo(req, options.trustedHops, 'http');
      admission = await admit(req, forwarded);
      if (!admission.ok) return sendAnswer(res, admission.answer);
      rewriteHeaders(req, admission, forwarded, requestId, false);
      forwarder.web(req, res, admission.upstream);
    } catch (error) {
      logger.error({ event: 'internal_error', err: error, requestId }, 'request failed');
      sendAnswer(res, INTERNAL_ERROR);
    }
  }

  async function onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const started = performance.now();
    const requestId = nextRequestId();
    let admission: Admission | undefined;
    let status = 101;
    socket.on('error', () => socket.destroy());
    socket.once('close', () => logAccess(logger, req, requestId, started, status, admission, 'websocket'));
    const refuse = (reply: Answer) => {
      status = reply.status;
      writeAnswer(socket, reply);
    };
    try {
      if (req.headers.upgrade?.toLowerCase() !== 'websocket') return refuse(ANSWERS.notWebSocket);
      const forwarded = forwardedInfo(req, options.trustedHops, 'http');
      admission = await admit(req, forwarded);
      if (socket.destroyed) return;
      if (!admission.ok) return refuse(admission.answer);
      rewriteHeaders(req, admission, forwarded, requestId, true);
      const relay = relayWebSocket(req, socket, head, admission.upstream, options.upstreamTimeoutMs, (failedReq, reply, error) => {
        status = reply.status;
        onUpstreamFailure(failedReq, reply, error);
      });
      liveSockets.add(relay, admission.job.id, admission.token);
    } catch (error) {
      logger.error({ event: 'internal_error', err: error, requestId }, 'upgrade failed');
      refuse(INTERNAL_ERROR);
    }
  }

  function onClientError(error: NodeJS.ErrnoException, socket: Socket): void {
    if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const reply = error.code === 'HPE_HEADER_OVERFLOW' ? HEADERS_TOO_LARGE : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? REQUEST_TIMEOUT : CLIENT_ERROR;
    logger.info({ event: 'client_error', code: error.code, status: reply.status, remoteAddress: socket.remoteAddress }, 'malformed or slow request refused');
    writeAnswer(socket, reply);
  }

  return { onRequest, onUpgrade, onClientError };
}

/** Logs an upstream that refused, failed or timed out (no address in the answer; the log has the host). */
export function upstreamFailureLogger(logger: Logger) {
  return (req: IncomingMessage, reply: Answer, error: Error): void => {
    logger.warn({ event: 'upstream_error', status: reply.status, code: (error as NodeJS.ErrnoException).code, host: req.headers.host }, 'upstream failed');
  };
}
