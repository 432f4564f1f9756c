import { createHash } from 'node:crypto';
import type { RedisClient } from './connect.js';

/** A Lua script run with EVALSHA, loaded with EVAL the first time a server lacks it. */
export class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/** Turns a flat [field, value, ...] reply (HGETALL inside Lua) into an object. */
export function pairsToObject(reply: unknown): Record<string, string> {
  const result = Object.create(null) as Record<string, string>;
  if (!Array.isArray(reply)) return result;
  for (let i = 0; i + 1 < reply.length; i += 2) result[String(reply[i])] = String(reply[i + 1]);
  return result;
}
