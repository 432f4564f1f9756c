import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { Command, InvalidArgumentError } from 'commander';
import type { Settings } from '../config/settings.js';
import { startSampleJobs, type SampleJobs } from '../demo/jobs.js';
import { portIsFree, startPrivateRedis } from '../demo/redis.js';
import { InputError, NotFoundError, PortInUseError } from '../errors.js';
import type { RunningJobgate } from '../server.js';
import type { CliIo, GlobalOptions } from './context.js';
import { terminalLine } from './terminal.js';

/** Every key the demo writes starts with this, so that it never touches a real installation's data. */
export const DEMO_KEY_PREFIX = 'jobgate-demo:';
/** Browsers and curl (>= 7.78) resolve every *.localhost name to loopback. */
export const DEMO_JOB_DOMAIN = 'job.localhost';
const DEFAULT_PORT = 8080;
const DEFAULT_ADMIN_PORT = 9090;
const READY_TIMEOUT_MS = 15_000;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** The only settings the demo takes from the environment (besides JOBGATE_REDIS_URL): it is self-contained. */
const PASSED_SETTINGS = ['JOBGATE_LOG_LEVEL'];

interface DemoOptions extends GlobalOptions {
  port?: number;
  adminPort?: number;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535 (0: any free port)');
  return port;
}

/** `jobgate demo`: everything needed to try jobgate on one machine, stopped by Ctrl-C. */
export function demoCommand(io: CliIo): Command {
  return new Command('demo')
    .description(
      'try jobgate on this machine: starts a private redis-server, two sample jobs and jobgate on 127.0.0.1, creates tokens, and prints curl commands and browser URLs; Ctrl-C stops it all',
    )
    .option('--port <n>', `proxy port on 127.0.0.1 (default ${DEFAULT_PORT}, or a free one when it is busy)`, parsePort)
    .option('--admin-port <n>', `admin port on 127.0.0.1 (default ${DEFAULT_ADMIN_PORT}, or a free one when it is busy)`, parsePort)
    .addHelpText(
      'after',
      `
Needs redis-server on PATH (apt-get install redis-server), unless JOBGATE_REDIS_URL (or --redis-url)
names a running Redis: then the demo uses that one, under the key prefix ${DEMO_KEY_PREFIX}, and removes
what it wrote when it stops. Job URLs are http://<job>.${DEMO_JOB_DOMAIN}:<port>/. The demo reads no config
file and no other JOBGATE_* setting but JOBGATE_LOG_LEVEL (default warn; logs go to stderr).`,
    )
    .action(async (_options: unknown, command: Command) => {
      await runDemo(command.optsWithGlobals<DemoOptions>(), io);
    });
}

/** A cleanup step, run in reverse order of start-up. */
type Cleanup = () => Promise<void> | void;

async function runDemo(options: DemoOptions, io: CliIo): Promise<void> {
  const cleanups: Cleanup[] = [];
  let stopRequested = false;
  let wake = () => {};
  const stopped = new Promise<void>((resolve) => (wake = resolve));
  // Installed first: a Ctrl-C during start-up must also stop what is already running.
  const onSignal = () => {
    stopRequested = true;
    wake();
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  let running: RunningDemo | undefined;
  try {
    const demo = await start(options, io, cleanups, () => stopRequested);
    if (demo === undefined) return;
    running = demo;
    io.stdout(instructions(demo));
    await stopped;
  } catch (error) {
    // A Ctrl-C during start-up is not a failure.
    if (stopRequested) return;
    throw error;
  } finally {
    let failed = false;
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        failed = true;
        io.stderr(`jobgate: warning: while stopping the demo: ${terminalLine((error as Error).message)}\n`);
      }
    }
    for (const signal of SIGNALS) process.off(signal, onSignal);
    if (running && failed) io.stdout('jobgate demo stopped, with the warnings above\n');
    else if (running) {
      const redis =
        running.redis.privatePid === undefined ? `its keys (${DEMO_KEY_PREFIX}*) removed from Redis` : `redis-server (pid ${running.redis.privatePid}) stopped`;
      io.stdout(`jobgate demo stopped: jobgate and the sample jobs closed, ${redis}\n`);
    }
  }
}

