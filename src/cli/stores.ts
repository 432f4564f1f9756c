/** Settings and the Redis stores for the admin commands (token, job, events), loaded only by them. */
import type { Command } from 'commander';
import { AuditLog } from '../audit/log.js';
import { loadSettings } from '../config/load.js';
import type { Settings } from '../config/settings.js';
import { JobStore } from '../jobs/store.js';
import { connectRedis, createRedisClient, KeySpace, redisTopology } from '../redis/index.js';
import { TokenStore } from '../tokens/store.js';
import type { GlobalOptions } from './context.js';

/** How long an admin command waits for Redis before giving up (exit 1). */
export const CLI_REDIS_TIMEOUT_MS = 2000;

export interface Stores {
  readonly tokens: TokenStore;
  readonly jobs: JobStore;
  readonly events: AuditLog;
}

/** Settings from the command's flags, the environment and the config file. */
export function settingsFor(command: Command, env: NodeJS.ProcessEnv): Settings {
  const options = command.optsWithGlobals<GlobalOptions>();
  return loadSettings({ file: options.config, env, flags: { redisUrl: options.redisUrl, keyPrefix: options.keyPrefix } });
}

/** Connects to Redis (2 s at most), runs `work` with the stores, and always disconnects. */
export async function withStores<T>(settings: Settings, work: (stores: Stores) => Promise<T>): Promise<T> {
  // An impossible combination of Redis settings is refused here (exit 2), before connecting.
  const topology = redisTopology(settings);
  const redis = createRedisClient({ topology, commandTimeoutMs: CLI_REDIS_TIMEOUT_MS }, 'cli');
  redis.on('error', () => {
    // Reported through the failing command; an 'error' listener keeps ioredis from printing.
  });
  try {
    await connectRedis(redis, CLI_REDIS_TIMEOUT_MS);
    const keys = new KeySpace(topology.keyPrefix);
    return await work({ tokens: new TokenStore(redis, keys), jobs: new JobStore(redis, keys), events: new AuditLog(redis, keys) });
  } finally {
    if (redis.status !== 'end') redis.disconnect();
  }
}
