import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import { jwksDocument, type AssertionKeys } from '../assertion/keys.js';
import { resolveSettings, type ResolvedSettings } from '../config/resolve.js';
import { SETTINGS, type Settings } from '../config/settings.js';
import { InputError } from '../errors.js';
import { listenOn } from '../http/listen.js';
import { createAdminServer } from '../observability/admin.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { startJobgate, type RunningJobgate } from '../server.js';
import { PrimaryFailureLimiter, reportToPrimary, WorkerFailureLimiter } from './failure-limit.js';

/** Parses `--workers <n|auto>`: auto is the CPU count. */
/** True in a worker process that `runPrimary` forked. */
export function isWorker(): boolean {
  return cluster.isWorker;
}

export function workerCount(text: string): number {
  if (text === 'auto') return availableParallelism();
  if (!/^[1-9]\d{0,2}$/.test(text)) throw new InputError(`invalid --workers "${text}": expected a count from 1 to 999, or auto`);
  return Number(text);
}

/** `args` without `--redis-url <url>` and `--redis-url=<url>`. */
function withoutRedisUrlFlag(args: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--redis-url') i++;
    else if (!args[i]!.startsWith('--redis-url=')) kept.push(args[i]!);
  }
  return kept;
}

interface ReadyQuestion {
  readonly jobgate: 'readyz';
  readonly id: number;
  /** Whether the reasons may name jobs (see createAdminServer). */
  readonly detailed: boolean;
}
interface ReadyAnswer extends ReadyQuestion {
  readonly reasons: string[];
}

const isReadyQuestion = (message: unknown): message is ReadyQuestion => (message as ReadyQuestion | null)?.jobgate === 'readyz';

/** A worker's word to the primary that it is serving, or why it could not start. */
type StartReport = { readonly jobgate: 'started' } | { readonly jobgate: 'start_failed'; readonly message: string; readonly usage: boolean };

const isStartReport = (message: unknown): message is StartReport => {
  const kind = (message as StartReport | null)?.jobgate;
  return kind === 'started' || kind === 'start_failed';
};

/**
 * The primary of `jobgate serve --workers n`: forks n workers that share the proxy port,
 * replaces any that crashes, and serves the admin listener for all of them (/metrics sums
 * the workers, /readyz is ready only when every worker is). SIGTERM/SIGINT are relayed;
 * it resolves once every worker has exited. `resolved` is checked already: bad settings never reach a worker.
 */
export async function runPrimary(resolved: ResolvedSettings, count: number): Promise<void> {
  const { settings } = resolved;
  const logger = createLogger(settings.logLevel);
  const pool = new WorkerPool(count, prepareWorkers(resolved, logger), settings.authFailureLimit, logger);
  const admin = primaryAdminServer(pool, resolved.assertionKeys);
  pool.start();
  try {
    await listenOn(admin, settings.adminListen, SETTINGS.adminListen.env);
  } catch (error) {
    await pool.stop();
    throw error;
  }
  logger.info({ event: 'primary_started', workers: count, admin: `${settings.adminListen.host}:${settings.adminListen.port}` }, 'jobgate primary is running');

  const failure = await Promise.race([shutdownSignal(pool, logger), pool.startFailure]);
  await pool.stop();
  await new Promise((resolve) => {
    admin.close(resolve);
    admin.closeAllConnections();
  });
  if (failure) throw failure;
  logger.info({ event: 'stopped' }, 'jobgate primary stopped');
  logger.flush();
}

/**
 * The workers' command line and what their environment adds to the primary's: the keys they
 * must share (or a session or assertion made by one fails in another), and the Redis URL.
 */
function prepareWorkers({ settings, cookieKeys, assertionKeys }: ResolvedSettings, logger: Logger): Record<string, string> {
  const shared: Record<string, string> = {};
  if (cookieKeys.ephemeral) shared.JOBGATE_COOKIE_SECRET = randomBytes(32).toString('base64url');
  if (assertionKeys.ephemeral) {
    // The primary's own per-process key: the JWKS it publishes is then the one the workers sign with.
    shared.JOBGATE_ASSERTION_KEYS = assertionKeys.signing.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    logger.warn({ event: 'ephemeral_keys' }, 'no cookie secret or assertion key configured: the workers share keys made for this run only');
  }
  // Workers are forked with the primary's arguments, which every user sees in the process list:
  // a --redis-url (it may hold a password) reaches them by the environment instead.
  const args = process.argv.slice(2);
  const workerArgs = withoutRedisUrlFlag(args);
  if (workerArgs.length !== args.length) shared.JOBGATE_REDIS_URL = settings.redisUrl;
  cluster.setupPrimary({ args: workerArgs });
  return shared;
}

/** The primary's admin listener: /readyz asks every worker, /metrics sums them, the JWKS is the keys they share. */
function primaryAdminServer(pool: WorkerPool, assertionKeys: AssertionKeys): Server {
  const aggregator = new AggregatorRegistry();
  return createAdminServer({
    jwks: Buffer.from(JSON.stringify(jwksDocument(assertionKeys))),
    notReadyReasons: (detailed) => pool.notReadyReasons(detailed),
    metrics: async () => ({ text: await aggregator.clusterMetrics(), contentType: aggregator.contentType }),
  });
}

/** Resolves (without an error) at the first SIGTERM or SIGINT, unless the workers are stopping already. */
function shutdownSignal(pool: WorkerPool, logger: Logger): Promise<undefined> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (pool.stopping) return;
      logger.info({ event: 'signal', signal }, 'relaying shutdown to the workers');
      resolve(undefined);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

