import { connect as connectHttp2 } from 'node:http2';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import type { Role } from '../../src/tokens/record.js';
import { bearer, flatHeaders, request, type Reply } from '../helpers/http.js';
import { JOB_DOMAIN, startHarness, type Harness } from '../helpers/jobgate.js';
import { Nginx, renderExample, sendRaw } from '../helpers/nginx.js';
import { Upstream, type Received } from '../helpers/upstream.js';

/**
 * A real nginx running deploy/nginx/jobgate.conf (auth_request to jobgate's decision endpoint)
 * in front of a real upstream: every request is sent inline (jobgate's proxy listener) and
 * through nginx, and both must answer alike, the token never reaching the upstream.
 * Without nginx this fails with an install hint (.ci/run installs it): nothing is skipped.
 */

const API = 'api.test';

let h: Harness;
let job: Upstream;
let api: Upstream;
let nginx: Nginx;
let jwks: JSONWebKeySet;
/** Every token value handed out, to check that none reached an upstream. */
const values: string[] = [];

const hostOf = (upstream: Upstream) => `127.0.0.1:${upstream.port}`;

t.before(async () => {
  job = await Upstream.start('job');
  api = await Upstream.start('api');
  h = await startHarness({
    JOBGATE_AUTHZ_LISTEN: '127.0.0.1:0',
    // nginx is the hop in front of the main listener (the error answers, the login form).
    JOBGATE_TRUSTED_HOPS: '1',
    // A refused request is decided twice behind nginx (sub-request, then @jobgate): the table
    // below refuses many, from one address.
    JOBGATE_AUTH_FAILURE_LIMIT: '100000',
    JOBGATE_API_HOST: API,
    JOBGATE_API_UPSTREAM: api.url,
  });
  await h.jobs.put({ id: 'nb1', upstream: job.url, labels: { team: 'a' } });
  await h.jobs.put({ id: 'nb2', upstream: job.url, labels: { team: 'b' } });
  await h.jobs.put({ id: 'pub', upstream: job.url, unsecureHttp: true });
  await h.jobs.put({ id: 'unmapped', upstream: job.url, labels: { team: 'a' } });
  nginx = await Nginx.start((listenPort, dir) =>
    renderExample({
      listenPort,
      accessLog: join(dir, 'access.log'),
      authz: `127.0.0.1:${h.jobgate.authzAddress!.port}`,
      jobgate: `127.0.0.1:${h.jobgate.proxyAddress.port}`,
      jobDomain: JOB_DOMAIN,
      apiHost: API,
      apiUpstream: hostOf(api),
      // `ghost` is mapped here but unknown to jobgate; `unmapped` is the reverse.
      jobs: { nb1: hostOf(job), nb2: hostOf(job), pub: hostOf(job), ghost: hostOf(job) },
    }),
  );
  jwks = (await request(h.adminUrl, { path: '/.well-known/jobgate/jwks.json' })).json<JSONWebKeySet>();
});

t.teardown(async () => {
  await nginx?.stop();
  await h?.close();
  await job?.close();
  await api?.close();
});

interface Sent {
  readonly host: string;
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Record<string, string> | readonly string[];
  readonly body?: string;
}

/** Sends a request inline and through nginx; returns both answers and what the upstream saw of each. */
async function both(
  sent: Sent,
  upstream = job,
): Promise<{ inline: Reply; viaNginx: Reply; seenInline: Received | undefined; seenViaNginx: Received | undefined }> {
  const send = async (base: string, host: string) => {
    const before = upstream.received.length;
    const reply = await request(base, { host, method: sent.method ?? 'GET', path: sent.path ?? '/', headers: flatHeaders(sent.headers), body: sent.body });
    return { reply, seen: upstream.received.length > before ? upstream.last : undefined };
  };
  const direct = await send(h.url, sent.host);
  const proxied = await send(nginx.url, `${sent.host}:${nginx.port}`);
  return { inline: direct.reply, viaNginx: proxied.reply, seenInline: direct.seen, seenViaNginx: proxied.seen };
}

/** The JSON `error` of an answer, if it is JSON. */
function errorCode(reply: Reply): string | undefined {
  if (!String(reply.headers['content-type']).startsWith('application/json')) return undefined;
  try {
    return reply.json<{ error?: string }>().error;
  } catch {
    return undefined;
  }
}

/** Same status, challenge, error code and (for jobgate's own answers) body, inline and through nginx. */
function alike(t: Test, pair: { inline: Reply; viaNginx: Reply }, what: string): void {
  const { inline, viaNginx } = pair;
  t.equal(viaNginx.status, inline.status, `${what}: status`);
  t.equal(viaNginx.headers['www-authenticate'], inline.headers['www-authenticate'], `${what}: WWW-Authenticate`);
  t.equal(errorCode(viaNginx), errorCode(inline), `${what}: error code`);
  if (inline.status !== 200) t.equal(viaNginx.body, inline.body, `${what}: body`);
  if (inline.headers['retry-after'] !== undefined) t.equal(viaNginx.headers['retry-after'] !== undefined, true, `${what}: Retry-After`);
}

