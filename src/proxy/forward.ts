import { Agent as HttpAgent, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import { ANSWERS, sendAnswer, type Answer } from '../http/answers.js';

/** Called once when forwarding fails, with the answer that was (or could not be) sent. */
export type ForwardFailure = (req: IncomingMessage, answer: Answer, error: Error) => void;

const TIMED_OUT = Symbol('jobgate.upstreamTimedOut');
type MaybeTimedOut = IncomingMessage & { [TIMED_OUT]?: boolean };


/**
 * Streams HTTP requests to upstreams through http-proxy-3, with a
 * keep-alive connection pool, an upstream timeout, and upstream failures turned into
 * 502/504 answers that reveal no internal address.
 */
export class Forwarder {
  private readonly proxy: ProxyServer;
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });

  constructor(
    upstreamTimeoutMs: number,
    private readonly onFailure: ForwardFailure,
    /** True once shutdown began: responses from then on close their connection. */
    draining: () => boolean = () => false,
  ) {
    // xfwd is off: upstreamHeaders sets X-Forwarded-* itself (http-proxy would append to client values).
    this.proxy = createProxyServer({ xfwd: false, proxyTimeout: upstreamTimeoutMs });
    this.proxy.on('proxyReq', (proxyReq, req) => {
      proxyReq.once('timeout', () => {
        (req as MaybeTimedOut)[TIMED_OUT] = true;
      });
    });
    this.proxy.on('proxyRes', (proxyRes, _req, res) => {
      // Connection management is per hop: ours follows the client's request, not the upstream's answer.
      if (draining()) (res as ServerResponse).shouldKeepAlive = false;
      delete proxyRes.headers['keep-alive'];
      proxyRes.headers.connection = (res as ServerResponse).shouldKeepAlive ? 'keep-alive' : 'close';
    });
    this.proxy.on('error', (error, req, res) => this.failed(error, req, res as ServerResponse));
    this.proxy.on('econnreset', (_error, _req, res) => {
      // The client went away first: nothing to answer.
      (res as ServerResponse).destroy();
    });
  }

  /** Forwards `req`; with `body`, those bytes instead of the request's stream (a body jobgate read and checked). */
  web(req: IncomingMessage, res: ServerResponse, target: URL, body?: Buffer): void {
    const agent = target.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
    this.proxy.web(req, res, body === undefined ? { target, agent } : { target, agent, buffer: Readable.from([body]) });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private failed(error: Error, req: IncomingMessage, res: ServerResponse): void {
    const timedOut = (req as MaybeTimedOut)[TIMED_OUT] === true || (error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
    const answer = timedOut ? ANSWERS.upstreamTimeout : ANSWERS.upstreamUnreachable;
    this.onFailure(req, answer, error);
    sendAnswer(res, answer);
  }
}
