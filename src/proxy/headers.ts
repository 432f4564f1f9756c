import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { withoutSessionCookies } from '../session/cookie.js';
import type { TokenRecord } from '../tokens/record.js';

/** Headers that describe one connection, never forwarded (RFC 9110 7.6.1). */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade'];

/** True for a header in jobgate's identity namespace, in any case, with '-' or '_'. */
function isIdentityHeader(name: string): boolean {
  // Node lowercases names; "x-jobgate-" and "x_jobgate_" (and mixes) are all refused.
  if (name.length < 10 || name.charCodeAt(0) !== 120 || !name.startsWith('jobgate', 2)) return false;
  const first = name.charCodeAt(1);
  const second = name.charCodeAt(9);
  return (first === 45 || first === 95) && (second === 45 || second === 95);
}

function isForwardingHeader(name: string): boolean {
  return name.startsWith('x-forwarded-') || name === 'forwarded' || name === 'x-real-ip';
}

/** How the request reached jobgate, as X-Forwarded-* and Forwarded describe it to the upstream. */
export interface ForwardedInfo {
  /** Addresses from the original client to the peer that connected to jobgate. */
  readonly chain: readonly string[];
  readonly proto: string;
  readonly host: string;
}

/** The identity headers for one token, computed once per token record. */
export interface IdentityHeaders {
  readonly tokenId: string;
  readonly tokenName: string;
  readonly role: string;
}

const identityCache = new WeakMap<TokenRecord, IdentityHeaders>();

/** Header values are latin1 without controls; a name with other characters is percent-encoded. */
function headerSafe(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === 0x25) return encodeURIComponent(text);
  }
  return text;
}

export function identityHeaders(token: TokenRecord): IdentityHeaders {
  let headers = identityCache.get(token);
  if (!headers) {
    headers = { tokenId: token.id, tokenName: headerSafe(token.name), role: token.role };
    identityCache.set(token, headers);
  }
  return headers;
}

/**
 * Where the request came from, trusting client-sent X-Forwarded-* only across
 * `trustedHops` proxies in front of jobgate.
 */
export function forwardedInfo(req: IncomingMessage, trustedHops: number, ownProto: string): ForwardedInfo {
  const peer = req.socket.remoteAddress ?? 'unknown';
  const host = req.headers.host ?? '';
  if (trustedHops === 0) return { chain: [peer], proto: ownProto, host };
  const sent: string | string[] | undefined = req.headers['x-forwarded-for'];
  const list = Array.isArray(sent) ? sent.join(',') : sent;
  const entries = list ? list.split(',').map((entry) => entry.trim()).filter((entry) => entry.length > 0) : [];
  const trusted = entries.slice(-trustedHops);
  const proto = lastValue(req.headers['x-forwarded-proto']) ?? ownProto;
  const forwardedHost = lastValue(req.headers['x-forwarded-host']) ?? host;
  return { chain: [...trusted, peer], proto, host: forwardedHost };
}

function lastValue(header: string | string[] | undefined): string | undefined {
  const text = Array.isArray(header) ? header[header.length - 1] : header;
  if (!text) return undefined;
  const comma = text.lastIndexOf(',');
  const value = (comma === -1 ? text : text.slice(comma + 1)).trim();
  return value.length > 0 && value.length <= 255 ? value : undefined;
}

/** The client's address: the first trusted entry of the chain. */
export function clientAddress(info: ForwardedInfo): string {
  return info.chain[0]!;
}

function forwardedNode(address: string): string {
  return address.includes(':') ? `"[${address}]"` : address;
}

export interface UpstreamHeaderOptions {
  readonly identity: IdentityHeaders | undefined;
  /** Remove the Authorization header (it carried the token). */
  readonly stripAuthorization: boolean;
  readonly forwarded: ForwardedInfo;
  readonly requestId: string;
  /** Keep Connection/Upgrade for a WebSocket handshake. */
  readonly upgrade: boolean;
  /** The signed identity assertion (X-Jobgate-Assertion), for requests with a verified identity. */
  readonly assertion?: string | undefined;
}

/**
 * Rewrites `headers` in place into what the upstream may see: no hop-by-hop headers,
 * no credential that was meant for jobgate, nothing in jobgate's identity namespace
 * unless jobgate put it there, and X-Forwarded-* / Forwarded from what jobgate saw.
 */
export function prepareUpstreamHeaders(headers: IncomingHttpHeaders, options: UpstreamHeaderOptions): void {
  const connection = headers.connection;
  if (connection && !options.upgrade) {
    // Headers named in Connection are hop-by-hop too (RFC 9110 7.6.1).
    for (const listed of connection.split(',')) {
      const name = listed.trim().toLowerCase();
      if (name !== 'host' && name !== 'authorization' && name !== 'cookie' && name !== 'content-length' && name !== 'transfer-encoding') delete headers[name];
    }
  }
  for (const name of HOP_BY_HOP) {
    if (options.upgrade && (name === 'connection' || name === 'upgrade')) continue;
    delete headers[name];
  }
  for (const name in headers) {
    if (isIdentityHeader(name) || isForwardingHeader(name)) delete headers[name];
  }
  if (options.stripAuthorization) delete headers.authorization;
  // jobgate's session cookie never reaches an upstream; the job's own cookies do.
  const cookie = headers.cookie;
  if (cookie !== undefined) {
    const kept = withoutSessionCookies(cookie);
    if (kept === undefined) delete headers.cookie;
    else headers.cookie = kept;
  }

  const { chain, proto, host } = options.forwarded;
  headers['x-forwarded-for'] = chain.join(', ');
  headers['x-forwarded-proto'] = proto;
  headers['x-forwarded-host'] = host;
  let forwarded = '';
  for (let i = 0; i < chain.length; i++) {
    forwarded += `${i === 0 ? '' : ', '}for=${forwardedNode(chain[i]!)}`;
  }
  headers.forwarded = `${forwarded};host="${host.replace(/["\\]/g, '')}";proto=${proto}`;
  if (headers['x-request-id'] === undefined) headers['x-request-id'] = options.requestId;

  const identity = options.identity;
  if (identity) {
    headers['x-jobgate-token-id'] = identity.tokenId;
    headers['x-jobgate-token-name'] = identity.tokenName;
    headers['x-jobgate-role'] = identity.role;
  }
  if (options.assertion !== undefined) headers['x-jobgate-assertion'] = options.assertion;
}
