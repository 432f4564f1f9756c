import t from 'tap';
import { FailureLimiter } from '../../src/auth/failure-limit.js';
import { Authenticator, isDenial, type Exchange, isPromise, type GateRequest, type Target } from '../../src/gate/index.js';
import { sessionScope } from '../../src/gate/authenticator.js';
import { ANSWERS, expiredToken } from '../../src/http/answers.js';
import { CachedRegistry } from '../../src/registry/cache.js';
import { RedisRegistry } from '../../src/registry/registry.js';
import { SessionCookies } from '../../src/session/cookie.js';
import { sessionKeys } from '../../src/session/keys.js';
import { mintToken } from '../../src/tokens/format.js';
import { startGateStores } from '../helpers/gate-stores.js';
import { RedisClients, writeTokenHash } from '../helpers/redis.js';

/**
 * The authenticator alone on a real Redis: the bearer token or the session cookie a request
 * presents, the failure limit, the exchange of a token for a session (login form, deep link),
 * and the answers a client gets for each way it can fail.
 */

const { server, keys, tokens, jobs } = await startGateStores(t);
const clients = new RedisClients(server.url);
t.teardown(() => clients.disconnectAll());
const admin = await clients.connect();

const nb1 = await jobs.put({ id: 'nb1', upstream: 'http://127.0.0.1:1/', ports: { '8888': 'http://127.0.0.1:4/' }, labels: { team: 'a' } });
const nb2 = await jobs.put({ id: 'nb2', upstream: 'http://127.0.0.1:2/', labels: { team: 'b' } });
const open = await jobs.put({ id: 'open', upstream: 'http://127.0.0.1:3/', unsecureHttp: true });
const reader = await tokens.create({ name: 'reader', role: 'read', labelSelector: 'team=a' });
const operator = await tokens.create({ name: 'operator', role: 'operator' });
const expired = await tokens.create({ name: 'expired', role: 'read', expiresAt: '2020-01-02T00:00:00Z' }, new Date('2020-01-01T00:00:00Z'));
const unknown = mintToken();
const wrongSecret = mintToken(reader.record.id);
const badChecksum = `${reader.value.slice(0, -8)}00000000`;
const badRecord = mintToken();
await writeTokenHash(admin, keys, badRecord.id, { name: 'no role', secretHash: badRecord.secretHash });

const NB1: Target = { job: nb1, upstream: nb1.upstream };
const NB1_PORT: Target = { job: nb1, upstream: nb1.ports.get(8888)!, port: 8888 };
const NB2: Target = { job: nb2, upstream: nb2.upstream };
const OPEN: Target = { job: open, upstream: open.upstream };

interface Setup {
  /** Failures from one address before it is refused (a minute). */
  limit?: number;
  /** How long an id known not to exist is remembered. */
  negativeTtlMs?: number;
}
function authenticator({ limit = 1000, negativeTtlMs = 0 }: Setup = {}): Authenticator {
  const registry = new CachedRegistry(new RedisRegistry(tokens, jobs), { maxEntries: 100, ttlMs: 300_000, negativeTtlMs, outageGraceMs: 0 });
  return new Authenticator(registry, new FailureLimiter(limit), new SessionCookies(sessionKeys(['k'.repeat(32)]), 3600));
}

function request(overrides: Partial<GateRequest> & { bearer?: string; cookie?: string } = {}): GateRequest {
  const { bearer, cookie, ...rest } = overrides;
  const headers = { ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }), ...(cookie === undefined ? {} : { cookie }), ...rest.headers };
  const rawHeaders = Object.entries(headers).flatMap(([name, value]) => [name, String(value)]);
  return { method: 'GET', host: 'nb1.job.test', publicHost: 'nb1.job.test', url: '/', client: '192.0.2.1', https: false, ...rest, headers, rawHeaders };
}

