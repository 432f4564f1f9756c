/**
 * The access decisions against the rules as README and docs/api.md state them, over generated
 * roles, selectors, job labels, unsecureHttp, traffic kinds and API route rules. The oracles
 * below read the rules literally and match selectors with the reference model of
 * test/selector/model.ts, so they share no code with what they check.
 */
import fc from 'fast-check';
import t from 'tap';
import { decideApi, decideApiForJob, type ApiDecision, type ApiJobDecision } from '../../src/api/decide.js';
import { SCOPE_RULES, type ApiMatch, type ScopeRule } from '../../src/api/policy.js';
import { decide, type Authentication, type TrafficKind } from '../../src/auth/decide.js';
import { jobIdProblem } from '../../src/jobs/record.js';
import { matches, parseSelector } from '../../src/selector/index.js';
import type { Role } from '../../src/tokens/record.js';
import { tokenRecord } from '../helpers/fixtures.js';
import { check } from '../helpers/property.js';
import { modelLabels, modelMatches, modelRequirement, spelled, type ModelLabels, type ModelRequirement } from '../selector/model.js';

/** Short selectors, so that generated labels satisfy them often enough. */
const selector = spelled(fc.array(modelRequirement, { maxLength: 2 }));
const who = fc.constantFrom<'anonymous' | Role>('anonymous', 'read', 'operator');
const traffic = fc.constantFrom<TrafficKind>('job', 'api');
const asMap = (labels: ModelLabels): Map<string, string> => new Map(Object.entries(labels));

type Expected = 'allowed' | 'allowed_unsecure' | 'missing_token' | 'role_denied' | 'scope_denied';

/**
 * The rule for job and API traffic (README "Who may reach what"): an unsecureHttp job's URLs are
 * open to everyone; otherwise a token is needed; read tokens reach job traffic only, operator
 * tokens the API too; the token's selector must match the job's labels.
 */
function ruleFor(
  identity: 'anonymous' | Role,
  requirements: readonly ModelRequirement[],
  labels: ModelLabels,
  unsecureHttp: boolean,
  kind: TrafficKind,
): Expected {
  if (kind === 'job' && unsecureHttp) return 'allowed_unsecure';
  if (identity === 'anonymous') return 'missing_token';
  if (kind === 'api' && identity !== 'operator') return 'role_denied';
  return modelMatches(requirements, labels) ? 'allowed' : 'scope_denied';
}

/** How often each outcome must be reached to mean something: 20 times, fewer when `npm run fuzz` is told to run very few cases. */
function enough(seen: ReadonlyMap<string, number>): number {
  let total = 0;
  for (const count of seen.values()) total += count;
  return Math.min(20, Math.floor(total / 100));
}

t.test('decide allows exactly what the rule allows', async (t) => {
  const seen = new Map<Expected, number>();
  await check(
    fc.property(who, selector, modelLabels, fc.boolean(), traffic, (identity, { requirements, text }, labels, unsecureHttp, kind) => {
      const auth: Authentication = identity === 'anonymous' ? { kind: 'anonymous' } : { kind: 'token', token: tokenRecord(identity, text) };
      const decision = decide(auth, { labels: asMap(labels), unsecureHttp }, kind);
      const expected = ruleFor(identity, requirements, labels, unsecureHttp, kind);
      seen.set(expected, (seen.get(expected) ?? 0) + 1);
      const status = expected === 'missing_token' ? 401 : 403;
      const right = expected.startsWith('allowed')
        ? decision.allow && decision.reason === expected
        : !decision.allow && decision.reason === expected && decision.status === status;
      if (!right) {
        throw new Error(
          `${identity} with ${JSON.stringify(text)} on ${JSON.stringify(labels)} (unsecureHttp ${unsecureHttp}, ${kind}): got ${JSON.stringify(decision)}, the rule says ${expected}`,
        );
      }
    }),
    2000,
  );
  // Every outcome was reached often enough to mean something.
  for (const outcome of ['allowed', 'allowed_unsecure', 'missing_token', 'role_denied', 'scope_denied'] as const) {
    t.ok((seen.get(outcome) ?? 0) >= enough(seen), `${outcome} reached ${seen.get(outcome) ?? 0} times`);
  }
});

/** What the API table (docs/api.md) says for a request, after the job lookup when there is one. */
type ApiExpected =
  | { readonly kind: 'forward' }
  | { readonly kind: 'deny'; readonly status: 400 | 403 | 404 }
  | { readonly kind: 'inspect-body'; readonly op: 'create' | 'relabel' }
  | { readonly kind: 'scoped-list' };

interface ApiCase {
  readonly role: Role;
  readonly requirements: readonly ModelRequirement[];
  /** The matched rule, or undefined for a path no rule matches. */
  readonly rule: { readonly role: Role; readonly scope: ScopeRule } | undefined;
  readonly jobId: string;
  readonly job: ModelLabels | undefined;
  readonly upgrade: boolean;
}

/**
 * The API rule, read from docs/api.md: an unmatched path is an operator rule that scoped tokens
 * cannot use; a read token only reaches rules opened to read; an unscoped token goes through;
 * a scoped one follows the rule's scope (job routes need a registered job its selector matches).
 */
