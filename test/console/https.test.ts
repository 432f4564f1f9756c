import t from 'tap';
import { CONTROL_HOST } from '../helpers/control.js';
import { request } from '../helpers/http.js';
import { consoleGet, consolePost, consolePostLarge } from '../helpers/console.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';

// The token console behind TLS (JOBGATE_PUBLIC_SCHEME=https): the __Host- cookie, Secure, and the https origin.

const h: Harness = await startHarness({ JOBGATE_CONTROL_HOST: CONTROL_HOST, JOBGATE_PUBLIC_SCHEME: 'https', JOBGATE_AUTH_FAILURE_LIMIT: '3' });
t.teardown(() => h.close());
const root = await h.tokens.create({ name: 'root', role: 'operator' });
const ORIGIN = `https://${CONTROL_HOST}`;

t.test('over HTTPS: a __Host- cookie, Secure, host-only, and the https origin', async (t) => {
  t.equal(
    (await consolePost(h.url, '/console/login', { token: root.value }, undefined, { origin: `http://${CONTROL_HOST}` })).status,
    403,
    'the http origin is another origin',
  );
  const signedIn = await consolePost(h.url, '/console/login', { token: root.value }, undefined, { origin: ORIGIN });
  t.equal(signedIn.status, 303);
  const setCookie = signedIn.headers['set-cookie']![0]!;
  t.match(setCookie, /^__Host-jobgate-console=[^;]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict; Secure$/);
  const cookie = setCookie.split(';', 1)[0]!;
  const page = await consoleGet(h.url, '/console/tokens', cookie);
  t.equal(page.status, 200);
  t.equal(
    (await consoleGet(h.url, '/console/tokens', cookie.replace('__Host-jobgate-console', 'jobgate-console'))).status,
    303,
    'the plain name is not read over HTTPS',
  );
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
  const out = await consolePost(h.url, '/console/logout', { csrf }, cookie, { origin: ORIGIN });
  t.equal(out.status, 200);
  t.match(String(out.headers['set-cookie']), /^__Host-jobgate-console=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict; Secure$/);
});

t.test('wrong sign-ins count toward the failure limit: then a 429 page, and only a known valid token passes', async (t) => {
  const wrong = `${root.value.slice(0, -8)}00000000`;
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await consolePost(h.url, '/console/login', { token: wrong }, undefined, { origin: ORIGIN })).status);
  t.same(statuses.slice(0, 3), [401, 401, 401]);
  t.equal(statuses.at(-1), 429, 'past the limit');
  const limited = await consolePost(h.url, '/console/login', { token: 'jgt_guess' }, undefined, { origin: ORIGIN });
  t.equal(limited.status, 429);
  t.match(limited.headers['retry-after'], /^\d+$/);
  t.match(limited.body, 'role="alert"');
  const known = await consolePost(h.url, '/console/login', { token: root.value }, undefined, { origin: ORIGIN });
  t.equal(known.status, 303, 'the token signed in before is known valid and passes');
});

t.test('only urlencoded forms, and only GET for pages', async (t) => {
  const json = await consolePost(h.url, '/console/login', {}, undefined, { origin: ORIGIN, 'content-type': 'application/json' });
  t.equal(json.status, 415);
  const put = await request(h.url, { method: 'PUT', host: CONTROL_HOST, path: '/console/login', headers: { origin: ORIGIN } });
  t.equal(put.status, 405, 'the sign-in page answers GET and its form POST');
});

t.test('a client that writes its whole large form before reading still gets the 413 or 415 page, not a reset', async (t) => {
  const form = { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' };
  const fiveMiB = 5 * 1024 * 1024;
  t.same(await consolePostLarge(h.url, '/console/login', fiveMiB, form), { status: 413, error: undefined }, 'sign-in, declared length over the limit');
  t.same(
    await consolePostLarge(h.url, '/console/login', fiveMiB, form, true),
    { status: 413, error: undefined },
    'sign-in, chunked, over the limit while reading',
  );
  t.same(
    await consolePostLarge(h.url, '/console/login', fiveMiB, { ...form, 'content-type': 'text/plain' }),
    { status: 415, error: undefined },
    'sign-in, a body refused unread',
  );
  const signedIn = await consolePost(h.url, '/console/login', { token: root.value }, undefined, { origin: ORIGIN });
  const cookie = signedIn.headers['set-cookie']![0]!.split(';', 1)[0]!;
  t.same(await consolePostLarge(h.url, '/console/tokens', fiveMiB, { ...form, cookie }), { status: 413, error: undefined }, 'a signed-in form');
  t.equal((await consoleGet(h.url, '/console/tokens', cookie)).status, 200, 'jobgate still answers');
});