/** What an admission or denial comes to, as a client and the access log see it. */
async function outcome(result: unknown): Promise<Record<string, unknown>> {
  const settled = isPromise(result as Promise<unknown>) ? await result : result;
  if (isDenial(settled)) {
    return {
      decision: settled.decision,
      status: settled.answer.status,
      jobId: settled.jobId,
      tokenId: settled.tokenId,
      staleSession: settled.staleSession,
      tokenChanged: settled.tokenChanged,
    };
  }
  const admission = settled as { decision: string; job: { id: string }; upstream: URL; token: { id: string } | undefined; via: string | undefined };
  return { decision: admission.decision, job: admission.job.id, upstream: admission.upstream.href, token: admission.token?.id, via: admission.via };
}

/** What an exchange came to: its kind, or the decision of its denial. */
function kindOf(exchange: Exchange): string {
  return isDenial(exchange) ? exchange.decision : exchange.kind;
}

/** Opens a session for `value` on `target` and returns the Cookie header that carries it. */
async function sessionCookie(auth: Authenticator, value: string, target: Target = NB1, req: GateRequest = request()): Promise<string> {
  const exchange = await auth.exchange(value, req, target);
  if (isDenial(exchange) || exchange.kind !== 'session') throw new Error(`no session: ${isDenial(exchange) ? exchange.decision : exchange.kind}`);
  return exchange.setCookie.split(';')[0]!;
}

const denied = (decision: string, status: number, jobId: string | undefined, tokenId?: string, session: { staleSession?: true; tokenChanged?: true } = {}) => ({
  decision,
  status,
  jobId,
  tokenId,
  staleSession: session.staleSession,
  tokenChanged: session.tokenChanged,
});

t.test('a bearer token to a job: the admission, or why not', async (t) => {
  const auth = authenticator();
  const cases: [string, GateRequest, Target, Record<string, unknown>][] = [
    [
      'a matching token',
      request({ bearer: reader.value }),
      NB1,
      { decision: 'allowed', job: 'nb1', upstream: 'http://127.0.0.1:1/', token: reader.record.id, via: 'bearer' },
    ],
    [
      "the job's other port: its upstream",
      request({ bearer: reader.value }),
      NB1_PORT,
      { decision: 'allowed', job: 'nb1', upstream: 'http://127.0.0.1:4/', token: reader.record.id, via: 'bearer' },
    ],
    [
      'an unscoped operator token',
      request({ bearer: operator.value }),
      NB2,
      { decision: 'allowed', job: 'nb2', upstream: 'http://127.0.0.1:2/', token: operator.record.id, via: 'bearer' },
    ],
    ['a token out of scope', request({ bearer: reader.value }), NB2, denied('scope_denied', 403, 'nb2', reader.record.id)],
    ['no credential', request(), NB1, denied('missing_token', 401, 'nb1')],
    ['another scheme (RFC 6750 3.1: no credential)', request({ headers: { authorization: 'Basic dXNlcjpwYXNz' } }), NB1, denied('missing_token', 401, 'nb1')],
    ['a token of the wrong shape', request({ bearer: 'not-a-token' }), NB1, denied('malformed_token', 401, 'nb1')],
    ['a wrong checksum', request({ bearer: badChecksum }), NB1, denied('malformed_token', 401, 'nb1')],
    ['an unknown token', request({ bearer: unknown.value }), NB1, denied('unknown_token', 401, 'nb1', unknown.id)],
    ["another secret for a token's id", request({ bearer: wrongSecret.value }), NB1, denied('unknown_token', 401, 'nb1', reader.record.id)],
    ['an expired token', request({ bearer: expired.value }), NB1, denied('expired_token', 401, 'nb1', expired.record.id)],
    ['a token record that cannot be read', request({ bearer: badRecord.value }), NB1, denied('invalid_token_record', 401, 'nb1', badRecord.id)],
    [
      'two Authorization headers',
      { ...request({ bearer: reader.value }), rawHeaders: ['authorization', `Bearer ${reader.value}`, 'Authorization', `Bearer ${operator.value}`] },
      NB1,
      denied('duplicate_authorization', 400, 'nb1'),
    ],
    [
      'an unsecureHttp job: no credential needed',
      request(),
      OPEN,
      { decision: 'allowed_unsecure', job: 'open', upstream: 'http://127.0.0.1:3/', token: undefined, via: undefined },
    ],
    [
      'an unsecureHttp job: a credential is not even read',
      request({ bearer: 'not-a-token' }),
      OPEN,
      { decision: 'allowed_unsecure', job: 'open', upstream: 'http://127.0.0.1:3/', token: undefined, via: undefined },
    ],
  ];
  for (const [what, req, target, expected] of cases) {
    t.same(await outcome(auth.admitToJob(req, target)), expected, `${what} (cold cache)`);
    t.same(await outcome(auth.admitToJob(req, target)), expected, `${what} (warm cache)`);
  }
});

