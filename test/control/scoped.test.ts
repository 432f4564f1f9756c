import t from 'tap';
import { bearer, request, type Reply } from '../helpers/http.js';
import { controlRequest } from '../helpers/control.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

// A scoped operator token (team=a) on the control API of a real jobgate: what it can see and do,
// as a table, and what an attacker holding it tries. Each refused row changes nothing in Redis.

const CONTROL = 'control.test';
const up = await Upstream.start('scoped-upstream');
const neighbour = await Upstream.start('neighbour-upstream');
const h: Harness = await startHarness({ JOBGATE_CONTROL_HOST: CONTROL });
t.teardown(async () => {
  await h.close();
  await up.close();
  await neighbour.close();
});

const scoped = await h.tokens.create({ name: 'team a operator', role: 'operator', labelSelector: 'team=a' });
const tokens = {
  mine: await h.tokens.create({ name: 'mine', role: 'read', labelSelector: 'team=a,env=dev' }),
  exact: await h.tokens.create({ name: 'exact', role: 'read', labelSelector: 'team=a' }),
  unscoped: await h.tokens.create({ name: 'unscoped', role: 'operator' }),
  other: await h.tokens.create({ name: 'other', role: 'read', labelSelector: 'team=b' }),
  wider: await h.tokens.create({ name: 'wider', role: 'read', labelSelector: 'team in (a,b)' }),
  renamed: await h.tokens.create({ name: 'renamed', role: 'read', labelSelector: 'Team=a' }),
};
await h.jobs.put({ id: 'nb-a', upstream: up.url, labels: { team: 'a' } });
await h.jobs.put({ id: 'nb-b', upstream: neighbour.url, labels: { team: 'b' } });

const call = (method: string, path: string, body?: unknown): Promise<Reply> => controlRequest(h.url, { method, path, token: scoped.value, body });

/** Every key under the prefix with its content, and the audit stream's length. */
async function snapshot(): Promise<string> {
  const keys = (await h.admin.keys(`${h.settings.keyPrefix}*`)).sort();
  const dump: unknown[] = [];
  for (const key of keys) {
    const type = await h.admin.type(key);
    dump.push(key, type === 'hash' ? await h.admin.hgetall(key) : type === 'set' ? (await h.admin.smembers(key)).sort() : await h.admin.xlen(key));
  }
  return JSON.stringify(dump);
}

t.test('what a scoped operator sees', async (t) => {
  const listed = (await call('GET', '/api/v1/tokens')).json<Array<{ id: string }>>().map((token) => token.id);
  t.same(listed.sort(), [scoped.record.id, tokens.mine.record.id, tokens.exact.record.id].sort(), 'the tokens carrying team=a, itself included');
  for (const name of ['unscoped', 'other', 'wider', 'renamed'] as const) {
    const id = tokens[name].record.id;
    t.equal((await call('GET', `/api/v1/tokens/${id}`)).status, 404, `${name}: reads as absent`);
  }
  t.equal((await call('GET', `/api/v1/tokens/${tokens.mine.record.id}`)).status, 200, 'a token within the scope');
  const jobs = (await call('GET', '/api/v1/jobs')).json<Array<{ id: string }>>().map((job) => job.id);
  t.same(jobs, ['nb-a'], 'the jobs team=a matches');
  t.same((await call('GET', '/api/v1/jobs?labelSelector=team%3Db')).json(), [], 'a wider filter stays inside the scope');
  t.equal((await call('GET', '/api/v1/jobs/nb-b')).status, 404, 'a job outside reads as absent');
});