/** What an upstream request must look like after an allowed decision for `tokenId`. */
async function checkForwarded(
  t: Test,
  seen: Received | undefined,
  expected: { tokenId: string; name: string; role: Role; audience: string },
  what: string,
): Promise<void> {
  if (!seen) return void t.fail(`${what}: the upstream saw nothing`);
  t.equal(seen.headers['x-jobgate-token-id'], expected.tokenId, `${what}: X-Jobgate-Token-Id`);
  t.equal(
    seen.headers['x-jobgate-token-name'],
    /^[\x20-\x24\x26-\x7e]*$/.test(expected.name) ? expected.name : encodeURIComponent(expected.name),
    `${what}: X-Jobgate-Token-Name`,
  );
  t.equal(seen.headers['x-jobgate-role'], expected.role, `${what}: X-Jobgate-Role`);
  const { payload } = await jwtVerify(String(seen.headers['x-jobgate-assertion']), createLocalJWKSet(jwks), { audience: expected.audience });
  t.equal(payload.sub, expected.tokenId, `${what}: a verifiable assertion`);
  t.equal(seen.headers.authorization, undefined, `${what}: no Authorization`);
  t.notOk(/(^|;\s*)(__Host-)?jobgate=/.test(String(seen.headers.cookie ?? '')), `${what}: no jobgate cookie`);
}

type Lifecycle = 'created' | 'renewed (old value)' | 'renewed (new value)' | 'deleted';
const LIFECYCLE: Lifecycle[] = ['created', 'renewed (old value)', 'renewed (new value)', 'deleted'];
const ROLES: Role[] = ['read', 'operator'];
// selector -> whether it matches nb1 (team=a) and nb2 (team=b)
const SELECTORS: Array<[string, boolean, boolean]> = [
  ['', true, true],
  ['team=a', true, false],
  ['jobgate/id=nb2', false, true],
];

t.test('the inline decision table, replayed through nginx: same answers, no token upstream', async (t) => {
  for (const role of ROLES) {
    for (const [selector, matchesNb1, matchesNb2] of SELECTORS) {
      for (const state of LIFECYCLE) {
        const name = `${role} ${selector || 'all'}`;
        const { record, value: first } = await h.tokens.create({ name, role, labelSelector: selector });
        values.push(first);
        let value = first;
        if (state === 'deleted') await h.tokens.delete(record.id);
        if (state.startsWith('renewed')) {
          const renewed = await h.tokens.renew(record.id);
          values.push(renewed.value);
          if (state === 'renewed (new value)') value = renewed.value;
        }
        for (const [target, matching] of [
          ['nb1', matchesNb1],
          ['nb2', matchesNb2],
        ] as const) {
          const valid = state === 'created' || state === 'renewed (new value)';
          const expected = !valid ? 401 : matching ? 200 : 403;
          const what = `${name}, ${state} -> ${target}`;
          const pair = await both({
            host: `${target}.${JOB_DOMAIN}`,
            path: '/lab/tree?x=1&y=%2F',
            headers: { ...bearer(value), cookie: 'nb=1; jobgate=forged' },
          });
          t.equal(pair.inline.status, expected, `${what}: inline`);
          alike(t, pair, what);
          if (expected === 401) t.match(pair.viaNginx.headers['www-authenticate'], /error="invalid_token"/, `${what}: invalid_token`);
          if (expected === 403) t.match(pair.viaNginx.headers['www-authenticate'], /error="insufficient_scope"/, `${what}: insufficient_scope`);
          if (expected === 200) {
            const identity = { tokenId: record.id, name, role, audience: `job:${target}` };
            await checkForwarded(t, pair.seenViaNginx, identity, `${what} via nginx`);
            t.equal(pair.seenViaNginx?.url, '/lab/tree?x=1&y=%2F', `${what}: the URI passes unchanged`);
            t.equal(pair.seenViaNginx?.headers.cookie, 'nb=1', `${what}: the job's own cookie passes`);
            t.equal(pair.seenViaNginx?.headers['x-forwarded-proto'], 'http');
            t.equal(pair.seenViaNginx?.headers['x-forwarded-for'], '127.0.0.1');
            t.equal(pair.seenViaNginx?.headers.cookie, pair.seenInline?.headers.cookie, `${what}: the same cookies as inline`);
          } else {
            t.equal(pair.seenViaNginx, undefined, `${what}: nothing reached the upstream`);
          }
        }
      }
    }
  }
});

