import t from 'tap';
import { buildApiPolicy } from '../../src/api/policy.js';
import { FailureLimiter } from '../../src/auth/failure-limit.js';
import {
  ApiAccess,
  Authenticator,
  Gate,
  hostName,
  isDenial,
  isPromise,
  JobRouter,
  type GateRequest,
  type Target,
  type UsageSink,
} from '../../src/gate/index.js';
import { CachedRegistry } from '../../src/registry/cache.js';
import { RedisRegistry } from '../../src/registry/registry.js';
import { HostRouter } from '../../src/routing/host.js';
import { SessionCookies } from '../../src/session/cookie.js';
import { sessionKeys } from '../../src/session/keys.js';
import { switchSessionPage } from '../../src/session/pages.js';
import { startGateStores } from '../helpers/gate-stores.js';

/**
 * The gate's entry points on a real Redis (src/gate/gate.ts, deep-link.ts): which host is the
 * control API or the training API, which admissions are noted as a use, the origin check on
 * session requests, the Set-Cookie a refusal clears a stale session with, and what a deep link
 * comes to (redirect, the question before switching sessions, or a denial).
 */

const DOMAIN = 'job.test';
const { server, tokens, jobs } = await startGateStores(t);

await jobs.put({ id: 'nb1', upstream: 'http://127.0.0.1:1/', labels: { team: 'a' } });
await jobs.put({ id: 'nb2', upstream: 'http://127.0.0.1:2/', labels: { team: 'b' } });
await jobs.put({ id: 'open', upstream: 'http://127.0.0.1:3/', unsecureHttp: true });
const reader = await tokens.create({ name: 'reader <a>', role: 'read', labelSelector: 'team=a' });
const second = await tokens.create({ name: 'second', role: 'read' });
const operator = await tokens.create({ name: 'operator', role: 'operator' });

interface Setup {
  readonly gate: Gate;
  readonly used: [string | undefined, string | undefined][];
}
function setup({ controlHost, api = true, limit = 1000 }: { controlHost?: string; api?: boolean; limit?: number } = {}): Setup {
  const registry = new CachedRegistry(new RedisRegistry(tokens, jobs), { maxEntries: 100, ttlMs: 300_000, negativeTtlMs: 0, outageGraceMs: 0 });
  const authenticator = new Authenticator(registry, new FailureLimiter(limit), new SessionCookies(sessionKeys(['s'.repeat(32)]), 3600));
  const used: Setup['used'] = [];
  const usage: UsageSink = { used: (tokenId, jobId) => used.push([tokenId, jobId]) };
  const apiAccess = api
    ? new ApiAccess(
        { hosts: new Set(['api.test']), upstream: new URL('http://127.0.0.1:9/'), policy: buildApiPolicy([]), maxBodyBytes: 1024 },
        authenticator,
        registry,
      )
    : undefined;
  const router = new JobRouter({ kind: 'gateway', router: new HostRouter(DOMAIN) }, registry);
  return { gate: new Gate(router, authenticator, apiAccess, controlHost, usage), used };
}

function view(host: string, overrides: Partial<GateRequest> & { bearer?: string; cookie?: string } = {}): GateRequest {
  const { bearer, cookie, ...rest } = overrides;
  const headers = { ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }), ...(cookie === undefined ? {} : { cookie }), ...rest.headers };
  const rawHeaders = Object.entries(headers).flatMap(([name, value]) => [name, String(value)]);
  return { method: 'GET', host, publicHost: host, url: '/', client: '192.0.2.1', https: false, ...rest, headers, rawHeaders };
}

async function targetOf(gate: Gate, host: string): Promise<Target> {
  const target = await gate.target(view(host));
  if (isDenial(target)) throw new Error(`no target for ${host}: ${target.decision}`);
  return target;
}

async function sessionCookie(gate: Gate, value: string, host = `nb1.${DOMAIN}`): Promise<string> {
  const exchange = await gate.exchange(value, view(host), await targetOf(gate, host));
  if (isDenial(exchange) || exchange.kind !== 'session') throw new Error('no session');
  return exchange.setCookie.split(';')[0]!;
}

t.test('the control API and the training API: by host name, in any case and with a port', async (t) => {
  const { gate } = setup({ controlHost: 'control.test' });
  t.equal(gate.isControl(view('control.test')), true);
  t.equal(gate.isControl(view('Control.TEST:8443')), true);
  t.equal(gate.isControl(view('control.test.example')), false);
  t.equal(gate.isControl(view(`nb1.${DOMAIN}`)), false);
  t.equal(setup().gate.isControl(view('control.test')), false, 'no control host configured');
  t.equal(setup().gate.isControl({ ...view(''), host: undefined }), false, 'no Host, no control host');

  t.ok(gate.apiFor(view('API.test:443')), 'the API host');
  t.equal(gate.apiFor(view('api.test.example')), undefined);
  t.equal(gate.apiFor(view(`nb1.${DOMAIN}`)), undefined);
  t.equal(setup({ api: false }).gate.apiFor(view('api.test')), undefined, 'no API configured');

  const token = await gate.authenticateForControl(view('control.test', { bearer: operator.value }));
  t.equal(isDenial(token) ? token.decision : token.id, operator.record.id, 'a control request: its bearer token');
  const none = await gate.authenticateForControl(view('control.test'));
  t.equal(isDenial(none) ? none.decision : none.id, 'missing_token');
});

