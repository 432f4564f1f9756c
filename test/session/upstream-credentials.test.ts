import { once } from 'node:events';
import t from 'tap';
import { WebSocket } from 'ws';
import { request } from '../helpers/http.js';
import { startHarness } from '../helpers/jobgate.js';
import { Upstream, type Received } from '../helpers/upstream.js';
import { loginCookie } from './support.js';

/**
 * No credential meant for jobgate reaches an upstream: not through an unsecureHttp job (whose
 * owner would collect tokens), not through a protected one, over HTTP or WebSocket. The job's
 * own Authorization and cookies still pass.
 */

const up = await Upstream.start('job');
const h = await startHarness();
t.teardown(async () => {
  await h.close();
  await up.close();
});
await h.jobs.put({ id: 'pub', upstream: up.url, unsecureHttp: true });
await h.jobs.put({ id: 'nb1', upstream: up.url });
const operator = await h.tokens.create({ name: 'ops', role: 'operator' });
const reader = await h.tokens.create({ name: 'reader', role: 'read' });
const TOKEN = operator.value;
/** The 64 hex characters of the secret: whatever else is cut off, these must not arrive. */
const SECRET = TOKEN.slice(41, 105);
const PUB = 'pub.job.test';

/** Everything the upstream received for one request, as one string to search. */
const seenText = (seen: Received) => `${seen.url}\n${seen.rawHeaders.join('\n')}`;

/** Sends one HTTP request and returns what the upstream received for it. */
async function through(host: string, headers: readonly string[], path = '/', method = 'GET'): Promise<Received> {
  const before = up.received.length;
  const reply = await request(h.url, { host, path, method, headers, body: method === 'GET' || method === 'DELETE' ? undefined : 'x=1' });
  if (reply.status !== 200) throw new Error(`${method} ${path} on ${host} answered ${reply.status}: ${reply.body}`);
  if (up.received.length !== before + 1) throw new Error('the upstream did not receive exactly one request');
  return up.last;
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

t.test('an unsecureHttp job never sees a jobgate token, in any header, scheme or case', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['Bearer, an operator token', ['Authorization', `Bearer ${TOKEN}`]],
    ['lowercase bearer', ['authorization', `bearer ${TOKEN}`]],
    ['another scheme (Token)', ['Authorization', `Token ${TOKEN}`]],
    ['no scheme at all', ['Authorization', TOKEN]],
    ['a token cut short', ['Authorization', `Bearer ${TOKEN.slice(0, 105)}`]],
    ['Basic with the token as password', ['Authorization', basic('x', TOKEN)]],
    ["a second Authorization header after the job's own", ['Authorization', 'Basic am9iOm93bg==', 'Authorization', `Bearer ${TOKEN}`]],
    ['in another header', ['X-Api-Key', TOKEN, 'X-Kept', 'yes']],
    ['in Referer', ['Referer', `http://nb1.job.test/?jobgate_token=${TOKEN}`]],
    ['in a cookie of the job', ['Cookie', `nb=1; saved=${TOKEN}; other=2`]],
    ['in X-Request-Id', ['X-Request-Id', TOKEN]],
  ];
  for (const [why, headers] of cases) {
    const seen = await through(PUB, headers);
    t.notOk(seenText(seen).includes(SECRET), `${why}: the secret does not reach the job`);
    t.notOk(seenText(seen).includes('jgt_'), `${why}: nothing shaped like a token does`);
  }
  const second = await through(PUB, ['Authorization', 'Basic am9iOm93bg==', 'Authorization', `Bearer ${TOKEN}`]);
  t.equal(second.headers.authorization, 'Basic am9iOm93bg==', "the job's own Authorization, sent first, still passes");
  const other = await through(PUB, ['X-Api-Key', TOKEN, 'X-Kept', 'yes']);
  t.equal(other.headers['x-kept'], 'yes', 'other headers pass');
  const cookie = await through(PUB, ['Cookie', `nb=1; saved=${TOKEN}; other=2`]);
  t.equal(cookie.headers.cookie, 'nb=1; other=2', "the job's other cookies pass");
  t.ok((await through(PUB, ['X-Request-Id', TOKEN])).headers['x-request-id'], 'a request id is still sent');
});

