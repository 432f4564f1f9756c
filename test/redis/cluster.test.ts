import t from 'tap';
import { request, type Reply } from '../helpers/http.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { pastUnavailable, RedisClusterSet, sleep, startTopologyHarness, until, type RedisProcess, type TopologyHarness } from '../helpers/redis-topologies.js';
import { Upstream } from '../helpers/upstream.js';

// A real three-master Redis Cluster (no replicas), jobgate's ACL user required by every node.
// The CLI runs from bin/jobgate.js, which loads dist/: `npm run build` first (npm test does).

const PASSWORD = 'cluster-Secret-1';
const cluster = await RedisClusterSet.start({ auth: { username: 'jobgate', password: PASSWORD } });
const up = await Upstream.start('cluster-upstream');
let harness: TopologyHarness | undefined;
let stopped = false;

t.teardown(async () => {
  stopped = true;
  await harness?.close();
  await up.close();
  await cluster.stop();
});

// User and password from the URL's userinfo; the nodes replace its host. No prefix: {jobgate}:.
const env = { JOBGATE_REDIS_URL: `redis://jobgate:${PASSWORD}@127.0.0.1`, JOBGATE_REDIS_CLUSTER_NODES: cluster.nodeList };

async function cli(args: string[]): Promise<CliResult> {
  const result = await runCli(args[1] === 'delete' ? args : [...args, '-o', 'json'], env);
  if (result.code !== 0) throw new Error(`jobgate ${args.join(' ')}: exit ${result.code}: ${result.stderr}`);
  if (result.stderr.includes(PASSWORD)) throw new Error('the password was printed');
  return result;
}

/** Every key on every node. */
async function keysByNode(): Promise<Map<number, string[]>> {
  const found = new Map<number, string[]>();
  for (const node of cluster.nodes) if (node.running) found.set(node.port, ((await node.command(['KEYS', '*'])) as string[]).sort());
  return found;
}

t.test('the store lifecycle through the CLI: every key is under {jobgate}: in one slot', async (t) => {
  await cli(['job', 'put', 'nb', '--upstream', up.url, '-l', 'team=a']);
  const created = JSON.parse((await cli(['token', 'create', 'alice', '--role', 'read', '-l', 'team=a'])).stdout) as {
    id: string;
    status: { value: string; version: number };
  };
  t.equal(created.status.version, 1);
  const listed = JSON.parse((await cli(['token', 'list'])).stdout) as Array<{ id: string }>;
  t.same(
    listed.map((token) => token.id),
    [created.id],
    'token list',
  );

  const nodes = [...(await keysByNode()).entries()].filter(([, keys]) => keys.length > 0);
  t.equal(nodes.length, 1, 'all keys live on one node');
  t.same(
    nodes[0]?.[1],
    ['{jobgate}:events', '{jobgate}:job:nb', '{jobgate}:jobs', `{jobgate}:token:${created.id}`, '{jobgate}:tokens'],
    'the Cluster layout (the audit trail in the same slot as the records it records)',
  );
  const owner = cluster.nodes.find((node) => node.port === nodes[0]?.[0]);
  const slots = await Promise.all(nodes[0]![1].map((key) => owner!.command(['CLUSTER', 'KEYSLOT', key])));
  t.equal(new Set(slots).size, 1, 'one hash slot');

  const renewed = JSON.parse((await cli(['token', 'renew', created.id])).stdout) as { status: { value: string; version: number } };
  t.equal(renewed.status.version, 2, 'renew (a script over two keys of the slot)');
  t.not(renewed.status.value, created.status.value);
  const jobs = JSON.parse((await cli(['job', 'list'])).stdout) as Array<{ id: string }>;
  t.same(
    jobs.map((job) => job.id),
    ['nb'],
    'job list (a pipeline)',
  );
  await cli(['token', 'delete', created.id]);
  await cli(['job', 'delete', 'nb']);
  t.same([...(await keysByNode()).values()].flat(), ['{jobgate}:events'], 'delete removes hash and index entry (the trail keeps the deletes)');
  const trail = (await cli(['events'])).stdout;
  t.match(trail, /"action": "token\.delete"/, 'the events command reads the trail on the Cluster');
});

/** jobgate's connections now open on every node, by name (slot-map refreshes, short-lived by design, left out). */
async function jobgateConnections(): Promise<string[]> {
  const names: string[] = [];
  for (const node of cluster.nodes) {
    if (!node.running) continue;
    for (const line of String(await node.command(['CLIENT', 'LIST'])).split('\n')) {
      const name = /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '';
      if (name.includes('jobgate-') && !name.startsWith('ioredis-cluster(refresher)')) names.push(`${node.port} ${name}`);
    }
  }
  return names.sort();
}

