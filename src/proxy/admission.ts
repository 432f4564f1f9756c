import type { IncomingMessage } from 'node:http';
import { readCredential, type Credential } from '../auth/credential.js';
import { decide, type Authentication, type Decision } from '../auth/decide.js';
import type { FailureCounter } from '../auth/failure-limit.js';
import { RecordError, StoreUnavailableError } from '../errors.js';
import { answer, ANSWERS, missingSidecarJob, tooManyFailures, type Answer } from '../http/answers.js';
import type { JobRecord } from '../jobs/record.js';
import type { Registry } from '../registry/registry.js';
import type { HostRoute } from '../routing/host.js';
import type { Mode } from '../routing/mode.js';
import { cookieName, readCookie, type SessionCookies, type SessionScope } from '../session/cookie.js';
import { checkToken, parseToken, type PresentedToken, sameDigest } from '../tokens/format.js';
import type { TokenRecord } from '../tokens/record.js';

/** The job a request is for, which of its ports, and where its traffic goes. */
export interface Target {
  readonly job: JobRecord;
  readonly upstream: URL;
  /** The job's other port the host names (`<id>-<port>`); absent for its default upstream. */
  readonly port?: number;
}

export type Denial = {
  readonly ok: false;
  /** Why, for the access log: the reason for denial, or what failed. */
  readonly decision: string;
  readonly answer: Answer;
  readonly jobId?: string;
  readonly tokenId?: string;
  /** A record that could not be read: logged with its key. */
  readonly recordError?: RecordError;
  /** A session cookie that no longer holds: the answer clears it. */
  readonly staleSession?: boolean;
};

/** The outcome of the checks a request passes before a byte reaches an upstream. */
export type Admission =
  | {
      readonly ok: true;
      readonly decision: 'allowed' | 'allowed_unsecure';
      readonly job: JobRecord;
      readonly upstream: URL;
      readonly token: TokenRecord | undefined;
      /** How the token was presented. */
      readonly via: 'bearer' | 'session' | undefined;
    }
  | Denial;

/** The result of exchanging a token value for a session (login form, deep link). */
export type Exchange =
  | { readonly kind: 'session'; readonly setCookie: string; readonly token: TokenRecord }
  | { readonly kind: 'invalid' }
  | { readonly kind: 'out_of_scope'; readonly token: TokenRecord }
  | { readonly kind: 'limited'; readonly retryAfter: number }
  /** The token could not be looked up (Redis down or hung): the 503 to answer. */
  | { readonly kind: 'denied'; readonly denial: Denial };

const deny = (decision: string, answer: Answer, extra: Partial<Denial> = {}): Denial => ({ ok: false, decision, answer, ...extra });

const NO_ROUTE = deny('no_route', ANSWERS.noRoute);

/** A host name that is both a job's id and another job's `<id>-<port>` (written around `jobgate job put`). */
const AMBIGUOUS_HOST = answer(
  409,
  'ambiguous_host',
  'This host name is both a job id and another job\'s <job-id>-<port> host name, so jobgate serves neither. An administrator must rename the job or remove the port (see docs/redis-schema.md).',
);

/**
 * A value, or the promise of one when Redis had to be asked. The hot path (records in the
 * cache) thus decides without a promise or an await; callers check with isPromise.
 */
export type MaybePromise<T> = T | Promise<T>;

export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return value instanceof Promise;
}

/** The host name a cookie is bound to: the Host header without port, lowercased. */
export function cookieHost(req: IncomingMessage): string {
  const host = req.headers.host ?? '';
  const colon = host.lastIndexOf(':');
  return (colon === -1 || host.endsWith(']') ? host : host.slice(0, colon)).toLowerCase();
}

/** What a session cookie is bound to: the host name, and the job and port the request is routed to. */
export function sessionScope(req: IncomingMessage, target: Target): SessionScope {
  return { host: cookieHost(req), jobId: target.job.id, port: target.port };
}

/**
 * The request pipeline up to the decision: route (which job, which port), credential
 * (bearer token or session cookie), identity (one registry lookup), decision. Routing
 * comes first because the job record decides whether a credential is needed.
 */
export class Gatekeeper {
  constructor(
    private readonly mode: Mode,
    private readonly registry: Registry,
    private readonly failures: FailureCounter,
    private readonly sessions: SessionCookies,
  ) {}

  /**
   * The job and upstream a request is for, or the denial (404, 503). Like authorize, it
   * answers at once (no promise) when the cache knows the records, which is the common case.
   */
  route(req: IncomingMessage): MaybePromise<Target | Denial> {
    if (this.mode.kind === 'sidecar') {
      const { jobId, upstream } = this.mode;
      return this.withJob(jobId, (job) => (job ? { job, upstream } : deny('sidecar_job_missing', missingSidecarJob(jobId), { jobId })));
    }
    const route = this.mode.router.route(req.headers.host);
    if (!route) return NO_ROUTE;
    return this.withJob(route.label, (job) => (job ? this.jobTarget(job, route) : this.portTarget(route)));
  }

