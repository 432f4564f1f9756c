import type { IncomingHttpHeaders } from 'node:http';
import { headerCount } from '../http/raw-headers.js';
import { TOKEN_LENGTH, tokenShape, type PresentedToken } from '../tokens/format.js';

/** What the request presents, before Redis is asked anything. */
export type Credential =
  | { readonly kind: 'none' }
  /** Authorization with another scheme (Basic...): treated as no credential (RFC 6750 3.1). */
  | { readonly kind: 'other-scheme' }
  /** More than one Authorization header: a bad request. */
  | { readonly kind: 'duplicate' }
  /** A Bearer credential that is not shaped like a jobgate token (bad characters, length). */
  | { readonly kind: 'malformed' }
  /** A Bearer credential shaped like a jobgate token; its checksum is checked when it is resolved. */
  | { readonly kind: 'bearer'; readonly token: PresentedToken };

const NONE: Credential = { kind: 'none' };
const OTHER_SCHEME: Credential = { kind: 'other-scheme' };
const DUPLICATE: Credential = { kind: 'duplicate' };
const MALFORMED: Credential = { kind: 'malformed' };

/** Reads `Authorization: Bearer <token>` (RFC 6750 2.1; the scheme is case-insensitive). */
export function readCredential(req: { readonly headers: IncomingHttpHeaders; readonly rawHeaders: readonly string[] }): Credential {
  const header = req.headers.authorization;
  if (header === undefined) return NONE;
  if (headerCount(req.rawHeaders, 'authorization') > 1) return DUPLICATE;
  if (header.length < 6 || header.slice(0, 6).toLowerCase() !== 'bearer') return OTHER_SCHEME;
  if (header.length === 6) return MALFORMED; // "Bearer" and nothing else
  if (header.charCodeAt(6) !== 32) return OTHER_SCHEME; // "Bearerx ..." is another scheme
  let start = 7;
  while (header.charCodeAt(start) === 32) start++;
  // The length check comes first so that an over-long header costs nothing more.
  const length = header.length - start;
  if (length !== TOKEN_LENGTH) return MALFORMED;
  const token = tokenShape(start === 7 ? header.slice(7) : header.slice(start));
  return token ? { kind: 'bearer', token } : MALFORMED;
}
