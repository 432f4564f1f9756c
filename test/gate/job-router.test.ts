import t from 'tap';
import { RecordError, StoreUnavailableError } from '../../src/errors.js';
import { Denial, isDenial, isPromise, JobRouter, type Target } from '../../src/gate/index.js';
import { storeFailure } from '../../src/gate/job-router.js';
import { ANSWERS, missingSidecarJob } from '../../src/http/answers.js';
import { CachedRegistry } from '../../src/registry/cache.js';
import { RedisRegistry } from '../../src/registry/registry.js';
import { HostRouter } from '../../src/routing/host.js';
import type { Mode } from '../../src/routing/mode.js';
import { startGateStores } from '../helpers/gate-stores.js';
import { RedisClients, writeJobHash } from '../helpers/redis.js';

/**
 * Host → job, port and upstream, on a real Redis: the sidecar's one job, a job's default port,
 * `<id>-<port>` for its other ports, and the 404, 409 and 503 answers for hosts that name
 * nothing, two things at once, or a record that cannot be read.
 */

const { server, keys, tokens, jobs } = await startGateStores(t);

await jobs.put({ id: 'nb1', upstream: 'http://127.0.0.1:1/', ports: { '8888': 'http://127.0.0.1:4/', '6006': 'http://127.0.0.1:5/' } });
await jobs.put({ id: 'a', upstream: 'http://127.0.0.1:6/', ports: { '80': 'http://127.0.0.1:7/' } });
await jobs.put({ id: 'b', upstream: 'http://127.0.0.1:8/' });
await jobs.put({ id: 'b-80', upstream: 'http://127.0.0.1:9/' });
await jobs.put({ id: 'c-80', upstream: 'http://127.0.0.1:10/' });
// Written around `jobgate job put` (which refuses it): job `a-80` while job `a` has a port 80.
const stamp = '2026-01-01T00:00:00.000Z';
const clients = new RedisClients(server.url);
t.teardown(() => clients.disconnectAll());
const admin = await clients.connect();
await writeJobHash(admin, keys, 'a-80', { id: 'a-80', labels: '{}', upstream: 'http://127.0.0.1:11/', createdAt: stamp, updatedAt: stamp });
await writeJobHash(admin, keys, 'broken', { id: 'broken', labels: 'not json', upstream: 'http://127.0.0.1:12/', createdAt: stamp, updatedAt: stamp });

const DOMAIN = 'Job.Test';

/** A registry with empty caches; `negativeTtlMs` says how long an id known not to exist is remembered. */
function registry(negativeTtlMs = 0): CachedRegistry {
  return new CachedRegistry(new RedisRegistry(tokens, jobs), { maxEntries: 100, ttlMs: 300_000, negativeTtlMs, outageGraceMs: 0 });
}
function gateway(negativeTtlMs = 0): JobRouter {
  return new JobRouter({ kind: 'gateway', router: new HostRouter(DOMAIN) }, registry(negativeTtlMs));
}
function sidecar(jobId: string): JobRouter {
  const mode: Mode = { kind: 'sidecar', jobId, upstream: new URL('http://127.0.0.1:9999/') };
  return new JobRouter(mode, registry());
}

/** What a route came to, in the terms a client sees: the job, upstream and port, or the decision, status, error and job of the denial. */
function outcome(result: Target | Denial): Record<string, unknown> {
  if (isDenial(result)) {
    return { decision: result.decision, status: result.answer.status, error: result.answer.error, jobId: result.jobId };
  }
  return { job: result.job.id, upstream: result.upstream.href, port: result.port };
}

