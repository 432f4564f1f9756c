import { Counter, Gauge, Histogram, Registry as MetricsRegistry, collectDefaultMetrics } from 'prom-client';

/** Where the collected-on-scrape metrics read their numbers. */
export interface MetricSources {
  readonly cacheStats: () => { tokens: { hits: number; misses: number }; jobs: { hits: number; misses: number } };
  readonly websocketsOpen: () => number;
  readonly invalidationMessages: () => { token: number; job: number; other: number };
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/**
 * jobgate's Prometheus metrics. Request counters are pre-bound per (decision, status
 * class) so that the hot path does one Map lookup and two increments.
 */
export class Metrics {
  readonly registry = new MetricsRegistry();
  private readonly requests: Counter<'decision' | 'status_class'>;
  private readonly duration: Histogram;
  private readonly redisErrors: Counter;
  private readonly redisDuration: Histogram;
  private readonly revoked: Counter;
  private readonly bound = new Map<string, Counter.Internal>();

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'jobgate_process_' });
    this.requests = new Counter({ name: 'jobgate_requests_total', help: 'Requests by decision and status class.', labelNames: ['decision', 'status_class'], registers });
    this.duration = new Histogram({
      name: 'jobgate_request_duration_seconds',
      help: 'Time from request to response end (or WebSocket close).',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const cacheCounter = (name: string, help: string, pick: (stats: { hits: number; misses: number }) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['cache'],
        registers,
        collect() {
          const stats = sources.cacheStats();
          this.reset();
          this.inc({ cache: 'tokens' }, pick(stats.tokens));
          this.inc({ cache: 'jobs' }, pick(stats.jobs));
        },
      });
    cacheCounter('jobgate_cache_hits_total', 'Lookups answered from the in-process cache.', (stats) => stats.hits);
    cacheCounter('jobgate_cache_misses_total', 'Lookups that went to Redis.', (stats) => stats.misses);
    this.redisErrors = new Counter({ name: 'jobgate_redis_errors_total', help: 'Redis connection errors and failed commands.', registers });
    this.redisDuration = new Histogram({
      name: 'jobgate_redis_command_duration_seconds',
      help: 'Duration of the Redis lookups made on cache misses.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
      registers,
    });
    new Gauge({
      name: 'jobgate_websockets_open',
      help: 'Open WebSocket connections.',
      registers,
      collect() {
        this.set(sources.websocketsOpen());
      },
    });
    this.revoked = new Counter({ name: 'jobgate_websockets_revoked_total', help: 'WebSockets closed because their access was revoked.', registers });
    new Counter({
      name: 'jobgate_invalidation_messages_total',
      help: 'Messages received on the invalidation channel, by kind.',
      labelNames: ['kind'],
      registers,
      collect() {
        const received = sources.invalidationMessages();
        this.reset();
        this.inc({ kind: 'token' }, received.token);
        this.inc({ kind: 'job' }, received.job);
        this.inc({ kind: 'other' }, received.other);
      },
    });
  }

  /** Counts one finished request. */
  request(decision: string, status: number, seconds: number): void {
    const statusClass = STATUS_CLASSES[Math.floor(status / 100) - 1] ?? '5xx';
    const key = `${decision} ${statusClass}`;
    let counter = this.bound.get(key);
    if (!counter) {
      counter = this.requests.labels({ decision, status_class: statusClass });
      this.bound.set(key, counter);
    }
    counter.inc();
    this.duration.observe(seconds);
  }

  redisError(): void {
    this.redisErrors.inc();
  }

  redisCommand(seconds: number): void {
    this.redisDuration.observe(seconds);
  }

  websocketRevoked(): void {
    this.revoked.inc();
  }
}
