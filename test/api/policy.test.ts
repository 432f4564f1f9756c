import t from 'tap';
import {
  DEFAULT_API_RULES,
  TOKEN_MANAGEMENT_RULE,
  UNKNOWN_PATH_RULE,
  apiRuleProblem,
  apiRulesSchema,
  buildApiPolicy,
  compileApiRules,
  stricterMatch,
  type ApiMatch,
  type ApiRule,
} from '../../src/api/policy.js';

const policy = buildApiPolicy();

// [method, path, expected scope (undefined: no rule, UNKNOWN_PATH_RULE), expected jobId]
const defaults: Array<[string, string, string | undefined, string | undefined]> = [
  ['GET', '/v1/token', 'unscoped-only', undefined],
  ['POST', '/v1/token', 'unscoped-only', undefined],
  ['PUT', '/v1/token/abc/renew', 'unscoped-only', undefined],
  ['DELETE', '/v1/token/abc', 'unscoped-only', undefined],
  ['POST', '/v1/job', 'create-job', undefined],
  ['GET', '/v1/job', 'list-jobs', undefined],
  ['DELETE', '/v1/job', undefined, undefined],
  ['HEAD', '/v1/job', undefined, undefined],
  ['GET', '/v1/job/nb1', 'job', 'nb1'],
  ['DELETE', '/v1/job/nb1', 'job', 'nb1'],
  ['PUT', '/v1/job/nb1/kill', 'job', 'nb1'],
  ['PUT', '/v1/job/nb1/start', 'job', 'nb1'],
  ['GET', '/v1/job/nb1/log', 'job', 'nb1'],
  ['GET', '/v1/job/nb1/exec/a/b/c', 'job', 'nb1'],
  ['PUT', '/v1/job/nb1/label', 'relabel-job', 'nb1'],
  ['GET', '/v1/job/nb1/label', 'job', 'nb1'],
  ['DELETE', '/v1/job/nb1/label', 'deny-scoped', 'nb1'],
  ['DELETE', '/v1/job/nb1/label/team', 'deny-scoped', 'nb1'],
  ['PUT', '/v1/job/nb1/label/team', 'deny-scoped', 'nb1'],
  ['POST', '/v1/job/nb1/label', 'deny-scoped', 'nb1'],
  ['GET', '/v1/tokens', undefined, undefined],
  ['GET', '/v1/jobs', undefined, undefined],
  ['GET', '/v2/job/nb1', undefined, undefined],
  ['GET', '/', undefined, undefined],
  ['GET', '/v1', undefined, undefined],
  // A percent-encoded literal is read both ways (decoded as Spring, raw as Express routes it):
  // the stricter decides. {id} is always captured decoded.
  ['GET', '/v1/%6Aob/nb1', undefined, undefined],
  ['GET', '/v1/job/%6Eb1', 'job', 'nb1'],
  ['PUT', '/v1/job/nb1/l%61bel', 'relabel-job', 'nb1'],
  ['GET', '/v1/t%6Fken', 'unscoped-only', undefined],
  ['GET', '/v1/job/caf%C3%A9', 'job', 'café'],
  // Methods are compared exactly.
  ['get', '/v1/job', undefined, undefined],
  // Paths that apiPathProblem refuses match nothing here either.
  ['GET', '/v1/job/%FF', undefined, undefined],
  ['GET', 'v1/job', undefined, undefined],
  ['GET', '', undefined, undefined],
];

for (const [method, path, scope, jobId] of defaults) {
  t.test(`default rules: ${method} ${path} -> ${scope ?? 'unknown'}`, async (t) => {
    const match = policy.match(method, path);
    t.equal(match?.rule.scope, scope);
    t.equal(match?.jobId, jobId);
    if (match && jobId === undefined) t.notOk('jobId' in match, 'no jobId key without {id}');
  });
}

