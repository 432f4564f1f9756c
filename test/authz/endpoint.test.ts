import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import t, { type Test } from 'tap';
import { KeySpace } from '../../src/redis/index.js';
import { bearer, flatHeaders, request, type Reply } from '../helpers/http.js';
import { startHarness, waitFor, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

/** The forward-auth decision endpoint (JOBGATE_AUTHZ_LISTEN), asked directly as nginx or Traefik would. */

const API = 'api.test';

let h: Harness;
let up: Upstream;
let jwks: JSONWebKeySet;

t.before(async () => {
  up = await Upstream.start('job');
  h = await startHarness({ JOBGATE_AUTHZ_LISTEN: '127.0.0.1:0', JOBGATE_API_HOST: API, JOBGATE_API_UPSTREAM: up.url });
  await h.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'a' } });
  await h.jobs.put({ id: 'nb2', upstream: up.url, labels: { team: 'b' } });
  await h.jobs.put({ id: 'pub', upstream: up.url, unsecureHttp: true });
  jwks = (await request(h.adminUrl, { path: '/.well-known/jobgate/jwks.json' })).json<JSONWebKeySet>();
});

t.teardown(async () => {
  await h?.close();
  await up?.close();
});

interface Original {
  readonly method?: string;
  readonly host?: string;
  readonly uri?: string;
  readonly proto?: string;
  readonly forwardedFor?: string;
  /** The client's headers: an object, or a flat name/value list (to repeat a header). */
  readonly headers?: Record<string, string> | readonly string[];
}

const authzUrl = (harness: Harness) => `http://127.0.0.1:${harness.jobgate.authzAddress!.port}`;

/** A sub-request as nginx sends one: GET on the endpoint's own path, the original request in X-Forwarded-*. */
function ask(original: Original, harness = h): Promise<Reply> {
  const headers: string[] = [
    'X-Forwarded-Method',
    original.method ?? 'GET',
    'X-Forwarded-Proto',
    original.proto ?? 'http',
    'X-Forwarded-For',
    original.forwardedFor ?? '203.0.113.7',
    ...(original.host !== undefined ? ['X-Forwarded-Host', original.host] : []),
    ...(original.uri !== undefined ? ['X-Forwarded-Uri', original.uri] : []),
    ...flatHeaders(original.headers),
  ];
  return request(authzUrl(harness), { path: '/__jobgate_authz', host: '127.0.0.1', headers });
}

/** The same request sent to the inline proxy. */
function inline(original: Original): Promise<Reply> {
  return request(h.url, { method: original.method ?? 'GET', host: original.host, path: original.uri ?? '/', headers: flatHeaders(original.headers) });
}

/** Status, challenge, content type and body of the endpoint's answer equal the inline proxy's. */
async function sameAsInline(t: Test, original: Original, status: number, what: string): Promise<Reply> {
  const viaAuthz = await ask(original);
  const direct = await inline(original);
  t.equal(viaAuthz.status, status, `${what}: status`);
  t.equal(direct.status, status, `${what}: status inline`);
  t.equal(viaAuthz.headers['www-authenticate'], direct.headers['www-authenticate'], `${what}: WWW-Authenticate`);
  t.equal(viaAuthz.headers['content-type'], direct.headers['content-type'], `${what}: content type`);
  t.equal(viaAuthz.body, direct.body, `${what}: body`);
  return viaAuthz;
}

