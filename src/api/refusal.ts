/**
 * The one shape every refusal of an API request takes (bad path, role, scope, query, body),
 * and its conversion to an HTTP answer. Pure: no I/O.
 */
import { answer, type Answer } from '../http/answers.js';

/** The statuses jobgate itself answers API requests with. */
export type ApiStatus = 400 | 403 | 404 | 413 | 415;

/**
 * Why an API request was refused, for the access log's `decision` field.
 * - `bad_path`: `.`/`..`/empty segments, encoded `/` `\` `.`, and the like (400)
 * - `role_denied`: a read token on a route that needs an operator token (403)
 * - `scope_denied`: the job named in the path does not match the token's selector (403)
 * - `unknown_job`: the job named in the path is not in jobgate's registry (404)
 * - `unscoped_only`: a scoped token on a route reserved to unscoped tokens, such as token management (403)
 * - `scoped_route_denied`: a scoped token on a route its rule closes to scoped tokens, or on an unknown route (403)
 * - `bad_query`: the client's `labelSelector` does not parse, is repeated or ambiguous, or the query has `_method` (400)
 * - `bad_body`: the body is not UTF-8 JSON of the expected shape (400)
 * - `body_too_large`: the body is over the limit (413)
 * - `unsupported_media_type`: the body is not `application/json` (415)
 * - `reserved_label`: the body sets a label under `jobgate/` (403)
 * - `label_scope_denied`: the labels the body asks for would not match the token's selector (403)
 * - `upgrade_not_allowed`: a WebSocket upgrade on a route whose check needs a request body (400)
 */
export type ApiReason =
  | 'bad_path'
  | 'role_denied'
  | 'scope_denied'
  | 'unknown_job'
  | 'unscoped_only'
  | 'scoped_route_denied'
  | 'bad_query'
  | 'bad_body'
  | 'body_too_large'
  | 'unsupported_media_type'
  | 'reserved_label'
  | 'label_scope_denied'
  | 'upgrade_not_allowed';

/**
 * A refusal: the status, the machine-readable `error` of the JSON body, the `reason` for the
 * access log, and a `message` that tells a person what to do. Never contains a token.
 */
export interface ApiRefusal<S extends ApiStatus = ApiStatus> {
  readonly status: S;
  readonly error: string;
  readonly reason: ApiReason;
  readonly message: string;
}

/** The `error` field of 403 answers about privileges (RFC 6750 3.1). */
export const INSUFFICIENT_SCOPE = 'insufficient_scope';

/** The RFC 6750 error_description for each insufficient_scope reason (no quotes: it goes in a header). */
const DESCRIPTIONS: Partial<Record<ApiReason, string>> = {
  role_denied: 'An operator token is required',
  scope_denied: "The token's label selector does not match this job",
  unscoped_only: 'An unscoped operator token is required',
  scoped_route_denied: 'An unscoped operator token is required',
  label_scope_denied: "The labels would not match the token's label selector",
};

/** Builds a refusal. */
export function refusal<S extends ApiStatus>(status: S, error: string, reason: ApiReason, message: string): ApiRefusal<S> {
  return { status, error, reason, message };
}

/** A 400 for a path that {@link apiPathProblem} refused, `problem` being its reason. */
export function badPathRefusal(problem: string): ApiRefusal<400> {
  return refusal(
    400,
    'bad_request',
    'bad_path',
    `The API path is refused: ${problem}. Send the normalized path, without ".", ".." or empty segments and without encoded "/", "\\" or ".".`,
  );
}

/**
 * The HTTP answer for a refusal (JSON `{error, message}`, no-store), with the RFC 6750
 * `WWW-Authenticate: Bearer ..., error="insufficient_scope"` challenge on 403 insufficient_scope.
 */
export function apiAnswer(r: ApiRefusal): Answer {
  if (r.error !== INSUFFICIENT_SCOPE) return answer(r.status, r.error, r.message);
  return answer(r.status, r.error, r.message, { error: INSUFFICIENT_SCOPE, description: DESCRIPTIONS[r.reason] ?? 'Insufficient scope' });
}
