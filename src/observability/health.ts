import type { JobRecord } from '../jobs/record.js';
import type { RedisClient } from '../redis/connect.js';
import type { RecordSource } from '../registry/registry.js';

/** Sidecar mode: the one job jobgate fronts, and who wants to see its record at each check. */
export interface SidecarCheck {
  readonly jobId: string;
  readonly seen?: (job: JobRecord) => void;
}

/**
 * Readiness: Redis answers a PING (checked every second, and at once when the
 * connection drops), and in sidecar mode the fronted job is registered.
 *
 * `answeredAt` (optional): when Redis last answered another command on the same client
 * (performance.now()). Once it has answered, it stands for the PING: on a Cluster, the
 * heartbeat script answers every second from the node that holds the records (a PING would
 * reach any node), and a fleet of thousands sends Redis one round trip a second per instance
 * instead of two (issue 22).
 *
 * `ping` (optional): what stands for the PING. On a Cluster a PING goes to a random node, whose
 * connection then stays open: a keyed command in the records' slot keeps to the one connection
 * jobgate's lookups use (issue 22).
 */
export class ReadinessProbe {
  private redisAnswers = false;
  private sidecarJobKnown: boolean;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly registry: RecordSource,
    private readonly sidecar: SidecarCheck | undefined,
    private readonly intervalMs = 1000,
    private readonly answeredAt: () => number | undefined = () => undefined,
    private readonly ping: () => Promise<unknown> = () => redis.ping(),
  ) {
    this.sidecarJobKnown = sidecar === undefined;
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
    if (!this.sidecarJobKnown) reasons.push(detailed ? `job ${this.sidecar?.jobId} is not registered` : 'the sidecar job is not registered');
    return reasons;
  }

  private async check(): Promise<void> {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const answered = this.answeredAt();
    if (answered !== undefined) {
      // The heartbeats have answered before: their silence for two intervals is Redis (the records' node) not answering.
      this.redisAnswers = performance.now() - answered <= this.intervalMs * 2;
    } else {
      try {
        await this.ping();
        this.redisAnswers = true;
      } catch {
        this.redisAnswers = false;
      }
    }
    const sidecar = this.sidecar;
    if (this.redisAnswers && sidecar !== undefined) {
      // A malformed record counts as not registered: the sidecar cannot serve its job.
      const job = await this.registry.job(sidecar.jobId).catch(() => undefined);
      this.sidecarJobKnown = job !== undefined;
      if (job) sidecar.seen?.(job);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.check(), this.intervalMs);
  }
}
