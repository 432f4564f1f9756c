/**
 * Console sessions ended by sign-out, kept in Redis until the cookie would have expired anyway:
 * a session cookie is stateless, so without this a copy of it (a shared machine, a proxy's
 * log) would keep opening the console after "Sign out" until its expiry.
 */
import { redisCall, type KeySpace, type RedisClient } from '../redis/index.js';

export class SignedOutSessions {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
  ) {}

  /** Ends session `sid` for good; the record goes when the cookie would have expired (`expiresAtMs`). */
  async end(sid: string, expiresAtMs: number): Promise<void> {
    if (expiresAtMs <= Date.now()) return;
    await redisCall(() => this.redis.set(this.keys.consoleSignedOut(sid), '1', 'PXAT', expiresAtMs));
  }

  /** Whether session `sid` was signed out; a Redis failure throws StoreUnavailableError (fail closed). */
  async has(sid: string): Promise<boolean> {
    return (await redisCall(() => this.redis.exists(this.keys.consoleSignedOut(sid)))) === 1;
  }
}
