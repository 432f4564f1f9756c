export { createRedis, connectRedis, describeRedisUrl, redisCall, execAtomic, readHashes, readHash, readScores } from './client.js';
export { KeySpace, DEFAULT_KEY_PREFIX, invalidation } from './keys.js';
export { LuaScript, pairsToObject } from './script.js';
export { createRedisClient, describeRedisClient, isCluster, type RedisClient, type RedisClientOptions, type RedisRole } from './connect.js';
export {
  redisTopology,
  describeTopology,
  hasHashTag,
  parseHostPort,
  formatHostPort,
  DEFAULT_CLUSTER_KEY_PREFIX,
  type RedisTopology,
  type RedisSettings,
  type HostPort,
} from './topology.js';
