import t from 'tap';
import { buildApiPolicy, type ApiRule } from '../../src/api/policy.js';
import { FailureLimiter } from '../../src/auth/failure-limit.js';
import { ApiAccess, Authenticator, isDenial, type ApiAdmission, type Denial, type GateRequest, type UsageSink } from '../../src/gate/index.js';
import { CachedRegistry } from '../../src/registry/cache.js';
import { RedisRegistry } from '../../src/registry/registry.js';
import { SessionCookies } from '../../src/session/cookie.js';
import { sessionKeys } from '../../src/session/keys.js';
import { startGateStores } from '../helpers/gate-stores.js';
import { RedisClients, writeJobHash } from '../helpers/redis.js';

/**
 * The training API's gate alone, on a real Redis: path hygiene before the token, the bearer
 * token, the route policy and the token's scope (with the job lookups it needs), the query and
 * body checks, the re-check of an open connection, and which admissions are noted as a use.
 */

const { server, keys, tokens, jobs } = await startGateStores(t);
const clients = new RedisClients(server.url);
t.teardown(() => clients.disconnectAll());
const admin = await clients.connect();

await jobs.put({ id: 'nb1', upstream: 'http://127.0.0.1:1/', labels: { team: 'a' } });
await jobs.put({ id: 'nb2', upstream: 'http://127.0.0.1:2/', labels: { team: 'b' } });
await writeJobHash(admin, keys, 'broken', { id: 'broken', labels: '[]', upstream: 'http://127.0.0.1:3/', createdAt: 'x', updatedAt: 'x' });
const operator = await tokens.create({ name: 'operator', role: 'operator' });
const scoped = await tokens.create({ name: 'team a', role: 'operator', labelSelector: 'team=a' });
const reader = await tokens.create({ name: 'reader', role: 'read' });

/** Configured rules: a POST open to scoped tokens on a path whose other methods are closed to them. */
const RULES: ApiRule[] = [
  { method: 'POST', path: '/v1/job/{id}/ping', role: 'operator', scope: 'any' },
  { method: 'DELETE', path: '/v1/job/{id}/ping', role: 'operator', scope: 'deny-scoped' },
  { method: 'GET', path: '/v1/status', role: 'read', scope: 'any' },
];

interface Setup {
  readonly access: ApiAccess;
  /** The uses noted: token id, and job id. */
  readonly used: [string | undefined, string | undefined][];
}
function setup(limit = 1000): Setup {
  const registry = new CachedRegistry(new RedisRegistry(tokens, jobs), { maxEntries: 100, ttlMs: 300_000, negativeTtlMs: 0, outageGraceMs: 0 });
  const authenticator = new Authenticator(registry, new FailureLimiter(limit), new SessionCookies(sessionKeys(['k'.repeat(32)]), 3600));
  const used: Setup['used'] = [];
  const usage: UsageSink = { used: (tokenId, jobId) => used.push([tokenId, jobId]) };
  const settings = { hosts: new Set(['api.test']), upstream: new URL('http://127.0.0.1:5/'), policy: buildApiPolicy(RULES), maxBodyBytes: 200 };
  return { access: new ApiAccess(settings, authenticator, registry, usage), used };
}

function request(method: string, url: string, bearer?: string, client = '192.0.2.1'): GateRequest {
  const headers = bearer === undefined ? {} : { authorization: `Bearer ${bearer}` };
  const rawHeaders = bearer === undefined ? [] : ['authorization', `Bearer ${bearer}`];
  return { method, host: 'api.test', publicHost: 'api.test', url, client, https: true, headers, rawHeaders };
}

/** What an admission or a denial comes to, as the client and the access log see it. */
function outcome(result: ApiAdmission | Denial): Record<string, unknown> {
  if (isDenial(result)) {
    return { decision: result.decision, status: result.answer.status, error: result.answer.error, jobId: result.jobId, tokenId: result.tokenId };
  }
  return { decision: result.decision, token: result.token.id, jobId: result.jobId, url: result.url, bodyCheck: result.bodyCheck?.op };
}

