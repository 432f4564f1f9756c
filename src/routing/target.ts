/**
 * Absolute-form request targets (`GET http://<host>/<path> HTTP/1.1`, RFC 9112 3.2.2): the host
 * they name is the one a proxy in front routes on, whatever the Host header says, so jobgate
 * compares the two before deciding on either. Pure, no regular expression built per call.
 */

const URI_SCHEME = /^[a-z][a-z0-9+.-]*$/i;
const ENCODED_DOT_OR_NUL = /%(?:2e|00)/i;

/** The authority and the path-and-query of `scheme://authority[/path][?query]`, as sent; undefined for any other shape. */
export function splitAbsoluteForm(url: string): { readonly authority: string; readonly path: string } | undefined {
  const scheme = url.indexOf('://');
  if (scheme < 1 || !URI_SCHEME.test(url.slice(0, scheme))) return undefined;
  const start = scheme + 3;
  let end = start;
  while (end < url.length && url.charCodeAt(end) !== 47 /* / */ && url.charCodeAt(end) !== 63 /* ? */) end++;
  if (end === start) return undefined;
  const authority = url.slice(start, end);
  if (end === url.length) return { authority, path: '/' };
  return { authority, path: url.charCodeAt(end) === 63 ? `/${url.slice(end)}` : url.slice(end) };
}

/** A host as routing reads it: lowercase, without port or trailing dot (an IPv6 literal keeps its brackets). */
function routedHostName(host: string): string {
  let end = host.length;
  const colon = host.lastIndexOf(':');
  if (colon !== -1 && !host.endsWith(']')) end = colon;
  if (host.charCodeAt(end - 1) === 46 /* . */) end--;
  return host.slice(0, end).toLowerCase();
}

/**
 * Whether two host values name the same host for jobgate: case, port and a trailing dot aside,
 * since the job, the API host and the session cookie's host are all read without them. Anything
 * else (userinfo, another name) is another host.
 */
export function sameRoutedHost(a: string, b: string): boolean {
  return routedHostName(a) === routedHostName(b);
}

/**
 * The path and query of an absolute-form target whose host is `host` (as {@link sameRoutedHost}
 * reads them), as sent; undefined when it names another host or is no absolute-form target.
 */
export function originFormOf(url: string, host: string | undefined): string | undefined {
  const target = splitAbsoluteForm(url);
  return target !== undefined && host !== undefined && sameRoutedHost(target.authority, host) ? target.path : undefined;
}

/**
 * Whether the path of a request target (before `?`) has a `..` segment (also percent-encoded, as
 * `%2e`) that climbs above the root, or an encoded NUL (`%00`): nginx refuses both with 400 (it
 * decodes the path to normalize it), so jobgate's inline proxy does too. Empty segments count for
 * nothing, as nginx merges slashes. Cheap when the path has no `..`, `%2e` or `%00`.
 */
export function pathEscapesRoot(url: string): boolean {
  let end = url.indexOf('?');
  if (end === -1) end = url.length;
  const path = end === url.length ? url : url.slice(0, end);
  if (!path.includes('..') && !ENCODED_DOT_OR_NUL.test(path)) return false;
  let depth = 0;
  let start = 1;
  while (start <= end) {
    let stop = url.indexOf('/', start);
    if (stop === -1 || stop > end) stop = end;
    const segment = url.slice(start, stop);
    if (segment.includes('%')) {
      const lower = segment.toLowerCase();
      if (lower.includes('%00')) return true;
      if (lower.replaceAll('%2e', '.') === '..') depth--;
      else if (lower.replaceAll('%2e', '.') !== '.') depth++;
    } else if (segment === '..') depth--;
    else if (segment !== '' && segment !== '.') depth++;
    if (depth < 0) return true;
    start = stop + 1;
  }
  return false;
}
