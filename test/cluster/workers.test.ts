import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import t, { type Test } from 'tap';
import { JobStore } from '../../src/jobs/store.js';
import { connectRedis, createRedis, KeySpace } from '../../src/redis/index.js';
import { mintToken } from '../../src/tokens/format.js';
import { TokenStore } from '../../src/tokens/store.js';
import { nonLoopbackAddress } from '../helpers/addresses.js';
import { JOBGATE_BIN } from '../helpers/cli.js';
import { bearer, request } from '../helpers/http.js';
import { metricSample, waitFor } from '../helpers/jobgate.js';
import { freePort, RedisServer } from '../helpers/redis.js';
import { Upstream } from '../helpers/upstream.js';

/** The pids of a process's children (Linux: /proc/<pid>/task/<tid>/children, over its threads). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/)) if (child) children.push(Number(child));
  }
  return children.sort((a, b) => a - b);
}

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
  await waitFor(async () => (await request(adminUrl, { path: '/readyz' })).status === 200, 60_000);

  // The workers are the primary's child processes, whatever they log.
  let workers: number[] = [];
  const gotWorkers = await waitFor(() => (workers = childrenOf(primary.pid!)).length === 2, 60_000).then(
    () => true,
    () => false,
  );
  t.ok(gotWorkers, `the primary runs two worker processes (children: ${workers.join(', ') || 'none'})`);

  // One connection per request: the primary hands them to the workers in turn. Ask until every
  // worker has answered at least once, as its access lines show.
  const statuses: Array<number | string> = [];
  const answeredBy = new Set<number>();
  const lines = () => log.split('\n').filter((line) => line.includes('"event":"access"'));
  const everyWorkerServed = await waitFor(async () => {
    statuses.push(
      await request(`http://127.0.0.1:${port}`, { host: 'nb1.job.test', headers: bearer(value) }).then(
        (reply) => reply.status,
        (error: Error) => error.message,
      ),
    );
    for (const line of lines()) answeredBy.add((JSON.parse(line) as { pid?: number }).pid ?? NaN);
    return workers.every((pid) => answeredBy.has(pid));
  }).then(
    () => true,
    () => false,
  );
  const sent = statuses.length;
  t.ok(
    everyWorkerServed,
    `every worker answered on the shared port (workers ${workers.join(', ')}; answers came from ${[...answeredBy].join(', ')} after ${sent} requests)`,
  );
  t.same(
    statuses.filter((status) => status !== 200),
    [],
    `all ${sent} requests were answered 200`,
  );
  const allLogged = await waitFor(() => lines().length >= sent).then(
    () => true,
    () => false,
  );
  const pids = lines().map((line) => (JSON.parse(line) as { pid?: unknown }).pid);
  t.ok(allLogged, `an access line for each of the ${sent} requests (${pids.length} logged)`);
  t.equal(pids.length, sent, 'one access line per request');
  t.same(
    pids.filter((pid) => typeof pid !== 'number' || !workers.includes(pid)),
    [],
    "every access line names the pid of one of the primary's workers",
  );

  const metrics = (await request(adminUrl, { path: '/metrics' })).body;
  t.equal(metricSample(metrics, 'jobgate_requests_total', 'decision="allowed",status_class="2xx"'), sent, '/metrics sums every worker');
  const keysDoc = (await request(adminUrl, { path: '/.well-known/jobgate/jwks.json' })).json<{ keys: unknown[] }>();
  t.equal(keysDoc.keys.length, 1, 'the primary publishes the key the workers sign with');

  // Kill one worker: the primary logs it and starts another.
  const workerPid = [...log.matchAll(/"pid":(\d+)[^\n]*"event":"started"/g)].map((match) => Number(match[1]))[0];
  t.ok(workerPid, 'a worker logged its start');
  process.kill(workerPid!, 'SIGKILL');
  await waitFor(() => log.includes('"event":"worker_exit"'), 60_000);
  await waitFor(async () => (await request(adminUrl, { path: '/readyz' })).status === 200, 60_000);
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

interface Finished {
  /** The exit code, or undefined when the test had to kill the process (it hung). */
  readonly code: number | undefined;
  readonly stderr: string;
}

