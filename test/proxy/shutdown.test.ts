import { request as httpRequest } from 'node:http';
import t from 'tap';
import WebSocket from 'ws';
import { bearer, request } from '../helpers/http.js';
import { startHarness, waitFor } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

t.test('graceful shutdown: not ready at once, in-flight requests finish, WebSockets get 1001', async (t) => {
  const up = await Upstream.start('slow', (req) => (req.url === '/slow' ? { delayMs: 600 } : undefined));
  const h = await startHarness();
  t.teardown(async () => {
    await h.close();
    await up.close();
  });
  await h.jobs.put({ id: 'nb1', upstream: up.url });
  const { value } = await h.tokens.create({ name: 'x', role: 'read' });

  const socket = new WebSocket(`${h.url.replace('http', 'ws')}/ws`, { headers: { host: 'nb1.job.test', ...bearer(value) } });
  await new Promise((resolve) => socket.once('open', resolve));
  const wsClosed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));

  // A kept-alive connection with one request in flight.
  const agent = new (await import('node:http')).Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  const inFlight = new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: h.jobgate.proxyAddress.port, path: '/slow', agent, headers: { host: 'nb1.job.test', ...bearer(value) } },
      (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
  await waitFor(() => up.received.some((received) => received.url === '/slow'));

  const closing = h.jobgate.close(5000);
  const ready = await request(h.adminUrl, { path: '/readyz' });
  t.equal(ready.status, 503, '/readyz turns 503 at once');
  t.same(ready.json().reasons, ['shutting down']);
  t.equal(await wsClosed, 1001, 'WebSockets are closed with 1001');
  await t.rejects(request(h.url, { host: 'nb1.job.test', headers: bearer(value) }), { code: 'ECONNREFUSED' }, 'no new connections');
  const reply = await inFlight;
  t.equal(reply.status, 200, 'the request in flight finished');
  t.equal(reply.connection, 'close', 'its kept-alive connection is told to close');
  await closing;
  t.equal(h.jobgate.activeRequests(), 0);
});

t.test('the drain timeout cuts what is still in flight', async (t) => {
  const up = await Upstream.start('stuck', () => ({ delayMs: 5000 }));
  const h = await startHarness({ JOBGATE_UPSTREAM_TIMEOUT_MS: '60000' });
  t.teardown(async () => {
    await h.close();
    await up.close();
  });
  await h.jobs.put({ id: 'nb1', upstream: up.url, unsecureHttp: true });
  const stuck = request(h.url, { host: 'nb1.job.test' }).then(
    (reply) => reply.status,
    (error: Error) => error.message,
  );
  await waitFor(() => up.received.length === 1);
  await h.jobgate.close(200);
  t.match(await stuck, /socket hang up|ECONNRESET/, 'the request was cut when the drain timeout ran out');
  t.ok(
    h.log.lines.some((line) => line.event === 'drain_timeout' && line.unfinished === 1),
    'and the log says so',
  );
});
