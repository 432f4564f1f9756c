import t from 'tap';
import { request } from '../helpers/http.js';
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
    request(h.url, { method: 'POST', host, path: '/__jobgate/login', body: `token=${token}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });

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
