/**
 * The contract, request by request, on a running jobgate in front of a real API upstream:
 * path check, route match, decision, job lookup, query or body rewrite. What the test reads is what
 * a user or an operator could: the answer, the access line's decision, what reached the upstream,
 * and jobgate's own count of job lookups (its jobs cache's hits and misses on /metrics).
 */
import t from 'tap';
import WebSocket from 'ws';
import { apiAnswer } from '../../src/api/index.js';
import { bearer, request } from '../helpers/http.js';
import { metricSample, startHarness, waitFor, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

const API_HOST = 'api.test';

interface Request {
  method: string;
  url: string;
  contentType?: string;
  body?: string;
  upgrade?: boolean;
}

/** What a refusal told: status, JSON error and message, and the access line's decision. */
interface Refused {
  status: number;
  error: unknown;
  message: unknown;
  reason: unknown;
}

/** What happened to a request: refused, or forwarded with this target and body; and the job lookups it cost. */
type Outcome = { refused: Refused; lookups: number } | { forwarded: { url: string; body: string }; lookups: number };

/** The tokens every deployment below is seeded with: name -> [role, label selector]. */
const TOKENS = {
  read: ['read', ''],
  operator: ['operator', ''],
  scoped: ['operator', 'team=a'],
  oneJob: ['operator', 'jobgate/id=nb1'],
  notProd: ['operator', 'team=a,env!=prod'],
  scopedRead: ['read', 'team=a'],
} as const;
type Who = keyof typeof TOKENS;

/** A jobgate with the training API in front of its own upstream, its jobs and tokens. */
interface Deployment {
  readonly h: Harness;
  readonly api: Upstream;
  readonly tokens: Record<Who, string>;
}

const deployments: Deployment[] = [];

async function deploy(env: Record<string, string> = {}): Promise<Deployment> {
  const api = await Upstream.start('api');
  const h = await startHarness({ JOBGATE_API_HOST: API_HOST, JOBGATE_API_UPSTREAM: api.url, ...env }, deployments[0]?.h.redisServer);
  const deployment: Deployment = { h, api, tokens: {} as Record<Who, string> };
  deployments.push(deployment);
  await h.jobs.put({ id: 'nb1', upstream: 'http://127.0.0.1:1', labels: { team: 'a', env: 'dev' } });
  await h.jobs.put({ id: 'nb2', upstream: 'http://127.0.0.1:1', labels: { team: 'b', env: 'prod' } });
  for (const [who, [role, labelSelector]] of Object.entries(TOKENS))
    deployment.tokens[who as Who] = (await h.tokens.create({ name: who, role, labelSelector })).value;
  return deployment;
}

t.teardown(async () => {
  // The first one owns the Redis server the others share: it goes last.
  for (const { h, api } of deployments.reverse()) {
    await h.close();
    await api.close();
  }
});

/** Job lookups so far: every one is a hit or a miss of jobgate's jobs cache. */
async function jobLookups(h: Harness): Promise<number> {
  const metrics = (await request(h.adminUrl, { path: '/metrics' })).body;
  return (metricSample(metrics, 'jobgate_cache_hits_total', 'cache="jobs"') ?? 0) + (metricSample(metrics, 'jobgate_cache_misses_total', 'cache="jobs"') ?? 0);
}

/** A WebSocket handshake through jobgate: opened (then closed), or the status and body of its refusal. */
function handshake(d: Deployment, who: Who, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${d.h.jobgate.proxyAddress.port}${url}`, {
      headers: { host: API_HOST, ...bearer(d.tokens[who]) },
      handshakeTimeout: 30_000,
    });
    socket.on('open', () => {
      socket.close();
      socket.on('close', () => resolve({ status: 101, body: '' }));
    });
    socket.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    socket.on('error', reject);
  });
}

/** Sends one request through jobgate as `who` and reports what became of it. */
async function run(d: Deployment, who: Who, req: Request): Promise<Outcome> {
  const { h, api } = d;
  const lookupsBefore = await jobLookups(h);
  const linesBefore = h.log.access.length;
  const receivedBefore = api.received.length;
  let status: number;
  let body: string;
  if (req.upgrade) {
    ({ status, body } = await handshake(d, who, req.url));
  } else {
    const headers: Record<string, string> = { ...bearer(d.tokens[who]) };
    if (req.contentType !== undefined) headers['content-type'] = req.contentType;
    if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
    ({ status, body } = await request(h.url, { host: API_HOST, method: req.method, path: req.url, headers, body: req.body }));
  }
  const logged = await waitFor(() => h.log.access.length > linesBefore).then(
    () => true,
    () => false,
  );
  if (!logged) throw new Error(`no access line for ${req.method} ${req.url} (answered ${status})`);
  const lookups = (await jobLookups(h)) - lookupsBefore;
  const reached = api.received.slice(receivedBefore);
  if (reached.length === 0) {
    let answer: { error?: unknown; message?: unknown } = {};
    try {
      answer = JSON.parse(body) as typeof answer;
    } catch {
      // not JSON: error and message stay undefined, and the comparison says so
    }
    return { refused: { status, error: answer.error, message: answer.message, reason: h.log.access[linesBefore]!.decision }, lookups };
  }
  return { forwarded: { url: reached[0]!.url, body: reached[0]!.body }, lookups };
}

const J = 'application/json';

let standard: Deployment;
t.before(async () => {
  standard = await deploy();
});

// [name, token, request, expected outcome (partial), lookups]
const table: Array<[string, Who, Request, Record<string, unknown>, number]> = [
  // Read tokens only reach job URLs.
  [
    'read token on the API',
    'read',
    { method: 'GET', url: '/v1/job/nb1' },
    { refused: { status: 403, error: 'insufficient_scope', message: /Read tokens only reach job URLs/ } },
    0,
  ],
  // Unscoped operator tokens are forwarded without a registry lookup.
  ['unscoped operator, known job', 'operator', { method: 'GET', url: '/v1/job/nb1' }, { forwarded: { url: '/v1/job/nb1' } }, 0],
  ['unscoped operator, unknown job', 'operator', { method: 'PUT', url: '/v1/job/ghost/kill' }, { forwarded: { url: '/v1/job/ghost/kill' } }, 0],
  [
    'unscoped operator, create untouched',
    'operator',
    { method: 'POST', url: '/v1/job', contentType: 'text/plain', body: 'anything' },
    { forwarded: { body: 'anything' } },
    0,
  ],
  ['unscoped operator, list untouched', 'operator', { method: 'GET', url: '/v1/job?page=1' }, { forwarded: { url: '/v1/job?page=1' } }, 0],
  ['unscoped operator, token management', 'operator', { method: 'POST', url: '/v1/token', body: '{}' }, { forwarded: { url: '/v1/token' } }, 0],
  // Path tricks: 400 before any rule, whatever the token.
  ['/v1/job/x/../y', 'operator', { method: 'GET', url: '/v1/job/x/../y' }, { refused: { status: 400, reason: 'bad_path' } }, 0],
  ['/v1/job/nb1/../../token', 'scoped', { method: 'POST', url: '/v1/job/nb1/../../token' }, { refused: { status: 400 } }, 0],
  ['/v1//job', 'scoped', { method: 'GET', url: '/v1//job' }, { refused: { status: 400 } }, 0],
  ['/v1/./job', 'scoped', { method: 'GET', url: '/v1/./job' }, { refused: { status: 400 } }, 0],
  ['/v1/job/%2e%2e', 'scoped', { method: 'GET', url: '/v1/job/%2e%2e' }, { refused: { status: 400 } }, 0],
  ['/v1/job/nb1%2F..%2F..%2Ftoken', 'scoped', { method: 'POST', url: '/v1/job/nb1%2F..%2F..%2Ftoken' }, { refused: { status: 400 } }, 0],
  ['/v1/job/nb1%5c..%5c..%5ctoken', 'scoped', { method: 'POST', url: '/v1/job/nb1%5c..%5c..%5ctoken' }, { refused: { status: 400 } }, 0],
  ['a read token with a bad path gets 400 too', 'read', { method: 'GET', url: '/v1/job/%2E' }, { refused: { status: 400 } }, 0],
  ['the query is not the path', 'scoped', { method: 'GET', url: '/v1/job/nb1/log?x=/../..' }, { forwarded: { url: '/v1/job/nb1/log?x=/../..' } }, 1],
  // Scoped operator tokens on job paths: looked up, matched.
  ['scoped, job in scope', 'scoped', { method: 'GET', url: '/v1/job/nb1' }, { forwarded: { url: '/v1/job/nb1' } }, 1],
  ['scoped, kill in scope', 'scoped', { method: 'PUT', url: '/v1/job/nb1/kill' }, { forwarded: {} }, 1],
  ['scoped, exec in scope', 'scoped', { method: 'POST', url: '/v1/job/nb1/exec', body: '{"cmd":"ls"}' }, { forwarded: { body: '{"cmd":"ls"}' } }, 1],
  ['scoped, job out of scope', 'scoped', { method: 'PUT', url: '/v1/job/nb2/kill' }, { refused: { status: 403, reason: 'scope_denied' } }, 1],
  ['scoped, unknown job', 'scoped', { method: 'GET', url: '/v1/job/ghost/log' }, { refused: { status: 404, reason: 'unknown_job' } }, 1],
  ['scoped to one job by id', 'oneJob', { method: 'GET', url: '/v1/job/nb1/log' }, { forwarded: {} }, 1],
  ['scoped to one job by id, another job', 'oneJob', { method: 'GET', url: '/v1/job/nb2/log' }, { refused: { status: 403 } }, 1],
  [
    'WebSocket log follow, in scope',
    'scoped',
    { method: 'GET', url: '/v1/job/nb1/log?follow=true', upgrade: true },
    { forwarded: { url: '/v1/job/nb1/log?follow=true' } },
    1,
  ],
  ['WebSocket log follow, out of scope', 'scoped', { method: 'GET', url: '/v1/job/nb2/log?follow=true', upgrade: true }, { refused: { status: 403 } }, 1],
  // Create.
  [
    'scoped create: labels merged',
    'scoped',
    { method: 'POST', url: '/v1/job', contentType: J, body: '{"image":"x","labels":{"env":"dev"}}' },
    { forwarded: { url: '/v1/job', body: '{"image":"x","labels":{"env":"dev","team":"a"}}' } },
    0,
  ],
  [
    'scoped create: labels created',
    'scoped',
    { method: 'POST', url: '/v1/job', contentType: `${J}; charset=utf-8`, body: '{"image":"x"}' },
    { forwarded: { body: '{"image":"x","labels":{"team":"a"}}' } },
    0,
  ],
  [
    'scoped create: contradiction',
    'scoped',
    { method: 'POST', url: '/v1/job', contentType: J, body: '{"labels":{"team":"b"}}' },
    { refused: { status: 403 } },
    0,
  ],
  [
    'scoped create: != unsatisfied',
    'notProd',
    { method: 'POST', url: '/v1/job', contentType: J, body: '{"labels":{"env":"prod"}}' },
    { refused: { status: 403 } },
    0,
  ],
  [
    'scoped create: reserved label',
    'scoped',
    { method: 'POST', url: '/v1/job', contentType: J, body: '{"labels":{"jobgate/id":"nb1"}}' },
    { refused: { status: 403, reason: 'reserved_label' } },
    0,
  ],
  ['scoped create: wrong content type', 'scoped', { method: 'POST', url: '/v1/job', contentType: 'text/plain', body: '{}' }, { refused: { status: 415 } }, 0],
  ['scoped create: invalid JSON', 'scoped', { method: 'POST', url: '/v1/job', contentType: J, body: '{' }, { refused: { status: 400 } }, 0],
  ['scoped create: labels not an object', 'scoped', { method: 'POST', url: '/v1/job', contentType: J, body: '{"labels":[]}' }, { refused: { status: 400 } }, 0],
  [
    'scoped create by job id',
    'oneJob',
    { method: 'POST', url: '/v1/job', contentType: J, body: '{}' },
    { refused: { status: 403, reason: 'label_scope_denied' } },
    0,
  ],
  // List.
  [
    'scoped list, no client selector',
    'scoped',
    { method: 'GET', url: '/v1/job?page=2&size=5' },
    { forwarded: { url: '/v1/job?page=2&size=5&labelSelector=team%3Da' } },
    0,
  ],
  ['scoped list, no query', 'scoped', { method: 'GET', url: '/v1/job' }, { forwarded: { url: '/v1/job?labelSelector=team%3Da' } }, 0],
  [
    'scoped list, client selector',
    'scoped',
    { method: 'GET', url: '/v1/job?labelSelector=env%3Ddev&statusState=RUNNING' },
    { forwarded: { url: '/v1/job?labelSelector=team%3Da%2Cenv%3Ddev&statusState=RUNNING' } },
    0,
  ],
  [
    'scoped list, bad client selector',
    'scoped',
    { method: 'GET', url: '/v1/job?labelSelector=env%20in%20(' },
    { refused: { status: 400, reason: 'bad_query' } },
    0,
  ],
  ['scoped list, two client selectors', 'scoped', { method: 'GET', url: '/v1/job?labelSelector=a&labelSelector=b' }, { refused: { status: 400 } }, 0],
  // Relabel.
  [
    'scoped relabel, stays in scope',
    'scoped',
    { method: 'PUT', url: '/v1/job/nb1/label', contentType: J, body: '{"name":"env","value":"prod"}' },
    { forwarded: { body: '{"name":"env","value":"prod"}' } },
    1,
  ],
  [
    'scoped relabel, leaves scope',
    'scoped',
    { method: 'PUT', url: '/v1/job/nb1/label', contentType: J, body: '{"name":"team","value":"b"}' },
    { refused: { status: 403, reason: 'label_scope_denied' } },
    1,
  ],
  [
    'scoped relabel, != broken',
    'notProd',
    { method: 'PUT', url: '/v1/job/nb1/label', contentType: J, body: '{"name":"env","value":"prod"}' },
    { refused: { status: 403 } },
    1,
  ],
  [
    'scoped relabel, job out of scope',
    'scoped',
    { method: 'PUT', url: '/v1/job/nb2/label', contentType: J, body: '{"name":"team","value":"a"}' },
    { refused: { status: 403, reason: 'scope_denied' } },
    1,
  ],
  [
    'scoped relabel, unknown job',
    'scoped',
    { method: 'PUT', url: '/v1/job/ghost/label', contentType: J, body: '{"name":"env","value":"x"}' },
    { refused: { status: 404 } },
    1,
  ],
  [
    'scoped relabel, wrong content type',
    'scoped',
    { method: 'PUT', url: '/v1/job/nb1/label', contentType: 'text/plain', body: '{}' },
    { refused: { status: 415 } },
    1,
  ],
  ['scoped label removal', 'scoped', { method: 'DELETE', url: '/v1/job/nb1/label/team' }, { refused: { status: 403, reason: 'scoped_route_denied' } }, 0],
  // Token management.
  [
    'scoped token creation',
    'scoped',
    { method: 'POST', url: '/v1/token', contentType: J, body: '{"name":"x","role":"operator"}' },
    { refused: { status: 403, reason: 'unscoped_only' } },
    0,
  ],
  ['scoped token renewal', 'scoped', { method: 'PUT', url: '/v1/token/abc/renew' }, { refused: { status: 403 } }, 0],
  ['scoped token by an encoded path', 'scoped', { method: 'POST', url: '/v1/t%6Fken' }, { refused: { status: 403, reason: 'unscoped_only' } }, 0],
  // Unknown paths.
  ['scoped, unknown path', 'scoped', { method: 'GET', url: '/v2/anything' }, { refused: { status: 403, reason: 'scoped_route_denied' } }, 0],
  ['unscoped, unknown path', 'operator', { method: 'GET', url: '/v2/anything' }, { forwarded: {} }, 0],
];

for (const [name, who, req, expected, lookups] of table) {
  t.test(name, async (t) => {
    const outcome = await run(standard, who, req);
    t.match(outcome, expected);
    t.equal(outcome.lookups, lookups, 'job lookups, as jobgate counts them');
  });
}

t.test('the body limit is a setting (413)', async (t) => {
  const small = await deploy({ JOBGATE_API_MAX_BODY_BYTES: '1024' });
  const req = { method: 'POST', url: '/v1/job', contentType: J, body: JSON.stringify({ image: 'i'.repeat(1100) }) };
  t.match(await run(small, 'scoped', req), { refused: { status: 413, reason: 'body_too_large' } });
  t.match(await run(standard, 'scoped', req), { forwarded: {} }, 'under the default limit');
  t.match(await run(small, 'operator', req), { forwarded: { body: req.body } }, 'unscoped bodies are not read');
});

t.test('a deployment tightens and adds paths', async (t) => {
  const tightened = await deploy({
    JOBGATE_API_RULES: JSON.stringify([
      { method: 'POST', path: '/v1/job/{id}/exec', role: 'operator', scope: 'unscoped-only' },
      { method: 'GET', path: '/v1/job/{id}/log', role: 'read', scope: 'job' },
      { method: '*', path: '/v1/registry/**', role: 'operator', scope: 'any' },
    ]),
  });
  t.match(await run(tightened, 'scoped', { method: 'POST', url: '/v1/job/nb1/exec' }), { refused: { status: 403, reason: 'unscoped_only' } });
  t.match(await run(tightened, 'scopedRead', { method: 'GET', url: '/v1/job/nb1/log' }), { forwarded: {}, lookups: 1 });
  t.match(await run(tightened, 'scopedRead', { method: 'GET', url: '/v1/job/nb2/log' }), { refused: { status: 403 } });
  t.match(await run(tightened, 'read', { method: 'GET', url: '/v1/job/nb2/log' }), { forwarded: {}, lookups: 0 });
  t.match(await run(tightened, 'read', { method: 'GET', url: '/v1/job/nb2' }), { refused: { reason: 'role_denied' } });
  t.match(await run(tightened, 'scoped', { method: 'GET', url: '/v1/registry/images' }), { forwarded: {} });
});

t.test('the answers: JSON body, no-store, challenge on insufficient_scope only', async (t) => {
  const { h, tokens } = standard;
  const ask = (who: Who, method: string, path: string, body?: string) =>
    request(h.url, {
      host: API_HOST,
      method,
      path,
      body,
      headers: { ...bearer(tokens[who]), ...(body === undefined ? {} : { 'content-type': J, 'content-length': String(Buffer.byteLength(body)) }) },
    });
  const denied = await ask('read', 'GET', '/v1/job');
  t.equal(denied.status, 403);
  t.equal(denied.headers['www-authenticate'], 'Bearer realm="jobgate", error="insufficient_scope", error_description="An operator token is required"');
  t.same(Object.keys(denied.json()).sort(), ['error', 'message']);
  t.equal(denied.json().error, 'insufficient_scope');
  t.match(denied.json().message, /Read tokens only reach job URLs/);
  t.equal(denied.headers['cache-control'], 'no-store');

  for (const [method, path, body, description] of [
    ['GET', '/v1/job/nb2', undefined, "The token's label selector does not match this job"],
    ['POST', '/v1/token', undefined, 'An unscoped operator token is required'],
    ['GET', '/v9', undefined, 'An unscoped operator token is required'],
    ['POST', '/v1/job', '{"labels":{"team":"b"}}', "The labels would not match the token's label selector"],
  ] as const) {
    t.match((await ask('scoped', method, path, body)).headers['www-authenticate'], `error_description="${description}"`, path);
  }

  const bad = await ask('scoped', 'GET', '/v1/job/x/../y');
  t.equal(bad.status, 400);
  t.equal(bad.headers['www-authenticate'], undefined);
  t.match(bad.json(), { error: 'bad_request', message: /refused: it has a "\.\." segment\. Send the normalized path/ });

  const unknownJob = await ask('scoped', 'GET', '/v1/job/ghost');
  t.equal(unknownJob.status, 404);
  t.equal(unknownJob.headers['www-authenticate'], undefined);

  // A refusal no route gives today still gets a challenge with a description.
  const hand = apiAnswer({ status: 403, error: 'insufficient_scope', reason: 'bad_body', message: 'm' });
  t.match(hand.headers['www-authenticate'], 'error_description="Insufficient scope"', 'a fallback description');
});
