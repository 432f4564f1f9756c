import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { answersPing, freeLoopbackPort } from '../../src/demo/redis.js';
import { connectRedis, createRedis, type KeySpace } from '../../src/redis/index.js';
import { MIN_WAIT_MS } from './wait.js';

/** A free TCP port on loopback (bound, read, released). */
export const freePort = freeLoopbackPort;

function assertRedisInstalled(): void {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new Error(
      'redis-server is not installed: the tests need a real Redis. Install it with `apt-get install -y redis-server` (Debian/Ubuntu) or `brew install redis`.',
    );
  }
}

/** SIGKILL (after SIGCONT, should it be paused), as a crash would, and waits until the process is gone. */
export async function killLikeACrash(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGCONT');
  child.kill('SIGKILL');
  await once(child, 'exit');
}

/**
 * A private redis-server on a free port, for one test file: tests can stop, pause
 * (SIGSTOP, a hung Redis) and restart it on the same port.
 */
export class RedisServer {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisServer> {
    assertRedisInstalled();
    const server = new RedisServer(await freePort());
    await server.startProcess();
    return server;
  }

  private async startProcess(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning'],
      { stdio: 'ignore' },
    );
    this.child = child;
    const deadline = Date.now() + MIN_WAIT_MS;
    while (!(await answersPing(this.port, 200))) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode} on port ${this.port}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${this.port} within ${MIN_WAIT_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Kills the server (as a crash would) and waits for it to be gone. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await killLikeACrash(child);
  }

  /** Freezes the server: connections stay open, nothing answers (a hung Redis). */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** After stop(): starts it again on the same port, empty (what restart() does, with the gap in the test's hands). */
  async startAgain(): Promise<void> {
    if (this.child) throw new Error(`redis-server on port ${this.port} is still running: stop() it first`);
    await this.startProcess();
  }

  /** Starts it again on the same port, empty. */
  async restart(): Promise<void> {
    await this.stop();
    await this.startProcess();
  }
}

/** The invalidation messages published on one key space's channel, as they arrive. */
export interface Invalidations {
  readonly seen: string[];
  /** Resolves once `n` messages have arrived. */
  count(n: number): Promise<void>;
}

/** The Redis clients of one test file, disconnected together at its end. */
export class RedisClients {
  private readonly open: Redis[] = [];

  constructor(private readonly url: string) {}

  /** A connected client. */
  async connect(commandTimeoutMs = 2000, reconnect = false): Promise<Redis> {
    const redis = createRedis({ url: this.url, commandTimeoutMs, reconnect });
    redis.on('error', () => {
      // Failures are asserted through the commands; a listener keeps ioredis quiet.
    });
    this.open.push(redis);
    await connectRedis(redis, 2000);
    return redis;
  }

  /** Collects the invalidation messages of one key space, on a client of its own. */
  async invalidations(keys: KeySpace): Promise<Invalidations> {
    const subscriber = await this.connect();
    const seen: string[] = [];
    const waiters: Array<{ n: number; resolve: () => void }> = [];
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== keys.channel) return;
      seen.push(message);
      for (const waiter of waiters.filter((w) => seen.length >= w.n)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
    await subscriber.subscribe(keys.channel);
    return {
      seen,
      count: (n) => (seen.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }))),
    };
  }

  disconnectAll(): void {
    for (const redis of this.open) redis.disconnect();
  }
}

/** Every key under a prefix, sorted (KEYS is fine in a test; jobgate itself never scans). */
export async function keysUnder(redis: Redis, keys: KeySpace): Promise<string[]> {
  return (await redis.keys(`${keys.prefix}*`)).sort();
}

/** Writes a hand-made token record (as an admin script would) in place of any there, and indexes it. */
export async function writeTokenHash(redis: Redis, keys: KeySpace, id: string, hash: Record<string, string>): Promise<void> {
  await redis.multi().del(keys.token(id)).hset(keys.token(id), hash).sadd(keys.tokens, id).exec();
}

/** Writes a hand-made job record (as an admin script would) in place of any there, and indexes it. */
export async function writeJobHash(redis: Redis, keys: KeySpace, id: string, hash: Record<string, string>): Promise<void> {
  await redis.multi().del(keys.job(id)).hset(keys.job(id), hash).sadd(keys.jobs, id).exec();
}
