import type { Worker } from 'node:cluster';
import { FailureLimiter, type FailureCounter } from '../auth/failure-limit.js';
import { Lru } from '../util/lru.js';

/** A worker's report to the primary: one failed authentication from `address`. */
interface FailureReport {
  readonly jobgate: 'auth_failure';
  readonly address: string;
}

/** The primary's word to the workers: `address` is past the limit until `until` (ms since the epoch). */
interface LimitNotice {
  readonly jobgate: 'auth_limited';
  readonly address: string;
  readonly until: number;
}

const isFailureReport = (message: unknown): message is FailureReport =>
  (message as FailureReport | null)?.jobgate === 'auth_failure' && typeof (message as FailureReport).address === 'string';

export const isLimitNotice = (message: unknown): message is LimitNotice =>
  (message as LimitNotice | null)?.jobgate === 'auth_limited' &&
  typeof (message as LimitNotice).address === 'string' &&
  typeof (message as LimitNotice).until === 'number';

/**
 * The failure limit of one worker of `serve --workers n`, shared by all workers through the
 * primary, which holds the counts. A failure is reported to the primary without waiting for
 * an answer; the primary tells every worker when an address goes past the limit, and each
 * worker keeps those addresses here. So a request asks only local memory, and the limit holds
 * across the workers of one instance, give or take one IPC hop: requests that other workers
 * decide before the primary's notice reaches them still count and are refused only after it.
 * The worker's own count stays as a floor (the limit per worker, as without the primary).
 */
export class WorkerFailureLimiter implements FailureCounter {
  private readonly local: FailureLimiter;
  private readonly limitedUntil: Lru<string, number>;

  constructor(
    limit: number,
    private readonly report: (message: FailureReport) => void,
    maxAddresses = 100_000,
    private readonly now: () => number = Date.now,
  ) {
    this.local = new FailureLimiter(limit, maxAddresses, now);
    this.limitedUntil = new Lru(maxAddresses);
  }

  retryAfter(address: string): number {
    const local = this.local.retryAfter(address);
    const until = this.limitedUntil.get(address);
    if (until === undefined) return local;
    const left = until - this.now();
    if (left <= 0) {
      this.limitedUntil.delete(address);
      return local;
    }
    return Math.max(local, Math.ceil(left / 1000));
  }

  recordFailure(address: string): void {
    this.local.recordFailure(address);
    this.report({ jobgate: 'auth_failure', address });
  }

  /** A notice from the primary (other messages are ignored). */
  onMessage(message: unknown): void {
    if (isLimitNotice(message)) this.limitedUntil.set(message.address, message.until);
  }
}

/**
 * The primary's side: counts the failures every worker reports, per address, and tells every
 * worker once an address goes past the limit. A report for an address already past it (from a
 * worker that has not heard yet: a replacement, or one in the IPC window) is answered to that
 * worker alone.
 */
export class PrimaryFailureLimiter {
  private readonly counts: FailureLimiter;

  constructor(
    limit: number,
    private readonly workers: () => Iterable<Worker>,
  ) {
    this.counts = new FailureLimiter(limit);
  }

  onMessage(from: Worker, message: unknown): void {
    if (!isFailureReport(message)) return;
    const wasLimited = this.counts.retryAfter(message.address) > 0;
    const until = this.counts.recordFailure(message.address);
    if (until === 0) return;
    const notice: LimitNotice = { jobgate: 'auth_limited', address: message.address, until };
    for (const worker of wasLimited ? [from] : this.workers()) sendQuietly(worker, notice);
  }
}

/** A worker that is exiting may have closed its channel already; that is not an error here. */
function sendQuietly(worker: Worker, message: LimitNotice): void {
  if (worker.isConnected()) worker.send(message, undefined, () => {});
}

/** Sends a failure report to the primary, without waiting and without failing once the channel is closed (shutdown). */
export function reportToPrimary(message: FailureReport): void {
  if (process.connected) process.send?.(message, undefined, {}, () => {});
}
