import t, { type Test } from 'tap';
import { bearer, request, type Reply } from '../helpers/http.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { connectRedis, createRedis } from '../../src/redis/index.js';
import { RedisServer } from '../helpers/redis.js';
import { Upstream } from '../helpers/upstream.js';
import { eventually } from '../helpers/wait.js';

// Last use: noted in memory on the request path, written in batches off it, never backwards,
// and shown as status.lastUsedAt by the control API.

const CONTROL = 'control.test';
const redis = await RedisServer.start();
const stats = createRedis({ url: redis.url, commandTimeoutMs: 2000, reconnect: false });
await connectRedis(stats, 2000);
const up = await Upstream.start('last-use-upstream');
t.teardown(async () => {
  stats.disconnect();
  await up.close();
  await redis.stop();
});

let prefixes = 0;
async function jobgate(t: Test, intervalMs: number): Promise<Harness> {
  const h = await startHarness(
    { JOBGATE_KEY_PREFIX: `lu${prefixes++}:`, JOBGATE_CONTROL_HOST: CONTROL, JOBGATE_LAST_USE_INTERVAL_MS: String(intervalMs) },
    redis,
  );
  t.teardown(() => h.close());
  return h;
}

const onJob = (h: Harness, value: string) => request(h.url, { host: 'nb.job.test', path: '/', headers: bearer(value) });
const control = (h: Harness, value: string, path: string): Promise<Reply> => request(h.url, { host: CONTROL, path, headers: bearer(value) });

async function zaddCalls(): Promise<number> {
  const info = await stats.info('commandstats');
  return Number(/cmdstat_zadd:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

t.test('a hundred requests, one write per token and per job', async (t) => {
  // An interval longer than the test: the only write is the one at shutdown.
  const h = await jobgate(t, 3_600_000);
  await h.jobs.put({ id: 'nb', upstream: up.url, labels: {} });
  const token = await h.tokens.create({ name: 'busy', role: 'read' });
  await stats.config('RESETSTAT');
  for (let i = 0; i < 100; i++) t.equal((await onJob(h, token.value)).status, 200, `request ${i}`);
  t.equal(await zaddCalls(), 0, 'nothing written on the request path');
  const before = Date.now();
  await h.jobgate.close();
  t.equal(await zaddCalls(), 2, 'one ZADD for the token and one for the job, at shutdown');
  const tokenScore = Number(await h.admin.zscore(`${h.settings.keyPrefix}lastused:tokens`, token.record.id));
  const jobScore = Number(await h.admin.zscore(`${h.settings.keyPrefix}lastused:jobs`, 'nb'));
  t.ok(tokenScore >= before - 3_600_000 && tokenScore <= Date.now(), 'the token: a time in ms');
  t.equal(jobScore, tokenScore, 'the job: the same write');
});

t.test('status.lastUsedAt through the control API; never backwards; gone with its record', async (t) => {
  const h = await jobgate(t, 1000);
  await h.jobs.put({ id: 'nb', upstream: up.url, labels: {} });
  await h.jobs.put({ id: 'idle', upstream: up.url, labels: {} });
  const root = await h.tokens.create({ name: 'root', role: 'operator' });
  const user = await h.tokens.create({ name: 'user', role: 'read' });
  const unused = await h.tokens.create({ name: 'unused', role: 'read' });
  t.equal((await onJob(h, user.value)).status, 200);
  const tokenDoc = async (id: string) => (await control(h, root.value, `/api/v1/tokens/${id}`)).json<{ status: { lastUsedAt?: string } }>();
  await eventually('the use to be written', async () => (await tokenDoc(user.record.id)).status.lastUsedAt !== undefined);
  const used = (await tokenDoc(user.record.id)).status.lastUsedAt!;
  t.match(used, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'an ISO-8601 UTC time');
  t.notOk('lastUsedAt' in (await tokenDoc(unused.record.id)).status, 'a token never used has none');
  const jobs = (await control(h, root.value, '/api/v1/jobs')).json<Array<{ id: string; status?: { lastUsedAt: string } }>>();
  t.type(jobs.find((job) => job.id === 'nb')?.status?.lastUsedAt, 'string', 'the job it reached has one');
  t.equal(jobs.find((job) => job.id === 'idle')?.status, undefined, 'a job never reached has none');
  const listed = (await control(h, root.value, '/api/v1/tokens')).json<Array<{ id: string; status: { lastUsedAt?: string } }>>();
  t.equal(listed.find((token) => token.id === user.record.id)?.status.lastUsedAt, used, 'in the list too');

  // Another writer (an instance with a faster clock) recorded a later time: it stays.
  const future = Date.parse('2999-01-01T00:00:00.000Z');
  await h.admin.zadd(`${h.settings.keyPrefix}lastused:tokens`, future, user.record.id);
  t.equal((await onJob(h, user.value)).status, 200);
  await eventually(
    'the root token (used by the control calls) to be written again',
    async () => (await tokenDoc(root.record.id)).status.lastUsedAt !== undefined,
  );
  const uses = await zaddCallsAfterAnInterval(h, root.value);
  t.ok(uses > 0, 'writes went on');
  t.equal((await tokenDoc(user.record.id)).status.lastUsedAt, '2999-01-01T00:00:00.000Z', 'never backwards');

  await h.tokens.delete(user.record.id);
  t.equal(await h.admin.zscore(`${h.settings.keyPrefix}lastused:tokens`, user.record.id), null, 'a delete removes it');
});

/** Makes a control call, then waits until a write happened after it; returns the ZADD calls seen. */
async function zaddCallsAfterAnInterval(h: Harness, value: string): Promise<number> {
  const before = await zaddCalls();
  await control(h, value, '/api/v1/tokens');
  let after = before;
  await eventually('a write after the call', async () => (after = await zaddCalls()) > before);
  return after - before;
}

t.test('a write that fails is logged and never touches a request', async (t) => {
  const h = await jobgate(t, 1000);
  await h.jobs.put({ id: 'nb', upstream: up.url, labels: {} });
  const token = await h.tokens.create({ name: 'user', role: 'read' });
  // A key of the wrong type (a hand-made mistake): every ZADD into it fails.
  await h.admin.set(`${h.settings.keyPrefix}lastused:tokens`, 'not a sorted set');
  for (let i = 0; i < 5; i++) t.equal((await onJob(h, token.value)).status, 200, `request ${i}`);
  await eventually('the failed write to be logged', () => h.log.lines.some((line) => line.event === 'last_use_write_failed'));
  const line = h.log.lines.find((entry) => entry.event === 'last_use_write_failed')!;
  t.equal(line.tokens, 1, 'it says how many uses were dropped');
  t.notOk(JSON.stringify(line).includes(token.value.slice(41)), 'and no secret');
  t.equal((await onJob(h, token.value)).status, 200, 'requests go on');
});
