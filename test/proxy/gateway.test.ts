import t from 'tap';
import WebSocket from 'ws';
import type { Role } from '../../src/tokens/record.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { bearer, request } from '../helpers/http.js';
import { Upstream } from '../helpers/upstream.js';

type Lifecycle = 'created' | 'renewed (old value)' | 'renewed (new value)' | 'deleted';
const LIFECYCLE: Lifecycle[] = ['created', 'renewed (old value)', 'renewed (new value)', 'deleted'];
const ROLES: Role[] = ['read', 'operator'];
// selector -> whether it matches job nb1 (team=a) and job nb2 (team=b)
const SELECTORS: Array<[string, boolean, boolean]> = [
  ['', true, true],
  ['team=a', true, false],
  ['team!=a', false, true],
  ['jobgate/id=nb2', false, true],
  ['team in (a,b),!gpu', true, true],
];

/** A token in the given lifecycle state; returns the value to present. */
async function tokenIn(h: Harness, role: Role, labelSelector: string, state: Lifecycle): Promise<string> {
  const { record, value } = await h.tokens.create({ name: `${role} ${labelSelector}`, role, labelSelector });
  if (state === 'created') return value;
  if (state === 'deleted') {
    await h.tokens.delete(record.id);
    return value;
  }
  const renewed = await h.tokens.renew(record.id);
  return state === 'renewed (old value)' ? value : renewed.value;
}

for (const mode of ['gateway', 'sidecar'] as const) {
  t.test(`${mode} mode: role x selector x token lifecycle`, async (t) => {
    const up = await Upstream.start('nb');
    const h = await startHarness(mode === 'sidecar' ? { JOBGATE_SIDECAR_JOB: 'nb2', JOBGATE_SIDECAR_UPSTREAM: up.url } : {});
    t.teardown(async () => {
      await h.close();
      await up.close();
    });
    await h.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'a' } });
    await h.jobs.put({ id: 'nb2', upstream: up.url, labels: { team: 'b' } });
    // In sidecar mode every request targets nb2, whatever the Host header says.
    const targets: Array<['nb1' | 'nb2', number]> =
      mode === 'gateway'
        ? [
            ['nb1', 1],
            ['nb2', 2],
          ]
        : [['nb2', 2]];

    for (const role of ROLES) {
      for (const [selector, matchesNb1, matchesNb2] of SELECTORS) {
        for (const state of LIFECYCLE) {
          const value = await tokenIn(h, role, selector, state);
          for (const [job, index] of targets) {
            const matching = index === 1 ? matchesNb1 : matchesNb2;
            const valid = state === 'created' || state === 'renewed (new value)';
            const expected = !valid ? 401 : matching ? 200 : 403;
            const reply = await request(h.url, { host: `${job}.job.test`, headers: bearer(value) });
            t.equal(reply.status, expected, `${role} "${selector}" ${state} -> ${job}`);
            if (expected === 401) t.match(reply.headers['www-authenticate'], /error="invalid_token"/);
            if (expected === 403) t.match(reply.headers['www-authenticate'], /error="insufficient_scope"/);
            if (expected === 200) t.equal(reply.json().name, 'nb');
          }
        }
      }
    }
  });
}

