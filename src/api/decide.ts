/**
 * Who may do what on the training API: a pure decision on (token, matched route rule, request),
 * in one or two steps. The first step needs no I/O; when the rule is about a job, it asks the
 * caller to look the job up, and the second step decides on the job record.
 */
import { jobIdProblem } from '../jobs/record.js';
import { matches, type Labels } from '../selector/index.js';
import type { TokenRecord } from '../tokens/record.js';
import type { BodyCheck } from './body.js';
import { UNKNOWN_PATH_RULE, type ApiMatch } from './policy.js';
import { scopeListQuery } from './query.js';
import { INSUFFICIENT_SCOPE, refusal, type ApiRefusal } from './refusal.js';

/** What the decision needs of a token: a `TokenRecord` fits. */
export type ApiIdentity = Pick<TokenRecord, 'role' | 'selector'>;

/** What the decision needs of the request, besides its route. */
export interface ApiRequestContext {
  /** The query string, without `?`, still encoded ('' when none). */
  readonly rawQuery: string;
  /** Whether the request is a WebSocket upgrade. */
  readonly upgrade?: boolean;
}

/** Answer with `apiAnswer(decision)`; log `reason`. */
export type ApiDeny = { readonly kind: 'deny' } & ApiRefusal<400 | 403 | 404>;

/** Forward the request as it came (headers cleaned as usual). */
export interface ApiForward {
  readonly kind: 'forward';
}

/**
 * Look up `jobId` in jobgate's job registry, then call {@link decideApiForJob} with the record
 * (or undefined when there is none) and this decision. `then` says what follows a match.
 */
export interface ApiNeedsJob {
  readonly kind: 'needs-job';
  readonly jobId: string;
  readonly then: 'forward' | 'check-relabel';
}

/** Forward with this query string instead of the client's (path unchanged; see `joinRequestTarget`). */
export interface ApiRewriteQuery {
  readonly kind: 'rewrite-query';
  readonly query: string;
}

/**
 * Check `bodyPreflight(req.headers, limit)`, read the body (at most `limit` + 1 bytes), run
 * `inspectApiBody(check, req.headers, body, limit)`, then forward the returned bytes with a
 * recomputed Content-Length (and no Transfer-Encoding), or answer its refusal.
 */
export interface ApiInspectBody {
  readonly kind: 'inspect-body';
  readonly check: BodyCheck;
}

/** The first step's outcome. */
export type ApiDecision = ApiDeny | ApiForward | ApiNeedsJob | ApiRewriteQuery | ApiInspectBody;

/** The second step's outcome (after a job lookup). */
export type ApiJobDecision = ApiDeny | ApiForward | ApiInspectBody;

const deny = (status: 400 | 403 | 404, error: string, reason: ApiRefusal['reason'], message: string): ApiDeny =>
  Object.freeze({ kind: 'deny', ...refusal(status, error, reason, message) });

const FORWARD: ApiForward = Object.freeze({ kind: 'forward' });
const ROLE_DENIED = deny(403, INSUFFICIENT_SCOPE, 'role_denied', 'Read tokens only reach job URLs. Use an operator token for the training API.');
const UNSCOPED_ONLY = deny(
  403,
  INSUFFICIENT_SCOPE,
  'unscoped_only',
  'Only unscoped operator tokens may use this API path (token management among others: a token with a label selector cannot mint or renew tokens). Use an unscoped operator token.',
);
const SCOPED_ROUTE_DENIED = deny(
  403,
  INSUFFICIENT_SCOPE,
  'scoped_route_denied',
  'Tokens with a label selector cannot use this API path, since jobgate cannot check it against the selector. Use an unscoped operator token, or ask an administrator to add an API rule for the path.',
);
const UNKNOWN_JOB = deny(404, 'not_found', 'unknown_job', 'No job with this id is registered. Check the job id in the URL.');
const SCOPE_DENIED = deny(
  403,
  INSUFFICIENT_SCOPE,
  'scope_denied',
  "The token's label selector does not match this job's labels. Use a token scoped to this job, or an unscoped one.",
);
const UPGRADE_NOT_ALLOWED = deny(
  400,
  'bad_request',
  'upgrade_not_allowed',
  'This API path takes a JSON body that jobgate checks for tokens with a label selector, so it cannot be a WebSocket.',
);

