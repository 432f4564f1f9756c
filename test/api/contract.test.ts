/**
 * The contract, request by request, through the integration recipe (`run` below):
 * path check, route match, decision, job lookup, query or body rewrite.
 */
import t from 'tap';
import {
  apiAnswer,
  apiPathProblem,
  badPathRefusal,
  buildApiPolicy,
  decideApi,
  decideApiForJob,
  inspectApiBody,
  joinRequestTarget,
  splitRequestTarget,
  type ApiRefusal,
  type CompiledApiPolicy,
} from '../../src/api/index.js';
import type { Labels } from '../../src/selector/index.js';
import type { TokenRecord } from '../../src/tokens/record.js';
import { labels, tokenRecord } from '../helpers/fixtures.js';

const token = tokenRecord;

/** jobgate's job registry, as the caller would consult it. */
const JOBS: ReadonlyMap<string, { labels: Labels }> = new Map([
  ['nb1', { labels: labels({ team: 'a', env: 'dev', 'jobgate/id': 'nb1' }) }],
  ['nb2', { labels: labels({ team: 'b', env: 'prod', 'jobgate/id': 'nb2' }) }],
]);

interface Request {
  method: string;
  url: string;
  contentType?: string;
  body?: string;
  upgrade?: boolean;
}

/** What happened to a request: refused, or forwarded with this target and body. */
type Outcome = { refused: ApiRefusal; lookups: number } | { forwarded: { url: string; body: string | undefined }; lookups: number };

/** The integration recipe (see the report), with the registry as a Map and the body already read. */
function run(policy: CompiledApiPolicy, tokenRecord: TokenRecord, req: Request, maxBytes?: number): Outcome {
  let lookups = 0;
  const target = splitRequestTarget(req.url);
  const problem = apiPathProblem(target.path);
  if (problem !== undefined) return { refused: badPathRefusal(problem), lookups };
  const match = policy.match(req.method, target.path);
  let decision = decideApi(tokenRecord, match, { rawQuery: target.query, upgrade: req.upgrade === true });
  if (decision.kind === 'needs-job') {
    lookups++;
    decision = decideApiForJob(tokenRecord, JOBS.get(decision.jobId), decision);
  }
  switch (decision.kind) {
    case 'deny':
      return { refused: decision, lookups };
    case 'forward':
      return { forwarded: { url: req.url, body: req.body }, lookups };
    case 'rewrite-query':
      return { forwarded: { url: joinRequestTarget(target.path, decision.query), body: req.body }, lookups };
    case 'inspect-body': {
      const result = inspectApiBody(decision.check, { 'content-type': req.contentType }, Buffer.from(req.body ?? ''), maxBytes);
      if (!result.ok) return { refused: result, lookups };
      return { forwarded: { url: req.url, body: result.body.toString() }, lookups };
    }
  }
}

const DEFAULT_POLICY = buildApiPolicy();

const read = token('read');
const operator = token('operator');
const scoped = token('operator', 'team=a');
const oneJob = token('operator', 'jobgate/id=nb1');
const notProd = token('operator', 'team=a,env!=prod');

const J = 'application/json';