t.test('routing by Host header', async (t) => {
  const main = await Upstream.start('main');
  const lab = await Upstream.start('lab');
  const exact = await Upstream.start('exact');
  const h = await startHarness();
  t.teardown(async () => {
    await h.close();
    await Promise.all([main.close(), lab.close(), exact.close()]);
  });
  await h.jobs.put({ id: 'nb1', upstream: main.url, ports: { '8888': lab.url } });
  // A job whose id looks like a port reading of nb1: the exact id wins.
  await h.jobs.put({ id: 'nb1-9999', upstream: exact.url });
  const { value } = await h.tokens.create({ name: 'any', role: 'read' });
  const get = (host: string, path = '/') => request(h.url, { host, path, headers: bearer(value) });

  t.equal((await get('nb1.job.test')).json().name, 'main', 'default port');
  t.equal((await get('NB1.JOB.TEST:8080')).json().name, 'main', 'port in Host ignored, case ignored');
  t.equal((await get('nb1-8888.job.test')).json().name, 'lab', 'registered port');
  t.equal((await get('nb1-9999.job.test')).json().name, 'exact', 'exact job id wins over the port reading');
  const path = await get('nb1-8888.job.test', '/lab/tree?x=1&y=%2F');
  t.equal(path.json().url, '/lab/tree?x=1&y=%2F', 'path and query pass unchanged');

  for (const [host, why] of [
    ['nb1-7777.job.test', 'unregistered port'],
    ['nope.job.test', 'unknown job'],
    ['nope-8888.job.test', 'unknown job of a port reading'],
    ['nb1.other.test', 'outside the job domain'],
    ['127.0.0.1', 'an address'],
  ] as const) {
    const reply = await request(h.url, { host, headers: bearer(value) });
    t.equal(reply.status, 404, why);
    t.equal(reply.json().error, 'not_found');
    const anonymous = await request(h.url, { host });
    t.equal(anonymous.status, 404, `${why}, without a credential: routing comes first`);
  }
});

t.test('RFC 6750 answers', async (t) => {
  const up = await Upstream.start();
  const h = await startHarness();
  t.teardown(async () => {
    await h.close();
    await up.close();
  });
  await h.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'a' } });
  const { value } = await h.tokens.create({ name: 'b-team', role: 'read', labelSelector: 'team=b' });

  const missing = await request(h.url, { host: 'nb1.job.test' });
  t.equal(missing.status, 401);
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="jobgate"', 'no error attribute without a credential');
  t.equal(missing.json().error, 'unauthorized');
  t.match(missing.json().message, /Authorization: Bearer/);

  const basic = await request(h.url, { host: 'nb1.job.test', headers: { authorization: 'Basic dXNlcjpwYXNz' } });
  t.equal(basic.status, 401);
  t.equal(basic.headers['www-authenticate'], 'Bearer realm="jobgate"', 'another scheme counts as no credential');

  const malformed = await request(h.url, { host: 'nb1.job.test', headers: bearer('not-a-token') });
  t.equal(malformed.status, 401);
  t.match(malformed.headers['www-authenticate'], /^Bearer realm="jobgate", error="invalid_token", error_description="[^"]+"$/);
  t.notMatch(malformed.body, 'not-a-token', 'the token is never echoed');

  const scoped = await request(h.url, { host: 'nb1.job.test', headers: bearer(value) });
  t.equal(scoped.status, 403);
  t.match(scoped.headers['www-authenticate'], /error="insufficient_scope"/);
  t.equal(scoped.json().error, 'insufficient_scope');
  t.notMatch(scoped.body, value);

  const twice = await request(h.url, { host: 'nb1.job.test', headers: ['Authorization', `Bearer ${value}`, 'Authorization', `Bearer ${value}`] });
  t.equal(twice.status, 400);
  t.equal(twice.json().error, 'invalid_request');
  t.equal(up.received.length, 0, 'no refused request reached the upstream');
});