const refused = (decision: string, status: number, error: string, jobId?: string, tokenId?: string) => ({ decision, status, error, jobId, tokenId });

t.test('path hygiene first: a 400 before the token is even read', async (t) => {
  const { access, used } = setup(1);
  const cases: [string, string][] = [
    ['a dot segment', '/v1/job/../token'],
    ['an encoded dot segment', '/v1/%2e%2e/job'],
    ['an empty segment', '/v1//job'],
    ['an encoded slash', '/v1/job/nb1%2Fx'],
  ];
  for (const [what, url] of cases) {
    for (const bearer of [undefined, operator.value, 'not-a-token']) {
      t.same(
        outcome(await access.admit(request('GET', url, bearer), false)),
        refused('bad_path', 400, 'bad_request'),
        `${what}, ${bearer === undefined ? 'no token' : 'a token'}`,
      );
    }
  }
  for (const url of ['/v1/job?_method=DELETE', '/v1/job?a=1&_method=PUT', '/v1/job?%5FMethod=DELETE']) {
    t.same(outcome(await access.admit(request('GET', url, operator.value), false)), refused('bad_query', 400, 'bad_request'), url);
    t.same(outcome(await access.admit(request('GET', url, 'not-a-token'), false)), refused('bad_query', 400, 'bad_request'), `${url}, a bad token`);
  }
  t.same(used, [], 'nothing noted');
  t.equal(outcome(await access.admit(request('GET', '/v1/job', 'not-a-token'), false)).decision, 'malformed_token', 'and nothing counted toward the limit');
});