// [name, token, request, expected outcome (partial), lookups]
const table: Array<[string, ReturnType<typeof token>, Request, Record<string, unknown>, number]> = [
  // Read tokens only reach job URLs.
  [
    'read token on the API',
    read,
    { method: 'GET', url: '/v1/job/nb1' },
    { refused: { status: 403, error: 'insufficient_scope', message: /Read tokens only reach job URLs/ } },
    0,
  ],
  // Unscoped operator tokens are forwarded without a registry lookup.
  ['unscoped operator, known job', operator, { method: 'GET', url: '/v1/job/nb1' }, { forwarded: { url: '/v1/job/nb1' } }, 0],
  ['unscoped operator, unknown job', operator, { method: 'PUT', url: '/v1/job/ghost/kill' }, { forwarded: { url: '/v1/job/ghost/kill' } }, 0],
  [
    'unscoped operator, create untouched',
    operator,
    { method: 'POST', url: '/v1/job', contentType: 'text/plain', body: 'anything' },
    { forwarded: { body: 'anything' } },
    0,
  ],
  ['unscoped operator, list untouched', operator, { method: 'GET', url: '/v1/job?page=1' }, { forwarded: { url: '/v1/job?page=1' } }, 0],
  ['unscoped operator, token management', operator, { method: 'POST', url: '/v1/token', body: '{}' }, { forwarded: { url: '/v1/token' } }, 0],
  // Path tricks: 400 before any rule, whatever the token.
  ['/v1/job/x/../y', operator, { method: 'GET', url: '/v1/job/x/../y' }, { refused: { status: 400, reason: 'bad_path' } }, 0],
  ['/v1/job/nb1/../../token', scoped, { method: 'POST', url: '/v1/job/nb1/../../token' }, { refused: { status: 400 } }, 0],
  ['/v1//job', scoped, { method: 'GET', url: '/v1//job' }, { refused: { status: 400 } }, 0],
  ['/v1/./job', scoped, { method: 'GET', url: '/v1/./job' }, { refused: { status: 400 } }, 0],
  ['/v1/job/%2e%2e', scoped, { method: 'GET', url: '/v1/job/%2e%2e' }, { refused: { status: 400 } }, 0],
  ['/v1/job/nb1%2F..%2F..%2Ftoken', scoped, { method: 'POST', url: '/v1/job/nb1%2F..%2F..%2Ftoken' }, { refused: { status: 400 } }, 0],
  ['/v1/job/nb1%5c..%5c..%5ctoken', scoped, { method: 'POST', url: '/v1/job/nb1%5c..%5c..%5ctoken' }, { refused: { status: 400 } }, 0],
  ['a read token with a bad path gets 400 too', read, { method: 'GET', url: '/v1/job/%2E' }, { refused: { status: 400 } }, 0],
  ['the query is not the path', scoped, { method: 'GET', url: '/v1/job/nb1/log?x=/../..' }, { forwarded: { url: '/v1/job/nb1/log?x=/../..' } }, 1],
  // Scoped operator tokens on job paths: looked up, matched.
  ['scoped, job in scope', scoped, { method: 'GET', url: '/v1/job/nb1' }, { forwarded: { url: '/v1/job/nb1' } }, 1],
  ['scoped, kill in scope', scoped, { method: 'PUT', url: '/v1/job/nb1/kill' }, { forwarded: {} }, 1],
  ['scoped, exec in scope', scoped, { method: 'POST', url: '/v1/job/nb1/exec', body: '{"cmd":"ls"}' }, { forwarded: { body: '{"cmd":"ls"}' } }, 1],
  ['scoped, job out of scope', scoped, { method: 'PUT', url: '/v1/job/nb2/kill' }, { refused: { status: 403, reason: 'scope_denied' } }, 1],
  ['scoped, unknown job', scoped, { method: 'GET', url: '/v1/job/ghost/log' }, { refused: { status: 404, reason: 'unknown_job' } }, 1],
  ['scoped to one job by id', oneJob, { method: 'GET', url: '/v1/job/nb1/log' }, { forwarded: {} }, 1],
  ['scoped to one job by id, another job', oneJob, { method: 'GET', url: '/v1/job/nb2/log' }, { refused: { status: 403 } }, 1],
  [
    'WebSocket log follow, in scope',
    scoped,
    { method: 'GET', url: '/v1/job/nb1/log?follow=true', upgrade: true },
    { forwarded: { url: '/v1/job/nb1/log?follow=true' } },
    1,
  ],
  ['WebSocket log follow, out of scope', scoped, { method: 'GET', url: '/v1/job/nb2/log?follow=true', upgrade: true }, { refused: { status: 403 } }, 1],
  // Create.
  [
    'scoped create: labels merged',
    scoped,
    { method: 'POST', url: '/v1/job', contentType: J, body: '{"image":"x","labels":{"env":"dev"}}' },
    { forwarded: { url: '/v1/job', body: '{"image":"x","labels":{"env":"dev","team":"a"}}' } },
    0,
  ],
  [
    'scoped create: labels created',
    scoped,
    { method: 'POST', url: '/v1/job', contentType: `${J}; charset=utf-8`, body: '{"image":"x"}' },
    { forwarded: { body: '{"image":"x","labels":{"team":"a"}}' } },
    0,
  ],
  [
    'scoped create: contradiction',
    scoped,
    { method: 'POST', url: '/v1/job', contentType: J, body: '{"labels":{"team":"b"}}' },
    { refused: { status: 403 } },
    0,
  ],
  [
    'scoped create: != unsatisfied',
    notProd,
    { method: 'POST', url: '/v1/job', contentType: J, body: '{"labels":{"env":"prod"}}' },
    { refused: { status: 403 } },
    0,
  ],
  [
    'scoped create: reserved label',
    scoped,
    { method: 'POST', url: '/v1/job', contentType: J, body: '{"labels":{"jobgate/id":"nb1"}}' },
    { refused: { status: 403, reason: 'reserved_label' } },
    0,
  ],
  ['scoped create: wrong content type', scoped, { method: 'POST', url: '/v1/job', contentType: 'text/plain', body: '{}' }, { refused: { status: 415 } }, 0],
  ['scoped create: invalid JSON', scoped, { method: 'POST', url: '/v1/job', contentType: J, body: '{' }, { refused: { status: 400 } }, 0],
  ['scoped create: labels not an object', scoped, { method: 'POST', url: '/v1/job', contentType: J, body: '{"labels":[]}' }, { refused: { status: 400 } }, 0],
  [
    'scoped create by job id',
    oneJob,
    { method: 'POST', url: '/v1/job', contentType: J, body: '{}' },
    { refused: { status: 403, reason: 'label_scope_denied' } },
    0,
  ],
  // List.
  [
    'scoped list, no client selector',
    scoped,
    { method: 'GET', url: '/v1/job?page=2&size=5' },
    { forwarded: { url: '/v1/job?page=2&size=5&labelSelector=team%3Da' } },
    0,
  ],
  ['scoped list, no query', scoped, { method: 'GET', url: '/v1/job' }, { forwarded: { url: '/v1/job?labelSelector=team%3Da' } }, 0],
  [
    'scoped list, client selector',
    scoped,
    { method: 'GET', url: '/v1/job?labelSelector=env%3Ddev&statusState=RUNNING' },
    { forwarded: { url: '/v1/job?labelSelector=team%3Da%2Cenv%3Ddev&statusState=RUNNING' } },
    0,
  ],
  [
    'scoped list, bad client selector',
    scoped,
    { method: 'GET', url: '/v1/job?labelSelector=env%20in%20(' },
    { refused: { status: 400, reason: 'bad_query' } },
    0,
  ],
  ['scoped list, two client selectors', scoped, { method: 'GET', url: '/v1/job?labelSelector=a&labelSelector=b' }, { refused: { status: 400 } }, 0],
  // Relabel.
  [
    'scoped relabel, stays in scope',
    scoped,
    { method: 'PUT', url: '/v1/job/nb1/label', contentType: J, body: '{"name":"env","value":"prod"}' },
    { forwarded: { body: '{"name":"env","value":"prod"}' } },
    1,
  ],
  [
    'scoped relabel, leaves scope',
    scoped,
    { method: 'PUT', url: '/v1/job/nb1/label', contentType: J, body: '{"name":"team","value":"b"}' },
    { refused: { status: 403, reason: 'label_scope_denied' } },
    1,
  ],
  [
    'scoped relabel, != broken',
    notProd,
    { method: 'PUT', url: '/v1/job/nb1/label', contentType: J, body: '{"name":"env","value":"prod"}' },
    { refused: { status: 403 } },
    1,
  ],
  [
    'scoped relabel, job out of scope',
    scoped,
    { method: 'PUT', url: '/v1/job/nb2/label', contentType: J, body: '{"name":"team","value":"a"}' },
    { refused: { status: 403, reason: 'scope_denied' } },
    1,
  ],
  [
    'scoped relabel, unknown job',
    scoped,
    { method: 'PUT', url: '/v1/job/ghost/label', contentType: J, body: '{"name":"env","value":"x"}' },
    { refused: { status: 404 } },
    1,
  ],
  [
    'scoped relabel, wrong content type',
    scoped,
    { method: 'PUT', url: '/v1/job/nb1/label', contentType: 'text/plain', body: '{}' },
    { refused: { status: 415 } },
    1,
  ],
  ['scoped label removal', scoped, { method: 'DELETE', url: '/v1/job/nb1/label/team' }, { refused: { status: 403, reason: 'scoped_route_denied' } }, 0],
  // Token management.
  [
    'scoped token creation',
    scoped,
    { method: 'POST', url: '/v1/token', contentType: J, body: '{"name":"x","role":"operator"}' },
    { refused: { status: 403, reason: 'unscoped_only' } },
    0,
  ],
  ['scoped token renewal', scoped, { method: 'PUT', url: '/v1/token/abc/renew' }, { refused: { status: 403 } }, 0],
  ['scoped token by an encoded path', scoped, { method: 'POST', url: '/v1/t%6Fken' }, { refused: { status: 403, reason: 'unscoped_only' } }, 0],
  // Unknown paths.
  ['scoped, unknown path', scoped, { method: 'GET', url: '/v2/anything' }, { refused: { status: 403, reason: 'scoped_route_denied' } }, 0],
  ['unscoped, unknown path', operator, { method: 'GET', url: '/v2/anything' }, { forwarded: {} }, 0],
];

