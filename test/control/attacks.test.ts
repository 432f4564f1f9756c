import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { ControlClient } from '../../src/cli/control-client.js';
import { bearer, request, type Reply } from '../helpers/http.js';
import { controlRequest, type ControlCall } from '../helpers/control.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { JobChangedError } from '../../src/jobs/store.js';
import { Upstream } from '../helpers/upstream.js';
import { rawRequest } from '../session/support.js';

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

type Call = ControlCall;

/** A control API call, as the scoped operator unless another token is given. */
const control = (call: Call): Promise<Reply> => controlRequest(h.url, { token: scoped.value, ...call });

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

t.test('a cross-site request from a browser cannot act', async (t) => {
  const before = await snapshot();
  const preflight = await control({
    method: 'OPTIONS',
    path: '/api/v1/tokens',
    token: '',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  });
  t.equal(preflight.status, 401, 'a CORS preflight carries no token: 401');
  t.notOk(preflight.headers['access-control-allow-origin'], 'and allows no origin');
  const login = await request(h.url, {
    method: 'POST',
    host: 'nb-a.job.test',
    path: '/__jobgate/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://nb-a.job.test' },
    body: new URLSearchParams({ token: root.value, next: '/' }).toString(),
  });
  const cookie = login.headers['set-cookie']?.[0]?.split(';')[0];
  t.ok(cookie, 'a session cookie from a job host');
  for (const name of ['jobgate', '__Host-jobgate']) {
    const simple = await control({
      method: 'POST',
      path: '/api/v1/tokens',
      token: '',
      body: JSON.stringify({ name: 'csrf', role: 'operator' }),
      headers: { 'content-type': 'text/plain', origin: 'https://evil.example', cookie: `${name}=${cookie!.split('=').slice(1).join('=')}` },
    });
    t.equal(simple.status, 401, `a simple POST with a ${name} session cookie: 401, cookies never authenticate`);
    t.notOk(simple.headers['access-control-allow-origin']);
  }
  const textPlain = await control({
    method: 'POST',
    path: '/api/v1/tokens',
    body: JSON.stringify({ name: 'csrf', role: 'operator' }),
    headers: { 'content-type': 'text/plain' },
  });
  t.equal(textPlain.status, 415, 'with a token, text/plain is still refused (415)');
  t.equal(await snapshot(), before, 'nothing written');
});

t.test('Host tricks reach the control API only with its own host name', async (t) => {
  const port = h.jobgate.proxyAddress.port;
  const rows: Array<[what: string, head: string, status: number]> = [
    ['upper case with a port', `GET /api/v1/tokens HTTP/1.1\r\nHost: CONTROL.TEST:9999`, 200],
    ['absolute form naming the control host', `GET http://control.test/api/v1/tokens HTTP/1.1\r\nHost: control.test`, 200],
    ['absolute form naming the control host, Host a job', `GET http://control.test/api/v1/tokens HTTP/1.1\r\nHost: nb-a.job.test`, 400],
    ['absolute form naming a job, Host the control host', `GET http://nb-a.job.test/api/v1/tokens HTTP/1.1\r\nHost: control.test`, 400],
    ['two Host headers', `GET /api/v1/tokens HTTP/1.1\r\nHost: nb-a.job.test\r\nHost: control.test`, 400],
    ['two Host headers, control first', `GET /api/v1/tokens HTTP/1.1\r\nHost: control.test\r\nHost: nb-a.job.test`, 400],
    ['a trailing dot is another name', `GET /api/v1/tokens HTTP/1.1\r\nHost: control.test.`, 404],
    ['a suffix is another name', `GET /api/v1/tokens HTTP/1.1\r\nHost: control.test.evil`, 404],
    ['user info is another name', `GET /api/v1/tokens HTTP/1.1\r\nHost: x@control.test`, 404],
  ];
  for (const [what, head, status] of rows) {
    const reply = await rawRequest(port, `${head}\r\nAuthorization: Bearer ${root.value}`);
    t.equal(reply.status, status, `${what}: ${status}`);
    if (status !== 200) t.notMatch(reply.body, /"spec"/, `${what}: no token listed`);
  }
  const forwardedHost = await request(h.url, {
    host: 'nb-a.job.test',
    path: '/api/v1/tokens',
    headers: { ...bearer(root.value), 'x-forwarded-host': CONTROL },
  });
  t.equal(forwardedHost.status, 200, 'X-Forwarded-Host naming the control host on a job host...');
  t.equal(forwardedHost.json<{ name: string }>().name, 'attacks-upstream', '...reaches the job, never the control API');
});

