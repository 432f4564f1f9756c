import t from 'tap';
import { bearer, request, type Reply } from '../helpers/http.js';
import { startHarness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';
import { loginCookie } from './support.js';

/**
 * Every job shares one registrable domain, so SameSite=Lax lets a page on another job send this
 * job's session cookie. A request the cookie authenticates may change state (any method but GET,
 * HEAD, OPTIONS) only when it comes from the job's own origin.
 */

const up = await Upstream.start('nb');
const h = await startHarness({ JOBGATE_AUTHZ_LISTEN: '127.0.0.1:0' });
t.teardown(async () => {
  await h.close();
  await up.close();
});
await h.jobs.put({ id: 'nb1', upstream: up.url });
await h.jobs.put({ id: 'evil', upstream: up.url });
const { value } = await h.tokens.create({ name: 'browser', role: 'read' });
const HOST = 'nb1.job.test';
const OWN = `http://${HOST}`;
const session = await loginCookie(h.url, HOST, value);

/** [why, method, headers besides the credential, whether the request may pass] */
type Case = [string, string, Record<string, string>, boolean];
const CASES: Case[] = [
  ["a POST from the job's own page", 'POST', { origin: OWN }, true],
  ['the same, Origin in capitals', 'POST', { origin: OWN.toUpperCase() }, true],
  ['a POST from a page on another job', 'POST', { origin: 'http://evil.job.test' }, false],
  ['another job, even with Sec-Fetch-Site claiming same-origin', 'POST', { origin: 'http://evil.job.test', 'sec-fetch-site': 'same-origin' }, false],
  ["the job's host over another scheme", 'POST', { origin: `https://${HOST}` }, false],
  ["the job's host on another port", 'POST', { origin: `${OWN}:8080` }, false],
  ['PUT from another job', 'PUT', { origin: 'http://evil.job.test' }, false],
  ['DELETE from another job', 'DELETE', { origin: 'http://evil.job.test' }, false],
  ['PATCH from another job', 'PATCH', { origin: 'http://evil.job.test' }, false],
  ['Origin: null (sandboxed frame) and no Sec-Fetch-Site', 'POST', { origin: 'null' }, false],
  ['Origin: null, cross-site', 'POST', { origin: 'null', 'sec-fetch-site': 'cross-site' }, false],
  ["Origin: null from the job's own page (Referrer-Policy: no-referrer)", 'POST', { origin: 'null', 'sec-fetch-site': 'same-origin' }, true],
  ['no Origin, Sec-Fetch-Site same-origin', 'POST', { 'sec-fetch-site': 'same-origin' }, true],
  ['no Origin, Sec-Fetch-Site same-site (another job)', 'POST', { 'sec-fetch-site': 'same-site' }, false],
  ['no Origin, Sec-Fetch-Site cross-site', 'POST', { 'sec-fetch-site': 'cross-site' }, false],
  ['no Origin, Sec-Fetch-Site none', 'POST', { 'sec-fetch-site': 'none' }, false],
  ['neither header: fails closed', 'POST', {}, false],
  ['GET from another job (safe)', 'GET', { origin: 'http://evil.job.test' }, true],
  ['HEAD from another job (safe)', 'HEAD', { origin: 'http://evil.job.test' }, true],
  ['OPTIONS from another job (safe)', 'OPTIONS', { origin: 'http://evil.job.test', 'sec-fetch-site': 'same-site' }, true],
];

const bodyFor = (method: string) => (method === 'POST' || method === 'PUT' || method === 'PATCH' ? 'x=1' : undefined);

t.test("inline: an unsafe request on the session cookie must come from the job's own origin", async (t) => {
  for (const [why, method, headers, passes] of CASES) {
    const before = up.received.length;
    const reply = await request(h.url, { host: HOST, method, path: '/api/contents', headers: { cookie: session, ...headers }, body: bodyFor(method) });
    if (passes) {
      t.equal(reply.status, 200, `${why}: passes`);
      t.equal(up.received.length, before + 1, `${why}: reaches the job`);
    } else {
      t.equal(reply.status, 403, `${why}: 403`);
      t.equal(reply.json().error, 'forbidden');
      t.equal(up.received.length, before, `${why}: never reaches the job`);
    }
  }
  h.jobgate.logger.flush();
  t.ok(
    h.log.access.some((line) => line.decision === 'foreign_origin' && line.method === 'POST'),
    'logged as foreign_origin',
  );
});

t.test('inline: bearer tokens are not cookies (non-browser clients keep working)', async (t) => {
  for (const headers of [{}, { origin: 'http://evil.job.test' }, { 'sec-fetch-site': 'cross-site' }]) {
    const reply = await request(h.url, { host: HOST, method: 'POST', path: '/api', headers: { ...bearer(value), ...headers }, body: 'x=1' });
    t.equal(reply.status, 200, JSON.stringify(headers));
  }
});

t.test('forward-auth: the same decision for the edge', async (t) => {
  const authzPort = h.jobgate.authzAddress!.port;
  const ask = (method: string, headers: Record<string, string>): Promise<Reply> =>
    request(`http://127.0.0.1:${authzPort}`, {
      path: '/__jobgate_authz',
      host: '127.0.0.1',
      headers: [
        'X-Forwarded-Method',
        method,
        'X-Forwarded-Proto',
        'http',
        'X-Forwarded-For',
        '203.0.113.7',
        'X-Forwarded-Host',
        HOST,
        'X-Forwarded-Uri',
        '/api/contents',
        ...Object.entries(headers).flat(),
      ],
    });
  for (const [why, method, headers, passes] of CASES) {
    const reply = await ask(method, { cookie: session, ...headers });
    t.equal(reply.status, passes ? 200 : 403, why);
    if (!passes) t.equal(reply.json().error, 'forbidden');
  }
  t.equal((await ask('POST', { ...bearer(value), origin: 'http://evil.job.test' })).status, 200, 'a bearer token is not a cookie');
});