t.test('a job domain host: which job, which port, which upstream', async (t) => {
  const router = gateway();
  const cases: [string, string | undefined, Record<string, unknown>][] = [
    ['a job', 'nb1.job.test', { job: 'nb1', upstream: 'http://127.0.0.1:1/', port: undefined }],
    ['a job, any case, a port in the Host, a trailing dot', 'NB1.JOB.test.:443', { job: 'nb1', upstream: 'http://127.0.0.1:1/', port: undefined }],
    ["one of the job's other ports", 'nb1-8888.job.test', { job: 'nb1', upstream: 'http://127.0.0.1:4/', port: 8888 }],
    ['another of them', 'nb1-6006.job.test', { job: 'nb1', upstream: 'http://127.0.0.1:5/', port: 6006 }],
    ['a port the job does not expose', 'nb1-9999.job.test', { decision: 'unknown_port', status: 404, error: 'not_found', jobId: 'nb1' }],
    ['an unknown job', 'nb9.job.test', { decision: 'unknown_job', status: 404, error: 'not_found', jobId: 'nb9' }],
    ['a port of an unknown job', 'nb9-8888.job.test', { decision: 'unknown_job', status: 404, error: 'not_found', jobId: 'nb9' }],
    ["a job id that is also another job's <id>-<port>", 'a-80.job.test', { decision: 'ambiguous_host', status: 409, error: 'ambiguous_host', jobId: 'a-80' }],
    ['a job id of that shape, the other job without that port', 'b-80.job.test', { job: 'b-80', upstream: 'http://127.0.0.1:9/', port: undefined }],
    ['a job id of that shape, no other job', 'c-80.job.test', { job: 'c-80', upstream: 'http://127.0.0.1:10/', port: undefined }],
    ['the other job itself', 'a.job.test', { job: 'a', upstream: 'http://127.0.0.1:6/', port: undefined }],
    ["the other job's port, by another name", 'a-80.job.test.', { decision: 'ambiguous_host', status: 409, error: 'ambiguous_host', jobId: 'a-80' }],
    ['a record that cannot be read', 'broken.job.test', { decision: 'invalid_job_record', status: 503, error: 'job_record_invalid', jobId: undefined }],
    ['a host outside the job domain', 'nb1.other.test', { decision: 'no_route', status: 404, error: 'not_found', jobId: undefined }],
    ['the job domain itself', 'job.test', { decision: 'no_route', status: 404, error: 'not_found', jobId: undefined }],
    ['no Host at all', undefined, { decision: 'no_route', status: 404, error: 'not_found', jobId: undefined }],
  ];
  for (const [what, host, expected] of cases) {
    t.same(outcome(await router.route(host, false)), expected, `${what} (cold cache)`);
    t.same(outcome(await router.route(host, false)), expected, `${what} (warm cache)`);
  }
});

t.test('the 409 says why, and names no job it serves', async (t) => {
  const denial = await gateway().route('a-80.job.test', true);
  if (!isDenial(denial)) throw new Error('a-80 was routed');
  t.same(JSON.parse(denial.answer.body), {
    error: 'ambiguous_host',
    message:
      "This host name is both a job id and another job's <job-id>-<port> host name, so jobgate serves neither. An administrator must rename the job or remove the port (see docs/redis-schema.md).",
  });
  t.equal(denial.answer.headers['www-authenticate'], undefined);
});

t.test("a host outside the job domain: the 404 names the job URLs' shape, in the client's scheme", async (t) => {
  const router = gateway();
  for (const [https, scheme] of [
    [false, 'http'],
    [true, 'https'],
  ] as const) {
    const denial = router.route('elsewhere.test', https);
    if (isPromise(denial) || !isDenial(denial)) throw new Error('no immediate denial');
    t.same(JSON.parse(denial.answer.body), {
      error: 'not_found',
      message: `No job is served at this host name. Job URLs look like ${scheme}://<job-id>.job.test/ or ${scheme}://<job-id>-<port>.job.test/.`,
    });
    t.equal(denial.answer.status, 404);
  }
});

