import t from 'tap';
import { apiRuleProblem, buildApiPolicy, compileApiRules, stricterMatch, type ApiMatch, type ApiRule } from '../../src/api/policy.js';

// Cases found by mutation testing (src/api/policy.ts).

const rule = (method: unknown, path: unknown): ApiRule => ({ method, path, role: 'read', scope: 'any' }) as unknown as ApiRule;

t.test('methods: every token character is accepted, its neighbours are not', async (t) => {
  for (const method of ['AZ', 'az', '09', 'GET', 'M-SEARCH', "!#$%&'*+-.^_`|~", 'a0Z9']) t.equal(apiRuleProblem(rule(method, '/a')), undefined, method);
  // The characters just outside each range: "/" ":" "@" "[" "{" and others that are no token characters.
  for (const method of ['/', ':', '@', '[', '{', 'G:ET', 'GE@T', '"', '(', ',', ' ', '\u00c9', 'GET\r']) {
    t.equal(apiRuleProblem(rule(method, '/a')), `the method ${JSON.stringify(method)} is not an HTTP method or "*"`, JSON.stringify(method));
  }
  t.equal(apiRuleProblem(rule('', '/a')), 'the method must be a non-empty string ("GET", "*"...)');
});

t.test('literal segments: letters, digits and the pchar marks, at each range edge', async (t) => {
  for (const path of ['/AZ', '/az', '/09', '/v1/Job/X9', "/-._~!$&'()+,=:@"]) t.equal(apiRuleProblem(rule('GET', path)), undefined, path);
  // The characters just outside each range ("/" is the separator, ":" and "@" are pchar marks).
  for (const c of ['[', '`', '"', '<', '>', '^', '|', '\\', ' ', '\u00e9']) {
    t.equal(
      apiRuleProblem(rule('GET', `/a${c}b`)),
      `segment ${JSON.stringify(`a${c}b`)}: ${JSON.stringify(c)} is not allowed (write literals unencoded, without "%", ";", "?" or "#")`,
      JSON.stringify(c),
    );
  }
  t.equal(apiRuleProblem(rule('GET', '/a/{id}x')), 'segment "{id}x": "{id}" is the only placeholder, and it must be a whole segment');
  t.equal(apiRuleProblem(rule('GET', '/a/x}')), 'segment "x}": "{id}" is the only placeholder, and it must be a whole segment');
  t.equal(apiRuleProblem(rule('GET', '/a/*x')), 'segment "*x": "*" and "**" must be whole segments');
  t.equal(apiRuleProblem(rule('GET', '/**')), undefined, 'a pattern of "**" alone');
  t.equal(apiRuleProblem(rule('GET', '/')), undefined, 'the root pattern');
  t.equal(apiRuleProblem(rule('GET', '')), 'the path pattern must start with "/"');
});

t.test('compiled methods: "*" stays "*", others are upper-cased', async (t) => {
  const p = compileApiRules([rule('*', '/a'), rule('patch', '/b')]);
  t.same(
    p.rules.map((r) => r.method),
    ['*', 'PATCH'],
  );
  t.equal(p.match('PATCH', '/b')?.rule.path, '/b');
  t.equal(p.match('patch', '/b'), undefined);
  t.ok(Object.isFrozen(p) && Object.isFrozen(p.rules) && Object.isFrozen(p.rules[0]));
});

t.test('the root pattern matches only the root path', async (t) => {
  const p = compileApiRules([rule('*', '/')]);
  t.ok(p.match('GET', '/'));
  t.equal(p.match('GET', '/a'), undefined);
  t.equal(p.matchAnyMethod('/a'), undefined);
  t.ok(compileApiRules([rule('*', '/**')]).match('GET', '/'), '"/**" matches the root path');
  t.equal(compileApiRules([rule('*', '/a/**')]).match('GET', '/'), undefined, 'a path shorter than the pattern');
});

t.test('match on a path that does not start with "/" or does not decode: nothing', async (t) => {
  const p = compileApiRules([rule('*', '/**')]);
  for (const path of ['', 'a', '*', 'a/b', '%2Fa']) {
    t.equal(p.match('GET', path), undefined, JSON.stringify(path));
    t.equal(p.matchAnyMethod(path), undefined, JSON.stringify(path));
  }
  t.equal(p.match('GET', '/a/%E0%A4%A'), undefined);
  t.equal(p.matchAnyMethod('/a/%E0%A4%A'), undefined);
  t.ok(p.match('GET', '/a/%41'), 'a segment that decodes');
});

