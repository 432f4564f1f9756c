/// <reference lib="dom" />
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { request } from '../helpers/http.js';
import { KeySpace } from '../../src/redis/index.js';
import { metricSample, startHarness, waitFor, type Harness } from '../helpers/jobgate.js';
import { RedisClients, type Invalidations } from '../helpers/redis.js';
import { Upstream } from '../helpers/upstream.js';

/** The job's own page: it says hello and opens a WebSocket back to its host. */
const JOB_PAGE = `<!doctype html><html><head><title>Notebook</title></head><body>
<h1 id="hello">Hello from the notebook</h1><p id="ws">connecting</p>
<script>
const socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
socket.onopen = () => socket.send('ping');
socket.onmessage = (event) => { document.getElementById('ws').textContent = 'echo: ' + event.data; };
socket.onclose = (event) => { if (document.getElementById('ws').textContent === 'connecting') document.getElementById('ws').textContent = 'closed ' + event.code; };
</script></body></html>`;

let browser: Browser;
let h: Harness;
let up: Upstream;
let base: string;
let redisClients: RedisClients;
let invalidations: Invalidations;

/** How many token invalidation messages jobgate has received, by its /metrics. */
async function tokenMessagesReceived(): Promise<number> {
  const metrics = (await request(h.adminUrl, { path: '/metrics' })).body;
  return metricSample(metrics, 'jobgate_invalidation_messages_total', 'kind="token"') ?? 0;
}

t.before(async () => {
  up = await Upstream.start('notebook', (req) =>
    req.url.startsWith('/api') ? undefined : { headers: { 'content-type': 'text/html; charset=utf-8' }, body: JOB_PAGE },
  );
  h = await startHarness({ JOBGATE_JOB_DOMAIN: 'job.localhost', JOBGATE_COOKIE_SECRET: 'a-cookie-secret-of-at-least-32-characters' });
  // Every invalidation message from now on, in the order Redis delivers them (to jobgate too).
  redisClients = new RedisClients(h.redisServer.url);
  invalidations = await redisClients.invalidations(new KeySpace(h.settings.keyPrefix!));
  await h.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'a' } });
  await h.jobs.put({ id: 'nb2', upstream: up.url, labels: { team: 'b' } });
  base = `http://nb1.job.localhost:${h.jobgate.proxyAddress.port}`;
  browser = await launchChromium();
});

t.teardown(async () => {
  redisClients?.disconnectAll();
  await browser?.close();
  await h?.close();
  await up?.close();
});

async function freshPage(): Promise<Page> {
  const context = await browser.newContext();
  return context.newPage();
}

async function logIn(page: Page, value: string): Promise<void> {
  await page.getByLabel('App token').fill(value);
  await Promise.all([page.waitForURL(/./), page.getByRole('button', { name: 'Log in' }).click()]);
}

