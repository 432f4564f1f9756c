import t from 'tap';
import { bearer, request, type Reply } from '../helpers/http.js';
import { controlRequest, type ControlCall } from '../helpers/control.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

// The control API of a running jobgate (JOBGATE_CONTROL_HOST) on a real Redis, every answer as a
// client sees it, every write checked in Redis and in the audit stream.

const CONTROL = 'control.test';
const up = await Upstream.start('control-upstream');
const h: Harness = await startHarness({ JOBGATE_CONTROL_HOST: CONTROL });
t.teardown(async () => {
  await h.close();
  await up.close();
});

const root = await h.tokens.create({ name: 'root', role: 'operator' });
const reader = await h.tokens.create({ name: 'reader', role: 'read' });

type Call = ControlCall;

/** A control API call, on the control host with a port (matched without it). */
const control = (call: Call): Promise<Reply> => controlRequest(h.url, { host: `${CONTROL}:8443`, ...call });

const onJob = (job: string, token: string) => request(h.url, { host: `${job}.job.test`, path: '/x', headers: bearer(token) });
const eventCount = () => h.admin.xlen(`${h.settings.keyPrefix}events`);

interface TokenDoc {
  id: string;
  spec: { name: string; role: string; labelSelector: string };
  status: { version: number; value?: string };
}
interface JobDoc {
  id: string;
  spec: { labels: Record<string, string>; upstream: string; ports: Record<string, string>; unsecureHttp: boolean };
}
interface EventDoc {
  id: string;
  action: string;
  target: { kind: string; id: string; name?: string };
  actor: { kind: string; tokenId?: string; tokenName?: string; client?: string };
}

t.test('who reaches the control API: operator tokens only', async (t) => {
  const none = await control({ path: '/api/v1/tokens' });
  t.equal(none.status, 401, 'no token: 401');
  t.match(none.headers['www-authenticate'], /^Bearer realm="jobgate"/, 'with the RFC 6750 challenge');
  const read = await control({ path: '/api/v1/tokens', token: reader.value });
  t.equal(read.status, 403, 'a read token: 403');
  t.equal(read.json().error, 'insufficient_scope');
  t.match(read.headers['www-authenticate'], /error="insufficient_scope"/);
  const bad = await control({ path: '/api/v1/tokens', token: `${root.value.slice(0, -2)}xx` });
  t.equal(bad.status, 401, 'a wrong secret: 401');
  t.equal((await control({ path: '/api/v1/tokens', token: root.value })).status, 200, 'an operator token: 200');
  // The same path on a job host is the job's, not the control API.
  await h.jobs.put({ id: 'control', upstream: up.url, labels: {} });
  const job = await request(h.url, { host: 'control.job.test', path: '/api/v1/tokens', headers: bearer(root.value) });
  t.equal(job.status, 200);
  t.equal(up.last.url, '/api/v1/tokens', 'a job host forwards the path to the job');
  t.equal((await control({ path: '/api/v1/nothing', token: root.value })).status, 404, 'an unknown route: 404');
  const wrongMethod = await control({ method: 'PATCH', path: '/api/v1/tokens', token: root.value });
  t.equal(wrongMethod.status, 405, 'a method the route has not: 405');
  t.equal(wrongMethod.headers.allow, 'GET, POST', 'naming the methods it has');
});

