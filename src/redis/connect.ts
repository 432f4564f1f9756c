import calculateSlot from 'cluster-key-slot';
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
      if (role === 'subscriber') {
        // Classic pub/sub is broadcast to every node of a Cluster: one connection to any node hears it all.
        client = clusterSubscriberClient(topology, node);
      } else {
        const cluster = clusterClient(topology, node, reconnect, options.commandTimeoutMs);
        keepToSlotOwner(cluster, calculateSlot(topology.keyPrefix));
        client = cluster;
      }
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
      // The Cluster's ready check (CLUSTER INFO) goes to a random node, whose connection would then stay
      // open for good: a third long-lived connection (issue 22). Each node's connection still checks
      // itself (INFO, on that connection), and a failing Cluster answers CLUSTERDOWN, retried below.
      enableReadyCheck: false,
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

/**
 * The invalidation subscription on a Cluster: one plain connection to one node (the pub/sub
 * broadcast reaches every node), not a Cluster client (which holds a connection per node it
 * touched, plus its own subscriber connection: three per instance on three masters). It starts on
 * a random configured node, to spread a fleet's subscriptions, and each reconnection tries the
 * next one, so that a lost node is left behind. The heartbeats prove it alive (and flush the
 * caches after a gap); the InvalidationSubscriber redials when they stop coming back.
 */
function clusterSubscriberClient(topology: Topology<'cluster'>, node: RedisOptions): Redis {
  const nodes = topology.nodes;
  let index = Math.floor(Math.random() * nodes.length);
  const first = nodes[index]!;
  const client: Redis = new Redis({
    ...node,
    host: first.host,
    port: first.port,
    lazyConnect: true,
    retryStrategy: (attempt: number) => {
      // ioredis dials client.options again: point it at the next node.
      index = (index + 1) % nodes.length;
      const next = nodes[index]!;
      client.options.host = next.host;
      client.options.port = next.port;
      return reconnectDelay(attempt);
    },
  });
  return client;
}

/**
 * jobgate's keys all live in its prefix's slot, yet ioredis can leave connections open to other
 * masters: a command retried after "Connection is closed" (its node's connection was still being
 * opened by another command) goes to a random node and comes back with MOVED, and after the slot
 * moves the old master's connection stays. After every slot-map read (every 30 s, and after each
 * MOVED or lost node), a connection to a master that does not serve the slot is closed with QUIT
 * (its pending replies first). ioredis then drops the node from its pool until the next slot-map
 * read adds it back, unconnected; a MOVED to it dials it again.
 */
function keepToSlotOwner(cluster: Cluster, slot: number): void {
  cluster.on('refresh', () => {
    const owners = cluster.slots[slot];
    if (owners === undefined || owners.length === 0) return;
    for (const redis of cluster.nodes('all')) {
      if (redis.status !== 'ready' || owners.includes(`${redis.options.host}:${redis.options.port}`)) continue;
      redis.quit().catch(() => {
        // Closing anyway.
      });
    }
  });
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