t.test('open a job URL, log in with a token, reach the job and its WebSocket', async (t) => {
  const { value } = await h.tokens.create({ name: 'alice', role: 'read', labelSelector: 'team=a' });
  const page = await freshPage();
  const first = await page.goto(`${base}/lab/tree?path=x`);
  t.equal(first?.status(), 401);
  t.equal(await page.title(), 'Log in · nb1');
  t.equal(await page.getByRole('heading').textContent(), 'Log in', 'one wording for the heading and the button');
  t.equal(await page.getByRole('button').textContent(), 'Log in');
  t.equal(await page.getByLabel('App token').getAttribute('type'), 'password');
  t.equal(await page.locator('input[name=next]').inputValue(), '/lab/tree?path=x');
  t.ok(await page.getByLabel('App token').evaluate((input) => input === document.activeElement), 'the token field has focus');

  await logIn(page, value);
  t.equal(page.url(), `${base}/lab/tree?path=x`, 'back to the page first asked for');
  t.equal(await page.locator('#hello').textContent(), 'Hello from the notebook');
  await page.locator('#ws', { hasText: 'echo: ping' }).waitFor();
  t.pass('the job page opened its WebSocket through jobgate with the session cookie');

  // Without the session, the job's page cannot open a WebSocket (the login page's CSP would
  // block one anyway, so the attempt is made from the job's own page).
  const openWebSocket = () =>
    page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          const socket = new WebSocket(`ws://${location.host}/ws`);
          socket.onopen = () => resolve('open');
          socket.onclose = (event) => resolve(`closed ${event.code}`);
        }),
    );
  t.equal(await openWebSocket(), 'open', 'with the session cookie');
  const cookies = await page.context().cookies();
  await page.context().clearCookies();
  t.equal(await openWebSocket(), 'closed 1006', 'refused without a session');
  await page.context().addCookies(cookies);

  const [cookie] = await page.context().cookies();
  t.match(cookie, { name: 'jobgate', httpOnly: true, sameSite: 'Lax', path: '/', domain: 'nb1.job.localhost' });
  t.notOk(cookie!.value.includes(value), 'the cookie does not hold the token');
  const seen = up.received.filter((received) => received.method === 'GET' || received.method === 'WS');
  t.ok(seen.length >= 2);
  for (const received of seen) t.notMatch(String(received.headers.cookie ?? ''), /jobgate=/, "jobgate's cookie never reaches the upstream");
  t.equal(up.last.headers['x-jobgate-token-name'], 'alice');
});

t.test('a wrong token shows the page again with a plain error', async (t) => {
  const page = await freshPage();
  await page.goto(base);
  const [response] = await Promise.all([page.waitForResponse((res) => res.url().endsWith('/__jobgate/login')), logIn(page, 'jgt_not-a-token')]);
  t.equal(response.status(), 401);
  t.equal(await page.getByRole('alert').textContent(), 'That token is not valid. Check that you pasted the whole value, or ask for a new token.');
  t.same(await page.context().cookies(), [], 'no cookie');
});

t.test('a valid token for another job: 403 page, no cookie', async (t) => {
  const { value } = await h.tokens.create({ name: 'bob', role: 'read', labelSelector: 'team=b' });
  const page = await freshPage();
  await page.goto(base);
  const [response] = await Promise.all([page.waitForResponse((res) => res.url().endsWith('/__jobgate/login')), logIn(page, value)]);
  t.equal(response.status(), 403);
  t.equal(await page.getByRole('heading').textContent(), 'No access to this job');
  t.same(await page.context().cookies(), []);
});

t.test('deep link: the token leaves the address bar and history', async (t) => {
  const { value } = await h.tokens.create({ name: 'carol', role: 'read' });
  const page = await freshPage();
  // Every URL the tab showed, new documents and same-document changes (pushState) alike.
  const shown: string[] = [];
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) shown.push(frame.url());
  });
  // A page of the job's own origin first, so that the history is the job origin's to read.
  const start = `${base}/start`;
  await page.goto(start);
  const depth: number = await page.evaluate(() => window.history.length);

  const clean = `${base}/notebooks/a.ipynb?kernel=py`;
  await page.goto(`${base}/notebooks/a.ipynb?jobgate_token=${value}&kernel=py`);
  t.equal(page.url(), clean);
  t.equal(await page.locator('#hello').textContent(), 'Hello from the notebook');
  t.equal(await page.evaluate(() => window.history.length), depth + 1, 'the link added one history entry: the URL without the token');
  t.notOk((await page.evaluate(() => document.referrer)).includes(value), 'the job page was not reached from a URL with the token');

  await page.goBack();
  t.equal(page.url(), start, 'back: the page before the link, not the URL with the token');
  await page.goForward();
  t.equal(page.url(), clean, 'forward: the URL without the token');
  t.equal(await page.locator('#hello').textContent(), 'Hello from the notebook');
  t.same(
    shown.filter((url) => url.includes('jobgate_token') || url.includes(value)),
    [],
    `the tab never showed a URL with the token (${shown.length} URLs shown)`,
  );

  // A link followed from the job's page: the job gets the page's URL as the Referer, without the token.
  const seen = up.received.length;
  await Promise.all([
    page.waitForURL(`${base}/next`),
    page.evaluate(() => {
      const link = document.createElement('a');
      link.href = '/next';
      document.body.append(link);
      link.click();
    }),
  ]);
  const next = up.received.slice(seen).find((received) => received.url === '/next');
  t.equal(next?.headers.referer, clean, 'the Referer of the next navigation is the URL without the token');
  t.same(
    up.received.filter((received) => received.url.includes('jobgate_token') || JSON.stringify(received.headers).includes(value)),
    [],
    'the token reached the job in no URL and no header',
  );

  const bad = await freshPage();
  await bad.goto(`${base}/x?jobgate_token=jgt_nope`);
  t.equal(bad.url(), `${base}/x`, 'an invalid deep-link token is dropped too');
  t.equal(await bad.title(), 'Log in · nb1');
  t.same(await bad.context().cookies(), []);
});

