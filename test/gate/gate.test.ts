import t from 'tap';
import { buildApiPolicy } from '../../src/api/policy.js';
import { FailureLimiter } from '../../src/auth/failure-limit.js';
import { ApiAccess, Authenticator, Gate, isDenial, JobRouter, type GateRequest, type Target } from '../../src/gate/index.js';
import { CachedRegistry } from '../../src/registry/cache.js';
import { RedisRegistry } from '../../src/registry/registry.js';
import { HostRouter } from '../../src/routing/host.js';
import { SessionCookies } from '../../src/session/cookie.js';
import { sessionKeys } from '../../src/session/keys.js';
import { startGateStores } from '../helpers/gate-stores.js';

/**
 * The gate alone, without a listener: request views in, decisions out, on a real Redis. The
 * inline proxy and the forward-auth endpoint only build the view and write the answer, so a
 * rule tested here holds for both (test/authz/differential.test.ts checks that they agree).
 */

const DOMAIN = 'job.test';
const { server, tokens, jobs } = await startGateStores(t);

await jobs.put({ id: 'nb1', upstream: 'http://127.0.0.1:1', ports: { '8888': 'http://127.0.0.1:4' }, labels: { team: 'a' } });
await jobs.put({ id: 'open', upstream: 'http://127.0.0.1:2', unsecureHttp: true });
const reader = await tokens.create({ name: 'reader', role: 'read', labelSelector: 'team=a' });
const other = await tokens.create({ name: 'other-team', role: 'read', labelSelector: 'team=b' });
const operator = await tokens.create({ name: 'operator', role: 'operator' });
const second = await tokens.create({ name: 'second', role: 'read' });

/** A gate with empty caches over the test's Redis (a TTL far longer than the test). */
function newGate(): Gate {
  const registry = new CachedRegistry(new RedisRegistry(tokens, jobs), { maxEntries: 100, ttlMs: 300_000, negativeTtlMs: 0, outageGraceMs: 0 });
  const authenticator = new Authenticator(registry, new FailureLimiter(1000), new SessionCookies(sessionKeys(['x'.repeat(32)]), 3600));
  const api = new ApiAccess(
    { hosts: new Set(['api.test']), upstream: new URL('http://127.0.0.1:3'), policy: buildApiPolicy([]), maxBodyBytes: 1024 },
    authenticator,
    registry,
  );
  return new Gate(new JobRouter({ kind: 'gateway', router: new HostRouter(DOMAIN) }, registry), authenticator, api);
}

function view(host: string, overrides: Partial<GateRequest> & { bearer?: string } = {}): GateRequest {
  const headers = { ...(overrides.bearer ? { authorization: `Bearer ${overrides.bearer}` } : {}), ...overrides.headers };
  const rawHeaders = Object.entries(headers).flatMap(([name, value]) => [name, String(value)]);
  return { method: 'GET', host, publicHost: host, url: '/', client: '192.0.2.1', https: false, ...overrides, headers, rawHeaders };
}

async function targetOf(gate: Gate, host: string): Promise<Target> {
  const target = await gate.target(view(host));
  if (isDenial(target)) throw new Error(`no target for ${host}: ${target.decision}`);
  return target;
}

/** The decision of the gate for a request to a job host. */
async function jobDecision(gate: Gate, request: GateRequest, websocket = false): Promise<string> {
  const target = await gate.target(request);
  if (isDenial(target)) return target.decision;
  return (await gate.admitToJob(request, target, websocket)).decision;
}

t.test('which job, and who may reach it: one table for every entry point', async (t) => {
  const gate = newGate();
  const cases: [string, GateRequest, string][] = [
    ['a host outside the job domain', view('elsewhere.test'), 'no_route'],
    ['an unknown job', view(`nb9.${DOMAIN}`), 'unknown_job'],
    ['an unknown port of a job', view(`nb1-9999.${DOMAIN}`), 'unknown_port'],
    ['another port of a job, without credential', view(`nb1-8888.${DOMAIN}`), 'missing_token'],
    ['another port of a job, with a token', view(`nb1-8888.${DOMAIN}`, { bearer: reader.value }), 'allowed'],
    ['no credential', view(`nb1.${DOMAIN}`), 'missing_token'],
    ['a matching read token', view(`nb1.${DOMAIN}`, { bearer: reader.value }), 'allowed'],
    ['a token whose selector does not match', view(`nb1.${DOMAIN}`, { bearer: other.value }), 'scope_denied'],
    ['an unscoped operator token', view(`nb1.${DOMAIN}`, { bearer: operator.value }), 'allowed'],
    ['a token of the wrong shape', view(`nb1.${DOMAIN}`, { bearer: 'not-a-token' }), 'malformed_token'],
    ['a forged secret', view(`nb1.${DOMAIN}`, { bearer: reader.value.replace(/_[0-9a-f]{64}_/, `_${'0'.repeat(64)}_`) }), 'malformed_token'],
    ['an unsecureHttp job without credential', view(`open.${DOMAIN}`), 'allowed_unsecure'],
    [
      'two Authorization headers',
      { ...view(`nb1.${DOMAIN}`, { bearer: reader.value }), rawHeaders: ['authorization', `Bearer ${reader.value}`, 'authorization', `Bearer ${other.value}`] },
      'duplicate_authorization',
    ],
  ];
  for (const [name, request, expected] of cases) t.equal(await jobDecision(gate, request), expected, name);
});

