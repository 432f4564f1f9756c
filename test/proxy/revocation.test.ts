import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { startHarness, waitFor, type Harness } from '../helpers/jobgate.js';
import { bearer, request } from '../helpers/http.js';
import { RedisServer } from '../helpers/redis.js';
import { Upstream } from '../helpers/upstream.js';

/** Two jobgate instances on one Redis and one key prefix, with caches that only invalidation can clear. */
async function twoInstances(t: Test, env: Record<string, string> = {}): Promise<[Harness, Harness, Upstream]> {
  const redis = await RedisServer.start();
  const up = await Upstream.start();
  const shared = { JOBGATE_KEY_PREFIX: `rev${Math.random().toString(36).slice(2, 8)}:`, JOBGATE_CACHE_TTL_MS: '300000', JOBGATE_NEGATIVE_CACHE_TTL_MS: '60000', ...env };
  const a = await startHarness(shared, redis);
  const b = await startHarness(shared, redis);
  t.teardown(async () => {
    await a.close();
    await b.close();
    await up.close();
    await redis.stop();
  });
  return [a, b, up];
}

const statusOn = async (h: Harness, host: string, value?: string) => (await request(h.url, { host, headers: value ? bearer(value) : {} })).status;

t.test('every instance enforces a delete, a renew, a relabel and a job delete at once', async (t) => {
  const [a, b, up] = await twoInstances(t);
  await a.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'a' } });
  const doomed = await a.tokens.create({ name: 'doomed', role: 'read', labelSelector: 'team=a' });
  const renewed = await a.tokens.create({ name: 'renewed', role: 'read', labelSelector: 'team=a' });
  for (const h of [a, b]) {
    t.equal(await statusOn(h, 'nb1.job.test', doomed.value), 200, 'warm cache');
    t.equal(await statusOn(h, 'nb1.job.test', renewed.value), 200, 'warm cache');
    t.equal(await statusOn(h, 'nb2.job.test', doomed.value), 404, 'unknown job cached negatively');
  }

  await a.tokens.delete(doomed.record.id);
  for (const h of [a, b]) await waitFor(async () => (await statusOn(h, 'nb1.job.test', doomed.value)) === 401);
  t.pass('a deleted token is refused by both instances');
  for (let i = 0; i < 2; i++) {
    // The second answer comes from the negative cache, before any hashing: the same 401.
    const again = await request(b.url, { host: 'nb1.job.test', headers: bearer(doomed.value) });
    t.equal(again.json().error, 'invalid_token');
    t.match(again.headers['www-authenticate'], /error_description="The token is unknown, deleted or renewed"/);
  }

  const next = await a.tokens.renew(renewed.record.id);
  for (const h of [a, b]) {
    await waitFor(async () => (await statusOn(h, 'nb1.job.test', renewed.value)) === 401);
    t.equal(await statusOn(h, 'nb1.job.test', next.value), 200, 'the renewed value works');
  }

  await a.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'b' } });
  for (const h of [a, b]) await waitFor(async () => (await statusOn(h, 'nb1.job.test', next.value)) === 403);
  t.pass('a relabelled job is out of scope on both instances');

  await a.jobs.put({ id: 'nb2', upstream: up.url, labels: { team: 'a' } });
  for (const h of [a, b]) await waitFor(async () => (await statusOn(h, 'nb2.job.test', next.value)) === 200);
  t.pass('a new job is reachable although it was cached as unknown');

  await a.jobs.delete('nb2');
  for (const h of [a, b]) await waitFor(async () => (await statusOn(h, 'nb2.job.test', next.value)) === 404);
  t.pass('a deleted job is gone on both instances');
});

t.test('a writer that forgets to publish is caught by the TTL', async (t) => {
  const [a, , up] = await twoInstances(t, { JOBGATE_CACHE_TTL_MS: '300' });
  await a.jobs.put({ id: 'nb1', upstream: up.url });
  const token = await a.tokens.create({ name: 'x', role: 'read' });
  t.equal(await statusOn(a, 'nb1.job.test', token.value), 200);
  await a.admin.del(`${a.settings.keyPrefix}token:${token.record.id}`); // no PUBLISH
  await waitFor(async () => (await statusOn(a, 'nb1.job.test', token.value)) === 401);
  t.pass('refused once the TTL ran out');
});

/** Opens a WebSocket through jobgate and resolves once it is open. */
async function openSocket(h: Harness, host: string, value: string): Promise<WebSocket> {
  const socket = new WebSocket(`${h.url.replace('http', 'ws')}/ws`, { headers: { host, ...bearer(value) } });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  return socket;
}

const closeOf = (socket: WebSocket) =>
  new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));

