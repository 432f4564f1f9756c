import { randomBytes } from 'node:crypto';
import { isCluster, type RedisClient } from '../redis/connect.js';
import { LuaScript } from '../redis/script.js';

const RETRY_MS = 500;

/**
 * Heartbeat messages: `heartbeat:<instance id>:<sequence>`, each published on the instance's own
 * channel (`<channel>:heartbeat:<instance id>`), which only that instance subscribes to: a
 * heartbeat is delivered once, to the instance that sent it, so a fleet of n instances costs n
 * messages a second, not n². Older versions published them on the shared channel; jobgate counts
 * those apart and ignores them.
 */
export const HEARTBEAT_KIND = 'heartbeat';

/** The channel an instance's heartbeats travel on: same `{hash tag}` (so the same slot) as the shared channel. */
export function heartbeatChannel(channel: string, instanceId: string): string {
  return `${channel}:${HEARTBEAT_KIND}:${instanceId}`;
}

// KEYS: the heartbeat channel (only to route the script to the node that owns the prefix's hash slot,
// where the records live). ARGV: channel, message. PUBLISH from a script reaches subscribers on every node.
const HEARTBEAT = new LuaScript(`
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
`);

export interface InvalidationHandlers {
  readonly token: (id: string) => void;
  readonly job: (id: string) => void;
  /** The subscription is (re)established: messages may have been lost in the gap. */
  readonly resubscribed: () => void;
}

export interface HeartbeatOptions {
  /** How often this instance publishes `heartbeat:<id>:<sequence>` on its own heartbeat channel. */
  readonly intervalMs: number;
  /** The subscription counts as dead when none of this instance's heartbeats came back for this long. */
  readonly timeoutMs: number;
  /**
   * A subscription on a plain connection (a Cluster's, to one node) that has heard none of its
   * heartbeats for this long while Redis accepted them is dropped and dialled again (on the next
   * node): its node hangs, or left the Cluster. Default: the larger of 10 s and three timeouts.
   */
  readonly redialMs?: number;
}

export interface InvalidationOptions {
  /**
   * Prove the subscription alive with heartbeats on the instance's own channel, subscribed on the
   * same connection as the shared channel. On by default for a Redis Cluster (a Cluster client as
   * the subscriber or as the publisher), whose subscriber connection can sit on a node that hangs
   * or leaves without an event; standalone and Sentinel connections report their losses themselves.
   */
  readonly heartbeat?: HeartbeatOptions | false;
  /**
   * Where heartbeats are published from (a connection that is not in subscriber mode);
   * by default the subscriber client itself when it is a Cluster (its commands use other connections).
   */
  readonly publisher?: RedisClient;
}

export const DEFAULT_HEARTBEAT: HeartbeatOptions = { intervalMs: 1000, timeoutMs: 3000 };

/**
 * Listens to the invalidation channel on a connection of its own. `live` is true only
 * while the subscription is confirmed; after every reconnect it subscribes again and
 * reports `resubscribed`, so that caches are flushed of what the gap may have staled.
 *
 * With heartbeats (Redis Cluster), `live` also needs one of this instance's heartbeats to have
 * come back within `timeoutMs`; when one comes back after a silence, the gap is reported as
 * `resubscribed` too. Heartbeats are published through the node that holds the records, so a
 * lost data node also shows as a dead subscription. Each instance proves its own subscription on
 * its own channel (subscribed on the same connection as the shared one): no instance receives
 * another's heartbeats, so the fleet's cost grows with n, not n².
 */