t.test('refused, and nothing written', async (t) => {
  const rows: Array<[what: string, method: string, path: string, body: unknown, status: number]> = [
    ['renew a wider token', 'POST', `/api/v1/tokens/${tokens.wider.record.id}/renew`, undefined, 404],
    ['renew an unscoped operator token', 'POST', `/api/v1/tokens/${tokens.unscoped.record.id}/renew`, undefined, 404],
    ['delete a token of another team', 'DELETE', `/api/v1/tokens/${tokens.other.record.id}`, undefined, 404],
    ['delete a token whose key differs in case', 'DELETE', `/api/v1/tokens/${tokens.renamed.record.id}`, undefined, 404],
    ['delete a job outside', 'DELETE', '/api/v1/jobs/nb-b', undefined, 404],
    ['replace a job outside', 'PUT', '/api/v1/jobs/nb-b', { upstream: up.url, labels: { team: 'a' } }, 403],
    ['move a job out of the scope', 'PUT', '/api/v1/jobs/nb-a', { upstream: up.url, labels: { team: 'b' } }, 403],
    ['create a job with a contradicting label', 'PUT', '/api/v1/jobs/new', { upstream: up.url, labels: { team: 'b' } }, 403],
    ['point a job at the upstream of a job outside', 'PUT', '/api/v1/jobs/thief', { upstream: neighbour.url }, 403],
    ['... through one of its ports', 'PUT', '/api/v1/jobs/thief', { upstream: up.url, ports: { '8888': `${neighbour.url}/other/path` } }, 403],
    ['open a job to everyone (unsecureHttp)', 'PUT', '/api/v1/jobs/open', { upstream: up.url, unsecureHttp: true }, 403],
    ['set a reserved label', 'PUT', '/api/v1/jobs/new', { upstream: up.url, labels: { 'jobgate/owner': 'me' } }, 400],
  ];
  for (const [what, method, path, body, status] of rows) {
    const before = await snapshot();
    const reply = await call(method, path, body);
    t.equal(reply.status, status, `${what}: ${status}`);
    if (status === 403) t.equal(reply.json().error, 'insufficient_scope', `${what}: insufficient_scope`);
    t.equal(await snapshot(), before, `${what}: nothing written`);
  }
  t.equal((await request(h.url, { host: 'nb-b.job.test', path: '/', headers: bearer(tokens.other.value) })).status, 200, 'the neighbour still works');
});

t.test('what it creates stays inside its scope', async (t) => {
  const asked: Array<[requested: string | undefined, stored: string]> = [
    [undefined, 'team=a'],
    ['', 'team=a'],
    ['env=prod', 'team=a,env=prod'],
    ['team=b', 'team=a,team=b'],
    ['team in (a,b)', 'team=a,team in (a,b)'],
    ['!team', 'team=a,!team'],
  ];
  for (const [requested, stored] of asked) {
    const body = { name: `made ${requested ?? 'without'}`, role: 'operator', ...(requested === undefined ? {} : { labelSelector: requested }) };
    const reply = await call('POST', '/api/v1/tokens', body);
    t.equal(reply.status, 201);
    t.equal(reply.json<{ spec: { labelSelector: string } }>().spec.labelSelector, stored, `asked "${requested ?? '(nothing)'}": stored "${stored}"`);
  }
  const made = (await call('POST', '/api/v1/tokens', { name: 'reader b', role: 'read', labelSelector: 'team=b' })).json<{ status: { value: string } }>();
  t.equal(
    (await request(h.url, { host: 'nb-b.job.test', path: '/', headers: bearer(made.status.value) })).status,
    403,
    'a token it made for team=b cannot open the team=b job',
  );

  const job = await call('PUT', '/api/v1/jobs/nb-new', { upstream: up.url });
  t.equal(job.status, 201);
  t.same(job.json<{ spec: { labels: Record<string, string> } }>().spec.labels, { team: 'a', 'jobgate/id': 'nb-new' }, 'a job it writes gets team=a');
  t.equal((await call('PUT', '/api/v1/jobs/nb-a', { upstream: `${up.url}/v2`, labels: { team: 'a', tier: 'gold' } })).status, 200, 'it replaces a job within');
  t.equal((await call('DELETE', '/api/v1/jobs/nb-new')).status, 204, 'and deletes one');
  t.equal((await call('DELETE', `/api/v1/tokens/${tokens.exact.record.id}`)).status, 204, 'and a token within');
});

