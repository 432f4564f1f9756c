/**
 * The console's session cookie: the job-URL cookie's design (a JWS made with jose, HS256, naming
 * the token id and version, bound to the host, with an expiry; no secret) under a key of its own
 * (HKDF from the same JOBGATE_COOKIE_SECRET with another label), so that neither cookie ever
 * verifies as the other. It also carries the session's CSRF token, which every state-changing
 * form sends back. Host-only, HttpOnly, SameSite=Strict, `__Host-` and Secure over HTTPS.
 */
import { hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type JWTHeaderParameters } from 'jose';
import type { SessionKey, SessionKeys } from '../session/keys.js';

/** The console cookie's name over HTTPS and over plain HTTP. */
export const SECURE_CONSOLE_COOKIE = '__Host-jobgate-console';
export const PLAIN_CONSOLE_COOKIE = 'jobgate-console';

export function consoleCookieName(https: boolean): string {
  return https ? SECURE_CONSOLE_COOKIE : PLAIN_CONSOLE_COOKIE;
}

/** What a valid console cookie says: which token at which version, the session's id, CSRF token and expiry. */
export interface ConsoleSession {
  readonly tokenId: string;
  readonly version: number;
  readonly csrf: string;
  /** The session's own id (`jti`): sign-out ends this one session, not the token's others. */
  readonly sid: string;
  readonly expiresAtMs: number;
}

/** A session id as issued: 16 random bytes, base64url. */
const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

function consoleKey(key: SessionKey): SessionKey {
  return { kid: key.kid, key: new Uint8Array(hkdfSync('sha256', key.key, 'jobgate', 'jobgate console session v1', 32)) };
}

/** Whether the CSRF token a form sent is the session's own (constant time). */
export function sameCsrf(sent: string | null | undefined, session: ConsoleSession): boolean {
  if (typeof sent !== 'string') return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}

export class ConsoleSessions {
  private readonly signing: SessionKey;
  private readonly all: readonly SessionKey[];

  constructor(
    keys: SessionKeys,
    private readonly ttlSeconds: number,
  ) {
    this.all = keys.all.map(consoleKey);
    this.signing = this.all[0]!;
  }

  /** A Set-Cookie value opening a console session for the token `tokenId` at `version`, on `host`. */
  async issue(tokenId: string, version: number, host: string, https: boolean): Promise<string> {
    const jwt = await new SignJWT({ ver: version, csrf: randomBytes(24).toString('base64url'), use: 'console' })
      .setProtectedHeader({ alg: 'HS256', kid: this.signing.kid })
      .setSubject(tokenId)
      .setJti(randomBytes(16).toString('base64url'))
      .setAudience(host)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.signing.key);
    return `${consoleCookieName(https)}=${jwt}; Path=/; Max-Age=${this.ttlSeconds}; HttpOnly; SameSite=Strict${https ? '; Secure' : ''}`;
  }

  /** The Set-Cookie value that removes the console cookie. */
  clear(https: boolean): string {
    return `${consoleCookieName(https)}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict${https ? '; Secure' : ''}`;
  }

  /** The session in a cookie value, or undefined when it is forged, expired, malformed or for another host. */
  async verify(value: string, host: string): Promise<ConsoleSession | undefined> {
    if (value.length > 1024) return undefined;
    try {
      const { payload } = await jwtVerify(value, (header: JWTHeaderParameters) => this.keyFor(header.kid), { algorithms: ['HS256'], audience: host });
      const { sub, ver, csrf, use, jti, exp } = payload;
      if (typeof sub !== 'string' || typeof ver !== 'number' || !Number.isSafeInteger(ver) || typeof csrf !== 'string' || use !== 'console') return undefined;
      if (typeof jti !== 'string' || !SESSION_ID.test(jti) || typeof exp !== 'number') return undefined;
      return { tokenId: sub, version: ver, csrf, sid: jti, expiresAtMs: exp * 1000 };
    } catch (error) {
      if (error instanceof errors.JOSEError || error instanceof TypeError) return undefined;
      throw error;
    }
  }

  private keyFor(kid: string | undefined): Uint8Array {
    const key = this.all.find((candidate) => candidate.kid === kid);
    if (!key) throw new errors.JWKSNoMatchingKey();
    return key.key;
  }
}
