/** What a started component does at shutdown; both halves are optional. */
export interface Closer {
  /** As shutdown begins: stop accepting work and stop background timers (synchronous, so that it happens at once). */
  stop?(): void;
  /** Once in-flight work is over (or given up on): release connections and sockets. */
  close?(): void | Promise<void>;
}

/**
 * What start-up has opened, in the order it opened it. Shutdown undoes it in reverse: every
 * `stop` first, then (after a drain, if the caller has one) every `close`, each awaited. A
 * start-up that fails half-way runs the same two calls, so that only what was opened is closed.
 */
export class Teardown {
  private readonly closers: Closer[] = [];

  /** Adds what must be undone at shutdown; the last added is undone first. */
  push(closer: Closer): void {
    this.closers.push(closer);
  }

  /** Every `stop`, last pushed first. */
  stop(): void {
    for (const closer of this.closers.toReversed()) closer.stop?.();
  }

  /** Every `close`, last pushed first, each finished before the next begins. */
  async close(): Promise<void> {
    for (const closer of this.closers.toReversed()) await closer.close?.();
  }
}