t.test('the answers: the challenge of each refusal, and the expiry the 401 names', async (t) => {
  const auth = authenticator();
  const answerOf = async (req: GateRequest) => {
    const result = await auth.admitToJob(req, NB1);
    if (!isDenial(result)) throw new Error('admitted');
    return result.answer;
  };
  t.same(await answerOf(request()), ANSWERS.missingToken);
  t.same(await answerOf(request({ bearer: 'x' })), ANSWERS.malformedToken);
  t.same(await answerOf(request({ bearer: unknown.value })), ANSWERS.unknownToken);
  t.same(await answerOf(request({ bearer: expired.value })), expiredToken('2020-01-02T00:00:00.000Z'));
  t.same(await answerOf(request({ bearer: badRecord.value })), ANSWERS.unverifiableToken);
  const outOfScope = await auth.admitToJob(request({ bearer: reader.value }), NB2);
  t.same(isDenial(outOfScope) ? outOfScope.answer : undefined, ANSWERS.scopeDenied, 'out of scope');
  t.same(
    await outcome(auth.admitToJob({ ...request({ bearer: 'x' }), rawHeaders: ['Authorization', 'Bearer x', 'authorization', 'Bearer y'] }, NB1)),
    denied('duplicate_authorization', 400, 'nb1'),
  );
});

t.test('which failures count toward the limit', async (t) => {
  // With a limit of 1, one counted failure makes the next bearer request a 429.
  const cases: [string, GateRequest, Target, boolean][] = [
    ['a token of the wrong shape', request({ bearer: 'not-a-token' }), NB1, true],
    ['"Bearer" and nothing else', request({ headers: { authorization: 'Bearer' } }), NB1, true],
    ['a wrong checksum', request({ bearer: badChecksum }), NB1, true],
    ['an unknown token', request({ bearer: unknown.value }), NB1, true],
    ["another secret for a token's id", request({ bearer: wrongSecret.value }), NB1, true],
    ['a token record that cannot be read', request({ bearer: badRecord.value }), NB1, true],
    ['an expired token (its holder knew a secret)', request({ bearer: expired.value }), NB1, false],
    ['a token out of scope', request({ bearer: reader.value }), NB2, false],
    ['no credential', request(), NB1, false],
    ['two Authorization headers', { ...request({ bearer: 'x' }), rawHeaders: ['authorization', 'Bearer x', 'authorization', 'Bearer y'] }, NB1, false],
    ['an unsecureHttp job with a bad token', request({ bearer: 'not-a-token' }), OPEN, false],
  ];
  for (const [what, req, target, counts] of cases) {
    const auth = authenticator({ limit: 1 });
    await outcome(auth.admitToJob(req, target));
    const next = await outcome(auth.admitToJob(request({ bearer: unknown.value }), NB1));
    t.equal(next.decision, counts ? 'too_many_failures' : 'unknown_token', what);
  }
});

