/**
 * When each token and job was last used: a token by its last accepted request, a job by its last
 * forwarded request. Kept off the request path: a request only notes the ids in memory; a timer
 * writes them in one script per interval (at most once per interval per id and instance), into
 * sorted sets scored by the time, where ZADD GT keeps each time from going backwards. A failed
 * write is logged and dropped: it never touches a request.
 */
import type { RedisClient } from '../redis/connect.js';
import { LuaScript, redisCall, type KeySpace } from '../redis/index.js';

/** How often last use is written by default: at most once a minute per token and per job. */
export const DEFAULT_LAST_USE_INTERVAL_MS = 60_000;

// KEYS: the sorted set, then the record hash of each id. ARGV: time (ms), then the ids. Only ids
// whose record still exists are written: a use seen just before a delete does not bring it back.
const RECORD = new LuaScript(`
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[i]) end
end
return 0
`);

/** The ids seen since the last write; a few hundred per interval at most in practice. */
export class LastUse {
  private tokens = new Set<string>();
  private jobs = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
    /** Told of a write that failed (Redis down): the uses it carried are dropped. */
    private readonly onFailure: (error: Error, dropped: { tokens: number; jobs: number }) => void,
    intervalMs: number = DEFAULT_LAST_USE_INTERVAL_MS,
  ) {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  /** Notes a use (the hot path: two set insertions, no I/O). */
  used(tokenId: string | undefined, jobId: string | undefined): void {
    if (tokenId !== undefined) this.tokens.add(tokenId);
    if (jobId !== undefined) this.jobs.add(jobId);
  }

  /** Writes what was noted since the last write, with the time of this write. */
  flush(): Promise<void> {
    if (this.tokens.size === 0 && this.jobs.size === 0) return this.writing;
    const tokens = [...this.tokens];
    const jobs = [...this.jobs];
    this.tokens = new Set();
    this.jobs = new Set();
    const now = String(Date.now());
    this.writing = this.writing.then(async () => {
      try {
        if (tokens.length > 0)
          await this.write(
            this.keys.tokensLastUsed,
            tokens.map((id) => this.keys.token(id)),
            now,
            tokens,
          );
        if (jobs.length > 0)
          await this.write(
            this.keys.jobsLastUsed,
            jobs.map((id) => this.keys.job(id)),
            now,
            jobs,
          );
      } catch (error) {
        this.onFailure(error as Error, { tokens: tokens.length, jobs: jobs.length });
      }
    });
    return this.writing;
  }

  /** Writes what is pending and stops the timer (shutdown). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async write(set: string, hashes: string[], now: string, ids: string[]): Promise<void> {
    await redisCall(() => RECORD.run(this.redis, [set, ...hashes], [now, ...ids]));
  }
}