t.test('what the upstream sees', async (t) => {
  const up = await Upstream.start();
  const h = await startHarness();
  t.teardown(async () => {
    await h.close();
    await up.close();
  });
  await h.jobs.put({ id: 'nb1', upstream: up.url });
  const { record, value } = await h.tokens.create({ name: 'Zoë 🚀 notebook', role: 'operator' });

  const reply = await request(h.url, {
    host: 'nb1.job.test',
    method: 'POST',
    path: '/api?q=1',
    body: 'payload',
    headers: [
      'Authorization',
      `Bearer ${value}`,
      'X-Jobgate-Role',
      'operator',
      'x-jobgate-token-id',
      'forged',
      'X_Jobgate_Token_Name',
      'forged',
      'X-JOBGATE-anything',
      'forged',
      'X-Forwarded-For',
      '6.6.6.6',
      'X-Forwarded-Host',
      'evil.test',
      'X-Forwarded-Proto',
      'https',
      'Forwarded',
      'for=6.6.6.6',
      'X-Real-IP',
      '6.6.6.6',
      'Connection',
      'keep-alive, X-Hop',
      'X-Hop',
      'hop',
      'Keep-Alive',
      'timeout=5',
      'TE',
      'trailers',
      'Proxy-Authorization',
      'Basic x',
      'Cookie',
      'notebook=1; jobgate=forged; _xsrf=2; __Host-jobgate=forged',
      'X-Custom',
      'kept',
      'Content-Type',
      'text/plain',
    ],
  });
  t.equal(reply.status, 200);
  const seen = up.last;
  t.equal(seen.method, 'POST');
  t.equal(seen.url, '/api?q=1');
  t.equal(seen.body, 'payload');
  t.equal(seen.headers.authorization, undefined, 'the token is removed');
  t.notOk(
    seen.rawHeaders.some((line) => line.includes(value)),
    'the token appears nowhere',
  );
  t.equal(seen.headers['x-jobgate-token-id'], record.id);
  t.equal(seen.headers['x-jobgate-token-name'], encodeURIComponent('Zoë 🚀 notebook'), 'non-ASCII names are percent-encoded');
  t.equal(seen.headers['x-jobgate-role'], 'operator');
  const jobgateHeaders = seen.rawHeaders.filter((_, i) => i % 2 === 0).filter((name) => /^x[-_]jobgate[-_]/i.test(name));
  t.same(
    jobgateHeaders.map((name) => name.toLowerCase()).sort(),
    ['x-jobgate-assertion', 'x-jobgate-role', 'x-jobgate-token-id', 'x-jobgate-token-name'],
    'no client-sent identity header survives',
  );
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'client X-Forwarded-For is not trusted with 0 trusted hops');
  t.equal(seen.headers['x-forwarded-host'], 'nb1.job.test');
  t.equal(seen.headers['x-forwarded-proto'], 'http');
  t.equal(seen.headers.forwarded, 'for=127.0.0.1;host="nb1.job.test";proto=http');
  t.equal(seen.headers['x-real-ip'], undefined);
  t.equal(seen.headers['x-hop'], undefined, 'headers named in Connection are hop-by-hop');
  t.equal(seen.headers.te, undefined);
  t.equal(seen.headers['proxy-authorization'], undefined);
  t.equal(seen.headers.cookie, 'notebook=1; _xsrf=2', "the job's own cookies pass, jobgate's session cookies (under both names) do not");
  t.equal(seen.headers['x-custom'], 'kept');
  t.ok(seen.headers['x-request-id'], 'a request id is added');
});

/** Opens a WebSocket through jobgate; resolves with 101 once open (then closes it), else the refusal's status. */
function handshake(url: string, headers: Record<string, string>): Promise<number> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, { headers, handshakeTimeout: 30_000 });
  return new Promise<number>((resolve) => {
    socket.once('open', () => resolve(101));
    socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    socket.once('error', () => resolve(-1));
  }).finally(() => socket.terminate());
}

