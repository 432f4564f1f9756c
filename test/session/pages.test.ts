import t from 'tap';
import { request } from '../helpers/http.js';
import { freePort } from '../helpers/redis.js';
import { startHarness, waitFor } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

/**
 * Answers for people: a browser's navigation (Accept prefers HTML) that jobgate refuses or cannot
 * serve gets a page saying what happened and what to do; API clients and scripts keep the JSON.
 */

const up = await Upstream.start('nb');
const h = await startHarness({ JOBGATE_AUTHZ_LISTEN: '127.0.0.1:0' });
t.teardown(async () => {
  await h.close();
  await up.close();
});
await h.jobs.put({ id: 'nb1', upstream: up.url });
await h.jobs.put({ id: 'gone', upstream: `http://127.0.0.1:${await freePort()}` });
const { value } = await h.tokens.create({ name: 'reader', role: 'read' });

const NAVIGATION = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const API_CLIENT = { accept: 'application/json' };
const get = (host: string, headers: Record<string, string>, path = '/') => request(h.url, { host, path, headers });

t.test('a host outside the job domain: the 404 names the job domain and the scheme the client used', async (t) => {
  const json = await get('nb1.elsewhere.test', API_CLIENT);
  t.equal(json.status, 404);
  t.match(json.json(), { error: 'not_found', message: /http:\/\/<job-id>\.job\.test\// });
  t.notMatch(json.body, /https:/, 'a plain-HTTP listener does not send people to https');
  const page = await get('nb1.elsewhere.test', NAVIGATION);
  t.equal(page.status, 404);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.body, /<h1>Nothing is served here<\/h1>/);
  t.match(page.body, /http:\/\/&lt;job-id&gt;\.job\.test\//, 'the page names the job domain too');
  t.match(page.headers['content-security-policy'], /default-src 'none'/, "with the pages' headers");
});

t.test('an unknown job: a page for people, JSON for clients', async (t) => {
  const page = await get('nb9.job.test', NAVIGATION);
  t.equal(page.status, 404);
  t.match(page.body, /No job with this id is registered/);
  t.match(page.body, /<code>nb9<\/code>/);
  t.equal((await get('nb9.job.test', API_CLIENT)).json().error, 'not_found');
});

t.test('a job that does not answer: 502 with a page that links back to try again', async (t) => {
  const page = await get('gone.job.test', { ...NAVIGATION, authorization: `Bearer ${value}` }, '/lab?x=1');
  t.equal(page.status, 502);
  t.match(page.body, /<h1>The job is not answering<\/h1>/);
  t.match(page.body, /<a href="\/lab\?x=1">Try again<\/a>/);
  const json = await get('gone.job.test', { ...API_CLIENT, authorization: `Bearer ${value}` });
  t.equal(json.status, 502);
  t.equal(json.json().error, 'bad_gateway');
});

t.test('Redis does not answer: 503 with a page for people', async (t) => {
  h.redisServer.pause();
  t.teardown(() => h.redisServer.resume());
  const page = await get('nb7.job.test', NAVIGATION);
  const json = await get('nb7.job.test', API_CLIENT);
  h.redisServer.resume();
  t.equal(page.status, 503);
  t.match(page.body, /<h1>Access cannot be checked right now<\/h1>/);
  t.match(page.body, /Retry in a few seconds/);
  t.equal(json.status, 503);
  t.equal(json.json().error, 'unavailable');
});

t.test('a renewed or deleted token: the login page says the session ended because of it', async (t) => {
  const token = await h.tokens.create({ name: 'renewed', role: 'read' });
  const login = await request(h.url, {
    method: 'POST',
    host: 'nb1.job.test',
    path: '/__jobgate/login',
    body: `token=${token.value}&next=%2F`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://nb1.job.test' },
  });
  t.equal(login.status, 303);
  const cookie = String(login.headers['set-cookie']).split(';')[0]!;
  t.equal((await get('nb1.job.test', { ...NAVIGATION, cookie })).status, 200);
  await h.tokens.renew(token.record.id);
  await waitFor(async () => (await get('nb1.job.test', { ...NAVIGATION, cookie })).status === 401);
  const page = await get('nb1.job.test', { ...NAVIGATION, cookie });
  t.match(page.body, /Your session ended because its token was renewed or deleted/);
  t.notMatch(page.body, /renewed<\/code>|token\.record|reader/, 'nothing about the token beyond that');
  const fresh = await get('nb1.job.test', NAVIGATION);
  t.equal(fresh.status, 401);
  t.notMatch(fresh.body, /session ended/, 'a browser without a session gets the plain login page');
  const forged = await get('nb1.job.test', { ...NAVIGATION, cookie: 'jobgate=forged' });
  t.notMatch(forged.body, /session ended/, 'nor does a cookie that never opened a session');
});

t.test('the forward-auth endpoint gives an edge the same pages', async (t) => {
  const authz = `http://127.0.0.1:${h.jobgate.authzAddress!.port}`;
  const ask = (host: string, headers: Record<string, string>) =>
    request(authz, { path: '/', headers: { 'x-forwarded-method': 'GET', 'x-forwarded-host': host, 'x-forwarded-uri': '/', ...headers } });
  const page = await ask('nb9.job.test', NAVIGATION);
  t.equal(page.status, 404);
  t.match(page.body, /No job with this id is registered/);
  t.equal((await ask('nb9.job.test', API_CLIENT)).json().error, 'not_found');
  const overTls = await ask('nb1.elsewhere.test', { ...API_CLIENT, 'x-forwarded-proto': 'https' });
  t.match(overTls.json(), { message: /https:\/\/<job-id>\.job\.test\// }, 'a client on HTTPS is told https://');
});