t.test('admissions to a job: noted as a use of the token and the job; refusals are not', async (t) => {
  const { gate, used } = setup();
  const nb1 = await targetOf(gate, `nb1.${DOMAIN}`);
  const open = await targetOf(gate, `open.${DOMAIN}`);
  t.equal((await gate.admitToJob(view(`nb1.${DOMAIN}`, { bearer: reader.value }), nb1, false)).decision, 'allowed');
  const warm = gate.admitToJob(view(`nb1.${DOMAIN}`, { bearer: reader.value }), nb1, false);
  t.notOk(isPromise(warm), 'a warm cache answers at once');
  t.equal((await gate.admitToJob(view(`nb1.${DOMAIN}`), nb1, false)).decision, 'missing_token');
  t.equal((await gate.admitToJob(view(`open.${DOMAIN}`), open, false)).decision, 'allowed_unsecure');
  gate.used('tok', 'job');
  gate.used(undefined);
  t.same(used, [
    [reader.record.id, 'nb1'],
    [reader.record.id, 'nb1'],
    [undefined, 'open'],
    ['tok', 'job'],
    [undefined, undefined],
  ]);
});

t.test('a session request from another origin: refused, naming the job and the token', async (t) => {
  const { gate, used } = setup();
  const host = `nb1.${DOMAIN}`;
  const nb1 = await targetOf(gate, host);
  const cookie = await sessionCookie(gate, reader.value);
  const cases: [string, GateRequest, boolean, string][] = [
    ['a GET from anywhere', view(host, { cookie, headers: { origin: 'http://evil.test' } }), false, 'allowed'],
    ['a POST from the job', view(host, { method: 'POST', cookie, headers: { origin: `http://${host}` } }), false, 'allowed'],
    ['a POST from a neighbour', view(host, { method: 'POST', cookie, headers: { origin: `http://nb2.${DOMAIN}` } }), false, 'foreign_origin'],
    ['a WebSocket from a neighbour', view(host, { cookie, headers: { origin: `http://nb2.${DOMAIN}` } }), true, 'foreign_origin'],
    ['a WebSocket from the job, its origin in capitals', view(host, { cookie, headers: { origin: `HTTP://NB1.JOB.TEST` } }), true, 'allowed'],
    ['a WebSocket without Origin', view(host, { cookie }), true, 'allowed'],
    ['a bearer POST from anywhere', view(host, { method: 'POST', bearer: reader.value, headers: { origin: 'http://evil.test' } }), false, 'allowed'],
  ];
  for (const [what, req, websocket, decision] of cases) {
    const result = await gate.admitToJob(req, nb1, websocket);
    t.equal(result.decision, decision, what);
    if (isDenial(result)) {
      t.same([result.answer.status, result.jobId, result.tokenId], [403, 'nb1', reader.record.id], `${what}: whom it is about`);
    }
  }
  t.equal(used.length, 5, 'only the five admissions noted');
});

t.test('a refusal clears a stale session cookie, for the scheme the client used', async (t) => {
  const { gate } = setup();
  const nb1 = await targetOf(gate, `nb1.${DOMAIN}`);
  for (const https of [false, true]) {
    const name = https ? '__Host-jobgate' : 'jobgate';
    const req = view(`nb1.${DOMAIN}`, { https, cookie: `${name}=forged` });
    const denial = await gate.admitToJob(req, nb1, false);
    if (!isDenial(denial)) throw new Error('admitted');
    t.same(gate.refusal(denial, req).headers['set-cookie'], gate.clearSession(https), `https: ${https}`);
  }
  t.same(gate.clearSession(false), ['jobgate=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax']);
  t.same(gate.clearSession(true), [
    'jobgate=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure',
    '__Host-jobgate=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure',
  ]);
  const missing = await gate.admitToJob(view(`nb1.${DOMAIN}`), nb1, false);
  if (!isDenial(missing)) throw new Error('admitted');
  t.equal(gate.refusal(missing, view(`nb1.${DOMAIN}`)).headers['set-cookie'], undefined, 'no cookie, nothing to clear');
});

