import assert from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import { decideApi, decideApiForJob, type ApiDecision } from '../../src/api/decide.js';
import { UNKNOWN_PATH_RULE, buildApiPolicy, type ApiMatch, type ApiRule } from '../../src/api/policy.js';
import type { Labels } from '../../src/selector/index.js';
import type { Role } from '../../src/tokens/record.js';
import { labels, tokenRecord } from '../helpers/fixtures.js';
import { check } from '../helpers/property.js';
import { modelLabels, modelRequirement, spelled } from '../selector/model.js';

const token = tokenRecord;

/** jobgate's job registry, as the caller would consult it. */
const JOBS: ReadonlyMap<string, { labels: Labels }> = new Map([
  ['nb1', { labels: labels({ team: 'a', env: 'dev', 'jobgate/id': 'nb1' }) }],
  ['nb2', { labels: labels({ team: 'b', env: 'prod', 'jobgate/id': 'nb2' }) }],
]);

const policy = buildApiPolicy([{ method: 'GET', path: '/v1/info', role: 'read', scope: 'any' }]);
const m = (method: string, path: string): ApiMatch | undefined => policy.match(method, path);

const read = token('read');
const readScoped = token('read', 'team=a');
const operator = token('operator');
const scoped = token('operator', 'team=a');

// [name, token, method, path, query, expected decision (partial)]
const table: Array<[string, ReturnType<typeof token>, string, string, string, Partial<Record<string, unknown>>]> = [
  // Role first: read tokens do not reach operator routes, scoped or not.
  [
    'read on a job route',
    read,
    'GET',
    '/v1/job/nb1',
    '',
    { kind: 'deny', status: 403, error: 'insufficient_scope', reason: 'role_denied', message: /Read tokens only reach job URLs/ },
  ],
  ['read on list', read, 'GET', '/v1/job', '', { kind: 'deny', status: 403, reason: 'role_denied' }],
  ['read on create', read, 'POST', '/v1/job', '', { kind: 'deny', status: 403, reason: 'role_denied' }],
  ['read on tokens', read, 'POST', '/v1/token', '', { kind: 'deny', status: 403, reason: 'role_denied' }],
  ['read on an unknown path', read, 'GET', '/v1/whatever', '', { kind: 'deny', status: 403, reason: 'role_denied' }],
  ['scoped read on a job route', readScoped, 'GET', '/v1/job/nb1', '', { kind: 'deny', status: 403, reason: 'role_denied' }],
  ['read on a rule opened to read', read, 'GET', '/v1/info', '', { kind: 'forward' }],
  ['scoped read on a rule opened to read', readScoped, 'GET', '/v1/info', '', { kind: 'forward' }],
  // Unscoped operator tokens: forwarded everywhere, no lookup, no rewrite.
  ['unscoped operator on a job route', operator, 'GET', '/v1/job/nb1', '', { kind: 'forward' }],
  ['unscoped operator on an unknown job', operator, 'PUT', '/v1/job/nope/kill', '', { kind: 'forward' }],
  ['unscoped operator on list', operator, 'GET', '/v1/job', 'labelSelector=bad(', { kind: 'forward' }],
  ['unscoped operator on create', operator, 'POST', '/v1/job', '', { kind: 'forward' }],
  ['unscoped operator on relabel', operator, 'PUT', '/v1/job/nb1/label', '', { kind: 'forward' }],
  ['unscoped operator on label removal', operator, 'DELETE', '/v1/job/nb1/label/team', '', { kind: 'forward' }],
  ['unscoped operator on token creation', operator, 'POST', '/v1/token', '', { kind: 'forward' }],
  ['unscoped operator on token renewal', operator, 'PUT', '/v1/token/abc/renew', '', { kind: 'forward' }],
  ['unscoped operator on an unknown path', operator, 'GET', '/v1/whatever', '', { kind: 'forward' }],
  // Scoped operator tokens.
  ['scoped on a job', scoped, 'GET', '/v1/job/nb1', '', { kind: 'needs-job', jobId: 'nb1', then: 'forward' }],
  ['scoped on kill', scoped, 'PUT', '/v1/job/nb2/kill', '', { kind: 'needs-job', jobId: 'nb2', then: 'forward' }],
  ['scoped on log', scoped, 'GET', '/v1/job/nb1/log', 'follow=true', { kind: 'needs-job', jobId: 'nb1', then: 'forward' }],
  ['scoped on a job id that cannot exist', scoped, 'GET', '/v1/job/NB1', '', { kind: 'deny', status: 404, error: 'not_found', reason: 'unknown_job' }],
  ['scoped on a decoded id that cannot exist', scoped, 'GET', '/v1/job/caf%C3%A9', '', { kind: 'deny', status: 404, reason: 'unknown_job' }],
  ['scoped on relabel', scoped, 'PUT', '/v1/job/nb1/label', '', { kind: 'needs-job', jobId: 'nb1', then: 'check-relabel' }],
  ['scoped on label removal', scoped, 'DELETE', '/v1/job/nb1/label/team', '', { kind: 'deny', status: 403, reason: 'scoped_route_denied' }],
  ['scoped on create', scoped, 'POST', '/v1/job', '', { kind: 'inspect-body', check: { op: 'create', selector: scoped.selector } }],
  ['scoped on list', scoped, 'GET', '/v1/job', 'page=2', { kind: 'rewrite-query', query: 'page=2&labelSelector=team%3Da' }],
  [
    'scoped on list with a bad selector',
    scoped,
    'GET',
    '/v1/job',
    'labelSelector=a%20in%20(',
    { kind: 'deny', status: 400, error: 'bad_request', reason: 'bad_query' },
  ],
  [
    'scoped on token creation',
    scoped,
    'POST',
    '/v1/token',
    '',
    { kind: 'deny', status: 403, error: 'insufficient_scope', reason: 'unscoped_only', message: /cannot mint or renew tokens/ },
  ],
  ['scoped on token renewal', scoped, 'PUT', '/v1/token/abc/renew', '', { kind: 'deny', status: 403, reason: 'unscoped_only' }],
  ['scoped on token list', scoped, 'GET', '/v1/token', '', { kind: 'deny', status: 403, reason: 'unscoped_only' }],
  ['scoped on an unknown path', scoped, 'GET', '/v1/whatever', '', { kind: 'deny', status: 403, error: 'insufficient_scope', reason: 'scoped_route_denied' }],
  ['scoped on an unknown method', scoped, 'DELETE', '/v1/job', '', { kind: 'deny', status: 403, reason: 'scoped_route_denied' }],
];