t.test('a deep link from another site asks before replacing the session; confirming on the page switches it', async (t) => {
  const alice = await h.tokens.create({ name: 'alice-csrf', role: 'read' });
  const mallory = await h.tokens.create({ name: 'mallory', role: 'read' });
  // Another site (127.0.0.1 is not job.localhost) links to the job with mallory's token.
  const elsewhere = await Upstream.start('elsewhere', () => ({
    headers: { 'content-type': 'text/html; charset=utf-8' },
    body: `<!doctype html><title>elsewhere</title><a id="go" href="${base}/api/who?jobgate_token=${mallory.value}">open</a>`,
  }));
  t.teardown(() => elsewhere.close());
  const page = await freshPage();
  const who = async (): Promise<string> => {
    const reply = await page.goto(`${base}/api/who`);
    return String(((await reply?.json()) as { headers: Record<string, string> }).headers['x-jobgate-token-name']);
  };
  await page.goto(`${base}/?jobgate_token=${alice.value}`);
  t.equal(await who(), 'alice-csrf', 'logged in as alice by a pasted deep link');
  const aliceCookies = await page.context().cookies();

  await page.goto(elsewhere.url);
  const [asked] = await Promise.all([page.waitForResponse((response) => response.url().startsWith(`${base}/api/who`)), page.click('#go')]);
  t.equal(asked.status(), 409, 'the link from another site gets the page that asks');
  t.equal(await page.title(), 'Switch token? · nb1');
  t.same(await page.context().cookies(), aliceCookies, 'the session cookie is unchanged');
  t.equal(await who(), 'alice-csrf', 'still alice');

  await page.goto(elsewhere.url);
  await Promise.all([page.waitForURL(/jobgate_token/), page.click('#go')]);
  await Promise.all([page.waitForURL(`${base}/api/who`), page.getByRole('button', { name: "Log in with the link's token" }).click()]);
  t.equal(await who(), 'mallory', 'confirmed on the page (its POST carries Origin: null, Sec-Fetch-Site: same-origin): switched');
});

