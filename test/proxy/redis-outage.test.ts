import t, { type Test } from 'tap';
import { request, type Reply } from '../helpers/http.js';
import { startHarness, waitFor, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

const up = await Upstream.start('outage-upstream');
const harnesses: Harness[] = [];

t.teardown(async () => {
  for (const harness of harnesses) {
    harness.redisServer.resume();
    await harness.close();
  }
  await up.close();
});

async function harness(env: Record<string, string> = {}): Promise<Harness> {
  const started = await startHarness(env);
  harnesses.push(started);
  return started;
}

/** A proxied request; a hang fails the test (jobgate answers within 1 s; the bound here leaves room for a busy machine). */
function get(h: Harness, token: string | undefined, host = 'nb1.job.test'): Promise<Reply> {
  return request(h.url, { host, path: '/outage', headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, timeoutMs: 30_000 });
}

interface Readiness {
  readonly status: number;
  readonly reasons: string[];
}

async function readyz(h: Harness): Promise<Readiness> {
  const reply = await request(h.adminUrl, { path: '/readyz', timeoutMs: 30_000 });
  return { status: reply.status, reasons: reply.json<{ reasons?: string[] }>().reasons ?? [] };
}

/** Asserts a 503 `unavailable` answer with jobgate's JSON error body. */
function assertUnavailable(t: Test, reply: Reply, what: string): void {
  t.equal(reply.status, 503, `${what}: 503`);
  t.match(reply.headers['content-type'], /^application\/json/, `${what}: JSON`);
  t.equal(reply.json().error, 'unavailable', `${what}: error is unavailable`);
  t.type(reply.json().message, 'string', `${what}: a message`);
}

async function seed(h: Harness): Promise<string> {
  // The admin client reconnects in the background after a restart: retry until it can write.
  await waitFor(async () => {
    await h.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'a' } });
    return true;
  }, 10_000);
  const { value } = await h.tokens.create({ name: 'alice', role: 'read', labelSelector: 'team=a' });
  return value;
}

// jobgate caches records for JOBGATE_CACHE_TTL_MS and serves them within it even when Redis is
// down (JOBGATE_OUTAGE_GRACE_MS=0 serves nothing past it). The shortest TTL keeps the cache
// from masking the outage; waitForCacheExpiry lets entries cached before it lapse.
const CACHE_TTL_MS = 100;
const waitForCacheExpiry = () => new Promise((resolve) => setTimeout(resolve, 3 * CACHE_TTL_MS));

const h = await harness({ JOBGATE_CACHE_TTL_MS: String(CACHE_TTL_MS) });
let token = await seed(h);

t.test('a killed Redis gives 503 unavailable, and jobgate recovers on restart', async (t) => {
  t.equal((await get(h, token)).status, 200, 'served before the outage');
  t.same(await readyz(h), { status: 200, reasons: [] });
  const reached = up.received.length;

  await h.redisServer.stop();
  await waitFor(async () => (await readyz(h)).status === 503);
  await waitForCacheExpiry();
  const notReady = await readyz(h);
  t.equal(notReady.status, 503, '/readyz is 503 while Redis is down');
  t.ok(
    notReady.reasons.some((reason) => /redis/i.test(reason)),
    `/readyz says why (${JSON.stringify(notReady.reasons)})`,
  );

  assertUnavailable(t, await get(h, token), 'a valid token');
  const burst = await Promise.all(Array.from({ length: 10 }, () => get(h, token)));
  t.same(
    burst.map((reply) => [reply.status, reply.json().error]),
    Array(10).fill([503, 'unavailable']),
    '10 concurrent requests: 503 unavailable',
  );
  assertUnavailable(t, await get(h, undefined), 'no token');
  t.equal(up.received.length, reached, 'nothing reached the upstream while Redis was down');

  await h.redisServer.restart();
  // The new Redis is empty: the old token and job are gone until re-seeded.
  await waitFor(async () => (await get(h, token)).status !== 503, 10_000);
  const empty = await get(h, token);
  t.equal(empty.status, 404, 'an empty Redis knows no job');
  token = await seed(h);
  await waitFor(async () => (await get(h, token)).status === 200, 10_000);
  const back = await get(h, token);
  t.equal(back.status, 200, 'served again without restarting jobgate');
  t.equal(back.json().name, 'outage-upstream');
  await waitFor(async () => (await readyz(h)).status === 200, 10_000);
  t.same(await readyz(h), { status: 200, reasons: [] }, '/readyz is 200 again');
});