t.test('scopes with !k and with a jobgate/ label', async (t) => {
  const noSecret = await h.tokens.create({ name: 'no secrets', role: 'operator', labelSelector: '!secret' });
  const asNoSecret = (path: string, body: unknown) => controlRequest(h.url, { method: 'PUT', path, token: noSecret.value, body });
  t.equal((await asNoSecret('/api/v1/jobs/s1', { upstream: up.url, labels: { secret: 'x' } })).status, 403, '!secret: a job with the label is refused');
  t.equal((await asNoSecret('/api/v1/jobs/s1', { upstream: up.url, labels: {} })).status, 201, '!secret: a job without it is written');

  const oneJob = await h.tokens.create({ name: 'one job', role: 'operator', labelSelector: 'jobgate/id=nb-a' });
  const asOneJob = (method: string, path: string, body?: unknown) => controlRequest(h.url, { method, path, token: oneJob.value, body });
  t.same(
    (await asOneJob('GET', '/api/v1/jobs')).json<Array<{ id: string }>>().map((job) => job.id),
    ['nb-a'],
    'jobgate/id=nb-a: sees that job',
  );
  t.equal((await asOneJob('PUT', '/api/v1/jobs/nb-a', { upstream: up.url, labels: { team: 'a' } })).status, 200, 'and may replace it');
  t.equal((await asOneJob('PUT', '/api/v1/jobs/nb-c', { upstream: up.url })).status, 403, 'but not write another');
});

t.test('the audit trail of a scoped operator', async (t) => {
  const events = (await call('GET', '/api/v1/events?limit=1000')).json<Array<{ target: { kind: string; id: string } }>>();
  t.ok(events.length > 0);
  const outside = new Set([tokens.other.record.id, tokens.unscoped.record.id, tokens.wider.record.id, tokens.renamed.record.id, 'nb-b', 's1']);
  t.same(
    events.filter((event) => outside.has(event.target.id)),
    [],
    'no event about a token or job outside its scope',
  );
  t.ok(
    events.some((event) => event.target.id === 'nb-a'),
    'events about its jobs',
  );
  t.ok(
    events.some((event) => event.target.id === tokens.mine.record.id),
    'and its tokens',
  );
});

t.test('a scoped caller pages through the trail past events outside its scope', async (t) => {
  const stream = `${h.settings.keyPrefix}events`;
  const before = (await call('GET', '/api/v1/events?limit=1000')).json<Array<{ id: string }>>();
  const start = before.at(-1)!.id;
  // 1,500 events about a job outside the scope (more than one page of the stream), then one within it.
  const pipeline = h.admin.pipeline();
  for (let i = 0; i < 1500; i++) {
    pipeline.xadd(
      stream,
      '*',
      'time',
      new Date().toISOString(),
      'action',
      'job.put',
      'targetId',
      'nb-b',
      'actor',
      'cli',
      'cliUser',
      'x',
      'cliHost',
      'y',
      'labels',
      '{"team":"b"}',
    );
  }
  await pipeline.exec();
  await h.jobs.put({ id: 'nb-a', upstream: up.url, labels: { team: 'a' } });
  const next = (await call('GET', `/api/v1/events?after=${start}&limit=1`)).json<Array<{ action: string; target: { id: string } }>>();
  t.same(
    next.map((event) => [event.action, event.target.id]),
    [['job.put', 'nb-a']],
    'the next event within the scope, 1,500 entries further',
  );
  const unscoped = await h.tokens.create({ name: 'root', role: 'operator' });
  const all = await request(h.url, { host: CONTROL, path: `/api/v1/events?after=${start}&limit=2`, headers: bearer(unscoped.value) });
  t.same(
    all.json<Array<{ target: { id: string } }>>().map((event) => event.target.id),
    ['nb-b', 'nb-b'],
    'an unscoped caller reads them all, in order',
  );
});