t.test('logout, then renew: each ends the session', async (t) => {
  const { record, value } = await h.tokens.create({ name: 'dave', role: 'read' });
  const page = await freshPage();
  await page.goto(base);
  await logIn(page, value);
  t.equal(await page.locator('#hello').textContent(), 'Hello from the notebook');

  const logout = await page.goto(`${base}/__jobgate/logout`);
  t.equal(logout?.status(), 200);
  t.equal(await page.getByRole('status').textContent(), 'You are logged out.');
  await page.goto(base);
  t.equal(await page.title(), 'Log in · nb1', 'logged out');

  await logIn(page, value);
  t.equal(await page.locator('#hello').textContent(), 'Hello from the notebook');
  const published = invalidations.seen.length;
  await h.tokens.renew(record.id);
  // The renew publishes token:<id>; jobgate has handled it once it has counted every token message
  // published up to that one (the channel delivers in order). Then the next navigation must see it.
  const renewMessage = `token:${record.id}`;
  const delivered = await waitFor(() => invalidations.seen.indexOf(renewMessage, published) !== -1).then(
    () => true,
    () => false,
  );
  t.ok(delivered, `the renew published ${renewMessage} on the invalidation channel`);
  if (delivered) {
    const upToRenew = invalidations.seen.slice(0, invalidations.seen.indexOf(renewMessage, published) + 1);
    const expected = upToRenew.filter((message) => message.startsWith('token:')).length;
    let counted = 0;
    const handled = await waitFor(async () => (counted = await tokenMessagesReceived()) >= expected).then(
      () => true,
      () => false,
    );
    t.ok(handled, `jobgate received the renew's invalidation message (token message number ${expected}; it counted ${counted})`);
  }
  const after = await page.goto(`${base}/again`);
  t.equal(after?.status(), 401);
  t.equal(await page.title(), 'Log in · nb1', 'after a renew the next navigation shows the login page');
  t.same(await page.context().cookies(), [], 'the stale cookie was cleared');
});

t.test('screenshots of the login page at desktop and phone widths', async (t) => {
  const target = process.env.JOBGATE_UPDATE_SCREENSHOTS
    ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url))
    : mkdtempSync(join(tmpdir(), 'jobgate-shots-'));
  mkdirSync(target, { recursive: true });
  for (const [name, viewport] of [
    ['login-desktop.png', { width: 1280, height: 800 }],
    ['login-phone.png', { width: 390, height: 844 }],
  ] as const) {
    const context = await browser.newContext({ viewport, deviceScaleFactor: name.includes('phone') ? 2 : 1 });
    const page = await context.newPage();
    await page.goto(base);
    const box = await page.locator('main').boundingBox();
    t.ok(box && box.x >= 0 && box.x + box.width <= viewport.width, `${name}: the form fits the width`);
    await page.screenshot({ path: join(target, name) });
    t.ok(statSync(join(target, name)).size > 1000, name);
    // The page a person meets for a job that does not exist, in the same style.
    const missing = name.replace('login', 'not-found');
    const reply = await page.goto(base.replace('nb1.', 'nb9.'));
    t.equal(reply?.status(), 404);
    t.equal(await page.getByRole('heading').textContent(), 'Nothing is served here', `${missing}: a page, not JSON`);
    const missingBox = await page.locator('main').boundingBox();
    t.ok(missingBox && missingBox.x >= 0 && missingBox.x + missingBox.width <= viewport.width, `${missing}: the page fits the width`);
    await page.screenshot({ path: join(target, missing) });
    t.ok(statSync(join(target, missing)).size > 1000, missing);
    await context.close();
  }
});

