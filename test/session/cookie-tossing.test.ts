import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import { bearer, request } from '../helpers/http.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';

/**
 * A job cannot toss cookies at jobgate or at its sibling jobs: an upstream's Set-Cookie named
 * like jobgate's session cookie is dropped, and a Domain attribute (which would share the cookie
 * with every job under the job domain) is removed unless JOBGATE_UPSTREAM_COOKIE_DOMAIN=keep.
 */

const TOSSED = [
  'jobgate=forged; Path=/lab; Domain=job.test',
  '__Host-jobgate=forged; Path=/; Secure',
  '__HOST-jobgate=forged; Path=/; Secure',
  '__Secure-jobgate=forged; Secure; Domain=job.test',
  'JOBGATE=forged; Domain=job.test',
  '=jobgate=forged; Domain=job.test',
];
const OWN = ['nb=1; Path=/; Domain=job.test; HttpOnly', 'pref=dark; domain=.job.test', 'own=1; Path=/'];
const OWN_HOST_ONLY = ['nb=1; Path=/; HttpOnly', 'pref=dark', 'own=1; Path=/'];

/** A real upstream: every HTTP answer and every WebSocket handshake sets the cookies above; /refuse answers a handshake with a plain 403 that sets them too. */
async function tossingUpstream(t: Test): Promise<string> {
  const cookies = [...TOSSED, ...OWN];
  const server: Server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, ['Content-Type', 'text/plain', ...cookies.flatMap((cookie) => ['Set-Cookie', cookie])]);
    res.end('hello');
  });
  const wss = new WebSocketServer({ noServer: true });
  wss.on('headers', (headers) => headers.push(...cookies.map((cookie) => `Set-Cookie: ${cookie}`)));
  wss.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    if (req.url === '/refuse') {
      socket.end(`HTTP/1.1 403 Forbidden\r\n${cookies.map((cookie) => `Set-Cookie: ${cookie}\r\n`).join('')}Content-Length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function gateway(t: Test, env: Record<string, string> = {}): Promise<{ h: Harness; auth: Record<string, string> }> {
  const upstream = await tossingUpstream(t);
  const h = await startHarness(env);
  t.teardown(() => h.close());
  await h.jobs.put({ id: 'toss', upstream, unsecureHttp: true });
  await h.jobs.put({ id: 'nb1', upstream });
  const { value } = await h.tokens.create({ name: 'x', role: 'read' });
  return { h, auth: bearer(value) };
}

/** The Set-Cookie values a WebSocket client gets with the handshake's answer on `path`. */
function handshakeCookies(h: Harness, host: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; cookies: string[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${h.jobgate.proxyAddress.port}${path}`, { headers: { host, ...headers }, handshakeTimeout: 10_000 });
    ws.once('upgrade', (res: IncomingMessage) => {
      resolve({ status: 101, cookies: res.headers['set-cookie'] ?? [] });
      ws.once('open', () => ws.close());
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      resolve({ status: res.statusCode ?? 0, cookies: res.headers['set-cookie'] ?? [] });
      res.resume();
      ws.on('error', () => {});
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

t.test("by default: jobgate's cookie names are dropped, Domain is removed, the job's cookies stay on its host", async (t) => {
  const { h, auth } = await gateway(t);
  for (const [host, headers] of [
    ['toss.job.test', {}],
    ['nb1.job.test', auth],
  ] as const) {
    const reply = await request(h.url, { host, headers });
    t.equal(reply.status, 200);
    t.equal(reply.body, 'hello');
    t.same(reply.headers['set-cookie'], OWN_HOST_ONLY, `${host}: HTTP`);
    const upgraded = await handshakeCookies(h, host, '/ws', headers);
    t.same(upgraded, { status: 101, cookies: OWN_HOST_ONLY }, `${host}: a WebSocket's 101`);
    const refused = await handshakeCookies(h, host, '/refuse', headers);
    t.same(refused, { status: 403, cookies: OWN_HOST_ONLY }, `${host}: a handshake answered with plain HTTP`);
  }
});

t.test("JOBGATE_UPSTREAM_COOKIE_DOMAIN=keep keeps Domain, never a cookie named like jobgate's", async (t) => {
  const { h } = await gateway(t, { JOBGATE_UPSTREAM_COOKIE_DOMAIN: 'keep' });
  const reply = await request(h.url, { host: 'toss.job.test' });
  t.same(reply.headers['set-cookie'], OWN);
  t.same(await handshakeCookies(h, 'toss.job.test', '/ws'), { status: 101, cookies: OWN });
  t.same(await handshakeCookies(h, 'toss.job.test', '/refuse'), { status: 403, cookies: OWN });
});

t.test('a session survives a visit to a job that tosses cookies', async (t) => {
  const { h } = await gateway(t);
  const { value } = await h.tokens.create({ name: 'browser', role: 'read' });
  const login = await request(h.url, { host: 'nb1.job.test', path: `/?jobgate_token=${value}` });
  const session = String(login.headers['set-cookie']?.[0]).split(';')[0]!;
  const visit = await request(h.url, { host: 'toss.job.test' });
  // What a cookie jar would now send to nb1: the session, plus whatever the other job managed to share.
  const shared = (visit.headers['set-cookie'] ?? []).filter((cookie) => /;\s*domain=/i.test(cookie)).map((cookie) => cookie.split(';')[0]!.replace(/^=/, ''));
  t.same(shared, [], 'nothing the other job set reaches nb1');
  t.equal((await request(h.url, { host: 'nb1.job.test', headers: { cookie: [...shared, session].join('; ') } })).status, 200);
});
