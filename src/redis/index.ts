export { createRedis, connectRedis, describeRedisUrl, redisCall, execAtomic, readHashes, readHash } from './client.js';
export { KeySpace, DEFAULT_KEY_PREFIX, invalidation } from './keys.js';
export { LuaScript, pairsToObject } from './script.js';