t.test('a sidecar: its one job, whatever the Host, to its own upstream', async (t) => {
  const router = sidecar('nb1');
  for (const host of ['nb1.job.test', 'anything.example', undefined, 'b.job.test']) {
    t.same(outcome(await router.route(host, false)), { job: 'nb1', upstream: 'http://127.0.0.1:9999/', port: undefined }, String(host));
  }
  const missing = await sidecar('gone').route('gone.job.test', true);
  t.same(outcome(missing), { decision: 'sidecar_job_missing', status: 503, error: 'job_not_registered', jobId: 'gone' });
  t.same(isDenial(missing) ? missing.answer : undefined, missingSidecarJob('gone'), 'the 503 names the job to register');
});

t.test('a warm cache answers at once, a cold one after the lookup', async (t) => {
  for (const [what, router, host] of [
    ['a job', gateway(), 'nb1.job.test'],
    ["a job's other port (no job has the whole label as its id, remembered)", gateway(300_000), 'nb1-8888.job.test'],
    ['an ambiguous host', gateway(), 'a-80.job.test'],
    ['an unknown port', gateway(300_000), 'nb1-9999.job.test'],
    ['the sidecar job', sidecar('nb1'), 'x'],
  ] as const) {
    const cold = router.route(host, false);
    t.ok(isPromise(cold), `${what}: the first lookup asks Redis`);
    const first = outcome(await cold);
    const warm = router.route(host, false);
    t.notOk(isPromise(warm), `${what}: the next one does not wait`);
    t.same(outcome(warm as Target | Denial), first, `${what}: the same target`);
  }
});

t.test('a store that does not answer: 503, never a guess', async (t) => {
  const router = gateway();
  const cachedRouter = gateway();
  await cachedRouter.route('nb1.job.test', false);
  server.pause();
  t.teardown(() => server.resume());
  t.same(outcome(await router.route('nb1.job.test', false)), { decision: 'store_unavailable', status: 503, error: 'unavailable', jobId: undefined });
  t.same(outcome(await sidecar('nb1').route(undefined, false)), { decision: 'store_unavailable', status: 503, error: 'unavailable', jobId: undefined });
  t.same(
    outcome(await cachedRouter.route('nb1.job.test', false)),
    { job: 'nb1', upstream: 'http://127.0.0.1:1/', port: undefined },
    'a cached job still routes',
  );
  server.resume();
});

t.test('storeFailure: which denial for which failed lookup', async (t) => {
  const recordError = new RecordError('jobgate:token:x', 'field "name" is missing');
  const token = storeFailure(recordError, 'token', { jobId: 'nb1', tokenId: 'x' });
  t.same(
    { decision: token.decision, answer: token.answer, jobId: token.jobId, tokenId: token.tokenId, recordError: token.recordError },
    { decision: 'invalid_token_record', answer: ANSWERS.unverifiableToken, jobId: 'nb1', tokenId: 'x', recordError },
  );
  t.equal(token.answer.status, 401);
  const job = storeFailure(recordError, 'job', { jobId: 'nb1' });
  t.same(
    { decision: job.decision, answer: job.answer, jobId: job.jobId, tokenId: job.tokenId, recordError: job.recordError },
    { decision: 'invalid_job_record', answer: ANSWERS.invalidJob, jobId: 'nb1', tokenId: undefined, recordError },
  );
  t.equal(job.answer.status, 503);
  for (const record of ['token', 'job'] as const) {
    const down = storeFailure(new StoreUnavailableError('timeout'), record, { jobId: 'nb1', tokenId: 't' });
    t.same(
      { decision: down.decision, answer: down.answer, jobId: down.jobId, tokenId: down.tokenId, recordError: down.recordError },
      { decision: 'store_unavailable', answer: ANSWERS.storeUnavailable, jobId: 'nb1', tokenId: 't', recordError: undefined },
      record,
    );
  }
  const bug = new TypeError('a bug');
  t.throws(() => storeFailure(bug, 'job', {}), bug, 'anything else is a bug: rethrown');
});
