import type { Test } from 'tap';
import { JobStore } from '../../src/jobs/store.js';
import { createRedisClient, KeySpace, redisTopology, type RedisClient, type RedisTopology } from '../../src/redis/index.js';
import { TokenStore } from '../../src/tokens/store.js';
import { RedisServer } from './redis.js';
import { REDIS_COMMAND_TIMEOUT_MS } from './wait.js';

/** A real Redis of the test's own, jobgate's commands client on it (REDIS_COMMAND_TIMEOUT_MS), and the stores. */
export interface GateStores {
  readonly server: RedisServer;
  readonly topology: RedisTopology;
  readonly redis: RedisClient;
  readonly keys: KeySpace;
  readonly tokens: TokenStore;
  readonly jobs: JobStore;
}

/** Starts what the gate's unit tests read from; `t`'s teardown stops it. */
export async function startGateStores(t: Test): Promise<GateStores> {
  const server = await RedisServer.start();
  t.teardown(() => server.stop());
  const topology = redisTopology({ redisUrl: server.url, redisSentinelName: 'mymaster', keyPrefix: undefined });
  const redis = createRedisClient({ topology, commandTimeoutMs: REDIS_COMMAND_TIMEOUT_MS }, 'commands');
  t.teardown(() => redis.disconnect());
  await redis.connect();
  const keys = new KeySpace(topology.keyPrefix);
  return { server, topology, redis, keys, tokens: new TokenStore(redis, keys), jobs: new JobStore(redis, keys) };
}
