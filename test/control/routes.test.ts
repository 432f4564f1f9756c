import t from 'tap';
import { bearer, request } from '../helpers/http.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

// Every route of the control API by caller, as one table: no token, a read token, an unscoped
// operator, and a team=a operator on a target within its scope and on one outside it. Each cell
// gets fresh records, so that a delete in one cell cannot decide another.

const CONTROL = 'control.test';
const up = await Upstream.start('routes-upstream');
const h: Harness = await startHarness({ JOBGATE_CONTROL_HOST: CONTROL });
t.teardown(async () => {
  await h.close();
  await up.close();
});

const callers = {
  none: undefined,
  read: (await h.tokens.create({ name: 'reader', role: 'read', labelSelector: 'team=a' })).value,
  root: (await h.tokens.create({ name: 'root', role: 'operator' })).value,
  scoped: (await h.tokens.create({ name: 'team a', role: 'operator', labelSelector: 'team=a' })).value,
};
type Caller = keyof typeof callers;

let serial = 0;
/** A fresh token and job on `team`, for one cell. */
async function fixtures(team: string): Promise<{ tokenId: string; jobId: string }> {
  const n = serial++;
  const token = await h.tokens.create({ name: `target ${n}`, role: 'read', labelSelector: `team=${team}` });
  const jobId = `job-${n}`;
  await h.jobs.put({ id: jobId, upstream: `http://10.9.${Math.floor(n / 250)}.${n % 250}:8080`, labels: { team } });
  return { tokenId: token.record.id, jobId };
}

interface Route {
  readonly method: string;
  readonly path: (target: { tokenId: string; jobId: string }) => string;
  readonly body?: (target: { tokenId: string; jobId: string }) => unknown;
  /** Expected status for: root, scoped within its scope, scoped outside it. */
  readonly expect: readonly [root: number, within: number, outside: number];
}

const ROUTES: readonly Route[] = [
  { method: 'GET', path: () => '/api/v1/tokens', expect: [200, 200, 200] },
  { method: 'POST', path: () => '/api/v1/tokens', body: () => ({ name: 'new', role: 'read' }), expect: [201, 201, 201] },
  { method: 'GET', path: ({ tokenId }) => `/api/v1/tokens/${tokenId}`, expect: [200, 200, 404] },
  { method: 'POST', path: ({ tokenId }) => `/api/v1/tokens/${tokenId}/renew`, expect: [200, 200, 404] },
  { method: 'DELETE', path: ({ tokenId }) => `/api/v1/tokens/${tokenId}`, expect: [204, 204, 404] },
  { method: 'GET', path: () => '/api/v1/jobs', expect: [200, 200, 200] },
  { method: 'GET', path: ({ jobId }) => `/api/v1/jobs/${jobId}`, expect: [200, 200, 404] },
  {
    method: 'PUT',
    path: ({ jobId }) => `/api/v1/jobs/${jobId}`,
    body: ({ jobId }) => ({ upstream: `http://${jobId}.internal:8080` }),
    expect: [200, 200, 403],
  },
  {
    method: 'PUT',
    path: ({ jobId }) => `/api/v1/jobs/${jobId}-new`,
    body: ({ jobId }) => ({ upstream: `http://${jobId}-new.internal:8080` }),
    expect: [201, 201, 201],
  },
  { method: 'DELETE', path: ({ jobId }) => `/api/v1/jobs/${jobId}`, expect: [204, 204, 404] },
  { method: 'GET', path: () => '/api/v1/events', expect: [200, 200, 200] },
  { method: 'GET', path: () => '/api/v1/openapi.json', expect: [200, 200, 200] },
];

async function status(caller: Caller, route: Route, team: string): Promise<number> {
  const target = await fixtures(team);
  const value = callers[caller];
  const body = route.body?.(target);
  const reply = await request(h.url, {
    method: route.method,
    path: route.path(target),
    host: CONTROL,
    headers: { ...(value ? bearer(value) : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return reply.status;
}

t.test('every route, by caller', async (t) => {
  for (const route of ROUTES) {
    const name = `${route.method} ${route.path({ tokenId: '{id}', jobId: '{id}' })}`;
    t.equal(await status('none', route, 'a'), 401, `${name}: no token`);
    t.equal(await status('read', route, 'a'), 403, `${name}: a read token`);
    t.equal(await status('root', route, 'b'), route.expect[0], `${name}: an unscoped operator`);
    t.equal(await status('scoped', route, 'a'), route.expect[1], `${name}: a scoped operator, within its scope`);
    t.equal(await status('scoped', route, 'b'), route.expect[2], `${name}: a scoped operator, outside it`);
  }
});
