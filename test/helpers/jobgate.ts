import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { loadSettings } from '../../src/config/load.js';
import type { Settings } from '../../src/config/settings.js';
import { resolveSettings } from '../../src/config/resolve.js';
import { JobStore } from '../../src/jobs/store.js';
import { connectRedis, createRedis, KeySpace } from '../../src/redis/index.js';
import { startJobgate, type RunningJobgate } from '../../src/server.js';
import { eventually, MIN_WAIT_MS, REDIS_COMMAND_TIMEOUT_MS } from './wait.js';
import { TokenStore } from '../../src/tokens/store.js';
import { RedisServer } from './redis.js';

export const JOB_DOMAIN = 'job.test';

/** Captures pino's JSON lines in memory. */
export class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  text = '';

  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    const text = chunk.toString();
    this.text += text;
    for (const line of text.split('\n')) if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  }

  /** Access log lines. */
  get access(): Array<Record<string, unknown>> {
    return this.lines.filter((line) => line.event === 'access');
  }
}

/** A running jobgate on loopback, its private Redis, stores to seed it, and its captured log. */
export interface Harness {
  readonly redisServer: RedisServer;
  readonly admin: Redis;
  readonly tokens: TokenStore;
  readonly jobs: JobStore;
  readonly jobgate: RunningJobgate;
  readonly log: LogCapture;
  readonly settings: Settings;
  /** http://127.0.0.1:<port> of the proxy listener. */
  readonly url: string;
  readonly adminUrl: string;
  close(): Promise<void>;
}

let prefixCounter = 0;

/**
 * Starts a private redis-server (or uses `redisServer`), then jobgate on free ports with
 * `env` as its environment (gateway mode on job.test by default).
 */
export async function startHarness(env: Record<string, string> = {}, redisServer?: RedisServer): Promise<Harness> {
  const ownRedis = redisServer === undefined;
  const server = redisServer ?? (await RedisServer.start());
  const keyPrefix = env.JOBGATE_KEY_PREFIX ?? `jg${prefixCounter++}:`;
  const settings = loadSettings({
    env: {
      JOBGATE_REDIS_URL: server.url,
      JOBGATE_KEY_PREFIX: keyPrefix,
      JOBGATE_LISTEN: '127.0.0.1:0',
      JOBGATE_ADMIN_LISTEN: '127.0.0.1:0',
      JOBGATE_REDIS_TIMEOUT_MS: String(REDIS_COMMAND_TIMEOUT_MS),
      ...(env.JOBGATE_SIDECAR_JOB ? {} : { JOBGATE_JOB_DOMAIN: JOB_DOMAIN }),
      ...env,
    },
  });
  const admin = createRedis({ url: server.url, commandTimeoutMs: 2000, reconnect: true });
  admin.on('error', () => {});
  await connectRedis(admin, 2000);
  const keys = new KeySpace(keyPrefix);
  const log = new LogCapture();
  let jobgate: RunningJobgate;
  try {
    jobgate = await startJobgate(await resolveSettings(settings), { logDestination: log });
  } catch (error) {
    admin.disconnect();
    if (ownRedis) await server.stop();
    throw error;
  }
  await waitFor(async () => (await fetch(`http://127.0.0.1:${jobgate.adminAddress.port}/readyz`)).status === 200 || settings.sidecarJob !== undefined);
  return {
    redisServer: server,
    admin,
    tokens: new TokenStore(admin, keys),
    jobs: new JobStore(admin, keys),
    jobgate,
    log,
    settings,
    url: `http://127.0.0.1:${jobgate.proxyAddress.port}`,
    adminUrl: `http://127.0.0.1:${jobgate.adminAddress.port}`,
    async close() {
      await jobgate.close();
      admin.disconnect();
      if (ownRedis) await server.stop();
    },
  };
}

/** The value of one sample line in a Prometheus exposition (`/metrics`), or undefined. */
export function metricSample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(labels ? `${name}{${labels}} ` : `${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/**
 * Polls `condition` every 20 ms until it holds; fails after `timeoutMs` (at least 30 s). The
 * older name of `eventually` (test/helpers/wait.ts), without a description of what is awaited.
 */
export function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = MIN_WAIT_MS): Promise<void> {
  return eventually('a condition to hold', condition, timeoutMs);
}
