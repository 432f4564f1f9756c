import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { bearer, postWholeBody, request, type Reply } from '../helpers/http.js';
import { metricSample, startHarness, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';
import { eventually, nextEvent, within } from '../helpers/wait.js';

const API = 'api.test';

let h: Harness;
let api: Upstream;
let job: Upstream;
const tokens: Record<string, string> = {};

t.before(async () => {
  api = await Upstream.start('api');
  job = await Upstream.start('job');
  h = await startHarness({
    JOBGATE_API_HOST: `${API},API2.test`,
    JOBGATE_API_UPSTREAM: api.url,
    JOBGATE_API_MAX_BODY_BYTES: '2048',
    JOBGATE_API_RULES: JSON.stringify([
      { method: 'POST', path: '/v1/job/{id}/exec', role: 'operator', scope: 'deny-scoped' },
      { method: 'DELETE', path: '/v1/job/{id}', role: 'operator', scope: 'unscoped-only' },
    ]),
  });
  await h.jobs.put({ id: 'nb1', upstream: job.url, labels: { team: 'a' } });
  await h.jobs.put({ id: 'nb2', upstream: job.url, labels: { team: 'b' } });
  for (const [name, role, labelSelector] of [
    ['read', 'read', ''],
    ['operator', 'operator', ''],
    ['scoped', 'operator', 'team=a'],
    ['strict', 'operator', 'team=a,gpu!=true'],
  ] as const) {
    tokens[name] = (await h.tokens.create({ name, role, labelSelector })).value;
  }
});

t.teardown(async () => {
  await h?.close();
  await api?.close();
  await job?.close();
});

const call = (who: keyof typeof tokens | undefined, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> =>
  request(h.url, {
    host: API,
    method,
    path,
    body,
    headers: { ...(who ? bearer(tokens[who]!) : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
  });

t.test('roles: read tokens only reach job URLs; operator tokens reach the API', async (t) => {
  const before = api.received.length;
  const read = await call('read', 'GET', '/v1/job');
  t.equal(read.status, 403);
  t.equal(read.json().error, 'insufficient_scope');
  t.match(read.json().message, /Read tokens only reach job URLs/);
  t.match(read.headers['www-authenticate'], /error="insufficient_scope"/);
  t.equal((await call(undefined, 'GET', '/v1/job')).status, 401);
  t.equal(api.received.length, before, 'nothing reached the API');

  const ok = await call('operator', 'GET', '/v1/job?page=2');
  t.equal(ok.status, 200);
  t.equal(api.last.url, '/v1/job?page=2', 'an unscoped operator passes unchanged');
  t.equal(api.last.headers.authorization, undefined);
  t.equal(api.last.headers['x-jobgate-role'], 'operator');
  t.equal(api.last.headers['x-jobgate-token-name'], 'operator');
  t.equal(
    (await request(h.url, { host: 'api2.test:443', path: '/v1/job', headers: bearer(tokens.operator!) })).status,
    200,
    'every API host, any case, port ignored',
  );
});

t.test('path tricks are refused before any rule', async (t) => {
  for (const path of ['/v1/job/nb1/../nb2', '/v1/./job', '/v1//job', '/v1/job/%2e%2e', '/v1/job/nb1%2Fkill', '/v1/job/nb1%5ckill', '/v1/job/%2E']) {
    const reply = await call('scoped', 'GET', path);
    t.equal(reply.status, 400, path);
    t.equal((await call(undefined, 'GET', path)).status, 400, `${path} without a token`);
  }
});

/**
 * Job lookups jobgate has made, as its /metrics counts them: answered by its cache (hits) or by
 * Redis (misses). Counted at the cache, not in Redis, because a lookup answered by the negative
 * cache (an unknown job asked about before) never reaches Redis.
 */
async function jobLookups(): Promise<number> {
  const text = (await request(h.adminUrl, { path: '/metrics' })).body;
  const hits = metricSample(text, 'jobgate_cache_hits_total', 'cache="jobs"');
  const misses = metricSample(text, 'jobgate_cache_misses_total', 'cache="jobs"');
  if (hits === undefined || misses === undefined) throw new Error(`/metrics has no job cache counters:\n${text}`);
  return hits + misses;
}

t.test('a scoped operator reaches only the jobs its selector matches', async (t) => {
  t.equal((await call('scoped', 'GET', '/v1/job/nb1')).status, 200);
  t.equal((await call('scoped', 'PUT', '/v1/job/nb1/kill')).status, 200);
  t.equal(api.last.url, '/v1/job/nb1/kill');
  const other = await call('scoped', 'PUT', '/v1/job/nb2/kill');
  t.equal(other.status, 403);
  t.equal(other.json().error, 'insufficient_scope');
  let lookups = await jobLookups();
  t.equal((await call('scoped', 'GET', '/v1/job/ghost')).status, 404);
  t.equal(await jobLookups(), lookups + 1, 'a scoped token: the job is looked up (and counted)');
  lookups = await jobLookups();
  t.equal((await call('operator', 'GET', '/v1/job/ghost')).status, 200, 'unscoped tokens are forwarded');
  t.equal(await jobLookups(), lookups, 'without a registry lookup: the job lookup counters did not move');
  t.equal((await call('scoped', 'POST', '/v1/job/nb1/exec', '{}')).status, 403, 'a configured rule tightens a path');
  t.equal((await call('operator', 'POST', '/v1/job/nb1/exec', '{}')).status, 200);
  t.equal((await call('scoped', 'GET', '/v2/anything')).status, 403, 'unknown paths deny scoped tokens');
  t.equal((await call('operator', 'GET', '/v2/anything')).status, 200, 'and let unscoped operators through');
});

t.test('creating a job with a scoped token labels it into scope', async (t) => {
  const created = await call('scoped', 'POST', '/v1/job', JSON.stringify({ image: 'ubuntu', labels: { owner: 'me' } }));
  t.equal(created.status, 200);
  const sent = JSON.parse(api.last.body) as { image: string; labels: Record<string, string> };
  t.same(sent, { image: 'ubuntu', labels: { owner: 'me', team: 'a' } });
  t.equal(api.last.headers['content-length'], String(Buffer.byteLength(api.last.body)), 'Content-Length recomputed');
  await call('scoped', 'POST', '/v1/job', JSON.stringify({ image: 'x' }));
  t.same((JSON.parse(api.last.body) as { labels: Record<string, string> }).labels, { team: 'a' }, 'a missing labels map is created');

  const contradicting = await call('scoped', 'POST', '/v1/job', JSON.stringify({ labels: { team: 'b' } }));
  t.equal(contradicting.status, 403, 'a label contradicting the selector is refused, not overwritten');
  t.equal((await call('strict', 'POST', '/v1/job', JSON.stringify({ labels: { gpu: 'true' } }))).status, 403, 'a != requirement still unmet');
  t.equal((await call('scoped', 'POST', '/v1/job', '{not json')).status, 400);
  t.equal((await call('scoped', 'POST', '/v1/job', JSON.stringify({ labels: ['team=a'] }))).status, 400, 'labels not an object');
  t.equal((await call('scoped', 'POST', '/v1/job', '{}', { 'content-type': 'text/plain' })).status, 415);
  t.equal((await call('scoped', 'POST', '/v1/job', JSON.stringify({ pad: 'x'.repeat(4000) }))).status, 413);

  // A chunked body (no Content-Length) is read, checked and forwarded with one.
  const chunked = await within(
    new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: h.jobgate.proxyAddress.port,
          method: 'POST',
          path: '/v1/job',
          headers: { host: API, ...bearer(tokens.scoped!), 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write('{"image":');
      req.end('"chunked"}');
    }),
    'the answer to a chunked job creation',
  );
  t.equal(chunked, 200);
  t.same(JSON.parse(api.last.body), { image: 'chunked', labels: { team: 'a' } });
  t.equal(api.last.headers['transfer-encoding'], undefined);
  t.equal(api.last.headers['content-length'], String(Buffer.byteLength(api.last.body)));
});

t.test('listing jobs with a scoped token ANDs the selector', async (t) => {
  await call('scoped', 'GET', '/v1/job?page=1&size=10');
  t.equal(api.last.url, '/v1/job?page=1&size=10&labelSelector=team%3Da');
  await call('scoped', 'GET', '/v1/job?labelSelector=gpu%3Dtrue&page=1');
  const params = new URL(`http://x${api.last.url}`).searchParams;
  t.equal(params.get('labelSelector'), 'team=a,gpu=true');
  t.equal(params.get('page'), '1');
  t.equal((await call('scoped', 'GET', '/v1/job?labelSelector=a%20in%20(b')).status, 400, "the client's selector must parse");
});

t.test('a repeated or case-variant key cannot widen a scoped job creation, label change or list', async (t) => {
  const before = api.received.length;
  for (const body of [
    '{"labels":{"team":"a"},"Labels":{"team":"b"}}',
    '{"Labels":{"team":"b"}}',
    '{"labelſ":{"team":"b"}}',
    '{"label\\u017f":{"team":"b"}}',
    '{"labels":{"team":"b"},"labels":{"team":"a"}}',
    '{"labels":{"team":"a","Team":"b"}}',
    '{"labels":{"team":"a","team":"b"}}',
  ]) {
    const reply = await call('scoped', 'POST', '/v1/job', body);
    t.equal(reply.status, 400, body);
    t.match(reply.json().message, /appears more than once|only in letter case/, body);
  }
  const relabel = await call('scoped', 'PUT', '/v1/job/nb1/label', '{"name":"owner","value":"me","NAME":"team"}');
  t.equal(relabel.status, 400);
  t.equal((await call('scoped', 'PUT', '/v1/job/nb1/label', '{"name":"team","value":"a","value":"b"}')).status, 400);
  for (const query of [
    'labelSelector[]=team%3Db',
    'labelSelector%5B%5D=team%3Db',
    'label%C5%BFelector=team%3Db',
    'LABELSELECTOR=team%3Db',
    'labelselector=team%3Db&labelSelector=gpu%3Dtrue',
  ]) {
    const reply = await call('scoped', 'GET', `/v1/job?${query}`);
    t.equal(reply.status, 400, query);
    t.match(reply.json().message, /could be read as labelSelector/, query);
  }
  t.equal(api.received.length, before, 'nothing reached the API');

  const exact = '{ "image" : "x", "labels": {"team":"a", "owner":"me"}, "gpus": 1.0, "seed": 12345678901234567890 }';
  t.equal((await call('scoped', 'POST', '/v1/job', exact)).status, 200);
  t.equal(api.last.body, exact, 'a body with nothing to add reaches the API byte for byte');
  t.equal((await call('scoped', 'POST', '/v1/job', '{"gpus": 1.0, "labels": {}}')).status, 200);
  t.equal(api.last.body, '{"gpus": 1.0, "labels": {"team":"a"}}', 'only the missing labels are inserted');
});

t.test('relabelling must not move a job out of scope', async (t) => {
  t.equal((await call('scoped', 'PUT', '/v1/job/nb1/label', JSON.stringify({ name: 'owner', value: 'me' }))).status, 200);
  t.equal((await call('scoped', 'PUT', '/v1/job/nb1/label', JSON.stringify({ name: 'team', value: 'b' }))).status, 403);
  t.equal((await call('operator', 'PUT', '/v1/job/nb1/label', JSON.stringify({ name: 'team', value: 'b' }))).status, 200, 'unscoped operators may');
});

t.test('a path spelled as a lenient upstream still routes it is decided like the canonical path, never by the generic job rule', async (t) => {
  const moveToB = JSON.stringify({ name: 'team', value: 'b' });
  const refused = async (method: string, path: string, body?: string) => {
    const before = api.received.length;
    const reply = await call('scoped', method, path, body);
    t.ok(reply.status === 403 || reply.status === 400, `${method} ${path}: ${reply.status}`);
    t.equal(api.received.length, before, `${method} ${path} did not reach the API`);
  };
  t.equal((await call('scoped', 'PUT', '/v1/job/nb1/label', moveToB)).status, 403, 'the canonical path');
  // Express and ASP.NET Core ignore case; Spring and Rails a format suffix; Java trim() spaces;
  // every framework decodes %61; NFKC and case folds map ｌ, K (KELVIN) and ſ to ASCII.
  for (const path of [
    '/v1/job/nb1/LABEL',
    '/v1/job/nb1/Label',
    '/v1/job/nb1/l%61bel',
    '/v1/job/nb1/%4C%41%42%45%4C',
    '/v1/job/nb1/label.json',
    '/v1/job/nb1/label%3Bx=1',
    '/v1/job/nb1/label:set',
    '/v1/job/nb1/label%20',
    '/v1/job/nb1/label+',
    '/v1/job/nb1/%EF%BD%8Cabel',
    // Refused as paths before any rule: trailing slash, empty segment, ;matrix, encoded dot.
    '/v1/job/nb1/label/',
    '/v1/job//nb1/label',
    '/v1/job/nb1/label;x',
    '/v1/job/nb1/label%2Ejson',
  ]) {
    await refused('PUT', path, moveToB);
  }
  for (const path of ['/v1/job/nb1/Label/team', '/v1/job/nb1/LABEL/team', '/v1/job/nb1/label.json/team', '/v1/job/nb1/l%61bel/team']) {
    await refused('DELETE', path);
  }
  for (const path of ['/v1/TOKEN', '/v1/Token', '/v1/to%E2%84%AAen', '/v1/token.json'])
    await refused('POST', path, JSON.stringify({ name: 'wider', role: 'operator' }));
  await refused('PUT', '/v1/Token/abc/renew');
  await refused('DELETE', '/v1/job/NB1', undefined);

  const allowed = await call('scoped', 'PUT', '/v1/job/nb1/LABEL', JSON.stringify({ name: 'owner', value: 'me' }));
  t.equal(allowed.status, 200, 'a variant within scope is checked like the canonical path, then forwarded');
  t.equal(api.last.url, '/v1/job/nb1/LABEL', 'as sent');
  t.equal((await call('scoped', 'GET', '/v1/job/nb1/LABEL/team')).status, 200, 'reading labels stays open');
  t.equal((await call('operator', 'DELETE', '/v1/job/nb1/Label/team')).status, 200, 'unscoped operators are forwarded as before');
  t.equal(api.last.url, '/v1/job/nb1/Label/team');
});

t.test('the job id is checked as the upstream reads it: a case variant is not the registered job', async (t) => {
  const before = api.received.length;
  for (const path of ['/v1/job/NB1/kill', '/v1/job/Nb1/log', '/v1/job/nb1.json/kill', '/v1/job/nb1%20/kill', '/v1/job/%EF%BD%8Eb1/kill']) {
    const reply = await call('scoped', 'PUT', path);
    t.equal(reply.status, 404, path);
    t.equal(reply.json().error, 'not_found', path);
  }
  t.equal(api.received.length, before, 'nothing reached the API');
  t.equal((await call('scoped', 'PUT', '/v1/job/n%62%31/kill')).status, 200, 'an encoded id is the job it decodes to');
});

t.test('a method override cannot change the method jobgate decided on', async (t) => {
  // A scoped token may POST to its job; DELETE /v1/job/{id} is configured unscoped-only.
  t.equal((await call('scoped', 'DELETE', '/v1/job/nb1')).status, 403);
  const overrides = {
    'X-HTTP-Method-Override': 'DELETE',
    'X-HTTP-Method': 'DELETE',
    'X-Method-Override': 'DELETE',
    x_http_method_override: 'DELETE',
    'X-Original-URL': '/v1/token',
    'X-Rewrite-URL': '/v1/token',
  };
  const posted = await call('scoped', 'POST', '/v1/job/nb1/kill', '{}', overrides);
  t.equal(posted.status, 200, 'the POST itself is allowed');
  const names = api.last.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
  for (const name of Object.keys(overrides)) t.notOk(names.includes(name.toLowerCase()), `${name} is not forwarded`);
  t.equal(api.last.method, 'POST');
  t.equal((await call('operator', 'POST', '/v1/job/nb1', '{}', { 'X-HTTP-Method-Override': 'DELETE' })).status, 200);
  t.equal(api.last.headers['x-http-method-override'], undefined, 'nor for unscoped tokens');

  const before = api.received.length;
  for (const query of ['_method=DELETE', 'x=1&_METHOD=delete', '%5Fmethod=DELETE', '.method=DELETE', '_method[]=DELETE']) {
    for (const who of ['scoped', 'operator'] as const) {
      const reply = await call(who, 'POST', `/v1/job/nb1?${query}`, '{}');
      t.equal(reply.status, 400, `${who} ?${query}`);
      t.match(reply.json().message, /"_method"/);
    }
  }
  // Rails, Symfony and Express's method-override read _method from a form POST body, Laravel from JSON too.
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  t.equal((await call('scoped', 'POST', '/v1/job/nb1', '_method=DELETE', form)).status, 403, 'a POST is decided for every method');
  t.equal((await call('scoped', 'POST', '/v1/job/nb1', '--b\r\n', { 'content-type': 'multipart/form-data; boundary=b' })).status, 403);
  t.equal(
    (await request(h.url, { host: API, method: 'POST', path: '/v1/job/nb1', body: '_method=DELETE', headers: bearer(tokens.scoped!) })).status,
    403,
    'no Content-Type',
  );
  t.equal((await call('scoped', 'POST', '/v1/job/nb1', '{"_method":"DELETE"}')).status, 403, 'JSON');
  const create = await call('scoped', 'POST', '/v1/job', '{"_method":"DELETE","labels":{}}');
  t.equal(create.status, 400, 'a job creation, whose body jobgate reads, refuses the key');
  t.match(create.json().message, /another method/);
  t.equal(api.received.length, before, 'nothing reached the API');
  t.equal((await call('scoped', 'POST', '/v1/job/nb1/kill', 'x=1', form)).status, 200, 'a POST where every method is allowed passes');
  t.equal((await call('scoped', 'POST', '/v1/job', '{"labels":{}}')).status, 200, 'and a job creation without it');
  t.equal((await call('operator', 'POST', '/v1/job/nb1', '_method=DELETE', form)).status, 200, 'unscoped operators may');
});

t.test('token management needs an unscoped operator token', async (t) => {
  t.equal((await call('scoped', 'POST', '/v1/token', JSON.stringify({ name: 'wider', role: 'operator' }))).status, 403);
  t.equal((await call('scoped', 'POST', '/v1/token/x/renew')).status, 403);
  t.equal((await call('operator', 'POST', '/v1/token', JSON.stringify({ name: 'x', role: 'read' }))).status, 200);
});

t.test('WebSocket API routes follow the same rules, and are revoked like job URLs', async (t) => {
  const open = (who: string, path: string) =>
    within(
      new Promise<WebSocket | number>((resolve) => {
        const socket = new WebSocket(`ws://127.0.0.1:${h.jobgate.proxyAddress.port}${path}`, { headers: { host: API, ...bearer(tokens[who]!) } });
        socket.once('open', () => resolve(socket));
        socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.once('error', () => undefined);
      }),
      `the ${who} token's WebSocket to ${path} to open or be refused`,
    );
  t.equal(await open('read', '/v1/job/nb1/log?follow=true'), 403);
  t.equal(await open('scoped', '/v1/job/nb2/log?follow=true'), 403);
  const socket = await open('scoped', '/v1/job/nb1/log?follow=true');
  t.type(socket, WebSocket);
  if (!(socket instanceof WebSocket)) return;
  t.equal(api.last.url, '/v1/job/nb1/log?follow=true');
  const closed = nextEvent<[number]>(socket, 'close', 'the WebSocket of the job relabelled out of scope to close');
  await h.jobs.put({ id: 'nb1', upstream: job.url, labels: { team: 'z' } });
  t.equal((await closed)[0], 1008, 'relabelled out of scope: closed');
  await h.jobs.put({ id: 'nb1', upstream: job.url, labels: { team: 'a' } });
  await eventually('the job relabelled back into scope to be reachable again', async () => (await call('scoped', 'GET', '/v1/job/nb1')).status === 200);
});

/**
 * A raw client that declares `total` bytes and keeps writing them (64 KiB at a time, waiting for
 * drain) whatever it receives, until the connection fails: the status line it read and how much
 * it wrote.
 */
function flood(total: number, headers: string): Promise<{ status: number; written: number }> {
  const closed = new Promise<{ status: number; written: number }>((resolve) => {
    const socket = connect(h.jobgate.proxyAddress.port, '127.0.0.1');
    let received = '';
    let written = 0;
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => (received += data));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ status: Number(received.slice(9, 12)), written }));
    socket.write(`POST /v1/job HTTP/1.1\r\nHost: ${API}\r\n${headers}Content-Length: ${total}\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const write = () => {
      while (!socket.destroyed && written < total) {
        written += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', write);
      }
    };
    write();
  });
  return within(closed, `jobgate to close the connection of a ${total}-byte flood`);
}

t.test('a client that writes its whole large body before reading still gets the 413, not a reset', async (t) => {
  const scoped = { ...bearer(tokens.scoped!), 'content-type': 'application/json' };
  const fiveMiB = 5 * 1024 * 1024;
  t.same(await postWholeBody(h.url, API, '/v1/job', fiveMiB, scoped), { status: 413, error: undefined }, 'declared length over the limit');
  t.same(await postWholeBody(h.url, API, '/v1/job', fiveMiB, scoped, true), { status: 413, error: undefined }, 'chunked, over the limit while reading');
  t.same(
    await postWholeBody(h.url, API, '/v1/job', fiveMiB, { ...scoped, 'content-type': 'text/plain' }),
    { status: 415, error: undefined },
    'a body refused unread',
  );
  const form = { origin: 'http://nb1.job.test', 'content-type': 'application/x-www-form-urlencoded' };
  t.same(await postWholeBody(h.url, 'nb1.job.test', '/__jobgate/login', fiveMiB, form), { status: 413, error: undefined }, 'the login form, declared length');
  t.same(await postWholeBody(h.url, 'nb1.job.test', '/__jobgate/login', fiveMiB, form, true), { status: 413, error: undefined }, 'the login form, chunked');

  // Far more than jobgate drains: the answer still comes first, then jobgate stops reading.
  const huge = 1024 * 1024 * 1024;
  const flooded = await flood(huge, `Authorization: Bearer ${tokens.scoped}\r\nContent-Type: application/json\r\n`);
  t.equal(flooded.status, 413);
  t.ok(flooded.written < huge, `jobgate closed the connection after ${flooded.written} bytes instead of reading 1 GiB`);
  t.equal((await call('scoped', 'GET', '/v1/job/nb1')).status, 200, 'jobgate still answers');
});

t.test('an incomplete API configuration stops start-up', async (t) => {
  await t.rejects(startHarness({ JOBGATE_API_HOST: 'api.test' }, h.redisServer), /JOBGATE_API_UPSTREAM: required when JOBGATE_API_HOST is set/);
  await t.rejects(
    startHarness({ JOBGATE_API_RULES: '[{"method":"GET","path":"/x/{id","role":"operator","scope":"job"}]' }, h.redisServer),
    /JOBGATE_API_RULES/,
  );
});