t.test('answers without a valid token, and unknown jobs', async (t) => {
  const { value } = await h.tokens.create({ name: 'any', role: 'operator' });
  values.push(value);
  const html = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
  for (const [sent, status, what] of [
    [{ host: `nb1.${JOB_DOMAIN}` }, 401, 'no credential'],
    [{ host: `nb1.${JOB_DOMAIN}`, headers: { authorization: 'Basic dXNlcjpwYXNz' } }, 401, 'another scheme'],
    [{ host: `nb1.${JOB_DOMAIN}`, headers: bearer('not-a-token') }, 401, 'a malformed token'],
    [
      { host: `nb1.${JOB_DOMAIN}`, method: 'POST', path: '/api/run', headers: { 'content-type': 'text/plain' }, body: 'payload' },
      401,
      'a POST with a body, no credential',
    ],
    [{ host: `nb1.${JOB_DOMAIN}`, path: '/lab?x=1', headers: html }, 401, 'a browser: the login page'],
    [{ host: `nope.${JOB_DOMAIN}`, headers: bearer(value) }, 404, 'a job neither knows'],
    [{ host: `nope.${JOB_DOMAIN}` }, 404, 'a job neither knows, no credential'],
    [{ host: `ghost.${JOB_DOMAIN}`, headers: bearer(value) }, 404, 'a job nginx maps but jobgate does not know'],
    [{ host: `nb1-7777.${JOB_DOMAIN}`, headers: bearer(value) }, 404, 'an unregistered port'],
  ] as Array<[Sent, number, string]>) {
    const pair = await both(sent);
    t.equal(pair.inline.status, status, `${what}: inline`);
    alike(t, pair, what);
    t.equal(pair.seenViaNginx, undefined, `${what}: nothing reached the upstream`);
  }
  // nginx refuses a repeated Authorization header itself: the same status, nginx's own page.
  const twice = await both({ host: `nb1.${JOB_DOMAIN}`, headers: ['Authorization', `Bearer ${value}`, 'Authorization', `Bearer ${value}`] });
  t.equal(twice.inline.status, 400, 'two Authorization headers: inline');
  t.equal(twice.viaNginx.status, 400, 'two Authorization headers: nginx answers 400 itself');
  t.equal(twice.seenViaNginx, undefined);
  const missing = await both({ host: `nb1.${JOB_DOMAIN}` });
  t.equal(missing.viaNginx.headers['www-authenticate'], 'Bearer realm="jobgate"', 'one challenge, without an error attribute');
  const page = await both({ host: `nb1.${JOB_DOMAIN}`, path: '/lab?x=1', headers: html });
  t.match(page.viaNginx.headers['content-type'], /^text\/html/);
  t.match(page.viaNginx.body, 'value="/lab?x=1"');
});

t.test("what a job sees through nginx: the session cookie and the token never, the job's cookies always", async (t) => {
  const { record, value } = await h.tokens.create({ name: 'cookies', role: 'read' });
  values.push(value);
  for (const cookie of [
    'jobgate=x',
    'jobgate=x;',
    '__Host-jobgate=y',
    'a=1; jobgate=x',
    'jobgate=x; a=1',
    'a=1; jobgate=x; b=2',
    'a=1;jobgate=x;b=2',
    '__Host-jobgate=y; a=1; jobgate=x',
    'jobgate=x; __Host-jobgate=y',
    'a=1; __Host-jobgate=y; b=2; jobgate=x; c=3',
    'xjobgate=1; a=1',
    'a=jobgate=1',
    'myjobgate=2',
    'a=1',
  ]) {
    const pair = await both({ host: `nb1.${JOB_DOMAIN}`, headers: { ...bearer(value), cookie } });
    t.equal(pair.viaNginx.status, 200);
    const normalize = (header: string | undefined) =>
      (header ?? '')
        .split(';')
        .map((part) => part.trim())
        .filter(Boolean)
        .join('; ');
    t.equal(normalize(pair.seenViaNginx?.headers.cookie), normalize(pair.seenInline?.headers.cookie), `Cookie: ${cookie}`);
    await checkForwarded(t, pair.seenViaNginx, { tokenId: record.id, name: 'cookies', role: 'read', audience: 'job:nb1' }, `Cookie: ${cookie}`);
  }

  const forged = await both({
    host: `nb1.${JOB_DOMAIN}`,
    headers: {
      ...bearer(value),
      'x-jobgate-token-id': 'forged',
      'x-jobgate-role': 'operator',
      'x-jobgate-assertion': 'forged',
      forwarded: 'for=6.6.6.6',
      'x-forwarded-for': '6.6.6.6',
    },
  });
  t.equal(forged.seenViaNginx?.headers['x-jobgate-token-id'], record.id, 'client-sent identity headers are replaced');
  t.equal(forged.seenViaNginx?.headers['x-jobgate-role'], 'read');
  t.equal(forged.seenViaNginx?.headers.forwarded, undefined, "the client's Forwarded does not pass");
  t.equal(forged.seenViaNginx?.headers['x-forwarded-for'], '127.0.0.1', 'nor its X-Forwarded-For');
  t.ok(forged.seenViaNginx?.headers['x-request-id'], 'a request id');

  const unsecure = await both({
    host: `pub.${JOB_DOMAIN}`,
    headers: { authorization: 'Basic dXNlcjpwYXNz', cookie: 'a=1; jobgate=x', 'x-jobgate-role': 'operator' },
  });
  alike(t, unsecure, 'an unsecureHttp job');
  t.equal(unsecure.viaNginx.status, 200);
  t.equal(unsecure.seenViaNginx?.headers.authorization, 'Basic dXNlcjpwYXNz', "an unsecureHttp job gets the client's Authorization, as inline");
  t.equal(unsecure.seenViaNginx?.headers.cookie, 'a=1', 'but not the session cookie');
  t.equal(unsecure.seenViaNginx?.headers['x-jobgate-role'], undefined, 'nor a client-sent identity header');

  const unmapped = await both({ host: `unmapped.${JOB_DOMAIN}`, headers: { ...bearer(value), cookie: 'a=1; jobgate=x; __Host-jobgate=y; b=2' } });
  alike(t, unmapped, 'a job jobgate knows but nginx does not map');
  t.equal(unmapped.viaNginx.status, 200, 'jobgate proxies it itself');
  t.equal(unmapped.seenViaNginx?.headers.cookie, 'a=1; b=2', "jobgate's listener removes the session cookies that nginx hands it; the job's pass");
  await checkForwarded(t, unmapped.seenViaNginx, { tokenId: record.id, name: 'cookies', role: 'read', audience: 'job:unmapped' }, 'unmapped');
});

