/**
 * Where a request goes on its upstream, for both transports (the HTTP forwarder and the
 * WebSocket relay): the path to ask for and the host to connect to.
 */

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
