import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { describeTopology, type RedisTopology } from './topology.js';

/** A connection to jobgate's Redis, whatever its topology. */
export type RedisClient = Redis | Cluster;

/**
 * What a client is for: `commands` (the proxy's lookups), `subscriber` (the invalidation
 * channel: its owner subscribes after every 'ready'), `cli` (one attempt, no reconnect).
 */
export type RedisRole = 'commands' | 'subscriber' | 'cli';

export interface RedisClientOptions {
  readonly topology: RedisTopology;
  /** A command that gets no answer within this time fails (a hung Redis must not hang requests). */
  readonly commandTimeoutMs: number;
}

const descriptions = new WeakMap<object, string>();

/** How often a Cluster client reads the slot map without being told to (each read is one short-lived connection). */
export const CLUSTER_SLOTS_REFRESH_MS = 30_000;

/** Reconnection delays of the servers' clients: short, so that service returns soon after Redis does. */
const reconnectDelay = (attempt: number) => Math.min(50 * attempt, 500);

/**
 * The one place that creates Redis connections: standalone, Sentinel or Cluster. Every
 * client fails fast: no offline queue (a command sent while disconnected fails at once
 * instead of waiting ~74 s), a command timeout (a hung Redis fails at it), no retry of a
 * command. The client is lazy: call connect() (or connectRedis()).
 */
export function createRedisClient(options: RedisClientOptions, role: RedisRole): RedisClient {
  const { topology } = options;
  const node = nodeOptions(options, role);
  const reconnect = role !== 'cli';
  let client: RedisClient;
  switch (topology.kind) {
    case 'standalone':
      client = standaloneClient(topology, node, reconnect);
      break;
    case 'sentinel':
      client = sentinelClient(topology, node, reconnect, options.commandTimeoutMs);
      break;
    case 'cluster':
      client = clusterClient(topology, node, reconnect, options.commandTimeoutMs);
      break;
  }
  descriptions.set(client, describeTopology(topology));
  return client;
}

type Topology<K extends RedisTopology['kind']> = Extract<RedisTopology, { readonly kind: K }>;

/** What every connection to a Redis node is given, whatever the topology. */
function nodeOptions({ topology, commandTimeoutMs }: RedisClientOptions, role: RedisRole): RedisOptions {
  return {
    enableOfflineQueue: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, 1000),
    maxRetriesPerRequest: 0,
    enableReadyCheck: true,
    // The subscriber's owner (InvalidationSubscriber) subscribes again itself, and flushes caches then.
    autoResubscribe: role !== 'subscriber',
    connectionName: `jobgate-${role}`,
    ...(topology.username === undefined ? {} : { username: topology.username }),
    ...(topology.password === undefined ? {} : { password: topology.password }),
    ...(topology.tls ? { tls: {} } : {}),
  };
}

function standaloneClient(topology: Topology<'standalone'>, node: RedisOptions, reconnect: boolean): Redis {
  return new Redis({
    ...node,
    host: topology.host,
    port: topology.port,
    db: topology.db,
    lazyConnect: true,
    retryStrategy: reconnect ? reconnectDelay : () => null,
  });
}

function sentinelClient(topology: Topology<'sentinel'>, node: RedisOptions, reconnect: boolean, commandTimeoutMs: number): Redis {
  return new Redis({
    ...node,
    sentinels: topology.sentinels.map(({ host, port }) => ({ host, port })),
    name: topology.name,
    role: 'master',
    db: topology.db,
    ...(topology.sentinelPassword === undefined ? {} : { sentinelPassword: topology.sentinelPassword }),
    ...(topology.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    sentinelCommandTimeout: Math.max(commandTimeoutMs, 500),
    // Ask the Sentinels again soon, so that a new master is found within seconds of a failover.
    sentinelRetryStrategy: reconnect ? (attempt: number) => Math.min(100 * attempt, 1000) : () => null,
    // Sentinel's +switch-master closes the connection to the old master at once (it may live on as a replica).
    failoverDetector: reconnect,
    lazyConnect: true,
    retryStrategy: reconnect ? reconnectDelay : () => null,
  });
}

function clusterClient(topology: Topology<'cluster'>, node: RedisOptions, reconnect: boolean, commandTimeoutMs: number): Cluster {
  const { enableOfflineQueue: _queue, ...redisOptions } = node;
  return new Cluster(
    topology.nodes.map(({ host, port }) => ({ host, port })),
    {
      lazyConnect: true,
      enableOfflineQueue: false,
      enableReadyCheck: true,
      redisOptions,
      clusterRetryStrategy: reconnect ? (attempt: number) => Math.min(100 * attempt, 1000) : () => null,
      // A node that drops is dialled again (a restarted master comes back without a MOVED to tell us).
      clusterNodeRetryStrategy: reconnect ? reconnectDelay : null,
      // Retries after a lost node or CLUSTERDOWN stay within about half a second, so a request
      // that cannot be answered gets its 503 in time.
      maxRedirections: 6,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      slotsRefreshTimeout: Math.max(commandTimeoutMs, 1000),
      // Each periodic refresh opens (and closes) a connection of its own for CLUSTER SLOTS: at one per
      // 2 s, a fleet of 5,000 instances made Redis accept 5,000 connections a second at rest (issue 22).
      // MOVED, ASK and lost nodes trigger a refresh anyway; the timer only catches the rest.
      slotsRefreshInterval: CLUSTER_SLOTS_REFRESH_MS,
    },
  );
}

/** Where a client points: addresses only, never its password. */
export function describeRedisClient(redis: RedisClient): string {
  const known = descriptions.get(redis);
  if (known !== undefined) return known;
  if (redis instanceof Cluster) return 'Redis Cluster';
  return `${redis.options.host ?? '127.0.0.1'}:${redis.options.port ?? 6379}`;
}

export function isCluster(redis: RedisClient): redis is Cluster {
  return redis instanceof Cluster;
}
