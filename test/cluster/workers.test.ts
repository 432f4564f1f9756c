import { spawn } from 'node:child_process';
import { once } from 'node:events';
import t from 'tap';
import { JobStore } from '../../src/jobs/store.js';
import { connectRedis, createRedis, KeySpace } from '../../src/redis/index.js';
import { TokenStore } from '../../src/tokens/store.js';
import { JOBGATE_BIN } from '../helpers/cli.js';
import { bearer, request } from '../helpers/http.js';
import { waitFor } from '../helpers/jobgate.js';
import { freePort, RedisServer } from '../helpers/redis.js';
import { Upstream } from '../helpers/upstream.js';

/** One sample line of a Prometheus exposition. */
const sample = (text: string, line: string) => Number(text.split('\n').find((candidate) => candidate.startsWith(`${line} `))?.split(' ').pop());

t.test('serve --workers 2: shared port, one admin listener for all, crash replaced, SIGTERM relayed', async (t) => {
  const redis = await RedisServer.start();
  const up = await Upstream.start('job');
  const admin = createRedis({ url: redis.url, commandTimeoutMs: 2000, reconnect: false });
  await connectRedis(admin, 2000);
  const keys = new KeySpace('jobgate:');
  await new JobStore(admin, keys).put({ id: 'nb1', upstream: up.url });
  const { value } = await new TokenStore(admin, keys).create({ name: 'w', role: 'read' });
  const [port, adminPort] = [await freePort(), await freePort()];
  const primary = spawn(process.execPath, [JOBGATE_BIN, 'serve', '--workers', '2'], {
    env: {
      PATH: process.env.PATH ?? '',
      JOBGATE_REDIS_URL: redis.url,
      JOBGATE_JOB_DOMAIN: 'job.test',
      JOBGATE_LISTEN: `127.0.0.1:${port}`,
      JOBGATE_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
      ...(process.env.NODE_V8_COVERAGE ? { NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  primary.stdout.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  t.teardown(async () => {
    if (primary.exitCode === null) primary.kill('SIGKILL');
    admin.disconnect();
    await up.close();
    await redis.stop();
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await waitFor(async () => (await request(adminUrl, { path: '/readyz' })).status === 200, 15_000);

  const pids = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const reply = await request(`http://127.0.0.1:${port}`, { host: 'nb1.job.test', headers: bearer(value) });
    t.equal(reply.status, 200);
  }
  for (const line of log.split('\n')) if (line.includes('"event":"access"')) pids.add(String((JSON.parse(line) as { pid?: number }).pid));
  t.ok(pids.size >= 1, 'workers answered');

  const metrics = (await request(adminUrl, { path: '/metrics' })).body;
  t.equal(sample(metrics, 'jobgate_requests_total{decision="allowed",status_class="2xx"}'), 40, '/metrics sums every worker');
  const keysDoc = (await request(adminUrl, { path: '/.well-known/jobgate/jwks.json' })).json<{ keys: unknown[] }>();
  t.equal(keysDoc.keys.length, 1, 'the primary publishes the key the workers sign with');

  // Kill one worker: the primary logs it and starts another.
  const workerPid = [...log.matchAll(/"pid":(\d+)[^\n]*"event":"started"/g)].map((match) => Number(match[1]))[0];
  t.ok(workerPid, 'a worker logged its start');
  process.kill(workerPid!, 'SIGKILL');
  await waitFor(() => log.includes('"event":"worker_exit"'), 10_000);
  await waitFor(async () => (await request(adminUrl, { path: '/readyz' })).status === 200, 15_000);
  t.equal((await request(`http://127.0.0.1:${port}`, { host: 'nb1.job.test', headers: bearer(value) })).status, 200, 'still serving');

  primary.kill('SIGTERM');
  const [code] = (await once(primary, 'exit')) as [number | null];
  t.equal(code, 0, 'the primary exits 0 once every worker has');
  t.match(log, /"event":"stopped","msg":"jobgate primary stopped"/);
});

t.test('--workers refuses a bad count', async (t) => {
  const { runCli } = await import('../helpers/cli.js');
  const result = await runCli(['serve', '--workers', 'many'], { JOBGATE_JOB_DOMAIN: 'job.test' });
  t.equal(result.code, 2);
  t.match(result.stderr, /invalid --workers "many": expected a count from 1 to 999, or auto/);
});
