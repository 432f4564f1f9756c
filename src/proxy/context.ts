import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AssertionSigner } from '../assertion/signer.js';
import type { ConsoleApp } from '../console/app.js';
import type { ControlApi } from '../control/http.js';
import { isDenial, isPromise, type Denial, type Gate, type GateRequest, type JobAdmission, type MaybePromise, type Outcome } from '../gate/index.js';
import { sendAnswer, type Answer } from '../http/answers.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { TokenRecord } from '../tokens/record.js';
import type { Forwarder } from './forward.js';
import { identityHeaders } from '../gate/identity.js';
import { clientAddress, upstreamHeaders, type ForwardedInfo } from './headers.js';
import type { LiveSockets } from './live-sockets.js';
import type { RelayedSocket, RelayFailure } from './websocket.js';

export interface ProxyOptions {
  readonly trustedHops: number;
  readonly keepAuthorization: boolean;
  readonly maxHeaders: number;
  readonly upstreamTimeoutMs: number;
  readonly publicScheme: 'http' | 'https' | undefined;
  readonly upstreamCookieDomain: 'remove' | 'keep';
}

export interface ProxyDeps {
  readonly gate: Gate;
  readonly signer: AssertionSigner;
  /** The JWKS document, served at /__jobgate/jwks.json on every job host. */
  readonly jwks: Buffer;
  readonly metrics: Metrics;
  /** True once shutdown began: responses then close their connection. */
  readonly draining: () => boolean;
  readonly forwarder: Forwarder;
  readonly liveSockets: LiveSockets;
  readonly logger: Logger;
  /** jobgate's control API, when JOBGATE_CONTROL_HOST is set. */
  readonly control?: ControlApi | undefined;
  /** The token console on the control host, when JOBGATE_CONTROL_HOST is set. */
  readonly console?: ConsoleApp | undefined;
}

/** What every route of the proxy listener shares, built once. */
export interface ProxyContext extends ProxyDeps {
  readonly options: ProxyOptions;
  /** The audience of assertions for the training API (src/assertion/audience.ts). */
  readonly apiAudience: string;
}

/** One request (or WebSocket handshake) as it walks a route. */
export interface Call {
  readonly req: IncomingMessage;
  /** The request as the gate reads it. */
  readonly view: GateRequest;
  readonly forwarded: ForwardedInfo;
  readonly outcome: Outcome;
  readonly requestId: string;
  /** The revocation epoch when the request arrived: later changes are re-checked when it is tracked. */
  readonly since: number;
}

export interface HttpCall extends Call {
  readonly res: ServerResponse;
}

export interface UpgradeCall extends Call {
  readonly socket: Socket;
  readonly head: Buffer;
  /** Answers the handshake with `reply` instead of relaying it, and closes the socket. */
  refuse(reply: Answer): void;
  /** The relay this handshake becomes: its outcome is the one the access line reports. */
  relay(): RelayedSocket;
  /** Logs an upstream that failed the relayed handshake, whose answer the access line reports. */
  readonly onRelayFailure: RelayFailure;
}

/** The request as the gate reads it, once the request checks passed. */
export function gateRequest(req: IncomingMessage, forwarded: ForwardedInfo): GateRequest {
  return {
    method: req.method ?? 'GET',
    host: req.headers.host,
    publicHost: forwarded.host,
    url: req.url ?? '/',
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    client: clientAddress(forwarded),
    https: forwarded.proto === 'https',
  };
}

/** Copies what the access log says about an admission or a denial. */
export function recordOutcome(outcome: Outcome, result: JobAdmission | Denial): void {
  outcome.decision = result.decision;
  if (isDenial(result)) {
    if (result.jobId) outcome.jobId = result.jobId;
    if (result.tokenId) outcome.tokenId = result.tokenId;
  } else {
    outcome.jobId = result.job.id;
    if (result.token) outcome.tokenId = result.token.id;
  }
}

/** Logs a record that could not be read, with its key (never its content). */
function logRecordError(logger: Logger, denial: Denial): void {
  const error = denial.recordError;
  if (error) logger.error({ event: 'invalid_record', key: error.key, reason: error.reason }, error.message);
}

/** Every route refuses an HTTP request the same way: access line, record errors logged, the gate's answer. */
export function refuse(ctx: ProxyContext, call: HttpCall, denial: Denial): void {
  recordOutcome(call.outcome, denial);
  logRecordError(ctx.logger, denial);
  sendAnswer(call.res, ctx.gate.refusal(denial, call.view));
}

/** As {@link refuse}, for a WebSocket handshake: never a page, always the JSON answer. */
export function refuseUpgrade(ctx: ProxyContext, call: UpgradeCall, denial: Denial): void {
  recordOutcome(call.outcome, denial);
  logRecordError(ctx.logger, denial);
  call.refuse(denial.answer);
}

/** Who passed and how: what the upstream headers say about the request. */
export interface Passed {
  readonly token: TokenRecord | undefined;
  readonly via: 'bearer' | 'session' | undefined;
  readonly upstream: URL;
}

/**
 * The upstream headers of a request that passed, once its assertion is there (usually at once,
 * from the signer's cache). `audience` is who the assertion is for (src/assertion/audience.ts).
 */
export function headersFor(ctx: ProxyContext, call: Call, passed: Passed, audience: string, upgrade: boolean, bodyLength?: number): MaybePromise<string[]> {
  const build = (assertion: string | undefined) =>
    upstreamHeaders(call.req.headers, {
      identity: passed.token ? identityHeaders(passed.token) : undefined,
      authorization: passed.via !== 'bearer' ? 'job' : ctx.options.keepAuthorization ? 'keep' : 'remove',
      forwarded: call.forwarded,
      requestId: call.requestId,
      upgrade,
      assertion,
      bodyLength,
      defaultHost: passed.upstream.host,
    });
  if (passed.token === undefined) return build(undefined);
  const assertion = ctx.signer.cached(passed.token, audience) ?? ctx.signer.assertionFor(passed.token, audience);
  return isPromise(assertion) ? assertion.then(build) : build(assertion);
}

/** Connects a handshake's relay to its upstream, with the listener's timeout and cookie policy. */
export function connectRelay(ctx: ProxyContext, call: UpgradeCall, relay: RelayedSocket, upstream: URL, headers: string[]): void {
  relay.connect(call.req, call.head, upstream, headers, ctx.options.upstreamTimeoutMs, call.onRelayFailure, ctx.options.upstreamCookieDomain === 'keep');
}
