import { Lru } from '../util/lru.js';

interface Window {
  start: number;
  failures: number;
}

const WINDOW_MS = 60_000;

/** What the request pipeline needs from a failure limit: a question per request, a report per failure. */
export interface FailureCounter {
  /** Seconds until `address` may try again, or 0 when it is not blocked. */
  retryAfter(address: string): number;
  recordFailure(address: string): void;
}

/**
 * Counts failed authentications (a credential that was malformed, unknown or revoked)
 * per client address in one-minute windows, in memory: no Redis write per request.
 * Past `limit` failures, the address is refused until its window ends.
 */
export class FailureLimiter implements FailureCounter {
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

  /** Counts one failure; returns the time (ms since the epoch) `address` is now blocked until, or 0 when it is not. */
  recordFailure(address: string): number {
    const now = this.now();
    let window = this.windows.get(address);
    if (!window || now - window.start >= WINDOW_MS) this.windows.set(address, (window = { start: now, failures: 1 }));
    else window.failures++;
    return window.failures >= this.limit ? window.start + WINDOW_MS : 0;
  }
}
