import { readCredential, type Credential } from '../auth/credential.js';
import { decide, type Authentication, type Decision } from '../auth/decide.js';
import type { FailureCounter } from '../auth/failure-limit.js';
import { RecordError } from '../errors.js';
import { ANSWERS, expiredToken, tooManyFailures, type Answer } from '../http/answers.js';
import type { Registry } from '../registry/registry.js';
import { cookieName, readCookie, type SessionCookies, type SessionScope } from '../session/cookie.js';
import { checkToken, parseToken, sameDigest, tokenShape, type PresentedToken } from '../tokens/format.js';
import { isExpired, type TokenRecord } from '../tokens/record.js';
import type { AccessDecision } from './decision.js';
import { Denial, isDenial, isPromise, type MaybePromise } from './denial.js';
import type { Target } from './job-router.js';
import { storeFailure } from './job-router.js';
import { hostName, type GateRequest } from './request.js';

/** A request to a job that may pass: who it is, and where its traffic goes. */
export interface JobAdmission {
  readonly decision: 'allowed' | 'allowed_unsecure';
  readonly job: Target['job'];
  readonly upstream: URL;
  readonly token: TokenRecord | undefined;
  /** How the token was presented. */
  readonly via: 'bearer' | 'session' | undefined;
}

/** The result of exchanging a token value for a session (login form, deep link); a Denial when the token could not be looked up. */
export type Exchange =
  | { readonly kind: 'session'; readonly setCookie: string; readonly token: TokenRecord }
  | { readonly kind: 'invalid' }
  | { readonly kind: 'out_of_scope'; readonly token: TokenRecord }
  | { readonly kind: 'limited'; readonly retryAfter: number }
  | Denial;

/** What a session cookie is bound to: the host name, and the job and port the request is routed to. */
export function sessionScope(req: GateRequest, target: Target): SessionScope {
  return { host: hostName(req.host), jobId: target.job.id, port: target.port };
}

/** What became of a session cookie that did not authenticate the request. */
interface SessionState {
  readonly staleSession?: boolean;
  readonly tokenChanged?: boolean;
}
const FRESH: SessionState = Object.freeze({});

const DUPLICATE_AUTHORIZATION = new Denial('duplicate_authorization', ANSWERS.duplicateAuthorization);
const MALFORMED_TOKEN = new Denial('malformed_token', ANSWERS.malformedToken);
const MISSING_TOKEN = new Denial('missing_token', ANSWERS.missingToken);

/**
 * Credential, identity and decision: the bearer token or the browser session a request
 * presents, resolved through the registry (one lookup, none on a warm cache), checked in
 * constant time, counted toward the client's failure limit, then decided by the pure
 * decision table (src/auth/decide.ts).
 */
export class Authenticator {
  constructor(
    private readonly registry: Registry,
    private readonly failures: FailureCounter,
    private readonly sessions: SessionCookies,
  ) {}

  /**
   * Authenticates a request to a job and decides. Answers at once (no promise) when the
   * cache knows the token, which is the common case.
   */
  admitToJob(req: GateRequest, target: Target): MaybePromise<JobAdmission | Denial> {
    const { job, upstream } = target;
    if (job.unsecureHttp) return { decision: 'allowed_unsecure', job, upstream, token: undefined, via: undefined };

    const credential = readCredential(req);
    const limited = this.limited(credential, req.client, job.id);
    if (limited) return limited;
    switch (credential.kind) {
      case 'duplicate':
        return DUPLICATE_AUTHORIZATION.with({ jobId: job.id });
      case 'malformed':
        this.failures.recordFailure(req.client);
        return MALFORMED_TOKEN.with({ jobId: job.id });
      case 'bearer': {
        const token = this.resolveBearer(credential.token, req.client, job.id);
        return isPromise(token) ? token.then((resolved) => this.admitBearer(resolved, target)) : this.admitBearer(token, target);
      }
      default: {
        // No bearer token (or another scheme, RFC 6750 3.1): a browser session may stand in.
        const cookie = readCookie(req.headers.cookie, cookieName(req.https));
        return cookie === undefined ? this.admit({ kind: 'anonymous' }, target, undefined) : this.admitSession(req, cookie, target);
      }
    }
  }

  /**
   * Authenticates a request to the training API: bearer tokens only (browser sessions are
   * for job URLs). Returns the token, or the denial (400, 401, 429, 503).
   */
  authenticateForApi(req: GateRequest): MaybePromise<TokenRecord | Denial> {
    const credential = readCredential(req);
    const limited = this.limited(credential, req.client);
    if (limited) return limited;
    switch (credential.kind) {
      case 'duplicate':
        return DUPLICATE_AUTHORIZATION;
      case 'malformed':
        this.failures.recordFailure(req.client);
        return MALFORMED_TOKEN;
      case 'bearer':
        return this.resolveBearer(credential.token, req.client);
      default:
        return MISSING_TOKEN;
    }
  }

