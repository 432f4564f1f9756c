import { Lru } from '../registry/lru.js';

interface Window {
  start: number;
  failures: number;
}

const WINDOW_MS = 60_000;

/**
 * Counts failed authentications (a credential that was malformed, unknown or revoked)
 * per client address in one-minute windows, in memory: no Redis write per request.
 * Past `limit` failures, the address is refused until its window ends.
 */
export class FailureLimiter {
  private readonly windows: Lru<string, Window>;

  constructor(
    private readonly limit: number,
    maxAddresses = 100_000,
    private readonly now: () => number = Date.now,
  ) {
    this.windows = new Lru(maxAddresses);
  }

  /** Seconds until `address` may try again, or 0 when it is not blocked. */
  retryAfter(address: string): number {
    const window = this.windows.get(address);
    if (!window || window.failures < this.limit) return 0;
    const left = window.start + WINDOW_MS - this.now();
    if (left <= 0) {
      this.windows.delete(address);
      return 0;
    }
    return Math.ceil(left / 1000);
  }

  recordFailure(address: string): void {
    const now = this.now();
    const window = this.windows.get(address);
    if (!window || now - window.start >= WINDOW_MS) this.windows.set(address, { start: now, failures: 1 });
    else window.failures++;
  }
}
