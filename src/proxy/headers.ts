import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { cookiesForUpstream } from '../session/cookie.js';
import { carriesToken } from '../tokens/format.js';
import type { IdentityHeaders } from '../gate/identity.js';

/**
 * Headers that describe one connection, never forwarded (RFC 9110 7.6.1), and two that
 * belong to the client's hop too: jobgate frames the body it forwards itself
 * (Transfer-Encoding), and Node has already answered Expect: 100-continue.
 */
const HOP_BY_HOP_SET = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'upgrade',
  'transfer-encoding',
  'expect',
]);

/** True for a header in jobgate's identity namespace, in any case, with '-' or '_'. */
function isIdentityHeader(name: string): boolean {
  // Node lowercases names; "x-jobgate-" and "x_jobgate_" (and mixes) are all refused.
  if (name.length < 10 || name.charCodeAt(0) !== 120 || !name.startsWith('jobgate', 2)) return false;
  const first = name.charCodeAt(1);
  const second = name.charCodeAt(9);
  return (first === 45 || first === 95) && (second === 45 || second === 95);
}

/** Whether `name` starts with `prefix`, reading '_' in `name` as '-' (CGI-style upstreams do). */
function startsWithDashed(name: string, prefix: string): boolean {
  if (name.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    const c = name.charCodeAt(i);
    if (c !== prefix.charCodeAt(i) && !(c === 95 && prefix.charCodeAt(i) === 45)) return false;
  }
  return true;
}

/** X-Forwarded-*, Forwarded and X-Real-IP, with '-' or '_': jobgate sets them, the client never does. */
function isForwardingHeader(name: string): boolean {
  return startsWithDashed(name, 'x-forwarded-') || name === 'forwarded' || (name.length === 9 && startsWithDashed(name, 'x-real-ip'));
}

/** X-Request-Id and X-Client-Request-Id, with '-' or '_': jobgate sets them, the client never does. */
function isRequestIdHeader(name: string): boolean {
  return (name.length === 12 && startsWithDashed(name, 'x-request-id')) || (name.length === 19 && startsWithDashed(name, 'x-client-request-id'));
}

/** Longest client request id passed on (as X-Client-Request-Id); a longer one is dropped. */
export const MAX_CLIENT_REQUEST_ID_LENGTH = 128;

/** The client's X-Request-Id when it is short printable ASCII, else undefined. */
function boundedClientRequestId(value: string | string[]): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CLIENT_REQUEST_ID_LENGTH) return undefined;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code > 0x7e) return undefined;
  }
  return value;
}

/** How the request reached jobgate, as X-Forwarded-* and Forwarded describe it to the upstream. */
export interface ForwardedInfo {
  /** Addresses from the original client to the peer that connected to jobgate. */
  readonly chain: readonly string[];
  readonly proto: string;
  readonly host: string;
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
  const entries = list
    ? list
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry.length > 0)
    : [];
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
  /**
   * The client's Authorization: 'remove' (it carried the token jobgate checked), 'keep' (that
   * token, kept by JOBGATE_KEEP_AUTHORIZATION), or 'job' (jobgate did not read it: the job's own
   * credential, passed unless it carries a jobgate token).
   */
  readonly authorization: 'remove' | 'keep' | 'job';
  readonly forwarded: ForwardedInfo;
  readonly requestId: string;
  /** Keep Connection/Upgrade for a WebSocket handshake. */
  readonly upgrade: boolean;
  /** The signed identity assertion (X-Jobgate-Assertion), for requests with a verified identity. */
  readonly assertion?: string | undefined;
  /** The length of a body jobgate read and forwards itself (replaces the client's framing headers). */
  readonly bodyLength?: number | undefined;
  /** Host for a request that came without one (HTTP/1.0): the upstream's. */
  readonly defaultHost: string;
}

/**
 * What the upstream may see, as a flat [name, value, ...] list that Node writes as it is:
 * no hop-by-hop headers, no credential meant for jobgate (the Authorization that carried the
 * token, jobgate's cookie, any header or cookie holding a token value: an unsecureHttp job's
 * owner collects none), nothing in jobgate's identity namespace unless jobgate put it there,
 * and X-Forwarded-* / Forwarded from what jobgate saw.
 */