t.test('an unscoped operator runs the whole token lifecycle', async (t) => {
  await h.jobs.put({ id: 'nb', upstream: up.url, labels: { team: 'a' } });
  const created = await control({ method: 'POST', path: '/api/v1/tokens', token: root.value, body: { name: 'ci', role: 'read', labelSelector: 'team=a' } });
  t.equal(created.status, 201);
  const token = created.json<TokenDoc>();
  t.same(token.spec, { name: 'ci', role: 'read', labelSelector: 'team=a' });
  t.equal(token.status.version, 1);
  t.type(token.status.value, 'string', 'the value, this once');
  t.equal((await onJob('nb', token.status.value!)).status, 200, 'the value opens the job');

  const listed = (await control({ path: '/api/v1/tokens', token: root.value })).json<TokenDoc[]>();
  t.ok(
    listed.some((item) => item.id === token.id),
    'listed',
  );
  t.notOk(
    listed.some((item) => item.status.value !== undefined),
    'never a value in a list',
  );
  const one = await control({ path: `/api/v1/tokens/${token.id}`, token: root.value });
  t.same(one.json<TokenDoc>().spec, token.spec, 'get');
  t.equal(one.json<TokenDoc>().status.value, undefined);

  const renewed = await control({ method: 'POST', path: `/api/v1/tokens/${token.id}/renew`, token: root.value });
  t.equal(renewed.status, 200);
  t.equal(renewed.json<TokenDoc>().id, token.id, 'same id');
  t.equal(renewed.json<TokenDoc>().status.version, 2, 'version + 1');
  t.equal((await onJob('nb', token.status.value!)).status, 401, 'the old value stops working');
  t.equal((await onJob('nb', renewed.json<TokenDoc>().status.value!)).status, 200, 'the new one works');

  const deleted = await control({ method: 'DELETE', path: `/api/v1/tokens/${token.id}`, token: root.value });
  t.equal(deleted.status, 204);
  t.equal(deleted.body, '');
  t.equal((await onJob('nb', renewed.json<TokenDoc>().status.value!)).status, 401, 'revoked');
  t.equal((await control({ path: `/api/v1/tokens/${token.id}`, token: root.value })).status, 404, 'gone');
  t.equal((await control({ method: 'DELETE', path: `/api/v1/tokens/${token.id}`, token: root.value })).status, 404, 'a second delete: 404');
  t.equal((await control({ path: '/api/v1/tokens/not-a-uuid', token: root.value })).status, 400, 'an invalid id: 400');
});

t.test('jobs: create, replace, read, list with a selector, delete', async (t) => {
  const created = await control({ method: 'PUT', path: '/api/v1/jobs/train-1', token: root.value, body: { upstream: up.url, labels: { team: 'b' } } });
  t.equal(created.status, 201, 'created: 201');
  t.same(created.json<JobDoc>().spec.labels, { team: 'b', 'jobgate/id': 'train-1' });
  const spec = created.json<JobDoc>().spec;
  const replaced = await control({ method: 'PUT', path: '/api/v1/jobs/train-1', token: root.value, body: { ...spec, ports: { '8888': up.url } } });
  t.equal(replaced.status, 200, 'replaced: 200 (a spec read back, jobgate/id included, is accepted)');
  t.same(Object.keys(replaced.json<JobDoc>().spec.ports), ['8888']);
  const foreignId = await control({
    method: 'PUT',
    path: '/api/v1/jobs/train-1',
    token: root.value,
    body: { upstream: up.url, labels: { 'jobgate/id': 'other' } },
  });
  t.equal(foreignId.status, 400, 'jobgate/id naming another job: 400');
  t.same((await control({ path: '/api/v1/jobs/train-1', token: root.value })).json<JobDoc>().spec.ports, { '8888': `${up.url}/` }, 'get');
  const teamB = await control({ path: '/api/v1/jobs?labelSelector=team%3Db', token: root.value });
  t.same(
    teamB.json<JobDoc[]>().map((job) => job.id),
    ['train-1'],
    'list with a labelSelector',
  );
  t.equal((await control({ path: '/api/v1/jobs?labelSelector=team%20in%20(a', token: root.value })).status, 400, 'a selector that does not parse: 400');
  t.equal((await control({ path: '/api/v1/jobs?labelSelector=a&labelSelector=b', token: root.value })).status, 400, 'a repeated parameter: 400');
  t.equal((await control({ method: 'DELETE', path: '/api/v1/jobs/train-1', token: root.value })).status, 204);
  t.equal(await h.admin.exists(`${h.settings.keyPrefix}job:train-1`), 0, 'deleted in Redis');
});

