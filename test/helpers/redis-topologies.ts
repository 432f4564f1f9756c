import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { loadSettings } from '../../src/config/load.js';
import { resolveSettings } from '../../src/config/resolve.js';
import type { Settings } from '../../src/config/settings.js';
import { JobStore } from '../../src/jobs/store.js';
import { connectRedis, createRedisClient, KeySpace, redisTopology, type RedisClient } from '../../src/redis/index.js';
import { startJobgate, type RunningJobgate } from '../../src/server.js';
import { TokenStore } from '../../src/tokens/store.js';
import { JOB_DOMAIN, LogCapture, waitFor } from './jobgate.js';
import { killLikeACrash } from './redis.js';
import { freePort } from './redis.js';
import { MIN_WAIT_MS } from './wait.js';

/**
 * Real Redis topologies for one test file: a three-master Redis Cluster and a Sentinel set
 * (master, replica, three Sentinels), on loopback and free ports, in a private temporary
 * directory. Tests kill (SIGKILL) and restart single processes; stop() ends everything.
 */

/** Credentials of a node, for the helper's own commands. */
export interface NodeAuth {
  readonly username?: string;
  readonly password?: string;
}

const started = new Set<ChildProcess>();
// A test process that dies without its teardown must not leave redis-servers behind.
process.once('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});

/** One redis-server process (node, replica or Sentinel) that can be killed and started again with the same arguments. */
export class RedisProcess {
  private child: ChildProcess | undefined;

  constructor(
    readonly port: number,
    private readonly args: readonly string[],
    private readonly logFile: string,
    readonly auth: NodeAuth = {},
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    const log = openSync(this.logFile, 'a');
    const child = spawn('redis-server', [...this.args], { stdio: ['ignore', log, log] });
    closeSync(log);
    this.child = child;
    started.add(child);
    child.once('exit', () => started.delete(child));
    const deadline = Date.now() + MIN_WAIT_MS;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${this.port} exited with code ${child.exitCode}: ${this.logTail()}`);
      if ((await command(this.port, ['PING'], this.auth, 300).catch(() => undefined)) === 'PONG') return;
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer within ${MIN_WAIT_MS / 1000} s`);
      await sleep(30);
    }
  }

  /** Kills it as a crash would (SIGKILL) and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await killLikeACrash(child);
  }

  /** Stops it (SIGSTOP): its connections stay open and say nothing, as a hung node's would. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Lets a paused process run again (SIGCONT). */
  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Sends one command to this process alone. */
  async command(args: readonly (string | number)[], timeoutMs = 1000): Promise<unknown> {
    return command(this.port, args, this.auth, timeoutMs);
  }

  logTail(): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-5).join(' | ');
    } catch {
      return '';
    }
  }
}

/** One command on a fresh connection to 127.0.0.1:port (no cluster redirection, no retry). */
export async function command(port: number, args: readonly (string | number)[], auth: NodeAuth = {}, timeoutMs = 1000): Promise<unknown> {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    ...(auth.username ? { username: auth.username } : {}),
    ...(auth.password ? { password: auth.password } : {}),
    lazyConnect: true,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const [name, ...rest] = args;
    return await redis.call(String(name), ...rest);
  } finally {
    redis.disconnect();
  }
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `check` holds, or throws `what` after `timeoutMs` (at least 30 s: a busy machine is slow, a passing check returns at once). */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const bound = Math.max(timeoutMs, 30_000);
  const deadline = Date.now() + bound;
  for (;;) {
    if (await Promise.resolve(check()).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${bound} ms`);
    await sleep(everyMs);
  }
}

/**
 * The first answer that is not a 503. jobgate fails closed with 503 when a Redis command outlasts
 * its timeout (300 ms in these tests), which a busy machine can cause on any request; a 503 that
 * lasts past the bound still fails, and every other status is returned at once, as answered.
 */
export async function pastUnavailable<T extends { readonly status: number }>(send: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + Math.max(timeoutMs, 30_000);
  for (;;) {
    const reply = await send();
    if (reply.status !== 503 || Date.now() > deadline) return reply;
    await sleep(100);
  }
}

async function run(program: string, args: readonly string[], timeoutMs: number): Promise<string> {
  const child = spawn(program, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${program} ${args.join(' ')} failed (${code}): ${output.slice(-500)}`);
  return output;
}

export interface ClusterOptions {
  /** An ACL user that every node requires (the default user is turned off). */
  readonly auth?: { readonly username: string; readonly password: string };
  /** cluster-node-timeout (ms): how soon a dead master is marked failed. */
  readonly nodeTimeoutMs?: number;
}

/**
 * Three masters, no replicas: `redis-server --cluster-enabled yes` on free ports (the bus on
 * another free port), joined by `redis-cli --cluster create`. `cluster-require-full-coverage
 * no`, so the live masters keep serving their slots while one is down.
 */
export class RedisClusterSet {
  private constructor(
    readonly nodes: readonly RedisProcess[],
    private readonly dir: string,
    readonly auth: NodeAuth,
  ) {}