for (const scheme of ['http', 'https'] as const) {
  const name = scheme === 'https' ? '__Host-jobgate' : 'jobgate';
  t.test(`a browser session over ${scheme}: the job gets its own cookies, never the session cookie (${name})`, async (t) => {
    const up = await Upstream.start();
    const h = await startHarness(scheme === 'https' ? { JOBGATE_PUBLIC_SCHEME: 'https' } : {});
    t.teardown(async () => {
      await h.close();
      await up.close();
    });
    await h.jobs.put({ id: 'nb1', upstream: up.url });
    const { value } = await h.tokens.create({ name: 'browser', role: 'read' });
    const link = await request(h.url, { host: 'nb1.job.test', path: `/lab?jobgate_token=${encodeURIComponent(value)}` });
    t.equal(link.status, 303, 'a deep link opens a session');
    const session = String(link.headers['set-cookie']?.[0]).split(';')[0]!;
    t.ok(session.startsWith(`${name}=`), `the session cookie is ${name}`);
    const secret = session.slice(name.length + 1);
    // The session cookie between the job's own, as a browser sends them: the session alone opens the job.
    const cookie = `notebook=1; ${session}; _xsrf=2`;

    const page = await request(h.url, { host: 'nb1.job.test', path: '/lab', headers: { cookie } });
    t.equal(page.status, 200, 'the session opens the job');
    t.equal(up.last.headers.cookie, 'notebook=1; _xsrf=2', "an HTTP request: the job's cookies pass, the session cookie does not");
    t.notOk(
      up.last.rawHeaders.some((line) => line.includes(secret)),
      'the session appears nowhere in what the job received',
    );

    const opened = await handshake(h.url, { host: 'nb1.job.test', cookie, origin: `${scheme}://nb1.job.test` });
    t.equal(opened, 101, "the session opens a WebSocket from the job's own page");
    t.equal(up.last.method, 'WS');
    t.equal(up.last.headers.cookie, 'notebook=1; _xsrf=2', "a WebSocket handshake: the job's cookies pass, the session cookie does not");
    t.notOk(
      up.last.rawHeaders.some((line) => line.includes(secret)),
      'the session appears nowhere in the handshake the job received',
    );
  });
}

t.test('trusted hops', async (t) => {
  const up = await Upstream.start();
  const h = await startHarness({ JOBGATE_TRUSTED_HOPS: '1' });
  t.teardown(async () => {
    await h.close();
    await up.close();
  });
  await h.jobs.put({ id: 'nb1', upstream: up.url, unsecureHttp: true });
  await request(h.url, {
    host: 'nb1.job.test',
    headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'nb1.example.com' },
  });
  t.equal(up.last.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1', 'only the entry added by the trusted hop is kept');
  t.equal(up.last.headers['x-forwarded-proto'], 'https');
  t.equal(up.last.headers['x-forwarded-host'], 'nb1.example.com');
  t.equal(up.last.headers.forwarded, 'for=203.0.113.7, for=127.0.0.1;host="nb1.example.com";proto=https');
});

t.test('unsecureHttp jobs need no credential and keep the client headers', async (t) => {
  const up = await Upstream.start();
  const h = await startHarness();
  t.teardown(async () => {
    await h.close();
    await up.close();
  });
  await h.jobs.put({ id: 'pub', upstream: up.url, unsecureHttp: true });
  const anonymous = await request(h.url, { host: 'pub.job.test', headers: { 'x-jobgate-role': 'operator' } });
  t.equal(anonymous.status, 200);
  t.equal(up.last.headers['x-jobgate-role'], undefined, 'client-sent X-Jobgate-* are still removed');
  const withBasic = await request(h.url, { host: 'pub.job.test', headers: { authorization: 'Basic dXNlcjpwYXNz', cookie: 'a=1; jobgate=x; b=2' } });
  t.equal(withBasic.status, 200);
  t.equal(up.last.headers.authorization, 'Basic dXNlcjpwYXNz', "the client's Authorization passes untouched");
  t.equal(up.last.headers.cookie, 'a=1; b=2', "the job's cookies pass, jobgate's session cookie not even here");
  const garbage = await request(h.url, { host: 'pub.job.test', headers: bearer('garbage') });
  t.equal(garbage.status, 200, 'a credential is not even read');
  t.equal(up.last.headers['x-jobgate-token-id'], undefined, 'no identity headers are added');
});

t.test('keepAuthorization forwards the token when asked to', async (t) => {
  const up = await Upstream.start();
  const h = await startHarness({ JOBGATE_KEEP_AUTHORIZATION: 'true' });
  t.teardown(async () => {
    await h.close();
    await up.close();
  });
  await h.jobs.put({ id: 'nb1', upstream: up.url });
  const { value } = await h.tokens.create({ name: 'x', role: 'read' });
  await request(h.url, { host: 'nb1.job.test', headers: bearer(value) });
  t.equal(up.last.headers.authorization, `Bearer ${value}`);
});