/** Runs `jobgate serve ...args`; a process still running after `killAfterMs` (a hang) is killed and reported as such. */
async function serveUntilExit(args: readonly string[], env: Record<string, string>, killAfterMs = 40_000): Promise<Finished> {
  const child = spawn(process.execPath, [JOBGATE_BIN, 'serve', ...args], {
    env: { PATH: process.env.PATH ?? '', ...(process.env.NODE_V8_COVERAGE ? { NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE } : {}), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    // Its own process group: a hung primary is killed together with its workers.
    detached: true,
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    process.kill(-child.pid!, 'SIGKILL');
  }, killAfterMs);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code: hung || code === null ? undefined : code, stderr };
}

t.test('serve --workers 2 with an invalid cross-field setting exits 2 with the one-line message, once, as without --workers', async (t) => {
  const [port, adminPort] = [await freePort(), await freePort()];
  const env = {
    JOBGATE_REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    JOBGATE_JOB_DOMAIN: 'job.test',
    JOBGATE_LISTEN: `127.0.0.1:${port}`,
    JOBGATE_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
    JOBGATE_API_HOST: 'api.test',
  };
  const single = await serveUntilExit([], env);
  t.equal(single.code, 2, 'without --workers: exit 2');
  t.match(single.stderr, /^jobgate: invalid setting JOBGATE_API_UPSTREAM: required when JOBGATE_API_HOST is set/);
  const workers = await serveUntilExit(['--workers', '2'], env);
  t.equal(workers.code, 2, 'with --workers 2: exits by itself, with code 2');
  t.equal(workers.stderr, single.stderr, 'the same message');
  t.equal(workers.stderr.split('\n').filter((line) => line.length > 0).length, 1, 'one line, once');
});

t.test('serve --workers 2 whose workers cannot listen exits non-zero with their message instead of forking forever', async (t) => {
  const busy = createNetServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => busy.close());
  const port = (busy.address() as { port: number }).port;
  const finished = await serveUntilExit(['--workers', '2'], {
    JOBGATE_REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    JOBGATE_JOB_DOMAIN: 'job.test',
    JOBGATE_LISTEN: `127.0.0.1:${port}`,
    JOBGATE_ADMIN_LISTEN: `127.0.0.1:${await freePort()}`,
  });
  t.not(finished.code, undefined, 'the primary exits by itself');
  t.not(finished.code, 0, 'with a non-zero code');
  t.match(finished.stderr, new RegExp(`^jobgate: JOBGATE_LISTEN 127\\.0\\.0\\.1:${port} is in use;`), "with the worker's message");
  t.equal(finished.code, 1, 'exit 1: the setting is fine, the port is taken');
  t.equal(finished.stderr.split('\n').filter((line) => line.startsWith('jobgate: ')).length, 1, 'once');
});