// Spellings a lenient upstream reads as a literal of the table (Express and ASP.NET Core ignore
// case, Spring and Rails a ".json" suffix, Java's trim() whitespace...): decided as the literal,
// never by the generic rule behind it, or denied when the path as sent matches no rule.
// [method, path, expected scope (undefined: UNKNOWN_PATH_RULE), expected jobId]
const variants: Array<[string, string, string | undefined, string | undefined]> = [
  ['PUT', '/v1/job/nb/LABEL', 'relabel-job', 'nb'],
  ['PUT', '/v1/job/nb/Label', 'relabel-job', 'nb'],
  ['DELETE', '/v1/job/nb/Label/team', 'deny-scoped', 'nb'],
  ['DELETE', '/v1/job/nb/LABEL', 'deny-scoped', 'nb'],
  ['POST', '/v1/job/nb/lAbEl', 'deny-scoped', 'nb'],
  ['GET', '/v1/job/nb/LABEL/team', 'job', 'nb'],
  ['PUT', '/v1/job/nb/%4C%41%42%45%4C', 'relabel-job', 'nb'],
  ['PUT', '/v1/job/nb/l%61bel', 'relabel-job', 'nb'],
  ['PUT', '/v1/job/nb/label.json', 'relabel-job', 'nb'],
  ['PUT', '/v1/job/nb/LABEL.JSON', 'relabel-job', 'nb'],
  ['DELETE', '/v1/job/nb/label.json/team', 'deny-scoped', 'nb'],
  ['PUT', '/v1/job/nb/label%3Bx=1', 'relabel-job', 'nb'],
  ['POST', '/v1/job/nb/label:clear', 'deny-scoped', 'nb'],
  ['PUT', '/v1/job/nb/label%20', 'relabel-job', 'nb'],
  ['PUT', '/v1/job/nb/%09label%0A', 'relabel-job', 'nb'],
  ['PUT', '/v1/job/nb/label+', 'relabel-job', 'nb'],
  ['PUT', '/v1/job/nb/label%C2%A0', 'relabel-job', 'nb'],
  ['PUT', '/v1/job/nb/%EF%BD%8C%EF%BD%81%EF%BD%82%EF%BD%85%EF%BD%8C', 'relabel-job', 'nb'],
  ['GET', '/v1/to%E2%84%AAen', 'unscoped-only', undefined],
  ['GET', '/v1/TOKEN', 'unscoped-only', undefined],
  ['POST', '/v1/Token/abc/renew', 'unscoped-only', undefined],
  ['POST', '/v1/token.json', 'unscoped-only', undefined],
  // The literal spelled differently before {id}: no rule matches the path as sent, so denied.
  ['PUT', '/v1/JOB/nb/kill', undefined, undefined],
  ['POST', '/V1/job', undefined, undefined],
  ['GET', '/v1/job.json', undefined, undefined],
  // {id} is captured as sent (decoded): NB is not the job id nb, and decideApi answers 404.
  ['GET', '/v1/job/NB/log', 'job', 'NB'],
  ['PUT', '/v1/job/NB/label', 'relabel-job', 'NB'],
  // Not variants: other words that start like a literal, and segments under **.
  ['PUT', '/v1/job/nb/label-history', 'job', 'nb'],
  ['PUT', '/v1/job/nb/labels', 'job', 'nb'],
  ['PUT', '/v1/job/nb/KILL', 'job', 'nb'],
  ['GET', '/v1/jobs', undefined, undefined],
];

for (const [method, path, scope, jobId] of variants) {
  t.test(`literal variants: ${method} ${path} -> ${scope ?? 'unknown'}`, async (t) => {
    const match = policy.match(method, path);
    t.equal(match?.rule.scope ?? undefined, scope);
    t.equal(match?.jobId, jobId);
    if (match) t.equal(match.rule.role, 'operator');
  });
}

t.test('Unicode case folds and compatibility forms of a literal are read as it', async (t) => {
  const p = buildApiPolicy([
    { method: 'POST', path: '/v1/dataset/{id}/snapshot', role: 'operator', scope: 'deny-scoped' },
    { method: 'GET', path: '/v1/dataset/{id}/**', role: 'operator', scope: 'job' },
  ]);
  for (const path of [
    '/v1/dataset/d1/%C5%BFnapshot', // ſnapshot (U+017F)
    '/v1/dataset/d1/SNAPSHOT',
    '/v1/dataset/d1/snapshot.xml',
    '/v1/dataset/d1/%EF%BC%B3napshot', // fullwidth Ｓ
  ]) {
    t.equal(p.match('POST', path)?.rule.scope, 'deny-scoped', path);
  }
  const kelvin = buildApiPolicy([{ method: '*', path: '/v1/kill/{id}', role: 'operator', scope: 'deny-scoped' }]);
  t.equal(kelvin.match('POST', '/v1/%E2%84%AAill/nb')?.rule.scope, 'deny-scoped', 'K KELVIN SIGN');
  t.equal(kelvin.match('POST', '/v1/K%C4%B1ll/nb')?.rule.scope, 'deny-scoped', 'ı dotless i');
  t.equal(kelvin.match('POST', '/v1/K%C4%B0LL/nb')?.rule.scope, 'deny-scoped', 'İ dotted capital I');
});