for (const [name, tok, method, path, query, expected] of table) {
  t.test(name, async (t) => {
    t.match(decideApi(tok, m(method, path), { rawQuery: query }), expected);
  });
}

t.test('no match means UNKNOWN_PATH_RULE', async (t) => {
  t.same(decideApi(scoped, undefined, { rawQuery: '' }), decideApi(scoped, { rule: UNKNOWN_PATH_RULE }, { rawQuery: '' }));
  t.match(decideApi(read, undefined, { rawQuery: '' }), { reason: 'role_denied' });
  t.same(decideApi(operator, undefined, { rawQuery: '' }), { kind: 'forward' });
});

t.test('every scope rule, for a scoped operator', async (t) => {
  const rule = (scope: ApiRule['scope']): ApiRule => ({ method: '*', path: '/x/{id}', role: 'operator', scope });
  const ctx = { rawQuery: '' };
  t.same(decideApi(scoped, { rule: rule('any') }, ctx), { kind: 'forward' });
  t.match(decideApi(scoped, { rule: rule('unscoped-only') }, ctx), { reason: 'unscoped_only' });
  t.match(decideApi(scoped, { rule: rule('deny-scoped') }, ctx), { reason: 'scoped_route_denied' });
  t.match(decideApi(scoped, { rule: rule('list-jobs') }, ctx), { kind: 'rewrite-query', query: 'labelSelector=team%3Da' });
  t.match(decideApi(scoped, { rule: rule('create-job') }, ctx), { kind: 'inspect-body' });
  t.match(decideApi(scoped, { rule: rule('job'), jobId: 'j' }, ctx), { kind: 'needs-job', jobId: 'j', then: 'forward' });
  t.match(decideApi(scoped, { rule: rule('relabel-job'), jobId: 'j' }, ctx), { kind: 'needs-job', jobId: 'j', then: 'check-relabel' });
  // Hand-built rules and matches that compileApiRules would refuse: fail closed.
  t.match(decideApi(scoped, { rule: rule('everything' as ApiRule['scope']) }, ctx), { kind: 'deny', reason: 'scoped_route_denied' });
  t.match(decideApi(read, { rule: { ...rule('any'), role: 'admin' as ApiRule['role'] } }, ctx), { kind: 'deny', reason: 'role_denied' });
  t.match(decideApi(scoped, { rule: rule('job') }, ctx), { kind: 'deny', reason: 'scoped_route_denied' });
  t.match(decideApi(scoped, { rule: rule('relabel-job') }, ctx), { kind: 'deny', reason: 'scoped_route_denied' });
});

