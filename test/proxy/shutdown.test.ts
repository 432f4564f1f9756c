import { request as httpRequest } from 'node:http';
import t from 'tap';
import WebSocket from 'ws';
import { bearer, request } from '../helpers/http.js';
import { startHarness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';
import { eventually, nextEvent, within } from '../helpers/wait.js';

/** A promise the test settles: an upstream answer held until `release()`. */
function gate(): { held: Promise<void>; release: () => void } {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  return { held, release };
}

t.test('graceful shutdown: not ready at once, in-flight requests finish, WebSockets get 1001', async (t) => {
  // The request in flight is answered when the test says so, not after a delay that a slow machine could outlast.
  const slow = gate();
  const up = await Upstream.start('slow', (req) => (req.url === '/slow' ? { until: slow.held } : undefined));
  const h = await startHarness();
  t.teardown(async () => {
    slow.release();
    await h.close();
    await up.close();
  });
  await h.jobs.put({ id: 'nb1', upstream: up.url });
  const { value } = await h.tokens.create({ name: 'x', role: 'read' });

  const socket = new WebSocket(`${h.url.replace('http', 'ws')}/ws`, { headers: { host: 'nb1.job.test', ...bearer(value) } });
  await nextEvent(socket, 'open', 'the WebSocket through jobgate to open');
  const wsClosed = nextEvent<[number]>(socket, 'close', 'the WebSocket to be closed by the shutdown');

  // A kept-alive connection with one request in flight.
  const agent = new (await import('node:http')).Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  let answered = false;
  const inFlight = new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: h.jobgate.proxyAddress.port, path: '/slow', agent, headers: { host: 'nb1.job.test', ...bearer(value) } },
      (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => {
          answered = true;
          resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
  // Awaited below; should the test fail before, the teardown's hang-up is not a second failure.
  inFlight.catch(() => {});
  await eventually('the upstream to receive the request that will be in flight', () => up.received.some((received) => received.url === '/slow'));

  // The drain timeout is far longer than the test: only the release ends the request in flight.
  const closing = h.jobgate.close(120_000);
  const ready = await request(h.adminUrl, { path: '/readyz' });
  t.equal(ready.status, 503, '/readyz turns 503 at once');
  t.same(ready.json().reasons, ['shutting down']);
  t.equal((await wsClosed)[0], 1001, 'WebSockets are closed with 1001');
  await t.rejects(request(h.url, { host: 'nb1.job.test', headers: bearer(value) }), { code: 'ECONNREFUSED' }, 'no new connections');
  t.notOk(answered, 'the request in flight is still waiting for its upstream, and jobgate for it');

  slow.release();
  const reply = await within(inFlight, 'the request in flight to finish once the upstream answered');
  t.equal(reply.status, 200, 'the request in flight finished');
  t.equal(reply.connection, 'close', 'its kept-alive connection is told to close');
  await within(closing, 'jobgate to finish closing once nothing was in flight');
  t.equal(h.jobgate.activeRequests(), 0);
});

t.test('the drain timeout cuts what is still in flight', async (t) => {
  // Never answered unless the test ends: only the drain timeout can end this request.
  const stuck = gate();
  const up = await Upstream.start('stuck', () => ({ until: stuck.held }));
  const h = await startHarness({ JOBGATE_UPSTREAM_TIMEOUT_MS: '60000' });
  t.teardown(async () => {
    stuck.release();
    await h.close();
    await up.close();
  });
  await h.jobs.put({ id: 'nb1', upstream: up.url, unsecureHttp: true });
  const outcome = request(h.url, { host: 'nb1.job.test', timeoutMs: 120_000 }).then(
    (reply) => reply.status,
    (error: Error) => error.message,
  );
  await eventually('the upstream to receive the request that will be stuck', () => up.received.length === 1);
  await within(h.jobgate.close(200), 'jobgate to close once its 200 ms drain timeout ran out');
  t.match(await within(outcome, 'the stuck request to be cut'), /socket hang up|ECONNRESET/, 'the request was cut when the drain timeout ran out');
  t.ok(
    h.log.lines.some((line) => line.event === 'drain_timeout' && line.unfinished === 1),
    'and the log says so',
  );
});