interface RunningDemo {
  readonly jobgate: RunningJobgate;
  readonly redis: { readonly url: string; readonly privatePid?: number };
  readonly readerId: string;
  readonly reader: string;
  readonly operator: string;
}

/**
 * Settings for the demo's jobgate, all chosen here: no config file and no JOBGATE_* variable
 * but the log level, so that nothing in the user's shell turns it into another mode, moves
 * a listener off 127.0.0.1 or points it at another Redis topology.
 */
async function demoSettings(env: NodeJS.ProcessEnv, redisUrl: string, port: number, adminPort: number, cookieSecret: string): Promise<Settings> {
  // This module's Redis, settings and proxy modules load when the demo runs, not with its definition (`jobgate --help`).
  const { loadSettings } = await import('../config/load.js');
  const passed = Object.fromEntries(PASSED_SETTINGS.filter((name) => env[name]).map((name) => [name, env[name]]));
  return loadSettings({
    env: {
      JOBGATE_LOG_LEVEL: 'warn',
      ...passed,
      JOBGATE_REDIS_URL: redisUrl,
      JOBGATE_KEY_PREFIX: DEMO_KEY_PREFIX,
      JOBGATE_JOB_DOMAIN: DEMO_JOB_DOMAIN,
      JOBGATE_LISTEN: `127.0.0.1:${port}`,
      JOBGATE_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
      JOBGATE_COOKIE_SECRET: cookieSecret,
      // The control API, on the proxy's own address: http://127.0.0.1:<port>/api/v1/...
      JOBGATE_CONTROL_HOST: '127.0.0.1',
    },
  });
}

/** Starts everything; undefined when a signal arrived meanwhile. Each step leaves its cleanup in `cleanups`. */
async function start(options: DemoOptions, io: CliIo, cleanups: Cleanup[], cancelled: () => boolean): Promise<RunningDemo | undefined> {
  const externalUrl = options.redisUrl || io.env.JOBGATE_REDIS_URL || undefined;
  const cookieSecret = randomBytes(32).toString('hex');
  await checkBeforeStarting(options, io.env, externalUrl, cookieSecret);
  const redis = externalUrl === undefined ? await startOwnRedis(cleanups, cancelled) : { url: externalUrl };
  if (cancelled()) return undefined;

  const jobs = await startSampleJobs();
  cleanups.push(() => jobs.close());
  const tokens = await seed(redis.url, jobs, externalUrl !== undefined, cleanups);
  if (cancelled()) return undefined;

  const log = new DemoLog(io);
  const jobgate = await startDemoJobgate(options, io.env, redis.url, cookieSecret, log);
  cleanups.push(() => jobgate.close(500));
  await waitUntilReady(jobgate, cancelled);
  if (cancelled()) return undefined;
  log.release();
  return { jobgate, redis, ...tokens };
}

/** A bad setting (JOBGATE_LOG_LEVEL, --redis-url) or a busy forced port is reported before anything starts. */
async function checkBeforeStarting(options: DemoOptions, env: NodeJS.ProcessEnv, externalUrl: string | undefined, cookieSecret: string): Promise<void> {
  await demoSettings(env, externalUrl ?? 'redis://127.0.0.1:6379', 0, 0, cookieSecret);
  for (const [flag, port] of [
    ['--port', options.port],
    ['--admin-port', options.adminPort],
  ] as const) {
    if (port !== undefined && port !== 0 && !(await portIsFree(port))) {
      throw new InputError(`cannot listen on 127.0.0.1:${port} (${flag}): the port is in use; leave out ${flag} to take a free one`);
    }
  }
}

/** A private redis-server for the demo, stopped with it. */
async function startOwnRedis(cleanups: Cleanup[], cancelled: () => boolean): Promise<RunningDemo['redis']> {
  const redis = await startPrivateRedis(cancelled);
  cleanups.push(() => redis.stop());
  return { url: redis.url, privatePid: redis.pid };
}

/**
 * Seeds two jobs, a read token scoped to one of them and an unscoped operator token. A private
 * Redis disappears with the demo; a `shared` one gets back what the demo wrote.
 */