t.test('upstream failures: 502 refused, 504 timeout, no internal address in the body', async (t) => {
  const slow = await Upstream.start('slow', () => ({ delayMs: 2000 }));
  const h = await startHarness({ JOBGATE_UPSTREAM_TIMEOUT_MS: '300' });
  t.teardown(async () => {
    await h.close();
    await slow.close();
  });
  await h.jobs.put({ id: 'down', upstream: 'http://127.0.0.1:1', unsecureHttp: true });
  await h.jobs.put({ id: 'slow', upstream: slow.url, unsecureHttp: true });
  const refused = await request(h.url, { host: 'down.job.test' });
  t.equal(refused.status, 502);
  t.equal(refused.json().error, 'bad_gateway');
  t.notMatch(refused.body, '127.0.0.1');
  const timedOut = await request(h.url, { host: 'slow.job.test' });
  t.equal(timedOut.status, 504);
  t.equal(timedOut.json().error, 'gateway_timeout');
  t.notMatch(timedOut.body, String(slow.port));
});

t.test('malformed records deny, with a log line naming the key', async (t) => {
  const up = await Upstream.start();
  const h = await startHarness();
  t.teardown(async () => {
    await h.close();
    await up.close();
  });
  const prefix = h.settings.keyPrefix;
  await h.admin.hset(`${prefix}job:broken`, { id: 'broken', labels: '{not json', upstream: up.url, createdAt: 'x', updatedAt: 'x' });
  await h.jobs.put({ id: 'nb1', upstream: up.url });
  const { record, value } = await h.tokens.create({ name: 'x', role: 'read' });
  const job = await request(h.url, { host: 'broken.job.test', headers: bearer(value) });
  t.equal(job.status, 503);
  t.equal(job.json().error, 'job_record_invalid');
  await h.admin.hset(`${prefix}token:${record.id}`, 'role', 'admin');
  const token = await request(h.url, { host: 'nb1.job.test', headers: bearer(value) });
  t.equal(token.status, 401, 'a token whose record is malformed does not pass');
  await h.admin.set(`${prefix}job:string`, 'not a hash');
  t.equal((await request(h.url, { host: 'string.job.test', headers: bearer(value) })).status, 503, 'a key of the wrong type');
  t.equal(up.received.length, 0);
  const errors = h.log.lines.filter((line) => line.event === 'invalid_record').map((line) => line.key);
  t.same(errors, [`${prefix}job:broken`, `${prefix}token:${record.id}`, `${prefix}job:string`]);
});

t.test('access log: one line per request, never a secret', async (t) => {
  const up = await Upstream.start();
  const h = await startHarness();
  t.teardown(async () => {
    await h.close();
    await up.close();
  });
  await h.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'a' } });
  const { record, value } = await h.tokens.create({ name: 'x', role: 'read', labelSelector: 'team=a' });
  const other = await h.tokens.create({ name: 'y', role: 'read', labelSelector: 'team=b' });
  await request(h.url, { host: 'nb1.job.test', path: `/p?token=${value}`, headers: { ...bearer(value), cookie: `s=${value}` } });
  await request(h.url, { host: 'nb1.job.test', headers: bearer(other.value) });
  await request(h.url, { host: 'nb1.job.test', headers: bearer(value.slice(0, -1) + 'x') });
  await request(h.url, { host: 'nb1.job.test', path: '/q"uote\\back', headers: bearer(value) });
  h.jobgate.logger.flush();
  const lines = h.log.access;
  t.equal(lines.length, 4, 'every line is JSON, however odd the path');
  t.equal(lines[3]!.path, '/q"uote\\back', 'quotes and backslashes are escaped, not dropped');
  t.match(lines[0], { status: 200, decision: 'allowed', jobId: 'nb1', tokenId: record.id, path: '/p', method: 'GET' });
  t.ok(typeof lines[0]!.requestId === 'string' && typeof lines[0]!.durationMs === 'number');
  t.match(lines[1], { status: 403, decision: 'scope_denied', tokenId: other.record.id });
  t.match(lines[2], { status: 401, decision: 'malformed_token' });
  for (const secret of [value, other.value, value.slice(41, 105)]) t.notOk(h.log.text.includes(secret), 'no token or secret in the log');
});
