import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { answer, ANSWERS, writeAnswer, type Answer } from '../http/answers.js';
import { upstreamSetCookie } from '../session/cookie.js';
import { closeFrame, FrameBoundaryTracker } from './frames.js';
import { bareHostname, upstreamPath } from './upstream-path.js';

/** WebSocket close codes jobgate sends. */
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_GOING_AWAY = 1001;

/** How long a closing relay waits for the upstream to finish the frame it is sending. */
const FRAME_FINISH_TIMEOUT_MS = 500;

/**
 * Most a client may send before the upstream answered its handshake. RFC 6455 4.1 has a client
 * wait for the answer before it sends frames, so anything near this is abuse: it is refused
 * rather than held, since holding it would let one anonymous client fill jobgate's memory.
 */
export const MAX_EARLY_BYTES = 64 * 1024;

const EARLY_DATA = answer(400, 'bad_request', 'A WebSocket client must wait for the handshake answer before it sends data.');

export type RelayFailure = (req: IncomingMessage, answer: Answer, error: Error) => void;

/** One relayed WebSocket connection, which jobgate can close with a code and a reason. */
export class RelayedSocket {
  private closing = false;
  private readonly tracker = new FrameBoundaryTracker();
  private upstream: Socket | undefined;
  private readonly closedListeners: Array<() => void> = [];
  private closed = false;
  /** The upstream handshake, until the upstream answered it. */
  private handshake: ClientRequest | undefined;
  /** The upstream answered the handshake with plain HTTP, which is being relayed. */
  private answeredPlainly = false;
  /** The status jobgate answered the handshake with itself, when it refused it. */
  refusedWith: number | undefined;

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
   * Before the upstream accepted the handshake, the client gets `refusal` as the answer to
   * its handshake instead (or its connection is dropped).
   */
  close(code: number, reason: string, refusal?: Answer): void {
    if (this.isClosing) return;
    this.closing = true;
    this.pendingClose = closeFrame(code, reason);
    const upstream = this.upstream;
    if (!upstream) {
      this.dropHandshake();
      if (refusal && !this.answeredPlainly) return this.refuse(refusal);
      return this.destroy();
    }
    this.client.unpipe(upstream);
    if (this.tracker.atBoundary) return this.sendClose();
    // Mid-frame: let the upstream finish it, but not for long.
    setTimeout(() => this.destroy(), FRAME_FINISH_TIMEOUT_MS).unref();
  }