t.test('browsers through nginx: login form, deep link, session cookie, logout', async (t) => {
  const { record, value } = await h.tokens.create({ name: 'browser', role: 'read', labelSelector: 'team=a' });
  values.push(value);
  const host = `nb1.${JOB_DOMAIN}:${nginx.port}`;
  const origin = `http://${host}`;
  const body = new URLSearchParams({ token: value, next: '/lab?x=1' }).toString();
  const login = await request(nginx.url, {
    host,
    method: 'POST',
    path: '/__jobgate/login',
    body,
    headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
  });
  t.equal(login.status, 303, 'the login form posts to jobgate through nginx');
  t.equal(login.headers.location, '/lab?x=1');
  const cookie = String(login.headers['set-cookie']?.[0]).split(';')[0]!;
  t.match(cookie, /^jobgate=/);
  const foreign = await request(nginx.url, {
    host,
    method: 'POST',
    path: '/__jobgate/login',
    body,
    headers: { origin: 'http://evil.test', 'content-type': 'application/x-www-form-urlencoded' },
  });
  t.equal(foreign.status, 403, 'the Origin check sees the host nginx was asked for');

  const before = job.received.length;
  const page = await request(nginx.url, { host, path: '/lab?x=1', headers: { cookie: `nb=1; ${cookie}`, accept: 'text/html' } });
  t.equal(page.status, 200, 'the session cookie opens the job');
  t.equal(job.received.length, before + 1);
  await checkForwarded(t, job.last, { tokenId: record.id, name: 'browser', role: 'read', audience: 'job:nb1' }, 'session');
  t.equal(job.last.headers.cookie, 'nb=1', "the job's own cookie passes, nginx removes the session cookie");
  const other = await request(nginx.url, { host: `nb2.${JOB_DOMAIN}:${nginx.port}`, headers: { cookie } });
  t.equal(other.status, 401, 'the cookie is bound to its host');

  // A job nginx does not map: nginx hands the request, session cookie and all, to jobgate's
  // listener, which proxies it itself and so must remove the cookie itself.
  const unmappedHost = `unmapped.${JOB_DOMAIN}:${nginx.port}`;
  const unmappedLink = await request(nginx.url, { host: unmappedHost, path: `/lab?jobgate_token=${encodeURIComponent(value)}` });
  t.equal(unmappedLink.status, 303, 'a deep link on a job nginx does not map');
  const unmappedCookie = String(unmappedLink.headers['set-cookie']?.[0]).split(';')[0]!;
  const beforeUnmapped = job.received.length;
  const unmappedPage = await request(nginx.url, { host: unmappedHost, path: '/lab', headers: { cookie: `nb=1; ${unmappedCookie}; _xsrf=2` } });
  t.equal(unmappedPage.status, 200, 'its session cookie opens the job through jobgate');
  t.equal(job.received.length, beforeUnmapped + 1);
  await checkForwarded(t, job.last, { tokenId: record.id, name: 'browser', role: 'read', audience: 'job:unmapped' }, 'session on an unmapped job');
  t.equal(job.last.headers.cookie, 'nb=1; _xsrf=2', "the job's own cookies pass, jobgate removes the session cookie");

  const link = await request(nginx.url, { host, path: `/lab?a=1&jobgate_token=${encodeURIComponent(value)}` });
  t.equal(link.status, 303, 'a deep link');
  t.equal(link.headers.location, '/lab?a=1', 'without the token');
  t.match(String(link.headers['set-cookie']?.[0]), /^jobgate=/);
  t.equal(link.headers['www-authenticate'], undefined, 'no challenge on a redirect');

  const jwksOnJobHost = await request(nginx.url, { host, path: '/__jobgate/jwks.json' });
  t.equal(jwksOnJobHost.status, 200, '/__jobgate/jwks.json');
  t.same(jwksOnJobHost.json(), jwks);
  const logout = await request(nginx.url, { host, path: '/__jobgate/logout', headers: { cookie } });
  t.equal(logout.status, 200);
  t.match(String(logout.headers['set-cookie']?.[0]), /^jobgate=; /, 'logout clears the cookie');

  const socket = new WebSocket(`ws://127.0.0.1:${nginx.port}/ws`, { headers: { host, cookie, origin: 'http://evil.test' } });
  const refused = await new Promise<number>((resolve) => {
    socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    socket.on('open', () => resolve(101));
    socket.on('error', () => resolve(-1));
  });
  socket.terminate();
  t.equal(refused, 403, 'a WebSocket the cookie would open from another site');
});