  /**
   * The job whose id is the whole label, unless the label also names a registered port of
   * another job (records written around `job put`): then neither, never a guess (409).
   */
  private jobTarget(job: JobRecord, route: HostRoute): MaybePromise<Target | Denial> {
    const reading = route.portReading;
    const target: Target = { job, upstream: job.upstream };
    if (!reading) return target;
    return this.withJob(reading.jobId, (owner) => (owner?.ports.has(reading.port) ? deny('ambiguous_host', AMBIGUOUS_HOST, { jobId: job.id }) : target));
  }

  /** `<job-id>-<port>`: the job's other port, when no job has the whole label as its id. */
  private portTarget(route: HostRoute): MaybePromise<Target | Denial> {
    const reading = route.portReading;
    if (!reading) return deny('unknown_job', ANSWERS.unknownJob, { jobId: route.label });
    return this.withJob(reading.jobId, (job) => {
      if (!job) return deny('unknown_job', ANSWERS.unknownJob, { jobId: reading.jobId });
      const upstream = job.ports.get(reading.port);
      return upstream ? { job, upstream, port: reading.port } : deny('unknown_port', ANSWERS.unknownPort, { jobId: reading.jobId });
    });
  }

  /** Calls `next` with job `id`'s record: at once from the cache, or after the Redis lookup. Registry errors become denials. */
  private withJob<R>(id: string, next: (job: JobRecord | undefined) => MaybePromise<R | Denial>): MaybePromise<R | Denial> {
    const cached = this.registry.peekJob(id);
    if (cached) return next(cached.value);
    return this.registry.job(id).then(next, (error: unknown) => this.failure(error));
  }

  /**
   * Authenticates and decides. `client` is the client's address as far as trusted hops
   * tell (for the failure limit); `https` says which session cookie applies.
   */
  authorize(req: IncomingMessage, target: Target, client: string, https: boolean): MaybePromise<Admission> {
    const { job, upstream } = target;
    if (job.unsecureHttp) return { ok: true, decision: 'allowed_unsecure', job, upstream, token: undefined, via: undefined };

    const credential = readCredential(req);
    const limited = this.limited(credential, client, job.id);
    if (limited) return limited;
    switch (credential.kind) {
      case 'duplicate':
        return deny('duplicate_authorization', ANSWERS.duplicateAuthorization, { jobId: job.id });
      case 'malformed':
        this.failures.recordFailure(client);
        return deny('malformed_token', ANSWERS.malformedToken, { jobId: job.id });
      case 'bearer': {
        const token = this.resolveBearer(credential.token, client, job.id);
        return isPromise(token) ? token.then((resolved) => this.admitBearer(resolved, target)) : this.admitBearer(token, target);
      }
      default: {
        // No bearer token (or another scheme, RFC 6750 3.1): a browser session may stand in.
        const cookie = readCookie(req.headers.cookie, cookieName(https));
        return cookie === undefined ? this.admit({ kind: 'anonymous' }, target, undefined) : this.authorizeSession(req, cookie, target);
      }
    }
  }

  private admitBearer(token: TokenRecord | Denial, target: Target): Admission {
    return 'ok' in token ? token : this.admit({ kind: 'token', token }, target, 'bearer');
  }

  private async authorizeSession(req: IncomingMessage, cookie: string, target: Target): Promise<Admission> {
    const token = await this.sessionToken(req, cookie, target);
    if (token === undefined) return this.admit({ kind: 'anonymous' }, target, undefined, true);
    return 'ok' in token ? token : this.admit({ kind: 'token', token }, target, 'session');
  }

  /**
   * The token of the valid session the request's cookie opens for its host, job and port, or
   * undefined (no cookie, or a stale one); the denial (503...) when the token cannot be read.
   */
  async currentSession(req: IncomingMessage, target: Target, https: boolean): Promise<TokenRecord | Denial | undefined> {
    const cookie = readCookie(req.headers.cookie, cookieName(https));
    return cookie === undefined ? undefined : this.sessionToken(req, cookie, target);
  }

  private async sessionToken(req: IncomingMessage, cookie: string, target: Target): Promise<TokenRecord | Denial | undefined> {
    const session = await this.sessions.verify(cookie, sessionScope(req, target));
    if (!session) return undefined;
    let token: TokenRecord | undefined;
    try {
      token = await this.registry.token(session.tokenId);
    } catch (error) {
      return this.failure(error, target.job.id, session.tokenId);
    }
    // A deleted or renewed token ends its sessions: the version is in the cookie.
    return token && token.version === session.version ? token : undefined;
  }

