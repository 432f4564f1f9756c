import type { Redis } from 'ioredis';

const RETRY_MS = 500;

export interface InvalidationHandlers {
  readonly token: (id: string) => void;
  readonly job: (id: string) => void;
  /** The subscription is (re)established: messages may have been lost in the gap. */
  readonly resubscribed: () => void;
}

/**
 * Listens to the invalidation channel on a connection of its own. `live` is true only
 * while the subscription is confirmed; after every reconnect it subscribes again and
 * reports `resubscribed`, so that caches are flushed of what the gap may have staled.
 */
export class InvalidationSubscriber {
  private subscribed = false;
  private stopped = false;
  /** Messages received, by kind, for metrics. */
  readonly received = { token: 0, job: 0, other: 0 };

  constructor(
    private readonly subscriber: Redis,
    private readonly channel: string,
    private readonly handlers: InvalidationHandlers,
  ) {
    subscriber.on('close', () => {
      this.subscribed = false;
    });
    subscriber.on('ready', () => void this.subscribe());
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.dispatch(message);
    });
  }

  stop(): void {
    this.stopped = true;
  }

  get live(): boolean {
    return this.subscribed && this.subscriber.status === 'ready';
  }

  private async subscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.channel);
      this.subscribed = true;
      this.handlers.resubscribed();
    } catch {
      // Refused (an ACL, say) while connected: try again shortly. A dropped connection retries on 'ready'.
      if (this.subscriber.status === 'ready' && !this.stopped) setTimeout(() => void this.subscribe(), RETRY_MS).unref();
    }
  }

  private dispatch(message: string): void {
    const colon = message.indexOf(':');
    const kind = message.slice(0, colon);
    const id = message.slice(colon + 1);
    if (colon > 0 && kind === 'token') {
      this.received.token++;
      this.handlers.token(id);
    } else if (colon > 0 && kind === 'job') {
      this.received.job++;
      this.handlers.job(id);
    } else {
      this.received.other++;
    }
  }
}