t.test('a variant never opens more than the path as sent: the stricter reading decides', async (t) => {
  const p = compileApiRules([
    { method: 'GET', path: '/v1/public/**', role: 'read', scope: 'any' },
    { method: 'GET', path: '/v1/{id}/**', role: 'operator', scope: 'job' },
  ]);
  t.equal(p.match('GET', '/v1/public/x')?.rule.role, 'read');
  const variant = p.match('GET', '/v1/PUBLIC/x');
  t.equal(variant?.rule.role, 'operator', 'not opened to read tokens by a case variant');
  t.equal(variant?.rule.scope, 'job', 'and checked as the job a strict upstream would read');
  t.equal(variant?.jobId, 'PUBLIC');
  t.equal(p.match('GET', '/v2/PUBLIC/x'), undefined);
});

t.test('HEAD is decided as strictly as GET, which frameworks run for it', async (t) => {
  const p = buildApiPolicy([{ method: 'GET', path: '/v1/job/{id}/secrets', role: 'operator', scope: 'unscoped-only' }]);
  t.equal(p.match('GET', '/v1/job/nb/secrets')?.rule.scope, 'unscoped-only');
  t.equal(p.match('HEAD', '/v1/job/nb/secrets')?.rule.scope, 'unscoped-only', 'not the generic job rule behind it');
  t.equal(p.match('HEAD', '/v1/job/nb/log')?.rule.scope, 'job');
  t.equal(p.match('HEAD', '/v1/job'), undefined, 'no HEAD rule: unknown, whatever GET says');
});

t.test('stricterMatch: a decision both readings allow', async (t) => {
  const rule = (scope: ApiRule['scope'], role: ApiRule['role'] = 'operator'): ApiRule => ({ method: '*', path: `/${scope}/{id}`, role, scope });
  const m = (scope: ApiRule['scope'], jobId?: string, role?: ApiRule['role']): ApiMatch =>
    jobId === undefined ? { rule: rule(scope, role) } : { rule: rule(scope, role), jobId };
  const scopeOf = (a: ApiMatch | undefined, b: ApiMatch | undefined) => [stricterMatch(a, b)?.rule.scope, stricterMatch(b, a)?.rule.scope];
  t.same(scopeOf(m('relabel-job', 'nb'), m('job', 'nb')), ['relabel-job', 'relabel-job']);
  t.same(scopeOf(m('job', 'nb'), m('job', 'nb')), ['job', 'job']);
  t.same(scopeOf(m('job', 'nb'), m('job', 'other')), [undefined, undefined], 'two different jobs: unknown (deny-scoped)');
  t.same(scopeOf(m('relabel-job', 'nb'), m('job', 'other')), [undefined, undefined]);
  t.same(scopeOf(m('any'), m('job', 'nb')), ['job', 'job']);
  t.same(scopeOf(m('any'), m('list-jobs')), ['list-jobs', 'list-jobs']);
  t.same(scopeOf(m('create-job'), m('list-jobs')), [undefined, undefined]);
  t.same(scopeOf(m('create-job'), m('job', 'nb')), [undefined, undefined]);
  t.same(scopeOf(m('unscoped-only'), m('deny-scoped')), ['unscoped-only', 'unscoped-only']);
  t.same(scopeOf(m('deny-scoped', 'nb'), m('job', 'nb')), ['deny-scoped', 'deny-scoped']);
  t.same(scopeOf(m('any'), undefined), [undefined, undefined], 'unknown routes deny scoped tokens');
  t.same(scopeOf(m('unscoped-only'), undefined), ['unscoped-only', 'unscoped-only']);
  t.equal(stricterMatch(undefined, undefined), undefined);
  t.equal(stricterMatch(m('job', 'nb', 'read'), m('job', 'nb', 'operator'))?.rule.role, 'operator');
  t.equal(stricterMatch(m('job', 'nb', 'read'), m('any', undefined, 'read'))?.rule.role, 'read');
  t.equal(stricterMatch(m('job', 'nb', 'operator'), m('any', undefined, 'read'))?.jobId, 'nb');
  const same = m('job', 'nb');
  t.equal(stricterMatch(same, same), same);
});

