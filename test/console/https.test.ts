import t from 'tap';
import { CONTROL_HOST } from '../helpers/control.js';
import { consoleGet, consolePost } from '../helpers/console.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';

// The token console behind TLS (JOBGATE_PUBLIC_SCHEME=https): the __Host- cookie, Secure, and the https origin.

const h: Harness = await startHarness({ JOBGATE_CONTROL_HOST: CONTROL_HOST, JOBGATE_PUBLIC_SCHEME: 'https' });
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
