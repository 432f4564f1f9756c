import type { JobRecord } from '../jobs/record.js';
import type { JobStore } from '../jobs/store.js';
import type { TokenRecord } from '../tokens/record.js';
import type { TokenStore } from '../tokens/store.js';

/**
 * Where tokens and jobs are read from. Each lookup is one Redis command at most; it throws
 * RecordError for a malformed record and StoreUnavailableError when Redis does not answer,
 * and callers deny in both cases.
 */
export interface RecordSource {
  token(id: string): Promise<TokenRecord | undefined>;
  job(id: string): Promise<JobRecord | undefined>;
}

/** What a cache in front of a {@link RecordSource} knows without asking Redis. */
export interface CachedRecords {
  /**
   * The token record the cache last loaded for `id`, fresh or past its TTL, unless it was
   * invalidated or found deleted since: no Redis. It proves that a presented secret was
   * valid, so a client past the failure limit may still refresh its own token.
   */
  rememberedToken(id: string): TokenRecord | undefined;
  /**
   * What the cache knows about a token without Redis: its fresh entry (whose value is
   * undefined for an id known not to exist), or undefined when only `token()` can tell.
   * The hot path uses it to decide without an await.
   */
  peekToken(id: string): CacheEntry<TokenRecord> | undefined;
  /** As peekToken, for jobs. */
  peekJob(id: string): CacheEntry<JobRecord> | undefined;
}

/** The registry the gate reads: lookups, and what the cache already knows. */
export type Registry = RecordSource & CachedRecords;

/** A cached answer: the record, or undefined for an id known not to exist. */
export interface CacheEntry<T> {
  readonly value: T | undefined;
}

/** The records read straight from Redis. */
export class RedisRegistry implements RecordSource {
  constructor(
    private readonly tokens: TokenStore,
    private readonly jobs: JobStore,
  ) {}

  token(id: string): Promise<TokenRecord | undefined> {
    return this.tokens.find(id);
  }

  job(id: string): Promise<JobRecord | undefined> {
    return this.jobs.find(id);
  }
}