t.test('matchAnyMethod: the strictest rule over every method', async (t) => {
  t.same(policy.matchAnyMethod('/v1/job/nb/kill'), { rule: DEFAULT_API_RULES[6], jobId: 'nb' }, 'every method is the generic job rule');
  t.equal(policy.matchAnyMethod('/v1/job/nb/label')?.rule.scope, 'deny-scoped', 'PUT relabel, others denied: denied');
  t.equal(policy.matchAnyMethod('/v1/job/nb/label/team')?.rule.scope, 'deny-scoped');
  t.equal(policy.matchAnyMethod('/v1/job'), undefined, 'create, list, and no rule for DELETE: unknown');
  t.equal(policy.matchAnyMethod('/v1/token')?.rule.scope, 'unscoped-only');
  t.equal(policy.matchAnyMethod('/v1/%FF'), undefined);
  const open = compileApiRules([{ method: '*', path: '/**', role: 'read', scope: 'any' }]);
  t.equal(open.matchAnyMethod('/x')?.rule.role, 'read');
  const getOnly = compileApiRules([{ method: 'GET', path: '/x', role: 'read', scope: 'any' }]);
  t.equal(getOnly.matchAnyMethod('/x'), undefined, 'methods no rule names match nothing');
});

t.test('the defaults: token management first, then the job routes', async (t) => {
  t.equal(DEFAULT_API_RULES[0], TOKEN_MANAGEMENT_RULE);
  t.ok(DEFAULT_API_RULES.every((rule) => rule.role === 'operator'));
  t.same(UNKNOWN_PATH_RULE, { method: '*', path: '/**', role: 'operator', scope: 'deny-scoped' });
  t.same(buildApiPolicy().rules, DEFAULT_API_RULES, 'buildApiPolicy() with no configured rules is the defaults');
  t.ok(Object.isFrozen(DEFAULT_API_RULES) && Object.isFrozen(DEFAULT_API_RULES[1]));
});

t.test('patterns: literals, {id}, *, trailing **', async (t) => {
  const p = compileApiRules([
    { method: '*', path: '/', role: 'read', scope: 'any' },
    { method: 'get', path: '/a/*/c', role: 'read', scope: 'any' },
    { method: 'POST', path: '/a/{id}', role: 'operator', scope: 'job' },
    { method: '*', path: '/b/**', role: 'operator', scope: 'deny-scoped' },
    { method: '*', path: "/x-y_z.~!$&'()+,=:@", role: 'read', scope: 'any' },
  ]);
  t.equal(p.match('GET', '/')?.rule.path, '/');
  t.equal(p.match('GET', '/a/b/c')?.rule.path, '/a/*/c', 'rule method upper-cased at compile time');
  t.equal(p.rules[1]?.method, 'GET');
  t.equal(p.match('PUT', '/a/b/c'), undefined, 'method must match');
  t.equal(p.match('GET', '/a/b/c/d'), undefined, 'no trailing ** -> exact length');
  t.equal(p.match('GET', '/a/b'), undefined);
  t.equal(p.match('GET', '/a//c'), undefined, '* does not match an empty segment');
  t.same(p.match('POST', '/a/j1'), { rule: p.rules[2], jobId: 'j1' });
  t.equal(p.match('POST', '/a/'), undefined, '{id} does not match an empty segment');
  t.equal(p.match('GET', '/b')?.rule.path, '/b/**', '** matches nothing');
  t.equal(p.match('GET', '/b/c/d/e')?.rule.path, '/b/**');
  t.equal(p.match('GET', '/bb'), undefined);
  t.equal(p.match('GET', "/x-y_z.~!$&'()+,=:@")?.rule.scope, 'any');
  t.equal(p.match('GET', '/x-y_z.~!$&%27()+,=:@'), undefined, 'an encoded spelling does not open a rule that the path as sent does not match');
  const all = compileApiRules([{ method: '*', path: '/**', role: 'read', scope: 'any' }]);
  t.ok(all.match('DELETE', '/'));
  t.ok(all.match('GET', '/anything/at/all'));
  t.equal(compileApiRules([]).match('GET', '/v1/job'), undefined);
});

