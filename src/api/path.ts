/**
 * API request targets: splitting path and query, and refusing paths that an upstream could
 * read differently from jobgate (dot segments, empty segments, encoded separators...), so that
 * the route rule jobgate matches is the one the upstream serves. Pure, no regular expressions.
 */
import { foldKey } from './json-keys.js';

/** A request target (`req.url`) split at its first `?`. Both parts are still percent-encoded. */
export interface RequestTarget {
  /** Everything before the first `?`. */
  readonly path: string;
  /** Everything after the first `?` ('' when there is none or it is empty). */
  readonly query: string;
  /** Whether the target had a `?` at all. */
  readonly hasQuery: boolean;
}

/** Splits a request target (`req.url`) into its path and query, at the first `?`. */
export function splitRequestTarget(url: string): RequestTarget {
  const mark = url.indexOf('?');
  if (mark === -1) return { path: url, query: '', hasQuery: false };
  return { path: url.slice(0, mark), query: url.slice(mark + 1), hasQuery: true };
}

/** The request target for `path` and `query` (no `?` when the query is empty). */
export function joinRequestTarget(path: string, query: string): string {
  return query === '' ? path : `${path}?${query}`;
}

const SLASH = 0x2f;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** What an encoded byte that is refused stands for, by its value. */
const REFUSED_ENCODINGS: ReadonlyMap<number, string> = new Map([
  [0x2f, 'an encoded "/"'],
  [0x5c, 'an encoded "\\"'],
  [0x2e, 'an encoded "."'],
]);

/** Why one non-empty, non-dot segment is refused, or undefined. */
function segmentProblem(segment: string): string | undefined {
  let encoded = false;
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c === 0x5c) return 'it contains a "\\"';
    if (c === 0x23) return 'it contains a "#"';
    if (c === 0x3b) return 'it contains a ";" (path parameters)';
    if (c !== 0x25) continue;
    const high = hexValue(segment.charCodeAt(i + 1));
    const low = hexValue(segment.charCodeAt(i + 2));
    if (high < 0 || low < 0) return 'it has a "%" that is not followed by two hex digits';
    const what = REFUSED_ENCODINGS.get(high * 16 + low);
    if (what !== undefined) return `it contains ${what} (${segment.slice(i, i + 3)})`;
    encoded = true;
    i += 2;
  }
  if (encoded) {
    try {
      decodeURIComponent(segment);
    } catch {
      return 'its percent-encoding is not UTF-8';
    }
  }
  return undefined;
}

/**
 * Why an API request path must be answered with 400 before any route rule is matched, or
 * undefined when it is acceptable. `rawPath` is the request target without its query, still
 * percent-encoded (see {@link splitRequestTarget}). Refused:
 * - a path that does not start with `/` (absolute-form or `*` targets);
 * - `.` and `..` segments;
 * - empty segments: `//`, and a trailing `/` (the root path `/` alone is accepted);
 * - `%2F`, `%5C`, `%2E` in any case (an encoded `/`, `\` or `.`);
 * - and, because upstreams disagree on them too: a literal `\`, `#` or `;`, a `%` not followed by
 *   two hex digits, and percent-encoded bytes that are not UTF-8.
 */
export function apiPathProblem(rawPath: string): string | undefined {
  if (rawPath.charCodeAt(0) !== SLASH) return 'it does not start with "/"';
  if (rawPath.length === 1) return undefined;
  let start = 1;
  for (;;) {
    let end = rawPath.indexOf('/', start);
    if (end === -1) end = rawPath.length;
    const segment = rawPath.slice(start, end);
    if (segment === '') return 'it has an empty segment ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return `it has a "${segment}" segment`;
    const problem = segmentProblem(segment);
    if (problem !== undefined) return problem;
    if (end === rawPath.length) return undefined;
    start = end + 1;
  }
}

/** Whether `c` is trimmed off a segment by some upstream: ASCII controls and space (Java's `trim()`), and `+` (a space to decoders that read paths as forms). */
function isLooseEdge(c: number): boolean {
  return c <= 0x20 || c === 0x2b || c === 0x7f;
}

/**
 * A percent-decoded path segment as the most lenient upstream could read it, for comparing with
 * a literal of the route table (which is ASCII): case-insensitively (Express, ASP.NET Core, and
 * Java's `equalsIgnoreCase` map `ſ` U+017F to `s`, `K` U+212A KELVIN SIGN to `k`, `ı` and `İ` to
 * `i`), with Unicode compatibility forms folded (NFKC: fullwidth `ｌａｂｅｌ`, ligatures), and
 * controls, spaces and `+` trimmed off both ends. A segment of lowercase ASCII without loose
 * edges is returned as it is (no allocation). Over-matching only makes jobgate stricter.
 */
export function foldSegment(segment: string): string {
  let ascii = true;
  let lowercase = true;
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c >= 0x80) {
      ascii = false;
      break;
    }
    if (c >= 0x41 && c <= 0x5a) lowercase = false;
  }
  let folded = segment;
  if (!ascii) folded = foldKey(segment.normalize('NFKC').replaceAll('\u0130', 'i')).trim();
  else if (!lowercase) folded = segment.toLowerCase();
  let start = 0;
  let end = folded.length;
  while (start < end && isLooseEdge(folded.charCodeAt(start))) start++;
  while (end > start && isLooseEdge(folded.charCodeAt(end - 1))) end--;
  return start === 0 && end === folded.length ? folded : folded.slice(start, end);
}

/**
 * Characters after which some upstreams ignore the rest of a segment when routing: a format
 * suffix (`label.json`: Spring's suffix pattern match, Rails' `(.:format)`), a path parameter
 * that arrived encoded (`label%3Bx`, decoded before it is stripped) and a custom method
 * (`label:clear`, gRPC transcoding and Google's AIP-136).
 */
const SEGMENT_SUFFIX_MARKS = '.;:';

/**
 * Whether a percent-decoded request segment could be read as the literal whose
 * {@link foldSegment} is `literalKey` by a lenient upstream: its fold is the literal, or the
 * literal followed by a suffix mark (`.`, `;`, `:`) and anything.
 */
export function readsAsLiteral(decodedSegment: string, literalKey: string): boolean {
  const folded = foldSegment(decodedSegment);
  if (folded.length === literalKey.length) return folded === literalKey;
  return folded.length > literalKey.length && folded.startsWith(literalKey) && SEGMENT_SUFFIX_MARKS.includes(folded.charAt(literalKey.length));
}
