import t from 'tap';
import { bearer, request, type Reply } from '../helpers/http.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

// An adversarial review of the control API (issue 20) against a real jobgate on a real Redis: a
// scoped operator (team=a) and hostile clients try to step outside what docs/control-api.md
// allows. Each row is an attack; the rows that passed from the start pin a defence.

const CONTROL = 'control.test';
const up = await Upstream.start('attacks-upstream');
const neighbour = await Upstream.start('attacks-neighbour');
const h: Harness = await startHarness({ JOBGATE_CONTROL_HOST: CONTROL });
t.teardown(async () => {
  await h.close();
  await up.close();
  await neighbour.close();
});

const prefix = h.settings.keyPrefix;
const root = await h.tokens.create({ name: 'root', role: 'operator' });
const scoped = await h.tokens.create({ name: 'team a operator', role: 'operator', labelSelector: 'team=a' });
await h.jobs.put({ id: 'nb-a', upstream: up.url, labels: { team: 'a' } });
const neighbourPort = new URL(neighbour.url).port;

interface Call {
  readonly method?: string;
  readonly path: string;
  readonly token?: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly host?: string;
}

function control({ method = 'GET', path, token = scoped.value, body, headers = {}, host = CONTROL }: Call): Promise<Reply> {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return request(h.url, {
    method,
    path,
    host,
    headers: { ...(token ? bearer(token) : {}), ...(text === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(text === undefined ? {} : { body: text }),
  });
}

/** Every key under the prefix with its content: what a refused call must leave as it was. */
async function snapshot(): Promise<string> {
  const keys = (await h.admin.keys(`${prefix}*`)).sort();
  const dump: unknown[] = [];
  for (const key of keys) {
    const type = await h.admin.type(key);
    if (type === 'hash') dump.push(key, await h.admin.hgetall(key));
    else if (type === 'set') dump.push(key, (await h.admin.smembers(key)).sort());
    else if (type === 'stream') dump.push(key, await h.admin.xlen(key));
    else if (type === 'zset') dump.push(key, await h.admin.zrange(key, '0', '-1', 'WITHSCORES'));
    else dump.push(key, type);
  }
  return JSON.stringify(dump);
}

/** A job record that jobgate cannot read (an upstream with a scheme it refuses), outside team=a. */
async function seedMalformedJob(id: string): Promise<void> {
  const now = new Date().toISOString();
  await h.admin.hset(`${prefix}job:${id}`, {
    id,
    labels: JSON.stringify({ team: 'b' }),
    upstream: 'ftp://files.internal/',
    ports: '{}',
    unsecureHttp: 'false',
    createdAt: now,
    updatedAt: now,
  });
  await h.admin.sadd(`${prefix}jobs`, id);
}

t.test('a scoped operator cannot take over a malformed job record it cannot see', async (t) => {
  await seedMalformedJob('broken-b');
  const before = await snapshot();
  const reply = await control({ method: 'PUT', path: '/api/v1/jobs/broken-b', body: { upstream: up.url } });
  t.equal(reply.status, 403, 'replacing a record whose scope cannot be read is refused, as replacing a job outside the scope is');
  t.equal(reply.json().error, 'insufficient_scope');
  t.equal(await snapshot(), before, 'nothing written: the record, the index and the trail are as they were');
  const asRoot = await control({
    method: 'PUT',
    path: '/api/v1/jobs/broken-b',
    token: root.value,
    body: { upstream: 'http://127.0.0.1:1/', labels: { team: 'b' } },
  });
  t.equal(asRoot.status, 201, 'an unscoped operator still replaces it whole, as the CLI does');
});

t.test('a malformed record outside the scope reads as absent, without its content', async (t) => {
  await seedMalformedJob('broken-c');
  const job = await control({ path: '/api/v1/jobs/broken-c' });
  t.equal(job.status, 404, 'a job: 404, as any job outside the scope');
  t.notMatch(job.body, /ftp|malformed|team/, 'nothing about the record');
  const deleted = await control({ method: 'DELETE', path: '/api/v1/jobs/broken-c' });
  t.equal(deleted.status, 404, 'delete: 404');
  t.equal(await h.admin.exists(`${prefix}job:broken-c`), 1, 'and not deleted');

  const token = await h.tokens.create({ name: 'team b reader', role: 'read', labelSelector: 'team=b' });
  await h.admin.hset(`${prefix}token:${token.record.id}`, 'labelSelector', 'team=b,secret-project in (apollo');
  for (const [method, path] of [
    ['GET', `/api/v1/tokens/${token.record.id}`],
    ['POST', `/api/v1/tokens/${token.record.id}/renew`],
    ['DELETE', `/api/v1/tokens/${token.record.id}`],
  ] as const) {
    const reply = await control({ method, path });
    t.equal(reply.status, 404, `${method} a malformed token: 404`);
    t.notMatch(reply.body, /apollo|secret-project|malformed/, `${method}: nothing about its selector`);
  }
  const asRoot = await control({ path: `/api/v1/tokens/${token.record.id}`, token: root.value });
  t.equal(asRoot.status, 500, 'an unscoped operator is told the record is malformed');
  t.equal(asRoot.json().error, 'malformed_record');
});

t.test('a scoped operator cannot borrow an upstream under another spelling of its host', async (t) => {
  await h.jobs.put({ id: 'nb-b', upstream: `http://localhost:${neighbourPort}/`, labels: { team: 'b' } });
  await h.jobs.put({ id: 'nb-b2', upstream: `http://127.0.0.1:${neighbourPort}/`, labels: { team: 'b' } });
  const spellings: Array<[what: string, upstream: string]> = [
    ['the same name with a trailing dot', `http://localhost.:${neighbourPort}/`],
    ['upper case and the default path', `http://LOCALHOST:${neighbourPort}`],
    ['an IPv4 address as an IPv4-mapped IPv6 address', `http://[::ffff:127.0.0.1]:${neighbourPort}/`],
    ['an IPv4 address with a trailing dot', `http://127.0.0.1.:${neighbourPort}/`],
    ['an IPv4 address in hex', `http://0x7f000001:${neighbourPort}/`],
    ['another loopback address', `http://127.0.0.2:${neighbourPort}/`],
    ['the IPv6 loopback address', `http://[::1]:${neighbourPort}/`],
    ['the unspecified address, which reaches this machine', `http://0.0.0.0:${neighbourPort}/`],
    ['a name under localhost', `http://x.localhost:${neighbourPort}/`],
  ];
  let n = 0;
  for (const [what, upstream] of spellings) {
    for (const where of ['upstream', 'port'] as const) {
      const before = await snapshot();
      const body = where === 'upstream' ? { upstream } : { upstream: up.url, ports: { '8080': upstream } };
      const reply = await control({ method: 'PUT', path: `/api/v1/jobs/thief-${n++}`, body });
      t.equal(reply.status, 403, `${what}, as its ${where}: 403`);
      t.equal(await snapshot(), before, `${what}, as its ${where}: nothing written`);
    }
  }
  const other = await control({ method: 'PUT', path: '/api/v1/jobs/thief', body: { upstream: `http://127.0.0.1:2/` } });
  t.equal(other.status, 201, 'another port of the same host is another origin: allowed');
});
