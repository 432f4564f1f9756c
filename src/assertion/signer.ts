import { SignJWT } from 'jose';
import { Lru } from '../registry/lru.js';
import type { TokenRecord } from '../tokens/record.js';
import type { AssertionKeys } from './keys.js';

/** An assertion lives this long; verifiers reject it after. */
export const ASSERTION_LIFETIME_SECONDS = 60;
/** A cached assertion is replaced this long before it expires, so that none arrives stale. */
const REFRESH_BEFORE_EXPIRY_SECONDS = 20;

interface Cached {
  readonly jwt: string;
  readonly refreshAt: number;
}

/**
 * Signs `X-Jobgate-Assertion`: a JWT (ES256 or EdDSA) with iss, aud (the job id, or the API
 * host), sub (token id), name, role, iat and exp (60 s later) and the key id. One is reused
 * per (token id, version, audience) until shortly before it expires, so that signing costs
 * one signature per token and audience per 40 s, not one per request.
 */
export class AssertionSigner {
  private readonly cache = new Lru<string, Cached>(10_000);

  constructor(
    private readonly keys: AssertionKeys,
    private readonly issuer: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cached assertion, when there is a fresh one (no await on the hot path). */
  cached(token: TokenRecord, audience: string): string | undefined {
    const cached = this.cache.get(cacheKey(token, audience));
    return cached !== undefined && cached.refreshAt > this.now() ? cached.jwt : undefined;
  }

  /** The assertion for `token` towards `audience`: cached, or freshly signed. */
  async assertionFor(token: TokenRecord, audience: string): Promise<string> {
    const fresh = this.cached(token, audience);
    if (fresh !== undefined) return fresh;
    const key = cacheKey(token, audience);
    const nowMs = this.now();
    const iat = Math.floor(nowMs / 1000);
    const signing = this.keys.signing;
    const jwt = await new SignJWT({ name: token.name, role: token.role })
      .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(audience)
      .setSubject(token.id)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_SECONDS)
      .sign(signing.privateKey);
    this.cache.set(key, { jwt, refreshAt: (iat + ASSERTION_LIFETIME_SECONDS - REFRESH_BEFORE_EXPIRY_SECONDS) * 1000 });
    return jwt;
  }
}

function cacheKey(token: TokenRecord, audience: string): string {
  return `${token.id}\u0000${token.version}\u0000${audience}`;
}