for (const [name, tok, req, expected, lookups] of table) {
  t.test(name, async (t) => {
    const outcome = run(DEFAULT_POLICY, tok, req);
    t.match(outcome, expected);
    t.equal(outcome.lookups, lookups, 'registry lookups');
  });
}

t.test('the body limit is a parameter (413)', async (t) => {
  const req = { method: 'POST', url: '/v1/job', contentType: J, body: '{"image":"a-long-image-name"}' };
  t.match(run(DEFAULT_POLICY, scoped, req, 16), { refused: { status: 413, reason: 'body_too_large' } });
  t.match(run(DEFAULT_POLICY, scoped, req), { forwarded: {} });
  t.match(run(DEFAULT_POLICY, operator, req, 16), { forwarded: { body: req.body } }, 'unscoped bodies are not read');
});

t.test('a deployment tightens and adds paths', async (t) => {
  const policy = buildApiPolicy([
    { method: 'POST', path: '/v1/job/{id}/exec', role: 'operator', scope: 'unscoped-only' },
    { method: 'GET', path: '/v1/job/{id}/log', role: 'read', scope: 'job' },
    { method: '*', path: '/v1/registry/**', role: 'operator', scope: 'any' },
  ]);
  t.match(run(policy, scoped, { method: 'POST', url: '/v1/job/nb1/exec' }), { refused: { status: 403, reason: 'unscoped_only' } });
  t.match(run(policy, token('read', 'team=a'), { method: 'GET', url: '/v1/job/nb1/log' }), { forwarded: {}, lookups: 1 });
  t.match(run(policy, token('read', 'team=a'), { method: 'GET', url: '/v1/job/nb2/log' }), { refused: { status: 403 } });
  t.match(run(policy, read, { method: 'GET', url: '/v1/job/nb2/log' }), { forwarded: {}, lookups: 0 });
  t.match(run(policy, read, { method: 'GET', url: '/v1/job/nb2' }), { refused: { reason: 'role_denied' } });
  t.match(run(policy, scoped, { method: 'GET', url: '/v1/registry/images' }), { forwarded: {} });
});