t.test('live WebSockets close with 1008 when their access is revoked', async (t) => {
  const [a, b, up] = await twoInstances(t);
  await a.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'a' } });
  const deleted = await a.tokens.create({ name: 'deleted', role: 'read' });
  const renewed = await a.tokens.create({ name: 'renewed', role: 'read' });
  const scoped = await a.tokens.create({ name: 'scoped', role: 'read', labelSelector: 'team=a' });
  const bystander = await a.tokens.create({ name: 'bystander', role: 'read' });

  const sockets = {
    deleted: await openSocket(b, 'nb1.job.test', deleted.value),
    renewed: await openSocket(a, 'nb1.job.test', renewed.value),
    scoped: await openSocket(b, 'nb1.job.test', scoped.value),
    bystander: await openSocket(a, 'nb1.job.test', bystander.value),
  };
  t.teardown(() => Object.values(sockets).forEach((socket) => socket.terminate()));
  const echoed = new Promise((resolve) => sockets.bystander.once('message', (data) => resolve(data.toString())));
  sockets.bystander.send('hello');
  t.equal(await echoed, 'hello');

  const deletedClose = closeOf(sockets.deleted);
  await a.tokens.delete(deleted.record.id);
  t.same(await deletedClose, { code: 1008, reason: 'token deleted' });

  const renewedClose = closeOf(sockets.renewed);
  await a.tokens.renew(renewed.record.id);
  t.same(await renewedClose, { code: 1008, reason: 'token renewed' });

  const scopedClose = closeOf(sockets.scoped);
  await a.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'b' } });
  t.same(await scopedClose, { code: 1008, reason: 'token no longer matches the job labels' });

  t.equal(sockets.bystander.readyState, WebSocket.OPEN, 'an unscoped token unaffected by the changes stays connected');
  const still = new Promise((resolve) => sockets.bystander.once('message', (data) => resolve(data.toString())));
  sockets.bystander.send('still here');
  t.equal(await still, 'still here');
  await waitFor(() => up.sockets.size === 1);
  t.pass('the upstream side of each revoked connection is closed too');
  const revoked = [...a.log.lines, ...b.log.lines].filter((line) => line.event === 'websocket_revoked');
  t.equal(revoked.length, 3);
});

t.test('a revoked WebSocket mid-message still gets a clean close frame', async (t) => {
  const [a, , up] = await twoInstances(t);
  await a.jobs.put({ id: 'nb1', upstream: up.url });
  const token = await a.tokens.create({ name: 'x', role: 'read' });
  const socket = await openSocket(a, 'nb1.job.test', token.value);
  t.teardown(() => socket.terminate());
  const received: number[] = [];
  socket.on('message', (data: Buffer) => received.push(data.length));
  // Large messages keep frames in flight while the revocation lands.
  const big = Buffer.alloc(512 * 1024, 7);
  for (let i = 0; i < 8; i++) socket.send(big);
  const closed = closeOf(socket);
  await waitFor(() => received.length >= 1);
  await a.tokens.delete(token.record.id);
  const { code } = await closed;
  t.equal(code, 1008, 'the client parsed a valid close frame, not a corrupted stream');
  t.ok(received.every((length) => length === big.length), 'every message received was whole');
});

t.test('brute force: past the failure limit, 429 for all but known-valid tokens', async (t) => {
  const [a, , up] = await twoInstances(t, { JOBGATE_AUTH_FAILURE_LIMIT: '3' });
  await a.jobs.put({ id: 'nb1', upstream: up.url });
  const known = await a.tokens.create({ name: 'known', role: 'read' });
  const uncached = await a.tokens.create({ name: 'uncached', role: 'read' });
  t.equal(await statusOn(a, 'nb1.job.test', known.value), 200, 'cached as valid');
  for (let i = 0; i < 10; i++) t.equal(await statusOn(a, 'nb1.job.test'), 401, 'no credential: not counted');
  t.equal(await statusOn(a, 'nb1.job.test', 'garbage'), 401);
  t.equal(await statusOn(a, 'nb1.job.test', known.value.slice(0, -8) + '00000000'), 401);
  const forged = known.value.replace(/_[0-9a-f]{64}_/, `_${'0'.repeat(64)}_`);
  const badChecksum = await request(a.url, { host: 'nb1.job.test', headers: bearer(forged) });
  t.equal(badChecksum.status, 401, 'bad checksum');
  t.match(badChecksum.headers['www-authenticate'], /error_description="The token is malformed"/, 'a wrong checksum is told apart from an unknown token');
  const blocked = await request(a.url, { host: 'nb1.job.test', headers: bearer('garbage') });
  t.equal(blocked.status, 429);
  t.match(blocked.headers['retry-after'], /^\d+$/);
  t.equal(blocked.json().error, 'too_many_requests');
  t.equal(await statusOn(a, 'nb1.job.test', uncached.value), 429, 'a valid token not in the cache waits too (no Redis lookup)');
  t.equal(await statusOn(a, 'nb1.job.test', known.value), 200, 'a known-valid token keeps working from a shared address');
  t.equal(await statusOn(a, 'nb1.job.test'), 401, 'without a credential the answer is still 401');
});

t.test('a gap in the subscription flushes the caches; readiness follows it', async (t) => {
  const [a, , up] = await twoInstances(t);
  await a.jobs.put({ id: 'nb1', upstream: up.url });
  const token = await a.tokens.create({ name: 'x', role: 'read' });
  t.equal(await statusOn(a, 'nb1.job.test', token.value), 200);
  await a.redisServer.restart(); // comes back empty: messages about the lost records were never sent
  await waitFor(async () => (await request(a.adminUrl, { path: '/readyz' })).status === 200);
  await a.jobs.put({ id: 'nb1', upstream: up.url });
  t.equal(await statusOn(a, 'nb1.job.test', token.value), 401, 'the token cached before the gap is forgotten, though its TTL is 5 minutes');
});

t.test('readiness needs the invalidation subscription', async (t) => {
  const [a] = await twoInstances(t);
  t.equal((await request(a.adminUrl, { path: '/readyz' })).status, 200);
  // Commands keep working, but no connection may subscribe: drop the subscriber and let it fail to come back.
  await a.admin.call('ACL', 'SETUSER', 'default', 'resetchannels');
  await a.admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
  await waitFor(async () => (await request(a.adminUrl, { path: '/readyz' })).status === 503);
  const reply = await request(a.adminUrl, { path: '/readyz' });
  t.same(reply.json(), { status: 'not ready', reasons: ['invalidation subscription is down'] });
  await a.admin.call('ACL', 'SETUSER', 'default', 'allchannels');
  await waitFor(async () => (await request(a.adminUrl, { path: '/readyz' })).status === 200);
  t.pass('ready again once resubscribed');
});
