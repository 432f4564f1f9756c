import t from 'tap';
import { Denial, type GateRequest } from '../../src/gate/index.js';
import { navigationReply, pageReply, refusalReply } from '../../src/gate/refusal.js';
import { answer, ANSWERS, expiredToken, missingSidecarJob, tooManyFailures, type Answer } from '../../src/http/answers.js';
import { loginPage, noAccessPage, PAGE_HEADERS, SESSION_ENDED, statusPage, TOO_MANY_ATTEMPTS } from '../../src/session/pages.js';

/**
 * What a refused client sees: API clients and scripts get the JSON answer with its RFC 6750
 * challenge; a browser's navigation to a job gets the login page (401, 429), the no-access page
 * (403) or a page saying what happened (404, 502, 503, 504); a session cookie that no longer holds
 * is cleared either way.
 */

const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const CLEAR = ['jobgate=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax'];
const TOKEN = `jgt_${'a'.repeat(36)}_${'b'.repeat(64)}_${'c'.repeat(8)}`;

function request(overrides: Partial<GateRequest> = {}): GateRequest {
  return {
    method: 'GET',
    host: 'nb1.job.test',
    publicHost: 'nb1.job.test',
    url: '/lab/tree?x=1',
    headers: {},
    rawHeaders: [],
    client: '192.0.2.1',
    https: false,
    ...overrides,
  };
}
const navigation = (overrides: Partial<GateRequest> = {}): GateRequest => request({ ...overrides, headers: { accept: HTML, ...overrides.headers } });

/** A page as jobgate sends it: its headers, the byte length of the body, and `extra`. */
function page(status: number, body: string, extra: Record<string, string | readonly string[]> = {}) {
  return { status, headers: { ...PAGE_HEADERS, 'content-length': Buffer.byteLength(body), ...extra }, body };
}

function json(reply: { body: string }): unknown {
  return JSON.parse(reply.body);
}

t.test('API clients and scripts get the JSON answer and its RFC 6750 challenge', async (t) => {
  const cases: [string, Denial, string | undefined][] = [
    ['no token', new Denial('missing_token', ANSWERS.missingToken, { jobId: 'nb1' }), 'Bearer realm="jobgate"'],
    [
      'a malformed token',
      new Denial('malformed_token', ANSWERS.malformedToken, { jobId: 'nb1' }),
      'Bearer realm="jobgate", error="invalid_token", error_description="The token is malformed"',
    ],
    [
      'a token out of scope',
      new Denial('scope_denied', ANSWERS.scopeDenied, { jobId: 'nb1' }),
      `Bearer realm="jobgate", error="insufficient_scope", error_description="The token's label selector does not match this job"`,
    ],
    ['an unknown job', new Denial('unknown_job', ANSWERS.unknownJob, { jobId: 'nb9' }), undefined],
  ];
  for (const [what, denial, challenge] of cases) {
    for (const req of [request(), request({ headers: { accept: 'application/json' } }), request({ method: 'POST', headers: { accept: HTML } })]) {
      const reply = refusalReply(denial, req, CLEAR);
      t.equal(reply.status, denial.answer.status, what);
      t.equal(reply.headers['content-type'], 'application/json; charset=utf-8', what);
      t.equal(reply.headers['www-authenticate'], challenge, what);
      t.equal(reply.headers['set-cookie'], undefined, `${what}: a session that was not stale is left alone`);
      t.same(json(reply), { error: denial.answer.error, message: denial.answer.message }, what);
    }
  }
});

t.test('a stale session is cleared with the JSON answer too, and only when it is stale', async (t) => {
  const stale = new Denial('missing_token', ANSWERS.missingToken, { jobId: 'nb1', staleSession: true });
  const reply = refusalReply(stale, request(), CLEAR);
  t.same(reply, { ...ANSWERS.missingToken, headers: { ...ANSWERS.missingToken.headers, 'set-cookie': CLEAR } });
  t.same(refusalReply(stale, request(), undefined), ANSWERS.missingToken, 'nothing to clear');
  const api = new Denial('missing_token', ANSWERS.missingToken, { staleSession: true });
  t.same(refusalReply(api, navigation(), CLEAR).headers['set-cookie'], CLEAR, 'without a job as well');
});