  /** The decision for an authenticated (or anonymous) request, as an admission or a denial. */
  private admit(auth: Authentication, target: Target, via: 'bearer' | 'session' | undefined, staleSession = false): Admission {
    const { job, upstream } = target;
    const decision = decide(auth, job, 'job');
    const token = auth.kind === 'token' ? auth.token : undefined;
    if (!decision.allow) {
      return deny(decision.reason, answerFor(decision), { jobId: job.id, ...(token ? { tokenId: token.id } : {}), ...(staleSession ? { staleSession } : {}) });
    }
    return { ok: true, decision: decision.reason, job, upstream, token, via };
  }

  /**
   * Authenticates a request to the training API: bearer tokens only (browser sessions are
   * for job URLs). Returns the token, or the denial (400, 401, 429, 503).
   */
  authenticateApi(req: IncomingMessage, client: string): MaybePromise<TokenRecord | Denial> {
    const credential = readCredential(req);
    const limited = this.limited(credential, client);
    if (limited) return limited;
    switch (credential.kind) {
      case 'duplicate':
        return deny('duplicate_authorization', ANSWERS.duplicateAuthorization);
      case 'malformed':
        this.failures.recordFailure(client);
        return deny('malformed_token', ANSWERS.malformedToken);
      case 'bearer':
        return this.resolveBearer(credential.token, client);
      default:
        return deny('missing_token', ANSWERS.missingToken);
    }
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
    return deny('too_many_failures', tooManyFailures(retryAfter), jobId ? { jobId } : {});
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
        return this.failure(error, jobId, presented.id);
      },
    );
  }

  /** The token when it exists and the presented secret is its own (constant-time), or the 401. */
  private verifyBearer(token: TokenRecord | undefined, digest: string, client: string, jobId: string | undefined, tokenId: string): TokenRecord | Denial {
    if (token && sameDigest(token.secretHash, digest)) return token;
    return this.refuseBearer(client, 'unknown_token', ANSWERS.unknownToken, jobId, tokenId);
  }

  /** A failed authentication: counted toward the client's limit, answered with `answer`. */
  private refuseBearer(client: string, decision: string, answer: Answer, jobId: string | undefined, tokenId?: string): Denial {
    this.failures.recordFailure(client);
    return { ok: false, decision, answer, ...(jobId === undefined ? {} : { jobId }), ...(tokenId === undefined ? {} : { tokenId }) };
  }

  /**
   * Exchanges a token value (login form, deep link) for a session cookie for the request's
   * host, job and port, when the token is valid and its selector matches the job. Failures
   * count toward the limit.
   */
  async exchange(value: string, target: Target, client: string, req: IncomingMessage, https: boolean): Promise<Exchange> {
    const job = target.job;
    const parsed = value.length < 512 ? parseToken(value.trim()) : undefined;
    const retryAfter = this.failures.retryAfter(client);
    if (retryAfter > 0 && (!parsed || !this.knownValid(parsed.id, parsed.digest))) return { kind: 'limited', retryAfter };
    let token: TokenRecord | undefined;
    if (parsed) {
      try {
        token = await this.registry.token(parsed.id);
      } catch (error) {
        // A malformed record means "not a valid token" here; an unreachable store is a 503.
        if (!(error instanceof RecordError)) return { kind: 'denied', denial: this.failure(error, job.id, parsed.id) };
      }
    }
    if (!parsed || !token || !sameDigest(token.secretHash, parsed.digest)) {
      this.failures.recordFailure(client);
      return { kind: 'invalid' };
    }
    if (!decide({ kind: 'token', token }, job, 'job').allow) return { kind: 'out_of_scope', token };
    return { kind: 'session', token, setCookie: await this.sessions.issue({ tokenId: token.id, version: token.version }, sessionScope(req, target), https) };
  }

  private knownValid(id: string, digest: string): boolean {
    const remembered = this.registry.rememberedToken(id);
    return remembered !== undefined && sameDigest(remembered.secretHash, digest);
  }

  private failure(error: unknown, jobId?: string, tokenId?: string): Denial {
    const ids = { ...(jobId ? { jobId } : {}), ...(tokenId ? { tokenId } : {}) };
    if (error instanceof RecordError) {
      const isToken = tokenId !== undefined;
      return deny(isToken ? 'invalid_token_record' : 'invalid_job_record', isToken ? ANSWERS.unverifiableToken : ANSWERS.invalidJob, { ...ids, recordError: error });
    }
    if (error instanceof StoreUnavailableError) return deny('store_unavailable', ANSWERS.storeUnavailable, ids);
    throw error;
  }
}

function answerFor(decision: Extract<Decision, { allow: false }>): Answer {
  return decision.reason === 'missing_token' ? ANSWERS.missingToken : decision.reason === 'role_denied' ? ANSWERS.roleDenied : ANSWERS.scopeDenied;
}
