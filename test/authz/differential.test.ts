import { join } from 'node:path';
import t from 'tap';
import { JOB_DOMAIN, startHarness, type Harness } from '../helpers/jobgate.js';
import { Nginx, renderExample, sendRaw, type RawReply } from '../helpers/nginx.js';
import { RedisServer } from '../helpers/redis.js';
import { Upstream } from '../helpers/upstream.js';

/**
 * One corpus of hostile requests, sent as raw bytes both to jobgate's inline proxy and to a real
 * nginx running deploy/nginx/jobgate.conf in front of jobgate's decision endpoint, over the same
 * Redis, jobs and upstreams: both must take the same decision every time. A decision is which
 * upstream received the request, a refusal (any 4xx/5xx, or a closed connection, with nothing
 * upstream: nginx's own 400 and jobgate's are the same decision), or one of jobgate's own answers
 * (a deep link's 303, a jobgate page).
 */

const API = 'api.test';
const COOKIE_SECRET = 'differential-test-cookie-secret-0123456789';

let redis: RedisServer;
let inline: Harness;
let edge: Harness;
let nginx: Nginx;
const upstreams: Record<string, Upstream> = {};

interface Tokens {
  readonly readA: string;
  readonly readB: string;
  readonly opsA: string;
  readonly ops: string;
}

let tokens: Tokens;

t.before(async () => {
  for (const name of ['nb1', 'nb2', 'pub', 'api']) upstreams[name] = await Upstream.start(name);
  redis = await RedisServer.start();
  const shared = {
    JOBGATE_KEY_PREFIX: 'differential:',
    JOBGATE_API_HOST: API,
    JOBGATE_API_UPSTREAM: upstreams.api!.url,
    JOBGATE_COOKIE_SECRET: COOKIE_SECRET,
    // Every refused credential below comes from 127.0.0.1.
    JOBGATE_AUTH_FAILURE_LIMIT: '100000',
  };
  inline = await startHarness(shared, redis);
  edge = await startHarness({ ...shared, JOBGATE_AUTHZ_LISTEN: '127.0.0.1:0', JOBGATE_TRUSTED_HOPS: '1' }, redis);
  await inline.jobs.put({ id: 'nb1', upstream: upstreams.nb1!.url, labels: { team: 'a' } });
  await inline.jobs.put({ id: 'nb2', upstream: upstreams.nb2!.url, labels: { team: 'b' } });
  await inline.jobs.put({ id: 'pub', upstream: upstreams.pub!.url, unsecureHttp: true });
  tokens = {
    readA: (await inline.tokens.create({ name: 'read-a', role: 'read', labelSelector: 'team=a' })).value,
    readB: (await inline.tokens.create({ name: 'read-b', role: 'read', labelSelector: 'team=b' })).value,
    opsA: (await inline.tokens.create({ name: 'ops-a', role: 'operator', labelSelector: 'team=a' })).value,
    ops: (await inline.tokens.create({ name: 'ops', role: 'operator' })).value,
  };
  const at = (upstream: Upstream) => `127.0.0.1:${upstream.port}`;
  nginx = await Nginx.start((listenPort, dir) =>
    renderExample({
      listenPort,
      accessLog: join(dir, 'access.log'),
      authz: `127.0.0.1:${edge.jobgate.authzAddress!.port}`,
      jobgate: `127.0.0.1:${edge.jobgate.proxyAddress.port}`,
      jobDomain: JOB_DOMAIN,
      apiHost: API,
      apiUpstream: at(upstreams.api!),
      jobs: { nb1: at(upstreams.nb1!), nb2: at(upstreams.nb2!), pub: at(upstreams.pub!) },
    }),
  );
});

t.teardown(async () => {
  await nginx?.stop();
  await inline?.close();
  await edge?.close();
  await redis?.stop();
  for (const upstream of Object.values(upstreams)) await upstream.close();
});

const NB1 = `nb1.${JOB_DOMAIN}`;
const NB2 = `nb2.${JOB_DOMAIN}`;
const PUB = `pub.${JOB_DOMAIN}`;

/** A request of the corpus: its request line, header lines and body, as raw as they are sent. */
interface Case {
  readonly what: string;
  readonly line: string;
  readonly headers: readonly string[];
  readonly body?: string;
  /** The decision both must take, where the corpus pins it. */
  readonly expected?: string;
}

