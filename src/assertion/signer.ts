import { SignJWT } from 'jose';
import { ScanResistantLru } from '../util/scan-resistant-lru.js';
import type { TokenRecord } from '../tokens/record.js';
import type { AssertionKeys } from './keys.js';

/** An assertion lives this long; verifiers reject it after. */
export const ASSERTION_LIFETIME_SECONDS = 60;
/** A cached assertion is replaced this long before it expires, so that none arrives stale. */
const REFRESH_BEFORE_EXPIRY_SECONDS = 20;

/** A signed assertion and what it asserts; a token's assertions form a short list. */
interface Signed {
  readonly version: number;
  readonly name: string;
  readonly role: string;
  readonly audience: string;
  readonly jwt: string;
  readonly refreshAt: number;
  readonly next: Signed | undefined;
}

/** Audiences remembered per token: an operator token reaching many jobs keeps its latest few. */
const AUDIENCES_PER_TOKEN = 8;

/**
 * Signs `X-Jobgate-Assertion`: a JWT (ES256 or EdDSA) with iss, aud (the upstream it is for,
 * see audience.ts), sub (token id), name, role, iat and exp (60 s later) and the key id. One is
 * reused per (token id, version, name, role, audience) until shortly before it expires, so that
 * signing costs one signature per token and audience per 40 s, not one per request, and a token
 * whose name or role an admin rewrites in place gets new claims at its next request.
 *
 * The cache is keyed by the record's own id string, with the rest in the entry, so that a
 * cached assertion costs its JWT and one small object and no key strings.
 */
export class AssertionSigner {
  private readonly cache = new ScanResistantLru<Signed>(10_000);

  constructor(
    private readonly keys: AssertionKeys,
    private readonly issuer: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cached assertion, when there is a fresh one (no await on the hot path). */
  cached(token: TokenRecord, audience: string): string | undefined {
    for (let signed = this.cache.get(token.id); signed !== undefined; signed = signed.next) {
      if (signed.audience === audience && sameClaims(signed, token)) return signed.refreshAt > this.now() ? signed.jwt : undefined;
    }
    return undefined;
  }

  /** The assertion for `token` towards `audience`: cached, or freshly signed. */
  async assertionFor(token: TokenRecord, audience: string): Promise<string> {
    const fresh = this.cached(token, audience);
    if (fresh !== undefined) return fresh;
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
    const refreshAt = (iat + ASSERTION_LIFETIME_SECONDS - REFRESH_BEFORE_EXPIRY_SECONDS) * 1000;
    const others = keep(this.cache.get(token.id), token, audience, AUDIENCES_PER_TOKEN - 1);
    this.cache.set(token.id, { version: token.version, name: token.name, role: token.role, audience, jwt, refreshAt, next: others });
    return jwt;
  }
}

/** Whether `signed` asserts what `token` says now (its sub, the token id, is the cache key). */
function sameClaims(signed: Signed, token: TokenRecord): boolean {
  return signed.version === token.version && signed.role === token.role && signed.name === token.name;
}

/** The list without entries for `audience` or with other claims than `token`'s, cut to `limit` entries. */
function keep(list: Signed | undefined, token: TokenRecord, audience: string, limit: number): Signed | undefined {
  if (list === undefined || limit === 0) return undefined;
  if (!sameClaims(list, token) || list.audience === audience) return keep(list.next, token, audience, limit);
  return { ...list, next: keep(list.next, token, audience, limit - 1) };
}