t.test('apiAnswer: JSON body, no-store, challenge on insufficient_scope only', async (t) => {
  const denied = run(DEFAULT_POLICY, read, { method: 'GET', url: '/v1/job' });
  if (!('refused' in denied)) throw new Error('expected a refusal');
  const answer = apiAnswer(denied.refused);
  t.equal(answer.status, 403);
  t.equal(answer.headers['www-authenticate'], 'Bearer realm="jobgate", error="insufficient_scope", error_description="An operator token is required"');
  t.same(JSON.parse(answer.body.toString()), { error: 'insufficient_scope', message: denied.refused.message });
  t.equal(answer.headers['cache-control'], 'no-store');

  for (const [tok, req, description] of [
    [scoped, { method: 'GET', url: '/v1/job/nb2' }, "The token's label selector does not match this job"],
    [scoped, { method: 'POST', url: '/v1/token' }, 'An unscoped operator token is required'],
    [scoped, { method: 'GET', url: '/v9' }, 'An unscoped operator token is required'],
    [scoped, { method: 'POST', url: '/v1/job', contentType: J, body: '{"labels":{"team":"b"}}' }, "The labels would not match the token's label selector"],
  ] as const) {
    const outcome = run(DEFAULT_POLICY, tok, req);
    if (!('refused' in outcome)) throw new Error('expected a refusal');
    t.match(apiAnswer(outcome.refused).headers['www-authenticate'], `error_description="${description}"`, req.url);
  }

  const bad = apiAnswer(badPathRefusal('it has a ".." segment'));
  t.equal(bad.status, 400);
  t.equal(bad.headers['www-authenticate'], undefined);
  t.match(JSON.parse(bad.body.toString()), { error: 'bad_request', message: /refused: it has a "\.\." segment\. Send the normalized path/ });

  const unknownJob = run(DEFAULT_POLICY, scoped, { method: 'GET', url: '/v1/job/ghost' });
  if (!('refused' in unknownJob)) throw new Error('expected a refusal');
  t.equal(apiAnswer(unknownJob.refused).status, 404);
  t.equal(apiAnswer(unknownJob.refused).headers['www-authenticate'], undefined);

  const hand = apiAnswer({ status: 403, error: 'insufficient_scope', reason: 'bad_body', message: 'm' });
  t.match(hand.headers['www-authenticate'], 'error_description="Insufficient scope"', 'a fallback description');
});
