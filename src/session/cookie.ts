import { errors, jwtVerify, SignJWT, type JWTHeaderParameters } from 'jose';
import { carriesToken } from '../tokens/format.js';
import type { SessionKeys } from './keys.js';

/** The cookie's name over HTTPS (host-only, Secure, Path=/ by the prefix's rules) and over plain HTTP. */
export const SECURE_COOKIE_NAME = '__Host-jobgate';
export const PLAIN_COOKIE_NAME = 'jobgate';

/** What a valid session cookie says: which token, at which version. No secret. */
export interface Session {
  readonly tokenId: string;
  readonly version: number;
}

/**
 * What a session is good for: the host name it was issued on, and the job and port that host
 * was routed to then. A host name can come to mean another job or port (a job written around
 * `jobgate job put`), so the host alone is not enough.
 */
export interface SessionScope {
  readonly host: string;
  readonly jobId: string;
  /** The port of a `<job-id>-<port>` host, undefined for the job's default upstream. */
  readonly port: number | undefined;
}

/** The `port` claim: the port, or 0 for the job's default upstream (no port in the host name). */
const portClaim = (scope: SessionScope): number => scope.port ?? 0;

export function cookieName(https: boolean): string {
  return https ? SECURE_COOKIE_NAME : PLAIN_COOKIE_NAME;
}

/** The value of cookie `name` in a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    while (header.charCodeAt(start) === 32) start++;
    if (header.startsWith(name, start) && header.charCodeAt(start + name.length) === 61) return header.slice(start + name.length + 1, end).trim();
    start = end + 1;
  }
  return undefined;
}

/**
 * The Cookie header an upstream may see: without jobgate's session cookies and without any
 * cookie whose value holds a jobgate token (undefined when nothing is left).
 */
export function cookiesForUpstream(header: string): string | undefined {
  if (!header.includes('jobgate=') && !carriesToken(header)) return header;
  const kept = header
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part.length > 0 && !part.startsWith(`${SECURE_COOKIE_NAME}=`) && !part.startsWith(`${PLAIN_COOKIE_NAME}=`) && !carriesToken(part));
  return kept.length > 0 ? kept.join('; ') : undefined;
}

/**
 * Issues and checks session cookies: a JWS (HS256, jose) naming the token id, its version, the
 * host (`aud`), the job (`job`) and port (`port`) it was issued for, and an expiry.
 */
export class SessionCookies {
  constructor(
    private readonly keys: SessionKeys,
    private readonly ttlSeconds: number,
  ) {}

  /** A Set-Cookie header value that opens a session for `session` on `scope`. */
  async issue(session: Session, scope: SessionScope, https: boolean): Promise<string> {
    const jwt = await new SignJWT({ ver: session.version, job: scope.jobId, port: portClaim(scope) })
      .setProtectedHeader({ alg: 'HS256', kid: this.keys.signing.kid })
      .setSubject(session.tokenId)
      .setAudience(scope.host)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.keys.signing.key);
    return `${cookieName(https)}=${jwt}; Path=/; Max-Age=${this.ttlSeconds}; HttpOnly; SameSite=Lax${https ? '; Secure' : ''}`;
  }

  /** Set-Cookie values that remove the session cookie (under both names). */
  clear(https: boolean): string[] {
    return [
      `${PLAIN_COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${https ? '; Secure' : ''}`,
      ...(https ? [`${SECURE_COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure`] : []),
    ];
  }

  /**
   * The session in a cookie value, or undefined when it is forged, expired, malformed, or for
   * another host, job or port (a cookie without the job and port claims included).
   */
  async verify(value: string, scope: SessionScope): Promise<Session | undefined> {
    if (value.length > 1024) return undefined;
    try {
      const { payload } = await jwtVerify(value, (header: JWTHeaderParameters) => this.keyFor(header.kid), {
        algorithms: ['HS256'],
        audience: scope.host,
      });
      if (typeof payload.sub !== 'string' || typeof payload.ver !== 'number' || !Number.isSafeInteger(payload.ver)) return undefined;
      if (payload.job !== scope.jobId || payload.port !== portClaim(scope)) return undefined;
      return { tokenId: payload.sub, version: payload.ver };
    } catch (error) {
      if (error instanceof errors.JOSEError || error instanceof TypeError) return undefined;
      throw error;
    }
  }

  private keyFor(kid: string | undefined): Uint8Array {
    const key = this.keys.all.find((candidate) => candidate.kid === kid);
    if (!key) throw new errors.JWKSNoMatchingKey();
    return key.key;
  }
}

/**
 * An upstream's Set-Cookie value as the client may get it, or undefined when it names jobgate's
 * cookie: `jobgate` in any case and under any `__Host-`/`__Secure-`-style prefix, or a nameless
 * cookie (`=jobgate=...`, which browsers send as `jobgate=...`). Unless `keepDomain`, the Domain
 * attributes are removed: all jobs share the job domain, and the cookie stays on the job's host.
 * An ordinary cookie costs a scan of its name and of its attribute separators, no allocation.
 */
export function upstreamSetCookie(value: string, keepDomain: boolean): string | undefined {
  let end = value.indexOf(';');
  if (end === -1) end = value.length;
  let equals = value.indexOf('=');
  if (equals === -1 || equals > end) equals = -1;
  let name = equals === -1 ? '' : value.slice(0, equals).trim();
  if (name === '') {
    // Nameless: the browser sends the value alone, so the value's own name is what jobgate would read.
    const rest = value.slice(equals + 1, end);
    const inner = rest.indexOf('=');
    name = (inner === -1 ? rest : rest.slice(0, inner)).trim();
  }
  if (name.length >= 7 && isJobgateCookieName(name.toLowerCase())) return undefined;
  return keepDomain ? value : withoutDomain(value, end);
}

function isJobgateCookieName(lower: string): boolean {
  return lower === PLAIN_COOKIE_NAME || (lower.startsWith('__') && lower.endsWith(`-${PLAIN_COOKIE_NAME}`));
}

/** `value` without its `Domain=` attributes (any case, any spacing); the attributes start after `firstSemicolon`. */
function withoutDomain(value: string, firstSemicolon: number): string {
  let kept: string | undefined;
  let from = firstSemicolon;
  while (from < value.length) {
    let next = value.indexOf(';', from + 1);
    if (next === -1) next = value.length;
    if (isDomainAttribute(value, from + 1, next)) kept ??= value.slice(0, from);
    else if (kept !== undefined) kept += value.slice(from, next);
    from = next;
  }
  return kept ?? value;
}

const DOMAIN = 'domain';

/** True when value[start, end) is a Domain attribute: blanks, "domain" in any case, blanks, then "=" or the end. */
function isDomainAttribute(value: string, start: number, end: number): boolean {
  let i = start;
  while (i < end && (value.charCodeAt(i) === 32 || value.charCodeAt(i) === 9)) i++;
  if (end - i < DOMAIN.length) return false;
  for (let j = 0; j < DOMAIN.length; j++) if ((value.charCodeAt(i + j) | 0x20) !== DOMAIN.charCodeAt(j)) return false;
  i += DOMAIN.length;
  while (i < end && (value.charCodeAt(i) === 32 || value.charCodeAt(i) === 9)) i++;
  return i === end || value.charCodeAt(i) === 61;
}