  static async start(options: ClusterOptions = {}): Promise<RedisClusterSet> {
    const dir = mkdtempSync(join(tmpdir(), 'jobgate-cluster-'));
    const auth: NodeAuth = options.auth ?? {};
    const nodes: RedisProcess[] = [];
    const set = new RedisClusterSet(nodes, dir, auth);
    try {
      for (let i = 0; i < 3; i++) {
        const port = await freePort();
        const busPort = await freePort();
        const args = [
          '--port',
          String(port),
          '--cluster-port',
          String(busPort),
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          String(options.nodeTimeoutMs ?? 2000),
          '--cluster-require-full-coverage',
          'no',
          '--save',
          '',
          '--appendonly',
          'no',
          '--bind',
          '127.0.0.1',
          '--protected-mode',
          'no',
          '--daemonize',
          'no',
          '--dir',
          dir,
          '--loglevel',
          'warning',
          ...(options.auth ? ['--user', options.auth.username, 'on', `>${options.auth.password}`, '~*', '&*', '+@all', '--user', 'default', 'off'] : []),
        ];
        const node = new RedisProcess(port, args, join(dir, `redis-${port}.log`), auth);
        nodes.push(node);
        await node.start();
      }
      await run(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...nodes.map((node) => node.address),
          '--cluster-yes',
          ...(options.auth ? ['--user', options.auth.username, '--pass', options.auth.password, '--no-auth-warning'] : []),
        ],
        30_000,
      );
      await set.waitHealthy();
      return set;
    } catch (error) {
      await set.stop();
      throw error;
    }
  }

  /** `host:port,...` of every node: JOBGATE_REDIS_CLUSTER_NODES. */
  get nodeList(): string {
    return this.nodes.map((node) => node.address).join(',');
  }

  /** Every running node says cluster_state:ok and knows every slot. */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    await until(
      'cluster_state:ok on every node',
      async () => {
        for (const node of this.nodes) {
          if (!node.running) continue;
          const info = String(await node.command(['CLUSTER', 'INFO']));
          if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_assigned:16384')) return false;
          if (/cluster_slots_(pfail|fail):[1-9]/.test(info)) return false;
        }
        return true;
      },
      timeoutMs,
    );
  }

  /** The node whose slots hold `key` (the others answer MOVED). */
  async ownerOf(key: string): Promise<RedisProcess> {
    for (const node of this.nodes) {
      try {
        await node.command(['EXISTS', key]);
        return node;
      } catch (error) {
        if (!String((error as Error).message).startsWith('MOVED')) throw error;
      }
    }
    throw new Error(`no node owns ${key}`);
  }

  /** The nodes with at least one subscriber of `channel` (PUBSUB NUMSUB is per node). */
  async subscribersOf(channel: string): Promise<RedisProcess[]> {
    const found: RedisProcess[] = [];
    for (const node of this.nodes) {
      if (!node.running) continue;
      const reply = (await node.command(['PUBSUB', 'NUMSUB', channel]).catch(() => [channel, 0])) as [string, number];
      if (Number(reply[1]) > 0) found.push(node);
    }
    return found;
  }

  /** Restarts a killed node: same port, same nodes.conf (so it rejoins with its slots), no data. */
  async restart(node: RedisProcess): Promise<void> {
    await node.kill();
    await node.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface SentinelOptions {
  /** requirepass (and masterauth) of the master and the replica. */
  readonly password?: string;
  /** requirepass of the Sentinels themselves. */
  readonly sentinelPassword?: string;
  readonly name?: string;
}

/**
 * One master, one replica (`--replicaof`) and three Sentinels (`redis-server <conf> --sentinel`,
 * quorum 2, down-after 1 s, failover-timeout 5 s), each Sentinel with a writable conf file.
 */
export class RedisSentinelSet {
  private constructor(
    readonly master: RedisProcess,
    readonly replica: RedisProcess,
    readonly sentinels: readonly RedisProcess[],
    readonly name: string,
    private readonly dir: string,
  ) {}

  static async start(options: SentinelOptions = {}): Promise<RedisSentinelSet> {
    const dir = mkdtempSync(join(tmpdir(), 'jobgate-sentinel-'));
    const name = options.name ?? 'mymaster';
    const auth: NodeAuth = options.password ? { password: options.password } : {};
    const dataArgs = (port: number) => [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--protected-mode',
      'no',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--dir',
      dir,
      '--loglevel',
      'warning',
      ...(options.password ? ['--requirepass', options.password, '--masterauth', options.password] : []),
    ];
    const masterPort = await freePort();
    const replicaPort = await freePort();
    const master = new RedisProcess(masterPort, dataArgs(masterPort), join(dir, `redis-${masterPort}.log`), auth);
    const replica = new RedisProcess(
      replicaPort,
      [...dataArgs(replicaPort), '--replicaof', '127.0.0.1', String(masterPort)],
      join(dir, `redis-${replicaPort}.log`),
      auth,
    );
    const sentinels: RedisProcess[] = [];
    const set = new RedisSentinelSet(master, replica, sentinels, name, dir);
    try {
      await master.start();
      await replica.start();
      for (let i = 0; i < 3; i++) {
        const port = await freePort();
        const conf = join(dir, `sentinel-${port}.conf`);
        writeFileSync(
          conf,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            'protected-mode no',
            'daemonize no',
            `dir ${dir}`,
            `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
            `sentinel down-after-milliseconds ${name} 1000`,
            `sentinel failover-timeout ${name} 5000`,
            `sentinel parallel-syncs ${name} 1`,
            ...(options.password ? [`sentinel auth-pass ${name} ${options.password}`] : []),
            ...(options.sentinelPassword ? [`requirepass ${options.sentinelPassword}`, `sentinel sentinel-pass ${options.sentinelPassword}`] : []),
            '',
          ].join('\n'),
        );
        const sentinel = new RedisProcess(
          port,
          [conf, '--sentinel', '--loglevel', 'warning'],
          join(dir, `sentinel-${port}.log`),
          options.sentinelPassword ? { password: options.sentinelPassword } : {},
        );
        sentinels.push(sentinel);
        await sentinel.start();
      }
      await set.waitSettled();
      return set;
    } catch (error) {
      await set.stop();
      throw error;
    }
  }

  /** `host:port,...` of the Sentinels: JOBGATE_REDIS_SENTINELS. */
  get sentinelList(): string {
    return this.sentinels.map((sentinel) => sentinel.address).join(',');
  }

  /** The replica is in sync and every Sentinel knows the master, the replica and the two other Sentinels. */
  async waitSettled(timeoutMs = 20_000): Promise<void> {
    await until('replica online', async () => /slave0:.*state=online/.test(String(await this.master.command(['INFO', 'replication']))), timeoutMs);
    await until(
      'sentinels know each other and the replica',
      async () => {
        for (const sentinel of this.sentinels) {
          const fields = (await sentinel.command(['SENTINEL', 'MASTER', this.name])) as string[];
          const info = Object.fromEntries(fields.flatMap((value, index) => (index % 2 === 0 ? [[value, fields[index + 1]]] : [])));
          if (info['num-other-sentinels'] !== '2' || info['num-slaves'] !== '1' || !String(info.flags).startsWith('master')) return false;
        }
        return true;
      },
      timeoutMs,
    );
  }

  /** The port the Sentinels currently name as master. */
  async masterPort(): Promise<number> {
    for (const sentinel of this.sentinels) {
      if (!sentinel.running) continue;
      const reply = (await sentinel.command(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name]).catch(() => null)) as [string, string] | null;
      if (reply) return Number(reply[1]);
    }
    throw new Error('no Sentinel answers');
  }

  async stop(): Promise<void> {
    await Promise.all([this.master, this.replica, ...this.sentinels].map((process) => process.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** jobgate on free loopback ports in front of a Sentinel set or a Cluster, with stores (through the same topology) to seed it. */
export interface TopologyHarness {
  readonly admin: RedisClient;
  readonly tokens: TokenStore;
  readonly jobs: JobStore;
  readonly keys: KeySpace;
  readonly jobgate: RunningJobgate;
  readonly log: LogCapture;
  readonly settings: Settings;
  readonly url: string;
  readonly adminUrl: string;
  close(): Promise<void>;
}

/**
 * Starts jobgate in-process with `env` (JOBGATE_REDIS_SENTINELS or JOBGATE_REDIS_CLUSTER_NODES,
 * credentials...) in gateway mode on job.test, and an admin client made by the same factory.
 */
export async function startTopologyHarness(env: Record<string, string>): Promise<TopologyHarness> {
  const settings = loadSettings({
    env: {
      JOBGATE_LISTEN: '127.0.0.1:0',
      JOBGATE_ADMIN_LISTEN: '127.0.0.1:0',
      JOBGATE_REDIS_TIMEOUT_MS: '300',
      JOBGATE_JOB_DOMAIN: JOB_DOMAIN,
      JOBGATE_LOG_LEVEL: 'info',
      ...env,
    },
  });
  const topology = redisTopology(settings);
  const admin = createRedisClient({ topology, commandTimeoutMs: 2000 }, 'commands');
  admin.on('error', () => {});
  await connectRedis(admin, 5000);
  const keys = new KeySpace(topology.keyPrefix);
  const log = new LogCapture();
  let jobgate: RunningJobgate;
  try {
    jobgate = await startJobgate(await resolveSettings(settings), { logDestination: log });
  } catch (error) {
    admin.disconnect();
    throw error;
  }
  const adminUrl = `http://127.0.0.1:${jobgate.adminAddress.port}`;
  try {
    await waitFor(async () => (await fetch(`${adminUrl}/readyz`)).status === 200, 60_000);
  } catch (error) {
    await jobgate.close();
    admin.disconnect();
    throw error;
  }
  return {
    admin,
    tokens: new TokenStore(admin, keys),
    jobs: new JobStore(admin, keys),
    keys,
    jobgate,
    log,
    settings,
    url: `http://127.0.0.1:${jobgate.proxyAddress.port}`,
    adminUrl,
    async close() {
      await jobgate.close();
      admin.disconnect();
    },
  };
}
