import type { IncomingHttpHeaders } from 'node:http';

/** What the browser rules read of a request: its method and headers. */
export interface RequestHead {
  readonly method?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}
import { carriesToken } from '../tokens/format.js';

/** The query parameter that carries a token in a deep link. */
export const DEEP_LINK_PARAMETER = 'jobgate_token';

/** q-value of the first Accept entry that `matches`, or 0. */
function acceptWeight(accept: string, matches: (type: string) => boolean): number {
  let best = 0;
  for (const entry of accept.split(',')) {
    const [type = '', ...params] = entry.split(';').map((part) => part.trim().toLowerCase());
    if (!matches(type)) continue;
    const q = params.find((param) => param.startsWith('q='));
    const weight = q ? Number(q.slice(2)) : 1;
    if (Number.isFinite(weight) && weight > best) best = weight;
  }
  return best;
}

/** True for a browser navigation: a GET or HEAD whose Accept prefers text/html over JSON. */
export function prefersHtml(req: RequestHead): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const accept = req.headers.accept;
  if (!accept || !accept.includes('html')) return false;
  const html = acceptWeight(accept, (type) => type === 'text/html' || type === 'application/xhtml+xml');
  const json = acceptWeight(accept, (type) => type === 'application/json');
  return html > 0 && html >= json;
}

/** A same-host path to go to after login: anything else (//evil, http://..., \\) becomes '/'. */
export function safeNext(next: string | null | undefined): string {
  if (!next || next.length > 4096 || next.charCodeAt(0) !== 47) return '/';
  const second = next.charCodeAt(1);
  if (second === 47 || second === 92) return '/';
  for (let i = 0; i < next.length; i++) {
    const code = next.charCodeAt(i);
    if (code <= 0x20 || code >= 0x7f || code === 92) return '/';
  }
  return next;
}

/**
 * Splits a deep link: the token in `jobgate_token` and where to send the browser next: the URL
 * without it (other parameters kept byte for byte) when that is a same-host path by safeNext's
 * rule, else '/' (`//evil.example/`, `/\evil`, an absolute-form target). Undefined when the
 * URL has no such parameter.
 */
export function splitDeepLink(url: string): { token: string; rest: string } | undefined {
  const query = url.indexOf('?');
  if (query === -1 || !url.includes(`${DEEP_LINK_PARAMETER}=`, query)) return undefined;
  let token: string | undefined;
  const kept: string[] = [];
  for (const part of url.slice(query + 1).split('&')) {
    const equals = part.indexOf('=');
    const name = equals === -1 ? part : part.slice(0, equals);
    if (name === DEEP_LINK_PARAMETER) {
      if (token === undefined) token = safeDecode(part.slice(equals + 1));
    } else if (part.length > 0) kept.push(part);
  }
  if (token === undefined) return undefined;
  const path = url.slice(0, query);
  return { token, rest: safeNext(kept.length > 0 ? `${path}?${kept.join('&')}` : path) };
}

/**
 * The request target without the query parameters that carry a jobgate credential, for the
 * upstream: `jobgate_token` (its name plain or percent-encoded) and any parameter whose value holds
 * a token value. The same string, after a few scans, when the query mentions neither.
 */
export function withoutTokenParameters(url: string): string {
  const query = url.indexOf('?');
  if (query === -1 || (!url.includes('jgt', query) && !url.includes('jobgate', query))) return url;
  const kept: string[] = [];
  let dropped = false;
  for (const part of url.slice(query + 1).split('&')) {
    if (isTokenParameter(part)) dropped = true;
    else kept.push(part);
  }
  if (!dropped) return url;
  const path = url.slice(0, query);
  return kept.length > 0 ? `${path}?${kept.join('&')}` : path;
}

function isTokenParameter(part: string): boolean {
  const equals = part.indexOf('=');
  const name = equals === -1 ? part : part.slice(0, equals);
  if (name === DEEP_LINK_PARAMETER || (name.includes('%') && safeDecode(name) === DEEP_LINK_PARAMETER)) return true;
  return carriesToken(part) || (part.includes('%') && carriesToken(safeDecode(part)));
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return '';
  }
}

