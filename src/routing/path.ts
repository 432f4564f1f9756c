/**
 * Keeping a request under its job's upstream base path. jobgate forwards a request for
 * `/<path>` to `<base path>/<path>` (see upstreamPath); a dot segment in `<path>` would let the
 * upstream, or anything between it and jobgate, resolve it to a path outside `<base path>`. Such
 * requests are refused rather than normalised, since servers disagree on what a segment is
 * (`\` and `;` separate segments for some, and some decode `%2e` or `%252e` before resolving).
 * Pure; no regular expressions.
 */
import { answer } from '../http/answers.js';

/** The answer for a request whose path could leave the job's upstream base path. */
export const ESCAPES_BASE_PATH = answer(
  400,
  'invalid_request',
  'The path has a "." or ".." segment (possibly percent-encoded, or next to a "\\"), which could leave the job\'s base path. Send the path without dot segments.',
);

/** How many rounds of percent-decoding are undone (`%252e` -> `%2e` -> `.`); a path that needs more is refused. */
const MAX_DECODING_ROUNDS = 4;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** `text` with every `%HH` that encodes an ASCII byte decoded once (others, and broken escapes, kept). */
function decodeAsciiOnce(text: string): string {
  let out = '';
  let from = 0;
  for (let i = text.indexOf('%'); i !== -1; i = text.indexOf('%', i + 1)) {
    const high = hexValue(text.charCodeAt(i + 1));
    const low = hexValue(text.charCodeAt(i + 2));
    if (high < 0 || high > 7 || low < 0) continue;
    out += text.slice(from, i) + String.fromCharCode(high * 16 + low);
    from = i + 3;
    i += 2;
  }
  return from === 0 ? text : out + text.slice(from);
}

/**
 * Whether `path[start, end)` is a dot segment for some server: only dots (`.`, `..`, and `...`,
 * which Windows reads as `..`), then nothing but spaces or tabs, up to the end or a `;` (path
 * parameters: `..;x`) or NUL.
 */
function isDotSegment(path: string, start: number, end: number): boolean {
  let i = start;
  while (i < end && path.charCodeAt(i) === 0x2e) i++;
  if (i === start) return false;
  for (; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x3b || c === 0) return true;
    if (c !== 0x20 && c !== 0x09) return false;
  }
  return true;
}

/**
 * Whether the path of `requestTarget` (`req.url`: origin or absolute form; the query is not
 * looked at) has a segment that a server could resolve as `.` or `..`: segments are separated by
 * `/` or `\`, after undoing up to {@link MAX_DECODING_ROUNDS} rounds of percent-encoding of ASCII
 * bytes (so `%2e%2E`, `.%2e`, `%5c`, `%2f` and `%252e` count).
 */
export function hasDotSegment(requestTarget: string): boolean {
  const query = requestTarget.indexOf('?');
  let path = query === -1 ? requestTarget : requestTarget.slice(0, query);
  if (!path.includes('.') && !path.includes('%')) return false;
  for (let round = 0; path.includes('%'); round++) {
    const decoded = decodeAsciiOnce(path);
    if (decoded === path) break;
    if (round === MAX_DECODING_ROUNDS) return true;
    path = decoded;
  }
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    const c = i === path.length ? 0x2f : path.charCodeAt(i);
    if (c !== 0x2f && c !== 0x5c) continue;
    if (isDotSegment(path, start, i)) return true;
    start = i + 1;
  }
  return false;
}

/**
 * Whether a request for `requestTarget` to an upstream at `upstream` must be refused with
 * {@link ESCAPES_BASE_PATH}: the upstream URL has a base path (other than `/`) and the request
 * path has a dot segment in any spelling ({@link hasDotSegment}).
 */
export function escapesBasePath(upstream: URL, requestTarget: string): boolean {
  return upstream.pathname.length > 1 && hasDotSegment(requestTarget);
}
