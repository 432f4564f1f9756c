import type { IncomingMessage } from 'node:http';
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
import { RecordError, StoreUnavailableError } from '../errors.js';
import { ANSWERS } from '../http/answers.js';
import type { Registry } from '../registry/registry.js';
import type { TokenRecord } from '../tokens/record.js';
import type { Denial } from './admission.js';
import { readBodyUpTo } from './linger.js';

/** What the API route decided for an authenticated request. */
export type ApiAdmission =
  | {
      readonly ok: true;
      readonly decision: string;
      /** The job the route is about, when the token's scope was checked against one. */
      readonly jobId: string | undefined;
      /** The request target to forward (a scoped list query is rewritten). */
      readonly url: string;
      /** For a checked body: read it, then run this check before forwarding. */
      readonly bodyCheck: BodyCheck | undefined;
    }
  | Denial;

const PAYLOAD_TOO_LARGE = apiAnswer({ status: 413, error: 'payload_too_large', reason: 'body_too_large', message: 'The request body is larger than jobgate checks (JOBGATE_API_MAX_BODY_BYTES).' });

/**
 * The training API behind jobgate: path hygiene first, then the route policy and the token's
 * scope (operator tokens; a scoped one only reaches jobs its selector matches), then the
 * query and body rewrites that keep it in scope. The decisions are the pure functions of
 * src/api/; this class adds the job lookups and the body reading.
 */
export class ApiGate {
  constructor(
    private readonly policy: CompiledApiPolicy,
    private readonly registry: Registry,
    readonly maxBodyBytes: number,
  ) {}

  /**
   * A 400 for a path that could escape a scope (dot segments, encoded slashes...) or a query
   * that could change the method (`_method`), before anything else.
   */
  pathDenial(req: IncomingMessage): Denial | undefined {
    const { path, query } = splitRequestTarget(req.url ?? '/');
    const problem = apiPathProblem(path);
    if (problem !== undefined) return { ok: false, decision: 'bad_path', answer: apiAnswer(badPathRefusal(problem)) };
    const methodInQuery = methodQueryRefusal(query);
    return methodInQuery === undefined ? undefined : { ok: false, decision: methodInQuery.reason, answer: apiAnswer(methodInQuery) };
  }

  async admit(req: IncomingMessage, token: TokenRecord, upgrade: boolean): Promise<ApiAdmission> {
    const url = req.url ?? '/';
    const { path, query } = splitRequestTarget(url);
    const ids = { tokenId: token.id };
    const method = req.method ?? 'GET';
    let first = decideApi(token, this.policy.match(method, path), { rawQuery: query, upgrade });
    // A POST body can carry `_method` (a form to Rails and Symfony, JSON to Laravel). The bodies
    // jobgate inspects refuse it; any other POST is decided as strictly as every method on its path.
    if (method === 'POST' && first.kind !== 'deny' && first.kind !== 'inspect-body') first = decideApi(token, this.policy.matchAnyMethod(path), { rawQuery: query, upgrade });
    switch (first.kind) {
      case 'deny':
        return { ok: false, decision: first.reason, answer: apiAnswer(first), ...ids };
      case 'forward':
        return { ok: true, decision: 'allowed', jobId: undefined, url, bodyCheck: undefined };
      case 'rewrite-query':
        return { ok: true, decision: 'allowed_scoped_list', jobId: undefined, url: joinRequestTarget(path, first.query), bodyCheck: undefined };
      case 'inspect-body':
        return { ok: true, decision: 'allowed_checked_body', jobId: undefined, url, bodyCheck: first.check };
      case 'needs-job': {
        let job;
        try {
          job = await this.registry.job(first.jobId);
        } catch (error) {
          if (error instanceof RecordError) return { ok: false, decision: 'invalid_job_record', answer: ANSWERS.invalidJob, jobId: first.jobId, recordError: error, ...ids };
          if (error instanceof StoreUnavailableError) return { ok: false, decision: 'store_unavailable', answer: ANSWERS.storeUnavailable, jobId: first.jobId, ...ids };
          throw error;
        }
        const second = decideApiForJob(token, job, first);
        if (second.kind === 'deny') return { ok: false, decision: second.reason, answer: apiAnswer(second), jobId: first.jobId, ...ids };
        return { ok: true, decision: 'allowed', jobId: first.jobId, url, bodyCheck: second.kind === 'inspect-body' ? second.check : undefined };
      }
    }
  }

  /**
   * Reads a body that must be checked (bounded), runs the check, and returns the bytes to
   * forward, or the denial (400, 403, 413, 415).
   */
  async checkBody(req: IncomingMessage, check: BodyCheck): Promise<Buffer | Denial> {
    const preflight = bodyPreflight(req.headers, this.maxBodyBytes);
    if (preflight) return { ok: false, decision: preflight.reason, answer: apiAnswer(preflight) };
    const body = await readBodyUpTo(req, this.maxBodyBytes);
    if (body === undefined) return { ok: false, decision: 'body_too_large', answer: PAYLOAD_TOO_LARGE };
    const result = inspectApiBody(check, req.headers, body, this.maxBodyBytes);
    return result.ok ? result.body : { ok: false, decision: result.reason, answer: apiAnswer(result) };
  }

  /** Re-checks an open API WebSocket about `jobId` after a change: a reason to close it, or undefined. */
  async recheck(token: TokenRecord, jobId: string): Promise<string | undefined> {
    const decision = decideApiForJob(token, await this.registry.job(jobId), { then: 'forward' });
    if (decision.kind === 'forward') return undefined;
    return decision.kind === 'deny' && decision.reason === 'unknown_job' ? 'job removed' : 'token no longer matches the job labels';
  }
}