export function upstreamHeaders(headers: IncomingHttpHeaders, options: UpstreamHeaderOptions): string[] {
  const connection = headers.connection;
  // Headers named in Connection are hop-by-hop too (RFC 9110 7.6.1); a handshake keeps its own.
  const listed = connection !== undefined && !options.upgrade && connection.includes(',') ? connectionListed(connection) : undefined;
  const single = listed === undefined && connection !== undefined && !options.upgrade ? connectionOption(connection.trim().toLowerCase()) : undefined;
  const replacedBody = options.bodyLength !== undefined;
  const out: string[] = [];
  let clientRequestId: string | undefined;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (HOP_BY_HOP_SET.has(name)) {
      if (!(options.upgrade && (name === 'connection' || name === 'upgrade'))) continue;
    } else if (isIdentityHeader(name) || isForwardingHeader(name) || name === single || listed?.has(name)) {
      continue;
    } else if (name === 'authorization') {
      const authorization = options.authorization;
      if (authorization === 'remove' || (authorization === 'job' && authorizationCarriesToken(value as string))) continue;
      out.push(name, value as string);
      continue;
    } else if (name === 'cookie') {
      // jobgate's session cookie never reaches an upstream; the job's own cookies do.
      const kept = cookiesForUpstream(value as string);
      if (kept !== undefined) out.push('cookie', kept);
      continue;
    } else if (replacedBody && name === 'content-length') {
      continue;
    } else if (isRequestIdHeader(name)) {
      // jobgate names the request (the id in its log); the client's id is kept under another name.
      if (name === 'x-request-id' && !carriesToken(value as string)) clientRequestId = boundedClientRequestId(value);
      continue;
    }
    if (typeof value === 'string') {
      if (!carriesToken(value)) out.push(name, value);
    } else for (const each of value) if (!carriesToken(each)) out.push(name, each);
  }

  if (headers.host === undefined) out.push('host', options.defaultHost);
  if (replacedBody) out.push('content-length', String(options.bodyLength));
  pushForwardingHeaders(out, options.forwarded);
  out.push('x-request-id', options.requestId);
  if (clientRequestId !== undefined) out.push('x-client-request-id', clientRequestId);
  pushIdentityHeaders(out, options);
  return out;
}

/** X-Forwarded-For/-Proto/-Host and Forwarded (RFC 7239), from what jobgate saw. */
function pushForwardingHeaders(out: string[], { chain, proto, host }: ForwardedInfo): void {
  let forwarded = '';
  for (let i = 0; i < chain.length; i++) {
    forwarded += `${i === 0 ? '' : ', '}for=${forwardedNode(chain[i]!)}`;
  }
  out.push(
    'x-forwarded-for',
    chain.length === 1 ? chain[0]! : chain.join(', '),
    'x-forwarded-proto',
    proto,
    'x-forwarded-host',
    host,
    'forwarded',
    `${forwarded};host="${quotedSafe(host)}";proto=${proto}`,
  );
}

/** jobgate's identity headers and the signed assertion, for a request with a verified identity. */
function pushIdentityHeaders(out: string[], options: UpstreamHeaderOptions): void {
  const identity = options.identity;
  if (identity) out.push('x-jobgate-token-id', identity.tokenId, 'x-jobgate-token-name', identity.tokenName, 'x-jobgate-role', identity.role);
  if (options.assertion !== undefined) out.push('x-jobgate-assertion', options.assertion);
}

/** True when an Authorization value of any scheme holds a token value, also inside Basic's base64. */
function authorizationCarriesToken(value: string): boolean {
  if (carriesToken(value)) return true;
  if (value.length < 7 || value.charCodeAt(5) !== 32 || value.slice(0, 5).toLowerCase() !== 'basic') return false;
  return carriesToken(Buffer.from(value.slice(6).trim(), 'base64').toString('latin1'));
}

/** The header names a Connection header lists, except those that carry the message itself. */
function connectionListed(connection: string): Set<string> {
  const names = new Set<string>();
  for (const listed of connection.split(',')) {
    const name = connectionOption(listed.trim().toLowerCase());
    if (name !== undefined) names.add(name);
  }
  return names;
}

/** A name a Connection header may remove: not one that carries the message itself (undefined then). */
function connectionOption(name: string): string | undefined {
  return name === 'host' || name === 'authorization' || name === 'cookie' || name === 'content-length' || name === 'transfer-encoding' ? undefined : name;
}

/** A host for a quoted-string: without quotes and backslashes. */
function quotedSafe(host: string): string {
  return host.includes('"') || host.includes('\\') ? host.replace(/["\\]/g, '') : host;
}
