import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Agent, Dispatcher } from 'undici';
import UndiciAgent from 'undici/lib/dispatcher/agent.js';
import { navigationReply } from '../gate/refusal.js';
import { ANSWERS, sendAnswer, type Answer } from '../http/answers.js';
import { upstreamSetCookie } from '../session/cookie.js';
import type { TokenRecord } from '../tokens/record.js';
import type { ResponseTracker, TrackedResponse, Traffic } from './live-sockets.js';
import { upstreamPath } from './upstream-path.js';

/** Called once when forwarding fails, with the answer that was (or could not be) sent. */
export type ForwardFailure = (req: IncomingMessage, answer: Answer, error: Error) => void;

/** undici's codes for an upstream that stayed silent too long: a 504, not a 502. */
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/**
 * Streams HTTP requests to upstreams through undici's connection pools (one per upstream
 * origin, kept alive): the request with the headers the handler built, the upstream's
 * answer without its own hop-by-hop headers, a timeout on silence, and upstream failures
 * turned into 502/504 answers that reveal no internal address.
 *
 * undici rather than node:http's client or http-proxy-3: on the hot path it costs about
 * half as much CPU per request (docs/benchmarks.md).
 */
export class Forwarder {
  private readonly agent: Agent;

  constructor(
    /** How long an upstream may stay silent: to connect, before its answer, between chunks of it. */
    timeoutMs: number,
    private readonly onFailure: ForwardFailure,
    /** True once shutdown began: responses from then on close their connection. */
    private readonly draining: () => boolean = () => false,
    /** JOBGATE_UPSTREAM_COOKIE_DOMAIN=keep: Set-Cookie keeps its Domain attribute. */
    private readonly keepCookieDomain = false,
  ) {
    this.agent = new UndiciAgent({ headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connect: { timeout: timeoutMs } });
  }

  /**
   * Forwards `req` with `headers` (see upstreamHeaders); with `body`, those bytes instead of the
   * request's stream. Returns the response in flight, which jobgate can end when access is revoked.
   */
  web(req: IncomingMessage, res: ServerResponse, target: URL, headers: readonly string[], body?: Buffer): TrackedResponse {
    const relay = new ResponseRelay(req, res, this.onFailure, this.draining, this.keepCookieDomain);
    res.once('close', () => relay.clientClosed());
    this.agent.dispatch(
      {
        origin: target.origin,
        path: upstreamPath(target, req.url ?? '/'),
        method: req.method as Dispatcher.HttpMethod,
        headers: headers as string[],
        body: body ?? (hasBody(req) ? req : null),
      },
      relay,
    );
    return relay;
  }

  /** Closes the pools' connections. */
  close(): Promise<void> {
    return this.agent.destroy();
  }
}

/** Writes one upstream response to the client, with backpressure both ways. */
class ResponseRelay implements Dispatcher.DispatchHandler, TrackedResponse {
  private controller: Dispatcher.DispatchController | undefined;
  private clientGone = false;
  private waitingForDrain = false;
  /** Access was revoked while the response was in flight: jobgate ended it. */
  private revoked = false;
  /** The response is framed by a Content-Length: cutting it short can only drop the connection. */
  private lengthFramed = false;
  // Set when the response is tracked for revocation (LiveSockets.track).
  jobId: string | undefined = undefined;
  token: TokenRecord | undefined = undefined;
  traffic: Traffic = 'job';
  tracker: ResponseTracker | undefined = undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly onFailure: ForwardFailure,
    private readonly draining: () => boolean,
    private readonly keepCookieDomain: boolean,
  ) {}

  get kind(): 'http' {
    return 'http';
  }

  get isClosing(): boolean {
    return this.revoked || this.clientGone || this.res.destroyed || this.res.writableFinished;
  }

  /** The response is over (sent, or the client left): the upstream request is dropped if it was not complete. */
  clientClosed(): void {
    this.tracker?.forget(this);
    if (this.res.writableFinished) return;
    this.clientGone = true;
    this.controller?.abort(new Error('the client closed the connection'));
  }

  /**
   * Ends the response because its access was revoked: `refusal` when nothing was sent yet, else
   * a clean end of a chunked (or close-delimited) body, else the connection is dropped.
   */
  revoke(_reason: string, refusal: Answer): void {
    if (this.isClosing) return;
    this.revoked = true;
    this.controller?.abort(new Error('access revoked'));
    const res = this.res;
    if (!res.headersSent) {
      res.shouldKeepAlive = false;
      return sendAnswer(res, refusal);
    }
    if (this.lengthFramed || this.waitingForDrain) return void res.destroy();
    res.end();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(new Error('the client closed the connection'));
    else if (this.revoked) controller.abort(new Error('access revoked'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (this.revoked) return;
    // Connection management is per hop: ours follows the client's request, not the upstream's answer.
    if (this.draining()) this.res.shouldKeepAlive = false;
    this.lengthFramed = headers['content-length'] !== undefined;
    this.res.writeHead(statusCode, statusMessage, endToEndHeaders(headers, this.keepCookieDomain));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.revoked) return;
    if (this.res.write(chunk) || this.waitingForDrain) return;
    this.waitingForDrain = true;
    controller.pause();
    this.res.once('drain', () => {
      this.waitingForDrain = false;
      controller.resume();
    });
  }

  onResponseEnd(): void {
    if (!this.revoked) this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    // jobgate dropped the upstream request because the client left or access was revoked: answered already.
    if (this.clientGone || this.revoked || this.res.destroyed) return;
    const code = (error as NodeJS.ErrnoException).code;
    const answer = code !== undefined && TIMEOUT_CODES.has(code) ? ANSWERS.upstreamTimeout : ANSWERS.upstreamUnreachable;
    this.onFailure(this.req, answer, error);
    // A person's navigation gets a page saying the job is not answering; clients keep the JSON.
    sendAnswer(this.res, navigationReply(this.req, answer));
  }
}

/** True when the request announces a body (RFC 9112 6.3): a Transfer-Encoding, or a Content-Length above 0. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * The upstream's response headers that the client may see, as a flat [name, value, ...]
 * list: without the headers of the upstream connection (RFC 9110 7.6.1), which Node writes
 * anew for the client's (Connection, Keep-Alive, framing), and without cookies that would toss
 * jobgate's own or reach sibling jobs (see upstreamSetCookie).
 */
export function endToEndHeaders(headers: IncomingHttpHeaders, keepCookieDomain = false): string[] {
  const connection = headers.connection;
  const listed = connection === undefined || connection === 'keep-alive' || connection === 'close' ? undefined : connectionTokens(connection);
  const kept: string[] = [];
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    const value = headers[name]!;
    if (name === 'set-cookie') {
      for (const each of typeof value === 'string' ? [value] : value) {
        const cookie = upstreamSetCookie(each, keepCookieDomain);
        if (cookie !== undefined) kept.push(name, cookie);
      }
    } else if (typeof value === 'string') kept.push(name, value);
    else for (const each of value) kept.push(name, each);
  }
  return kept;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

/** Names a Connection header lists beyond keep-alive and close. */
function connectionTokens(value: string): Set<string> | undefined {
  let names: Set<string> | undefined;
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name === '' || name === 'close' || name === 'keep-alive' || PROTECTED.has(name)) continue;
    (names ??= new Set()).add(name);
  }
  return names;
}

/** The length frames the message itself: a Connection header cannot make it hop-by-hop. */
const PROTECTED = new Set(['content-length']);