t.test('WebSocket upgrades follow the same rules; body checks cannot apply to them', async (t) => {
  const up = (tok: typeof scoped, method: string, path: string, query = ''): ApiDecision => decideApi(tok, m(method, path), { rawQuery: query, upgrade: true });
  t.match(up(scoped, 'GET', '/v1/job/nb1/log', 'follow=true'), { kind: 'needs-job', jobId: 'nb1', then: 'forward' });
  t.match(up(scoped, 'GET', '/v1/job/nb1/exec'), { kind: 'needs-job', jobId: 'nb1' });
  t.match(up(read, 'GET', '/v1/job/nb1/log'), { kind: 'deny', reason: 'role_denied' });
  t.match(up(scoped, 'GET', '/v1/token'), { kind: 'deny', reason: 'unscoped_only' });
  t.match(up(scoped, 'GET', '/v1/job'), { kind: 'rewrite-query' });
  t.match(up(scoped, 'POST', '/v1/job'), { kind: 'deny', status: 400, reason: 'upgrade_not_allowed' });
  t.match(up(scoped, 'PUT', '/v1/job/nb1/label'), { kind: 'deny', status: 400, reason: 'upgrade_not_allowed' });
  t.same(up(operator, 'POST', '/v1/job'), { kind: 'forward' });
});

t.test('decideApiForJob: unknown job 404, out of scope 403, in scope forward or relabel check', async (t) => {
  const forward = { then: 'forward' } as const;
  const relabel = { then: 'check-relabel' } as const;
  t.match(decideApiForJob(scoped, undefined, forward), { kind: 'deny', status: 404, error: 'not_found', reason: 'unknown_job' });
  t.match(decideApiForJob(scoped, undefined, relabel), { kind: 'deny', status: 404 });
  t.match(decideApiForJob(scoped, JOBS.get('nb2'), forward), { kind: 'deny', status: 403, error: 'insufficient_scope', reason: 'scope_denied' });
  t.match(decideApiForJob(scoped, JOBS.get('nb2'), relabel), { kind: 'deny', status: 403, reason: 'scope_denied' });
  t.same(decideApiForJob(scoped, JOBS.get('nb1'), forward), { kind: 'forward' });
  t.same(decideApiForJob(scoped, JOBS.get('nb1'), relabel), {
    kind: 'inspect-body',
    check: { op: 'relabel', selector: scoped.selector, jobLabels: JOBS.get('nb1')!.labels },
  });
  // Selector operators, as on job URLs.
  const job = { labels: labels({ team: 'a', env: 'dev', 'jobgate/id': 'nb1' }) };
  for (const [selector, allowed] of [
    ['jobgate/id=nb1', true],
    ['jobgate/id=nb2', false],
    ['env!=prod', true],
    ['env notin (dev)', false],
    ['team in (a,b)', true],
    ['!gpu', true],
    ['gpu', false],
  ] as const) {
    const decision = decideApiForJob(token('operator', selector), job, forward);
    t.equal(decision.kind, allowed ? 'forward' : 'deny', selector);
  }
  // As a re-check for open WebSockets: labels changed under the token.
  t.match(decideApiForJob(scoped, { labels: labels({ team: 'b' }) }, forward), { kind: 'deny', reason: 'scope_denied' });
});