interface Primary {
  readonly pid: number;
  readonly proxyUrl: string;
  readonly adminUrl: string;
  /** Its stdout so far (the workers' JSON log lines). */
  log(): string;
  /** Its stderr so far. */
  stderr(): string;
  /** SIGTERM, then waits for the exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** `jobgate serve --workers n ...args` on free loopback ports, ready (every worker) before it resolves. */
async function startPrimary(t: Test, args: readonly string[], env: Record<string, string>, adminHost = '127.0.0.1'): Promise<Primary> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [JOBGATE_BIN, 'serve', ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      JOBGATE_JOB_DOMAIN: 'job.test',
      JOBGATE_LISTEN: `127.0.0.1:${port}`,
      JOBGATE_ADMIN_LISTEN: `${adminHost}:${adminPort}`,
      ...(process.env.NODE_V8_COVERAGE ? { NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  t.teardown(() => {
    // The whole group: workers too, should the primary hang.
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`jobgate exited with ${child.exitCode}: ${stderr}`);
      return (await request(adminUrl, { path: '/readyz' })).status === 200;
    }, 60_000);
  } catch (error) {
    throw new Error(`the primary did not get ready: ${(error as Error).message}; stderr: ${stderr}`);
  }
  return {
    pid: child.pid!,
    proxyUrl: `http://127.0.0.1:${port}`,
    adminUrl,
    log: () => stdout,
    stderr: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}

/** The access log lines of the workers. */
const accessLines = (log: string) =>
  log
    .split('\n')
    .filter((line) => line.includes('"event":"access"'))
    .map((line) => JSON.parse(line) as { pid: number; status: number });

t.test('serve --workers 4: the failure limit counts one address across every worker, not per worker', async (t) => {
  const redis = await RedisServer.start();
  t.teardown(() => redis.stop());
  const admin = createRedis({ url: redis.url, commandTimeoutMs: 2000, reconnect: false });
  await connectRedis(admin, 2000);
  t.teardown(() => admin.disconnect());
  const up = await Upstream.start('job');
  t.teardown(() => up.close());
  await new JobStore(admin, new KeySpace('jobgate:')).put({ id: 'nb1', upstream: up.url });

  const limit = 3;
  const workers = 4;
  const primary = await startPrimary(t, ['--workers', String(workers)], { JOBGATE_REDIS_URL: redis.url, JOBGATE_AUTH_FAILURE_LIMIT: String(limit) });

  // One request per connection: the primary hands connections to the workers in turn.
  const statuses: number[] = [];
  for (let i = 0; i < 16; i++) {
    const reply = await request(primary.proxyUrl, { host: 'nb1.job.test', headers: bearer(mintToken().value), timeoutMs: 30_000 });
    statuses.push(reply.status);
  }
  t.same(new Set(statuses), new Set([401, 429]), `bad tokens get 401, then 429 (${statuses.join(' ')})`);
  const firstLimited = statuses.indexOf(429);
  const unauthorizedBefore = statuses.slice(0, firstLimited).filter((status) => status === 401).length;
  t.ok(unauthorizedBefore >= limit, `the first ${limit} failures are answered 401 (${unauthorizedBefore})`);
  // The documented slack: requests that reach another worker before the primary's notice does.
  t.ok(unauthorizedBefore <= limit + workers - 1, `at most the limit plus one IPC hop per other worker (${unauthorizedBefore} <= ${limit + workers - 1})`);
  t.ok(unauthorizedBefore < limit * workers, `fewer than the limit times the workers (${unauthorizedBefore} < ${limit * workers})`);
  t.equal(statuses.at(-1), 429, 'and it stays refused');

  await waitFor(() => accessLines(primary.log()).length >= 16);
  const limitedBy = new Set(
    accessLines(primary.log())
      .filter((line) => line.status === 429)
      .map((line) => line.pid),
  );
  t.ok(limitedBy.size >= 2, `several workers refuse the address (${limitedBy.size})`);
  t.equal(await primary.stop(), 0);
});

t.test('serve --workers 2: /readyz names worker pids and the job only to a client on loopback', async (t) => {
  const external = nonLoopbackAddress();
  if (!external) throw new Error('this test needs a non-loopback IPv4 address on this machine to ask from');
  const redis = await RedisServer.start();
  t.teardown(() => redis.stop());
  const admin = createRedis({ url: redis.url, commandTimeoutMs: 2000, reconnect: false });
  await connectRedis(admin, 2000);
  t.teardown(() => admin.disconnect());
  const jobs = new JobStore(admin, new KeySpace('jobgate:'));
  await jobs.put({ id: 'secret-notebook', upstream: 'http://127.0.0.1:1' });
  const primary = await startPrimary(
    t,
    ['--workers', '2'],
    { JOBGATE_REDIS_URL: redis.url, JOBGATE_SIDECAR_JOB: 'secret-notebook', JOBGATE_SIDECAR_UPSTREAM: 'http://127.0.0.1:1' },
    '0.0.0.0',
  );
  const remote = primary.adminUrl.replace('127.0.0.1', external);
  t.same((await request(remote, { path: '/readyz', timeoutMs: 30_000 })).json(), { status: 'ready' }, 'ready, from anywhere');

  await jobs.delete('secret-notebook');
  await waitFor(async () => (await request(primary.adminUrl, { path: '/readyz' })).status === 503);
  await waitFor(async () => (await request(primary.adminUrl, { path: '/readyz' })).json<{ reasons: string[] }>().reasons.length === 2);
  const fromLoopback = (await request(primary.adminUrl, { path: '/readyz' })).json<{ reasons: string[] }>();
  t.match(
    fromLoopback.reasons,
    [/^worker \d+: job secret-notebook is not registered$/, /^worker \d+: job secret-notebook is not registered$/],
    'loopback: each worker by pid, and the job',
  );

  const fromElsewhere = await request(remote, { path: '/readyz', timeoutMs: 30_000 });
  t.equal(fromElsewhere.status, 503, `from ${external}: the same status`);
  t.same(fromElsewhere.json(), { status: 'not ready', reasons: ['a worker: the sidecar job is not registered'] }, 'terse: no pid, no job id');
  t.equal(await primary.stop(), 0);
});

/** The command line of a running process, as every user of the machine can read it. */
const commandLine = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');

t.test('serve --workers 2 --redis-url with a password: the workers never show it on their command line, and jobgate warns once', async (t) => {
  const redis = await RedisServer.start();
  t.teardown(() => redis.stop());
  const admin = createRedis({ url: redis.url, commandTimeoutMs: 2000, reconnect: false });
  await connectRedis(admin, 2000);
  t.teardown(() => admin.disconnect());
  const up = await Upstream.start('job');
  t.teardown(() => up.close());
  const keys = new KeySpace('jobgate:');
  await new JobStore(admin, keys).put({ id: 'nb1', upstream: up.url });
  const { value } = await new TokenStore(admin, keys).create({ name: 'w', role: 'read' });
  await admin.config('SET', 'requirepass', 'hunter2-secret');

  const url = `redis://:hunter2-secret@127.0.0.1:${redis.port}`;
  const primary = await startPrimary(t, ['--workers', '2', '--redis-url', url], {});
  t.equal(
    (await request(primary.proxyUrl, { host: 'nb1.job.test', headers: bearer(value), timeoutMs: 30_000 })).status,
    200,
    'the workers reach Redis with the password',
  );

  await waitFor(() => [...primary.log().matchAll(/"pid":(\d+)[^\n]*"event":"started"/g)].length >= 2);
  const workerPids = [...primary.log().matchAll(/"pid":(\d+)[^\n]*"event":"started"/g)].map((match) => Number(match[1]));
  t.equal(new Set(workerPids).size, 2, 'two workers started');
  t.match(commandLine(primary.pid), /hunter2-secret/, "the primary's own command line holds what it was given");
  for (const pid of workerPids) {
    const line = commandLine(pid);
    t.match(line, /\bserve\b.*--workers 2/, `worker ${pid} runs serve`);
    t.notMatch(line, /hunter2-secret/, `worker ${pid}: no password on its command line (${line})`);
    t.notMatch(line, /--redis-url/, `worker ${pid}: no --redis-url at all`);
  }
  const warnings = primary
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('jobgate: warning:'));
  t.same(
    warnings,
    ['jobgate: warning: the password in --redis-url is visible to every user of this machine in the process list; set JOBGATE_REDIS_URL instead'],
    'one warning, from the primary only',
  );
  t.equal(await primary.stop(), 0);
});
