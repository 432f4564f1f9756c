import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Denial, type GateRequest } from '../gate/index.js';
import { answer } from '../http/answers.js';
import { sameRoutedHost, splitAbsoluteForm } from '../routing/target.js';

const NO_ORIGINAL_METHOD = new Denial(
  'no_original_method',
  answer(400, 'invalid_request', 'The sub-request names no original method: send X-Forwarded-Method (or X-Original-Method). jobgate does not guess it.'),
);
const BAD_ORIGINAL_METHOD = new Denial(
  'bad_original_method',
  answer(400, 'invalid_request', 'The original method (X-Forwarded-Method or X-Original-Method) is not an HTTP method name.'),
);
const ORIGINAL_HOSTS_DISAGREE = new Denial(
  'original_hosts_disagree',
  answer(
    400,
    'invalid_request',
    'The sub-request names two different original hosts (X-Forwarded-Host, and the host of X-Original-URL or of an absolute X-Forwarded-Uri). The edge must send the host it routes on.',
  ),
);
const NO_ORIGINAL_HOST = new Denial(
  'bad_request',
  answer(400, 'bad_request', 'The sub-request names no original host: send X-Forwarded-Host (or X-Original-URL).'),
);
/** An HTTP method is a token (RFC 9110 5.6.2). */
const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Request headers of the original request the gate reads: credential, browser detection, origin checks. */
const DECISION_HEADERS = ['authorization', 'cookie', 'origin', 'accept', 'sec-fetch-site'] as const;

/** The request the edge is asking about. */
export interface OriginalRequest {
  readonly method: string;
  readonly host: string;
  readonly uri: string;
  readonly proto: string | undefined;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The request the edge proxy is asking about, from X-Forwarded-* (which win) or X-Original-URL.
 * Never a guess: no method is a 400, and so are two hosts that disagree (an edge that sends the
 * client's Host beside the URL it routes on), since jobgate must decide on the host the edge routes on.
 */
export function originalRequest(req: IncomingMessage): OriginalRequest | Denial {
  const original = originalUrl(req);
  const method = first(req.headers['x-forwarded-method']) ?? first(req.headers['x-original-method']);
  if (method === undefined || method === '') return NO_ORIGINAL_METHOD;
  if (!METHOD_TOKEN.test(method)) return BAD_ORIGINAL_METHOD;
  const forwardedHost = first(req.headers['x-forwarded-host']);
  const originalHost = original?.host || undefined;
  if (forwardedHost !== undefined && originalHost !== undefined && !sameRoutedHost(forwardedHost, originalHost)) return ORIGINAL_HOSTS_DISAGREE;
  let host = forwardedHost ?? originalHost;
  let uri = first(req.headers['x-forwarded-uri']) ?? (original ? `${original.pathname}${original.search}` : '/');
  const absolute = uri.startsWith('/') ? undefined : splitAbsoluteForm(uri);
  if (absolute) {
    if (host !== undefined && !sameRoutedHost(host, absolute.authority)) return ORIGINAL_HOSTS_DISAGREE;
    host ??= absolute.authority;
    uri = absolute.path;
  }
  if (!host) return NO_ORIGINAL_HOST;
  return {
    method: method.toUpperCase(),
    host,
    uri: uri.startsWith('/') ? uri : `/${uri}`,
    proto: first(req.headers['x-forwarded-proto']) ?? original?.protocol.slice(0, -1),
  };
}

function originalUrl(req: IncomingMessage): URL | undefined {
  const text = first(req.headers['x-original-url']);
  if (!text) return undefined;
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/**
 * The original request as the gate reads it: only the headers a decision needs, the client the
 * trusted source names (the last X-Forwarded-For entry, the one it added), and its scheme.
 */
export function gateRequestOf(req: IncomingMessage, original: OriginalRequest, publicScheme: 'http' | 'https' | undefined): GateRequest {
  const rawHeaders: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    if ((DECISION_HEADERS as readonly string[]).includes(name)) rawHeaders.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  }
  const headers: IncomingHttpHeaders = {};
  for (const name of DECISION_HEADERS) if (req.headers[name] !== undefined) headers[name] = req.headers[name];
  return {
    method: original.method,
    host: original.host,
    publicHost: original.host,
    url: original.uri,
    headers,
    rawHeaders,
    client: clientOf(req),
    https: (original.proto ?? publicScheme) === 'https',
  };
}

function clientOf(req: IncomingMessage): string {
  const forwardedFor = first(req.headers['x-forwarded-for']);
  const last = forwardedFor?.split(',').pop()?.trim();
  return last && last.length > 0 ? last : (req.socket.remoteAddress ?? 'unknown');
}
