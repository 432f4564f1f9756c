import type { IncomingMessage } from 'node:http';

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
export function prefersHtml(req: IncomingMessage): boolean {
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
 * Splits a deep link: the token in `jobgate_token` and the URL without it (other
 * parameters kept byte for byte). Undefined when the URL has no such parameter.
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
  return { token, rest: kept.length > 0 ? `${path}?${kept.join('&')}` : path };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return '';
  }
}

/** The origin a browser on this job URL has: scheme and Host as the client sent them. */
export function expectedOrigin(host: string, https: boolean): string {
  return `${https ? 'https' : 'http'}://${host.toLowerCase()}`;
}

/**
 * CSRF check for a state-changing request from a browser: a foreign Origin or `Origin:
 * null` is refused; without Origin, Sec-Fetch-Site must not say cross-site.
 */
export function sameOriginRequest(req: IncomingMessage, expected: string): boolean {
  const origin = req.headers.origin;
  if (origin !== undefined) return origin.toLowerCase() === expected;
  const site = req.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin' || site === 'none';
}