t.test('the login POST checks Origin and bounds its body', async (t) => {
  const { value } = await h.tokens.create({ name: 'erin', role: 'read' });
  const host = `nb1.job.localhost:${h.jobgate.proxyAddress.port}`;
  const post = (headers: Record<string, string>, body = `token=${value}&next=%2F`) =>
    request(h.url, { method: 'POST', host, path: '/__jobgate/login', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
  t.equal((await post({ origin: 'http://evil.test' })).status, 403, 'foreign Origin');
  t.equal((await post({ origin: 'null' })).status, 403, 'Origin: null');
  t.equal((await post({ 'sec-fetch-site': 'cross-site' })).status, 403, 'no Origin, cross-site fetch');
  const ok = await post({ origin: `http://${host}` });
  t.equal(ok.status, 303);
  t.equal(ok.headers.location, '/');
  t.match(String(ok.headers['set-cookie']), /^jobgate=[^;]+; Path=\/; Max-Age=43200; HttpOnly; SameSite=Lax$/);
  for (const next of ['//evil.test/x', 'http://evil.test', '/\\evil.test', 'javascript:alert(1)', '/ok\r\nx: y']) {
    const reply = await post({ origin: `http://${host}` }, `token=${value}&next=${encodeURIComponent(next)}`);
    t.equal(reply.headers.location, '/', `next ${JSON.stringify(next)} becomes /`);
  }
  const kept = await post({ origin: `http://${host}` }, `token=${value}&next=${encodeURIComponent('/lab?x=1')}`);
  t.equal(kept.headers.location, '/lab?x=1');
  t.equal((await post({ origin: `http://${host}` }, `token=${'a'.repeat(9000)}`)).status, 413, 'the body is bounded');
  t.equal((await post({ origin: `http://${host}`, 'content-type': 'application/json' }, '{}')).status, 415);
  t.equal((await request(h.url, { host, path: '/__jobgate/login' })).status, 405);
});

t.test('non-browser clients keep the JSON answer; a stale cookie gets 401 without error and is cleared', async (t) => {
  const host = `nb1.job.localhost:${h.jobgate.proxyAddress.port}`;
  const json = await request(h.url, { host, headers: { accept: 'application/json' } });
  t.equal(json.status, 401);
  t.equal(json.json().error, 'unauthorized');
  const stale = await request(h.url, { host, headers: { accept: '*/*', cookie: 'jobgate=eyJhbGciOiJIUzI1NiJ9.e30.forged' } });
  t.equal(stale.status, 401);
  t.equal(stale.headers['www-authenticate'], 'Bearer realm="jobgate"');
  t.match(String(stale.headers['set-cookie']), /^jobgate=; Path=\/; Max-Age=0/);
});

t.test('over HTTPS the cookie is __Host- and Secure', async (t) => {
  const secure = await startHarness({ JOBGATE_JOB_DOMAIN: 'job.localhost', JOBGATE_PUBLIC_SCHEME: 'https' }, h.redisServer);
  t.teardown(() => secure.close());
  await secure.jobs.put({ id: 'nb1', upstream: up.url });
  const { value } = await secure.tokens.create({ name: 'frank', role: 'read' });
  const host = `nb1.job.localhost:${secure.jobgate.proxyAddress.port}`;
  const reply = await request(secure.url, { host, path: `/?jobgate_token=${value}` });
  t.equal(reply.status, 303);
  t.match(String(reply.headers['set-cookie']), /^__Host-jobgate=[^;]+; Path=\/; Max-Age=43200; HttpOnly; SameSite=Lax; Secure$/);
  const cookie = String(reply.headers['set-cookie']).split(';')[0]!;
  t.equal((await request(secure.url, { host, headers: { cookie } })).status, 200, 'the cookie opens the job');
  t.equal((await request(secure.url, { host: `nb1-8888.job.localhost`, headers: { cookie } })).status, 404);
  t.match(secure.log.text, /JOBGATE_COOKIE_SECRET is not set/, 'a per-process key is announced');
});

t.test('a WebSocket with the session cookie from a foreign page is refused (Origin check)', async (t) => {
  const { value } = await h.tokens.create({ name: 'gina', role: 'read' });
  const host = `nb1.job.localhost:${h.jobgate.proxyAddress.port}`;
  const login = await request(h.url, { host, path: `/?jobgate_token=${value}` });
  const cookie = String(login.headers['set-cookie']).split(';')[0]!;
  const { default: WebSocket } = await import('ws');
  const attempt = (origin: string) =>
    new Promise<number>((resolve) => {
      const socket = new WebSocket(`ws://127.0.0.1:${h.jobgate.proxyAddress.port}/ws`, { headers: { host, cookie, origin } });
      socket.on('open', () => {
        socket.close();
        resolve(101);
      });
      socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.on('error', () => undefined);
    });
  t.equal(await attempt('http://evil.test'), 403);
  t.equal(await attempt(`http://${host}`), 101);
});
