import { connect } from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { bearer, request } from '../helpers/http.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

let h: Harness;
let upstream: Upstream;
let auth: Record<string, string>;
let token: string;

t.before(async () => {
  upstream = await Upstream.start('pathjob');
  h = await startHarness();
  await h.jobs.put({ id: 'pathjob', upstream: `${upstream.url}/jobs/pathjob/` });
  await h.jobs.put({ id: 'rootjob', upstream: upstream.url });
  token = (await h.tokens.create({ name: 'reader', role: 'read' })).value;
  auth = bearer(token);
});

t.teardown(async () => {
  await h?.close();
  await upstream?.close();
});

const get = (path: string, host = 'pathjob.job.test') => request(h.url, { host, path, headers: auth });

/** One raw HTTP/1.1 request (for targets node:http will not send), answered with its status. */
function raw(target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(h.jobgate.proxyAddress.port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(data.slice(9, 12))));
    socket.end(`GET ${target} HTTP/1.1\r\nHost: pathjob.job.test\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
  });
}

const ESCAPES = [
  '/../other/secret',
  '/%2e%2e/other/secret',
  '/%2E%2e/other/secret',
  '/.%2e/other/secret',
  '/%2e./other/secret',
  '/a/../../other/secret',
  '/./x',
  '/..\\other\\secret',
  '/\\..\\other',
  '/..%5cother%5csecret',
  '/a%5c..%5c..%5cother',
  '/a%2f..%2f..%2fother',
  '/..;/other/secret',
  '/%2e%2e;x=1/other',
  '/%252e%252e/other/secret',
  '/..%00/other',
  '/..%20/other',
  '/...',
  '/..',
];

t.test('dot segments in any spelling are refused before they reach an upstream with a base path', async (t) => {
  const before = upstream.received.length;
  for (const path of ESCAPES) {
    const reply = await get(path);
    t.equal(reply.status, 400, path);
    // A path that climbs above "/" is refused earlier, by the root check every job gets (routing/target.ts).
    if (reply.json().error === 'bad_request') t.match(reply.json().message, /climbs above the root|encoded NUL/, path);
    else t.match(reply.json(), { error: 'invalid_request', message: /could leave the job's base path/ }, path);
  }
  for (const path of ['/..\\other', '/a%5c..%5c..%5cother', '/..;/other', '/%252e%252e/other', '/...', '/./x']) {
    t.equal((await get(path)).json().error, 'invalid_request', `${path}: only the base-path check sees it`);
  }
  t.equal(await raw('http://pathjob.job.test/%2e%2e/other/secret'), 400, 'absolute-form target');
  t.equal(await raw('http://pathjob.job.test/a/..%5c..%5cother'), 400, 'absolute-form target with encoded backslashes');
  t.equal(upstream.received.length, before, 'the upstream received none of them');
});

t.test('paths without dot segments reach the upstream under its base path, unchanged', async (t) => {
  for (const path of ['/ok/file.txt', '/a/.hidden', '/a/..b', '/a/b..', '/%2e%2ehidden', '/x?next=/../../y', '/a%20b/c.d.e', '/']) {
    const reply = await get(path);
    t.equal(reply.status, 200, path);
    t.equal(upstream.last.url, `/jobs/pathjob${path}`, path);
  }
  t.equal((await get('/a/b', 'rootjob.job.test')).status, 200);
  t.equal(upstream.last.url, '/a/b', 'a job without a base path is forwarded as before');
});

t.test('a WebSocket with a dot segment is refused too', async (t) => {
  const open = (path: string) =>
    new Promise<number>((resolve) => {
      const socket = new WebSocket(`ws://127.0.0.1:${h.jobgate.proxyAddress.port}${path}`, { headers: { host: 'pathjob.job.test', ...auth } });
      socket.once('open', () => {
        socket.close();
        resolve(101);
      });
      socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.once('error', () => undefined);
    });
  const before = upstream.received.length;
  // (The ws client resolves "/%2e%2e/" itself, by WHATWG URL rules: the tricks it sends as they are.)
  t.equal(await open('/a%5c%2e%2e%5c..%5cother'), 400);
  t.equal(await open('/..%5cother'), 400);
  t.equal(upstream.received.length, before, 'nothing reached the upstream');
  t.equal(await open('/socket'), 101);
  t.equal(upstream.last.url, '/jobs/pathjob/socket');
});
