import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { readCredential } from '../auth/credential.js';
import type { FailureLimiter } from '../auth/failure-limit.js';
import { decide, type Authentication } from '../auth/decide.js';
import { RecordError, StoreUnavailableError } from '../errors.js';
import { ANSWERS, missingSidecarJob, tooManyFailures, type Answer } from '../http/answers.js';
import type { JobRecord } from '../jobs/record.js';
import type { Registry } from '../registry/registry.js';
import type { HostRouter } from '../routing/host.js';
import type { TokenRecord } from '../tokens/record.js';

/** Which job a listener serves: many by Host header (gateway), or one (sidecar). */
export type Mode =
  | { readonly kind: 'gateway'; readonly router: HostRouter }
  | { readonly kind: 'sidecar'; readonly jobId: string; readonly upstream: URL };

/** The outcome of the checks a request passes before a byte reaches an upstream. */
export type Admission =
  | {
      readonly ok: true;
      readonly decision: 'allowed' | 'allowed_unsecure';
      readonly job: JobRecord;
      readonly upstream: URL;
      readonly token: TokenRecord | undefined;
    }
  | {
      readonly ok: false;
      /** Why, for the access log: the reason for denial, or what failed. */
      readonly decision: string;
      readonly answer: Answer;
      readonly jobId?: string;
      readonly tokenId?: string;
      /** A record that could not be read: logged with its key. */
      readonly recordError?: RecordError;
    };

type Target = { readonly job: JobRecord; readonly upstream: URL } | Extract<Admission, { ok: false }>;

const deny = (decision: string, answer: Answer, extra: Partial<Extract<Admission, { ok: false }>> = {}): Extract<Admission, { ok: false }> => ({
  ok: false,
  decision,
  answer,
  ...extra,
});

/**
 * The request pipeline up to the decision: route (which job, which port), credential,
 * identity (one registry lookup), decision. Routing comes first because the job record
 * decides whether a credential is needed.
 */
export class Gatekeeper {
  constructor(
    private readonly mode: Mode,
    private readonly registry: Registry,
    private readonly failures: FailureLimiter,
  ) {}

  /** `client` is the client's address, as far as trusted hops tell (for the failure limit). */
  async admit(req: IncomingMessage, client: string): Promise<Admission> {
    let target: Target;
    try {
      target = await this.target(req.headers.host);
    } catch (error) {
      return this.failure(error);
    }
    if ('ok' in target) return target;
    const { job, upstream } = target;

    let auth: Authentication = { kind: 'anonymous' };
    if (!job.unsecureHttp) {
      const credential = readCredential(req);
      if (credential.kind === 'malformed' || credential.kind === 'bearer') {
        // Past the failure limit only a token already known valid (cached) passes, without Redis.
        const retryAfter = this.failures.retryAfter(client);
        if (retryAfter > 0) {
          const cached = credential.kind === 'bearer' ? this.registry.cachedToken(credential.token.id) : undefined;
          if (!cached || credential.kind !== 'bearer' || !timingSafeEqual(cached.secretHash, credential.token.digest)) {
            return deny('too_many_failures', tooManyFailures(retryAfter), { jobId: job.id });
          }
        }
      }
      switch (credential.kind) {
        case 'duplicate':
          return deny('duplicate_authorization', ANSWERS.duplicateAuthorization, { jobId: job.id });
        case 'malformed':
          this.failures.recordFailure(client);
          return deny('malformed_token', ANSWERS.malformedToken, { jobId: job.id });
        case 'bearer': {
          let token: TokenRecord | undefined;
          try {
            token = await this.registry.token(credential.token.id);
          } catch (error) {
            if (error instanceof RecordError) this.failures.recordFailure(client);
            return this.failure(error, job.id, credential.token.id);
          }
          if (!token || !timingSafeEqual(token.secretHash, credential.token.digest)) {
            this.failures.recordFailure(client);
            return deny('unknown_token', ANSWERS.unknownToken, { jobId: job.id, tokenId: credential.token.id });
          }
          auth = { kind: 'token', token };
          break;
        }
        default:
          break; // none, or another scheme: anonymous (RFC 6750 3.1)
      }
    }

    const decision = decide(auth, job, 'job');
    const token = auth.kind === 'token' ? auth.token : undefined;
    if (!decision.allow) {
      const answer = decision.reason === 'missing_token' ? ANSWERS.missingToken : decision.reason === 'role_denied' ? ANSWERS.roleDenied : ANSWERS.scopeDenied;
      return deny(decision.reason, answer, { jobId: job.id, ...(token ? { tokenId: token.id } : {}) });
    }
    return { ok: true, decision: decision.reason, job, upstream, token };
  }

  /** The job and upstream a request is for; throws registry errors. */
  private async target(host: string | undefined): Promise<Target> {
    if (this.mode.kind === 'sidecar') {
      const job = await this.registry.job(this.mode.jobId);
      if (!job) return deny('sidecar_job_missing', missingSidecarJob(this.mode.jobId), { jobId: this.mode.jobId });
      return { job, upstream: this.mode.upstream };
    }
    const route = this.mode.router.route(host);
    if (!route) return deny('no_route', ANSWERS.noRoute);
    const job = await this.registry.job(route.label);
    if (job) return { job, upstream: job.upstream };
    const reading = route.portReading;
    if (!reading) return deny('unknown_job', ANSWERS.unknownJob, { jobId: route.label });
    const portJob = await this.registry.job(reading.jobId);
    if (!portJob) return deny('unknown_job', ANSWERS.unknownJob, { jobId: reading.jobId });
    const upstream = portJob.ports.get(reading.port);
    if (!upstream) return deny('unknown_port', ANSWERS.unknownPort, { jobId: reading.jobId });
    return { job: portJob, upstream };
  }

  private failure(error: unknown, jobId?: string, tokenId?: string): Extract<Admission, { ok: false }> {
    const ids = { ...(jobId ? { jobId } : {}), ...(tokenId ? { tokenId } : {}) };
    if (error instanceof RecordError) {
      const isToken = tokenId !== undefined;
      return deny(isToken ? 'invalid_token_record' : 'invalid_job_record', isToken ? ANSWERS.unverifiableToken : ANSWERS.invalidJob, { ...ids, recordError: error });
    }
    if (error instanceof StoreUnavailableError) return deny('store_unavailable', ANSWERS.storeUnavailable, ids);
    throw error;
  }
}