t.test('a hung Redis gives 503 within the timeout, and jobgate recovers on resume', async (t) => {
  t.equal((await get(h, token)).status, 200, 'served before the hang');
  const reached = up.received.length;

  h.redisServer.pause();
  try {
    await waitForCacheExpiry();
    assertUnavailable(t, await get(h, token), 'a valid token');
    const burst = await Promise.all(Array.from({ length: 5 }, () => get(h, token)));
    t.same(
      burst.map((reply) => [reply.status, reply.json().error]),
      Array(5).fill([503, 'unavailable']),
      '5 concurrent requests: 503 unavailable',
    );
    await waitFor(async () => (await readyz(h)).status === 503);
    const notReady = await readyz(h);
    t.equal(notReady.status, 503, '/readyz turns 503 while Redis hangs');
    t.ok(
      notReady.reasons.some((reason) => /redis/i.test(reason)),
      `/readyz says why (${JSON.stringify(notReady.reasons)})`,
    );
    assertUnavailable(t, await get(h, token), 'still hung');
    t.equal(up.received.length, reached, 'nothing reached the upstream while Redis hung');
  } finally {
    h.redisServer.resume();
  }

  await waitFor(async () => (await get(h, token)).status === 200, 10_000);
  t.equal((await get(h, token)).status, 200, 'served again after resume');
  await waitFor(async () => (await readyz(h)).status === 200, 10_000);
  t.same(await readyz(h), { status: 200, reasons: [] }, '/readyz is 200 again');
});

t.test('sidecar mode: a missing job record gives 503 naming the job until it is registered', async (t) => {
  const side = await harness({ JOBGATE_SIDECAR_JOB: 'side', JOBGATE_SIDECAR_UPSTREAM: up.url });
  const teamA = await side.tokens.create({ name: 'alice', role: 'read', labelSelector: 'team=a' });
  const teamB = await side.tokens.create({ name: 'bob', role: 'read', labelSelector: 'team=b' });
  const reached = up.received.length;

  const missing = await get(side, teamA.value, 'whatever.example');
  t.equal(missing.status, 503);
  t.equal(missing.json().error, 'job_not_registered');
  t.match(missing.json().message, /"side"/, 'the message names the job');

  await waitFor(async () => (await readyz(side)).reasons.some((reason) => reason.includes('side')));
  const notReady = await readyz(side);
  t.equal(notReady.status, 503);
  t.ok(
    notReady.reasons.some((reason) => /\bside\b/.test(reason)),
    `/readyz names the job (${JSON.stringify(notReady.reasons)})`,
  );
  t.equal(up.received.length, reached, 'nothing reached the upstream');

  // The record's upstream is unreachable: the sidecar upstream must win.
  await side.jobs.put({ id: 'side', upstream: 'http://127.0.0.1:1', labels: { team: 'a' } });
  // The put's invalidation message reaches jobgate asynchronously (it drops the "unknown" entry).
  await waitFor(async () => (await get(side, teamA.value, 'whatever.example')).status !== 503);
  const allowed = await get(side, teamA.value, 'whatever.example');
  t.equal(allowed.status, 200, 'a team=a token is served');
  t.equal(allowed.json().name, 'outage-upstream', "by the sidecar upstream, not the record's");
  t.equal(up.last.headers['x-jobgate-token-id'], teamA.record.id);

  const denied = await get(side, teamB.value, 'whatever.example');
  t.equal(denied.status, 403, 'a team=b token is refused');
  t.equal(denied.json().error, 'insufficient_scope');
  t.equal(up.received.length, reached + 2, 'only allowed requests reached the upstream');

  await waitFor(async () => (await readyz(side)).status === 200, 10_000);
  t.same(await readyz(side), { status: 200, reasons: [] }, '/readyz turns 200 once the job is registered');
});