t.test('a deep link: the redirect, with a session when the token opens one', async (t) => {
  const { gate } = setup({ limit: 2 });
  const host = `nb1.${DOMAIN}`;
  const nb1 = await targetOf(gate, host);
  const opened = await gate.followDeepLink(view(host), nb1, { token: ` ${reader.value} `, rest: '/lab' });
  if (isDenial(opened) || opened.kind !== 'redirect') throw new Error('no redirect');
  t.same(
    { ...opened, setCookie: opened.setCookie?.split('=')[0] },
    { kind: 'redirect', decision: 'deep_link', tokenId: reader.record.id, setCookie: 'jobgate' },
  );
  const cookie = opened.setCookie!.split(';')[0]!;
  t.equal((await gate.admitToJob(view(host, { cookie }), nb1, false)).decision, 'allowed', 'the session opens the job');

  const nb2 = await targetOf(gate, `nb2.${DOMAIN}`);
  t.same(await gate.followDeepLink(view(`nb2.${DOMAIN}`), nb2, { token: reader.value, rest: '/' }), {
    kind: 'redirect',
    decision: 'deep_link_out_of_scope',
    tokenId: reader.record.id,
    setCookie: undefined,
  });
  t.same(await gate.followDeepLink(view(host), nb1, { token: 'nonsense', rest: '/' }), {
    kind: 'redirect',
    decision: 'deep_link_invalid',
    tokenId: undefined,
    setCookie: undefined,
  });
  await gate.followDeepLink(view(host), nb1, { token: 'nonsense', rest: '/' });
  t.same(await gate.followDeepLink(view(host), nb1, { token: 'nonsense', rest: '/' }), {
    kind: 'redirect',
    decision: 'deep_link_limited',
    tokenId: undefined,
    setCookie: undefined,
  });
});

t.test('a deep link from elsewhere does not silently replace a valid session of another token', async (t) => {
  const { gate } = setup();
  const host = `nb1.${DOMAIN}`;
  const nb1 = await targetOf(gate, host);
  const cookie = await sessionCookie(gate, reader.value);
  const link = { token: ` ${second.value} `, rest: '/lab?x=1' };
  const asked = await gate.followDeepLink(view(host, { cookie, headers: { 'sec-fetch-site': 'same-site' } }), nb1, link);
  t.same(asked, {
    kind: 'ask',
    currentTokenId: reader.record.id,
    page: switchSessionPage({ jobId: 'nb1', currentTokenName: 'reader <a>', token: second.value, next: '/lab?x=1' }),
  });
  const decisionOf = async (req: GateRequest, token = second.value) => {
    const result = await gate.followDeepLink(req, nb1, { token, rest: '/' });
    return isDenial(result) ? result.decision : result.kind === 'ask' ? 'ask' : result.decision;
  };
  t.equal(await decisionOf(view(host, { cookie })), 'ask', 'no Sec-Fetch-Site: elsewhere');
  t.equal(await decisionOf(view(host, { cookie, headers: { 'sec-fetch-site': 'cross-site' } })), 'ask');
  t.equal(await decisionOf(view(host, { cookie, headers: { 'sec-fetch-site': 'same-origin' } })), 'deep_link', "from the job's own pages");
  t.equal(await decisionOf(view(host, { cookie, headers: { 'sec-fetch-site': 'none' } })), 'deep_link', 'typed or pasted');
  t.equal(await decisionOf(view(host, { cookie }), reader.value), 'deep_link', 'the same token');
  t.equal(await decisionOf(view(host, { cookie }), 'nonsense'), 'deep_link_invalid', 'not a token: opens nothing, asks nothing');
  t.equal(await decisionOf(view(host, { cookie }), `${second.value}${' '.repeat(600)}`), 'ask', 'spaces around the token: still read, still asked');
  t.equal(await decisionOf(view(host, { cookie: `${cookie}x` })), 'deep_link', 'a session that does not hold');
  t.equal(await decisionOf(view(host)), 'deep_link', 'no session');

  server.pause();
  t.teardown(() => server.resume());
  const fresh = setup().gate;
  t.equal(
    await (async () => {
      const result = await fresh.followDeepLink(view(host, { cookie }), nb1, link);
      return isDenial(result) ? `${result.decision} ${result.answer.status}` : result.kind;
    })(),
    'store_unavailable 503',
    'the current session cannot be checked: 503, never replaced',
  );
  server.resume();
});

t.test('hostName: the host a session and the control and API hosts are matched on', async (t) => {
  const cases: [string | undefined, string][] = [
    ['NB1.Job.Test', 'nb1.job.test'],
    ['nb1.job.test:8443', 'nb1.job.test'],
    ['nb1.job.test:', 'nb1.job.test'],
    ['[::1]', '[::1]'],
    ['[::1]:8080', '[::1]'],
    ['[FE80::1]', '[fe80::1]'],
    ['', ''],
    [undefined, ''],
  ];
  for (const [host, name] of cases) t.equal(hostName(host), name, String(host));
});