t.test('first match wins; configured rules come before the defaults', async (t) => {
  const tighter: ApiRule[] = [
    { method: 'DELETE', path: '/v1/job/{id}', role: 'operator', scope: 'unscoped-only' },
    { method: 'GET', path: '/v1/job/{id}/log', role: 'read', scope: 'job' },
    { method: '*', path: '/v1/dataset/**', role: 'operator', scope: 'any' },
  ];
  const p = buildApiPolicy(tighter);
  t.equal(p.match('DELETE', '/v1/job/nb1')?.rule.scope, 'unscoped-only', 'a default tightened');
  t.equal(p.match('GET', '/v1/job/nb1')?.rule.scope, 'job', 'the default still applies to other methods');
  t.equal(p.match('GET', '/v1/job/nb1/log')?.rule.role, 'read', 'a path opened to read tokens');
  t.equal(p.match('GET', '/v1/dataset/d1')?.rule.scope, 'any', 'a path added');
  t.equal(p.rules.length, tighter.length + DEFAULT_API_RULES.length);

  const reversed = compileApiRules([
    { method: '*', path: '/v1/job/{id}/**', role: 'operator', scope: 'job' },
    { method: 'PUT', path: '/v1/job/{id}/label', role: 'operator', scope: 'relabel-job' },
  ]);
  t.equal(reversed.match('PUT', '/v1/job/nb1/label')?.rule.scope, 'job', 'order matters: the first rule shadows the second');
});

t.test('token management cannot be opened by configuration', async (t) => {
  const p = buildApiPolicy([
    { method: '*', path: '/**', role: 'read', scope: 'any' },
    { method: 'POST', path: '/v1/token', role: 'read', scope: 'any' },
  ]);
  t.same(p.match('POST', '/v1/token')?.rule, TOKEN_MANAGEMENT_RULE);
  t.same(p.match('PUT', '/v1/token/abc/renew')?.rule, TOKEN_MANAGEMENT_RULE);
  t.equal(p.rules.length, 2 + DEFAULT_API_RULES.length, 'the pinned rule is not repeated');
  t.equal(p.match('GET', '/v1/job/nb1')?.rule.scope, 'any', 'everything else follows the configured catch-all');
});