t.test('path and query tricks match no other route', async (t) => {
  const rows: Array<[path: string, status: number]> = [
    ['/api/v1//tokens', 404],
    ['/api/v1/tokens/', 400],
    ['/api/v1/tokens%2F', 404],
    ['/api/v1/./tokens', 404],
    ['/api/v1/jobs/nb-a/../nb-b', 404],
    ['/api/v1/jobs/..%2Fnb-b', 400],
    ['/api/v1/jobs/nb%2Db', 400],
    ['/API/V1/tokens', 404],
    ['/api/v1/tokens;x', 404],
    ['/api/v1/jobs/NB-B', 400],
    ['/api/v1/events?limit=1e3', 400],
    ['/api/v1/events?limit=01', 400],
    ['/api/v1/events?after=0-0&after=1-0', 400],
    ['/api/v1/events?after=99999999999999999999-0', 400],
    ['/api/v1/events?after=0-18446744073709551616', 400],
    ['/api/v1/events?after=18446744073709551615-18446744073709551615', 400],
    ['/api/v1/events?after=18446744073709551615-0', 200],
    ['/api/v1/jobs?labelSelector=', 200],
  ];
  for (const [path, status] of rows) t.equal((await control({ path })).status, status, `${path}: ${status}`);
  const jobs = (await control({ path: '/api/v1/jobs?labelSelector=' })).json<Array<{ id: string }>>();
  t.notOk(
    jobs.some((job) => job.id === 'nb-b'),
    'an empty filter stays inside the scope',
  );
});

