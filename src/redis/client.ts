import { Redis, type ChainableCommander } from 'ioredis';
import { RecordError, StoreUnavailableError } from '../errors.js';
import { describeRedisClient, type RedisClient } from './connect.js';

export interface RedisConnectOptions {
  readonly url: string;
  /** A command that gets no answer within this time fails (a hung Redis must not hang requests). */
  readonly commandTimeoutMs: number;
  /** Keep reconnecting after a loss (servers), or fail once (CLI). */
  readonly reconnect: boolean;
  /** A pub/sub connection: its owner subscribes again after each reconnect. */
  readonly subscriber?: boolean;
}

/**
 * A standalone Redis client from a URL (kept for tests and tools; jobgate itself uses
 * createRedisClient, which also speaks Sentinel and Cluster). It fails fast: no offline
 * queue (a command sent while disconnected fails at once instead of waiting ~74 s) and a
 * command timeout (a hung Redis fails at it).
 */
export function createRedis(options: RedisConnectOptions): Redis {
  return new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: Math.max(options.commandTimeoutMs, 1000),
    maxRetriesPerRequest: 0,
    enableReadyCheck: true,
    retryStrategy: options.reconnect ? (attempt) => Math.min(50 * attempt, 500) : () => null,
    autoResubscribe: !options.subscriber,
  });
}

/** Connects, or throws StoreUnavailableError after `timeoutMs` with a message a person can act on. */
export async function connectRedis(redis: RedisClient, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let lastError: Error | undefined;
  const remember = (error: Error) => {
    lastError = error;
  };
  redis.on('error', remember);
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([redis.connect(), timeout]);
  } catch (error) {
    // disconnect() on a connection that already ended arms a 2 s timer that keeps the process alive.
    if (redis.status !== 'end') redis.disconnect();
    const reason = lastError?.message ?? (error as Error).message;
    throw new StoreUnavailableError(`cannot reach Redis at ${describeRedisUrl(redis)}: ${reason}`);
  } finally {
    clearTimeout(timer);
    redis.off('error', remember);
  }
}

/** host:port of a client (the Sentinels or Cluster nodes), never its password. */
export function describeRedisUrl(redis: RedisClient): string {
  return describeRedisClient(redis);
}

/** Reads one hash; a key of another type (set by hand) is a malformed record. */
export async function readHash(redis: RedisClient, key: string): Promise<Record<string, string>> {
  try {
    return await redisCall(() => redis.hgetall(key));
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('WRONGTYPE')) throw new RecordError(key, 'the key is not a hash');
    throw error;
  }
}

/** Runs a Redis call and maps transport failures to StoreUnavailableError. */
export async function redisCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof Error && error.name === 'ReplyError') throw error;
    throw new StoreUnavailableError(`Redis unavailable: ${(error as Error).message}`);
  }
}

/** Runs a MULTI block; throws when Redis refused it or any command in it. */
export async function execAtomic(multi: ChainableCommander): Promise<unknown[]> {
  const replies = await redisCall(() => multi.exec());
  if (!replies) throw new StoreUnavailableError('Redis aborted the transaction');
  return replies.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
}

/**
 * Reads the hash of every id in one pipeline (one single-key command each, so it is
 * Cluster-safe) and parses each; a record that fails to parse is returned as its error.
 * Ids whose hash is gone (an index entry left by a hand-made delete) are skipped.
 */
export async function readHashes<T>(
  redis: RedisClient,
  ids: readonly string[],
  keyOf: (id: string) => string,
  parse: (key: string, id: string, hash: Record<string, string>) => T,
): Promise<Array<T | Error>> {
  if (ids.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hgetall(keyOf(id));
  const replies = (await redisCall(() => pipeline.exec())) ?? [];
  const results: Array<T | Error> = [];
  ids.forEach((id, index) => {
    const [error, hash] = replies[index] ?? [new StoreUnavailableError('no reply from Redis'), undefined];
    if (error) return void results.push(error.message.startsWith('WRONGTYPE') ? new RecordError(keyOf(id), 'the key is not a hash') : error);
    const fields = hash as Record<string, string>;
    if (Object.keys(fields).length === 0) return;
    try {
      results.push(parse(keyOf(id), id, fields));
    } catch (parseError) {
      results.push(parseError as Error);
    }
  });
  return results;
}

/** The score of each id in the sorted set `key` (one ZMSCORE); ids without one are absent. */
export async function readScores(redis: RedisClient, key: string, ids: readonly string[]): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  if (ids.length === 0) return found;
  const scores = await redisCall(() => redis.zmscore(key, ...ids));
  ids.forEach((id, i) => {
    const score = Number(scores[i] ?? Number.NaN);
    if (Number.isFinite(score)) found.set(id, score);
  });
  return found;
}
