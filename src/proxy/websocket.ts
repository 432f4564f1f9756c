import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { ANSWERS, writeAnswer, type Answer } from '../http/answers.js';
import { upstreamSetCookie } from '../session/cookie.js';
import { bareHostname, upstreamPath } from './forward.js';
import { closeFrame, FrameBoundaryTracker } from './frames.js';

/** WebSocket close codes jobgate sends. */
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_GOING_AWAY = 1001;

/** How long a closing relay waits for the upstream to finish the frame it is sending. */
const FRAME_FINISH_TIMEOUT_MS = 500;

/** One relayed WebSocket connection, which jobgate can close with a code and a reason. */
export class RelayedSocket {
  private closing = false;
  private readonly tracker = new FrameBoundaryTracker();
  private upstream: Socket | undefined;
  private readonly closedListeners: Array<() => void> = [];
  private closed = false;

  constructor(readonly client: Socket) {
    client.once('close', () => this.finish());
  }

  /** True once jobgate decided to close it, or it is gone. */
  get isClosing(): boolean {
    return this.closing || this.closed;
  }

  /** Called once when both sides are gone. */
  onClosed(listener: () => void): void {
    if (this.closed) listener();
    else this.closedListeners.push(listener);
  }

  /** Relays between the client and an upgraded upstream socket. */
  attach(upstream: Socket, upstreamHead: Buffer): void {
    this.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.setTimeout(0);
    upstream.on('error', () => this.destroy());
    upstream.once('close', () => {
      if (!this.closing) this.client.end();
      this.destroySoon();
    });
    upstream.on('data', (chunk: Buffer) => this.relayFromUpstream(chunk));
    this.client.on('drain', () => upstream.resume());
    this.client.pipe(upstream);
    if (upstreamHead.length > 0) this.relayFromUpstream(upstreamHead);
  }

  private relayFromUpstream(chunk: Buffer): void {
    const length = this.tracker.consume(chunk, this.closing);
    if (length > 0 && !this.client.write(length === chunk.length ? chunk : chunk.subarray(0, length))) this.upstream?.pause();
    if (this.closing && this.tracker.atBoundary) this.sendClose();
  }

  private pendingClose: Buffer | undefined;

  /**
   * Closes the connection as jobgate's own decision: the client gets a close frame with
   * `code` and `reason` at the next frame boundary, and the upstream connection is dropped.
   */
  close(code: number, reason: string): void {
    if (this.isClosing) return;
    this.closing = true;
    this.pendingClose = closeFrame(code, reason);
    const upstream = this.upstream;
    if (!upstream) return this.destroy();
    this.client.unpipe(upstream);
    if (this.tracker.atBoundary) return this.sendClose();
    // Mid-frame: let the upstream finish it, but not for long.
    setTimeout(() => this.destroy(), FRAME_FINISH_TIMEOUT_MS).unref();
  }

  private sendClose(): void {
    const frame = this.pendingClose;
    if (!frame) return;
    this.pendingClose = undefined;
    this.upstream?.destroy();
    this.client.end(frame);
    this.destroySoon();
  }

  /** Lets written data flush, then makes sure the client socket is gone. */
  private destroySoon(): void {
    setTimeout(() => this.destroy(), 1000).unref();
  }

  destroy(): void {
    this.upstream?.destroy();
    this.client.destroy();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.upstream?.destroy();
    for (const listener of this.closedListeners) listener();
  }
}

export type RelayFailure = (req: IncomingMessage, answer: Answer, error: Error) => void;

/**
 * Opens the upstream side of a WebSocket handshake and relays the connection. A refusal
 * by the upstream (any non-101 answer) is relayed as it is; a failure before the
 * handshake is a 502 or 504 on the client socket.
 */
export function relayWebSocket(
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
  target: URL,
  headers: readonly string[],
  timeoutMs: number,
  onFailure: RelayFailure,
  /** JOBGATE_UPSTREAM_COOKIE_DOMAIN=keep: Set-Cookie keeps its Domain attribute. */
  keepCookieDomain = false,
): RelayedSocket {
  const relay = new RelayedSocket(client);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const upstreamReq = request({
    protocol: target.protocol,
    hostname: bareHostname(target),
    port: target.port,
    method: 'GET',
    path: upstreamPath(target, req.url ?? '/'),
    headers,
    agent: false,
    timeout: timeoutMs,
  });
  let timedOut = false;
  upstreamReq.on('timeout', () => {
    timedOut = true;
    upstreamReq.destroy();
  });
  upstreamReq.on('error', (error) => {
    const answer = timedOut ? ANSWERS.upstreamTimeout : ANSWERS.upstreamUnreachable;
    onFailure(req, answer, error);
    writeAnswer(client, answer);
  });
  client.once('close', () => upstreamReq.destroy());
  // Until the upstream answers, read the client so that a departure is noticed (and keep what it sent early).
  const early: Buffer[] = [];
  const keepEarly = (chunk: Buffer) => void early.push(chunk);
  const leave = () => client.destroy();
  client.on('data', keepEarly);
  client.once('end', leave);

  upstreamReq.on('upgrade', (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
    upstreamReq.setTimeout(0);
    client.off('data', keepEarly);
    client.off('end', leave);
    client.pause();
    if (client.destroyed) return void upstream.destroy();
    let head101 = 'HTTP/1.1 101 Switching Protocols\r\n';
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const value = clientHeaderValue(res.rawHeaders[i]!, res.rawHeaders[i + 1]!, keepCookieDomain);
      if (value !== undefined) head101 += `${res.rawHeaders[i]}: ${value}\r\n`;
    }
    client.write(`${head101}\r\n`);
    if (head.length > 0) upstream.write(head);
    for (const chunk of early) upstream.write(chunk);
    relay.attach(upstream, upstreamHead);
  });

  upstreamReq.on('response', (res: IncomingMessage) => {
    // The upstream answered the handshake with plain HTTP: pass it on, then close.
    let text = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\nconnection: close\r\n`;
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const name = res.rawHeaders[i]!.toLowerCase();
      const value = clientHeaderValue(name, res.rawHeaders[i + 1]!, keepCookieDomain);
      if (name !== 'connection' && name !== 'keep-alive' && name !== 'transfer-encoding' && value !== undefined) text += `${res.rawHeaders[i]}: ${value}\r\n`;
    }
    client.write(`${text}\r\n`);
    res.pipe(client);
  });

  upstreamReq.end();
  return relay;
}

/** A handshake answer's header value as the client may get it: a Set-Cookie goes through upstreamSetCookie. */
function clientHeaderValue(name: string, value: string, keepCookieDomain: boolean): string | undefined {
  return name.length === 10 && name.toLowerCase() === 'set-cookie' ? upstreamSetCookie(value, keepCookieDomain) : value;
}
