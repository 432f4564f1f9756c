import t from 'tap';
import WebSocket from 'ws';
import { bearer, request } from '../helpers/http.js';
import { metricSample, startHarness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';
import { eventually, nextEvent } from '../helpers/wait.js';

t.test('/metrics in Prometheus format', async (t) => {
  const up = await Upstream.start();
  const h = await startHarness();
  t.teardown(async () => {
    await h.close();
    await up.close();
  });
  await h.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'a' } });
  const { record, value } = await h.tokens.create({ name: 'x', role: 'read' });
  const scoped = await h.tokens.create({ name: 'y', role: 'read', labelSelector: 'team=b' });
  for (let i = 0; i < 3; i++) await request(h.url, { host: 'nb1.job.test', headers: bearer(value) });
  await request(h.url, { host: 'nb1.job.test' });
  await request(h.url, { host: 'nb1.job.test', headers: bearer(scoped.value) });
  await request(h.url, { host: 'nope.job.test' });
  const socket = new WebSocket(`${h.url.replace('http', 'ws')}/`, { headers: { host: 'nb1.job.test', ...bearer(value) } });
  await nextEvent(socket, 'open', 'the WebSocket through jobgate to open');
  const closed = nextEvent(socket, 'close', "the deleted token's WebSocket to close");
  await h.tokens.delete(record.id);
  await closed;

  let text = '';
  await eventually('/metrics to count the revoked WebSocket and no open one', async () => {
    const reply = await request(h.adminUrl, { path: '/metrics' });
    text = reply.body;
    return (
      reply.status === 200 &&
      /text\/plain/.test(String(reply.headers['content-type'])) &&
      metricSample(text, 'jobgate_websockets_revoked_total') === 1 &&
      metricSample(text, 'jobgate_websockets_open') === 0
    );
  });
  t.equal(metricSample(text, 'jobgate_requests_total', 'decision="allowed",status_class="2xx"'), 3);
  t.equal(metricSample(text, 'jobgate_requests_total', 'decision="missing_token",status_class="4xx"'), 1);
  t.equal(metricSample(text, 'jobgate_requests_total', 'decision="scope_denied",status_class="4xx"'), 1);
  t.equal(metricSample(text, 'jobgate_requests_total', 'decision="unknown_job",status_class="4xx"'), 1);
  const durations = metricSample(text, 'jobgate_request_duration_seconds_count')!;
  t.ok(durations >= 6);
  t.equal(metricSample(text, 'jobgate_request_duration_seconds_bucket', 'le="+Inf"'), durations);
  t.equal(metricSample(text, 'jobgate_request_duration_seconds_bucket', 'le="10"'), durations, 'every request fell in a finite bucket');
  t.ok(
    metricSample(text, 'jobgate_request_duration_seconds_bucket', 'le="0.0005"')! <= metricSample(text, 'jobgate_request_duration_seconds_bucket', 'le="1"')!,
    'buckets are cumulative',
  );
  t.ok(metricSample(text, 'jobgate_request_duration_seconds_sum')! > 0);
  t.ok(metricSample(text, 'jobgate_cache_hits_total', 'cache="tokens"')! >= 2, 'repeat requests hit the token cache');
  t.ok(metricSample(text, 'jobgate_cache_misses_total', 'cache="jobs"')! >= 1);
  t.ok(metricSample(text, 'jobgate_redis_command_duration_seconds_count')! >= 2);
  t.equal(metricSample(text, 'jobgate_websockets_open'), 0);
  t.equal(metricSample(text, 'jobgate_websockets_revoked_total'), 1);
  t.ok(metricSample(text, 'jobgate_invalidation_messages_total', 'kind="token"')! >= 3, 'create, create, delete');
  t.ok(metricSample(text, 'jobgate_invalidation_messages_total', 'kind="job"')! >= 1);
  t.equal(metricSample(text, 'jobgate_redis_errors_total'), 0);
  t.match(text, /# TYPE jobgate_request_duration_seconds histogram/);

  await h.redisServer.stop();
  await eventually(
    '/metrics to count a Redis error once Redis is gone',
    async () => metricSample((await request(h.adminUrl, { path: '/metrics' })).body, 'jobgate_redis_errors_total')! > 0,
  );
  t.pass('a lost Redis connection is counted');
  t.equal((await request(h.adminUrl, { path: '/nope' })).status, 404);
});