/**
 * The first step, after the path was accepted (`apiPathProblem`) and the route matched
 * (`policy.match`; undefined means {@link UNKNOWN_PATH_RULE}). In order:
 * 1. the rule's role: a read token on an operator rule is denied (403 `role_denied`);
 * 2. an unscoped token is forwarded, whatever the scope rule: no lookup, no inspection;
 * 3. a scoped token, by the rule's scope: `any` forwards; `unscoped-only` and `deny-scoped` deny
 *    (403); `job` and `relabel-job` ask for the job (`needs-job`), or 404 at once when `{id}` is
 *    not a job id; `list-jobs` rewrites the query (or 400 for a bad client `labelSelector`);
 *    `create-job` asks for the body to be inspected. A WebSocket upgrade on a rule whose check
 *    needs a body is a 400.
 */
export function decideApi(token: ApiIdentity, match: ApiMatch | undefined, ctx: ApiRequestContext): ApiDecision {
  const rule = match?.rule ?? UNKNOWN_PATH_RULE;
  // Anything but an explicit 'read' rule needs an operator token (fail closed on a hand-built rule).
  if (rule.role !== 'read' && token.role !== 'operator') return ROLE_DENIED;
  const selector = token.selector;
  if (selector.empty) return FORWARD;
  switch (rule.scope) {
    case 'any':
      return FORWARD;
    case 'unscoped-only':
      return UNSCOPED_ONLY;
    case 'deny-scoped':
      return SCOPED_ROUTE_DENIED;
    case 'list-jobs': {
      const scoped = scopeListQuery(selector, ctx.rawQuery);
      if (!scoped.ok) return deny(scoped.status, scoped.error, scoped.reason, scoped.message);
      return { kind: 'rewrite-query', query: scoped.query };
    }
    case 'create-job':
      if (ctx.upgrade === true) return UPGRADE_NOT_ALLOWED;
      return { kind: 'inspect-body', check: { op: 'create', selector } };
    case 'job':
    case 'relabel-job': {
      // A rule compiled by compileApiRules always captures {id} for these scopes.
      const jobId = match?.jobId;
      if (jobId === undefined) return SCOPED_ROUTE_DENIED;
      if (jobIdProblem(jobId) !== undefined) return UNKNOWN_JOB;
      if (rule.scope === 'job') return { kind: 'needs-job', jobId, then: 'forward' };
      if (ctx.upgrade === true) return UPGRADE_NOT_ALLOWED;
      return { kind: 'needs-job', jobId, then: 'check-relabel' };
    }
    default:
      // Only reachable with a rule that compileApiRules did not check: fail closed.
      return SCOPED_ROUTE_DENIED;
  }
}

/**
 * The second step, for a `needs-job` decision: `job` is the registry's record for
 * `pending.jobId` (undefined when there is none). Unknown job: 404 `unknown_job`; labels not
 * matching the selector: 403 `scope_denied`; otherwise forward, or for `check-relabel` inspect
 * the body against the job's current labels. Also the re-check for an open API WebSocket when
 * its token or job changes: anything but `forward` closes it (1008).
 */
export function decideApiForJob(token: ApiIdentity, job: { readonly labels: Labels } | undefined, pending: Pick<ApiNeedsJob, 'then'>): ApiJobDecision {
  if (job === undefined) return UNKNOWN_JOB;
  if (!matches(token.selector, job.labels)) return SCOPE_DENIED;
  if (pending.then === 'forward') return FORWARD;
  return { kind: 'inspect-body', check: { op: 'relabel', selector: token.selector, jobLabels: job.labels } };
}