t.test('WebSockets through nginx carry the identity', async (t) => {
  const { record, value } = await h.tokens.create({ name: 'ws', role: 'operator' });
  values.push(value);
  const socket = new WebSocket(`ws://127.0.0.1:${nginx.port}/ws`, { headers: { host: `nb1.${JOB_DOMAIN}:${nginx.port}`, ...bearer(value) } });
  t.teardown(() => socket.terminate());
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const echoed = new Promise<string>((resolve) => socket.once('message', (data: Buffer) => resolve(data.toString())));
  socket.send('hello');
  t.equal(await echoed, 'hello');
  t.equal(job.last.method, 'WS');
  await checkForwarded(t, job.last, { tokenId: record.id, name: 'ws', role: 'operator', audience: 'job:nb1' }, 'WebSocket');
});

t.test('the training API through nginx: scoped writes and lists are answered as inline', async (t) => {
  const { value: unscoped } = await h.tokens.create({ name: 'ops', role: 'operator' });
  const { value: scoped } = await h.tokens.create({ name: 'ops-a', role: 'operator', labelSelector: 'team=a' });
  const { value: read } = await h.tokens.create({ name: 'reader', role: 'read' });
  values.push(unscoped, scoped, read);
  const json = { 'content-type': 'application/json' };
  const cases: Array<[Sent, number, string]> = [
    [{ host: API, path: '/v1/job', headers: bearer(read) }, 403, 'a read token'],
    [{ host: API, path: '/v1/job' }, 401, 'no credential'],
    [
      { host: API, method: 'POST', path: '/v1/job', headers: { ...bearer(unscoped), ...json }, body: '{"name":"x"}' },
      200,
      'an unscoped operator creates a job',
    ],
    [
      { host: API, method: 'POST', path: '/v1/job', headers: { ...bearer(scoped), ...json }, body: '{"name":"x","labels":{}}' },
      200,
      'a scoped operator creates a job: jobgate checks the body',
    ],
    [
      { host: API, method: 'POST', path: '/v1/job', headers: { ...bearer(scoped), ...json }, body: '{"labels":{"team":"b"}}' },
      403,
      'a scoped operator creates a job out of its scope',
    ],
    [{ host: API, path: '/v1/job?labelSelector=gpu', headers: bearer(scoped) }, 200, 'a scoped operator lists jobs: jobgate scopes the query'],
    [{ host: API, path: '/v1/job/nb2/log', headers: bearer(scoped) }, 403, 'a scoped operator, a job out of scope'],
  ];
  for (const [sent, status, what] of cases) {
    const pair = await both(sent, api);
    t.equal(pair.inline.status, status, `${what}: inline`);
    alike(t, pair, what);
    if (status === 200) {
      t.equal(pair.seenViaNginx?.url, pair.seenInline?.url, `${what}: the same request target`);
      t.equal(pair.seenViaNginx?.body, pair.seenInline?.body, `${what}: the same body`);
      t.equal(pair.seenViaNginx?.headers.authorization, undefined, `${what}: no Authorization`);
      t.equal(pair.seenViaNginx?.headers['x-jobgate-token-id'], pair.seenInline?.headers['x-jobgate-token-id'], `${what}: the same identity`);
      t.equal(pair.seenViaNginx?.headers['x-jobgate-role'], 'operator');
    } else t.equal(pair.seenViaNginx, undefined, `${what}: nothing reached the API`);
  }
});