t.test('the token, and the route policy: who may do what', async (t) => {
  const { access, used } = setup();
  const cases: [string, GateRequest, boolean, Record<string, unknown>][] = [
    ['no token', request('GET', '/v1/job'), false, refused('missing_token', 401, 'unauthorized')],
    ['a token of the wrong shape', request('GET', '/v1/job', 'x'), false, refused('malformed_token', 401, 'invalid_token')],
    ['a read token', request('GET', '/v1/job', reader.value), false, refused('role_denied', 403, 'insufficient_scope', undefined, reader.record.id)],
    [
      'a read token on a rule for read tokens',
      request('GET', '/v1/status', reader.value),
      false,
      { decision: 'allowed', token: reader.record.id, jobId: undefined, url: '/v1/status', bodyCheck: undefined },
    ],
    [
      'an unscoped operator token: forwarded as sent, no lookup',
      request('GET', '/v1/job/nb9/x?a=1', operator.value),
      false,
      { decision: 'allowed', token: operator.record.id, jobId: undefined, url: '/v1/job/nb9/x?a=1', bodyCheck: undefined },
    ],
    [
      'an unscoped token creating a job: no body check',
      request('POST', '/v1/job', operator.value),
      false,
      { decision: 'allowed', token: operator.record.id, jobId: undefined, url: '/v1/job', bodyCheck: undefined },
    ],
    [
      'a scoped token listing jobs: the list is scoped',
      request('GET', '/v1/job?limit=5', scoped.value),
      false,
      { decision: 'allowed_scoped_list', token: scoped.record.id, jobId: undefined, url: '/v1/job?limit=5&labelSelector=team%3Da', bodyCheck: undefined },
    ],
    [
      'a scoped token creating a job: its body is checked',
      request('POST', '/v1/job', scoped.value),
      false,
      { decision: 'allowed_checked_body', token: scoped.record.id, jobId: undefined, url: '/v1/job', bodyCheck: 'create' },
    ],
    [
      '… never over a WebSocket',
      request('POST', '/v1/job', scoped.value),
      true,
      refused('upgrade_not_allowed', 400, 'bad_request', undefined, scoped.record.id),
    ],
    [
      'a scoped token on a job it matches',
      request('GET', '/v1/job/nb1/logs', scoped.value),
      false,
      { decision: 'allowed', token: scoped.record.id, jobId: 'nb1', url: '/v1/job/nb1/logs', bodyCheck: undefined },
    ],
    [
      '… over a WebSocket too',
      request('GET', '/v1/job/nb1/logs', scoped.value),
      true,
      { decision: 'allowed', token: scoped.record.id, jobId: 'nb1', url: '/v1/job/nb1/logs', bodyCheck: undefined },
    ],
    [
      'a scoped token relabelling a job it matches: the body is checked',
      request('PUT', '/v1/job/nb1/label', scoped.value),
      false,
      { decision: 'allowed', token: scoped.record.id, jobId: 'nb1', url: '/v1/job/nb1/label', bodyCheck: 'relabel' },
    ],
    [
      'a scoped token on a job it does not match',
      request('GET', '/v1/job/nb2/logs', scoped.value),
      false,
      refused('scope_denied', 403, 'insufficient_scope', 'nb2', scoped.record.id),
    ],
    [
      'a scoped token on an unknown job',
      request('GET', '/v1/job/nb9/logs', scoped.value),
      false,
      refused('unknown_job', 404, 'not_found', 'nb9', scoped.record.id),
    ],
    [
      'a scoped token managing tokens',
      request('GET', '/v1/token', scoped.value),
      false,
      refused('unscoped_only', 403, 'insufficient_scope', undefined, scoped.record.id),
    ],
    [
      'a scoped token removing a label',
      request('DELETE', '/v1/job/nb1/label/team', scoped.value),
      false,
      refused('scoped_route_denied', 403, 'insufficient_scope', undefined, scoped.record.id),
    ],
    [
      'a scoped token on an unknown path',
      request('GET', '/v2/anything', scoped.value),
      false,
      refused('scoped_route_denied', 403, 'insufficient_scope', undefined, scoped.record.id),
    ],
    [
      'a scoped list with a bad labelSelector',
      request('GET', '/v1/job?labelSelector=a&labelSelector=b', scoped.value),
      false,
      refused('bad_query', 400, 'bad_request', undefined, scoped.record.id),
    ],
    [
      'a record that cannot be read',
      request('GET', '/v1/job/broken/logs', scoped.value),
      false,
      refused('invalid_job_record', 503, 'job_record_invalid', 'broken', scoped.record.id),
    ],
  ];
  for (const [what, req, upgrade, expected] of cases) t.same(outcome(await access.admit(req, upgrade)), expected, what);
  t.same(
    used,
    [
      [reader.record.id, undefined],
      [operator.record.id, undefined],
      [operator.record.id, undefined],
      [scoped.record.id, undefined],
      [scoped.record.id, undefined],
      [scoped.record.id, undefined],
      [scoped.record.id, undefined],
      [scoped.record.id, undefined],
    ],
    'each admitted token noted once, no refused one',
  );
});

t.test('a POST is decided as strictly as every method on its path (a body can carry _method)', async (t) => {
  const { access } = setup();
  t.same(
    outcome(await access.admit(request('POST', '/v1/job/nb1/ping', scoped.value), false)),
    refused('scoped_route_denied', 403, 'insufficient_scope', undefined, scoped.record.id),
    'a scoped token: DELETE is closed to it, so POST is too',
  );
  t.same(outcome(await access.admit(request('POST', '/v1/job/nb1/ping', operator.value), false)), {
    decision: 'allowed',
    token: operator.record.id,
    jobId: undefined,
    url: '/v1/job/nb1/ping',
    bodyCheck: undefined,
  });
  t.same(
    outcome(await access.admit(request('PUT', '/v1/job/nb1/ping', scoped.value), false)),
    {
      decision: 'allowed',
      token: scoped.record.id,
      jobId: 'nb1',
      url: '/v1/job/nb1/ping',
      bodyCheck: undefined,
    },
    'another method is decided by its own rule',
  );
  t.same(
    outcome(await access.admit(request('POST', '/v1/job/nb2/ping', scoped.value), false)),
    refused('scoped_route_denied', 403, 'insufficient_scope', undefined, scoped.record.id),
  );
});

