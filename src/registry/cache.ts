import { StoreUnavailableError } from '../errors.js';
import type { JobRecord } from '../jobs/record.js';
import type { TokenRecord } from '../tokens/record.js';
import type { CacheEntry, RecordSource, Registry } from './registry.js';
import { ScanResistantLru } from '../util/scan-resistant-lru.js';

export interface CacheOptions {
  /** Entries per cache (tokens, jobs). */
  readonly maxEntries: number;
  /** How long a record is trusted without a word from Redis (the safety net for writers that do not publish). */
  readonly ttlMs: number;
  /** How long an unknown id is remembered as unknown. */
  readonly negativeTtlMs: number;
  /** While Redis is unreachable, how long past its TTL an entry may still be served (0 = never). */
  readonly outageGraceMs: number;
  /** Milliseconds clock (tests may pass their own). */
  readonly now?: () => number;
}

interface Entry<T> extends CacheEntry<T> {
  readonly expiresAt: number;
}

/** Counts of what the caches did, for metrics. */
export interface CacheStats {
  hits: number;
  misses: number;
}

/**
 * One cache of records by id in front of a loader: bounded and scan-resistant, with a TTL,
 * negative entries for unknown ids, and one in-flight load per id however many requests ask.
 * A load that races an invalidation is returned to its caller but not cached.
 */
class RecordCache<T extends { readonly id: string }> {
  private readonly entries: ScanResistantLru<Entry<T>>;
  private readonly inflight = new Map<string, Promise<T | undefined>>();
  private generation = 0;
  readonly stats: CacheStats = { hits: 0, misses: 0 };

  constructor(
    private readonly load: (id: string) => Promise<T | undefined>,
    private readonly options: CacheOptions,
    private readonly now: () => number,
  ) {
    this.entries = new ScanResistantLru(options.maxEntries);
  }

  /** The fresh entry for `id`, if any: what the hot path can use without Redis. */
  fresh(id: string): Entry<T> | undefined {
    const entry = this.entries.get(id);
    return entry !== undefined && entry.expiresAt > this.now() ? entry : undefined;
  }

  /** The record last loaded for `id`, even past its TTL (undefined once invalidated, evicted or found missing). */
  remembered(id: string): T | undefined {
    return this.entries.get(id)?.value;
  }

  /** The fresh entry for `id`, counted as a hit; undefined when only `get()` can tell. */
  peek(id: string): Entry<T> | undefined {
    const entry = this.fresh(id);
    if (entry) this.stats.hits++;
    return entry;
  }

  async get(id: string): Promise<T | undefined> {
    const entry = this.peek(id);
    if (entry) return entry.value;
    this.stats.misses++;
    let pending = this.inflight.get(id);
    if (!pending) {
      pending = this.fetch(id);
      this.inflight.set(id, pending);
      const settled = pending;
      const forget = () => {
        if (this.inflight.get(id) === settled) this.inflight.delete(id);
      };
      settled.then(forget, forget);
    }
    return pending;
  }

  private async fetch(id: string): Promise<T | undefined> {
    const generation = this.generation;
    try {
      const value = await this.load(id);
      if (generation === this.generation) {
        const ttl = value === undefined ? this.options.negativeTtlMs : this.options.ttlMs;
        // Keyed by the record's own id: the requested id is often cut from a request header,
        // and as a map key it would keep that whole header string alive as long as the entry.
        this.entries.set(value?.id ?? id, { value, expiresAt: this.now() + ttl });
      }
      return value;
    } catch (error) {
      if (error instanceof StoreUnavailableError && this.options.outageGraceMs > 0) {
        // The documented grace period: an entry a little past its TTL, never one that was invalidated.
        const stale = this.entries.get(id);
        if (stale && stale.value !== undefined && stale.expiresAt + this.options.outageGraceMs > this.now()) return stale.value;
      }
      throw error;
    }
  }

  /** Forgets `id`; a load already in flight is not shared with later requests. */
  invalidate(id: string): void {
    this.generation++;
    this.entries.delete(id);
    this.inflight.delete(id);
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
    this.inflight.clear();
  }
}

/**
 * The registry with in-process caches of token and job records. Coherence comes from
 * the invalidation channel (invalidateToken / invalidateJob / flush); the TTL bounds how
 * long a record is trusted when a message is missed.
 */
export class CachedRegistry implements Registry {
  private readonly tokens: RecordCache<TokenRecord>;
  private readonly jobs: RecordCache<JobRecord>;

  constructor(source: RecordSource, options: CacheOptions) {
    const now = options.now ?? Date.now;
    this.tokens = new RecordCache((id) => source.token(id), options, now);
    this.jobs = new RecordCache((id) => source.job(id), options, now);
  }

  token(id: string): Promise<TokenRecord | undefined> {
    return this.tokens.get(id);
  }

  job(id: string): Promise<JobRecord | undefined> {
    return this.jobs.get(id);
  }

  rememberedToken(id: string): TokenRecord | undefined {
    return this.tokens.remembered(id);
  }

  peekToken(id: string): CacheEntry<TokenRecord> | undefined {
    return this.tokens.peek(id);
  }

  peekJob(id: string): CacheEntry<JobRecord> | undefined {
    return this.jobs.peek(id);
  }

  invalidateToken(id: string): void {
    this.tokens.invalidate(id);
  }

  invalidateJob(id: string): void {
    this.jobs.invalidate(id);
  }

  /** Forgets everything (after a gap in the invalidation subscription). */
  flush(): void {
    this.tokens.clear();
    this.jobs.clear();
  }

  get stats(): { tokens: CacheStats; jobs: CacheStats } {
    return { tokens: this.tokens.stats, jobs: this.jobs.stats };
  }
}