/** An HTTP/2 request (prior knowledge, no TLS) with the pseudo-headers and headers as given. */
function http2Request(port: number, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request(headers);
    let body = '';
    let status = 0;
    stream.setEncoding('utf8');
    stream.on('response', (head) => (status = Number(head[':status'])));
    stream.on('data', (chunk: string) => (body += chunk));
    stream.on('end', () => {
      session.close();
      resolve({ status, body });
    });
    stream.on('error', (error: Error) => {
      session.destroy();
      reject(error);
    });
    stream.end();
  });
}

t.test('absolute-form targets and a Host unlike the request line: refused, never decided on Host', async (t) => {
  const { record: teamA, value: readA } = await h.tokens.create({ name: 'host-a', role: 'read', labelSelector: 'team=a' });
  const { value: readB } = await h.tokens.create({ name: 'host-b', role: 'read', labelSelector: 'team=b' });
  const { value: opsA } = await h.tokens.create({ name: 'host-ops-a', role: 'operator', labelSelector: 'team=a' });
  values.push(readA, readB, opsA);
  const raw = (requestLine: string, headers: string[], body = '') =>
    sendRaw(nginx.port, `${requestLine}\r\n${[...headers, 'Connection: close'].join('\r\n')}\r\n\r\n${body}`);
  const reached = async (upstream: Upstream, send: () => Promise<{ status: number }>) => {
    const before = upstream.received.length;
    const { status } = await send();
    return { status, seen: upstream.received.length > before ? upstream.last : undefined };
  };
  for (const [requestLine, headers, upstream, what] of [
    ['GET http://nb1.job.test/private HTTP/1.1', ['Host: pub.job.test'], job, 'a secured job named in the request line, an unsecureHttp one in Host, no token'],
    ['GET http://NB1.Job.Test:80/private HTTP/1.1', ['Host: pub.job.test'], job, 'the same in another case, with a port'],
    [
      'GET http://nb1.job.test/private HTTP/1.1',
      ['Host: nb2.job.test', `Authorization: Bearer ${readB}`],
      job,
      'a team=b token, a team=a job in the request line, a team=b job in Host',
    ],
    ['GET http://nb1.job.test/private HTTP/1.1', ['Host: pub.job.test', `Authorization: Bearer ${readB}`], job, 'a team=b token, an unsecureHttp job in Host'],
    [
      'GET http://nb1.job.test/private HTTP/1.1',
      ['Host: nb2.job.test:8080', `Authorization: Bearer ${readA}`],
      job,
      'even a token valid for the request line job',
    ],
    [
      'POST http://api.test/v1/job/nb1/kill HTTP/1.1',
      ['Host: pub.job.test', `Authorization: Bearer ${readB}`, 'Content-Length: 0'],
      api,
      'a read token on the API host, an unsecureHttp job in Host',
    ],
    [
      'GET http://api.test/v1/token HTTP/1.1',
      ['Host: nb1.job.test', `Authorization: Bearer ${opsA}`],
      api,
      'a scoped operator token on token management, its own job in Host',
    ],
    [
      'GET http://pub.job.test/v1/token HTTP/1.1',
      ['Host: api.test', `Authorization: Bearer ${opsA}`],
      job,
      'the API host in Host, an unsecureHttp job in the request line',
    ],
  ] as Array<[string, string[], Upstream, string]>) {
    const { status, seen } = await reached(upstream, () => raw(requestLine, headers));
    t.equal(status, 400, what);
    t.equal(seen, undefined, `${what}: nothing reached ${upstream.name}`);
  }
  // Were the 400 gone, jobgate would still decide on the host nginx routes on ($host): refused.
  const onApi = await reached(api, () => raw('POST /v1/job/nb1/kill HTTP/1.1', ['Host: api.test', `Authorization: Bearer ${readB}`, 'Content-Length: 0']));
  t.equal(onApi.status, 403, 'the same read token, Host and request line agreeing');
  const allowed = await reached(job, () => raw('GET http://nb1.job.test/lab?x=1 HTTP/1.1', ['Host: NB1.job.test.:8080', `Authorization: Bearer ${readA}`]));
  t.equal(allowed.status, 200, 'an absolute-form target naming the Host (case, port and a trailing dot aside) passes');
  t.equal(allowed.seen?.url, '/lab?x=1', 'with the path of the request line');
  t.equal(allowed.seen?.headers.host, 'nb1.job.test:8080', 'the job sees the host nginx routed on, with the port of Host');
  t.equal(allowed.seen?.headers['x-jobgate-token-id'], teamA.id);

  // The port of Host is kept when its host is the one routed on: the login form's Origin check.
  const form = `token=${encodeURIComponent(readA)}&next=%2F`;
  const post = (host: string, origin: string) =>
    raw(
      'POST /__jobgate/login HTTP/1.1',
      [`Host: ${host}`, `Origin: ${origin}`, 'Content-Type: application/x-www-form-urlencoded', `Content-Length: ${form.length}`],
      form,
    );
  t.equal((await post(`NB1.job.test:${nginx.port}`, `http://nb1.job.test:${nginx.port}`)).status, 303, "Host's port passes, in any case");
  t.equal((await post(`nb1.job.test:${nginx.port}`, `http://nb1.job.test:1`)).status, 403, 'another port is another origin');
});

