import t, { type Test } from 'tap';
import { JobStore } from '../../src/jobs/store.js';
import { connectRedis, createRedis, KeySpace } from '../../src/redis/index.js';
import { bearer, request } from '../helpers/http.js';
import { metricSample, startHarness, waitFor, type Harness } from '../helpers/jobgate.js';
import { RedisServer } from '../helpers/redis.js';
import { Upstream } from '../helpers/upstream.js';

/** Sidecar mode serves JOBGATE_SIDECAR_UPSTREAM; the job record's upstream (required by `job put`) is not used. */

const WARNING = 'sidecar_upstream_differs';

const warnings = (h: Harness) => h.log.lines.filter((line) => line.event === WARNING);

/** How many Redis lookups this jobgate has made (the readiness probe reads the sidecar job every second). */
async function lookups(h: Harness): Promise<number> {
  const text = await (await fetch(`${h.adminUrl}/metrics`)).text();
  return metricSample(text, 'jobgate_redis_command_duration_seconds_count') ?? 0;
}

/** A Redis with job `nb` already registered with `upstream`, then a sidecar jobgate for it in front of `sidecarUpstream`. */
async function sidecarFor(t: Test, recordUpstream: string, sidecarUpstream: string): Promise<Harness> {
  const redis = await RedisServer.start();
  const prefix = 'sidecar:';
  const admin = createRedis({ url: redis.url, commandTimeoutMs: 2000, reconnect: false });
  await connectRedis(admin, 2000);
  await new JobStore(admin, new KeySpace(prefix)).put({ id: 'nb', upstream: recordUpstream, labels: { team: 'a' } });
  admin.disconnect();
  // A short cache TTL, so that the probe's reads reach Redis and count in the metrics.
  const h = await startHarness(
    { JOBGATE_SIDECAR_JOB: 'nb', JOBGATE_SIDECAR_UPSTREAM: sidecarUpstream, JOBGATE_KEY_PREFIX: prefix, JOBGATE_CACHE_TTL_MS: '100' },
    redis,
  );
  t.teardown(async () => {
    await h.close();
    await redis.stop();
  });
  return h;
}

t.test('a record that names another upstream: one warning at start-up naming both, and the sidecar upstream is the one served', async (t) => {
  const sidecar = await Upstream.start('sidecar');
  const recorded = await Upstream.start('recorded');
  const third = await Upstream.start('third');
  t.teardown(async () => {
    await Promise.all([sidecar.close(), recorded.close(), third.close()]);
  });
  const h = await sidecarFor(t, recorded.url, sidecar.url);
  await waitFor(() => warnings(h).length > 0);

  const [line] = warnings(h);
  t.match(
    line,
    { level: 'warn', event: WARNING, jobId: 'nb', recordUpstream: `${recorded.url}/`, sidecarUpstream: `${sidecar.url}/` },
    'one pino line, the values as fields',
  );
  const message = String(line?.msg);
  t.ok(message.includes(`${recorded.url}/`) && message.includes(`${sidecar.url}/`), `the message names both upstreams: ${message}`);
  t.match(message, /JOBGATE_SIDECAR_UPSTREAM .*: that one is used, the record's is ignored/, 'and says which one is used');

  const { value } = await h.tokens.create({ name: 'alice', role: 'read', labelSelector: 'team=a' });
  const reply = await request(h.url, { host: 'anything.example', headers: bearer(value) });
  t.equal(reply.status, 200);
  t.equal(reply.json().name, 'sidecar', 'the request went to JOBGATE_SIDECAR_UPSTREAM');
  t.equal(recorded.received.length, 0, "the record's upstream saw nothing");

  // The probe reads the record every second: three more reads of the same record, still one line.
  const after = await lookups(h);
  await waitFor(async () => (await lookups(h)) >= after + 3);
  t.equal(warnings(h).length, 1, 'not repeated while the record stays the same');

  // The record comes to name a third upstream: one more line, naming it.
  await h.jobs.put({ id: 'nb', upstream: third.url, labels: { team: 'a' } });
  await waitFor(() => warnings(h).length > 1);
  t.match(warnings(h)[1], { jobId: 'nb', recordUpstream: `${third.url}/`, sidecarUpstream: `${sidecar.url}/` });
  t.equal((await request(h.url, { host: 'anything.example', headers: bearer(value) })).json().name, 'sidecar', 'still the sidecar upstream');
  t.equal(third.received.length, 0);
});

t.test('a record that names the sidecar upstream: no warning', async (t) => {
  const sidecar = await Upstream.start('sidecar');
  t.teardown(() => sidecar.close());
  const h = await sidecarFor(t, sidecar.url, sidecar.url);
  // Ready means the probe has read the record (and handed it to the check) at least once.
  await waitFor(async () => (await fetch(`${h.adminUrl}/readyz`)).status === 200);
  const after = await lookups(h);
  await waitFor(async () => (await lookups(h)) >= after + 2);
  t.same(warnings(h), [], 'nothing to warn about');
  t.same(
    h.log.lines.filter((line) => line.level === 'warn' && String(line.msg).includes('upstream')),
    [],
    'no other warning about the upstream either',
  );
});

t.test('the warning never shows a password in JOBGATE_SIDECAR_UPSTREAM', async (t) => {
  const sidecar = await Upstream.start('sidecar');
  const recorded = await Upstream.start('recorded');
  t.teardown(async () => {
    await Promise.all([sidecar.close(), recorded.close()]);
  });
  const withPassword = sidecar.url.replace('http://', 'http://user:sekret@');
  const h = await sidecarFor(t, recorded.url, withPassword);
  await waitFor(() => warnings(h).length > 0);
  t.match(warnings(h)[0], { sidecarUpstream: `${sidecar.url}/` }, 'the address without user and password');
  t.notMatch(h.log.text, /sekret/, 'the password appears nowhere in the log');
});