async function seed(redisUrl: string, jobs: SampleJobs, shared: boolean, cleanups: Cleanup[]): Promise<Pick<RunningDemo, 'readerId' | 'reader' | 'operator'>> {
  const [{ JobStore }, { connectRedis, createRedis, KeySpace }, { TokenStore }, { CLI_REDIS_TIMEOUT_MS }] = await Promise.all([
    import('../jobs/store.js'),
    import('../redis/index.js'),
    import('../tokens/store.js'),
    import('./stores.js'),
  ]);
  const admin = createRedis({ url: redisUrl, commandTimeoutMs: CLI_REDIS_TIMEOUT_MS, reconnect: true });
  admin.on('error', () => {
    // Reported by the command that fails.
  });
  cleanups.push(() => {
    if (admin.status !== 'end') admin.disconnect();
  });
  await connectRedis(admin, CLI_REDIS_TIMEOUT_MS);
  const keys = new KeySpace(DEMO_KEY_PREFIX);
  const jobStore = new JobStore(admin, keys);
  const tokenStore = new TokenStore(admin, keys);
  const seeded: { jobs: string[]; tokens: string[] } = { jobs: [], tokens: [] };
  if (shared) {
    cleanups.push(async () => {
      // What the user deleted meanwhile (the printed `token delete`) is already gone.
      const gone = (error: unknown) => {
        if (!(error instanceof NotFoundError)) throw error;
      };
      for (const id of seeded.tokens) await tokenStore.delete(id).catch(gone);
      for (const id of seeded.jobs) await jobStore.delete(id).catch(gone);
      // The demo's own audit trail and last-use record, under its own prefix.
      await admin.del(keys.events, keys.tokensLastUsed, keys.jobsLastUsed);
    });
  }
  for (const [id, upstream] of [
    ['notebook', jobs.notebookUrl],
    ['model', jobs.modelUrl],
  ] as const) {
    await jobStore.put({ id, upstream, labels: { team: 'demo', app: id } });
    seeded.jobs.push(id);
  }
  const reader = await tokenStore.create({ name: 'demo-reader', role: 'read', labelSelector: 'jobgate/id=notebook' });
  seeded.tokens.push(reader.record.id);
  const operator = await tokenStore.create({ name: 'demo-operator', role: 'operator', labelSelector: '' });
  seeded.tokens.push(operator.record.id);
  return { readerId: reader.record.id, reader: reader.value, operator: operator.value };
}