t.test('hostile bodies are refused whole, and nothing is written', async (t) => {
  const before = await snapshot();
  const deep = `{"name":"x","role":"read","labelSelector":${'['.repeat(200)}${']'.repeat(200)}}`;
  const rows: Array<[what: string, method: string, path: string, body: string | Buffer, status: number, headers?: Record<string, string>]> = [
    ['a label given twice, the second one outside', 'PUT', '/api/v1/jobs/dup', '{"upstream":"http://127.0.0.1:1/","labels":{"team":"a","team":"b"}}', 400],
    ['a label given twice, the first one outside', 'PUT', '/api/v1/jobs/dup', '{"upstream":"http://127.0.0.1:1/","labels":{"team":"b","team":"a"}}', 400],
    ['unsecureHttp given twice', 'PUT', '/api/v1/jobs/dup', '{"upstream":"http://127.0.0.1:1/","unsecureHttp":false,"unsecureHttp":true}', 400],
    ['unsecureHttp in another case', 'PUT', '/api/v1/jobs/dup', '{"upstream":"http://127.0.0.1:1/","UnsecureHttp":true}', 400],
    ['a __proto__ field', 'POST', '/api/v1/tokens', '{"name":"x","role":"read","__proto__":{"labelSelector":""}}', 400],
    ['a labelSelector given twice', 'POST', '/api/v1/tokens', '{"name":"x","role":"read","labelSelector":"team=a","labelSelector":""}', 400],
    ['nesting 200 deep', 'POST', '/api/v1/tokens', deep, 400],
    ['not UTF-8', 'POST', '/api/v1/tokens', Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), 400],
    ['a charset other than UTF-8', 'POST', '/api/v1/tokens', '{"name":"x","role":"read"}', 415, { 'content-type': 'application/json; charset=latin1' }],
    ['a renewal with a body in another type', 'POST', `/api/v1/tokens/${scoped.record.id}/renew`, 'x', 415, { 'content-type': 'text/plain' }],
  ];
  for (const [what, method, path, body, status, headers] of rows) {
    const reply = await new Promise<Reply>((resolve, reject) => {
      const text = typeof body === 'string' ? body : body.toString('latin1');
      rawRequest(
        h.jobgate.proxyAddress.port,
        `${method} ${path} HTTP/1.1\r\nHost: ${CONTROL}\r\nAuthorization: Bearer ${scoped.value}\r\nContent-Type: ${headers?.['content-type'] ?? 'application/json'}\r\nContent-Length: ${Buffer.byteLength(text, 'latin1')}`,
        text,
      ).then((raw) => resolve({ status: raw.status, headers: {}, body: raw.body, json: <T>() => JSON.parse(raw.body) as T }), reject);
    });
    t.equal(reply.status, status, `${what}: ${status}`);
  }
  const chunk = 'x'.repeat(8192);
  const chunks = Array.from({ length: 10 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('');
  const chunked = await rawRequest(
    h.jobgate.proxyAddress.port,
    `POST /api/v1/tokens HTTP/1.1\r\nHost: ${CONTROL}\r\nAuthorization: Bearer ${scoped.value}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked`,
    `${chunks}0\r\n\r\n`,
  );
  t.equal(chunked.status, 413, 'a chunked body over 64 KiB: 413');
  t.equal(await snapshot(), before, 'nothing written');
});

t.test('the actor of an event is who called, whatever the request says', async (t) => {
  const [latest] = await h.admin.xrevrange(`${prefix}events`, '+', '-', 'COUNT', 1);
  const made = await control({
    method: 'POST',
    path: '/api/v1/tokens',
    body: { name: 'root', role: 'read' },
    headers: { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=203.0.113.9', 'x-real-ip': '203.0.113.9' },
  });
  t.equal(made.status, 201);
  const events = (await control({ path: `/api/v1/events?after=${latest![0]}`, token: root.value })).json<
    Array<{ action: string; actor: Record<string, string>; target: Record<string, string> }>
  >();
  t.equal(events.length, 1, 'one change, one event');
  t.same(
    events[0]!.actor,
    { kind: 'token', tokenId: scoped.record.id, tokenName: 'team a operator', client: '127.0.0.1' },
    'the forged client is ignored (no trusted hops)',
  );
  t.equal(events[0]!.target.labelSelector, 'team=a', 'the event records the stored (narrowed) selector');
  const actorField = await control({ method: 'POST', path: '/api/v1/tokens', body: { name: 'x', role: 'read', actor: { kind: 'cli' } } });
  t.equal(actorField.status, 400, 'an actor field in a body: 400');
  const trail = JSON.stringify(await h.admin.xrange(`${prefix}events`, '-', '+'));
  t.notOk(trail.includes(made.json<{ status: { value: string } }>().status.value.slice(-20)), 'never the new value in the trail');
});

t.test('an expired operator token reaches nothing', async (t) => {
  const expiring = await h.tokens.create({ name: 'expired operator', role: 'operator' });
  // Written in the past directly (the API refuses a past expiry), before any use: no cache holds it.
  await h.admin.hset(`${prefix}token:${expiring.record.id}`, 'expiresAt', '2020-01-01T00:00:00.000Z');
  const before = await snapshot();
  const asExpired = (call: Omit<Call, 'token'>) => control({ ...call, token: expiring.value });
  for (const [method, path, body] of [
    ['GET', '/api/v1/tokens', undefined],
    ['POST', '/api/v1/tokens', { name: 'x', role: 'operator' }],
    ['POST', `/api/v1/tokens/${expiring.record.id}/renew`, { expiresAt: '2999-01-01T00:00:00Z' }],
    ['PUT', '/api/v1/jobs/late', { upstream: up.url }],
  ] as const) {
    const reply = await asExpired({ method, path, body });
    t.equal(reply.status, 401, `${method} ${path}: 401`);
    t.equal(reply.json().error, 'invalid_token');
  }
  t.equal((await request(h.url, { host: 'nb-a.job.test', headers: bearer(expiring.value) })).status, 401, 'a job URL: 401');
  const login = await request(h.url, {
    method: 'POST',
    host: 'nb-a.job.test',
    path: '/__jobgate/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://nb-a.job.test' },
    body: new URLSearchParams({ token: expiring.value, next: '/' }).toString(),
  });
  t.notOk(
    login.headers['set-cookie']?.some((value) => /^jobgate=[^;]/.test(value)),
    'the login form opens no session',
  );
  const deepLink = await request(h.url, {
    host: 'nb-a.job.test',
    path: `/?jobgate_token=${encodeURIComponent(expiring.value)}`,
    headers: { accept: 'text/html', 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate' },
  });
  t.notOk(
    deepLink.headers['set-cookie']?.some((value) => /^jobgate=[^;]/.test(value)),
    'a deep link opens no session',
  );
  t.not(deepLink.status, 200, 'nor reaches the job');
  t.equal(await snapshot(), before, 'nothing written');
});

t.test('a scoped job write or delete lands only on the record its checks read', async (t) => {
  // The control API checks a scoped caller's PUT and DELETE on the record it reads, then writes:
  // the write carries what was read, and Redis refuses it when the job changed in between (the
  // API then checks again). Driven here at the store, where the interleaving can be chosen.
  await h.jobs.put({ id: 'race', upstream: up.url, labels: { team: 'a' } });
  // What a team=a operator's checks read; then an unscoped operator moves the job out.
  await h.jobs.put({ id: 'race', upstream: 'http://127.0.0.1:3/', labels: { team: 'b' } });
  const before = await snapshot();
  await t.rejects(
    h.jobs.put({ id: 'race', upstream: up.url, labels: { team: 'a' } }, new Date(), { team: 'a' }),
    JobChangedError,
    'a replace checked against the team=a record is refused',
  );
  await t.rejects(h.jobs.delete('race', new Date(), { team: 'a' }), JobChangedError, 'a delete checked against it too');
  await t.rejects(
    h.jobs.put({ id: 'race', upstream: up.url, labels: { team: 'a' } }, new Date(), null),
    JobChangedError,
    'a create checked against no record, when one appeared',
  );
  t.equal(await snapshot(), before, 'nothing written, no event');
  await h.admin.hset(`${prefix}job:race`, 'labels', '{ "team" : "b" }');
  await t.resolves(
    h.jobs.put({ id: 'race', upstream: 'http://127.0.0.1:3/', labels: { team: 'b' } }, new Date(), { team: 'b' }),
    'the record as read (spacing aside): written',
  );
  await t.resolves(h.jobs.delete('race', new Date(), { team: 'b' }), 'and deleted');
  await t.resolves(h.jobs.put({ id: 'race', upstream: up.url, labels: { team: 'a' } }, new Date(), null), 'no record, as read: created');
  await h.jobs.delete('race');
});

t.test('no change is made without its event, even when the trail cannot take one', async (t) => {
  const events = `${prefix}events`;
  const made = await h.tokens.create({ name: 'to renew', role: 'read', labelSelector: 'team=a' });
  await h.jobs.put({ id: 'kept', upstream: up.url, labels: { team: 'a' } });
  await h.admin.rename(events, `${prefix}events-saved`);
  await h.admin.set(events, 'a string where the stream should be');
  try {
    const before = await snapshot();
    const rows: Array<[what: string, method: string, path: string, body?: unknown]> = [
      ['create a token', 'POST', '/api/v1/tokens', { name: 'unaudited', role: 'operator' }],
      ['renew a token', 'POST', `/api/v1/tokens/${made.record.id}/renew`],
      ['delete a token', 'DELETE', `/api/v1/tokens/${made.record.id}`],
      ['create a job', 'PUT', '/api/v1/jobs/unaudited', { upstream: up.url }],
      ['replace a job', 'PUT', '/api/v1/jobs/kept', { upstream: up.url, labels: { team: 'a', tier: 'x' } }],
      ['delete a job', 'DELETE', '/api/v1/jobs/kept'],
    ];
    for (const [what, method, path, body] of rows) {
      const reply = await control({ method, path, body, token: root.value });
      t.ok(reply.status >= 500, `${what}: refused (${reply.status})`);
      t.equal(await snapshot(), before, `${what}: nothing changed`);
    }
    await t.rejects(h.tokens.create({ name: 'cli', role: 'read' }), 'the CLI on Redis: refused too');
    t.equal(await snapshot(), before, 'the CLI on Redis: nothing changed');
  } finally {
    await h.admin.del(events);
    await h.admin.rename(`${prefix}events-saved`, events);
  }
});

t.test("the control API's internal errors are logged, without the Redis command's arguments", async (t) => {
  const events = `${prefix}events`;
  const made = await h.tokens.create({ name: 'renewed unaudited', role: 'read' });
  await h.admin.rename(events, `${prefix}events-saved`);
  await h.admin.set(events, 'a string where the stream should be');
  const from = h.log.lines.length;
  try {
    const reply = await control({ method: 'POST', path: `/api/v1/tokens/${made.record.id}/renew`, token: root.value });
    t.equal(reply.status, 500);
    t.match(reply.json().message, /in its log/, 'the answer says the error is in the log');
  } finally {
    await h.admin.del(events);
    await h.admin.rename(`${prefix}events-saved`, events);
  }
  const lines = h.log.lines.slice(from);
  const logged = lines.find((line) => line.event === 'internal_error');
  t.ok(logged, 'an internal_error line');
  t.match(JSON.stringify(logged), /WRONGTYPE/, "with Redis's reason");
  t.notMatch(JSON.stringify(lines), /evalsha|secretHash|"args"/, 'never the command and its arguments (a new secret hash, names, the actor)');
});

t.test('a scoped operator cannot take the host name of a port of a job outside its scope', async (t) => {
  await h.jobs.put({ id: 'svc-b', upstream: 'http://127.0.0.1:4/', labels: { team: 'b' } });
  const before = await snapshot();
  // svc-b-8080.job.test reads as port 8080 of svc-b: a job with that id would pass for it, and
  // would stop svc-b's own operators from ever giving it port 8080.
  const squat = await control({ method: 'PUT', path: '/api/v1/jobs/svc-b-8080', body: { upstream: up.url } });
  t.equal(squat.status, 403, 'refused');
  t.equal(squat.json().error, 'insufficient_scope');
  t.equal(await snapshot(), before, 'nothing written');
  t.equal(
    (await control({ method: 'PUT', path: '/api/v1/jobs/nb-a-8080', body: { upstream: up.url } })).status,
    201,
    'the port host name of its own job: written',
  );
  t.equal((await control({ method: 'PUT', path: '/api/v1/jobs/none-8080', body: { upstream: up.url } })).status, 201, 'of no job: written');
  await h.jobs.delete('nb-a-8080');
  await h.jobs.delete('none-8080');
  await h.jobs.delete('svc-b');
});

t.test('a run of events outside its scope does not hide the later ones from a scoped operator', async (t) => {
  const [latest] = await h.admin.xrevrange(`${prefix}events`, '+', '-', 'COUNT', 1);
  for (let i = 0; i < 120; i++) await h.jobs.put({ id: 'noisy-b', upstream: 'http://127.0.0.1:5/', labels: { team: 'b', round: String(i) } });
  await h.jobs.put({ id: 'quiet-a', upstream: up.url, labels: { team: 'a' } });
  const seen = (await control({ path: `/api/v1/events?after=${latest![0]}` })).json<Array<{ target: { id: string } }>>();
  t.same(
    seen.map((event) => event.target.id),
    ['quiet-a'],
    'the one event within team=a, past 120 outside it (the default limit is 100)',
  );
  const one = (await control({ path: `/api/v1/events?after=${latest![0]}&limit=1` })).json<Array<{ target: { id: string } }>>();
  t.same(
    one.map((event) => event.target.id),
    ['quiet-a'],
    'limit counts the events returned',
  );
  await h.jobs.delete('noisy-b');
  await h.jobs.delete('quiet-a');
});

t.test('the CLI client never carries JOBGATE_TOKEN through a redirect', async (t) => {
  const elsewhere = await Upstream.start('elsewhere');
  const redirecting = createServer((req, res) => {
    res.writeHead(req.method === 'GET' ? 302 : 307, { location: `${elsewhere.url}${req.url ?? '/'}` });
    res.end();
  });
  redirecting.listen(0, '127.0.0.1');
  await once(redirecting, 'listening');
  t.teardown(async () => {
    redirecting.close();
    await elsewhere.close();
  });
  const origin = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}`;
  const client = new ControlClient({ origin, token: root.value });
  await t.rejects(client.listTokens(), /redirect, not followed/, 'a GET redirected: refused, saying so');
  await t.rejects(client.createToken({ name: 'x', role: 'read', labelSelector: '' }), /redirect, not followed/, 'a POST redirected (307): refused');
  t.equal(elsewhere.received.length, 0, 'the other server received nothing');
});

t.test('a read token reaches no route, and writes nothing', async (t) => {
  const reader = await h.tokens.create({ name: 'reader', role: 'read' });
  const before = await snapshot();
  const routes: Array<[method: string, path: string, body?: unknown]> = [
    ['GET', '/api/v1/tokens'],
    ['POST', '/api/v1/tokens', { name: 'x', role: 'operator' }],
    ['GET', `/api/v1/tokens/${reader.record.id}`],
    ['POST', `/api/v1/tokens/${reader.record.id}/renew`],
    ['DELETE', `/api/v1/tokens/${reader.record.id}`],
    ['GET', '/api/v1/jobs'],
    ['GET', '/api/v1/jobs/nb-a'],
    ['PUT', '/api/v1/jobs/nb-a', { upstream: up.url }],
    ['DELETE', '/api/v1/jobs/nb-a'],
    ['GET', '/api/v1/events'],
    ['GET', '/api/v1/openapi.json'],
    ['GET', '/api/v1/nothing'],
  ];
  for (const [method, path, body] of routes) {
    const reply = await control({ method, path, body, token: reader.value });
    t.equal(reply.status, 403, `${method} ${path}: 403`);
    t.equal(reply.json().error, 'insufficient_scope');
  }
  t.equal(await snapshot(), before, 'nothing written');
});