t.test('over HTTP/2: :authority and Host cannot name two jobs', async (t) => {
  const { value: readA } = await h.tokens.create({ name: 'h2-a', role: 'read', labelSelector: 'team=a' });
  const { value: readB } = await h.tokens.create({ name: 'h2-b', role: 'read', labelSelector: 'team=b' });
  values.push(readA, readB);
  const h2 = await Nginx.start((listenPort, dir) =>
    renderExample(
      {
        listenPort,
        accessLog: join(dir, 'access.log'),
        authz: `127.0.0.1:${h.jobgate.authzAddress!.port}`,
        jobgate: `127.0.0.1:${h.jobgate.proxyAddress.port}`,
        jobDomain: JOB_DOMAIN,
        apiHost: API,
        apiUpstream: hostOf(api),
        jobs: { nb1: hostOf(job), nb2: hostOf(job), pub: hostOf(job) },
      },
      { http2: true },
    ),
  );
  t.teardown(() => h2.stop());
  const send = async (upstream: Upstream, headers: Record<string, string>) => {
    const before = upstream.received.length;
    const reply = await http2Request(h2.port, headers);
    return { status: reply.status, seen: upstream.received.length > before ? upstream.last : undefined };
  };
  for (const [headers, status, what] of [
    [{ ':authority': 'nb1.job.test', host: 'pub.job.test', ':path': '/private' }, 400, 'a secured job in :authority, an unsecureHttp one in Host, no token'],
    [
      { ':authority': 'nb1.job.test', host: 'nb2.job.test', ':path': '/private', authorization: `Bearer ${readB}` },
      400,
      'a team=b token, a team=a job in :authority, a team=b job in Host',
    ],
    [{ ':authority': 'nb1.job.test', ':path': '/private' }, 401, 'a secured job in :authority, no token'],
    [{ ':authority': 'nb1.job.test', ':path': '/private', authorization: `Bearer ${readB}` }, 403, 'a secured job in :authority, a token out of scope'],
  ] as Array<[Record<string, string>, number, string]>) {
    const { status: got, seen } = await send(job, headers);
    t.equal(got, status, what);
    t.equal(seen, undefined, `${what}: nothing reached the job`);
  }
  const api403 = await send(api, { ':method': 'POST', ':authority': API, host: 'pub.job.test', ':path': '/v1/job/nb1/kill', authorization: `Bearer ${readB}` });
  t.equal(api403.status, 400, 'the API host in :authority, an unsecureHttp job in Host');
  t.equal(api403.seen, undefined, 'nothing reached the API');
  const apiRead = await send(api, { ':method': 'POST', ':authority': API, ':path': '/v1/job/nb1/kill', authorization: `Bearer ${readB}` });
  t.equal(apiRead.status, 403, 'a read token on the API host');
  t.equal(apiRead.seen, undefined, 'nothing reached the API');
  const allowed = await send(job, { ':authority': 'nb1.job.test', ':path': '/lab', authorization: `Bearer ${readA}` });
  t.equal(allowed.status, 200, 'a token in scope of the :authority job passes');
  t.equal(allowed.seen?.headers.host, 'nb1.job.test');
});

