import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createNetServer } from 'node:net';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { JobStore } from '../../src/jobs/store.js';
import { connectRedis, createRedis, KeySpace } from '../../src/redis/index.js';
import { TokenStore } from '../../src/tokens/store.js';
import { JOBGATE_BIN, runCli } from '../helpers/cli.js';
import { bearer, request } from '../helpers/http.js';
import { waitFor } from '../helpers/jobgate.js';
import { freePort, RedisServer } from '../helpers/redis.js';
import { Upstream } from '../helpers/upstream.js';

t.test('jobgate serve, as the README runs it', async (t) => {
  const redis = await RedisServer.start();
  const up = await Upstream.start('notebook');
  const admin = createRedis({ url: redis.url, commandTimeoutMs: 2000, reconnect: false });
  await connectRedis(admin, 2000);
  const keys = new KeySpace('jobgate:');
  await new JobStore(admin, keys).put({ id: 'notebook', upstream: up.url, labels: { team: 'a' } });
  const { value } = await new TokenStore(admin, keys).create({ name: 'alice', role: 'read', labelSelector: 'team=a' });

  // The config file sets the domain and a listener; the environment overrides the listener; a flag overrides the admin one.
  const [port, adminPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'jobgate-serve-'));
  const config = join(dir, 'jobgate.yaml');
  writeFileSync(config, `jobDomain: job.test\nlisten: 127.0.0.1:1\nadminListen: 127.0.0.1:2\n`);
  const child = spawn(process.execPath, [JOBGATE_BIN, 'serve', '--config', config, '--admin-listen', `127.0.0.1:${adminPort}`], {
    env: {
      PATH: process.env.PATH ?? '',
      JOBGATE_REDIS_URL: redis.url,
      JOBGATE_LISTEN: `127.0.0.1:${port}`,
      ...(process.env.NODE_V8_COVERAGE ? { NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    admin.disconnect();
    await up.close();
    await redis.stop();
  });

  await waitFor(async () => (await request(`http://127.0.0.1:${adminPort}`, { path: '/readyz' })).status === 200, 60_000);
  const reply = await request(`http://127.0.0.1:${port}`, { host: 'notebook.job.test', headers: bearer(value) });
  t.equal(reply.status, 200);
  t.equal(reply.json().name, 'notebook');
  t.equal((await request(`http://127.0.0.1:${adminPort}`, { path: '/healthz' })).json().status, 'ok');

  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  t.equal(code, 0, 'SIGTERM stops it cleanly');
  const lines = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  t.ok(lines.some((line) => line.event === 'started' && line.mode === 'gateway'));
  t.ok(lines.some((line) => line.event === 'access' && line.status === 200 && line.jobId === 'notebook'));
  t.notOk(stdout.includes(value), 'the token is not in the log');
});

t.test('bad settings stop start-up with exit 2 and a message naming the setting', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ JOBGATE_JOB_DOMAIN: 'job.test', JOBGATE_LISTEN: 'nowhere' }, /^jobgate: invalid setting JOBGATE_LISTEN: "nowhere" is not accepted; expected host:port/],
    [{}, /^jobgate: invalid setting JOBGATE_JOB_DOMAIN: required in gateway mode/],
    [{ JOBGATE_SIDECAR_JOB: 'nb1' }, /^jobgate: invalid setting JOBGATE_SIDECAR_UPSTREAM: required when JOBGATE_SIDECAR_JOB is set/],
    [
      { JOBGATE_JOB_DOMAIN: 'job.test', JOBGATE_REDIS_TIMEOUT_MS: '5000' },
      /JOBGATE_REDIS_TIMEOUT_MS: "5000" is not accepted; expected milliseconds, from 50 to 900/,
    ],
    [{ JOBGATE_JOB_DOMAIN: 'not a domain' }, /JOBGATE_JOB_DOMAIN: "not a domain" is not accepted/],
  ];
  for (const [env, message] of cases) {
    const result = await runCli(['serve'], env);
    t.equal(result.code, 2, JSON.stringify(env));
    t.match(result.stderr, message);
    t.equal(result.stderr.trim().split('\n').length, 1, 'one line');
  }
  const flag = await runCli(['serve', '--listen', 'x:y'], { JOBGATE_JOB_DOMAIN: 'job.test' });
  t.equal(flag.code, 2);
  t.match(flag.stderr, /invalid setting --listen \(JOBGATE_LISTEN\): "x:y"/);
});

t.test('a busy port stops start-up with one line naming the setting, exit 1, and nothing else', async (t) => {
  // Redis is up, so its connections are under way when the listener fails: closing them must stay quiet.
  const redis = await RedisServer.start();
  const busy = createNetServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    busy.close();
    await redis.stop();
  });
  const taken = `127.0.0.1:${(busy.address() as { port: number }).port}`;
  const free = async () => `127.0.0.1:${await freePort()}`;
  const cases: Array<[string, Record<string, string>]> = [
    ['JOBGATE_LISTEN', { JOBGATE_LISTEN: taken, JOBGATE_ADMIN_LISTEN: await free() }],
    ['JOBGATE_ADMIN_LISTEN', { JOBGATE_LISTEN: await free(), JOBGATE_ADMIN_LISTEN: taken }],
    ['JOBGATE_AUTHZ_LISTEN', { JOBGATE_LISTEN: await free(), JOBGATE_ADMIN_LISTEN: await free(), JOBGATE_AUTHZ_LISTEN: taken }],
  ];
  for (const [setting, listeners] of cases) {
    const result = await runCli(['serve'], { JOBGATE_REDIS_URL: redis.url, JOBGATE_JOB_DOMAIN: 'job.test', ...listeners });
    t.equal(result.code, 1, `${setting}: exit 1`);
    t.equal(
      result.stderr,
      `jobgate: ${setting} ${taken} is in use; stop what listens there or set ${setting} to another host:port\n`,
      `${setting}: one line naming it`,
    );
    t.equal(result.stdout, '', `${setting}: no log line (no Redis error from closing, no warning about keys)`);
  }
  const flag = await runCli(['serve', '--listen', taken], { JOBGATE_REDIS_URL: redis.url, JOBGATE_JOB_DOMAIN: 'job.test', JOBGATE_ADMIN_LISTEN: await free() });
  t.equal(flag.code, 1, '--listen: exit 1');
  t.match(flag.stderr, /^jobgate: JOBGATE_LISTEN [^\n]* is in use;[^\n]*\n$/, '--listen: the same line');
});

t.test('a listener address that cannot work here is bad input: exit 2, naming the setting', async (t) => {
  // 192.0.2.0/24 is TEST-NET-1: never an address of this machine.
  const result = await runCli(['serve'], {
    JOBGATE_REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    JOBGATE_JOB_DOMAIN: 'job.test',
    JOBGATE_LISTEN: '192.0.2.1:8080',
  });
  t.equal(result.code, 2);
  t.equal(result.stderr, 'jobgate: JOBGATE_LISTEN 192.0.2.1:8080: 192.0.2.1 is not an address of this machine\n');
  t.equal(result.stdout, '');
});
