import t from 'tap';
import { Cluster } from 'ioredis';
import { createRedisClient, KeySpace, type RedisClient } from '../../src/redis/index.js';
import { DEFAULT_CLUSTER_KEY_PREFIX, type RedisTopology } from '../../src/redis/topology.js';
import { ReadinessProbe } from '../../src/observability/health.js';
import type { RecordSource } from '../../src/registry/registry.js';
import { HEARTBEAT_KIND, InvalidationSubscriber } from '../../src/registry/invalidation.js';
import { RedisClusterSet, until, type RedisProcess } from '../helpers/redis-topologies.js';

// The liveness of the invalidation subscription on a real three-master Redis Cluster: each
// instance proves its own subscription with heartbeats on its own channel, so a fleet of n costs
// n messages a second, not n² (issue 22); a subscription lost without an event is still noticed.
// The node timeout outlasts the pause below: the paused node is hung, not failed.

const cluster = await RedisClusterSet.start({ nodeTimeoutMs: 15_000 });
const keys = new KeySpace(DEFAULT_CLUSTER_KEY_PREFIX);
const topology: RedisTopology = {
  kind: 'cluster',
  nodes: cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })),
  keyPrefix: keys.prefix,
  username: undefined,
  password: undefined,
  tls: false,
};
const clients: RedisClient[] = [];
const paused: RedisProcess[] = [];

t.teardown(async () => {
  for (const node of paused) node.resume();
  for (const client of clients) client.disconnect();
  await cluster.stop();
});

/** One jobgate's worth: a commands client (which publishes the heartbeats) and a subscriber client. */
async function instance(redialMs?: number): Promise<{ subscriber: InvalidationSubscriber; client: RedisClient; commands: RedisClient; flushes: () => number }> {
  const commands = createRedisClient({ topology, commandTimeoutMs: 1000 }, 'commands');
  const client = createRedisClient({ topology, commandTimeoutMs: 1000 }, 'subscriber');
  clients.push(commands, client);
  let flushes = 0;
  const subscriber = new InvalidationSubscriber(
    client,
    keys.channel,
    { token: () => {}, job: () => {}, resubscribed: () => flushes++ },
    { heartbeat: { intervalMs: 250, timeoutMs: 1000, ...(redialMs === undefined ? {} : { redialMs }) }, publisher: commands },
  );
  t.teardown(() => subscriber.stop());
  await Promise.all([commands.connect(), client.connect()]);
  return { subscriber, client, commands, flushes: () => flushes };
}

t.test('a heartbeat is delivered to the instance that sent it, and to no other', async (t) => {
  const a = await instance();
  const b = await instance();
  t.not(a.subscriber.heartbeatChannel, b.subscriber.heartbeatChannel, 'each instance has a channel of its own');
  t.ok(a.subscriber.heartbeatChannel.startsWith(keys.channel), 'under the shared channel, so in its hash slot');

  // An observer of everything: the shared channel and every heartbeat channel.
  const observer = new Cluster(topology.nodes.map(({ host, port }) => ({ host, port })));
  clients.push(observer);
  const shared: string[] = [];
  const beats = new Map<string, string[]>();
  observer.on('message', (_channel: string, message: string) => shared.push(message));
  observer.on('pmessage', (_pattern: string, channel: string, message: string) => beats.set(channel, [...(beats.get(channel) ?? []), message]));
  await observer.subscribe(keys.channel);
  await observer.psubscribe(`${keys.channel}:${HEARTBEAT_KIND}:*`);

  await until(
    'both instances live, and each to have seen 5 of its own heartbeats',
    () => a.subscriber.live && b.subscriber.live && a.subscriber.received.heartbeat >= 5 && b.subscriber.received.heartbeat >= 5,
    30_000,
  );
  await until('the observer to have seen heartbeats on both channels', () => beats.size >= 2, 30_000);

  t.same(
    shared.filter((message) => message.startsWith(`${HEARTBEAT_KIND}:`)),
    [],
    'no heartbeat on the shared channel: no instance receives another one',
  );
  t.equal(a.subscriber.received.foreign + b.subscriber.received.foreign, 0, 'no foreign heartbeat reached either instance');
  for (const { subscriber } of [a, b]) {
    const id = subscriber.heartbeatChannel.slice(subscriber.heartbeatChannel.lastIndexOf(':') + 1);
    const seen = beats.get(subscriber.heartbeatChannel) ?? [];
    t.ok(seen.length > 0, 'the observer saw its heartbeats');
    t.same(
      seen.filter((message) => !message.startsWith(`${HEARTBEAT_KIND}:${id}:`)),
      [],
      'its channel carries its own heartbeats only',
    );
    const subscribers = await Promise.all(
      cluster.nodes.map(async (node) => ((await node.command(['PUBSUB', 'NUMSUB', subscriber.heartbeatChannel])) as [string, number])[1]),
    );
    t.equal(
      subscribers.reduce((sum, count) => sum + count, 0),
      1,
      'one subscriber on its heartbeat channel in the whole Cluster: the instance itself',
    );
  }
  t.same(
    (await Promise.all(cluster.nodes.map(async (node) => ((await node.command(['PUBSUB', 'NUMSUB', keys.channel])) as [string, number])[1]))).reduce(
      (sum, count) => sum + count,
      0,
    ),
    3,
    'the shared channel: the two instances and the observer',
  );
  observer.disconnect();
});