t.test('an id known not to exist is refused from the cache, and still counted', async (t) => {
  const auth = authenticator({ limit: 2, negativeTtlMs: 300_000 });
  t.same(await outcome(auth.admitToJob(request({ bearer: unknown.value }), NB1)), denied('unknown_token', 401, 'nb1', unknown.id));
  const second = auth.admitToJob(request({ bearer: unknown.value }), NB1);
  t.notOk(isPromise(second), 'decided without Redis');
  t.same(await outcome(second), denied('unknown_token', 401, 'nb1', unknown.id));
  t.same(await outcome(auth.admitToJob(request({ bearer: unknown.value }), NB1)), denied('too_many_failures', 429, 'nb1'), 'the two were counted');

  const known = authenticator({ negativeTtlMs: 300_000 });
  await known.admitToJob(request({ bearer: unknown.value }), NB1);
  t.same(
    await outcome(known.admitToJob(request({ bearer: `${unknown.value.slice(0, -8)}00000000` }), NB1)),
    denied('unknown_token', 401, 'nb1', unknown.id),
    'that id with a wrong checksum: refused as unknown, before the checksum is even computed',
  );
});

t.test('past the failure limit: a 429 with Retry-After, except for a token already known valid', async (t) => {
  const auth = authenticator({ limit: 2 });
  t.equal((await outcome(auth.admitToJob(request({ bearer: reader.value }), NB1))).decision, 'allowed', 'the reader token, seen valid once');
  const cookie = await sessionCookie(auth, reader.value);
  await auth.admitToJob(request({ bearer: 'bad' }), NB1);
  await auth.admitToJob(request({ bearer: 'bad' }), NB1);

  const limited = await auth.admitToJob(request({ bearer: 'bad' }), NB1);
  t.same(await outcome(limited), denied('too_many_failures', 429, 'nb1'));
  if (isDenial(limited)) {
    t.equal(limited.answer.error, 'too_many_requests');
    const seconds = Number(limited.answer.headers['retry-after']);
    t.ok(seconds >= 1 && seconds <= 60, `Retry-After within the minute (${seconds})`);
  }
  t.same(await outcome(auth.admitToJob(request({ bearer: unknown.value }), NB1)), denied('too_many_failures', 429, 'nb1'), 'an unknown token');
  t.same(
    await outcome(auth.admitToJob(request({ bearer: operator.value }), NB1)),
    denied('too_many_failures', 429, 'nb1'),
    'a valid token never seen: a guess gains nothing',
  );
  t.same(
    await outcome(auth.admitToJob(request({ bearer: wrongSecret.value }), NB1)),
    denied('too_many_failures', 429, 'nb1'),
    "a known token's id with another secret",
  );
  t.equal((await outcome(auth.admitToJob(request({ bearer: reader.value }), NB1))).decision, 'allowed', 'the token known valid still passes');
  t.equal((await outcome(auth.admitToJob(request({ cookie }), NB1))).decision, 'allowed', 'a session is no guess');
  t.same(await outcome(auth.admitToJob(request(), NB1)), denied('missing_token', 401, 'nb1'), 'no credential: the login page, not the 429');
  t.same(
    await outcome(auth.admitToJob({ ...request({ bearer: 'x' }), rawHeaders: ['authorization', 'Bearer x', 'authorization', 'Bearer y'] }, NB1)),
    denied('duplicate_authorization', 400, 'nb1'),
  );
  t.equal((await outcome(auth.admitToJob(request({ bearer: 'bad', client: '192.0.2.2' }), NB1))).decision, 'malformed_token', 'another address is not limited');
  t.same(await outcome(auth.authenticateForApi(request({ bearer: unknown.value }))), denied('too_many_failures', 429, undefined), 'the API: the same limit');
  t.equal(kindOf(await auth.exchange('bad', request(), NB1)) === 'limited', true, 'the login form: the same limit');
});

