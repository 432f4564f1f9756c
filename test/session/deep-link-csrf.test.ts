import t from 'tap';
import { request, type Reply } from '../helpers/http.js';
import { startHarness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';
import { loginCookie } from './support.js';

/**
 * Login CSRF through a deep link: a link followed from another site must not silently replace a
 * valid session with the session of the token it carries (the attacker's). The browser gets a
 * page that asks first; pasted links, the job's own links, and links without a valid session
 * for another token work as before.
 */

const up = await Upstream.start('nb');
const h = await startHarness({ JOBGATE_AUTHZ_LISTEN: '127.0.0.1:0' });
t.teardown(async () => {
  await h.close();
  await up.close();
});
await h.jobs.put({ id: 'nb1', upstream: up.url });
const victim = await h.tokens.create({ name: 'victim', role: 'read' });
const attacker = await h.tokens.create({ name: 'attacker', role: 'read' });
const HOST = 'nb1.job.test';
const NAVIGATION = { accept: 'text/html,application/xhtml+xml' };
const session = await loginCookie(h.url, HOST, victim.value);

const deepLink = (headers: Record<string, string>, token = attacker.value): Promise<Reply> =>
  request(h.url, { host: HOST, path: `/lab?x=1&jobgate_token=${encodeURIComponent(token)}`, headers: { ...NAVIGATION, ...headers }, timeoutMs: 30_000 });

/** The token name the upstream is told for a request with `cookie`. */
async function whoIs(cookie: string): Promise<string | undefined> {
  const reply = await request(h.url, { host: HOST, path: '/whoami', headers: { cookie }, timeoutMs: 30_000 });
  return reply.status === 200 ? String(reply.json<{ headers: Record<string, string> }>().headers['x-jobgate-token-name']) : `status ${reply.status}`;
}

/** The hidden fields of the page's form. */
function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)) fields[match[1]!] = match[2]!.replaceAll('&amp;', '&');
  return fields;
}

t.test('a cross-site deep link with another token, while a valid session exists: a page that asks, and the session stays', async (t) => {
  for (const [why, headers] of [
    ['cross-site', { 'sec-fetch-site': 'cross-site' }],
    ["from another job's page (same-site)", { 'sec-fetch-site': 'same-site' }],
    ['without Sec-Fetch-Site', {}],
  ] as const) {
    const reply = await deepLink({ cookie: session, ...headers });
    t.equal(reply.status, 409, `${why}: asks first`);
    t.equal(reply.headers['set-cookie'], undefined, `${why}: the session cookie is not replaced`);
    t.equal(reply.headers['referrer-policy'], 'no-referrer', `${why}: the page (whose URL holds the token) sends no Referer`);
    t.equal(reply.headers['cache-control'], 'no-store', `${why}: not cached`);
    t.match(reply.headers['content-security-policy'], /default-src 'none'/);
    t.match(reply.body, /<form method="post" action="\/__jobgate\/login">/, `${why}: a same-origin POST form`);
    t.same(hiddenFields(reply.body), { next: '/lab?x=1', token: attacker.value }, `${why}: the token only in a hidden field`);
    t.match(reply.body, /<code>victim<\/code>/, `${why}: names the session the browser has`);
    t.notMatch(reply.body, /attacker/, "the link's token name is not shown (its maker chose it)");
  }
  t.equal(await whoIs(session), 'victim', 'the old session still works');
  t.same(
    up.received.filter((received) => received.url.includes('lab')),
    [],
    'nothing reached the job',
  );
});

t.test("confirming on the page (the form's same-origin POST) switches the session; a cross-site POST of it does not", async (t) => {
  const page = await deepLink({ cookie: session, 'sec-fetch-site': 'cross-site' });
  const form = new URLSearchParams(hiddenFields(page.body)).toString();
  const post = (headers: Record<string, string>) =>
    request(h.url, {
      method: 'POST',
      host: HOST,
      path: '/__jobgate/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session, ...headers },
      body: form,
      timeoutMs: 30_000,
    });
  const forged = await post({ origin: 'null', 'sec-fetch-site': 'cross-site' });
  t.equal(forged.status, 403, 'the same form posted from another site is refused');
  t.equal(forged.headers['set-cookie'], undefined);
  // What a browser sends from a page with Referrer-Policy: no-referrer: Origin null, but same-origin.
  const confirmed = await post({ origin: 'null', 'sec-fetch-site': 'same-origin' });
  t.equal(confirmed.status, 303);
  t.equal(confirmed.headers.location, '/lab?x=1');
  const switched = confirmed.headers['set-cookie']?.[0]?.split(';')[0];
  t.ok(switched, 'a new session cookie');
  t.equal(await whoIs(switched!), 'attacker', "the session is now the link token's, as the user asked");
});

t.test('pasted and same-origin deep links, and deep links without a valid session for another token, open the session as before', async (t) => {
  const opens = async (why: string, headers: Record<string, string>, token?: string) => {
    const reply = await deepLink(headers, token);
    t.equal(reply.status, 303, `${why}: 303`);
    t.equal(reply.headers.location, '/lab?x=1', why);
    t.match(String(reply.headers['set-cookie']), /^jobgate=/, `${why}: sets the session cookie`);
  };
  await opens('same-origin, with a session', { cookie: session, 'sec-fetch-site': 'same-origin' });
  await opens('pasted in the address bar (none), with a session', { cookie: session, 'sec-fetch-site': 'none' });
  await opens('cross-site without a session', { 'sec-fetch-site': 'cross-site' });
  await opens('cross-site with a session of the same token', { cookie: session, 'sec-fetch-site': 'cross-site' }, victim.value);
  await opens('cross-site with a cookie that opens no session', { cookie: 'jobgate=forged', 'sec-fetch-site': 'cross-site' });
  const wrong = await deepLink({ cookie: session, 'sec-fetch-site': 'cross-site' }, 'jgt_not-a-token');
  t.equal(wrong.status, 303, 'a value that is not a token opens nothing, as before');
  t.equal(wrong.headers['set-cookie'], undefined);
});

t.test('forward-auth: the same page instead of the 303, with the session cookie kept', async (t) => {
  const ask = (headers: string[]): Promise<Reply> =>
    request(`http://127.0.0.1:${h.jobgate.authzAddress!.port}`, {
      path: '/__jobgate_authz',
      host: '127.0.0.1',
      headers: [
        'X-Forwarded-Method',
        'GET',
        'X-Forwarded-Proto',
        'http',
        'X-Forwarded-For',
        '203.0.113.7',
        'X-Forwarded-Host',
        HOST,
        'X-Forwarded-Uri',
        `/lab?x=1&jobgate_token=${attacker.value}`,
        'Accept',
        'text/html',
        'Cookie',
        session,
        ...headers,
      ],
      timeoutMs: 30_000,
    });
  const crossSite = await ask(['Sec-Fetch-Site', 'cross-site']);
  t.equal(crossSite.status, 409, 'not a 2xx: the edge answers with the page instead of forwarding');
  t.equal(crossSite.headers['set-cookie'], undefined);
  t.equal(crossSite.headers['referrer-policy'], 'no-referrer');
  t.same(hiddenFields(crossSite.body), { next: '/lab?x=1', token: attacker.value });
  const sameOrigin = await ask(['Sec-Fetch-Site', 'same-origin']);
  t.equal(sameOrigin.status, 303);
  t.equal(sameOrigin.headers.location, `http://${HOST}/lab?x=1`);
  t.match(String(sameOrigin.headers['set-cookie']), /^jobgate=/);
});
