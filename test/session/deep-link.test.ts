import t from 'tap';
import { request, type Reply } from '../helpers/http.js';
import { startHarness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';
import { rawRequest } from './support.js';

/** Deep links (`?jobgate_token=`) redirect only to the job's own host, inline and at the forward-auth endpoint. */

const up = await Upstream.start('nb');
const h = await startHarness({ JOBGATE_AUTHZ_LISTEN: '127.0.0.1:0' });
t.teardown(async () => {
  await h.close();
  await up.close();
});
await h.jobs.put({ id: 'nb1', upstream: up.url });
const { value } = await h.tokens.create({ name: 'browser', role: 'read' });
const port = h.jobgate.proxyAddress.port;
const HOST = 'nb1.job.test';

/** Where a browser on http://nb1.job.test/ goes with this Location. */
const hostOf = (location: string) => new URL(location, `http://${HOST}/`).host;

const HOSTILE_TARGETS = [
  '//evil.example/',
  '//evil.example/lab',
  '/\\evil.example/',
  '/\\/evil.example/',
  '//user:pw@evil.example/',
  '/%09/evil.example/',
  '/%2f%2fevil.example/',
  '/%5cevil.example/',
  'https://evil.example/',
  'http://evil.example//evil.example/',
  `http://${HOST}:@evil.example/`,
];

t.test('inline: a hostile deep link answers 303 to a path on the job host, with or without a valid token', async (t) => {
  for (const target of HOSTILE_TARGETS) {
    for (const token of ['x', encodeURIComponent(value)]) {
      const reply = await rawRequest(port, `GET ${target}?jobgate_token=${token}&a=1 HTTP/1.1\r\nHost: ${HOST}`);
      const label = `${target} (${token === 'x' ? 'bad' : 'valid'} token)`;
      if (!target.startsWith('/') && reply.status === 400) {
        // An absolute-form target may also be refused outright: then there is no redirect and no session.
        t.same([reply.header('location'), reply.header('set-cookie')], [undefined, undefined], `${label}: refused`);
        continue;
      }
      t.equal(reply.status, 303, label);
      const location = reply.header('location')!;
      t.equal(location.charAt(0), '/', `${label}: a path`);
      t.equal(hostOf(location), HOST, `${label}: stays on the job host (${location})`);
      if (token !== 'x') t.match(reply.header('set-cookie'), /^jobgate=/, `${label}: the session is still opened`);
    }
  }
  const ordinary = await rawRequest(port, `GET /lab/tree?x=1&jobgate_token=${encodeURIComponent(value)}&y=%2F HTTP/1.1\r\nHost: ${HOST}`);
  t.equal(ordinary.header('location'), '/lab/tree?x=1&y=%2F', 'an ordinary deep link keeps its path and other parameters');
});

t.test('forward-auth: the absolute Location names the original host and a same-host path', async (t) => {
  const authzPort = h.jobgate.authzAddress!.port;
  const ask = (host: string, uri: string): Promise<Reply> =>
    request(`http://127.0.0.1:${authzPort}`, {
      path: '/__jobgate_authz',
      host: '127.0.0.1',
      headers: ['X-Forwarded-Method', 'GET', 'X-Forwarded-Proto', 'http', 'X-Forwarded-For', '203.0.113.7', 'X-Forwarded-Host', host, 'X-Forwarded-Uri', uri],
    });
  for (const target of HOSTILE_TARGETS.filter((target) => target.startsWith('/'))) {
    for (const token of ['x', encodeURIComponent(value)]) {
      const reply = await ask(HOST, `${target}?a=1&jobgate_token=${token}`);
      t.equal(reply.status, 303, target);
      t.equal(new URL(String(reply.headers.location)).host, HOST, `${target}: ${reply.headers.location}`);
    }
  }
  // The port part of a Host header is ignored for routing, so this reaches nb1; as a URL's authority it names evil.example.
  for (const host of [`${HOST}:@evil.example`, `${HOST}:80@evil.example`, `${HOST}:#@evil.example`]) {
    const reply = await ask(host, `/?jobgate_token=${encodeURIComponent(value)}`);
    t.not(reply.status, 303, `Host ${host}: no redirect`);
    t.equal(reply.headers.location, undefined);
    t.equal(reply.headers['set-cookie'], undefined, `Host ${host}: no session`);
  }
  const ordinary = await ask(`${HOST}:8443`, `/lab?a=1&jobgate_token=${encodeURIComponent(value)}`);
  t.equal(ordinary.headers.location, `http://${HOST}:8443/lab?a=1`);
});
