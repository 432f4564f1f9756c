import t from 'tap';
import { bearer, request } from '../helpers/http.js';
import { CONTROL_HOST } from '../helpers/control.js';
import { consoleCookie, consoleGet, consolePost, consoleSignIn, csrfOf, CONSOLE_ORIGIN, shownValue } from '../helpers/console.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';
import { eventually } from '../helpers/wait.js';

// The token console on the control host of a running jobgate, on a real Redis, as a browser
// without JavaScript uses it: links, GET forms and urlencoded POSTs.

const up = await Upstream.start('console-upstream');
const h: Harness = await startHarness({ JOBGATE_CONTROL_HOST: CONTROL_HOST, JOBGATE_COOKIE_SECRET: 'a-cookie-secret-of-at-least-32-characters' });
t.teardown(async () => {
  await h.close();
  await up.close();
});

const root = await h.tokens.create({ name: 'root', role: 'operator' });
const reader = await h.tokens.create({ name: 'reader', role: 'read' });
await h.jobs.put({ id: 'nb-a', upstream: up.url, labels: { team: 'a' } });
await h.jobs.put({ id: 'nb-b', upstream: up.url, labels: { team: 'b' } });

const onJob = (job: string, value: string) => request(h.url, { host: `${job}.job.test`, path: '/x', headers: bearer(value) });