t.test("a browser's navigation to a job: the login page (401)", async (t) => {
  const denial = new Denial('missing_token', ANSWERS.missingToken, { jobId: 'nb1' });
  t.same(
    refusalReply(denial, navigation(), CLEAR),
    page(401, loginPage({ jobId: 'nb1', next: '/lab/tree?x=1', notice: undefined }), { 'www-authenticate': 'Bearer realm="jobgate"' }),
  );
  t.same(
    refusalReply(denial, navigation({ method: 'HEAD', url: '//evil.example/' }), CLEAR),
    page(401, loginPage({ jobId: 'nb1', next: '/' }), { 'www-authenticate': 'Bearer realm="jobgate"' }),
    'HEAD too; a path to another host comes back as /',
  );
  const expired = new Denial('expired_token', expiredToken('2026-01-01T00:00:00.000Z'), { jobId: 'nb1', tokenId: 't' });
  t.same(
    refusalReply(expired, navigation(), undefined),
    page(401, loginPage({ jobId: 'nb1', next: '/lab/tree?x=1' }), {
      'www-authenticate': 'Bearer realm="jobgate", error="invalid_token", error_description="The token expired"',
    }),
    'the challenge of the denial itself',
  );
});

t.test('the login page clears a stale session, and says so when its token changed', async (t) => {
  const stale = new Denial('missing_token', ANSWERS.missingToken, { jobId: 'nb1', staleSession: true });
  t.same(
    refusalReply(stale, navigation(), CLEAR),
    page(401, loginPage({ jobId: 'nb1', next: '/lab/tree?x=1' }), { 'www-authenticate': 'Bearer realm="jobgate"', 'set-cookie': CLEAR }),
  );
  const changed = new Denial('missing_token', ANSWERS.missingToken, { jobId: 'nb1', staleSession: true, tokenChanged: true });
  const reply = refusalReply(changed, navigation(), CLEAR);
  t.same(
    reply,
    page(401, loginPage({ jobId: 'nb1', next: '/lab/tree?x=1', notice: SESSION_ENDED }), { 'www-authenticate': 'Bearer realm="jobgate"', 'set-cookie': CLEAR }),
  );
  t.match(reply.body, 'Your session ended because its token was renewed or deleted');
  t.same(
    refusalReply(stale, navigation(), undefined).headers,
    { ...PAGE_HEADERS, 'content-length': Buffer.byteLength(loginPage({ jobId: 'nb1', next: '/lab/tree?x=1' })), 'www-authenticate': 'Bearer realm="jobgate"' },
    'no Set-Cookie when there is nothing to clear',
  );
});

t.test("a browser's navigation to a job: the no-access page (403) and the login page with an error (429)", async (t) => {
  const denied = new Denial('scope_denied', ANSWERS.scopeDenied, { jobId: 'nb1', tokenId: 't' });
  t.same(refusalReply(denied, navigation(), CLEAR), page(403, noAccessPage('nb1'), { 'www-authenticate': ANSWERS.scopeDenied.headers['www-authenticate']! }));
  const foreign = new Denial('foreign_origin', ANSWERS.foreignOrigin, { jobId: 'nb1' });
  t.same(refusalReply(foreign, navigation(), CLEAR), page(403, noAccessPage('nb1')), 'a 403 without a challenge has none');

  const limited = new Denial('too_many_failures', tooManyFailures(42), { jobId: 'nb1' });
  t.same(
    refusalReply(limited, navigation({ url: '/x?jobgate_token=abc' }), CLEAR),
    page(429, loginPage({ jobId: 'nb1', next: '/x?jobgate_token=abc', error: TOO_MANY_ATTEMPTS }), { 'retry-after': '42' }),
  );
  const noRetryAfter = new Denial('too_many_failures', answer(429, 'too_many_requests', 'Slow down.'), { jobId: 'nb1' });
  t.equal(refusalReply(noRetryAfter, navigation(), CLEAR).headers['retry-after'], '60', 'a minute when the answer names no time');
  t.same(json(refusalReply(limited, request(), CLEAR)), { error: 'too_many_requests', message: tooManyFailures(42).message }, 'JSON for a script');
  t.equal(refusalReply(limited, request(), CLEAR).headers['retry-after'], '42');
});