  /**
   * The token a pasted value stands for (the console's sign-in form), or the denial (401, 429,
   * 503), as a bearer token would be: the same failure limit, cache and constant-time check.
   */
  authenticateValue(value: string, client: string): MaybePromise<TokenRecord | Denial> {
    const presented = value.length < 512 ? tokenShape(value.trim()) : undefined;
    const limited = this.limited(presented ? { kind: 'bearer', token: presented } : { kind: 'malformed' }, client);
    if (limited) return limited;
    if (!presented) return this.refuseBearer(client, 'malformed_token', ANSWERS.malformedToken, undefined);
    return this.resolveBearer(presented, client);
  }

  /**
   * The current record of the token a console session names, when it still has `version` and
   * has not expired; undefined when it was renewed, deleted or expired since; the denial when it
   * cannot be read (503).
   */
  async sessionTokenById(id: string, version: number): Promise<TokenRecord | Denial | undefined> {
    let token: TokenRecord | undefined;
    try {
      token = await this.registry.token(id);
    } catch (error) {
      if (error instanceof RecordError) return undefined;
      return storeFailure(error, 'token', { tokenId: id });
    }
    return token && token.version === version && !isExpired(token) ? token : undefined;
  }

  /**
   * The token of the valid session the request's cookie opens for its host, job and port, or
   * undefined (no cookie, or a stale one); the denial (503...) when the token cannot be read.
   */
  async currentSession(req: GateRequest, target: Target): Promise<TokenRecord | Denial | undefined> {
    const cookie = readCookie(req.headers.cookie, cookieName(req.https));
    return cookie === undefined ? undefined : this.sessionToken(req, cookie, target);
  }

  /**
   * Exchanges a token value (login form, deep link) for a session cookie for the request's
   * host, job and port, when the token is valid and its selector matches the job. Failures
   * count toward the limit.
   */
  async exchange(value: string, req: GateRequest, target: Target): Promise<Exchange> {
    const job = target.job;
    const parsed = value.length < 512 ? parseToken(value.trim()) : undefined;
    const retryAfter = this.failures.retryAfter(req.client);
    if (retryAfter > 0 && (!parsed || !this.knownValid(parsed.id, parsed.digest))) return { kind: 'limited', retryAfter };
    let token: TokenRecord | undefined;
    if (parsed) {
      try {
        token = await this.registry.token(parsed.id);
      } catch (error) {
        // A malformed record means "not a valid token" here; an unreachable store is a 503.
        if (!(error instanceof RecordError)) return storeFailure(error, 'token', { jobId: job.id, tokenId: parsed.id });
      }
    }
    if (!parsed || !token || !sameDigest(token.secretHash, parsed.digest) || isExpired(token)) {
      this.failures.recordFailure(req.client);
      return { kind: 'invalid' };
    }
    if (!decide({ kind: 'token', token }, job, 'job').allow) return { kind: 'out_of_scope', token };
    const setCookie = await this.sessions.issue({ tokenId: token.id, version: token.version }, sessionScope(req, target), req.https);
    return { kind: 'session', token, setCookie };
  }

  /** The Set-Cookie value that ends the session of the scheme the client used. */
  clearSession(https: boolean): string[] {
    return this.sessions.clear(https);
  }

  private admitBearer(token: TokenRecord | Denial, target: Target): JobAdmission | Denial {
    return isDenial(token) ? token : this.admit({ kind: 'token', token }, target, 'bearer');
  }

  private async admitSession(req: GateRequest, cookie: string, target: Target): Promise<JobAdmission | Denial> {
    const token = await this.sessionLookup(req, cookie, target);
    if (token === 'no_session') return this.admit({ kind: 'anonymous' }, target, undefined, { staleSession: true });
    if (token === 'token_changed') return this.admit({ kind: 'anonymous' }, target, undefined, { staleSession: true, tokenChanged: true });
    return isDenial(token) ? token : this.admit({ kind: 'token', token }, target, 'session');
  }

  private async sessionToken(req: GateRequest, cookie: string, target: Target): Promise<TokenRecord | Denial | undefined> {
    const token = await this.sessionLookup(req, cookie, target);
    return token === 'no_session' || token === 'token_changed' ? undefined : token;
  }