t.test('the node holding the subscription hangs: not live, then flushed and live again once it answers', async (t) => {
  // No redial during the hang (its own test is below): only the node's return may flush, however slow the machine.
  const c = await instance(3_600_000);
  await until('the instance live', () => c.subscriber.live, 30_000);
  let holders: RedisProcess[] = [];
  await until('its subscription on exactly one node', async () => (holders = await cluster.subscribersOf(c.subscriber.heartbeatChannel)).length === 1, 30_000);
  const node = holders[0]!;
  const flushesBefore = c.flushes();

  // The connection stays open and silent: ioredis has no event to report, only heartbeats tell.
  node.pause();
  paused.push(node);
  await until('the hung subscription noticed (live still true)', () => !c.subscriber.live, 30_000);
  t.pass('not live while its node hangs: /readyz answers 503 "invalidation subscription is down"');
  t.equal(c.flushes(), flushesBefore, 'no flush yet: nothing proves the subscription back');

  node.resume();
  paused.splice(paused.indexOf(node), 1);
  await until('live again after the node answers', () => c.subscriber.live, 30_000);
  await until('the caches flushed after the gap (no resubscribed call)', () => c.flushes() > flushesBefore, 30_000);
  t.pass('live again, and the caches were flushed of what the gap may have staled');
});

t.test('the heartbeats answer for the readiness probe: no PING while they do, not ready when the records node hangs', async (t) => {
  const d = await instance();
  const records: RecordSource = { token: async () => undefined, job: async () => undefined };
  const probe = new ReadinessProbe(d.commands, records, undefined, 1000, () => d.subscriber.answeredAt);
  t.teardown(() => probe.stop());
  await until('the instance live', () => d.subscriber.live, 30_000);
  for (const node of cluster.nodes) await node.command(['CONFIG', 'RESETSTAT']);
  probe.start();
  await until('ready', () => probe.reasons().length === 0, 30_000);
  await until('a few heartbeats after the reset', () => d.subscriber.received.heartbeat >= 10, 30_000);
  const pings = await Promise.all(
    cluster.nodes.map(async (node) => /cmdstat_ping:calls=(\d+)/.exec(String(await node.command(['INFO', 'commandstats'])))?.[1] ?? '0'),
  );
  t.same(pings, ['0', '0', '0'], 'no PING on any node: the heartbeat answers stood for it');

  const owner = await cluster.ownerOf(keys.tokens);
  owner.pause();
  paused.push(owner);
  await until('not ready while the records node hangs', () => probe.reasons().includes('redis is not answering'), 30_000);
  t.pass('the probe PINGs once the heartbeat answers stop, and reports Redis not answering');
  owner.resume();
  paused.splice(paused.indexOf(owner), 1);
  await until('ready again once the node answers', () => probe.reasons().length === 0 && d.subscriber.live, 30_000);
  t.pass('ready again');
});

t.test('the node holding the subscription hangs while the records node answers: the subscription moves to another node', async (t) => {
  const e = await instance(2000);
  const records = await cluster.ownerOf(keys.tokens);
  await until('the instance live', () => e.subscriber.live, 30_000);
  let holders: RedisProcess[] = [];
  const holder = async () => {
    await until(
      'its subscription on exactly one node',
      async () => (holders = await cluster.subscribersOf(e.subscriber.heartbeatChannel)).length === 1,
      30_000,
    );
    return holders[0]!;
  };
  // Off the records node: a dropped connection dials the next configured node.
  for (let moves = 0; (await holder()) === records && moves < 6; moves++) {
    await records.command(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    await until('live again after the kill', () => e.subscriber.live, 30_000);
  }
  const node = await holder();
  t.not(node, records, 'the subscription is on a node that does not hold the records');
  const flushesBefore = e.flushes();

  node.pause();
  paused.push(node);
  await until('the hung subscription noticed', () => !e.subscriber.live, 30_000);
  await until('live again while the node still hangs: the subscription was dialled on another node', () => e.subscriber.live, 30_000);
  t.ok(e.flushes() > flushesBefore, 'the caches were flushed: what the gap may have staled is read again');
  const moved = await holder();
  t.not(moved, node, 'subscribed on another node');
  node.resume();
  paused.splice(paused.indexOf(node), 1);
});