/** Polls jobgate's /readyz until it answers 200 (or a signal arrives); fails after READY_TIMEOUT_MS. */
async function waitUntilReady(jobgate: RunningJobgate, cancelled: () => boolean): Promise<void> {
  const adminUrl = `http://127.0.0.1:${jobgate.adminAddress.port}/readyz`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  while (!cancelled()) {
    const reply = await get(adminUrl);
    if (reply.status === 200) break;
    last = reply.body;
    if (Date.now() > deadline) throw new Error(`jobgate was not ready within ${READY_TIMEOUT_MS / 1000} s: ${last.trim() || 'no answer'}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** jobgate's log lines: held back until it is up, so that a failed start says one line only. */
class DemoLog {
  private held: string[] | undefined = [];

  constructor(private readonly io: CliIo) {}

  write(line: string): void {
    if (this.held) this.held.push(line);
    else this.io.stderr(line);
  }

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const line of held) this.io.stderr(line);
  }
}

/** jobgate on 8080 and 9090 when they are free (or the forced ports), else on free ones. */
async function startDemoJobgate(options: DemoOptions, env: NodeJS.ProcessEnv, redisUrl: string, cookieSecret: string, log: DemoLog): Promise<RunningJobgate> {
  const [{ resolveSettings }, { startJobgate }] = await Promise.all([import('../config/resolve.js'), import('../server.js')]);
  const choose = async (forced: number | undefined, preferred: number) => forced ?? ((await portIsFree(preferred)) ? preferred : 0);
  const attempt = async (port: number, adminPort: number) =>
    startJobgate(await resolveSettings(await demoSettings(env, redisUrl, port, adminPort, cookieSecret)), { logDestination: log });
  try {
    return await attempt(await choose(options.port, DEFAULT_PORT), await choose(options.adminPort, DEFAULT_ADMIN_PORT));
  } catch (error) {
    // Taken between the check and the listen: any free port will do, unless both are forced.
    if (!(error instanceof PortInUseError) || (options.port !== undefined && options.adminPort !== undefined)) throw error;
    return attempt(options.port ?? 0, options.adminPort ?? 0);
  }
}

async function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

/** What to paste: complete commands with the real ports and token values. */
function instructions(demo: RunningDemo): string {
  const port = demo.jobgate.proxyAddress.port;
  const adminPort = demo.jobgate.adminAddress.port;
  const job = (id: string, path = '/') => `http://${id}.${DEMO_JOB_DOMAIN}:${port}${path}`;
  const auth = (token: string) => `-H 'Authorization: Bearer ${token}'`;
  const quoted = (url: string) => (/[?&]/.test(url) ? `'${url}'` : url);
  const predict = job('model', '/predict?x=1');
  const shownRedis = (() => {
    if (demo.redis.privatePid !== undefined) return `${demo.redis.url}, a private redis-server (pid ${demo.redis.privatePid}) in memory, stopped with the demo`;
    const url = new URL(demo.redis.url);
    return `${url.protocol}//${url.host} from JOBGATE_REDIS_URL: the demo's keys are under ${DEMO_KEY_PREFIX} and removed when it stops`;
  })();
  const cliRedis = demo.redis.privatePid !== undefined ? `--redis-url ${demo.redis.url} ` : '';
  return `jobgate demo is running (Ctrl-C stops everything it started)

  proxy   http://127.0.0.1:${port}   job URLs: http://<job>.${DEMO_JOB_DOMAIN}:${port}/
  admin   http://127.0.0.1:${adminPort}/readyz
  redis   ${shownRedis}
  jobs    notebook  an HTML page that opens a WebSocket echo (labels team=demo, app=notebook)
          model     a JSON API: GET /predict?x=1 (labels team=demo, app=model)
  tokens  demo-reader    role read, selector jobgate/id=notebook: the notebook only
          demo-operator  role operator, no selector: every job

Try it (each command is one line, ready to paste):
  200, the notebook page, with the read token:
    curl ${auth(demo.reader)} ${job('notebook')}
  403 insufficient_scope, the read token is scoped to the notebook:
    curl -i ${auth(demo.reader)} ${quoted(predict)}
  200, {"y":2,...}, with the operator token:
    curl ${auth(demo.operator)} ${quoted(predict)}
  401, no token (the answer says how to authenticate):
    curl -i ${job('notebook')}
  The first one for a curl older than 7.78 (which does not resolve *.localhost): the Host header, to 127.0.0.1:
    curl -H 'Host: notebook.${DEMO_JOB_DOMAIN}' ${auth(demo.reader)} http://127.0.0.1:${port}/

In a browser (the token in the link logs you in, then leaves the address bar):
  the notebook with the read token; its page echoes over a WebSocket through jobgate:
    ${job('notebook')}?jobgate_token=${demo.reader}
  the model with the operator token:
    ${predict}&jobgate_token=${demo.operator}
  the login page (paste a token there):
    ${job('notebook')}

Revoke the read token and watch the notebook page's WebSocket close (code 1008):
    npx jobgate ${cliRedis}--key-prefix ${DEMO_KEY_PREFIX} token delete ${demo.readerId}

Manage tokens without Redis: the control API (operator tokens only; docs/control-api.md):
    curl ${auth(demo.operator)} http://127.0.0.1:${port}/api/v1/tokens
    JOBGATE_TOKEN=${demo.operator} npx jobgate --server http://127.0.0.1:${port} token list
  and the audit trail of every change:
    curl ${auth(demo.operator)} http://127.0.0.1:${port}/api/v1/events

The token console in a browser: tokens, jobs and who can open them, the audit trail (docs/console.md).
  Sign in there with the demo-operator token's value (printed above):
    http://127.0.0.1:${port}/console/login
`;
}
