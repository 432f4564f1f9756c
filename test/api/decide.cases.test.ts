import t from 'tap';
import { decideApi, decideApiForJob } from '../../src/api/decide.js';
import type { ApiRule } from '../../src/api/policy.js';
import { labels, tokenRecord } from '../helpers/fixtures.js';

// Cases found by mutation testing (src/api/decide.ts): each refusal in full, as the answer and
// the access log show it.

const scoped = tokenRecord('operator', 'team=a');
const read = tokenRecord('read');
const rule = (scope: ApiRule['scope'], role: ApiRule['role'] = 'operator'): ApiRule => ({ method: '*', path: '/x/{id}', role, scope });
const ctx = { rawQuery: '' };
const upgrade = { rawQuery: '', upgrade: true };

t.test('every refusal of the first step, in full', async (t) => {
  t.same(decideApi(read, { rule: rule('any') }, ctx), {
    kind: 'deny',
    status: 403,
    error: 'insufficient_scope',
    reason: 'role_denied',
    message: 'Read tokens only reach job URLs. Use an operator token for the training API.',
  });
  t.same(decideApi(scoped, { rule: rule('unscoped-only') }, ctx), {
    kind: 'deny',
    status: 403,
    error: 'insufficient_scope',
    reason: 'unscoped_only',
    message:
      'Only unscoped operator tokens may use this API path (token management among others: a token with a label selector cannot mint or renew tokens). Use an unscoped operator token.',
  });
  t.same(decideApi(scoped, { rule: rule('deny-scoped') }, ctx), {
    kind: 'deny',
    status: 403,
    error: 'insufficient_scope',
    reason: 'scoped_route_denied',
    message:
      'Tokens with a label selector cannot use this API path, since jobgate cannot check it against the selector. Use an unscoped operator token, or ask an administrator to add an API rule for the path.',
  });
  t.same(decideApi(scoped, { rule: rule('job'), jobId: 'NB1' }, ctx), {
    kind: 'deny',
    status: 404,
    error: 'not_found',
    reason: 'unknown_job',
    message: 'No job with this id is registered. Check the job id in the URL.',
  });
  const noWebSocket = {
    kind: 'deny',
    status: 400,
    error: 'bad_request',
    reason: 'upgrade_not_allowed',
    message: 'This API path takes a JSON body that jobgate checks for tokens with a label selector, so it cannot be a WebSocket.',
  };
  t.same(decideApi(scoped, { rule: rule('create-job') }, upgrade), noWebSocket);
  t.same(decideApi(scoped, { rule: rule('relabel-job'), jobId: 'nb1' }, upgrade), noWebSocket);
  t.same(decideApi(scoped, { rule: rule('list-jobs') }, { rawQuery: 'labelSelector=a&labelSelector=b' }), {
    kind: 'deny',
    status: 400,
    error: 'bad_request',
    reason: 'bad_query',
    message: 'The query has more than one labelSelector parameter. Send one, with requirements joined by ",".',
  });
  t.ok(Object.isFrozen(decideApi(read, { rule: rule('any') }, ctx)));
});

t.test('read rules: a read token passes, whatever else the rule says, and so does an operator token', async (t) => {
  t.same(decideApi(read, { rule: rule('any', 'read') }, ctx), { kind: 'forward' });
  t.same(decideApi(tokenRecord('read', 'team=a'), { rule: rule('unscoped-only', 'read') }, ctx), decideApi(scoped, { rule: rule('unscoped-only') }, ctx));
  t.same(decideApi(tokenRecord('operator'), { rule: rule('any', 'read') }, ctx), { kind: 'forward' });
});

t.test('the first step: what a scoped token is asked for, in full', async (t) => {
  t.same(decideApi(scoped, { rule: rule('create-job') }, ctx), { kind: 'inspect-body', check: { op: 'create', selector: scoped.selector } });
  t.same(decideApi(scoped, { rule: rule('create-job') }, { rawQuery: '', upgrade: false }), {
    kind: 'inspect-body',
    check: { op: 'create', selector: scoped.selector },
  });
  t.same(
    decideApi(scoped, { rule: rule('job'), jobId: 'nb1' }, upgrade),
    { kind: 'needs-job', jobId: 'nb1', then: 'forward' },
    'a job route may be a WebSocket',
  );
  t.same(decideApi(scoped, { rule: rule('relabel-job'), jobId: 'nb1' }, { rawQuery: '', upgrade: false }), {
    kind: 'needs-job',
    jobId: 'nb1',
    then: 'check-relabel',
  });
  t.same(decideApi(scoped, { rule: rule('list-jobs') }, { rawQuery: 'a=1' }), { kind: 'rewrite-query', query: 'a=1&labelSelector=team%3Da' });
});

t.test('the second step, in full', async (t) => {
  t.same(decideApiForJob(scoped, { labels: labels({ team: 'b' }) }, { then: 'forward' }), {
    kind: 'deny',
    status: 403,
    error: 'insufficient_scope',
    reason: 'scope_denied',
    message: "The token's label selector does not match this job's labels. Use a token scoped to this job, or an unscoped one.",
  });
  t.same(decideApiForJob(scoped, undefined, { then: 'check-relabel' }), {
    kind: 'deny',
    status: 404,
    error: 'not_found',
    reason: 'unknown_job',
    message: 'No job with this id is registered. Check the job id in the URL.',
  });
});