t.test('pages before sign-in, and their headers', async (t) => {
  const home = await consoleGet(h.url, '/');
  t.equal(home.status, 303);
  t.equal(home.headers.location, '/console/tokens');
  const tokens = await consoleGet(h.url, '/console/tokens');
  t.equal(tokens.status, 303, 'a page needs a session');
  t.equal(tokens.headers.location, '/console/login');
  const login = await consoleGet(h.url, '/console/login');
  t.equal(login.status, 200);
  t.match(login.body, /<label for="token">Operator token<\/label>/);
  const csp = String(login.headers['content-security-policy']);
  const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
  t.ok(nonce, 'scripts need the nonce');
  t.notMatch(csp, /unsafe-inline|unsafe-eval|https?:/, 'nothing inline without the nonce, nothing external');
  t.match(csp, /default-src 'none'/);
  t.match(csp, /frame-ancestors 'none'/);
  t.match(login.body, `<script nonce="${nonce}">`);
  t.match(login.body, `<style nonce="${nonce}">`);
  t.notMatch(login.body, /<script(?! nonce)/, 'every script carries the nonce');
  t.notMatch(login.body, /(src|href)="https?:/, 'no external asset');
  t.equal(login.headers['x-content-type-options'], 'nosniff');
  t.equal(login.headers['cache-control'], 'no-store');
  t.equal(login.headers['x-frame-options'], 'DENY');
  const again = await consoleGet(h.url, '/console/login');
  t.not(/nonce-([^']+)/.exec(String(again.headers['content-security-policy']))?.[1], nonce, 'a new nonce per response');
  const api = await request(h.url, { host: CONTROL_HOST, path: '/api/v1/tokens' });
  t.equal(api.status, 401, 'the control API keeps its own routes and answers');
  t.equal(api.json().error, 'unauthorized');
});

t.test('sign-in: operator tokens only, a host-only strict cookie', async (t) => {
  const wrong = await consolePost(h.url, '/console/login', { token: 'jgt_nope' });
  t.equal(wrong.status, 401);
  t.match(wrong.body, 'That token is not valid');
  t.equal(consoleCookie(wrong), undefined);
  const read = await consolePost(h.url, '/console/login', { token: reader.value });
  t.equal(read.status, 403, 'a read token is refused');
  t.match(read.body, 'This is a read token');
  t.equal(consoleCookie(read), undefined, 'and gets no session');
  const ok = await consolePost(h.url, '/console/login', { token: root.value });
  t.equal(ok.status, 303);
  t.equal(ok.headers.location, '/console/tokens');
  const setCookie = ok.headers['set-cookie']![0]!;
  t.match(setCookie, /^jobgate-console=[^;]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/, 'host-only (no Domain), HttpOnly, SameSite=Strict');
  t.notOk(setCookie.includes(root.value.slice(4)), 'the cookie does not hold the token');
  const page = await consoleGet(h.url, '/console/tokens', consoleCookie(ok));
  t.equal(page.status, 200);
  t.match(page.body, 'Signed in as <code>root</code>');
  for (const token of ['root', 'reader']) t.match(page.body, `<code>${token}</code>`);
  t.notOk(page.body.includes(root.value), 'no token value on the page');
  const foreign = await consolePost(h.url, '/console/login', { token: root.value }, undefined, { origin: 'http://evil.test' });
  t.equal(foreign.status, 403, 'sign-in from another origin (login CSRF) is refused');
  t.equal(consoleCookie(foreign), undefined);
  const noHeaders = await consolePost(h.url, '/console/login', { token: root.value }, undefined, {});
  t.equal(noHeaders.status, 403, 'neither Origin nor Sec-Fetch-Site: refused');
});

t.test('create, use, renew and delete a token without JavaScript', async (t) => {
  const cookie = await consoleSignIn(h.url, root.value);
  const csrf = csrfOf(await consoleGet(h.url, '/console/tokens', cookie));
  const created = await consolePost(h.url, '/console/tokens', { csrf, name: 'ci-a', role: 'read', selector: 'team=a', expiresIn: '30d' }, cookie);
  t.equal(created.status, 201);
  t.equal(created.headers['cache-control'], 'no-store', 'the page with the value is not cached');
  t.match(created.body, 'it will not be shown again');
  t.match(created.body, /<button type="button" data-copy="token-value" hidden>Copy<\/button>/, 'the copy button appears only with script');
  const value = shownValue(created);
  t.equal((await onJob('nb-a', value)).status, 200, 'the new value opens a job in its selector');
  t.equal((await onJob('nb-b', value)).status, 403, 'and not one outside it');
  const id = value.slice(4, 40);
  const stored = await h.tokens.find(id);
  t.match(stored, { name: 'ci-a', role: 'read', labelSelector: 'team=a' });
  t.ok(stored!.expiresAt, 'with the expiry chosen');

  const confirm = await consoleGet(h.url, `/console/tokens/${id}/renew`, cookie);
  t.equal(confirm.status, 200);
  t.match(confirm.body, 'Renew token <code>ci-a</code>?', 'the confirmation names the token');
  const renewed = await consolePost(h.url, `/console/tokens/${id}/renew`, { csrf: csrfOf(confirm), expiresIn: '' }, cookie);
  t.equal(renewed.status, 200);
  const newValue = shownValue(renewed);
  t.not(newValue, value);
  t.equal((await onJob('nb-a', value)).status, 401, 'the old value stops working');
  await eventually('the new value to be accepted', async () => (await onJob('nb-a', newValue)).status === 200);
  t.pass('the new one works');
  t.equal((await h.tokens.find(id))!.version, 2);

  const list = await consoleGet(h.url, '/console/tokens?sort=lastUsed&order=desc', cookie);
  t.match(list.body, /<time datetime="[^"]+" title="[^"]+">(just now|\d+ minutes? ago)<\/time>/, 'last use, relative, with the exact time on hover');

  const del = await consoleGet(h.url, `/console/tokens/${id}/delete`, cookie);
  t.match(del.body, 'Delete token <code>ci-a</code>?');
  const deleted = await consolePost(h.url, `/console/tokens/${id}/delete`, { csrf: csrfOf(del) }, cookie);
  t.equal(deleted.status, 200);
  t.match(deleted.body, 'Token ci-a was deleted');
  t.equal(await h.tokens.find(id), undefined);
  t.equal((await onJob('nb-a', newValue)).status, 401, 'a deleted token stops working');

  const activity = await consoleGet(h.url, `/console/activity?token=${id}`, cookie);
  const actions = [...activity.body.matchAll(/<code>(token\.\w+)<\/code>/g)].map((m) => m[1]);
  t.same(actions, ['token.delete', 'token.renew', 'token.create'], 'the audit trail, newest first, filtered by token');
  t.match(activity.body, 'token <code>root</code>', 'naming the operator');
  for (const secret of [value, newValue, root.value]) t.notOk(h.log.text.includes(secret.slice(41)), 'no token value in the log');
  const lines = h.log.access;
  t.ok(
    lines.some((line) => line.decision === 'console_login'),
    'sign-ins are in the access log',
  );
  t.ok(
    lines.some((line) => line.decision === 'console' && line.tokenId === root.record.id),
    'console pages, with the operator token id',
  );
});

t.test('the create form shows what is wrong next to the field', async (t) => {
  const cookie = await consoleSignIn(h.url, root.value);
  const csrf = csrfOf(await consoleGet(h.url, '/console/tokens', cookie));
  const bad = await consolePost(h.url, '/console/tokens', { csrf, name: 'x', role: 'read', selector: 'team in (a', expiresIn: '' }, cookie);
  t.equal(bad.status, 400);
  t.match(bad.body, /<input id="new-selector" name="selector" value="team in \(a"[^>]*aria-invalid="true" aria-errormessage="new-selector-error">/);
  t.match(bad.body, /<p class="field-error" id="new-selector-error">Invalid label selector: [^<]+<\/p>/);
  t.equal((await h.tokens.list()).length, 2, 'nothing created');
});

t.test('CSRF: state-changing forms need the console origin and the session token', async (t) => {
  const cookie = await consoleSignIn(h.url, root.value);
  const csrf = csrfOf(await consoleGet(h.url, '/console/tokens', cookie));
  const fields = { csrf, name: 'forged', role: 'operator', selector: '', expiresIn: '' };
  const cases: Array<[string, Record<string, string>, Record<string, string>]> = [
    ['a foreign Origin', fields, { origin: 'http://evil.test' }],
    ['Origin null without Sec-Fetch-Site', fields, { origin: 'null' }],
    ['no Origin, cross-site', fields, { 'sec-fetch-site': 'cross-site' }],
    ['no Origin, same-site (another job)', fields, { 'sec-fetch-site': 'same-site' }],
    ['neither header', fields, {}],
    ['no CSRF token', { ...fields, csrf: '' }, { origin: CONSOLE_ORIGIN }],
    ['a wrong CSRF token', { ...fields, csrf: `${csrf.slice(0, -2)}xx` }, { origin: CONSOLE_ORIGIN }],
  ];
  for (const [what, body, headers] of cases) {
    const reply = await consolePost(h.url, '/console/tokens', body, cookie, headers);
    t.equal(reply.status, 403, what);
  }
  const otherSession = csrfOf(await consoleGet(h.url, '/console/tokens', await consoleSignIn(h.url, root.value)));
  t.equal((await consolePost(h.url, '/console/tokens', { ...fields, csrf: otherSession }, cookie)).status, 403, "another session's CSRF token");
  t.notOk(
    (await h.tokens.list()).some((token) => !(token instanceof Error) && token.name === 'forged'),
    'nothing was created',
  );
  const sameOrigin = await consolePost(h.url, '/console/tokens', { ...fields, name: 'fine' }, cookie, { 'sec-fetch-site': 'same-origin' });
  t.equal(sameOrigin.status, 201, 'no Origin but Sec-Fetch-Site: same-origin, with the token: accepted');
  const noSession = await consolePost(h.url, '/console/tokens', fields, undefined);
  t.equal(noSession.status, 403, 'no session');
  const big = await consolePost(h.url, '/console/tokens', { ...fields, name: 'x'.repeat(20_000) }, cookie);
  t.equal(big.status, 413, 'the form body is bounded');
});

t.test('a scoped operator sees and changes only its scope', async (t) => {
  const scoped = await h.tokens.create({ name: 'lead-a', role: 'operator', labelSelector: 'team=a' });
  const inside = await h.tokens.create({ name: 'in-a', role: 'read', labelSelector: 'team=a,jobgate/id=nb-a' });
  const outside = await h.tokens.create({ name: 'in-b', role: 'read', labelSelector: 'team=b' });
  const cookie = await consoleSignIn(h.url, scoped.value);
  const tokens = await consoleGet(h.url, '/console/tokens', cookie);
  t.match(tokens.body, '<code>in-a</code>');
  t.notMatch(tokens.body, '<code>in-b</code>', 'no token outside the scope');
  t.notMatch(tokens.body, '<code>root</code>', 'nor a wider one');
  t.notMatch(tokens.body, outside.record.id, 'not even its id');
  t.match(tokens.body, 'Your scope (team=a) is added to it');
  t.equal((await consoleGet(h.url, `/console/tokens/${outside.record.id}/delete`, cookie)).status, 404, 'an out-of-scope token reads as absent');
  const csrf = csrfOf(tokens);
  t.equal((await consolePost(h.url, `/console/tokens/${outside.record.id}/delete`, { csrf }, cookie)).status, 404);
  t.equal((await consolePost(h.url, `/console/tokens/${outside.record.id}/renew`, { csrf }, cookie)).status, 404);
  t.ok(await h.tokens.find(outside.record.id), 'still there');
  t.equal((await h.tokens.find(outside.record.id))!.version, 1, 'not renewed');
  const created = await consolePost(h.url, '/console/tokens', { csrf, name: 'wide', role: 'read', selector: '', expiresIn: '' }, cookie);
  t.equal(created.status, 201);
  t.match(created.body, '<code>team=a</code>', 'a created token gets the scope');
  const jobs = await consoleGet(h.url, '/console/jobs', cookie);
  t.match(jobs.body, '<code>nb-a</code>');
  t.notMatch(jobs.body, '<code>nb-b</code>', 'no job outside the scope');
  t.match(jobs.body, /<code>in-a<\/code> <span class="muted">\(read\)<\/span>/, 'who can open the job');
  const activity = await consoleGet(h.url, '/console/activity', cookie);
  t.notMatch(activity.body, 'in-b', 'no event outside the scope');
  t.match(activity.body, '<code>wide</code>');
  void inside;
});

t.test('who can reach a job, for an unscoped operator', async (t) => {
  const cookie = await consoleSignIn(h.url, root.value);
  const jobs = await consoleGet(h.url, '/console/jobs', cookie);
  t.equal(jobs.status, 200);
  const rowB = /<tr id="job-nb-b">[\s\S]*?<\/tr>/.exec(jobs.body)?.[0] ?? '';
  t.match(rowB, '<code>team=b</code>', 'labels');
  t.match(rowB, '<code>in-b</code>');
  t.match(rowB, /<code>root<\/code> <span class="muted">\(operator\)<\/span>/);
  t.notMatch(rowB, '<code>in-a</code>');
});

t.test('every value from Redis is escaped', async (t) => {
  const evil = '<img src=x onerror=alert(1)>"\'&';
  await h.tokens.create({ name: evil, role: 'read', labelSelector: 'team=a' });
  await h.admin.xadd(
    `${h.settings.keyPrefix}events`,
    '*',
    'time',
    new Date().toISOString(),
    'action',
    'token.create',
    'targetId',
    'x',
    'targetName',
    evil,
    'labelSelector',
    '',
    'actor',
    'cli',
    'cliUser',
    evil,
    'cliHost',
    evil,
  );
  const cookie = await consoleSignIn(h.url, root.value);
  for (const path of ['/console/tokens', '/console/jobs', '/console/activity', `/console/tokens?name=${encodeURIComponent(evil)}`]) {
    const page = await consoleGet(h.url, path, cookie);
    t.notOk(page.body.includes('<img'), `${path}: no markup from Redis or the query`);
  }
  const tokens = await consoleGet(h.url, '/console/tokens', cookie);
  t.match(tokens.body, '&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;');
});

t.test('a session ends when its token is renewed; sign-out ends it too', async (t) => {
  const own = await h.tokens.create({ name: 'short', role: 'operator' });
  const cookie = await consoleSignIn(h.url, own.value);
  t.equal((await consoleGet(h.url, '/console/jobs', cookie)).status, 200);
  await h.tokens.renew(own.record.id);
  const after = await consoleGet(h.url, '/console/jobs', cookie);
  t.equal(after.status, 401, 'the next page after a renewal is the sign-in page');
  t.match(after.body, 'Your session ended');
  t.match(String(after.headers['set-cookie']), /^jobgate-console=; Path=\/; Max-Age=0/);

  const second = await consoleSignIn(h.url, root.value);
  const elsewhere = await consoleSignIn(h.url, root.value);
  const csrf = csrfOf(await consoleGet(h.url, '/console/tokens', second));
  const out = await consolePost(h.url, '/console/logout', { csrf }, second);
  t.equal(out.status, 200);
  t.match(out.body, 'You are signed out.');
  t.match(String(out.headers['set-cookie']), /^jobgate-console=; Path=\/; Max-Age=0/);
  const copied = await consoleGet(h.url, '/console/tokens', second);
  t.equal(copied.status, 303, 'a copy of the signed-out cookie opens no page');
  t.equal(copied.headers.location, '/console/login');
  const replayed = await consolePost(h.url, '/console/tokens', { csrf, name: 'after-sign-out', role: 'read', labelSelector: '', expiresIn: '' }, second);
  t.equal(replayed.status, 403, 'nor does it post a form');
  t.notOk(
    (await h.tokens.list()).some((token) => !(token instanceof Error) && token.name === 'after-sign-out'),
    'and nothing was created',
  );
  t.equal((await consoleGet(h.url, '/console/tokens', elsewhere)).status, 200, "the same token's other session goes on");
});

t.test('a job URL session cookie is not a console session, nor the reverse', async (t) => {
  const cookie = await consoleSignIn(h.url, root.value);
  const value = cookie.split('=')[1]!;
  t.equal((await consoleGet(h.url, '/console/tokens', `jobgate=${value}`)).status, 303, 'the job cookie name is not read');
  const onJobHost = await request(h.url, { host: 'nb-a.job.test', path: '/', headers: { cookie: `jobgate=${value}`, accept: 'text/html' } });
  t.equal(onJobHost.status, 401, 'a console cookie value opens no job');
  const login = await request(h.url, {
    method: 'POST',
    host: 'nb-a.job.test',
    path: '/__jobgate/login',
    headers: { origin: 'http://nb-a.job.test', 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: root.value, next: '/' }).toString(),
  });
  t.equal(login.status, 303, 'a job URL session');
  const jobCookie = /^jobgate=([^;]+)/.exec(String(login.headers['set-cookie']))![1]!;
  t.equal(
    (await consoleGet(h.url, '/console/tokens', `jobgate-console=${jobCookie}`)).status,
    303,
    'a job URL cookie value under the console name opens no console',
  );
});

t.test('an expiring operator is offered only expiries it may give', async (t) => {
  const expiresAt = new Date(Date.now() + 10 * 86_400_000).toISOString();
  const short = await h.tokens.create({ name: 'temp-lead', role: 'operator', expiresAt });
  const cookie = await consoleSignIn(h.url, short.value);
  const page = await consoleGet(h.url, '/console/tokens', cookie);
  const select = /<select id="new-expiry"[^>]*>([\s\S]*?)<\/select>/.exec(page.body)![1]!;
  const offered = [...select.matchAll(/<option value="([^"]*)">/g)].map((m) => m[1]);
  t.same(offered, ['', '1d', '7d'], "none (then the caller's own expiry), or shorter durations");
  t.match(select, 'When your own token expires');
  const created = await consolePost(h.url, '/console/tokens', { csrf: csrfOf(page), name: 'temp-ci', role: 'read', selector: '', expiresIn: '' }, cookie);
  t.equal(created.status, 201);
  const id = shownValue(created).slice(4, 40);
  t.equal((await h.tokens.find(id))!.expiresAt, short.record.expiresAt, "it takes the caller's expiry");
});

t.test('an expired token is renewed only with a new expiry: the form does not offer to keep it', async (t) => {
  const expiresAt = new Date(Date.now() + 1000).toISOString();
  const lapsed = await h.tokens.create({ name: 'lapsed', role: 'read', expiresAt });
  await eventually('the token to expire', () => Date.now() > Date.parse(expiresAt) + 10);
  const cookie = await consoleSignIn(h.url, root.value);
  const confirm = await consoleGet(h.url, `/console/tokens/${lapsed.record.id}/renew`, cookie);
  const offered = [...confirm.body.matchAll(/<option value="([^"]*)">/g)].map((m) => m[1]);
  t.notOk(offered.includes(''), 'no "keep the current expiry"');
  t.equal(offered[0], '1d', 'the first choice is a new expiry');
  t.notMatch(confirm.body, 'Keep the current expiry');
  const kept = await consolePost(h.url, `/console/tokens/${lapsed.record.id}/renew`, { csrf: csrfOf(confirm), expiresIn: '' }, cookie);
  t.equal(kept.status, 400, 'a forged "keep" is refused');
  t.match(kept.body, `expired at ${expiresAt}`);
  t.equal((await h.tokens.find(lapsed.record.id))!.version, 1, 'not renewed');
  const renewed = await consolePost(h.url, `/console/tokens/${lapsed.record.id}/renew`, { csrf: csrfOf(confirm), expiresIn: '1d' }, cookie);
  t.equal(renewed.status, 200);
  const newValue = shownValue(renewed);
  await eventually('the renewed value to be accepted', async () => (await onJob('nb-a', newValue)).status === 200);
  t.pass('the new value works');
});

t.test('fails closed when Redis is down: a 503 page, never a page served from nothing', async (t) => {
  const cookie = await consoleSignIn(h.url, root.value);
  const csrf = csrfOf(await consoleGet(h.url, '/console/tokens', cookie));
  await h.redisServer.stop();
  for (const path of ['/console/tokens', '/console/jobs', '/console/activity']) {
    const page = await consoleGet(h.url, path, cookie);
    t.equal(page.status, 503, path);
    t.match(page.body, 'cannot reach its registry');
    t.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  }
  const created = await consolePost(h.url, '/console/tokens', { csrf, name: 'during-outage', role: 'read', selector: '', expiresIn: '' }, cookie);
  t.equal(created.status, 503, 'a change is refused too');
  t.notMatch(created.body, /jgt_/, 'and no value is shown');
  const signIn = await consolePost(h.url, '/console/login', { token: root.value });
  t.ok(signIn.status === 503 || signIn.status === 303, 'sign-in: 503, or a session from the cached token, which then gets the 503 page');
});