function apiRuleFor(c: ApiCase): ApiExpected {
  const rule = c.rule ?? { role: 'operator', scope: 'deny-scoped' };
  if (rule.role !== 'read' && c.role !== 'operator') return { kind: 'deny', status: 403 };
  if (c.requirements.length === 0) return { kind: 'forward' };
  switch (rule.scope) {
    case 'any':
      return { kind: 'forward' };
    case 'unscoped-only':
    case 'deny-scoped':
      return { kind: 'deny', status: 403 };
    case 'list-jobs':
      return { kind: 'scoped-list' };
    case 'create-job':
      return c.upgrade ? { kind: 'deny', status: 400 } : { kind: 'inspect-body', op: 'create' };
    case 'job':
    case 'relabel-job':
      if (jobIdProblem(c.jobId) !== undefined) return { kind: 'deny', status: 404 };
      if (rule.scope === 'relabel-job' && c.upgrade) return { kind: 'deny', status: 400 };
      if (c.job === undefined) return { kind: 'deny', status: 404 };
      if (!modelMatches(c.requirements, c.job)) return { kind: 'deny', status: 403 };
      return rule.scope === 'job' ? { kind: 'forward' } : { kind: 'inspect-body', op: 'relabel' };
  }
}

t.test('the API decision allows exactly what the API table allows', async (t) => {
  const apiCase = fc.record({
    role: fc.constantFrom<Role>('read', 'operator'),
    selector,
    rule: fc.option(fc.record({ role: fc.constantFrom<Role>('read', 'operator'), scope: fc.constantFrom(...SCOPE_RULES) }), { nil: undefined }),
    jobId: fc.constantFrom('nb1', 'job-7', 'a.b', '', 'NB 1', 'a/b', '..'),
    job: fc.option(modelLabels, { nil: undefined }),
    upgrade: fc.boolean(),
    rawQuery: fc.constantFrom('', 'limit=5', 'labelSelector=team%3Da', 'labelSelector=env+in+(a%2Cb)', 'labelSelector=!x,limit=1', 'labelSelector=(('),
    probes: fc.array(modelLabels, { minLength: 1, maxLength: 6 }),
  });
  const seen = new Map<string, number>();
  await check(
    fc.property(apiCase, ({ role, selector: { requirements, text }, rule, jobId, job, upgrade, rawQuery, probes }) => {
      const token = tokenRecord(role, text);
      const c: ApiCase = { role, requirements, rule, jobId, job, upgrade };
      const match: ApiMatch | undefined =
        rule === undefined
          ? undefined
          : rule.scope === 'job' || rule.scope === 'relabel-job'
            ? { rule: { method: '*', path: '/v1/job/{id}', ...rule }, jobId }
            : { rule: { method: '*', path: '/v1/x', ...rule } };
      let decision: ApiDecision | ApiJobDecision = decideApi(token, match, { rawQuery, upgrade });
      if (decision.kind === 'needs-job') {
        decision = decideApiForJob(token, job === undefined ? undefined : { labels: asMap(job) }, decision);
      }
      const expected = apiRuleFor(c);
      seen.set(expected.kind, (seen.get(expected.kind) ?? 0) + 1);
      const describe = (): string =>
        `${role} ${JSON.stringify(text)}, rule ${JSON.stringify(rule)}, job ${jobId} ${JSON.stringify(job)}, upgrade ${upgrade}: got ${JSON.stringify(decision)}, the table says ${JSON.stringify(expected)}`;
      switch (expected.kind) {
        case 'forward':
          if (decision.kind !== 'forward') throw new Error(describe());
          return;
        case 'deny':
          if (decision.kind !== 'deny' || decision.status !== expected.status) throw new Error(describe());
          return;
        case 'inspect-body':
          if (decision.kind !== 'inspect-body' || decision.check.op !== expected.op || decision.check.selector !== token.selector) throw new Error(describe());
          return;
        case 'scoped-list': {
          // Refused (400), or rewritten so that the upstream lists only jobs the token's selector matches.
          if (decision.kind === 'deny' && decision.status === 400) return;
          if (decision.kind !== 'rewrite-query') throw new Error(describe());
          const sent = new URLSearchParams(decision.query).getAll('labelSelector');
          if (sent.length !== 1) throw new Error(`${describe()}: ${sent.length} labelSelector parameters`);
          const listed = parseSelector(sent[0]!);
          for (const labels of job === undefined ? probes : [job, ...probes]) {
            if (matches(listed, asMap(labels)) && !modelMatches(requirements, labels)) {
              throw new Error(`${describe()}: the rewritten query lists ${JSON.stringify(labels)}, outside the token's selector`);
            }
          }
          return;
        }
      }
    }),
    2000,
  );
  for (const kind of ['forward', 'deny', 'inspect-body', 'scoped-list'])
    t.ok((seen.get(kind) ?? 0) >= enough(seen), `${kind} reached ${seen.get(kind) ?? 0} times`);
});
