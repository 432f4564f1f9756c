import t from 'tap';
import { mintToken } from '../../src/tokens/format.js';
import { bearer, request } from '../helpers/http.js';
import { startHarness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

t.test('wrong logins and invalid deep links count toward the failure limit; stale cookies do not', async (t) => {
  const up = await Upstream.start();
  const h = await startHarness({ JOBGATE_AUTH_FAILURE_LIMIT: '3' });
  t.teardown(async () => {
    await h.close();
    await up.close();
  });
  await h.jobs.put({ id: 'nb1', upstream: up.url });
  const { value } = await h.tokens.create({ name: 'x', role: 'read' });
  const host = 'nb1.job.test';
  const form = (token: string) =>
    request(h.url, {
      method: 'POST',
      host,
      path: '/__jobgate/login',
      body: `token=${token}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });

  for (let i = 0; i < 5; i++) {
    const stale = await request(h.url, { host, headers: { cookie: 'jobgate=stale.cookie.value' } });
    t.equal(stale.status, 401, 'a stale cookie: 401, not counted');
  }
  t.equal((await form('wrong')).status, 401);
  t.equal((await form(value.replace(/.$/, '0') === value ? value.replace(/.$/, '1') : value.replace(/.$/, '0'))).status, 401);
  const link = await request(h.url, { host, path: '/?jobgate_token=nope&a=1' });
  t.equal(link.status, 303);
  t.equal(link.headers.location, '/?a=1');
  t.equal(link.headers['set-cookie'], undefined);
  const limited = await form(value);
  t.equal(limited.status, 429, 'the third failure reached the limit: even a valid, uncached token waits');
  t.match(limited.headers['retry-after'], /^\d+$/);
  t.match(limited.body, /Too many failed attempts/);
});

t.test('past the failure limit, a token known valid keeps passing after its cache entry ages; guesses stay 429', async (t) => {
  const up = await Upstream.start();
  // The shortest TTL: the valid tokens' entries age many times over while the address is limited.
  const h = await startHarness({ JOBGATE_CACHE_TTL_MS: '100' });
  t.teardown(async () => {
    await h.close();
    await up.close();
  });
  await h.jobs.put({ id: 'nb1', upstream: up.url });
  const valid = await h.tokens.create({ name: 'valid', role: 'read' });
  const viaForm = await h.tokens.create({ name: 'via-form', role: 'read' });
  const host = 'nb1.job.test';
  const get = (token: string) => request(h.url, { host, headers: bearer(token), timeoutMs: 30_000 });
  const form = (token: string) =>
    request(h.url, {
      method: 'POST',
      host,
      path: '/__jobgate/login',
      body: `token=${token}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      timeoutMs: 30_000,
    });

  t.equal((await get(valid.value)).status, 200, 'the valid token is used');
  t.equal((await form(viaForm.value)).status, 303, 'the other logs in');
  let last = 0;
  for (let i = 0; i < 61; i++) last = (await get(mintToken().value)).status;
  t.equal(last, 429, '61 bad tokens: the address is limited');

  // Poll until jobgate had to reload each valid token from Redis (its entry aged): every answer a pass.
  const misses = () => h.jobgate.registry.stats.tokens.misses;
  const keepsPassing = async (attempt: () => Promise<number>, expected: number, what: string) => {
    const before = misses();
    const deadline = Date.now() + 30_000;
    const statuses = new Set<number>();
    while (misses() === before && Date.now() < deadline) {
      statuses.add(await attempt());
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    t.not(misses(), before, `${what}: its cache entry aged and was refreshed from Redis`);
    statuses.add(await attempt());
    t.same([...statuses], [expected], `${what}: ${expected} every time, before and after the refresh`);
  };
  await keepsPassing(async () => (await get(valid.value)).status, 200, 'bearer');
  await keepsPassing(async () => (await form(viaForm.value)).status, 303, 'login form');

  const reloads = misses();
  t.equal((await get(mintToken().value)).status, 429, 'a new bad token is still 429');
  t.equal((await get(mintToken(valid.record.id).value)).status, 429, "a guess at the valid token's secret is 429");
  t.equal((await form(mintToken(viaForm.record.id).value)).status, 429, 'on the login form too');
  t.equal(misses(), reloads, 'and no guess reached Redis');
});
