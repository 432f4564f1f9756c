import type { EventEmitter } from 'node:events';

/**
 * Bounded waits that say what did not happen. A wait for an event that never comes fails its own
 * subtest with the name of that event, instead of hanging until tap's file timeout and taking the
 * file's remaining subtests with it.
 */

/**
 * Waits at least this long before failing: a busy 2-core machine (CI runs two test files at
 * once, maybe beside another CPU-heavy process) can take seconds where an idle one takes
 * milliseconds. A wait that ends returns at once, so passing tests pay nothing.
 */
export const MIN_WAIT_MS = 30_000;

/**
 * The Redis command timeout jobgate gets in the harnesses: the most JOBGATE_REDIS_TIMEOUT_MS
 * accepts. jobgate fails closed with 503 past it, and on a starved machine a stalled event loop
 * fires the command's timer before it reads a reply that came in time. Tests that hang Redis
 * wait for the 503 whatever this is.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 900;

const describe = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

/**
 * Settles as `promise` does, or rejects after `timeoutMs` (at least 30 s) with
 * "timed out after 30 s waiting for <what>". The bound starts now, not when the result is awaited.
 * Its rejection reaches whoever awaits it; a wait left unawaited by a test that failed earlier
 * does not fail the file a second time as an unhandled rejection.
 *
 * @example const code = await within(closed, 'the revoked WebSocket to close');
 */
export function within<T>(promise: PromiseLike<T>, what: string, timeoutMs = MIN_WAIT_MS): Promise<T> {
  const bound = Math.max(timeoutMs, MIN_WAIT_MS);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${describe(bound)} waiting for ${what}`)), bound);
  });
  const bounded = Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  bounded.catch(() => {});
  return bounded;
}

/**
 * The arguments of the next `event` on `emitter`, within the bound of {@link within}. Unlike
 * events.once, an 'error' event does not reject it: wait for 'error' itself when that is the point.
 */
export function nextEvent<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, what: string, timeoutMs = MIN_WAIT_MS): Promise<T> {
  return within(new Promise<T>((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args as T))), what, timeoutMs);
}

/**
 * Polls `condition` every 20 ms until it holds, or fails after `timeoutMs` (at least 30 s) with
 * "timed out after 30 s waiting for <what>", and the last error the condition threw, if any.
 *
 * @example await eventually('/readyz to answer 200', async () => (await request(url, { path: '/readyz' })).status === 200);
 */
export async function eventually(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = MIN_WAIT_MS): Promise<void> {
  const bound = Math.max(timeoutMs, MIN_WAIT_MS);
  const deadline = Date.now() + bound;
  let lastError: unknown;
  for (;;) {
    try {
      if (await condition()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError === undefined ? '' : ` (last attempt: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})`;
      throw new Error(`timed out after ${describe(bound)} waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