/** Freezes `value` and everything it holds (a Map's entries too: the Map itself cannot be frozen shut). */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  if (value instanceof Map) {
    for (const [key, entry] of value) {
      deepFreeze(key);
      deepFreeze(entry);
    }
  }
  for (const entry of Object.values(value)) deepFreeze(entry);
  return Object.freeze(value);
}

const RULES = [{ method: 'GET', path: '/v1/info', role: 'read', scope: 'any' }] as const;
const apiInput = fc.record({
  role: fc.constantFrom<Role>('read', 'operator'),
  selector: spelled(fc.array(modelRequirement, { maxLength: 2 })),
  // A route of every scope rule, and paths no rule names.
  route: fc.constantFrom<readonly [string, string]>(
    ['GET', '/v1/job'],
    ['POST', '/v1/job'],
    ['DELETE', '/v1/job'],
    ['GET', '/v1/job/nb1'],
    ['PUT', '/v1/job/nb2/kill'],
    ['GET', '/v1/job/nb1/log'],
    ['PUT', '/v1/job/nb1/label'],
    ['DELETE', '/v1/job/nb1/label/team'],
    ['GET', '/v1/job/NB1'],
    ['POST', '/v1/token'],
    ['PUT', '/v1/token/abc/renew'],
    ['GET', '/v1/info'],
    ['GET', '/v1/whatever'],
  ),
  rawQuery: fc.constantFrom('', 'page=2', 'labelSelector=env%3Ddev&statusState=RUNNING', 'labelSelector=a%20in%20(', 'labelSelector=a&labelSelector=b'),
  upgrade: fc.boolean(),
  // A registered job carries its id as the reserved label jobgate/id.
  job: fc.option(
    modelLabels.map((labels) => ({ ...labels, 'jobgate/id': 'nb1' })),
    { nil: undefined },
  ),
});
type ApiInput = typeof apiInput extends fc.Arbitrary<infer T> ? T : never;

/** Every input of both steps, built from scratch: a new token record, policy, match, context and job record. */
function buildInputs(input: ApiInput) {
  return {
    token: token(input.role, input.selector.text),
    match: buildApiPolicy([...RULES]).match(input.route[0], input.route[1]),
    ctx: { rawQuery: input.rawQuery, upgrade: input.upgrade },
    job: input.job === undefined ? undefined : { labels: labels(input.job) },
  };
}

/** Both steps, as the caller runs them: the first decision, and the second when it asks for the job. */
function decideBoth({ token, match, ctx, job }: ReturnType<typeof buildInputs>) {
  const first = decideApi(token, match, ctx);
  return { first, second: first.kind === 'needs-job' ? decideApiForJob(token, job, first) : undefined };
}

t.test('decisions are pure: equal inputs built apart get equal decisions, and no input is changed', async (t) => {
  const kinds = new Set<string>();
  await check(
    fc.property(apiInput, (input) => {
      const given = buildInputs(input);
      const untouched = structuredClone(given);
      const decided = decideBoth(given);
      assert.deepStrictEqual(given, untouched, 'the token, match, context and job record are as they were before the decision');
      // Inputs built apart and deep-frozen: a decision that writes to one of their objects throws here
      // (a Map's entries stay writable; the comparison with the clone above covers those).
      const again = decideBoth(deepFreeze(buildInputs(input)));
      assert.deepStrictEqual(again, decided, 'the same decision for equal inputs that share no object');
      assert.deepStrictEqual(decideBoth(buildInputs(input)), decided, 'and once more: nothing carried over from earlier calls');
      const last = decided.second ?? decided.first;
      kinds.add(last.kind === 'inspect-body' ? `inspect-body ${last.check.op}` : last.kind);
    }),
    1000,
  );
  t.same([...kinds].sort(), ['deny', 'forward', 'inspect-body create', 'inspect-body relabel', 'rewrite-query'], 'every kind of decision was reached');
});
