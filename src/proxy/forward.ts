import { Agent as HttpAgent, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import { ANSWERS, sendAnswer, writeAnswer, type Answer } from '../http/answers.js';

/** Called once when forwarding fails, with the answer that was (or could not be) sent. */
export type ForwardFailure = (req: IncomingMessage, answer: Answer, error: Error) => void;

const TIMED_OUT = Symbol('jobgate.upstreamTimedOut');
const UPGRADED = Symbol('jobgate.upgraded');
type MaybeTimedOut = IncomingMessage & { [TIMED_OUT]?: boolean };
type MaybeUpgraded = Socket & { [UPGRADED]?: boolean };

/**
 * Streams requests and WebSocket connections to upstreams through http-proxy-3, with a
 * keep-alive connection pool, an upstream timeout, and upstream failures turned into
 * 502/504 answers that reveal no internal address.
 */
export class Forwarder {
  private readonly proxy: ProxyServer;
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });

  constructor(
    private readonly upstreamTimeoutMs: number,
    private readonly onFailure: ForwardFailure,
  ) {
    // xfwd is off: prepareUpstreamHeaders sets X-Forwarded-* itself (http-proxy would append to client values).
    this.proxy = createProxyServer({ xfwd: false, ws: true, proxyTimeout: upstreamTimeoutMs });
    this.proxy.on('proxyReq', (proxyReq, req) => {
      proxyReq.once('timeout', () => {
        (req as MaybeTimedOut)[TIMED_OUT] = true;
      });
    });
    this.proxy.on('proxyReqWs', (proxyReq, req, socket) => {
      // A handshake the upstream never answers must not hang; once upgraded, no timeout.
      proxyReq.setTimeout(upstreamTimeoutMs, () => {
        (req as MaybeTimedOut)[TIMED_OUT] = true;
        proxyReq.destroy();
      });
      proxyReq.once('upgrade', () => {
        proxyReq.setTimeout(0);
        (socket as MaybeUpgraded)[UPGRADED] = true;
      });
    });
    this.proxy.on('error', (error, req, resOrSocket) => this.failed(error, req, resOrSocket as ServerResponse | Socket));
    this.proxy.on('econnreset', (_error, _req, res) => {
      // The client went away first: nothing to answer.
      (res as ServerResponse).destroy();
    });
  }

  web(req: IncomingMessage, res: ServerResponse, target: URL): void {
    this.proxy.web(req, res, { target, agent: target.protocol === 'https:' ? this.httpsAgent : this.httpAgent });
  }

  ws(req: IncomingMessage, socket: Socket, head: Buffer, target: URL): void {
    // The upgrade needs a connection of its own: no pooling agent.
    socket.on('error', () => socket.destroy());
    this.proxy.ws(req, socket, head, { target, agent: false });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private failed(error: Error, req: IncomingMessage, resOrSocket: ServerResponse | Socket): void {
    const timedOut = (req as MaybeTimedOut)[TIMED_OUT] === true || (error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
    const answer = timedOut ? ANSWERS.upstreamTimeout : ANSWERS.upstreamUnreachable;
    this.onFailure(req, answer, error);
    if ('writeHead' in resOrSocket) {
      sendAnswer(resOrSocket, answer);
    } else if (!resOrSocket.destroyed && !(resOrSocket as MaybeUpgraded)[UPGRADED]) {
      // A WebSocket whose upstream failed before the handshake: answer on the raw socket.
      writeAnswer(resOrSocket, answer);
    }
  }
}