t.test('the answers carry the RFC 6750 challenge of the refusal', async (t) => {
  const { access } = setup();
  const denial = await access.admit(request('GET', '/v1/job/nb2/logs', scoped.value), false);
  t.equal(
    isDenial(denial) ? denial.answer.headers['www-authenticate'] : undefined,
    `Bearer realm="jobgate", error="insufficient_scope", error_description="The token's label selector does not match this job"`,
  );
  const missing = await access.admit(request('GET', '/v1/job'), false);
  t.equal(isDenial(missing) ? missing.answer.headers['www-authenticate'] : undefined, 'Bearer realm="jobgate"');
  const badPath = await access.admit(request('GET', '/v1//job'), false);
  t.equal(isDenial(badPath) ? badPath.answer.headers['www-authenticate'] : 'admitted', undefined, 'a bad path has no challenge');
});

t.test('a store that does not answer: 503 for the route that needs a job', async (t) => {
  const { access } = setup();
  server.pause();
  t.teardown(() => server.resume());
  t.same(
    outcome(await access.admit(request('GET', '/v1/job/nb1/logs', operator.value), false)),
    refused('store_unavailable', 503, 'unavailable', undefined, operator.record.id),
    'the token lookup',
  );
  server.resume();
  await access.admit(request('GET', '/v1/job', scoped.value), false);
  server.pause();
  t.same(
    outcome(await access.admit(request('GET', '/v1/job/nb1/logs', scoped.value), false)),
    refused('store_unavailable', 503, 'unavailable', 'nb1', scoped.record.id),
    'the job lookup, the token cached',
  );
  server.resume();
});

t.test('a checked body: refused before it is read, or checked once read', async (t) => {
  const { access } = setup();
  t.equal(access.maxBodyBytes, 200);
  t.equal(access.upstream.href, 'http://127.0.0.1:5/');
  t.ok(access.hosts.has('api.test'));
  t.equal(access.bodyDenial({ 'content-type': 'application/json', 'content-length': '200' }), undefined, 'at the size limit');
  const tooLarge = access.bodyDenial({ 'content-type': 'application/json', 'content-length': '201' });
  t.same(tooLarge && { decision: tooLarge.decision, status: tooLarge.answer.status }, { decision: 'body_too_large', status: 413 });
  const wrongType = access.bodyDenial({ 'content-type': 'text/plain' });
  t.same(wrongType && { decision: wrongType.decision, status: wrongType.answer.status }, { decision: 'unsupported_media_type', status: 415 });

  const admission = await access.admit(request('POST', '/v1/job', scoped.value), false);
  if (isDenial(admission) || admission.bodyCheck === undefined) throw new Error('no body check');
  const headers = { 'content-type': 'application/json' };
  const created = access.checkBody(admission.bodyCheck, headers, Buffer.from('{"id":"nb3","labels":{"x":"1"}}'));
  t.same(isDenial(created) ? created.decision : JSON.parse(created.toString()), { id: 'nb3', labels: { x: '1', team: 'a' } }, "the token's labels added");
  const outside = access.checkBody(admission.bodyCheck, headers, Buffer.from('{"id":"nb3","labels":{"team":"b"}}'));
  t.same(isDenial(outside) ? [outside.decision, outside.answer.status] : 'passed', ['label_scope_denied', 403]);
  const broken = access.checkBody(admission.bodyCheck, headers, Buffer.from('{'));
  t.same(isDenial(broken) ? [broken.decision, broken.answer.status] : 'passed', ['bad_body', 400]);
  const tooBig = access.checkBody(admission.bodyCheck, headers, Buffer.from(`{"id":"${'a'.repeat(300)}"}`));
  t.same(isDenial(tooBig) ? [tooBig.decision, tooBig.answer.status] : 'passed', ['body_too_large', 413]);
});

t.test('recheck: an open connection stays while its token still matches the job', async (t) => {
  const { access } = setup();
  t.equal(await access.recheck(scoped.record, 'nb1'), undefined);
  t.equal(await access.recheck(operator.record, 'nb2'), undefined);
  t.equal(await access.recheck(scoped.record, 'nb2'), 'token no longer matches the job labels');
  t.equal(await access.recheck(scoped.record, 'nb9'), 'job removed');
  t.equal(await access.recheck(operator.record, 'nb9'), 'job removed');
});