t.test('a session cookie stands in for the token, on its own host, job and port', async (t) => {
  const auth = authenticator();
  const cookie = await sessionCookie(auth, reader.value);
  const admitted = { decision: 'allowed', job: 'nb1', upstream: 'http://127.0.0.1:1/', token: reader.record.id, via: 'session' };
  t.same(await outcome(auth.admitToJob(request({ cookie }), NB1)), admitted);
  t.same(await outcome(auth.admitToJob(request({ cookie, host: 'NB1.job.test:80' }), NB1)), admitted, 'the host in any case, with a port');
  t.same(await outcome(auth.admitToJob(request({ cookie: `other=1; ${cookie}` }), NB1)), admitted, 'among other cookies');
  t.same(
    await outcome(auth.admitToJob(request({ cookie, bearer: operator.value }), NB1)),
    { ...admitted, token: operator.record.id, via: 'bearer' },
    'a bearer token wins',
  );
  const stale = denied('missing_token', 401, 'nb1', undefined, { staleSession: true });
  t.same(await outcome(auth.admitToJob(request({ cookie, host: 'nb2.job.test' }), NB1)), stale, "another host's cookie");
  t.same(await outcome(auth.admitToJob(request({ cookie, host: 'nb1-8888.job.test' }), NB1_PORT)), stale, "another port's");
  t.same(
    await outcome(auth.admitToJob(request({ cookie, https: true }), NB1)),
    denied('missing_token', 401, 'nb1'),
    'over HTTPS the cookie has another name: none',
  );
  t.same(await outcome(auth.admitToJob(request({ cookie: `${cookie}x` }), NB1)), stale, 'a forged one');
  t.same(await outcome(auth.admitToJob(request({ cookie: 'jobgate=' }), NB1)), stale, 'an empty one');

  const secure = (await auth.exchange(reader.value, request({ https: true }), NB1)) as { setCookie: string };
  t.same(
    await outcome(auth.admitToJob(request({ cookie: secure.setCookie.split(';')[0]!, https: true }), NB1)),
    admitted,
    'an HTTPS session, under its own name',
  );
});

t.test('a session whose token changed: stale, and the login page will say why', async (t) => {
  const renewed = await tokens.create({ name: 'renewed', role: 'read' });
  const deleted = await tokens.create({ name: 'deleted', role: 'read' });
  const auth = authenticator();
  const renewedCookie = await sessionCookie(auth, renewed.value);
  const deletedCookie = await sessionCookie(auth, deleted.value);
  await tokens.renew(renewed.record.id);
  await tokens.delete(deleted.record.id);
  const fresh = authenticator();
  const changed = denied('missing_token', 401, 'nb1', undefined, { staleSession: true, tokenChanged: true });
  t.same(await outcome(fresh.admitToJob(request({ cookie: renewedCookie }), NB1)), changed, 'renewed');
  t.same(await outcome(fresh.admitToJob(request({ cookie: deletedCookie }), NB1)), changed, 'deleted');
  t.equal(await fresh.currentSession(request({ cookie: renewedCookie }), NB1), undefined, 'no current session either');
});

t.test('a session whose token expired since', async (t) => {
  const expiring = await tokens.create({ name: 'expiring', role: 'read' });
  const auth = authenticator();
  const cookie = await sessionCookie(auth, expiring.value);
  t.equal((await outcome(auth.admitToJob(request({ cookie }), NB1))).decision, 'allowed');
  // The same record and version, past its expiry (as time would make it).
  await admin.hset(keys.token(expiring.record.id), 'expiresAt', '2020-01-01T00:00:00.000Z');
  t.same(
    await outcome(authenticator().admitToJob(request({ cookie }), NB1)),
    denied('missing_token', 401, 'nb1', undefined, { staleSession: true, tokenChanged: true }),
  );
});

t.test('currentSession: the token of a valid session, else nothing', async (t) => {
  const auth = authenticator();
  const cookie = await sessionCookie(auth, reader.value);
  const current = await auth.currentSession(request({ cookie }), NB1);
  t.equal(isDenial(current) ? current.decision : current?.id, reader.record.id);
  t.equal(await auth.currentSession(request(), NB1), undefined, 'no cookie');
  t.equal(await auth.currentSession(request({ cookie: `${cookie}x` }), NB1), undefined, 'a forged one');
  t.equal(await auth.currentSession(request({ cookie, https: true }), NB1), undefined, 'the other scheme');
});