t.test('jobgate holds two long-lived connections in the whole Cluster: commands and subscription (issue 22)', async (t) => {
  const own = await startTopologyHarness({ ...env, JOBGATE_AUTH_FAILURE_LIMIT: '1000000' });
  t.teardown(() => own.close());
  await own.jobs.put({ id: 'counted', upstream: up.url, labels: { team: 'a' } });
  const token = await own.tokens.create({ name: 'counted', role: 'read', labelSelector: 'team=a' });
  // From here on only jobgate's connections carry these names: the harness's admin client has them too.
  own.admin.disconnect();
  const reply = await pastUnavailable(() =>
    request(own.url, { host: 'counted.job.test', path: '/c', headers: { authorization: `Bearer ${token.value}` }, timeoutMs: 30_000 }),
  );
  t.equal(reply.status, 200, 'a request: the lookups went through the commands connection');
  await until(
    'ready: the subscription live, the heartbeats answered',
    async () => (await request(own.adminUrl, { path: '/readyz', timeoutMs: 30_000 })).status === 200,
    30_000,
  );
  const names = (found: string[]) => found.map((entry) => entry.slice(entry.indexOf(' ') + 1)).sort();
  let found: string[] = [];
  // The admin client's connections close a moment after its disconnect(): poll until they are gone.
  await until('exactly one jobgate-commands and one jobgate-subscriber connection in the whole Cluster', async () => {
    found = await jobgateConnections();
    return JSON.stringify(names(found)) === JSON.stringify(['jobgate-commands', 'jobgate-subscriber']);
  }).catch(() => {
    // Reported below, with what was found.
  });
  t.same(names(found), ['jobgate-commands', 'jobgate-subscriber'], 'two connections: commands and subscription');
  const owner = await cluster.ownerOf(own.keys.tokens);
  t.ok(
    found.some((entry) => entry === `${owner.port} jobgate-commands`),
    'the commands connection is to the node that holds the {jobgate} slot',
  );

  // The slot moves to another master (resharding): jobgate follows the MOVED, and closes its connection to the old one.
  const slot = Number(await owner.command(['CLUSTER', 'KEYSLOT', own.keys.tokens]));
  const target = cluster.nodes.find((node) => node !== owner)!;
  const ownerId = String(await owner.command(['CLUSTER', 'MYID']));
  const targetId = String(await target.command(['CLUSTER', 'MYID']));
  await target.command(['CLUSTER', 'SETSLOT', slot, 'IMPORTING', ownerId]);
  await owner.command(['CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId]);
  for (;;) {
    const moving = (await owner.command(['CLUSTER', 'GETKEYSINSLOT', slot, 100])) as string[];
    if (moving.length === 0) break;
    await owner.command(['MIGRATE', '127.0.0.1', target.port, '', 0, 5000, 'AUTH2', 'jobgate', PASSWORD, 'KEYS', ...moving], 10_000);
  }
  for (const node of [target, ...cluster.nodes.filter((node) => node !== target)]) await node.command(['CLUSTER', 'SETSLOT', slot, 'NODE', targetId]);
  t.equal((await cluster.ownerOf(own.keys.tokens)).port, target.port, 'the slot moved');
  const unknown = await pastUnavailable(() =>
    request(own.url, { host: 'counted.job.test', path: '/c', headers: { authorization: 'Bearer jg_unknown_after_the_move' }, timeoutMs: 30_000 }),
  );
  t.equal(unknown.status, 401, 'an unknown token after the move: looked up on the new master');
  // The connection to the old master closes after the slot-map read that the first MOVED triggers.
  await until('the commands connection only to the new master, beside the subscription', async () => {
    found = await jobgateConnections();
    return JSON.stringify(names(found)) === JSON.stringify(['jobgate-commands', 'jobgate-subscriber']) && found.includes(`${target.port} jobgate-commands`);
  }).catch(() => {
    // Reported below, with what was found.
  });
  t.same(names(found), ['jobgate-commands', 'jobgate-subscriber'], 'still two connections after the slot moved');
  t.ok(found.includes(`${target.port} jobgate-commands`), 'the commands connection is to the new master');
  await until('ready after the move', async () => (await request(own.adminUrl, { path: '/readyz', timeoutMs: 30_000 })).status === 200, 30_000);
  t.pass('ready after the move');
});

t.test('jobgate on the Cluster: requests, invalidation, readiness, a lost node', async (t) => {
  // The revoked token below is sent in a loop: no 429 from the failure limit, please. The cache TTL
  // outlasts the test: only an invalidation message, or the flush after a subscription gap, can
  // make jobgate see a change to a record it has cached.
  harness = await startTopologyHarness({ ...env, JOBGATE_CACHE_TTL_MS: '300000', JOBGATE_AUTH_FAILURE_LIMIT: '1000000' });
  const h = harness;
  t.equal(h.keys.prefix, '{jobgate}:');
  await h.jobs.put({ id: 'nb', upstream: up.url, labels: { team: 'a' } });
  /** One request, as answered: the traffic below, and the node loss, where 503 is the point. */
  const send = (value: string): Promise<Reply> =>
    request(h.url, { host: 'nb.job.test', path: '/c', headers: { authorization: `Bearer ${value}` }, timeoutMs: 30_000 });
  const get = (value: string): Promise<Reply> => pastUnavailable(() => send(value));
  const readyz = async () => (await request(h.adminUrl, { path: '/readyz', timeoutMs: 30_000 })).status;

  /**
   * For a writer that forgot to publish (below): a job and two tokens (team=a). Created here, so
   * that the messages of their creation have arrived before they are changed: the renew's message
   * awaited next was published after them, from the same node.
   */
  const silentRecords = async (id: string) => {
    await h.jobs.put({ id, upstream: up.url, labels: { team: 'a' } });
    const changed = await h.tokens.create({ name: id, role: 'read', labelSelector: 'team=a' });
    const steady = await h.tokens.create({ name: `${id} steady`, role: 'read', labelSelector: 'team=a' });
    const onJob = (value: string) =>
      pastUnavailable(() => request(h.url, { host: `${id}.job.test`, path: '/c', headers: { authorization: `Bearer ${value}` }, timeoutMs: 30_000 }));
    /** What jobgate answers for the changed token (on nb) and for the steady token on the changed job. */
    const statuses = async () => ({ token: (await get(changed.value)).status, job: (await onJob(steady.value)).status });
    return {
      statuses,
      /**
       * Caches the token and the job (a request each), then relabels both team=b in Redis without a
       * message (a raw HSET). Until a flush, jobgate serves what it cached: the TTL outlasts the test.
       */
      async changeSilently(): Promise<void> {
        t.same(await statuses(), { token: 200, job: 200 }, `${id}: the token and the job pass before the change (and are cached)`);
        await h.admin.hset(h.keys.token(changed.record.id), 'labelSelector', 'team=b');
        await h.admin.hset(h.keys.job(id), 'labels', JSON.stringify({ team: 'b' }));
      },
    };
  };
  const quiet = await silentRecords('quiet');
  const quieter = await silentRecords('quieter');
  const relabelled = { token: 403, job: 403 };

  const alice = await h.tokens.create({ name: 'alice', role: 'read', labelSelector: 'team=a' });
  t.equal((await get(alice.value)).status, 200, 'a valid token: 200');
  const renewed = await h.tokens.renew(alice.record.id);
  await until(
    "the renewed token's old value still passes: jobgate's cache did not drop the token on the invalidation message",
    async () => (await get(alice.value)).status === 401,
    30_000,
  );
  t.pass('renewed: the old value is refused (the message crossed the Cluster)');
  t.equal((await get(renewed.value)).status, 200, 'the new value works');
  t.equal(await readyz(), 200, '/readyz');

  // live needs a heartbeat back within 3 s: readiness that holds for longer proves they flow.
  for (const deadline = Date.now() + 4000; Date.now() < deadline; await sleep(250)) {
    if ((await readyz()) !== 200) t.fail('the heartbeat keeps the subscription live');
  }
  t.pass('ready throughout 4 s of heartbeats');

  const revoked = await h.tokens.create({ name: 'revoked', role: 'read', labelSelector: 'team=a' });
  await h.tokens.delete(revoked.record.id);
  t.equal((await get(revoked.value)).status, 401);

  // Traffic during the losses below: a valid token gets 200 or 503, a revoked one never a 2xx.
  const answers: Array<{ token: 'valid' | 'revoked'; status: number; dataLost: boolean }> = [];
  let dataLost = false;
  let traffic = true;
  let validToken = renewed.value;
  const loop = (async () => {
    while (traffic && !stopped) {
      const [valid, gone] = await Promise.all([send(validToken).catch(() => undefined), send(revoked.value).catch(() => undefined)]);
      if (valid) answers.push({ token: 'valid', status: valid.status, dataLost });
      if (gone) answers.push({ token: 'revoked', status: gone.status, dataLost });
      await sleep(50);
    }
  })();
  t.teardown(() => {
    traffic = false;
  });
  const subscribedLines = () => h.log.lines.filter((line) => line.event === 'invalidation_subscribed').length;

  const dataNode = await cluster.ownerOf(h.keys.tokens);
  const subscriberNode = async (): Promise<RedisProcess> => {
    let found: RedisProcess[] = [];
    await until('jobgate subscribed on exactly one node', async () => (found = await cluster.subscribersOf(h.keys.channel)).length === 1, 10_000);
    return found[0]!;
  };

  // The subscriber connection is killed (CLIENT KILL): jobgate dials the next configured node and
  // subscribes again there. The caches are flushed (the heartbeats would notice a silent move too).
  await quiet.changeSilently();
  let subscriber = await subscriberNode();
  for (let moves = 0; moves === 0 || (subscriber === dataNode && moves < 12); moves++) {
    const flushesBefore = subscribedLines();
    await subscriber.command(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    subscriber = await subscriberNode();
    await until('the silent move of the subscription noticed (no invalidation_subscribed line)', () => subscribedLines() > flushesBefore, 10_000);
    // The line is written after the flush: from then on the records are read from Redis again.
    if (moves === 0) t.same(await quiet.statuses(), relabelled, 'a silent move of the subscription is noticed and flushes the caches: both relabels are seen');
  }
  t.equal((await get(validToken)).status, 200, 'serving after the moves');
  const killed: RedisProcess[] = [];
  const subscriberNodeBefore = subscriber;

  if (subscriberNodeBefore !== dataNode) {
    // The subscriber's node dies: jobgate moves the subscription to the next configured node.
    await quieter.changeSilently();
    const flushesBefore = subscribedLines();
    await subscriberNodeBefore.kill();
    killed.push(subscriberNodeBefore);
    await until('subscribed on a live node', async () => (await cluster.subscribersOf(h.keys.channel)).length === 1, 10_000);
    await until('ready again', async () => (await readyz()) === 200, 10_000);
    await until('the move noticed (no invalidation_subscribed line)', () => subscribedLines() > flushesBefore, 10_000);
    t.same(await quieter.statuses(), relabelled, 'the subscription moved to a live node and the caches were flushed: both relabels are seen');
    const again = await h.tokens.renew(alice.record.id);
    validToken = again.value;
    await get(again.value);
    const next = await h.tokens.renew(alice.record.id);
    validToken = next.value;
    // Pub/sub is asynchronous: the message lands a few ms after the writer's command returns.
    await until(
      "the renewed token's old value still passes after the move: jobgate's cache did not drop the token on the invalidation message",
      async () => (await get(again.value)).status === 401,
      30_000,
    );
    t.pass('invalidation still reaches jobgate after the move');
    t.equal((await get(next.value)).status, 200);
  } else {
    t.pass('the subscriber shares the data node: one loss covers both');
  }

  // The node holding the records dies: fail closed, not ready, and back by itself.
  const uncached = await h.tokens.create({ name: 'uncached', role: 'read', labelSelector: 'team=a' });
  await dataNode.kill();
  if (!killed.includes(dataNode)) killed.push(dataNode);
  // jobgate answers within its Redis timeout (0.5 s); the test only guards against a hang, since a
  // busy machine may take longer than any bound a test could state.
  const down = await send(uncached.value);
  t.equal(down.status, 503, 'a token that is not cached: 503, not a hang');
  await until('not ready while the data node is down', async () => (await readyz()) === 503, 8000);
  t.pass('/readyz turns 503');

  dataLost = true;
  await cluster.restart(dataNode);
  // Without persistence the node comes back empty, with its slots: seed again.
  await until(
    'the node serves its slots again',
    async () => {
      await h.jobs.put({ id: 'nb', upstream: up.url, labels: { team: 'a' } });
      return true;
    },
    20_000,
  );
  const fresh = await h.tokens.create({ name: 'fresh', role: 'read', labelSelector: 'team=a' });
  validToken = fresh.value;
  await until('ready again without restarting jobgate', async () => (await readyz()) === 200, 20_000);
  await until('a valid token gets 200 again', async () => (await get(fresh.value)).status === 200, 10_000);
  t.pass('service returned by itself');
  traffic = false;
  await loop;

  const wrong = answers.filter(({ token, status }) => token === 'revoked' && status >= 200 && status < 300);
  t.same(wrong, [], `no 2xx for the revoked token (${answers.length} answers)`);
  // The valid token got 200 (cache, or a live slot) or 503 (401 only just after a renew above). Once the
  // data node came back empty, its token and job were gone with the data: 401 and 404 are right then.
  const odd = answers.filter(({ token, status, dataLost }) => token === 'valid' && ![200, 401, 503, ...(dataLost ? [404] : [])].includes(status));
  t.same(odd, [], 'the valid token got 200 or 503');
  t.notMatch(h.log.text, PASSWORD, 'the password never reaches the log');
});
