/**
 * Method overrides: the ways a client can ask an upstream to run a request as another method
 * (or on another path) than the one jobgate decided on. Pure, no regular expressions.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { foldKey } from './json-keys.js';
import { refusal, type ApiRefusal } from './refusal.js';

/**
 * Request headers that upstream frameworks read as the real method (`X-HTTP-Method-Override`:
 * Symfony, Laravel, Express's method-override, Google APIs; `X-HTTP-Method`: OData, ASP.NET;
 * `X-Method-Override`) or as the real path (`X-Original-URL`, `X-Rewrite-URL`: IIS, older
 * Symfony and Laravel). Never forwarded to the API upstream.
 */
export const OVERRIDE_HEADERS: readonly string[] = ['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-url', 'x-rewrite-url'];

/** Whether a lower-case header name is one of {@link OVERRIDE_HEADERS}, reading `_` as `-` (CGI-style upstreams do). */
export function isOverrideHeader(name: string): boolean {
  if (name.charCodeAt(0) !== 0x78 /* x */) return false;
  for (const header of OVERRIDE_HEADERS) {
    if (header.length !== name.length) continue;
    let same = true;
    for (let i = 0; i < name.length && same; i++) {
      const c = name.charCodeAt(i);
      same = c === header.charCodeAt(i) || (c === 0x5f && header.charCodeAt(i) === 0x2d);
    }
    if (same) return true;
  }
  return false;
}

/** Removes every {@link OVERRIDE_HEADERS} header from `headers` (Node's lower-cased request headers). */
export function removeOverrideHeaders(headers: IncomingHttpHeaders): void {
  for (const name in headers) if (isOverrideHeader(name)) delete headers[name];
}

/** Characters PHP turns into `_` in a parameter name (`.method` is `_method` to Symfony and Laravel). */
const UNDERSCORE_LIKE = '_. [';

/** Whether a percent-decoded parameter name could be read as `_method`: any case, `.`, space or `[` for `_`, leading spaces, a `[...]` suffix. */
function isMethodParameter(name: string): boolean {
  let start = 0;
  while (start < name.length && name.charCodeAt(start) === 0x20) start++;
  const bracket = name.indexOf('[', start + 1);
  const base = (bracket === -1 ? name.slice(start) : name.slice(start, bracket)).toLowerCase();
  return base.length === 7 && UNDERSCORE_LIKE.includes(base.charAt(0)) && base.endsWith('method');
}

function decodedName(piece: string): string | undefined {
  const eq = piece.indexOf('=');
  const name = (eq === -1 ? piece : piece.slice(0, eq)).replaceAll('+', ' ');
  if (!name.includes('%')) return name;
  try {
    return decodeURIComponent(name);
  } catch {
    return undefined;
  }
}

const METHOD_IN_QUERY = refusal(
  400,
  'bad_request',
  'bad_query',
  'The query has a "_method" parameter, which some upstreams read as the request\'s method instead of the one jobgate checked. Send the request with its own method, without "_method".',
);

/**
 * A 400 for a query (without `?`, still encoded) with a `_method` parameter, in any spelling
 * that an upstream could read as it (see {@link isMethodParameter}; pieces split at `&` and
 * `;`), or undefined. A name that does not percent-decode is left to the other checks.
 */
export function methodQueryRefusal(rawQuery: string): ApiRefusal<400> | undefined {
  if (rawQuery === '') return undefined;
  let start = 0;
  for (;;) {
    let end = start;
    while (end < rawQuery.length && rawQuery.charCodeAt(end) !== 0x26 && rawQuery.charCodeAt(end) !== 0x3b) end++;
    // Only pieces long enough to hold "_method" are decoded.
    if (end - start >= 7) {
      const name = decodedName(rawQuery.slice(start, end));
      if (name !== undefined && isMethodParameter(name)) return METHOD_IN_QUERY;
    }
    if (end >= rawQuery.length) return undefined;
    start = end + 1;
  }
}

/**
 * Whether a JSON body key could be read as `_method` (Laravel reads `_method` from a JSON body as
 * it does from a form): any case or Unicode case fold.
 */
export function isMethodBodyKey(key: string): boolean {
  return key.length >= 7 && foldKey(key) === '_method';
}