t.test('a session cookie: opened by a deep link, refused from other origins', async (t) => {
  const gate = newGate();
  const host = `nb1.${DOMAIN}`;
  const target = await targetOf(gate, host);
  const opened = await gate.followDeepLink(view(host), target, { token: reader.value, rest: '/lab' });
  if (isDenial(opened) || opened.kind !== 'redirect') throw new Error('the deep link did not open a session');
  t.equal(opened.decision, 'deep_link');
  t.equal(opened.tokenId, reader.record.id);
  const cookie = opened.setCookie!.split(';')[0]!;

  t.equal(await jobDecision(gate, view(host, { headers: { cookie } })), 'allowed', 'the cookie stands in for the token');
  t.equal(await jobDecision(gate, view(`open.${DOMAIN}`, { headers: { cookie } })), 'allowed_unsecure');
  t.equal(await jobDecision(gate, view(`nb1-8888.${DOMAIN}`, { headers: { cookie } })), 'missing_token', "another port's host is another session scope");
  t.equal(
    await jobDecision(gate, view(host, { method: 'POST', headers: { cookie, origin: `http://${host}` } })),
    'allowed',
    'a state change from the job itself',
  );
  t.equal(
    await jobDecision(gate, view(host, { method: 'POST', headers: { cookie, origin: 'http://nb2.job.test' } })),
    'foreign_origin',
    'a state change from a neighbour job',
  );
  t.equal(await jobDecision(gate, view(host, { method: 'POST', headers: { cookie } })), 'foreign_origin', 'a state change that names no origin');
  t.equal(
    await jobDecision(gate, view(host, { headers: { cookie, origin: 'http://nb2.job.test' } }), true),
    'foreign_origin',
    'a WebSocket opened by a neighbour job',
  );
  t.equal(await jobDecision(gate, view(host, { headers: { cookie, origin: `http://${host}` } }), true), 'allowed', 'a WebSocket of the job itself');
  t.equal(
    await jobDecision(gate, view(host, { method: 'POST', bearer: reader.value, headers: { origin: 'http://nb2.job.test' } })),
    'allowed',
    'a bearer token is no ambient credential: any origin',
  );

  const followed = await gate.followDeepLink(view(host, { headers: { cookie, 'sec-fetch-site': 'cross-site' } }), target, { token: second.value, rest: '/' });
  t.equal(isDenial(followed) ? followed.decision : followed.kind, 'ask', 'a link from elsewhere does not silently replace the session');
  const invalid = await gate.followDeepLink(view(host), target, { token: 'nonsense', rest: '/' });
  t.equal(isDenial(invalid) || invalid.kind !== 'redirect' ? 'unexpected' : invalid.decision, 'deep_link_invalid');
});

t.test('the training API: operator tokens, path hygiene first', async (t) => {
  const gate = newGate();
  const api = gate.apiFor(view('API.test:443'));
  t.ok(api, 'an API host, in any case and with a port');
  t.equal(gate.apiFor(view(`nb1.${DOMAIN}`)), undefined);
  const decision = async (request: GateRequest) => (await api!.admit(request, false)).decision;
  t.equal(await decision(view('api.test', { url: '/v1/job' })), 'missing_token');
  t.equal(await decision(view('api.test', { url: '/v1/job', bearer: reader.value })), 'role_denied');
  t.equal(await decision(view('api.test', { url: '/v1/job', bearer: operator.value })), 'allowed');
  t.equal(await decision(view('api.test', { url: '/v1/%2e%2e/job', bearer: operator.value })), 'bad_path', 'before the token is even looked at');
});

t.test('every route answers a store that does not answer with the same 503', async (t) => {
  const gate = newGate();
  server.pause();
  t.teardown(() => server.resume());
  const results: unknown[] = [
    await gate.target(view(`nb1.${DOMAIN}`)),
    await gate.apiFor(view('api.test'))!.admit(view('api.test', { url: '/v1/job', bearer: operator.value }), false),
  ];
  server.resume();
  const target = await targetOf(gate, `nb1.${DOMAIN}`);
  server.pause();
  results.push(
    await gate.admitToJob(view(`nb1.${DOMAIN}`, { bearer: reader.value }), target, false),
    await gate.followDeepLink(view(`nb1.${DOMAIN}`), target, { token: reader.value, rest: '/' }),
  );
  server.resume();
  for (const result of results) {
    t.ok(isDenial(result), 'denied, never let through');
    if (isDenial(result)) {
      t.equal(result.decision, 'store_unavailable');
      t.equal(result.answer.status, 503);
    }
  }
});
