/**
 * The key layout in Redis (the public contract: docs/redis-schema.md).
 * Every key starts with the configured prefix, so that one Redis can host several
 * jobgate installations and so that a `{hash tag}` prefix keeps them in one Cluster slot.
 */
export class KeySpace {
  /** Set of every token id. */
  readonly tokens: string;
  /** Set of every job id. */
  readonly jobs: string;
  /** Pub/sub channel that carries `token:<id>` and `job:<id>` after every change. */
  readonly channel: string;
  /** Capped stream of audit events, one per change (src/audit/). */
  readonly events: string;
  /** Sorted sets of last use: token id / job id, scored by the time in ms (src/registry/last-use.ts). */
  readonly tokensLastUsed: string;
  readonly jobsLastUsed: string;

  constructor(readonly prefix: string) {
    this.tokens = `${prefix}tokens`;
    this.jobs = `${prefix}jobs`;
    this.channel = `${prefix}invalidate`;
    this.events = `${prefix}events`;
    this.tokensLastUsed = `${prefix}lastused:tokens`;
    this.jobsLastUsed = `${prefix}lastused:jobs`;
  }

  /** Hash that holds token `id`. */
  token(id: string): string {
    return `${this.prefix}token:${id}`;
  }

  /** Hash that holds job `id`. */
  job(id: string): string {
    return `${this.prefix}job:${id}`;
  }

  /** Marker of a console session ended by sign-out (src/console/signed-out.ts); it expires with the session. */
  consoleSignedOut(sid: string): string {
    return `${this.prefix}console:signedout:${sid}`;
  }
}

export const DEFAULT_KEY_PREFIX = 'jobgate:';

/** The invalidation messages published on {@link KeySpace.channel}. */
export const invalidation = {
  token: (id: string) => `token:${id}`,
  job: (id: string) => `job:${id}`,
};