  /** Answers the handshake with `reply` and drops the connection once the answer is written, whatever the client still sends. */
  private refuse(reply: Answer): void {
    this.refusedWith = reply.status;
    this.client.once('finish', () => this.client.destroy());
    writeAnswer(this.client, reply);
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

  /** Abandons the upstream handshake, if one is pending; its failure is then no one's to answer. */
  private dropHandshake(): void {
    const handshake = this.handshake;
    this.handshake = undefined;
    handshake?.destroy();
  }

  destroy(): void {
    this.dropHandshake();
    this.upstream?.destroy();
    this.client.destroy();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropHandshake();
    this.upstream?.destroy();
    for (const listener of this.closedListeners) listener();
  }

  /**
   * Opens the upstream side of the client's WebSocket handshake and relays the connection.
   * A refusal by the upstream (any non-101 answer) is relayed as it is; a failure before the
   * handshake is a 502 or 504 on the client socket.
   */
  connect(
    req: IncomingMessage,
    head: Buffer,
    target: URL,
    headers: readonly string[],
    timeoutMs: number,
    onFailure: RelayFailure,
    /** JOBGATE_UPSTREAM_COOKIE_DOMAIN=keep: Set-Cookie keeps its Domain attribute. */
    keepCookieDomain = false,
  ): void {
    if (this.isClosing) return;
    const client = this.client;
    if (head.length > MAX_EARLY_BYTES) {
      this.closing = true;
      return this.refuse(EARLY_DATA);
    }
    const upstreamReq = handshakeRequest(req, target, headers, timeoutMs);
    this.handshake = upstreamReq;
    let timedOut = false;
    upstreamReq.on('timeout', () => {
      timedOut = true;
      upstreamReq.destroy();
    });
    upstreamReq.on('error', (error) =>
      this.handshakeFailed(upstreamReq, req, timedOut ? ANSWERS.upstreamTimeout : ANSWERS.upstreamUnreachable, error, onFailure),
    );
    // Until the upstream answers, read the client so that a departure is noticed, and keep
    // what it sent early up to a small bound.
    const early: Buffer[] = [];
    let earlyBytes = head.length;
    const keepEarly = (chunk: Buffer) => {
      earlyBytes += chunk.length;
      if (earlyBytes <= MAX_EARLY_BYTES) return void early.push(chunk);
      stopReading();
      this.closing = true;
      this.dropHandshake();
      this.refuse(EARLY_DATA);
    };
    const leave = () => client.destroy();
    const stopReading = () => {
      client.off('data', keepEarly);
      client.off('end', leave);
      client.pause();
    };
    client.on('data', keepEarly);
    client.once('end', leave);
    upstreamReq.on('upgrade', (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
      if (!this.settleHandshake(upstreamReq)) return void upstream.destroy();
      releaseHandshake(upstreamReq);
      stopReading();
      this.relayUpgrade(res, upstream, upstreamHead, head, early, keepCookieDomain);
    });
    upstreamReq.on('response', (res: IncomingMessage) => {
      if (!this.settleHandshake(upstreamReq)) return void res.destroy();
      this.relayPlainAnswer(res, keepEarly, early, keepCookieDomain);
    });
    upstreamReq.end();
  }

  /**
   * The upstream answered or failed `upstreamReq`: true when that handshake is still pending and
   * now settled, false when jobgate itself dropped it (revoked, refused, client gone: answered already).
   */
  private settleHandshake(upstreamReq: ClientRequest): boolean {
    if (this.handshake !== upstreamReq) return false;
    this.handshake = undefined;
    return true;
  }

  /** The upstream handshake failed before any answer: `reply` (502 or 504) on the client socket, unless jobgate dropped it. */
  private handshakeFailed(upstreamReq: ClientRequest, req: IncomingMessage, reply: Answer, error: Error, onFailure: RelayFailure): void {
    if (!this.settleHandshake(upstreamReq)) return;
    onFailure(req, reply, error);
    writeAnswer(this.client, reply);
  }

  /** The upstream accepted the handshake: its 101 to the client, what the client sent early to the upstream, then the relay. */
  private relayUpgrade(res: IncomingMessage, upstream: Socket, upstreamHead: Buffer, head: Buffer, early: readonly Buffer[], keepCookieDomain: boolean): void {
    const client = this.client;
    if (client.destroyed) return void upstream.destroy();
    let head101 = 'HTTP/1.1 101 Switching Protocols\r\n';
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const value = clientHeaderValue(res.rawHeaders[i]!, res.rawHeaders[i + 1]!, keepCookieDomain);
      if (value !== undefined) head101 += `${res.rawHeaders[i]}: ${value}\r\n`;
    }
    client.write(`${head101}\r\n`);
    if (head.length > 0) upstream.write(head);
    for (const chunk of early) upstream.write(chunk);
    this.attach(upstream, upstreamHead);
  }

  /**
   * The upstream answered the handshake with plain HTTP: pass it on, with `connection: close`,
   * then close. What the client still sends is read and dropped, so that its departure is noticed.
   */
  private relayPlainAnswer(res: IncomingMessage, keepEarly: (chunk: Buffer) => void, early: Buffer[], keepCookieDomain: boolean): void {
    this.answeredPlainly = true;
    const client = this.client;
    client.off('data', keepEarly);
    early.length = 0;
    client.resume();
    let text = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\nconnection: close\r\n`;
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const name = res.rawHeaders[i]!.toLowerCase();
      const value = clientHeaderValue(name, res.rawHeaders[i + 1]!, keepCookieDomain);
      if (name !== 'connection' && name !== 'keep-alive' && name !== 'transfer-encoding' && value !== undefined) text += `${res.rawHeaders[i]}: ${value}\r\n`;
    }
    client.write(`${text}\r\n`);
    res.pipe(client);
  }
}

/**
 * After the upgrade: the upgraded socket keeps its ClientRequest, whose listeners hold the
 * client's handshake (its request, what it sent early); they go, for as long as the relay lives.
 */
function releaseHandshake(upstreamReq: ClientRequest): void {
  upstreamReq.setTimeout(0);
  for (const event of ['timeout', 'error', 'upgrade', 'response'] as const) upstreamReq.removeAllListeners(event);
  upstreamReq.on('error', () => {});
}

/** The upstream side of a client's WebSocket handshake, not sent yet. */
function handshakeRequest(req: IncomingMessage, target: URL, headers: readonly string[], timeoutMs: number): ClientRequest {
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return request({
    protocol: target.protocol,
    hostname: bareHostname(target),
    port: target.port,
    method: 'GET',
    path: upstreamPath(target, req.url ?? '/'),
    headers,
    agent: false,
    timeout: timeoutMs,
  });
}

/** A handshake answer's header value as the client may get it: a Set-Cookie goes through upstreamSetCookie. */
function clientHeaderValue(name: string, value: string, keepCookieDomain: boolean): string | undefined {
  return name.length === 10 && name.toLowerCase() === 'set-cookie' ? upstreamSetCookie(value, keepCookieDomain) : value;
}