t.test('{id} is captured decoded, only from a pattern that has one', async (t) => {
  const p = compileApiRules([
    { method: 'GET', path: '/x/{id}/y', role: 'operator', scope: 'job' },
    { method: 'GET', path: '/z/*', role: 'operator', scope: 'any' },
  ]);
  t.same(p.match('GET', '/x/a%20b/y'), { rule: p.rules[0], jobId: 'a b' });
  t.same(p.match('GET', '/z/q'), { rule: p.rules[1] }, 'no jobId key without {id}');
  t.notOk('jobId' in (p.match('GET', '/z/q') ?? {}));
});

t.test('a variant literal: the rule after it is matched byte for byte, for the same method only', async (t) => {
  const p = compileApiRules([
    { method: 'GET', path: '/v1/job/{id}/label', role: 'operator', scope: 'job' },
    { method: 'PUT', path: '/v1/job/{id}/LABEL', role: 'operator', scope: 'unscoped-only' },
    { method: 'GET', path: '/v1/job/{id}/LABEL', role: 'operator', scope: 'relabel-job' },
  ]);
  // GET .../LABEL reads leniently as rule 1 (job), byte for byte as rule 3 (relabel-job): relabel-job wins over job.
  t.same(p.match('GET', '/v1/job/nb/LABEL'), { rule: p.rules[2], jobId: 'nb' });
  // DELETE names no rule: nothing at all.
  t.equal(p.match('DELETE', '/v1/job/nb/LABEL'), undefined);
  const q = compileApiRules([
    { method: 'GET', path: '/a/b', role: 'read', scope: 'any' },
    { method: 'GET', path: '/a/B', role: 'operator', scope: 'deny-scoped' },
  ]);
  t.equal(q.match('GET', '/a/B')?.rule.scope, 'deny-scoped', 'the byte-for-byte rule is stricter');
  t.equal(q.match('GET', '/a/B')?.rule.role, 'operator');
  t.equal(q.match('GET', '/a/b')?.rule.scope, 'any', 'the path as written: no second reading');
  const r = compileApiRules([
    { method: 'GET', path: '/a/b', role: 'read', scope: 'any' },
    { method: '*', path: '/**', role: 'read', scope: 'any' },
  ]);
  t.same(r.match('GET', '/a/B'), { rule: r.rules[1] }, 'both readings open ("any" yields): the byte-for-byte one');
});

t.test('matchAnyMethod folds in every method a rule names, and the methods none names', async (t) => {
  const p = compileApiRules([
    { method: 'GET', path: '/a', role: 'read', scope: 'any' },
    { method: 'POST', path: '/a', role: 'operator', scope: 'unscoped-only' },
    { method: 'PUT', path: '/b', role: 'read', scope: 'any' },
    { method: '*', path: '/b', role: 'read', scope: 'any' },
  ]);
  t.equal(p.matchAnyMethod('/a')?.rule.scope, 'unscoped-only', 'the second method named');
  t.equal(p.matchAnyMethod('/a')?.rule.role, 'operator');
  t.equal(p.matchAnyMethod('/b')?.rule.role, 'read', 'every method reads /b as read: read');
  const first = compileApiRules([
    { method: 'DELETE', path: '/a', role: 'operator', scope: 'deny-scoped' },
    { method: '*', path: '/a', role: 'read', scope: 'any' },
  ]);
  t.equal(first.matchAnyMethod('/a')?.rule.scope, 'deny-scoped', 'the first method named');
});