t.test('exchange: a session for a valid token in scope, or what else it came to', async (t) => {
  const auth = authenticator();
  const http = await auth.exchange(reader.value, request({ host: 'NB1.job.test:8080' }), NB1);
  if (isDenial(http) || http.kind !== 'session') throw new Error('no session');
  t.equal(http.token.id, reader.record.id);
  t.match(http.setCookie, /^jobgate=[\w-]+\.[\w-]+\.[\w-]+; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/);
  const https = await auth.exchange(reader.value, request({ https: true }), NB1);
  t.match(
    isDenial(https) || https.kind !== 'session' ? '' : https.setCookie,
    /^__Host-jobgate=[\w-]+\.[\w-]+\.[\w-]+; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure$/,
  );

  const padded = ` ${reader.value}${' '.repeat(511 - reader.value.length - 1)}`;
  t.equal(padded.length, 511);
  t.equal(kindOf(await auth.exchange(padded, request(), NB1)), 'session', 'spaces around the value, 511 characters in all');
  t.equal(kindOf(await auth.exchange(`${padded} `, request(), NB1)), 'invalid', '512 characters: not read at all');

  const kinds: [string, string, Target, string][] = [
    ['a token out of scope', reader.value, NB2, 'out_of_scope'],
    ['an unknown token', unknown.value, NB1, 'invalid'],
    ["another secret for a token's id", wrongSecret.value, NB1, 'invalid'],
    ['an expired token', expired.value, NB1, 'invalid'],
    ['a token record that cannot be read', badRecord.value, NB1, 'invalid'],
    ['not a token', 'hello', NB1, 'invalid'],
    ['empty', '', NB1, 'invalid'],
  ];
  for (const [what, value, target, kind] of kinds) {
    const result = await auth.exchange(value, request(), target);
    t.equal(isDenial(result) ? result.decision : result.kind, kind, what);
  }
  const outOfScope = await auth.exchange(reader.value, request(), NB2);
  t.equal(!isDenial(outOfScope) && outOfScope.kind === 'out_of_scope' ? outOfScope.token.id : undefined, reader.record.id, 'out of scope names the token');
});

t.test('exchange: which failures count, and the limit', async (t) => {
  const cases: [string, string, Target, boolean][] = [
    ['an unknown token', unknown.value, NB1, true],
    ['not a token', 'hello', NB1, true],
    ['too long to read', `${reader.value}${' '.repeat(600)}`, NB1, true],
    ['an expired token', expired.value, NB1, true],
    ['a token record that cannot be read', badRecord.value, NB1, true],
    ['a token out of scope', reader.value, NB2, false],
    ['a valid token', reader.value, NB1, false],
  ];
  for (const [what, value, target, counts] of cases) {
    const auth = authenticator({ limit: 1 });
    await auth.exchange(value, request(), target);
    const next = await auth.exchange('hello', request(), NB1);
    t.equal(kindOf(next), counts ? 'limited' : 'invalid', what);
  }

  const auth = authenticator({ limit: 1 });
  await auth.exchange(reader.value, request(), NB1);
  await auth.exchange('hello', request(), NB1);
  const limited = await auth.exchange(unknown.value, request(), NB1);
  t.ok(!isDenial(limited) && limited.kind === 'limited' && limited.retryAfter >= 1 && limited.retryAfter <= 60, 'limited, with the seconds left');
  t.equal(kindOf(await auth.exchange(operator.value, request(), NB1)), 'limited', 'a valid token never seen: limited');
  t.equal(kindOf(await auth.exchange(` ${reader.value} `, request(), NB1)), 'session', 'the token known valid still opens a session');
  t.equal(kindOf(await auth.exchange('hello', request({ client: '192.0.2.9' }), NB1)), 'invalid', 'another address');
});