const get = (what: string, line: string, headers: readonly string[], expected?: string): Case => ({ what, line, headers, expected });

function corpus({ readA, readB, opsA, ops }: Tokens): Case[] {
  const bearer = (value: string) => `Authorization: Bearer ${value}`;
  const smuggled = `GET /smuggled HTTP/1.1\r\nHost: ${NB1}\r\nX-Case: smuggled\r\n\r\n`;
  const websocket = ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13'];
  return [
    // What passes and what does not, plainly: the decision table both must share.
    get('a token in scope', 'GET /lab HTTP/1.1', [`Host: ${NB1}`, bearer(readA)], 'upstream nb1'),
    get('no token', 'GET /lab HTTP/1.1', [`Host: ${NB1}`], 'refused'),
    get('a token out of scope', 'GET /lab HTTP/1.1', [`Host: ${NB2}`, bearer(readA)], 'refused'),
    get('an unsecureHttp job', 'GET / HTTP/1.1', [`Host: ${PUB}`], 'upstream pub'),
    get('the API, an operator', 'GET /v1/job/nb1/log HTTP/1.1', [`Host: ${API}`, bearer(ops)], 'upstream api'),
    get('the API, a read token', 'GET /v1/job/nb1/log HTTP/1.1', [`Host: ${API}`, bearer(readA)], 'refused'),
    get('an unknown job', 'GET / HTTP/1.1', [`Host: nope.${JOB_DOMAIN}`, bearer(ops)], 'refused'),
    get('a host outside the job domain', 'GET / HTTP/1.1', ['Host: evil.test', bearer(ops)], 'refused'),

    // Absolute-form targets (RFC 9112 3.2.2): an edge routes on the request line's host.
    get('absolute-form: a secured job, an unsecureHttp one in Host', `GET http://${NB1}/private HTTP/1.1`, [`Host: ${PUB}`], 'refused'),
    get('absolute-form: a team=a job, a team=b token and job in Host', `GET http://${NB1}/private HTTP/1.1`, [`Host: ${NB2}`, bearer(readB)], 'refused'),
    get('absolute-form: an unsecureHttp job, a secured one in Host', `GET http://${PUB}/ HTTP/1.1`, [`Host: ${NB1}`], 'refused'),
    get('absolute-form: the API, a job in Host', `GET http://${API}/v1/token HTTP/1.1`, [`Host: ${NB1}`, bearer(opsA)], 'refused'),
    get('absolute-form: a job, the API in Host', `POST http://${PUB}/v1/job/nb1/kill HTTP/1.1`, [`Host: ${API}`, bearer(ops), 'Content-Length: 0'], 'refused'),
    get(
      'absolute-form: a read token on the API, a job in Host',
      `POST http://${API}/v1/job/nb1/kill HTTP/1.1`,
      [`Host: ${PUB}`, bearer(readB), 'Content-Length: 0'],
      'refused',
    ),
    get('absolute-form naming Host', `GET http://${NB1}/lab?x=1 HTTP/1.1`, [`Host: ${NB1}`, bearer(readA)], 'upstream nb1'),
    get(
      'absolute-form naming Host, case, port and trailing dot aside',
      `GET http://NB1.Job.Test:81/lab HTTP/1.1`,
      [`Host: ${NB1}.:8080`, bearer(readA)],
      'upstream nb1',
    ),
    get('absolute-form https', `GET https://${NB1}/lab HTTP/1.1`, [`Host: ${NB1}`, bearer(readA)], 'upstream nb1'),
    get('absolute-form on the API host', `GET http://${API}/v1/job/nb1/log HTTP/1.1`, [`Host: ${API}`, bearer(ops)], 'upstream api'),
    get('absolute-form with userinfo', `GET http://x@${NB1}/ HTTP/1.1`, [`Host: ${NB1}`, bearer(readA)], 'refused'),
    get('absolute-form without a path', `GET http://${NB1} HTTP/1.1`, [`Host: ${NB1}`, bearer(readA)]),
    get('absolute-form to a jobgate page', `GET http://${NB1}/__jobgate/logout HTTP/1.1`, [`Host: ${NB1}`], 'jobgate 200'),
    get('absolute-form deep link', `GET http://${NB1}/lab?jobgate_token=${readA} HTTP/1.1`, [`Host: ${NB1}`], 'jobgate 303'),
    get('absolute-form, HTTP/1.0 without Host', `GET http://${NB1}/lab HTTP/1.0`, [bearer(readA)], 'upstream nb1'),
    get('absolute-form, HTTP/1.0 without Host, no token', `GET http://${NB1}/lab HTTP/1.0`, [], 'refused'),
    get('asterisk-form', 'OPTIONS * HTTP/1.1', [`Host: ${NB1}`, bearer(readA)], 'refused'),
    get('authority-form', `CONNECT ${NB1}:80 HTTP/1.1`, [`Host: ${NB1}`, bearer(readA)], 'refused'),
    {
      what: 'absolute-form WebSocket, another job in Host',
      line: `GET http://${NB1}/ws HTTP/1.1`,
      headers: [`Host: ${PUB}`, ...websocket],
      expected: 'refused',
    },
    {
      what: 'absolute-form WebSocket naming Host',
      line: `GET http://${NB1}/ws HTTP/1.1`,
      headers: [`Host: ${NB1}`, bearer(readA), ...websocket],
      expected: 'upstream nb1',
    },

    // Host headers.
    get('two Host headers', 'GET / HTTP/1.1', [`Host: ${PUB}`, `Host: ${NB1}`], 'refused'),
    get('two Host headers, a token for the second', 'GET / HTTP/1.1', [`Host: ${NB2}`, `Host: ${NB1}`, bearer(readA)], 'refused'),
    get('two equal Host headers', 'GET / HTTP/1.1', [`Host: ${NB1}`, `Host: ${NB1}`, bearer(readA)], 'refused'),
    get('two Host headers in other cases', 'GET / HTTP/1.1', [`host: ${PUB}`, `HOST: ${NB1}`], 'refused'),
    get('no Host header', 'GET / HTTP/1.1', [bearer(readA)], 'refused'),
    get('HTTP/1.0 without Host', 'GET / HTTP/1.0', [bearer(readA)], 'refused'),
    get('Host with userinfo', 'GET / HTTP/1.1', [`Host: x@${NB1}`, bearer(readA)], 'refused'),
    get('Host listing two hosts', 'GET / HTTP/1.1', [`Host: ${NB1}, ${PUB}`, bearer(readA)], 'refused'),
    get('Host with a path', 'GET / HTTP/1.1', [`Host: ${PUB}/x`, bearer(readA)], 'refused'),
    get('Host in capitals with a port', 'GET /lab HTTP/1.1', [`Host: NB1.JOB.TEST:1234`, bearer(readA)], 'upstream nb1'),
    get('Host with a trailing dot', 'GET /lab HTTP/1.1', [`Host: ${NB1}.`, bearer(readA)], 'upstream nb1'),
    get('header names in other cases', 'GET /lab HTTP/1.1', [`hOsT: ${NB1}`, `AUTHORIZATION: Bearer ${readA}`], 'upstream nb1'),
    get('space before the colon of Host', 'GET / HTTP/1.1', [`Host : ${PUB}`, `Host: ${NB1}`, bearer(readA)], 'refused'),

    // Credentials.
    get('two Authorization headers', 'GET /lab HTTP/1.1', [`Host: ${NB1}`, bearer(readA), bearer(readA)], 'refused'),
    get(
      'two Authorization headers, one of another scheme',
      'GET /lab HTTP/1.1',
      [`Host: ${NB1}`, 'Authorization: Basic dXNlcjpwYXNz', bearer(readA)],
      'refused',
    ),
    get(
      'two Authorization headers in other cases',
      'GET /lab HTTP/1.1',
      [`Host: ${NB1}`, `authorization: Bearer ${readB}`, `AUTHORIZATION: Bearer ${readA}`],
      'refused',
    ),
    get('space before the colon of Authorization', 'GET /lab HTTP/1.1', [`Host: ${NB1}`, `Authorization : Bearer ${readA}`], 'refused'),
    get('a tab after Bearer', 'GET /lab HTTP/1.1', [`Host: ${NB1}`, `Authorization: Bearer\t${readA}`], 'refused'),
    get('obs-fold in Authorization', 'GET /lab HTTP/1.1', [`Host: ${NB1}`, 'Authorization: Bearer', ` ${readA}`], 'refused'),
    get('obs-fold in Host', 'GET / HTTP/1.1', [`Host: ${PUB}`, ` ${NB1}`, bearer(readA)], 'refused'),
    get('obs-fold in another header', 'GET /lab HTTP/1.1', [`Host: ${NB1}`, 'X-Note: a', ' b', bearer(readA)]),

    // Framing: smuggling attempts.
    {
      what: 'Content-Length and Transfer-Encoding',
      line: 'POST /x HTTP/1.1',
      headers: [`Host: ${PUB}`, 'Content-Length: 4', 'Transfer-Encoding: chunked'],
      body: `0\r\n\r\n${smuggled}`,
      expected: 'refused',
    },
    {
      what: 'Transfer-Encoding and Content-Length',
      line: 'POST /x HTTP/1.1',
      headers: [`Host: ${PUB}`, 'Transfer-Encoding: chunked', `Content-Length: ${5 + smuggled.length}`],
      body: `0\r\n\r\n${smuggled}`,
      expected: 'refused',
    },
    {
      what: 'two Content-Length headers',
      line: 'POST /x HTTP/1.1',
      headers: [`Host: ${PUB}`, 'Content-Length: 0', `Content-Length: ${smuggled.length}`],
      body: smuggled,
      expected: 'refused',
    },
    {
      what: 'Transfer-Encoding: chunked, identity',
      line: 'POST /x HTTP/1.1',
      headers: [`Host: ${PUB}`, 'Transfer-Encoding: chunked, identity'],
      body: `0\r\n\r\n${smuggled}`,
      expected: 'refused',
    },
    {
      what: 'Transfer-Encoding: xchunked',
      line: 'POST /x HTTP/1.1',
      headers: [`Host: ${PUB}`, 'Transfer-Encoding: xchunked'],
      body: `0\r\n\r\n${smuggled}`,
      expected: 'refused',
    },
    {
      what: 'Transfer-Encoding in HTTP/1.0',
      line: 'POST /x HTTP/1.0',
      headers: [`Host: ${PUB}`, 'Transfer-Encoding: chunked'],
      body: `0\r\n\r\n${smuggled}`,
      expected: 'refused',
    },
    {
      what: 'space before the colon of Transfer-Encoding',
      line: 'POST /x HTTP/1.1',
      headers: [`Host: ${PUB}`, 'Transfer-Encoding : chunked', 'Content-Length: 5'],
      body: '0\r\n\r\n',
      expected: 'refused',
    },
    { what: 'a negative Content-Length', line: 'POST /x HTTP/1.1', headers: [`Host: ${PUB}`, 'Content-Length: -1'], body: smuggled, expected: 'refused' },
    {
      what: 'a chunked body',
      line: 'POST /x HTTP/1.1',
      headers: [`Host: ${PUB}`, 'Transfer-Encoding: chunked'],
      body: '3\r\nabc\r\n0\r\n\r\n',
      expected: 'upstream pub',
    },
    { what: 'a bare LF line ending', line: 'GET / HTTP/1.1', headers: [`Host: ${PUB}\nHost: ${NB1}`, bearer(readA)], expected: 'refused' },

    // Request lines and paths.
    get('a lowercase method', 'get /lab HTTP/1.1', [`Host: ${NB1}`, bearer(readA)], 'refused'),
    get('HTTP/2.0 in an HTTP/1 request line', 'GET /lab HTTP/2.0', [`Host: ${NB1}`, bearer(readA)], 'refused'),
    get('a space in the path', 'GET /a b HTTP/1.1', [`Host: ${NB1}`, bearer(readA)], 'refused'),
    get('// at the start', 'GET //lab HTTP/1.1', [`Host: ${NB1}`, bearer(readA)], 'upstream nb1'),
    get('/.. above the root', 'GET /../lab HTTP/1.1', [`Host: ${NB1}`, bearer(readA)]),
    get('/a/../../ above the root', 'GET /a/../../lab HTTP/1.1', [`Host: ${NB1}`, bearer(readA)]),
    get('/.. inside the path', 'GET /a/../lab HTTP/1.1', [`Host: ${NB1}`, bearer(readA)], 'upstream nb1'),
    get('%2e%2e above the root', 'GET /%2e%2e/lab HTTP/1.1', [`Host: ${NB1}`, bearer(readA)]),
    get('%2E%2E/ above the root, no token', 'GET /%2E%2E/lab HTTP/1.1', [`Host: ${NB1}`], 'refused'),
    get('a backslash', 'GET /a\\..\\..\\lab HTTP/1.1', [`Host: ${NB1}`, bearer(readA)]),
    get('%00 in the path', 'GET /lab%00 HTTP/1.1', [`Host: ${NB1}`, bearer(readA)]),
    get('a fragment', 'GET /lab#x HTTP/1.1', [`Host: ${NB1}`, bearer(readA)]),
    get('the API: %2e%2e', 'GET /v1/job/nb1/%2e%2e/%2e%2e/token HTTP/1.1', [`Host: ${API}`, bearer(opsA)], 'refused'),
    get('the API: //', 'GET //v1/token HTTP/1.1', [`Host: ${API}`, bearer(opsA)], 'refused'),
    get('the API: a backslash', 'GET /v1/job/nb1\\..\\..\\token HTTP/1.1', [`Host: ${API}`, bearer(opsA)], 'refused'),
    get('jobgate pages with dot segments', 'GET /lab/../__jobgate/jwks.json HTTP/1.1', [`Host: ${NB1}`, bearer(readA)]),
    get('a deep link, no token in scope', `GET /lab?jobgate_token=${readB} HTTP/1.1`, [`Host: ${NB1}`], 'jobgate 303'),
  ];
}

