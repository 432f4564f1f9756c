import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { ANSWERS, sendAnswer, type Answer } from '../http/answers.js';

/** Called once when forwarding fails, with the answer that was (or could not be) sent. */
export type ForwardFailure = (req: IncomingMessage, answer: Answer, error: Error) => void;

/**
 * Streams HTTP requests to upstreams over a keep-alive connection pool: the request with
 * the headers the handler built, the upstream's answer with its own hop-by-hop headers
 * removed, an idle timeout, and upstream failures turned into 502/504 answers that reveal
 * no internal address.
 *
 * Written on node:http rather than http-proxy-3 because this is the hot path: http-proxy
 * merges options, parses the URL and copies the headers one by one on every request, and
 * jobgate has already built the upstream headers and resolved the target (docs/benchmarks.md).
 */
export class Forwarder {
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });

  constructor(
    /** How long an upstream may stay silent: before its answer, and between chunks of it. */
    private readonly timeoutMs: number,
    private readonly onFailure: ForwardFailure,
    /** True once shutdown began: responses from then on close their connection. */
    private readonly draining: () => boolean = () => false,
  ) {}

  /** Forwards `req` with `headers` (see upstreamHeaders); with `body`, those bytes instead of the request's stream. */
  web(req: IncomingMessage, res: ServerResponse, target: URL, headers: readonly string[], body?: Buffer): void {
    const https = target.protocol === 'https:';
    const hostname = bareHostname(target);
    const upstreamReq = (https ? httpsRequest : httpRequest)({
      hostname,
      port: target.port || (https ? 443 : 80),
      method: req.method,
      path: upstreamPath(target, req.url ?? '/'),
      headers,
      agent: https ? this.httpsAgent : this.httpAgent,
      // TLS names the upstream's host, not the job URL the client asked for.
      ...(https && isIP(hostname) === 0 ? { servername: hostname } : {}),
    });
    let timedOut = false;
    upstreamReq.setTimeout(this.timeoutMs, () => {
      timedOut = true;
      upstreamReq.destroy();
    });
    upstreamReq.on('error', (error) => {
      // The client left first and jobgate dropped the upstream request: nothing to answer.
      if (res.destroyed) return;
      const answer = timedOut || (error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? ANSWERS.upstreamTimeout : ANSWERS.upstreamUnreachable;
      this.onFailure(req, answer, error);
      sendAnswer(res, answer);
    });
    upstreamReq.on('response', (upstreamRes) => {
      // Connection management is per hop: ours follows the client's request, not the upstream's answer.
      if (this.draining()) res.shouldKeepAlive = false;
      res.writeHead(upstreamRes.statusCode!, upstreamRes.statusMessage, endToEndHeaders(upstreamRes.rawHeaders));
      upstreamRes.on('error', () => res.destroy());
      upstreamRes.pipe(res);
    });
    res.once('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });

    if (body !== undefined) upstreamReq.end(body);
    else if (hasBody(req)) req.pipe(upstreamReq);
    else upstreamReq.end();
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** The path on the upstream: the target's base path, then the request's path and query. */
export function upstreamPath(target: URL, url: string): string {
  // An absolute-form request target (RFC 9112 3.2.2) keeps only its path and query.
  const path = url.charCodeAt(0) === 47 /* / */ ? url : pathOfAbsoluteForm(url);
  const base = target.pathname;
  const joined = base === '/' ? path : base.endsWith('/') ? base.slice(0, -1) + path : base + path;
  if (!target.search) return joined;
  const query = joined.indexOf('?');
  return query === -1 ? joined + target.search : `${joined.slice(0, query)}${target.search}&${joined.slice(query + 1)}`;
}

function pathOfAbsoluteForm(url: string): string {
  const parsed = URL.parse(url);
  return parsed ? `${parsed.pathname}${parsed.search}` : '/';
}

/** The host to connect to: an IPv6 literal without its brackets. */
export function bareHostname(target: URL): string {
  const hostname = target.hostname;
  return hostname.charCodeAt(0) === 91 /* [ */ ? hostname.slice(1, -1) : hostname;
}

/** True when the request announces a body (RFC 9112 6.3): a Transfer-Encoding, or a Content-Length above 0. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * The upstream's response headers that the client may see, as a flat [name, value, ...] list
 * in the upstream's own spelling: without the headers of the upstream connection (RFC 9110
 * 7.6.1), which Node writes anew for the client's (Connection, Keep-Alive, framing).
 */
export function endToEndHeaders(raw: readonly string[]): string[] {
  let listed: Set<string> | undefined;
  const kept: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Hop-by-hop names are 2, 7, 10, 16 or 17 characters long: most names skip the lowercasing.
    const length = name.length;
    if (length === 2 || length === 7 || length === 10 || length === 16 || length === 17) {
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower)) {
        if (lower === 'connection') listed = connectionTokens(raw[i + 1]!, listed);
        continue;
      }
    }
    kept.push(name, raw[i + 1]!);
  }
  if (listed === undefined) return kept;
  const names = listed;
  const filtered: string[] = [];
  for (let i = 0; i < kept.length; i += 2) if (!names.has(kept[i]!.toLowerCase())) filtered.push(kept[i]!, kept[i + 1]!);
  return filtered;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

/** Names a Connection header lists beyond keep-alive and close, added to `into`. */
function connectionTokens(value: string, into: Set<string> | undefined): Set<string> | undefined {
  let names = into;
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name === '' || name === 'close' || name === 'keep-alive' || PROTECTED.has(name)) continue;
    (names ??= new Set()).add(name);
  }
  return names;
}

/** The length frames the message itself: a Connection header cannot make it hop-by-hop. */
const PROTECTED = new Set(['content-length']);