t.test('the training API: bearer tokens only', async (t) => {
  const auth = authenticator({ limit: 1 });
  const cookie = await sessionCookie(auth, operator.value);
  const api = (req: GateRequest) => outcome(auth.authenticateForApi(req));
  const token = await auth.authenticateForApi(request({ bearer: operator.value }));
  t.equal(isDenial(token) ? token.decision : token.id, operator.record.id);
  t.same(await api(request({ cookie })), denied('missing_token', 401, undefined), 'a session cookie is for job URLs');
  t.same(await api(request()), denied('missing_token', 401, undefined));
  t.same(
    await api({ ...request({ bearer: 'x' }), rawHeaders: ['authorization', 'Bearer x', 'authorization', 'Bearer y'] }),
    denied('duplicate_authorization', 400, undefined),
  );
  t.same(await api(request({ bearer: 'x', client: '192.0.2.3' })), denied('malformed_token', 401, undefined));
  t.same(await api(request({ bearer: 'x', client: '192.0.2.3' })), denied('too_many_failures', 429, undefined), 'the malformed one was counted');
  t.same(await api(request({ bearer: unknown.value, client: '192.0.2.4' })), denied('unknown_token', 401, undefined, unknown.id));
  t.same(await api(request({ bearer: unknown.value, client: '192.0.2.4' })), denied('too_many_failures', 429, undefined), 'and the unknown one');
  t.same(await api(request({ bearer: expired.value, client: '192.0.2.5' })), denied('expired_token', 401, undefined, expired.record.id));
  t.same(await api(request({ bearer: badRecord.value, client: '192.0.2.6' })), denied('invalid_token_record', 401, undefined, badRecord.id));
  t.same(await api(request({ bearer: unknown.value, client: '192.0.2.6' })), denied('too_many_failures', 429, undefined), 'an unreadable record counts');
  t.same(await api(request({ bearer: unknown.value, client: '192.0.2.7', headers: { authorization: 'Basic eDp5' } })), denied('missing_token', 401, undefined));
});

t.test('a store that does not answer: 503, never counted, never let through', async (t) => {
  const auth = authenticator({ limit: 1 });
  const warm = authenticator();
  const cookie = await sessionCookie(warm, reader.value);
  server.pause();
  t.teardown(() => server.resume());
  const down = (jobId: string | undefined, tokenId: string) => denied('store_unavailable', 503, jobId, tokenId);
  t.same(await outcome(auth.admitToJob(request({ bearer: reader.value }), NB1)), down('nb1', reader.record.id), 'a bearer token');
  t.same(await outcome(authenticator().admitToJob(request({ cookie }), NB1)), down('nb1', reader.record.id), 'a session');
  t.same(await outcome(auth.authenticateForApi(request({ bearer: reader.value }))), down(undefined, reader.record.id), 'the API');
  t.same(await outcome(auth.exchange(reader.value, request(), NB1)), down('nb1', reader.record.id), 'an exchange');
  t.same(await outcome(authenticator().currentSession(request({ cookie }), NB1)), down('nb1', reader.record.id), 'the current session');
  server.resume();
  t.equal((await outcome(auth.admitToJob(request({ bearer: unknown.value }), NB1))).decision, 'unknown_token', 'none of it counted');
});

t.test('clearSession and sessionScope', async (t) => {
  const auth = authenticator();
  t.same(auth.clearSession(false), ['jobgate=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax']);
  t.same(auth.clearSession(true), [
    'jobgate=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure',
    '__Host-jobgate=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure',
  ]);
  t.same(sessionScope(request({ host: 'NB1.Job.Test:8443' }), NB1_PORT), { host: 'nb1.job.test', jobId: 'nb1', port: 8888 });
  t.same(sessionScope(request({ host: '[::1]' }), NB1), { host: '[::1]', jobId: 'nb1', port: undefined });
});
