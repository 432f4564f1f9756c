import { once } from 'node:events';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { bearer, request, type Reply } from '../helpers/http.js';
import { controlRequest } from '../helpers/control.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { RedisServer } from '../helpers/redis.js';
import { loginCookie } from '../session/support.js';
import { Upstream } from '../helpers/upstream.js';
import { eventually, nextEvent, within } from '../helpers/wait.js';

// Optional expiry: a token stops working at its instant on every instance, with caches that only
// an invalidation message could clear (none is sent at expiry), and what it opened is closed then.

const CONTROL = 'control.test';
const redis = await RedisServer.start();
const up = await Upstream.start('expiry-upstream');
const shared = { JOBGATE_KEY_PREFIX: 'exp:', JOBGATE_CACHE_TTL_MS: '300000', JOBGATE_CONTROL_HOST: CONTROL };
const a: Harness = await startHarness(shared, redis);
const b: Harness = await startHarness(shared, redis);
t.teardown(async () => {
  await a.close();
  await b.close();
  await up.close();
  await redis.stop();
});
await a.jobs.put({ id: 'nb', upstream: up.url, labels: {} });
const root = await a.tokens.create({ name: 'root', role: 'operator' });

const control = (method: string, path: string, body?: unknown): Promise<Reply> => controlRequest(a.url, { method, path, token: root.value, body });

/**
 * The answer to `value` on `h`, checked against the expiry without assuming anything about speed:
 * a request that ended before the instant must pass, one sent after it must be refused.
 */
async function checkedAgainst(t: Test, h: Harness, value: string, expiresAtMs: number, what: string): Promise<number> {
  const sent = Date.now();
  const reply = await request(h.url, { host: 'nb.job.test', headers: bearer(value) });
  const answered = Date.now();
  if (answered < expiresAtMs) t.equal(reply.status, 200, `${what}: before the expiry, it passes`);
  else if (sent >= expiresAtMs) {
    t.equal(reply.status, 401, `${what}: after the expiry, 401`);
    t.equal(reply.json().error, 'invalid_token');
    t.match(reply.json().message, /expired at \d{4}-/, 'the message says it expired, and when');
    t.match(reply.headers['www-authenticate'], /error_description="The token expired"/);
  } else t.ok(reply.status === 200 || reply.status === 401, `${what}: at the instant, 200 or 401`);
  return reply.status;
}