// [rule, expected error substring]
const bad: Array<[Record<string, unknown>, string]> = [
  [{ method: '', path: '/a', role: 'read', scope: 'any' }, 'non-empty string'],
  [{ method: 7, path: '/a', role: 'read', scope: 'any' }, 'non-empty string'],
  [{ method: 'G ET', path: '/a', role: 'read', scope: 'any' }, 'is not an HTTP method'],
  [{ method: 'GET', path: 'a/b', role: 'read', scope: 'any' }, 'must start with "/"'],
  [{ method: 'GET', path: 42, role: 'read', scope: 'any' }, 'must start with "/"'],
  [{ method: 'GET', path: '/a//b', role: 'read', scope: 'any' }, 'empty segment'],
  [{ method: 'GET', path: '/a/', role: 'read', scope: 'any' }, 'empty segment'],
  [{ method: 'GET', path: '/a/../b', role: 'read', scope: 'any' }, 'a ".." segment'],
  [{ method: 'GET', path: '/a/./b', role: 'read', scope: 'any' }, 'a "." segment'],
  [{ method: 'GET', path: '/a/**/b', role: 'read', scope: 'any' }, 'only allowed as the last segment'],
  [{ method: 'GET', path: '/a/{name}', role: 'read', scope: 'any' }, '"{id}" is the only placeholder'],
  [{ method: 'GET', path: '/a/x{id}', role: 'read', scope: 'any' }, '"{id}" is the only placeholder'],
  [{ method: 'GET', path: '/a/{id}/{id}', role: 'read', scope: 'job' }, 'only once'],
  [{ method: 'GET', path: '/a/b*', role: 'read', scope: 'any' }, 'must be whole segments'],
  [{ method: 'GET', path: '/a/***', role: 'read', scope: 'any' }, 'must be whole segments'],
  [{ method: 'GET', path: '/a/%2e', role: 'read', scope: 'any' }, '"%" is not allowed'],
  [{ method: 'GET', path: '/a;b', role: 'read', scope: 'any' }, '";" is not allowed'],
  [{ method: 'GET', path: '/a?b', role: 'read', scope: 'any' }, '"?" is not allowed'],
  [{ method: 'GET', path: '/a b', role: 'read', scope: 'any' }, '" " is not allowed'],
  [{ method: 'GET', path: '/a', role: 'admin', scope: 'any' }, 'role must be one of: read, operator'],
  [{ method: 'GET', path: '/a', role: 5, scope: 'any' }, 'role must be one of'],
  [{ method: 'GET', path: '/a', role: 'read', scope: 'all' }, 'scope must be one of: any, unscoped-only, job'],
  [{ method: 'GET', path: '/v1/job', role: 'operator', scope: 'job' }, 'needs a "{id}" segment'],
  [{ method: 'PUT', path: '/v1/job/*/label', role: 'operator', scope: 'relabel-job' }, 'needs a "{id}" segment'],
];

for (const [rule, expected] of bad) {
  t.test(`compile error: ${JSON.stringify(rule)}`, async (t) => {
    const good: ApiRule = { method: 'GET', path: '/ok', role: 'read', scope: 'any' };
    t.throws(() => compileApiRules([good, rule as unknown as ApiRule]), {
      message: new RegExp(
        `^API rule 2 \\(${String(rule.method)} ${String(rule.path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): .*${expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
      ),
    });
    t.throws(() => buildApiPolicy([rule as unknown as ApiRule]), { message: /^API rule 1 / }, 'configured rules are numbered from 1');
    t.match(apiRuleProblem(rule as unknown as ApiRule), expected);
  });
}

t.test('apiRuleProblem accepts good rules', async (t) => {
  for (const rule of DEFAULT_API_RULES) t.equal(apiRuleProblem(rule), undefined, `${rule.method} ${rule.path}`);
});

t.test('apiRulesSchema: the config-file form', async (t) => {
  const rules = [
    { method: 'get', path: '/v1/dataset/{id}', role: 'operator', scope: 'job' },
    { method: '*', path: '/v1/notebook/**', role: 'operator', scope: 'deny-scoped' },
  ];
  const parsed = apiRulesSchema.parse(rules);
  t.same(parsed, rules);
  t.equal(buildApiPolicy(parsed).match('GET', '/v1/dataset/d1')?.jobId, 'd1');

  const issues = (input: unknown) => {
    const result = apiRulesSchema.safeParse(input);
    t.notOk(result.success);
    return result.error?.issues.map((issue) => ({ path: issue.path, message: issue.message })) ?? [];
  };
  t.match(issues({}), [{ path: [] }], 'not an array');
  t.match(issues([{ method: 'GET', path: '/a', role: 'root', scope: 'any' }]), [{ path: [0, 'role'] }]);
  t.match(issues([{ method: 'GET', path: '/a', role: 'read', scope: 'nope' }]), [{ path: [0, 'scope'] }]);
  t.match(issues([{ method: 'GET', path: '/a', role: 'read' }]), [{ path: [0, 'scope'] }]);
  t.match(issues([{ method: 'GET', path: '/a', role: 'read', scope: 'any', extra: 1 }]), [{ path: [0] }], 'unknown keys refused');
  t.match(issues([{ method: '', path: '/a', role: 'read', scope: 'any' }]), [{ path: [0, 'method'] }]);
  t.match(
    issues([
      { method: 'GET', path: '/ok', role: 'read', scope: 'any' },
      { method: 'GET', path: '/a/{name}', role: 'read', scope: 'any' },
    ]),
    [{ path: [1], message: /"\{id\}" is the only placeholder/ }],
    'pattern problems are reported at the rule',
  );
});
