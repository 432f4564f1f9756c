import t from 'tap';
import { nonLoopbackAddress } from '../helpers/addresses.js';
import { request } from '../helpers/http.js';
import { startHarness, waitFor } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

t.test('/readyz names the job only to a client on loopback; others get the status and terse reasons', async (t) => {
  const external = nonLoopbackAddress();
  if (!external) throw new Error('this test needs a non-loopback IPv4 address on this machine to ask from');
  const up = await Upstream.start();
  const h = await startHarness({ JOBGATE_SIDECAR_JOB: 'secret-notebook', JOBGATE_SIDECAR_UPSTREAM: up.url, JOBGATE_ADMIN_LISTEN: '0.0.0.0:0' });
  t.teardown(async () => {
    await h.close();
    await up.close();
  });
  const port = h.jobgate.adminAddress.port;
  const local = `http://127.0.0.1:${port}`;
  const remote = `http://${external}:${port}`;

  await waitFor(async () => (await request(local, { path: '/readyz' })).body.includes('not registered'));
  const fromLoopback = await request(local, { path: '/readyz' });
  t.equal(fromLoopback.status, 503);
  t.same(fromLoopback.json(), { status: 'not ready', reasons: ['job secret-notebook is not registered'] }, 'loopback: the reason names the job');

  const fromElsewhere = await request(remote, { path: '/readyz', timeoutMs: 30_000 });
  t.equal(fromElsewhere.status, 503, `from ${external}: the same status`);
  t.same(fromElsewhere.json(), { status: 'not ready', reasons: ['the sidecar job is not registered'] }, 'with a reason that names nothing');
  t.notOk(fromElsewhere.body.includes('secret-notebook'), 'the job id is not in the answer');

  await h.jobs.put({ id: 'secret-notebook', upstream: up.url });
  await waitFor(async () => (await request(remote, { path: '/readyz' })).status === 200);
  t.same((await request(remote, { path: '/readyz' })).json(), { status: 'ready' }, 'ready is ready from anywhere');
});
