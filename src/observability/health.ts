import type { RedisClient } from '../redis/connect.js';
import type { RecordSource } from '../registry/registry.js';

/**
 * Readiness: Redis answers a PING (checked every second, and at once when the
 * connection drops), and in sidecar mode the fronted job is registered.
 */
export class ReadinessProbe {
  private redisAnswers = false;
  private sidecarJobKnown: boolean;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly registry: RecordSource,
    private readonly sidecarJob: string | undefined,
    private readonly intervalMs = 1000,
  ) {
    this.sidecarJobKnown = sidecarJob === undefined;
    redis.on('close', () => {
      this.redisAnswers = false;
    });
    redis.on('ready', () => void this.check());
  }

  start(): void {
    void this.check();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Why jobgate is not ready; empty when it is. Not `detailed`: without the job's id. */
  reasons(detailed = true): string[] {
    const reasons: string[] = [];
    if (!this.redisAnswers || this.redis.status !== 'ready') reasons.push('redis is not answering');
    if (!this.sidecarJobKnown) reasons.push(detailed ? `job ${this.sidecarJob} is not registered` : 'the sidecar job is not registered');
    return reasons;
  }

  private async check(): Promise<void> {
    clearTimeout(this.timer);
    if (this.stopped) return;
    try {
      await this.redis.ping();
      this.redisAnswers = true;
    } catch {
      this.redisAnswers = false;
    }
    if (this.redisAnswers && this.sidecarJob !== undefined) {
      // A malformed record counts as not registered: the sidecar cannot serve its job.
      this.sidecarJobKnown = await this.registry.job(this.sidecarJob).then(
        (job) => job !== undefined,
        () => false,
      );
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.check(), this.intervalMs);
  }
}