export class InvalidationSubscriber {
  private subscribed = false;
  private stopped = false;
  private subscribing = false;
  private readonly heartbeat: HeartbeatOptions | undefined;
  private readonly publisher: RedisClient | undefined;
  private readonly instanceId = randomBytes(8).toString('hex');
  /** This instance's own heartbeat channel: only it subscribes there. */
  readonly heartbeatChannel: string;
  private lastBeatAt: number | undefined;
  /** Since when the subscription has had to prove itself: its SUBSCRIBE, its last heartbeat, or the last redial. */
  private provenSince = performance.now();
  /** When Redis last answered a heartbeat script (performance.now()): the readiness probe's proof that Redis answers. */
  private answered: number | undefined;
  /** Messages may have been lost since the last proof: flush when the next heartbeat comes back. */
  private beatLost = false;
  private sequence = 0;
  /** Sequences of this instance's heartbeats that Redis accepted and that have not come back yet. */
  private readonly inFlight = new Set<number>();
  private lastSequenceSeen = 0;
  /** The connection a Cluster client subscribes on, as last seen (it can be replaced silently). */
  private subscriberConnection: unknown;
  private timer: NodeJS.Timeout | undefined;
  /**
   * Messages received, by kind, for metrics: `heartbeat` counts this instance's own heartbeats
   * (on its channel), `foreign` heartbeats seen on the shared channel (older versions sent them there).
   */
  readonly received = { token: 0, job: 0, other: 0, heartbeat: 0, foreign: 0 };