/** Which upstreams received a request carrying `tag`. */
function receivers(tag: string): string[] {
  return Object.values(upstreams)
    .filter((upstream) => upstream.received.some((received) => received.headers['x-case'] === tag))
    .map((upstream) => upstream.name);
}

/** The class of outcome: the upstreams that received it, a refusal, or jobgate's own answer. */
function decision(reply: RawReply, reached: string[]): string {
  if (reached.length > 0) return `upstream ${reached.join(',')}`;
  if (reply.status === 0 || reply.status >= 400) return 'refused';
  return `jobgate ${reply.status}`;
}

/** The case's bytes with `X-Case: <tag>` as its first header, so that what an upstream received can be traced. */
function bytes(sent: Case, tag: string): string {
  return `${sent.line}\r\nX-Case: ${tag}\r\n${[...sent.headers, 'Connection: close'].join('\r\n')}\r\n\r\n${sent.body ?? ''}`;
}

t.test('the inline proxy and nginx with the shipped config take the same decision on every hostile request', async (t) => {
  const cases = corpus(tokens);
  const outcomes: Array<{ sent: Case; inline: RawReply; viaNginx: RawReply }> = [];
  for (const [index, sent] of cases.entries()) {
    const direct = await sendRaw(Number(new URL(inline.url).port), bytes(sent, `${index}-inline`));
    const proxied = await sendRaw(nginx.port, bytes(sent, `${index}-nginx`));
    outcomes.push({ sent, inline: direct, viaNginx: proxied });
  }
  // Decided once every answer is in: a request smuggled behind another would have arrived by now.
  for (const [index, { sent, inline: direct, viaNginx }] of outcomes.entries()) {
    const inlineDecision = decision(direct, receivers(`${index}-inline`));
    const nginxDecision = decision(viaNginx, receivers(`${index}-nginx`));
    t.equal(nginxDecision, inlineDecision, `${sent.what}: the same decision (inline ${direct.status}, nginx ${viaNginx.status})`);
    if (sent.expected !== undefined) t.equal(inlineDecision, sent.expected, `${sent.what}: ${sent.expected}`);
  }
  for (const upstream of Object.values(upstreams)) {
    const untraced = upstream.received.filter((received) => !/^\d+-(inline|nginx)$/.test(String(received.headers['x-case'])));
    t.same(
      untraced.map((received) => `${received.method} ${received.url}`),
      [],
      `${upstream.name}: nothing reached it but the corpus' own requests (no smuggled one)`,
    );
  }
});