t.test('stricterMatch keeps the rule it picks, with the stricter role and the job', async (t) => {
  const m = (scope: ApiRule['scope'], role: ApiRule['role'], jobId?: string): ApiMatch => {
    const r: ApiRule = { method: 'GET', path: `/${scope}/${role}`, role, scope };
    return jobId === undefined ? { rule: r } : { rule: r, jobId };
  };
  const a = m('job', 'read', 'nb');
  const b = m('any', 'operator');
  t.same(stricterMatch(a, b), { rule: { method: 'GET', path: '/job/read', role: 'operator', scope: 'job' }, jobId: 'nb' });
  t.same(stricterMatch(b, a), { rule: { method: 'GET', path: '/job/read', role: 'operator', scope: 'job' }, jobId: 'nb' });
  t.ok(Object.isFrozen(stricterMatch(a, b)?.rule));
  const c = m('list-jobs', 'read');
  t.same(stricterMatch(c, m('any', 'operator')), { rule: { method: 'GET', path: '/list-jobs/read', role: 'operator', scope: 'list-jobs' } });
  t.notOk('jobId' in (stricterMatch(c, m('any', 'operator')) ?? {}));
  t.equal(stricterMatch(c, m('any', 'read')), c, 'the same role: the match itself');
  // Neither is a denying scope, different scopes about the same job, not relabel over job: denied.
  t.same(stricterMatch(m('job', 'read', 'nb'), m('create-job', 'read', 'nb'))?.rule.scope, 'deny-scoped');
  t.same(stricterMatch(m('job', 'read', 'nb'), m('create-job', 'read', 'nb'))?.rule.role, 'read');
  t.same(stricterMatch(m('job', 'read', 'nb'), m('create-job', 'read', 'nb'))?.rule.path, '/**');
  t.same(stricterMatch(m('deny-scoped', 'read'), m('unscoped-only', 'read'))?.rule.path, '/unscoped-only/read', 'unscoped-only is the stronger denial');
  t.same(stricterMatch(m('relabel-job', 'read', 'nb'), m('relabel-job', 'operator', 'nb'))?.rule.path, '/relabel-job/read');
  t.same(stricterMatch(m('list-jobs', 'read'), m('list-jobs', 'read'))?.rule.path, '/list-jobs/read', 'equal scopes, no job: the first');
  // Equal rules, different jobs: not the same decision.
  const same = m('job', 'read', 'nb');
  t.same(stricterMatch(same, { rule: same.rule, jobId: 'other' })?.rule.scope, 'deny-scoped');
});

t.test('buildApiPolicy refuses a configured rule naming it by its position', async (t) => {
  t.throws(() => buildApiPolicy([rule('GET', '/ok'), rule('GET', 'bad')]), { message: 'API rule 2 (GET bad): the path pattern must start with "/"' });
});

t.test('the root pattern has no {id}: a job scope on it is refused, and its match names no job', async (t) => {
  t.equal(apiRuleProblem({ method: 'GET', path: '/', role: 'operator', scope: 'job' }), 'the scope "job" needs a "{id}" segment in the path pattern');
  const p = compileApiRules([rule('*', '/')]);
  t.same(p.match('GET', '/'), { rule: p.rules[0] });
  t.notOk('jobId' in (p.match('GET', '/') ?? {}));
});

t.test('every encoded segment is decoded, not only the first', async (t) => {
  const p = buildApiPolicy();
  t.same(p.match('PUT', '/v1/job/%6Eb1/l%61bel'), { rule: p.rules[3], jobId: 'nb1' });
  t.same(p.match('GET', '/v1/%6Aob/%6Eb1'), undefined, 'a variant of a literal before the job: read both ways, the stricter decides');
  t.same(p.match('GET', '/v1/job/%6Eb1/%6Cog'), { rule: p.rules[6], jobId: 'nb1' });
});

t.test('"*" segments are not captured as the job id', async (t) => {
  const p = compileApiRules([
    { method: 'GET', path: '/x/{id}/*', role: 'operator', scope: 'job' },
    { method: 'GET', path: '/y/*/{id}/*', role: 'operator', scope: 'job' },
  ]);
  t.same(p.match('GET', '/x/nb/q'), { rule: p.rules[0], jobId: 'nb' });
  t.same(p.match('GET', '/y/a/nb/b'), { rule: p.rules[1], jobId: 'nb' });
});

t.test('stricterMatch: relabel-job wins only over job, on the same job, in either order', async (t) => {
  const m = (scope: ApiRule['scope']): ApiMatch => ({ rule: { method: 'GET', path: `/${scope}/{id}`, role: 'operator', scope }, jobId: 'nb' });
  const scopes = (a: ApiRule['scope'], b: ApiRule['scope']) => [stricterMatch(m(a), m(b))?.rule.scope, stricterMatch(m(b), m(a))?.rule.scope];
  t.same(scopes('create-job', 'job'), [undefined, undefined]);
  t.same(scopes('list-jobs', 'job'), [undefined, undefined]);
  t.same(scopes('relabel-job', 'create-job'), [undefined, undefined]);
  t.same(scopes('relabel-job', 'list-jobs'), [undefined, undefined]);
  t.same(scopes('relabel-job', 'job'), ['relabel-job', 'relabel-job']);
});

t.test('the byte-for-byte reading is the first rule that matches so, not a later one', async (t) => {
  const p = compileApiRules([
    { method: 'GET', path: '/a/b', role: 'read', scope: 'any' },
    { method: 'GET', path: '/a/B', role: 'operator', scope: 'deny-scoped' },
    { method: 'GET', path: '/a/B', role: 'read', scope: 'any' },
  ]);
  t.same(p.match('GET', '/a/B'), { rule: p.rules[1] });
});