t.test("the job's own Authorization still reaches an unsecureHttp job", async (t) => {
  for (const value of [basic('alice', 'notebook-password'), 'Bearer the-jobs-own-token', 'Token abc123', 'Bearer jgt_']) {
    t.equal((await through(PUB, ['Authorization', value])).headers.authorization, value, value);
  }
});

t.test('query parameters that carry a token do not reach the job, on any method', async (t) => {
  const encoded = encodeURIComponent(TOKEN).replace('_', '%5F');
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    t.equal((await through(PUB, [], `/submit?a=1&jobgate_token=${TOKEN}&b=2`, method)).url, '/submit?a=1&b=2', `${method} ?jobgate_token=`);
  }
  t.equal((await through(PUB, [], `/submit?jobgate%5Ftoken=${TOKEN}`, 'POST')).url, '/submit', 'a percent-encoded parameter name');
  t.equal((await through(PUB, [], `/x?token=${TOKEN}&keep=1`)).url, '/x?keep=1', 'a token under another name, on a GET');
  t.equal((await through(PUB, [], `/x?token=${encoded}&keep=1`)).url, '/x?keep=1', 'a percent-encoded token');
  t.equal((await through(PUB, [], '/x?jobgate_token')).url, '/x', 'the parameter without a value');
  t.equal((await through(PUB, [], '/x?a=1&b=jgt&jobgate=1')).url, '/x?a=1&b=jgt&jobgate=1', 'look-alikes pass byte for byte');
});

t.test("jobgate's session cookie and a token in another header never reach a protected job", async (t) => {
  const session = await loginCookie(h.url, 'nb1.job.test', reader.value);
  const withCookie = await through('nb1.job.test', ['Cookie', `nb=1; ${session}`, 'Authorization', `Token ${TOKEN}`, 'X-Api-Key', TOKEN]);
  t.equal(withCookie.headers.cookie, 'nb=1', 'the session cookie is removed');
  t.equal(withCookie.headers.authorization, undefined, 'an Authorization of another scheme that holds a token is removed');
  t.notOk(seenText(withCookie).includes(SECRET));
  t.equal(withCookie.headers['x-jobgate-token-id'], reader.record.id, 'the request passed on the session');
  const bearer = await through('nb1.job.test', ['Authorization', `Bearer ${reader.value}`, 'X-Api-Key', TOKEN], `/?x=${TOKEN}`);
  t.notOk(seenText(bearer).includes(SECRET), 'another token beside the bearer one');
  t.notOk(seenText(bearer).includes(reader.value.slice(41, 105)), 'the bearer token itself');
});

t.test('WebSocket handshakes carry no jobgate credential either', async (t) => {
  const session = await loginCookie(h.url, PUB, reader.value);
  const open = async (host: string, path: string, headers: Record<string, string>): Promise<Received> => {
    const before = up.received.length;
    const ws = new WebSocket(`ws://127.0.0.1:${h.jobgate.proxyAddress.port}${path}`, { headers: { host, ...headers }, handshakeTimeout: 10_000 });
    await once(ws, 'open');
    ws.send('ping');
    const [echo] = (await once(ws, 'message')) as [Buffer, boolean];
    t.equal(String(echo), 'ping', 'the WebSocket works');
    ws.close();
    const seen = up.received.slice(before).find((received) => received.method === 'WS');
    if (!seen) throw new Error('the upstream saw no handshake');
    return seen;
  };
  const headers = { authorization: `bearer ${TOKEN}`, 'x-api-key': TOKEN, cookie: `nb=1; ${session}; saved=${TOKEN}` };
  const seen = await open(PUB, `/ws?jobgate_token=${TOKEN}&room=1`, headers);
  t.notOk(seenText(seen).includes(SECRET), 'the secret does not reach the job');
  t.equal(seen.url, '/ws?room=1');
  t.equal(seen.headers.cookie, 'nb=1');
  t.equal(seen.headers.authorization, undefined);
  const own = await open(PUB, '/ws', { authorization: basic('alice', 'pw') });
  t.equal(own.headers.authorization, basic('alice', 'pw'), "the job's own Authorization passes");
  const bearer = await open('nb1.job.test', `/ws?t=${TOKEN}`, { authorization: `Bearer ${reader.value}`, 'x-api-key': TOKEN });
  t.notOk(seenText(bearer).includes(SECRET), 'a protected job: another token beside the bearer one');
  t.equal(bearer.url, '/ws');
});