  /**
   * The token of the session the cookie opens for the request's host, job and port: `no_session`
   * when the cookie opens none (forged, expired, another host's), `token_changed` when its token
   * was deleted or renewed since (the version is in the cookie), the denial when it cannot be read.
   */
  private async sessionLookup(req: GateRequest, cookie: string, target: Target): Promise<TokenRecord | Denial | 'no_session' | 'token_changed'> {
    const session = await this.sessions.verify(cookie, sessionScope(req, target));
    if (!session) return 'no_session';
    let token: TokenRecord | undefined;
    try {
      token = await this.registry.token(session.tokenId);
    } catch (error) {
      return storeFailure(error, 'token', { jobId: target.job.id, tokenId: session.tokenId });
    }
    return token && token.version === session.version && !isExpired(token) ? token : 'token_changed';
  }

  /** The decision for an authenticated (or anonymous) request, as an admission or a denial. */
  private admit(auth: Authentication, target: Target, via: 'bearer' | 'session' | undefined, session: SessionState = FRESH): JobAdmission | Denial {
    const { job, upstream } = target;
    const decision = decide(auth, job, 'job');
    const token = auth.kind === 'token' ? auth.token : undefined;
    if (!decision.allow) return new Denial(decision.reason, answerFor(decision), { jobId: job.id, tokenId: token?.id, ...session });
    return { decision: decision.reason, job, upstream, token, via };
  }

  /**
   * Past the failure limit, only a presented token already known valid passes: one the cache
   * holds with this very secret (constant-time). A fresh entry decides without Redis; one past
   * its TTL is refreshed from Redis as usual, so a valid token is not locked out when its entry
   * ages. Guesses gain nothing: a wrong secret never gets past this check.
   */
  private limited(credential: Credential, client: string, jobId?: string): Denial | undefined {
    if (credential.kind !== 'malformed' && credential.kind !== 'bearer') return undefined;
    const retryAfter = this.failures.retryAfter(client);
    if (retryAfter === 0) return undefined;
    const parsed = credential.kind === 'bearer' ? checkToken(credential.token) : undefined;
    if (parsed && this.knownValid(parsed.id, parsed.digest)) return undefined;
    return new Denial('too_many_failures', tooManyFailures(retryAfter), { jobId });
  }

  /**
   * The record a bearer token stands for, or the denial; failures count toward the limit.
   * An id the cache knows does not exist (a deleted token presented again) is refused before
   * the hash; any other token is hashed once, for its checksum and the secret comparison.
   */
  private resolveBearer(presented: PresentedToken, client: string, jobId?: string): MaybePromise<TokenRecord | Denial> {
    const cached = this.registry.peekToken(presented.id);
    if (cached && cached.value === undefined) return this.refuseBearer(client, 'unknown_token', ANSWERS.unknownToken, jobId, presented.id);
    const parsed = checkToken(presented);
    if (!parsed) return this.refuseBearer(client, 'malformed_token', ANSWERS.malformedToken, jobId);
    if (cached) return this.verifyBearer(cached.value, parsed.digest, client, jobId, presented.id);
    return this.registry.token(presented.id).then(
      (token) => this.verifyBearer(token, parsed.digest, client, jobId, presented.id),
      (error: unknown) => {
        if (error instanceof RecordError) this.failures.recordFailure(client);
        return storeFailure(error, 'token', { jobId, tokenId: presented.id });
      },
    );
  }

  /**
   * The token when it exists, the presented secret is its own (constant-time) and it has not
   * expired; else the 401. An expired token is not counted as a failure: its holder knew a secret.
   */
  private verifyBearer(token: TokenRecord | undefined, digest: string, client: string, jobId: string | undefined, tokenId: string): TokenRecord | Denial {
    if (token && sameDigest(token.secretHash, digest)) {
      return isExpired(token) ? new Denial('expired_token', expiredToken(token.expiresAt!), { jobId, tokenId }) : token;
    }
    return this.refuseBearer(client, 'unknown_token', ANSWERS.unknownToken, jobId, tokenId);
  }

  /** A failed authentication: counted toward the client's limit, answered with `answer`. */
  private refuseBearer(client: string, decision: AccessDecision, answer: Answer, jobId: string | undefined, tokenId?: string): Denial {
    this.failures.recordFailure(client);
    return new Denial(decision, answer, { jobId, tokenId });
  }

  private knownValid(id: string, digest: string): boolean {
    const remembered = this.registry.rememberedToken(id);
    return remembered !== undefined && sameDigest(remembered.secretHash, digest) && !isExpired(remembered);
  }
}

function answerFor(decision: Extract<Decision, { allow: false }>): Answer {
  return decision.reason === 'missing_token' ? ANSWERS.missingToken : decision.reason === 'role_denied' ? ANSWERS.roleDenied : ANSWERS.scopeDenied;
}