  constructor(
    private readonly subscriber: RedisClient,
    private readonly channel: string,
    private readonly handlers: InvalidationHandlers,
    options: InvalidationOptions = {},
  ) {
    this.publisher = options.publisher ?? (isCluster(subscriber) ? subscriber : undefined);
    const cluster = isCluster(subscriber) || (this.publisher !== undefined && isCluster(this.publisher));
    const heartbeat = options.heartbeat ?? (cluster ? DEFAULT_HEARTBEAT : false);
    this.heartbeat = heartbeat === false ? undefined : heartbeat;
    if (this.heartbeat && !this.publisher) throw new Error('heartbeats need a publisher connection that is not in subscriber mode');
    this.heartbeatChannel = heartbeatChannel(channel, this.instanceId);
    subscriber.on('close', () => {
      this.subscribed = false;
    });
    subscriber.on('ready', () => {
      this.provenSince = performance.now();
      void this.subscribe();
    });
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.dispatch(message);
      else if (channel === this.heartbeatChannel && message.startsWith(`${HEARTBEAT_KIND}:`)) this.heartbeatReceived(message.slice(HEARTBEAT_KIND.length + 1));
    });
    if (this.heartbeat) {
      this.timer = setInterval(() => this.tick(), this.heartbeat.intervalMs);
      this.timer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** When the publisher last had an answer to a heartbeat (performance.now()); undefined without heartbeats. */
  get answeredAt(): number | undefined {
    return this.answered;
  }

  get live(): boolean {
    if (!this.subscribed || this.subscriber.status !== 'ready') return false;
    if (!this.heartbeat) return true;
    return this.lastBeatAt !== undefined && performance.now() - this.lastBeatAt <= this.heartbeat.timeoutMs;
  }

  private async subscribe(): Promise<void> {
    if (this.subscribing || this.stopped) return;
    this.subscribing = true;
    try {
      await this.subscriber.subscribe(...this.channels());
      this.subscribed = true;
      this.handlers.resubscribed();
      if (this.heartbeat) {
        // A heartbeat that comes back from now on proves this subscription; older ones do not count.
        this.lastBeatAt = undefined;
        this.provenSince = performance.now();
        this.beatLost = false;
        this.inFlight.clear();
        this.subscriberConnection = clusterSubscriberConnection(this.subscriber);
        this.beat();
      }
    } catch {
      // Refused (an ACL, say) while connected: try again shortly. A dropped connection retries on 'ready'.
      if (this.subscriber.status === 'ready' && !this.stopped) setTimeout(() => void this.subscribe(), RETRY_MS).unref();
    } finally {
      this.subscribing = false;
    }
  }

  /**
   * Publishes a heartbeat, and notes a possible loss: the Cluster client's subscriber connection
   * was replaced (messages sent in between are lost), or no heartbeat came back in time.
   */
  private tick(): void {
    if (this.stopped || !this.heartbeat) return;
    if (this.subscribed) {
      const connection = clusterSubscriberConnection(this.subscriber);
      if (connection !== this.subscriberConnection) {
        this.subscriberConnection = connection;
        this.beatLost = true;
      }
    }
    this.beat();
    if (!this.live) this.redialIfDeaf();
    if (!this.subscribed || this.live) return;
    const silentSince = this.lastBeatAt;
    if (silentSince === undefined || performance.now() - silentSince > this.heartbeat.timeoutMs) {
      this.beatLost = true;
      this.inFlight.clear();
      // The subscriber connection may have moved (or died) without resubscribing: ask again.
      // SUBSCRIBE on a channel already subscribed is harmless.
      if (this.subscriber.status === 'ready') {
        this.subscriber.subscribe(...this.channels()).catch(() => {
          // Tried again at the next tick.
        });
      }
    }
  }

  /**
   * A plain subscriber connection (a Cluster's, to one node) that hears none of its heartbeats
   * (or cannot even subscribe) while Redis accepts them is on a node that hangs or left the
   * Cluster: drop it, and its retry strategy dials the next node. A Cluster client moves its
   * subscription itself.
   */
  private redialIfDeaf(): void {
    const heartbeat = this.heartbeat;
    if (!heartbeat || isCluster(this.subscriber) || this.subscriber.status !== 'ready') return;
    const redialMs = heartbeat.redialMs ?? Math.max(10_000, 3 * heartbeat.timeoutMs);
    const now = performance.now();
    const since = Math.max(this.provenSince, this.lastBeatAt ?? 0);
    // Redis answered heartbeats long enough after the last proof that they should have come back.
    if (now - since <= redialMs || this.answered === undefined || this.answered - since <= heartbeat.timeoutMs) return;
    this.provenSince = now;
    this.subscribed = false;
    this.subscriber.disconnect(true);
  }

  /** The shared channel, and this instance's heartbeat channel when it beats: one connection, one SUBSCRIBE. */
  private channels(): string[] {
    return this.heartbeat ? [this.channel, this.heartbeatChannel] : [this.channel];
  }

  private beat(): void {
    const publisher = this.publisher;
    if (!publisher || publisher.status !== 'ready') return;
    const sequence = ++this.sequence;
    HEARTBEAT.run(publisher, [this.heartbeatChannel], [this.heartbeatChannel, `${HEARTBEAT_KIND}:${this.instanceId}:${sequence}`]).then(
      (delivered) => {
        this.answered = performance.now();
        // Redis published it (and it has not come back yet): it is expected here.
        if (delivered !== null && sequence > this.lastSequenceSeen) this.inFlight.add(sequence);
      },
      () => {
        // Redis unreachable: no heartbeat comes back, and `live` turns false.
      },
    );
  }

  /** One of this instance's heartbeats came back: the subscription works. A gap in the sequence means lost messages. */
  private heartbeatReceived(body: string): void {
    this.received.heartbeat++;
    const now = performance.now();
    // A silence longer than the bound (`live` was false, whether or not a tick saw it): a gap.
    if (this.heartbeat && this.lastBeatAt !== undefined && now - this.lastBeatAt > this.heartbeat.timeoutMs) this.beatLost = true;
    this.lastBeatAt = now;
    const [instance, sequenceText] = body.split(':');
    if (instance === this.instanceId && sequenceText !== undefined) {
      const sequence = Number(sequenceText);
      this.lastSequenceSeen = Math.max(this.lastSequenceSeen, sequence);
      for (const expected of this.inFlight) {
        if (expected < sequence) this.beatLost = true;
        if (expected <= sequence) this.inFlight.delete(expected);
      }
    }
    if (this.beatLost && this.subscribed) {
      // Alive again after a silence, a lost heartbeat or a moved connection: whatever was published in the gap is lost.
      this.beatLost = false;
      this.handlers.resubscribed();
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
    } else if (colon > 0 && kind === HEARTBEAT_KIND) {
      // Another (older) instance's heartbeat on the shared channel: it proves nothing about this subscription.
      this.received.foreign++;
    } else {
      this.received.other++;
    }
  }
}

/**
 * The connection a Cluster client currently subscribes on. ioredis replaces it (after its node
 * is lost) without an event; comparing it between heartbeats tells that messages may have been
 * lost. undefined for other clients, or if ioredis's internals change (heartbeats still cover it).
 */
function clusterSubscriberConnection(client: RedisClient): unknown {
  if (!isCluster(client)) return undefined;
  const internals = client as unknown as { subscriber?: { getInstance?: () => unknown } };
  return typeof internals.subscriber?.getInstance === 'function' ? internals.subscriber.getInstance() : undefined;
}