t.test('a valid token: 200, the identity headers and a verifiable assertion, no body', async (t) => {
  const { record, value } = await h.tokens.create({ name: 'Zoë notebook', role: 'read', labelSelector: 'team=a' });
  const reply = await ask({ host: 'nb1.job.test', uri: '/lab?x=1', headers: bearer(value) });
  t.equal(reply.status, 200);
  t.equal(reply.body, '');
  t.equal(reply.headers['x-jobgate-token-id'], record.id);
  t.equal(reply.headers['x-jobgate-token-name'], encodeURIComponent('Zoë notebook'), 'percent-encoded as inline');
  t.equal(reply.headers['x-jobgate-role'], 'read');
  t.equal(reply.headers['cache-control'], 'no-store');
  const { payload } = await jwtVerify(String(reply.headers['x-jobgate-assertion']), createLocalJWKSet(jwks), { audience: 'job:nb1' });
  t.match(payload, { sub: record.id, name: 'Zoë notebook', role: 'read' });
  t.equal(up.received.length, 0, 'a decision forwards nothing');

  const upper = await ask({ host: 'NB1.JOB.TEST:8443', uri: '/', headers: bearer(value) });
  t.equal(upper.status, 200, 'the host as the inline router reads it: case and port ignored');
});

t.test('refusals: the same status, RFC 6750 challenge and body as the inline proxy', async (t) => {
  const { value: scoped } = await h.tokens.create({ name: 'b-team', role: 'read', labelSelector: 'team=b' });
  const { record, value: renewed } = await h.tokens.create({ name: 'renewed', role: 'read' });
  await h.tokens.renew(record.id);

  const missing = await sameAsInline(t, { host: 'nb1.job.test', uri: '/' }, 401, 'no credential');
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="jobgate"', 'no error attribute without a credential');
  t.equal(missing.json().error, 'unauthorized');
  await sameAsInline(t, { host: 'nb1.job.test', uri: '/', headers: { authorization: 'Basic dXNlcjpwYXNz' } }, 401, 'another scheme');

  const malformed = await sameAsInline(t, { host: 'nb1.job.test', uri: '/', headers: bearer('not-a-token') }, 401, 'malformed token');
  t.match(malformed.headers['www-authenticate'], /^Bearer realm="jobgate", error="invalid_token", error_description="[^"]+"$/);
  const stale = await sameAsInline(t, { host: 'nb1.job.test', uri: '/', headers: bearer(renewed) }, 401, 'renewed token, old value');
  t.equal(stale.json().error, 'invalid_token');
  t.notMatch(stale.body, renewed, 'the token is never echoed');

  const scope = await sameAsInline(t, { host: 'nb1.job.test', uri: '/', headers: bearer(scoped) }, 403, 'selector does not match');
  t.match(scope.headers['www-authenticate'], /error="insufficient_scope"/);
  t.equal(scope.json().error, 'insufficient_scope');

  const unknown = await sameAsInline(t, { host: 'nope.job.test', uri: '/', headers: bearer(scoped) }, 404, 'unknown job');
  t.equal(unknown.json().error, 'not_found');
  await sameAsInline(t, { host: 'nb1.job.test:8080', uri: '/' }, 401, 'a port in the host');
  await sameAsInline(t, { host: 'nb1.other.test', uri: '/' }, 404, 'outside the job domain');
  await sameAsInline(
    t,
    { host: 'nb1.job.test', uri: '/', headers: ['Authorization', `Bearer ${scoped}`, 'Authorization', `Bearer ${scoped}`] },
    400,
    'two Authorization headers',
  );

  const html = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
  const page = await sameAsInline(t, { host: 'nb1.job.test', uri: '/lab/tree?x=1', headers: html }, 401, 'a browser without a session: the login page');
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.body, 'value="/lab/tree?x=1"', 'the page sends the browser back to the original URI');
  await sameAsInline(t, { host: 'nb1.job.test', uri: '/', headers: { ...html, ...bearer(scoped) } }, 403, 'a browser out of scope: the refusal page');

  const noHost = await request(authzUrl(h), { path: '/', headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/' } });
  t.equal(noHost.status, 400, 'no original host');
  t.equal(noHost.json().error, 'bad_request');
  t.equal(
    (await request(authzUrl(h), { path: '/', headers: { 'x-forwarded-method': 'GET', 'x-original-url': 'not a URL' } })).status,
    400,
    'an unparsable X-Original-URL names no host',
  );
});

t.test('X-Forwarded-Uri wins over X-Original-URL; X-Original-URL alone works', async (t) => {
  const { value } = await h.tokens.create({ name: 'a-team', role: 'read', labelSelector: 'team=a' });
  const { value: scopedOperator } = await h.tokens.create({ name: 'a-ops', role: 'operator', labelSelector: 'team=a' });
  const html = { accept: 'text/html' };

  const same = await ask({ host: 'NB1.job.test:8443', uri: '/forwarded', headers: { ...bearer(value), 'x-original-url': 'http://nb1.job.test/original' } });
  t.equal(same.status, 200, 'X-Forwarded-Host and X-Original-URL name the same host (case and port aside)');
  const page = await ask({ host: 'nb1.job.test', uri: '/forwarded?a=1', headers: { ...html, 'x-original-url': 'http://nb1.job.test/original?b=2' } });
  t.match(page.body, 'value="/forwarded?a=1"', 'the URI of X-Forwarded-Uri');

  const alone = (url: string, headers: Record<string, string>) =>
    request(authzUrl(h), { path: '/', headers: { 'x-original-url': url, 'x-forwarded-for': '203.0.113.7', 'x-original-method': 'GET', ...headers } });
  t.equal((await alone('http://nb1.job.test/lab?x=1', bearer(value))).status, 200, 'X-Original-URL alone: nb1 in scope');
  t.equal((await alone('http://nb2.job.test/lab?x=1', bearer(value))).status, 403, 'X-Original-URL alone: nb2 out of scope');
  t.equal((await alone('http://nope.job.test/', bearer(value))).status, 404);
  t.match((await alone('http://nb1.job.test/lab/tree?x=1', html)).body, 'value="/lab/tree?x=1"', 'its path and query are the original URI');
  t.equal((await alone('http://api.test/v1/job/nb1/label', bearer(scopedOperator))).status, 200, 'X-Original-Method: GET, reading labels');
  const relabel = await alone('http://api.test/v1/job/nb1/label', { ...bearer(scopedOperator), 'x-original-method': 'PUT' });
  t.equal(relabel.status, 403, 'X-Original-Method: PUT, a relabel, needs the body');
  const winner = await ask({ host: API, uri: '/v1/job/nb1/label', method: 'GET', headers: { ...bearer(scopedOperator), 'x-original-method': 'PUT' } });
  t.equal(winner.status, 200, 'X-Forwarded-Method wins over X-Original-Method');
});

t.test('two original hosts that disagree: 400 invalid_request, whichever the edge would route on', async (t) => {
  const { value } = await h.tokens.create({ name: 'a-team', role: 'read', labelSelector: 'team=a' });
  const { value: reader } = await h.tokens.create({ name: 'reader', role: 'read' });
  const refused = (reply: Reply, what: string) => {
    t.equal(reply.status, 400, what);
    t.equal(reply.json().error, 'invalid_request', `${what}: invalid_request`);
    t.match(reply.json().message, /host it routes on/, `${what}: says why`);
    t.equal(reply.headers['x-jobgate-token-id'], undefined, `${what}: no identity`);
  };
  // Each of these was decided on X-Forwarded-Host (the client's Host behind an edge that routes on the URL).
  refused(
    await ask({ host: 'pub.job.test', uri: '/', headers: { 'x-original-url': 'http://nb1.job.test/private' } }),
    'an unsecureHttp host beside a secured job, no credential',
  );
  refused(
    await ask({ host: 'nb1.job.test', uri: '/', headers: { ...bearer(value), 'x-original-url': 'http://nb2.job.test/' } }),
    'X-Original-URL names a job out of scope',
  );
  refused(await ask({ host: 'nb2.job.test', uri: '/', headers: { ...bearer(value), 'x-original-url': 'http://nb1.job.test/' } }), 'and the reverse');
  refused(await ask({ host: 'pub.job.test', uri: 'http://nb1.job.test/private' }), 'an absolute X-Forwarded-Uri naming another job');
  refused(
    await ask({ host: 'nb1.job.test', method: 'POST', uri: 'http://api.test/v1/job/nb1/kill', headers: bearer(reader) }),
    'an absolute X-Forwarded-Uri naming the API host',
  );
  refused(
    await ask({ host: API, method: 'POST', uri: '/v1/job/nb1/kill', headers: { ...bearer(reader), 'x-original-url': 'http://nb1.job.test/v1/job/nb1/kill' } }),
    'X-Original-URL naming a job beside the API host',
  );
  refused(await ask({ host: 'nb1.job.test', uri: 'http://user@nb1.job.test/' }), 'userinfo makes another host');
  refused(await ask({ host: 'nb1.job.test', uri: '/', headers: { 'x-original-url': 'http://nb1.job.test.evil.test/' } }), 'a longer name');

  const absolute = await ask({ host: 'NB1.job.test:8443', uri: 'http://nb1.job.test/lab?x=1', headers: { accept: 'text/html' } });
  t.equal(absolute.status, 401, 'an absolute X-Forwarded-Uri naming the same host is decided');
  t.match(absolute.body, 'value="/lab?x=1"', 'on its path and query');
  t.equal(
    (await ask({ host: undefined, uri: 'http://nb1.job.test/lab', headers: bearer(value) })).status,
    200,
    'an absolute X-Forwarded-Uri alone names the host',
  );
});

t.test('no original method: 400 invalid_request, never decided as a GET', async (t) => {
  const { value: scopedOperator } = await h.tokens.create({ name: 'a-ops', role: 'operator', labelSelector: 'team=a' });
  const withoutMethod = (headers: Record<string, string>) => request(authzUrl(h), { path: '/', headers: { 'x-forwarded-for': '203.0.113.7', ...headers } });
  for (const [headers, what] of [
    [{ 'x-forwarded-host': API, 'x-forwarded-uri': '/v1/job/nb1/label', ...bearer(scopedOperator) }, 'a relabel (PUT) would pass as a GET reading labels'],
    [{ 'x-original-url': 'http://api.test/v1/job/nb1/label', ...bearer(scopedOperator) }, 'X-Original-URL alone'],
    [{ 'x-forwarded-host': 'pub.job.test', 'x-forwarded-uri': '/' }, 'an unsecureHttp job'],
    [{ 'x-forwarded-host': 'nb1.job.test', 'x-forwarded-uri': '/', 'x-forwarded-method': '' }, 'an empty method'],
  ] as Array<[Record<string, string>, string]>) {
    const reply = await withoutMethod(headers);
    t.equal(reply.status, 400, what);
    t.equal(reply.json().error, 'invalid_request', `${what}: invalid_request`);
    t.match(reply.json().message, /X-Forwarded-Method/, `${what}: names the header`);
  }
  const odd = await withoutMethod({ 'x-forwarded-host': 'nb1.job.test', 'x-forwarded-uri': '/', 'x-forwarded-method': 'GET, PUT' });
  t.equal(odd.status, 400, 'a method that is no HTTP method name');
  t.equal(odd.json().error, 'invalid_request');
  const given = await withoutMethod({ 'x-forwarded-host': API, 'x-forwarded-uri': '/v1/job/nb1/label', 'x-original-method': 'put', ...bearer(scopedOperator) });
  t.equal(given.status, 403, 'X-Original-Method still says it: a PUT, whose body is not here');
});

t.test('an untrusted source gets 403 untrusted_source, whatever it sends', async (t) => {
  const strict = await startHarness({ JOBGATE_AUTHZ_LISTEN: '127.0.0.1:0', JOBGATE_AUTHZ_TRUSTED: '10.0.0.0/8' }, h.redisServer);
  t.teardown(() => strict.close());
  await strict.jobs.put({ id: 'nb1', upstream: up.url });
  await strict.jobs.put({ id: 'pub', upstream: up.url, unsecureHttp: true });
  const { value } = await strict.tokens.create({ name: 'any', role: 'operator' });
  for (const [host, headers, what] of [
    ['nb1.job.test', bearer(value), 'a valid token'],
    ['pub.job.test', {}, 'an unsecureHttp job'],
    ['nb1.job.test', {}, 'no credential'],
  ] as const) {
    const reply = await ask({ host, uri: '/', headers, forwardedFor: '10.1.2.3' }, strict);
    t.equal(reply.status, 403, what);
    t.equal(reply.json().error, 'untrusted_source');
    t.match(reply.json().message, /JOBGATE_AUTHZ_TRUSTED/);
    t.equal(reply.headers['x-jobgate-token-id'], undefined);
  }
  t.equal((await request(strict.url, { host: 'nb1.job.test', headers: bearer(value) })).status, 200, 'the inline proxy is not concerned');
});

t.test('the failure limit counts the last X-Forwarded-For entry, the one the trusted source added', async (t) => {
  const limited = await startHarness({ JOBGATE_AUTHZ_LISTEN: '127.0.0.1:0', JOBGATE_AUTH_FAILURE_LIMIT: '2' }, h.redisServer);
  t.teardown(() => limited.close());
  await limited.jobs.put({ id: 'nb1', upstream: up.url });
  const { value } = await limited.tokens.create({ name: 'valid', role: 'read' });
  const wrong = bearer('jgt_not_a_valid_token');
  const from = (forwardedFor: string, headers: Record<string, string> = wrong) => ask({ host: 'nb1.job.test', uri: '/', headers, forwardedFor }, limited);

  t.equal((await from('1.1.1.1, 9.9.9.9')).status, 401);
  t.equal((await from('2.2.2.2, 9.9.9.9')).status, 401, 'the client-written entries change nothing');
  const blocked = await from('9.9.9.9');
  t.equal(blocked.status, 429, '9.9.9.9 is past the limit');
  t.ok(Number(blocked.headers['retry-after']) > 0, 'with Retry-After');
  t.equal((await from('8.8.8.8')).status, 401, '8.8.8.8 is not');
  t.equal((await from('9.9.9.9, 1.1.1.1')).status, 401, 'nor 1.1.1.1, the first entry of the blocked requests');
  t.equal((await from('5.5.5.5, 9.9.9.9', bearer(value))).status, 429, 'a valid token not yet known valid is refused too, as inline');
  const page = await from('9.9.9.9', { ...wrong, accept: 'text/html' });
  t.equal(page.status, 429, 'a browser past the limit');
  t.match(page.headers['content-type'], /^text\/html/, 'gets the login page');
  t.match(page.body, /Too many failed attempts/);
  t.ok(Number(page.headers['retry-after']) > 0);
});

t.test('the training API: scoped tokens on routes that need the body or a rewritten query are refused', async (t) => {
  const { record: operator, value: unscoped } = await h.tokens.create({ name: 'ops', role: 'operator' });
  const { value: scoped } = await h.tokens.create({ name: 'ops-a', role: 'operator', labelSelector: 'team=a' });
  const { value: read } = await h.tokens.create({ name: 'reader', role: 'read' });
  const api = (method: string, uri: string, value?: string) => ask({ method, host: API, uri, headers: value ? bearer(value) : {} });

  const create = await api('POST', '/v1/job', scoped);
  t.equal(create.status, 403, 'a scoped operator creating a job: the body is not available');
  t.equal(create.json().error, 'insufficient_scope');
  t.match(create.json().message, /request body/);
  t.match(create.headers['www-authenticate'], /error="insufficient_scope"/);
  t.equal((await api('PUT', '/v1/job/nb1/label', scoped)).status, 403, 'relabel: the body is not available');
  const list = await api('GET', '/v1/job', scoped);
  t.equal(list.status, 403, 'listing: the selector cannot be added to the query the edge forwards');
  t.match(list.json().message, /query/);

  const allowed = await api('POST', '/v1/job', unscoped);
  t.equal(allowed.status, 200, 'an unscoped operator');
  t.equal(allowed.headers['x-jobgate-token-id'], operator.id);
  t.equal(allowed.headers['x-jobgate-role'], 'operator');
  const { payload } = await jwtVerify(String(allowed.headers['x-jobgate-assertion']), createLocalJWKSet(jwks), { audience: `http://${API}` });
  t.equal(payload.sub, operator.id, 'the audience is the API host as a URL');
  t.equal((await api('GET', '/v1/job/nb1/log', scoped)).status, 200, 'a scoped operator on a job in its scope');
  t.equal((await api('GET', '/v1/job/nb2/log', scoped)).status, 403, 'and out of it');

  const denied = await api('GET', '/v1/job', read);
  t.equal(denied.status, 403, 'a read token');
  t.match(denied.json().message, /Read tokens only reach job URLs/);
  t.equal((await api('GET', '/v1/job')).status, 401);
  t.equal((await api('GET', '/v1/job/%2e%2e/token', unscoped)).status, 400, 'path tricks');
});

t.test('browsers: a deep link and a session cookie work at the endpoint', async (t) => {
  const { record, value } = await h.tokens.create({ name: 'browser', role: 'read', labelSelector: 'team=a' });
  // A session cookie from the main listener (the deep link of a job URL).
  const link = await request(h.url, { host: 'nb1.job.test', path: `/lab?jobgate_token=${encodeURIComponent(value)}` });
  t.equal(link.status, 303);
  const cookie = String(link.headers['set-cookie']?.[0]).split(';')[0]!;
  t.match(cookie, /^jobgate=/);

  const session = await ask({ host: 'nb1.job.test', uri: '/lab', headers: { cookie: `nb=1; ${cookie}` } });
  t.equal(session.status, 200, 'the session cookie is accepted');
  t.equal(session.headers['x-jobgate-token-id'], record.id);
  // The endpoint does not touch the request the edge forwards (docs/forward-auth.md): removing the
  // session cookie is the edge's job (deploy/nginx/jobgate.conf does; test/authz/nginx.test.ts). What
  // it hands the edge to copy onto the job's request is the identity, never the session.
  t.same(
    Object.keys(session.headers)
      .filter((name) => !['date', 'connection', 'keep-alive'].includes(name))
      .sort(),
    ['cache-control', 'content-length', 'x-jobgate-assertion', 'x-jobgate-role', 'x-jobgate-token-id', 'x-jobgate-token-name', 'x-request-id'],
    'the allowed answer carries the identity headers and the request id, no Cookie or Set-Cookie',
  );
  const sessionValue = cookie.slice('jobgate='.length);
  t.notOk(
    Object.values(session.headers).some((header) => String(header).includes(sessionValue)),
    'no header of the answer holds the session',
  );
  t.equal((await ask({ host: 'nb2.job.test', uri: '/', headers: { cookie } })).status, 401, 'a cookie is bound to its host');
  t.equal((await ask({ host: 'nb1.job.test', uri: '/', proto: 'https', headers: { cookie } })).status, 401, 'over HTTPS only __Host-jobgate counts');

  // WebSocket handshakes: Upgrade is hop-by-hop and never reaches the endpoint, Sec-WebSocket-Key does.
  const handshake = { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' };
  t.equal(
    (await ask({ host: 'nb1.job.test', uri: '/ws', headers: { cookie, ...handshake, origin: 'http://nb1.job.test' } })).status,
    200,
    "a WebSocket from the job's own page",
  );
  const foreign = await ask({ host: 'nb1.job.test', uri: '/ws', headers: { cookie, ...handshake, origin: 'http://evil.job.test' } });
  t.equal(foreign.status, 403, 'a WebSocket that the cookie would open from another site');
  t.equal(foreign.json().error, 'forbidden');
  t.equal(
    (await ask({ host: 'nb1.job.test', uri: '/ws', headers: { ...bearer(value), ...handshake, origin: 'http://evil.job.test' } })).status,
    200,
    'a bearer token is not a cookie',
  );

  const exchanged = await ask({ host: 'nb1.job.test:8443', uri: `/lab?a=1&jobgate_token=${encodeURIComponent(value)}&b=2` });
  t.equal(exchanged.status, 303, 'a deep link through the endpoint');
  t.equal(exchanged.headers.location, 'http://nb1.job.test:8443/lab?a=1&b=2', 'to an absolute URL (Traefik resolves relative ones against the endpoint)');
  t.equal(exchanged.headers['referrer-policy'], 'no-referrer');
  const fresh = String(exchanged.headers['set-cookie']?.[0]).split(';')[0]!;
  t.equal((await ask({ host: 'nb1.job.test', uri: '/lab', headers: { cookie: fresh } })).status, 200, 'its cookie works');
  const bad = await ask({ host: 'nb1.job.test', uri: '/?jobgate_token=jgt_wrong' });
  t.equal(bad.status, 303);
  t.equal(bad.headers['set-cookie'], undefined, 'a wrong token sets no cookie');
});

t.test('a malformed job record: the same 503 as inline, and the key in the log', async (t) => {
  const key = new KeySpace(h.settings.keyPrefix ?? 'jobgate:').job('broken');
  await h.admin.sadd(key, 'not a hash');
  const reply = await sameAsInline(t, { host: 'broken.job.test', uri: '/' }, 503, 'a job key of the wrong type');
  t.equal(reply.json().error, 'job_record_invalid');
  t.ok(
    h.log.lines.some((line) => line.event === 'invalid_record' && line.key === key),
    'logged with its key',
  );
});

t.test('an unsecureHttp job: 200 without identity headers, whatever the credential', async (t) => {
  for (const headers of [{}, bearer('garbage'), { authorization: 'Basic dXNlcjpwYXNz' }]) {
    const reply = await ask({ host: 'pub.job.test', uri: '/', headers });
    t.equal(reply.status, 200);
    t.equal(reply.headers['x-jobgate-token-id'], undefined);
    t.equal(reply.headers['x-jobgate-assertion'], undefined);
  }
});

t.test('the access log names the original request, never the token or the query', async (t) => {
  const { value } = await h.tokens.create({ name: 'logged', role: 'read' });
  await ask({ host: 'nb1.job.test', uri: '/secret/path?q=hidden', headers: bearer(value) });
  const line = h.log.access.filter((entry) => entry.kind === 'authz').pop()!;
  t.match(line, { kind: 'authz', host: 'nb1.job.test', path: '/secret/path', method: 'GET', jobId: 'nb1', decision: 'allowed', status: 200 });
  t.notMatch(h.log.text, value, 'no token in the log');
  t.notMatch(h.log.text, 'hidden', 'no query string in the log');
});

t.test("the assertion's audience names the job and port the edge forwards to, as inline", async (t) => {
  await h.jobs.put({ id: 'ported', upstream: up.url, ports: { '6006': up.url } });
  const { value } = await h.tokens.create({ name: 'ports', role: 'read' });
  for (const [host, audience] of [
    ['ported.job.test', 'job:ported'],
    ['ported-6006.job.test', 'job:ported:6006'],
  ] as const) {
    const decided = await ask({ host, uri: '/', headers: bearer(value) });
    t.equal(decided.status, 200);
    t.equal(decodeJwt(String(decided.headers['x-jobgate-assertion'])).aud, audience, `${host}: the decision's audience`);
    t.equal((await inline({ host, headers: bearer(value) })).status, 200);
    t.equal(decodeJwt(String(up.last.headers['x-jobgate-assertion'])).aud, audience, `${host}: the same inline`);
  }
});

t.test("the answer carries the decision's request id, the one in its access line; unpredictable", async (t) => {
  const { value } = await h.tokens.create({ name: 'ids', role: 'read' });
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const reply = await ask({ host: 'nb1.job.test', uri: '/', headers: { ...bearer(value), 'x-request-id': 'client-chosen' } });
    ids.push(String(reply.headers['x-request-id']));
  }
  for (const id of ids) t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a UUIDv7, not a counter');
  t.equal(new Set(ids).size, 3);
  await waitFor(() => ids.every((id) => h.log.access.some((line) => line.kind === 'authz' && line.requestId === id)));
  t.pass('each id names its access line');
});
