import type { IncomingHttpHeaders } from 'node:http';
import {
  apiAnswer,
  apiPathProblem,
  badPathRefusal,
  bodyPreflight,
  decideApi,
  decideApiForJob,
  inspectApiBody,
  joinRequestTarget,
  methodQueryRefusal,
  splitRequestTarget,
  type BodyCheck,
  type CompiledApiPolicy,
} from '../api/index.js';
import type { ApiSettings } from '../config/resolve.js';
import type { RecordSource } from '../registry/registry.js';
import type { TokenRecord } from '../tokens/record.js';
import type { Authenticator } from './authenticator.js';
import { Denial, isDenial, isPromise } from './denial.js';
import { storeFailure } from './job-router.js';
import type { GateRequest } from './request.js';
import { NO_USAGE, type UsageSink } from './usage.js';

/** An API request that may pass: its token, and what the route policy decided. */
export interface ApiAdmission {
  readonly decision: 'allowed' | 'allowed_scoped_list' | 'allowed_checked_body';
  readonly token: TokenRecord;
  /** The job the route is about, when the token's scope was checked against one. */
  readonly jobId: string | undefined;
  /** The request target to forward (a scoped list query is rewritten). */
  readonly url: string;
  /** For a checked body: read it, then run {@link ApiAccess.checkBody} before forwarding. */
  readonly bodyCheck: BodyCheck | undefined;
}

/**
 * The training API: path hygiene first, then the bearer token, then the route policy and the
 * token's scope (operator tokens; a scoped one only reaches jobs its selector matches), then the
 * query and body rewrites that keep it in scope. The decisions are the pure functions of
 * src/api/; this class adds the job lookups.
 */
export class ApiAccess {
  readonly hosts: ReadonlySet<string>;
  readonly upstream: URL;
  readonly maxBodyBytes: number;
  private readonly policy: CompiledApiPolicy;

  constructor(
    settings: ApiSettings,
    private readonly authenticator: Authenticator,
    private readonly registry: RecordSource,
    private readonly usage: UsageSink = NO_USAGE,
  ) {
    this.hosts = settings.hosts;
    this.upstream = settings.upstream;
    this.policy = settings.policy;
    this.maxBodyBytes = settings.maxBodyBytes;
  }

  /** Path hygiene, credential, route policy and scope: the admission, or the denial. */
  async admit(req: GateRequest, upgrade: boolean): Promise<ApiAdmission | Denial> {
    const badPath = this.pathDenial(req.url);
    if (badPath) return badPath;
    const authenticated = this.authenticator.authenticateForApi(req);
    const token = isPromise(authenticated) ? await authenticated : authenticated;
    if (isDenial(token)) return token;
    const admission = await this.decide(req, token, upgrade);
    if (!isDenial(admission)) this.usage.used(token.id, undefined);
    return admission;
  }

  /**
   * A 400 for a path that could escape a scope (dot segments, encoded slashes...) or a query
   * that could change the method (`_method`), before anything else.
   */
  private pathDenial(url: string): Denial | undefined {
    const { path, query } = splitRequestTarget(url);
    const problem = apiPathProblem(path);
    if (problem !== undefined) return new Denial('bad_path', apiAnswer(badPathRefusal(problem)));
    const methodInQuery = methodQueryRefusal(query);
    return methodInQuery === undefined ? undefined : new Denial(methodInQuery.reason, apiAnswer(methodInQuery));
  }

  private async decide(req: GateRequest, token: TokenRecord, upgrade: boolean): Promise<ApiAdmission | Denial> {
    const url = req.url;
    const { path, query } = splitRequestTarget(url);
    const tokenId = token.id;
    const method = req.method;
    let first = decideApi(token, this.policy.match(method, path), { rawQuery: query, upgrade });
    // A POST body can carry `_method` (a form to Rails and Symfony, JSON to Laravel). The bodies
    // jobgate inspects refuse it; any other POST is decided as strictly as every method on its path.
    if (method === 'POST' && first.kind !== 'deny' && first.kind !== 'inspect-body')
      first = decideApi(token, this.policy.matchAnyMethod(path), { rawQuery: query, upgrade });
    switch (first.kind) {
      case 'deny':
        return new Denial(first.reason, apiAnswer(first), { tokenId });
      case 'forward':
        return { decision: 'allowed', token, jobId: undefined, url, bodyCheck: undefined };
      case 'rewrite-query':
        return { decision: 'allowed_scoped_list', token, jobId: undefined, url: joinRequestTarget(path, first.query), bodyCheck: undefined };
      case 'inspect-body':
        return { decision: 'allowed_checked_body', token, jobId: undefined, url, bodyCheck: first.check };
      case 'needs-job': {
        const jobId = first.jobId;
        let job;
        try {
          job = await this.registry.job(jobId);
        } catch (error) {
          return storeFailure(error, 'job', { jobId, tokenId });
        }
        const second = decideApiForJob(token, job, first);
        if (second.kind === 'deny') return new Denial(second.reason, apiAnswer(second), { jobId, tokenId });
        return { decision: 'allowed', token, jobId, url, bodyCheck: second.kind === 'inspect-body' ? second.check : undefined };
      }
    }
  }

  /** Before a checked body is read: the denial for one that cannot pass (too large, wrong type), or undefined. */
  bodyDenial(headers: IncomingHttpHeaders): Denial | undefined {
    const preflight = bodyPreflight(headers, this.maxBodyBytes);
    return preflight ? new Denial(preflight.reason, apiAnswer(preflight)) : undefined;
  }

  /** Runs the check on a body read whole (at most maxBodyBytes): the bytes to forward, or the denial (400, 403, 415). */
  checkBody(check: BodyCheck, headers: IncomingHttpHeaders, body: Buffer): Buffer | Denial {
    const result = inspectApiBody(check, headers, body, this.maxBodyBytes);
    return result.ok ? result.body : new Denial(result.reason, apiAnswer(result));
  }

  /** Re-checks an open API connection about `jobId` after a change: a reason to close it, or undefined. */
  async recheck(token: TokenRecord, jobId: string): Promise<string | undefined> {
    const decision = decideApiForJob(token, await this.registry.job(jobId), { then: 'forward' });
    if (decision.kind === 'forward') return undefined;
    return decision.kind === 'deny' && decision.reason === 'unknown_job' ? 'job removed' : 'token no longer matches the job labels';
  }
}
