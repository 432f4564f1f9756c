import { matches, type Labels } from '../selector/index.js';
import type { TokenRecord } from '../tokens/record.js';

/** The traffic a request is: to a job URL, or (operator tokens only) to the training API. */
export type TrafficKind = 'job' | 'api';

/** Who the request proved to be. */
export type Authentication = { readonly kind: 'anonymous' } | { readonly kind: 'token'; readonly token: TokenRecord };

/** What the decision needs to know about the target job. */
export interface DecisionTarget {
  readonly labels: Labels;
  readonly unsecureHttp: boolean;
}

export type Decision =
  | { readonly allow: true; readonly reason: 'allowed' | 'allowed_unsecure' }
  | {
      readonly allow: false;
      readonly status: 401 | 403;
      readonly reason: 'missing_token' | 'role_denied' | 'scope_denied';
    };

const ALLOWED: Decision = { allow: true, reason: 'allowed' };
const ALLOWED_UNSECURE: Decision = { allow: true, reason: 'allowed_unsecure' };
const MISSING_TOKEN: Decision = { allow: false, status: 401, reason: 'missing_token' };
const ROLE_DENIED: Decision = { allow: false, status: 403, reason: 'role_denied' };
const SCOPE_DENIED: Decision = { allow: false, status: 403, reason: 'scope_denied' };

/**
 * Who may reach what: a pure function of (identity, target, traffic kind), with no I/O.
 * - A job with unsecureHttp is open to everyone on its job URLs.
 * - Otherwise a token is needed; `read` tokens reach job URLs only, `operator` tokens
 *   also reach the training API.
 * - The token's label selector must match the job's labels (an empty selector matches all).
 */
export function decide(auth: Authentication, target: DecisionTarget, traffic: TrafficKind): Decision {
  if (traffic === 'job' && target.unsecureHttp) return ALLOWED_UNSECURE;
  if (auth.kind === 'anonymous') return MISSING_TOKEN;
  if (traffic === 'api' && auth.token.role !== 'operator') return ROLE_DENIED;
  if (!matches(auth.token.selector, target.labels)) return SCOPE_DENIED;
  return ALLOWED;
}