t.test('an unsecureHttp job never receives a jobgate token through nginx, whatever the scheme', async (t) => {
  const { value: operator } = await h.tokens.create({ name: 'unsecure-ops', role: 'operator' });
  const { value: reader } = await h.tokens.create({ name: 'unsecure-read', role: 'read', labelSelector: 'team=a' });
  values.push(operator, reader);
  const through = async (authorization: string) => {
    const before = job.received.length;
    const reply = await request(nginx.url, { host: `pub.${JOB_DOMAIN}`, headers: { authorization } });
    return { status: reply.status, seen: job.received.length > before ? job.last : undefined };
  };
  for (const authorization of [
    `Bearer ${operator}`,
    `bearer ${reader}`,
    `Token ${operator}`,
    `Bearer  ${operator}x`,
    `Basic ${operator}`,
    `Custom a=1, t="${reader}"`,
    `Bearer ${operator.slice(0, 20)}`,
  ]) {
    const { status, seen } = await through(authorization);
    t.equal(status, 200, `${authorization.slice(0, 12)}...: the unsecureHttp job answers`);
    t.ok(seen, 'it reached the job');
    t.equal(seen?.headers.authorization, undefined, `${authorization.slice(0, 12)}...: without the token`);
  }
  for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer the-jobs-own-token', 'Bearer jgt_not-a-token']) {
    const { seen } = await through(authorization);
    t.equal(seen?.headers.authorization, authorization, `${authorization}: the job's own credential passes`);
  }
  // A token in the query, under any name or spelling, is cut out by jobgate's listener.
  const encoded = reader.replace('jgt_', 'jgt%5F');
  for (const query of [`jobgate_token=${reader}`, `JobGate_Token=${reader}`, `jobgate%5Ftoken=${reader}`, `key=${reader}`, `key=${encoded}&page=2`]) {
    const before = job.received.length;
    const reply = await request(nginx.url, { host: `pub.${JOB_DOMAIN}`, path: `/q?${query}` });
    t.not(reply.status, 500, `?${query.slice(0, 16)}...: answered`);
    const seen = job.received.slice(before);
    t.notOk(
      seen.some((received) => received.url.includes(reader) || received.url.includes(encoded)),
      `?${query.slice(0, 16)}...: the job never sees the token (${seen.map((r) => r.url.slice(0, 24)).join(', ') || 'not forwarded'})`,
    );
  }
  const socket = new WebSocket(`ws://127.0.0.1:${nginx.port}/ws`, { headers: { host: `pub.${JOB_DOMAIN}:${nginx.port}`, ...bearer(operator) } });
  t.teardown(() => socket.terminate());
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  t.equal(job.last.method, 'WS');
  t.equal(job.last.headers.authorization, undefined, 'a WebSocket to an unsecureHttp job: without the token');
});

t.test('the failure limit behind nginx: 429 and Retry-After reach the client; a refusal counts twice', async (t) => {
  const limited = await startHarness({ JOBGATE_AUTHZ_LISTEN: '127.0.0.1:0', JOBGATE_TRUSTED_HOPS: '1', JOBGATE_AUTH_FAILURE_LIMIT: '4' }, h.redisServer);
  const edge = await Nginx.start((listenPort, dir) =>
    renderExample({
      listenPort,
      accessLog: join(dir, 'access.log'),
      authz: `127.0.0.1:${limited.jobgate.authzAddress!.port}`,
      jobgate: `127.0.0.1:${limited.jobgate.proxyAddress.port}`,
      jobDomain: JOB_DOMAIN,
      apiHost: API,
      apiUpstream: hostOf(api),
      jobs: { nb1: hostOf(job) },
    }),
  );
  t.teardown(async () => {
    await edge.stop();
    await limited.close();
  });
  await limited.jobs.put({ id: 'nb1', upstream: job.url });
  const attempt = () => request(edge.url, { host: `nb1.${JOB_DOMAIN}`, headers: bearer('jgt_not_a_valid_token') });
  t.equal((await attempt()).status, 401, 'first attempt: counted by the decision endpoint, then by @jobgate');
  t.equal((await attempt()).status, 401, 'second attempt: the count reaches the limit (4)');
  const blocked = await attempt();
  t.equal(blocked.status, 429, 'third attempt');
  t.ok(Number(blocked.headers['retry-after']) > 0, 'Retry-After reaches the client');
  t.equal(blocked.json().error, 'too_many_requests');
  const counted = limited.log.access.filter((line) => line.decision === 'malformed_token' || line.decision === 'unknown_token');
  t.equal(counted.length, 4, 'two failed decisions per refused attempt');
});

t.test('no token value ever reached an upstream', async (t) => {
  t.ok(values.length > 30, `${values.length} token values handed out`);
  for (const upstream of [job, api]) {
    const leaked = upstream.received.filter((received) =>
      values.some((value) => received.rawHeaders.some((line) => line.includes(value)) || received.url.includes(value) || received.body.includes(value)),
    );
    t.equal(leaked.length, 0, `${upstream.name}: ${upstream.received.length} requests, none with a token`);
  }
  const logs = nginx.accessLog() + nginx.errorLog();
  t.ok(nginx.accessLog().includes('"GET /lab/tree HTTP/1.1" 200'), "nginx's access log has the example's format");
  t.equal(values.filter((value) => logs.includes(value)).length, 0, "no token in nginx's logs (deep links included)");
  t.notMatch(nginx.errorLog(), /\[(emerg|alert|crit)\]/, "nothing serious in nginx's error log");
});