/** The primary's workers: forked with the shared environment, a dead one replaced, one that cannot start reported. */
class WorkerPool {
  /** A worker that cannot start ends the primary with its message: a replacement would fail the same way. */
  readonly startFailure: Promise<Error>;
  private startFailed: (error: Error) => void = () => {};
  private stopped = false;
  private questions = 0;
  /** The failure limit is per address across all workers: the primary holds the counts. */
  private readonly failures: PrimaryFailureLimiter;

  constructor(
    private readonly count: number,
    private readonly environment: Record<string, string>,
    failureLimit: number,
    private readonly logger: Logger,
  ) {
    this.startFailure = new Promise<Error>((resolve) => (this.startFailed = resolve));
    this.failures = new PrimaryFailureLimiter(failureLimit, () => this.live());
  }

  get stopping(): boolean {
    return this.stopped;
  }

  start(): void {
    for (let i = 0; i < this.count; i++) this.fork();
  }

  private live(): Worker[] {
    return Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined && worker.isConnected());
  }

  private fork(): void {
    const worker = cluster.fork(this.environment);
    let started = false;
    worker.on('message', (message: unknown) => {
      this.failures.onMessage(worker, message);
      if (!isStartReport(message)) return;
      if (message.jobgate === 'started') started = true;
      else this.startFailed(message.usage ? new InputError(message.message) : new Error(message.message));
    });
    worker.on('exit', (code, signal) => {
      if (this.stopped) return;
      if (!started) {
        // Its start_failed report, if any, may still be on its way: it wins over this one.
        const crashed = new Error(`a worker exited while starting (${signal ?? `exit code ${code}`}); its error is above`);
        return void setTimeout(() => this.startFailed(crashed), 100);
      }
      this.logger.error({ event: 'worker_exit', pid: worker.process.pid, code, signal }, 'a worker died; starting a replacement');
      this.fork();
    });
  }

  /** What the primary's /readyz answers: ready when every worker is; `detailed` names worker pids. */
  async notReadyReasons(detailed: boolean): Promise<string[]> {
    if (this.stopped) return ['shutting down'];
    const workers = this.live();
    if (workers.length < this.count) return [`${workers.length} of ${this.count} workers running`];
    const answers = await Promise.all(workers.map((worker) => this.askReady(worker, detailed)));
    if (!detailed) return [...new Set(answers.flatMap((reasons) => reasons.map((reason) => `a worker: ${reason}`)))];
    return answers.flatMap((reasons, index) => reasons.map((reason) => `worker ${workers[index]!.process.pid}: ${reason}`));
  }

  private askReady(worker: Worker, detailed: boolean): Promise<string[]> {
    return new Promise((resolve) => {
      const id = this.questions++;
      const timer = setTimeout(() => finish(['did not answer']), 1000);
      const onMessage = (message: unknown) => {
        if (isReadyQuestion(message) && message.id === id) finish((message as ReadyAnswer).reasons);
      };
      const finish = (reasons: string[]) => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        resolve(reasons);
      };
      worker.on('message', onMessage);
      worker.send({ jobgate: 'readyz', id, detailed } satisfies ReadyQuestion);
    });
  }

  /** SIGTERM to every worker; resolves once all have exited. */
  stop(): Promise<void> {
    this.stopped = true;
    return new Promise<void>((resolve) => {
      const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined && !worker.isDead());
      let left = workers.length;
      if (left === 0) resolve();
      for (const worker of workers) {
        worker.once('exit', () => {
          if (--left === 0) resolve();
        });
        worker.process.kill('SIGTERM');
      }
    });
  }
}

/** A worker of `jobgate serve --workers n`: the proxy without the admin listener. */
export async function runWorker(settings: Settings, logger?: Logger): Promise<void> {
  let running: RunningJobgate;
  const failures = new WorkerFailureLimiter(settings.authFailureLimit, reportToPrimary);
  process.on('message', (message: unknown) => failures.onMessage(message));
  try {
    running = await startJobgate(await resolveSettings(settings), { admin: false, failureLimiter: failures });
  } catch (error) {
    // The primary prints it, once for all workers, and exits with it.
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
    const usage = error instanceof InputError;
    await new Promise<void>((resolve) => {
      if (process.send) process.send({ jobgate: 'start_failed', message, usage } satisfies StartReport, undefined, {}, () => resolve());
      else resolve();
    });
    process.exit(usage ? 2 : 1);
  }
  process.send?.({ jobgate: 'started' } satisfies StartReport);
  // The primary's AggregatorRegistry collects from this registry over IPC.
  AggregatorRegistry.setRegistries([running.metrics.registry]);
  new AggregatorRegistry();
  process.on('message', (message: unknown) => {
    if (isReadyQuestion(message)) process.send?.({ ...message, reasons: running.notReadyReasons(message.detailed) } satisfies ReadyAnswer);
  });
  await new Promise<void>((resolve) => {
    const stop = () => void running.close(settings.drainTimeoutMs).then(resolve);
    process.once('SIGTERM', stop);
    process.once('SIGINT', () => {
      // Ctrl-C reaches the whole process group; the primary relays a SIGTERM, which does the drain.
      (logger ?? running.logger).debug({ event: 'signal', signal: 'SIGINT' }, 'waiting for the primary');
    });
  });
  // The IPC channel to the primary would keep this process alive.
  cluster.worker?.disconnect();
}