t.test("a browser's navigation, other answers: a page titled by the status, a retry link for transient ones", async (t) => {
  const url = `/lab/tree?a=1&jobgate_token=${TOKEN}&b=2`;
  const cases: [string, Denial, number, string, string | undefined][] = [
    ['an API request out of scope (403, no job)', new Denial('scope_denied', ANSWERS.scopeDenied), 403, 'Access denied', undefined],
    ['no route (no job)', new Denial('no_route', answer(404, 'not_found', 'No job here.')), 404, 'Nothing is served here', undefined],
    ['an unknown job', new Denial('unknown_job', ANSWERS.unknownJob, { jobId: 'nb9' }), 404, 'Nothing is served here', undefined],
    [
      'the store down',
      new Denial('store_unavailable', ANSWERS.storeUnavailable, { jobId: 'nb1' }),
      503,
      'Access cannot be checked right now',
      '/lab/tree?a=1&b=2',
    ],
    [
      'a missing sidecar job',
      new Denial('sidecar_job_missing', missingSidecarJob('nb1'), { jobId: 'nb1' }),
      503,
      'Access cannot be checked right now',
      '/lab/tree?a=1&b=2',
    ],
    ['the job not answering', new Denial('internal_error', ANSWERS.upstreamUnreachable), 502, 'The job is not answering', '/lab/tree?a=1&b=2'],
    ['the job too slow', new Denial('internal_error', ANSWERS.upstreamTimeout), 504, 'The job took too long to answer', '/lab/tree?a=1&b=2'],
  ];
  for (const [what, denial, status, title, retry] of cases) {
    const reply = refusalReply(denial, navigation({ url }), CLEAR);
    t.same(reply, page(status, statusPage({ title, message: denial.answer.message, jobId: denial.jobId, retry })), what);
    t.notMatch(reply.body, TOKEN, `${what}: the token is not in the page`);
  }
  const down = new Denial('store_unavailable', ANSWERS.storeUnavailable, { jobId: 'nb1' });
  t.same(
    refusalReply(down, navigation({ url: '//evil.example/x' }), CLEAR),
    page(503, statusPage({ title: 'Access cannot be checked right now', message: ANSWERS.storeUnavailable.message, jobId: 'nb1', retry: '/' })),
    'a retry link stays on the host',
  );
});

t.test('a page keeps the Retry-After of the answer', async (t) => {
  const limited = new Denial('too_many_failures', tooManyFailures(30));
  t.same(
    refusalReply(limited, navigation(), CLEAR),
    page(429, statusPage({ title: 'Too many attempts', message: tooManyFailures(30).message }), { 'retry-after': '30' }),
    'a 429 to a navigation that is for no job (the API host): the page, with no retry link',
  );
  const busy = answer(503, 'unavailable', 'Busy.');
  const withRetry: Answer = { ...busy, headers: { ...busy.headers, 'retry-after': '5' } };
  t.same(
    navigationReply(navigation({ url: '/' }), withRetry, 'nb1'),
    page(503, statusPage({ title: 'Access cannot be checked right now', message: 'Busy.', jobId: 'nb1', retry: '/' }), { 'retry-after': '5' }),
  );
  t.same(navigationReply(navigation({ url: '/' }), busy), page(503, statusPage({ title: 'Access cannot be checked right now', message: 'Busy.', retry: '/' })));
});

t.test('what stays JSON even for a navigation: statuses without a page, and requests that are no navigation', async (t) => {
  const cases: [string, Denial, GateRequest][] = [
    ['two Authorization headers (400)', new Denial('duplicate_authorization', ANSWERS.duplicateAuthorization, { jobId: 'nb1' }), navigation()],
    ['an API request without a token (401, no job)', new Denial('missing_token', ANSWERS.missingToken), navigation()],
    ['a 409', new Denial('ambiguous_host', answer(409, 'ambiguous_host', 'Both.'), { jobId: 'a-80' }), navigation()],
    ['a POST', new Denial('missing_token', ANSWERS.missingToken, { jobId: 'nb1' }), navigation({ method: 'POST' })],
    ['an OPTIONS', new Denial('unknown_job', ANSWERS.unknownJob, { jobId: 'nb1' }), navigation({ method: 'OPTIONS' })],
    [
      'JSON preferred',
      new Denial('missing_token', ANSWERS.missingToken, { jobId: 'nb1' }),
      request({ headers: { accept: 'text/html;q=0.5, application/json' } }),
    ],
    ['no html accepted', new Denial('store_unavailable', ANSWERS.storeUnavailable), request({ headers: { accept: '*/*' } })],
  ];
  for (const [what, denial, req] of cases) t.same(refusalReply(denial, req, CLEAR), denial.answer, what);
});

t.test('pageReply: the page headers, the byte length of the body, and the extra headers', async (t) => {
  const html = '<p>héllo</p>';
  t.same(pageReply(200, html), { status: 200, headers: { ...PAGE_HEADERS, 'content-length': 13 }, body: html });
  t.same(pageReply(409, html, { 'set-cookie': ['a=b'] }, { 'content-type': 'text/html' }), {
    status: 409,
    headers: { 'content-type': 'text/html', 'content-length': 13, 'set-cookie': ['a=b'] },
    body: html,
  });
});
