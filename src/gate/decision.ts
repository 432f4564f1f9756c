import type { ApiReason } from '../api/refusal.js';
import type { Decision } from '../auth/decide.js';
import type { AccessOutcome } from '../observability/access-log.js';

/**
 * Every decision jobgate names in its access log and counts in `jobgate_requests_total`
 * (a Prometheus label, so a closed set the compiler checks).
 */
export type AccessDecision =
  | 'pending'
  | 'internal_error'
  // Allowed: by the decision table, and the API route's variants.
  | Extract<Decision, { allow: true }>['reason']
  | 'allowed_scoped_list'
  | 'allowed_checked_body'
  // Refused by the decision table or the API route policy.
  | Extract<Decision, { allow: false }>['reason']
  | ApiReason
  // The request itself (HTTP/1 message, request target, WebSocket handshake).
  | 'missing_host'
  | 'too_many_headers'
  | 'two_hosts'
  | 'http_version'
  | 'bad_framing'
  | 'target_host_mismatch'
  | 'not_websocket'
  // Which job.
  | 'no_route'
  | 'unknown_job'
  | 'unknown_port'
  | 'ambiguous_host'
  | 'sidecar_job_missing'
  // The credential.
  | 'duplicate_authorization'
  | 'malformed_token'
  | 'unknown_token'
  | 'expired_token'
  | 'too_many_failures'
  | 'foreign_origin'
  // The registry.
  | 'store_unavailable'
  | 'invalid_token_record'
  | 'invalid_job_record'
  // jobgate's own pages and deep links.
  | 'jwks'
  | 'logout'
  | 'not_found'
  | 'login'
  | 'bad_login'
  | 'login_failed'
  | 'login_scope_denied'
  | 'deep_link'
  | 'deep_link_confirm'
  | 'deep_link_invalid'
  | 'deep_link_out_of_scope'
  | 'deep_link_limited'
  // The control API (JOBGATE_CONTROL_HOST): done, or refused (a read token, out of scope).
  | 'control'
  | 'control_refused'
  // The token console on the control host: a page, a sign-in (or its failure), a refusal (read token, CSRF).
  | 'console'
  | 'console_login'
  | 'console_logout'
  | 'console_refused'
  // The forward-auth decision endpoint.
  | 'untrusted_source'
  | 'bad_request'
  | 'no_original_method'
  | 'bad_original_method'
  | 'original_hosts_disagree'
  | 'body_not_available'
  | 'query_not_available';

/** What the access line of one request says, filled in as the request walks the gate. */
export interface Outcome extends AccessOutcome {
  decision: AccessDecision;
}