// Every route, not only bearer requests on job hosts: jobgate's own pages and the
// forward-auth endpoint must also answer 503 (never 500, never a hang) in an outage. The job
// record is cached (a long TTL, warmed before the outage) and the tokens are new to jobgate,
// so each request reaches the lookup that Redis cannot answer.
const ANSWER_WITHIN_MS = 30_000;
for (const outage of ['down', 'hung'] as const) {
  t.test(`Redis ${outage}: login, deep link, logout, API, forward-auth and WebSocket routes answer 503, not 500`, async (t) => {
    const w = await harness({
      JOBGATE_CACHE_TTL_MS: '300000',
      JOBGATE_AUTHZ_LISTEN: '127.0.0.1:0',
      JOBGATE_API_HOST: 'api.test',
      JOBGATE_API_UPSTREAM: up.url,
    });
    await seed(w);
    const fresh = async () => (await w.tokens.create({ name: 'fresh', role: 'operator' })).value;
    const [login, link, api, ws, authzBearer, authzLink, authzWs] = [
      await fresh(),
      await fresh(),
      await fresh(),
      await fresh(),
      await fresh(),
      await fresh(),
      await fresh(),
    ];
    t.equal((await request(w.url, { host: 'nb1.job.test', path: '/warm' })).status, 401, 'the job record is cached before the outage');
    const reached = up.received.length;

    if (outage === 'down') await w.redisServer.stop();
    else w.redisServer.pause();
    t.teardown(() => w.redisServer.resume());

    const job = (options: { method?: string; path: string; headers?: Record<string, string>; body?: string; host?: string }) =>
      request(w.url, { host: 'nb1.job.test', timeoutMs: ANSWER_WITHIN_MS, ...options });
    const authz = (headers: Record<string, string>) =>
      request(`http://127.0.0.1:${w.jobgate.authzAddress!.port}`, {
        path: '/__jobgate_authz',
        host: '127.0.0.1',
        headers: { 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'http', 'x-forwarded-for': '203.0.113.7', ...headers },
        timeoutMs: ANSWER_WITHIN_MS,
      });
    const handshake = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };

    const form = { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://nb1.job.test', accept: 'text/html' };
    assertUnavailable(t, await job({ method: 'POST', path: '/__jobgate/login', headers: form, body: `token=${login}&next=%2F` }), 'login form');
    const deepLink = await job({ path: `/lab?jobgate_token=${link}`, headers: { accept: 'text/html' } });
    // A browser's navigation: the 503 as a page for the person (API clients get the JSON below).
    t.equal(deepLink.status, 503, 'deep link: 503');
    t.match(deepLink.headers['content-type'], /^text\/html/, 'deep link: a page, for a navigation');
    t.match(deepLink.body, /Access cannot be checked right now/, 'deep link: says what happened');
    t.notOk(deepLink.body.includes(link), 'deep link: the page does not echo the token');
    t.equal(deepLink.headers['set-cookie'], undefined, 'deep link: no session');
    assertUnavailable(t, await job({ path: `/lab?jobgate_token=${link}`, headers: { accept: 'application/json' } }), 'deep link from a script');
    assertUnavailable(t, await job({ path: '/__jobgate/logout', host: 'nb2.job.test' }), 'logout on a job not cached');
    const logout = await job({ path: '/__jobgate/logout' });
    t.equal(logout.status, 200, 'logout on a cached job needs no Redis: the cookie is cleared');
    t.match(String(logout.headers['set-cookie']), /Max-Age=0/);
    assertUnavailable(t, await job({ path: '/bearer', headers: { authorization: `Bearer ${api}` } }), 'bearer request');
    assertUnavailable(
      t,
      await request(w.url, { host: 'api.test', path: '/v1/jobs', headers: { authorization: `Bearer ${api}` }, timeoutMs: ANSWER_WITHIN_MS }),
      'API host',
    );
    assertUnavailable(t, await job({ path: '/ws', headers: { ...handshake, authorization: `Bearer ${ws}` } }), 'WebSocket upgrade');
    assertUnavailable(
      t,
      await request(w.url, { host: 'api.test', path: '/v1/ws', headers: { ...handshake, authorization: `Bearer ${ws}` }, timeoutMs: ANSWER_WITHIN_MS }),
      'API WebSocket upgrade',
    );
    assertUnavailable(
      t,
      await authz({ 'x-forwarded-host': 'nb1.job.test', 'x-forwarded-uri': '/lab', authorization: `Bearer ${authzBearer}` }),
      'forward-auth bearer',
    );
    const authzDeepLink = await authz({ 'x-forwarded-host': 'nb1.job.test', 'x-forwarded-uri': `/lab?jobgate_token=${authzLink}`, accept: 'text/html' });
    t.equal(authzDeepLink.status, 503, 'forward-auth deep link: 503');
    t.match(authzDeepLink.body, /Access cannot be checked right now/, 'forward-auth deep link: the same page as inline, for a navigation');
    t.notOk(authzDeepLink.body.includes(authzLink), 'forward-auth deep link: the page does not echo the token');
    assertUnavailable(
      t,
      await authz({ 'x-forwarded-host': 'nb1.job.test', 'x-forwarded-uri': `/lab?jobgate_token=${authzLink}`, accept: 'application/json' }),
      'forward-auth deep link from a script',
    );
    assertUnavailable(
      t,
      await authz({
        'x-forwarded-host': 'nb1.job.test',
        'x-forwarded-uri': '/ws',
        'sec-websocket-key': handshake['sec-websocket-key'],
        authorization: `Bearer ${authzWs}`,
      }),
      'forward-auth WebSocket',
    );
    assertUnavailable(
      t,
      await authz({ 'x-forwarded-host': 'api.test', 'x-forwarded-uri': '/v1/jobs', authorization: `Bearer ${authzBearer}` }),
      'forward-auth API',
    );
    t.equal(up.received.length, reached, 'nothing reached an upstream');
    t.notOk(
      w.log.lines.some((line) => line.event === 'internal_error'),
      'no internal error logged',
    );
  });
}