t.test('bodies are bounded and strict, and a refused call writes nothing', async (t) => {
  const before = await eventCount();
  const tokensBefore = await h.admin.scard(`${h.settings.keyPrefix}tokens`);
  const cases: Array<[string, Omit<Call, 'path'>, number]> = [
    ['an unknown field', { body: { name: 'x', role: 'read', expires: 'soon' } }, 400],
    ['a missing field', { body: { name: 'x' } }, 400],
    ['a wrong type', { body: { name: 'x', role: 'read', labelSelector: 3 } }, 400],
    ['a duplicate key', { body: '{"name":"x","role":"read","role":"operator"}' }, 400],
    ['a case variant', { body: '{"name":"x","role":"read","Role":"operator"}' }, 400],
    ['not JSON', { body: '{"name":' }, 400],
    ['an array', { body: '[]' }, 400],
    ['a bad role', { body: { name: 'x', role: 'admin' } }, 400],
    ['a bad selector', { body: { name: 'x', role: 'read', labelSelector: 'team in (a' } }, 400],
    ['not application/json', { body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415],
    ['no body', {}, 400],
    ['over 64 KiB', { body: { name: 'x', role: 'read', labelSelector: `a=${'b'.repeat(70_000)}` } }, 413],
  ];
  for (const [what, call, status] of cases) {
    const reply = await control({ method: 'POST', token: root.value, ...call, path: '/api/v1/tokens' });
    t.equal(reply.status, status, `${what}: ${status}`);
    t.type(reply.json().message, 'string', `${what}: with a message`);
  }
  const job = await control({ method: 'PUT', path: '/api/v1/jobs/nb2', token: root.value, body: { upstream: up.url, labels: { 'jobgate/x': 'y' } } });
  t.equal(job.status, 400, 'a reserved label: 400');
  const renew = await control({ method: 'POST', path: `/api/v1/tokens/${root.record.id}/renew`, token: root.value, body: { value: 'mine' } });
  t.equal(renew.status, 400, 'a renewal with a field: 400');
  t.equal(await eventCount(), before, 'no audit event');
  t.equal(await h.admin.scard(`${h.settings.keyPrefix}tokens`), tokensBefore, 'no token');
  t.equal(await h.admin.exists(`${h.settings.keyPrefix}job:nb2`), 0, 'no job');
});

t.test('the audit trail: every change through the API, with its actor, oldest first', async (t) => {
  const [, latest] = [await eventCount(), await h.admin.xrevrange(`${h.settings.keyPrefix}events`, '+', '-', 'COUNT', 1)];
  const after = latest[0]![0];
  const made = (await control({ method: 'POST', path: '/api/v1/tokens', token: root.value, body: { name: 'audited', role: 'read' } })).json<TokenDoc>();
  await control({ method: 'POST', path: `/api/v1/tokens/${made.id}/renew`, token: root.value });
  await control({ method: 'DELETE', path: `/api/v1/tokens/${made.id}`, token: root.value });
  await control({ method: 'PUT', path: '/api/v1/jobs/audited', token: root.value, body: { upstream: up.url } });
  await control({ method: 'DELETE', path: '/api/v1/jobs/audited', token: root.value });
  const events = (await control({ path: `/api/v1/events?after=${after}`, token: root.value })).json<EventDoc[]>();
  t.same(
    events.map((event) => [event.action, event.target.kind, event.target.id]),
    [
      ['token.create', 'token', made.id],
      ['token.renew', 'token', made.id],
      ['token.delete', 'token', made.id],
      ['job.put', 'job', 'audited'],
      ['job.delete', 'job', 'audited'],
    ],
  );
  for (const event of events)
    t.same(event.actor, { kind: 'token', tokenId: root.record.id, tokenName: 'root', client: '127.0.0.1' }, `${event.action}: by root`);
  t.equal(events[0]!.target.name, 'audited', 'a token event names the token');
  const paged = (await control({ path: `/api/v1/events?after=${after}&limit=2`, token: root.value })).json<EventDoc[]>();
  t.same(
    paged.map((event) => event.id),
    events.slice(0, 2).map((event) => event.id),
    'limit',
  );
  const next = (await control({ path: `/api/v1/events?after=${paged[1]!.id}&limit=2`, token: root.value })).json<EventDoc[]>();
  t.same(
    next.map((event) => event.id),
    events.slice(2, 4).map((event) => event.id),
    'after the last one seen',
  );
  t.equal((await control({ path: '/api/v1/events?after=yesterday', token: root.value })).status, 400, 'a cursor that is not an event id: 400');
  t.equal((await control({ path: '/api/v1/events?limit=0', token: root.value })).status, 400, 'limit 0: 400');
  const raw = JSON.stringify(await h.admin.xrange(`${h.settings.keyPrefix}events`, '-', '+'));
  t.notOk(raw.includes(root.value.slice(41)), "never the caller's secret");
});
