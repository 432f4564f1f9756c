import { Counter, Gauge, Histogram, Registry as MetricsRegistry, collectDefaultMetrics } from 'prom-client';

/** Where the collected-on-scrape metrics read their numbers. */
export interface MetricSources {
  readonly cacheStats: () => { tokens: { hits: number; misses: number }; jobs: { hits: number; misses: number } };
  readonly websocketsOpen: () => number;
  readonly invalidationMessages: () => { token: number; job: number; other: number; heartbeat?: number };
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Requests counted on the hot path, by decision and status class; read by the metric on scrape. */
interface RequestCount {
  readonly decision: string;
  readonly statusClass: string;
  count: number;
}

/**
 * A histogram that the hot path feeds with one array increment, in prom-client's metric
 * shape (its get() is read on scrape and summed across workers like prom-client's own).
 */
class BucketHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }

  get(): {
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }>;
  } {
    const values = [];
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.counts[i]!;
      values.push({ labels: { le: this.bounds[i]! }, value: cumulative, metricName: `${this.name}_bucket` });
    }
    values.push({ labels: { le: '+Inf' }, value: this.count, metricName: `${this.name}_bucket` });
    values.push({ labels: {}, value: this.sum, metricName: `${this.name}_sum` }, { labels: {}, value: this.count, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

type Registers = MetricsRegistry[];

/** Requests by decision and status class, read from the hot path's counts on scrape. */
function registerRequestCounter(registers: Registers, requestCounts: ReadonlyMap<string, RequestCount>): void {
  new Counter({
    name: 'jobgate_requests_total',
    help: 'Requests by decision and status class.',
    labelNames: ['decision', 'status_class'],
    registers,
    collect() {
      this.reset();
      for (const { decision, statusClass, count } of requestCounts.values()) this.inc({ decision, status_class: statusClass }, count);
    },
  });
}

/** One of the cache counters, by cache (tokens, jobs), read from the caches' statistics on scrape. */
function registerCacheCounter(
  registers: Registers,
  sources: MetricSources,
  name: string,
  help: string,
  pick: (stats: { hits: number; misses: number }) => number,
): void {
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
}

/** Invalidation messages by kind, read from the subscriber's counts on scrape. */
function registerInvalidationCounter(registers: Registers, sources: MetricSources): void {
  new Counter({
    name: 'jobgate_invalidation_messages_total',
    help: "Messages received on the invalidation channel (and, kind heartbeat, on the instance's own heartbeat channel), by kind.",
    labelNames: ['kind'],
    registers,
    collect() {
      const received = sources.invalidationMessages();
      this.reset();
      this.inc({ kind: 'token' }, received.token);
      this.inc({ kind: 'job' }, received.job);
      this.inc({ kind: 'other' }, received.other);
      // This instance's own heartbeats (Cluster), each received once: a fleet's count grows with n, not n².
      if (received.heartbeat !== undefined) this.inc({ kind: 'heartbeat' }, received.heartbeat);
    },
  });
}

/**
 * jobgate's Prometheus metrics. The per-request ones (requests by decision and status
 * class, request duration) are plain counters in memory, turned into prom-client's
 * metrics when /metrics is scraped: a request costs one Map lookup and a few increments.
 */
export class Metrics {
  readonly registry = new MetricsRegistry();
  private readonly requestCounts = new Map<string, RequestCount>();
  private readonly duration: BucketHistogram;
  private readonly redisErrors: Counter;
  private readonly redisDuration: Histogram;
  private readonly revoked: Counter;
  private readonly responsesRevoked: Counter;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'jobgate_process_' });
    registerRequestCounter(registers, this.requestCounts);
    this.duration = new BucketHistogram(
      'jobgate_request_duration_seconds',
      'Time from request to response end (or WebSocket close).',
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    );
    // prom-client reads a registered metric through get() and reset(): the shape BucketHistogram has.
    this.registry.registerMetric(this.duration as unknown as Parameters<MetricsRegistry['registerMetric']>[0]);
    registerCacheCounter(registers, sources, 'jobgate_cache_hits_total', 'Lookups answered from the in-process cache.', (stats) => stats.hits);
    registerCacheCounter(registers, sources, 'jobgate_cache_misses_total', 'Lookups that went to Redis.', (stats) => stats.misses);
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
    this.responsesRevoked = new Counter({
      name: 'jobgate_responses_revoked_total',
      help: 'HTTP responses (event streams, followed logs) ended because their access was revoked.',
      registers,
    });
    registerInvalidationCounter(registers, sources);
  }

  /** Counts one finished request. */
  request(decision: string, status: number, seconds: number): void {
    const statusClass = STATUS_CLASSES[Math.floor(status / 100) - 1] ?? '5xx';
    const key = `${decision} ${statusClass}`;
    const counted = this.requestCounts.get(key);
    if (counted) counted.count++;
    else this.requestCounts.set(key, { decision, statusClass, count: 1 });
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

  responseRevoked(): void {
    this.responsesRevoked.inc();
  }
}