t.test('every instance refuses the token from its instant, with warm caches and no message', async (t) => {
  const expiresAt = new Date(Date.now() + 4000).toISOString();
  const made = await control('POST', '/api/v1/tokens', { name: 'short', role: 'read', expiresAt });
  t.equal(made.status, 201);
  const token = made.json<{ id: string; spec: { expiresAt: string }; status: { value: string; expired: boolean } }>();
  t.equal(token.spec.expiresAt, expiresAt, 'spec.expiresAt');
  t.equal(token.status.expired, false, 'status.expired: false');
  const expiresAtMs = Date.parse(expiresAt);
  for (const h of [a, b]) await checkedAgainst(t, h, token.status.value, expiresAtMs, `${h.url}, cached`);

  const ws = new WebSocket(`${a.url.replace('http', 'ws')}/ws`, { headers: { host: 'nb.job.test', ...bearer(token.status.value) } });
  const closed = nextEvent<[number, Buffer]>(ws, 'close', 'the WebSocket to close at the expiry');
  closed.catch(() => {}); // awaited below only when the WebSocket opened
  const opened = await within(
    Promise.race([once(ws, 'open').then(() => true), once(ws, 'unexpected-response').then(() => false)]),
    'the WebSocket to open or be refused',
  );

  for (const h of [a, b]) {
    await eventually(
      `${h.url} to refuse the expired token`,
      async () => (await checkedAgainst(t, h, token.status.value, expiresAtMs, `${h.url}, polling`)) === 401,
    );
  }
  if (opened) {
    const [code, reason] = await closed;
    t.equal(code, 1008, 'the WebSocket opened with it closed with 1008');
    t.equal(reason.toString(), 'token expired');
    t.ok(Date.now() >= expiresAtMs, 'not before the instant');
  } else {
    t.ok(Date.now() >= expiresAtMs, 'the WebSocket handshake came after the instant and was refused');
    ws.terminate();
  }

  const listed = (await control('GET', `/api/v1/tokens/${token.id}`)).json<{ status: { expired: boolean } }>();
  t.equal(listed.status.expired, true, 'still listed, with status.expired: true');

  const kept = await control('POST', `/api/v1/tokens/${token.id}/renew`);
  t.equal(kept.status, 400, 'renewing it without a new expiry is refused: the value would be born expired');
  t.match(kept.json().message, `expired at ${expiresAt}`);
  t.match(kept.json().message, /give it a new one/);
  const renewed = await control('POST', `/api/v1/tokens/${token.id}/renew`, { expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
  t.equal(renewed.status, 200, 'with a new expiry it is renewed');
  const newValue = renewed.json<{ status: { value: string } }>().status.value;
  // The instance hears of the renewal by its invalidation message (milliseconds): until then its cache holds the old secret.
  await eventually(
    'the renewed value to be accepted',
    async () => (await request(a.url, { host: 'nb.job.test', path: '/', headers: bearer(newValue) })).status === 200,
  );
  t.pass('and works');
});

t.test('a browser session opened with the token ends at its instant', async (t) => {
  const expiresAtMs = Date.now() + 4000;
  const token = await a.tokens.create({ name: 'browser', role: 'read', expiresAt: new Date(expiresAtMs).toISOString() });
  let cookie: string;
  try {
    cookie = await loginCookie(a.url, 'nb.job.test', token.value);
  } catch (error) {
    // A login after the instant is refused, which is what this test is about too.
    t.ok(Date.now() >= expiresAtMs, `login refused only after the expiry (${(error as Error).message})`);
    return;
  }
  const withCookie = () => request(a.url, { host: 'nb.job.test', path: '/', headers: { cookie, accept: 'application/json' } });
  await eventually('the session to stop opening the job', async () => (await withCookie()).status === 401);
  t.ok(Date.now() >= expiresAtMs, 'not before the instant');
});

t.test('renew keeps the expiry, or sets a new one; a past or malformed expiry is refused', async (t) => {
  const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
  const made = (await control('POST', '/api/v1/tokens', { name: 'hourly', role: 'read', expiresAt })).json<{ id: string }>();
  const kept = await control('POST', `/api/v1/tokens/${made.id}/renew`);
  t.equal(kept.json<{ spec: { expiresAt: string } }>().spec.expiresAt, expiresAt, 'renew without expiresAt keeps it');
  const later = new Date(Date.now() + 7_200_000).toISOString();
  const moved = await control('POST', `/api/v1/tokens/${made.id}/renew`, { expiresAt: later });
  t.equal(moved.json<{ spec: { expiresAt: string } }>().spec.expiresAt, later, 'renew with expiresAt sets it');
  const offset = await control('POST', '/api/v1/tokens', { name: 'offset', role: 'read', expiresAt: '2999-01-01T01:00:00+01:00' });
  t.equal(offset.json<{ spec: { expiresAt: string } }>().spec.expiresAt, '2999-01-01T00:00:00.000Z', 'an offset is stored as UTC');
  for (const bad of ['2000-01-01T00:00:00Z', 'tomorrow', '2999-01-01', '2999-13-01T00:00:00Z']) {
    const reply = await control('POST', '/api/v1/tokens', { name: 'bad', role: 'read', expiresAt: bad });
    t.equal(reply.status, 400, `expiresAt ${bad}: 400`);
  }
  const never = (await control('POST', '/api/v1/tokens', { name: 'forever', role: 'read' })).json<{
    spec: Record<string, unknown>;
    status: Record<string, unknown>;
  }>();
  t.notOk('expiresAt' in never.spec, 'without expiresAt: none in the spec');
  t.notOk('expired' in never.status, 'nor status.expired');
});

t.test('an operator token that expires cannot mint or renew a token that outlives it', async (t) => {
  const until = new Date(Date.now() + 3_600_000).toISOString();
  const temporary = await a.tokens.create({ name: 'temporary admin', role: 'operator', expiresAt: until });
  const as = (method: string, path: string, body?: unknown): Promise<Reply> => controlRequest(a.url, { method, path, token: temporary.value, body });
  type Doc = { id: string; spec: { expiresAt?: string } };
  const plain = await as('POST', '/api/v1/tokens', { name: 'made', role: 'operator' });
  t.equal(plain.status, 201);
  t.equal(plain.json<Doc>().spec.expiresAt, until, 'without expiresAt: it takes its maker expiry, not "never"');
  const later = await as('POST', '/api/v1/tokens', { name: 'later', role: 'read', expiresAt: '2999-01-01T00:00:00Z' });
  t.equal(later.status, 403, 'a later expiry: 403');
  t.equal(later.json().error, 'insufficient_scope');
  const earlier = new Date(Date.now() + 600_000).toISOString();
  t.equal(
    (await as('POST', '/api/v1/tokens', { name: 'earlier', role: 'read', expiresAt: earlier })).json<Doc>().spec.expiresAt,
    earlier,
    'an earlier one is kept',
  );
  t.equal((await as('POST', `/api/v1/tokens/${temporary.record.id}/renew`, { expiresAt: '2999-01-01T00:00:00Z' })).status, 403, 'it cannot extend itself');

  const eternal = await a.tokens.create({ name: 'eternal', role: 'read' });
  const renewed = await as('POST', `/api/v1/tokens/${eternal.record.id}/renew`);
  t.equal(renewed.status, 200);
  t.equal(renewed.json<Doc>().spec.expiresAt, until, "renewing a token without an expiry gives its new value the renewer's");
  const byRoot = await control('POST', `/api/v1/tokens/${eternal.record.id}/renew`);
  t.equal(byRoot.json<Doc>().spec.expiresAt, until, 'and an operator without expiry keeps it as it is');
});