/**
 * `path` (a same-host path, see safeNext) as an absolute URL on `host`, a Host header value:
 * undefined unless that is a plain name or address with an optional port, so that nothing in it
 * (`job.example:@evil.example`, `evil.example/`, `evil.example#`) can name another host.
 */
export function absoluteLocation(https: boolean, host: string, path: string): string | undefined {
  if (!isPlainHost(host)) return undefined;
  return `${https ? 'https' : 'http'}://${host}${safeNext(path)}`;
}

/** A DNS name (letters, digits, '-', '_', '.') or a bracketed IPv6 literal, then an optional `:port`. */
function isPlainHost(host: string): boolean {
  if (host.length === 0 || host.length > 300) return false;
  let i = 0;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    if (close < 3) return false;
    for (i = 1; i < close; i++) {
      const code = host.charCodeAt(i);
      if (!(isAlphanumeric(code) || code === 58 /* : */ || code === 46 /* . */)) return false;
    }
    i = close + 1;
  } else {
    while (i < host.length && host.charCodeAt(i) !== 58) {
      const code = host.charCodeAt(i);
      if (!(isAlphanumeric(code) || code === 45 /* - */ || code === 46 /* . */ || code === 95 /* _ */)) return false;
      i++;
    }
    if (i === 0) return false;
  }
  if (i === host.length) return true;
  if (host.charCodeAt(i) !== 58 || host.length - i - 1 < 1 || host.length - i - 1 > 5) return false;
  for (i++; i < host.length; i++) {
    const code = host.charCodeAt(i);
    if (code < 48 || code > 57) return false;
  }
  return true;
}

function isAlphanumeric(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/** The origin a browser on this job URL has: scheme and Host as the client sent them. */
export function expectedOrigin(host: string, https: boolean): string {
  return `${https ? 'https' : 'http'}://${host.toLowerCase()}`;
}

/**
 * CSRF check for a state-changing request from a browser: a foreign Origin is refused, and so
 * is `Origin: null` unless Sec-Fetch-Site says same-origin (a form on a no-referrer page of
 * the job, such as the one that asks before switching tokens); without Origin, Sec-Fetch-Site
 * must say same-origin or none, or be absent (not a browser).
 */
export function sameOriginRequest(req: RequestHead, expected: string): boolean {
  const origin = req.headers.origin;
  const site = req.headers['sec-fetch-site'];
  if (origin === 'null') return site === 'same-origin';
  if (origin !== undefined) return origin.toLowerCase() === expected;
  return site === undefined || site === 'same-origin' || site === 'none';
}

/**
 * True unless the browser says the navigation started on this very origin or from the user
 * (address bar, bookmark): `Sec-Fetch-Site: same-origin` or `none`. Another job's page is
 * "same-site" (all jobs share one registrable domain), so it counts as elsewhere, and so does
 * a request without the header.
 */
export function followedFromElsewhere(headers: IncomingHttpHeaders): boolean {
  const site = headers['sec-fetch-site'];
  return site !== 'same-origin' && site !== 'none';
}

/** Methods that change nothing (RFC 9110 9.2.1): a session cookie may carry them from any page. */
export function isSafeMethod(method: string | undefined): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}

/**
 * For an unsafe request that the session cookie authenticates: true when the job's own pages
 * sent it. All jobs share one registrable domain, so SameSite=Lax lets a page on another job
 * send the cookie. Origin decides when a browser sent one; without it (or `Origin: null`, as a
 * page with `Referrer-Policy: no-referrer` sends), Sec-Fetch-Site must say same-origin. With
 * neither, false: browsers send one of them with every unsafe request, and other clients
 * authenticate with a bearer token, not the cookie.
 */
export function fromOwnOrigin(headers: IncomingHttpHeaders, expected: string): boolean {
  const origin = headers.origin;
  if (origin !== undefined && origin !== 'null') return origin.toLowerCase() === expected;
  return headers['sec-fetch-site'] === 'same-origin';
}
