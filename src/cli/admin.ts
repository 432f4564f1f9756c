/**
 * What the admin commands (token, job, events) do to jobgate's registry, behind one interface
 * with two implementations: Redis directly (the stores, as the CLI always did) or jobgate's
 * control API (`--server`, src/cli/control-client.ts). withAdmin (src/cli/with-admin.ts) picks one, in one place.
 * Both answer with the shapes the CLI prints (TokenView, JobView, AuditEvent), and fail with the
 * same error classes (InputError: exit 2; NotFoundError and the rest: exit 1).
 */
import type { AuditEvent } from '../audit/event.js';
import type { JobView } from '../jobs/record.js';
import type { JobSpec } from '../jobs/store.js';
import type { TokenView } from '../tokens/record.js';

/** What a token creation asks for, checked by validateNewToken. */
export interface NewTokenRequest {
  readonly name: string;
  readonly role: string;
  readonly labelSelector: string;
  /** When it stops working (ISO-8601 UTC); never when undefined. */
  readonly expiresAt?: string | undefined;
}

/** The operations the admin commands need. A record that does not read back is its Error, in a list. */
export interface Admin {
  /** A new token; its view carries `status.value`, the only time it is shown. */
  createToken(request: NewTokenRequest): Promise<TokenView>;
  listTokens(): Promise<Array<TokenView | Error>>;
  /** The token with this id, or undefined. */
  findToken(id: string): Promise<TokenView | undefined>;
  /**
   * A new value for token `id` (NotFoundError when there is none); its view carries `status.value`.
   * `expiresAt` sets a new expiry; without it the token keeps its own.
   */
  renewToken(id: string, expiresAt?: string): Promise<TokenView>;
  /** Deletes token `id`; NotFoundError when there is none. */
  deleteToken(id: string): Promise<void>;
  putJob(spec: JobSpec): Promise<JobView>;
  listJobs(): Promise<Array<JobView | Error>>;
  /** Job `id`; NotFoundError when there is none. */
  getJob(id: string): Promise<JobView>;
  /** Deletes job `id`; NotFoundError when there is none. */
  deleteJob(id: string): Promise<void>;
  /** At most `limit` (1 to 1000) audit events after the event `after`, oldest first. */
  listEvents(after: string | undefined, limit: number): Promise<Array<AuditEvent | Error>>;
  /** The newest event's id (where a follower starts), or undefined when there is none. */
  lastEventId(): Promise<string | undefined>;
}
