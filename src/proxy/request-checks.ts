import type { IncomingMessage } from 'node:http';
import { answer, ANSWERS } from '../http/answers.js';
import { headerCount } from '../http/raw-headers.js';
import { Denial } from '../gate/index.js';
import { originFormOf, pathEscapesRoot, splitAbsoluteForm } from '../routing/target.js';

const MISSING_HOST = new Denial('missing_host', answer(400, 'bad_request', 'An HTTP/1.1 request needs a Host header.'));
const TOO_MANY_HEADERS = new Denial('too_many_headers', ANSWERS.tooManyHeaders);
const TWO_HOSTS = new Denial('two_hosts', answer(400, 'bad_request', 'The request has more than one Host header. Send exactly one.'));
const HTTP_VERSION = new Denial('http_version', answer(505, 'http_version_not_supported', 'jobgate speaks HTTP/1.0 and HTTP/1.1 here.'));
const BAD_FRAMING = new Denial('bad_framing', answer(400, 'bad_request', 'The request is malformed.'));
const TARGET_HOST_MISMATCH = new Denial(
  'target_host_mismatch',
  answer(400, 'bad_request', 'The request target names another host than the Host header. Send a path as the target, or the same host in both.'),
);
const PATH_ESCAPES_ROOT = new Denial(
  'bad_path',
  answer(400, 'bad_request', 'The path climbs above the root ("..", also as "%2e%2e") or holds an encoded NUL.'),
);

/**
 * Checks that need nothing but the HTTP/1 message, run once before the API or job route is
 * chosen. The host an edge in front routes on must be the one decided on: Node keeps the first of
 * two Host headers (RFC 9112 3.2: 400), and an absolute-form target names the host (RFC 9112
 * 3.2.2), not Host: refused unless both agree, then read as the path it carries, as an edge
 * passes it on (req.url and, for HTTP/1.0 without Host, req.headers.host are rewritten).
 */
export function requestDenial(req: IncomingMessage, maxHeaders: number): Denial | undefined {
  if (req.headers.host === undefined && req.httpVersion !== '1.0') return MISSING_HOST;
  if (req.rawHeaders.length > maxHeaders * 2) return TOO_MANY_HEADERS;
  if (headerCount(req.rawHeaders, 'host') > 1) return TWO_HOSTS;
  if (req.httpVersionMajor !== 1) return HTTP_VERSION;
  // RFC 9112 6.1: the framing of an HTTP/1.0 message with Transfer-Encoding is faulty.
  if (req.httpVersion === '1.0' && req.headers['transfer-encoding'] !== undefined) return BAD_FRAMING;
  const url = req.url ?? '/';
  if (url.charCodeAt(0) !== 47 /* / */) {
    // HTTP/1.0 may name the host in the target alone.
    if (req.headers.host === undefined && req.httpVersion === '1.0') req.headers.host = splitAbsoluteForm(url)?.authority;
    const path = originFormOf(url, req.headers.host);
    if (path === undefined) return TARGET_HOST_MISMATCH;
    req.url = path;
  }
  return pathEscapesRoot(req.url!) ? PATH_ESCAPES_ROOT : undefined;
}
