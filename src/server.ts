import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { DestinationStream } from 'pino';
import { FailureLimiter, type FailureCounter } from './auth/failure-limit.js';
import type { ConsoleApp } from './console/app.js';
import type { ControlApi } from './control/http.js';
import type { ResolvedSettings } from './config/resolve.js';
import { SETTINGS } from './config/settings.js';
import { JobStore } from './jobs/store.js';
import { createAdminServer } from './observability/admin.js';
import { ReadinessProbe } from './observability/health.js';
import { sidecarUpstreamWarning } from './observability/sidecar-upstream.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { Forwarder } from './proxy/forward.js';
import { jwksDocument } from './assertion/keys.js';
import { AssertionSigner } from './assertion/signer.js';
import { createAuthzServer } from './authz/endpoint.js';
import { createProxyHandlers, upstreamFailureLogger } from './proxy/handler.js';
import { listenOn } from './http/listen.js';
import { ApiAccess, Authenticator, Gate, JobRouter, type UsageSink } from './gate/index.js';
import { LiveSockets } from './proxy/live-sockets.js';
import { createRedisClient, isCluster, KeySpace, type RedisClient } from './redis/index.js';
import { CachedRegistry } from './registry/cache.js';
import { InvalidationSubscriber } from './registry/invalidation.js';
import { LastUse } from './registry/last-use.js';
import { RedisRegistry, type RecordSource } from './registry/registry.js';
import { StoreUnavailableError } from './errors.js';
import { performance } from 'node:perf_hooks';
import { SessionCookies } from './session/cookie.js';
import { TokenStore } from './tokens/store.js';
import { Teardown } from './util/teardown.js';

export interface RunningJobgate {
  readonly proxyAddress: AddressInfo;
  /** Port 0 when the admin listener is off (a worker: the primary serves it). */
  readonly adminAddress: AddressInfo;
  /** The forward-auth decision endpoint, when JOBGATE_AUTHZ_LISTEN is set. */
  readonly authzAddress: AddressInfo | undefined;
  readonly logger: Logger;
  readonly registry: CachedRegistry;
  /** Requests and WebSockets in flight. */
  activeRequests(): number;
  /** Why this instance is not ready; empty when it is (what /readyz answers). Not `detailed`: without job ids. */
  notReadyReasons(detailed?: boolean): string[];
  /** This instance's Prometheus metrics. */
  readonly metrics: Metrics;
  /**
   * Shuts down: /readyz turns 503, the listener stops accepting, kept-alive connections get
   * `Connection: close`, WebSockets are closed with 1001, requests in flight get up to
   * `drainTimeoutMs` to finish, then every connection and Redis are closed.
   */
  close(drainTimeoutMs?: number): Promise<void>;
}

export interface StartOptions {
  /** Where log lines go (stdout by default). */
  readonly logDestination?: DestinationStream;
  /** Serve the admin listener (default); workers leave it to the primary. */
  readonly admin?: boolean;
  /** The failure limit (default: this process's own); workers share the primary's. */
  readonly failureLimiter?: FailureCounter;
}

/** What every start-up step may use. */
interface StartContext {
  readonly resolved: ResolvedSettings;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Each step pushes onto it what it opened; close() and a failed start undo it in reverse. */
  readonly teardown: Teardown;
  /** True once close() has begun. */
  readonly draining: () => boolean;
}

/**
 * Starts the proxy listener, the admin listener and, when configured, the forward-auth decision
 * endpoint. A start-up that fails closes what it had opened, as close() would.
 */
export async function startJobgate(resolved: ResolvedSettings, options: StartOptions = {}): Promise<RunningJobgate> {
  const logger = createLogger(resolved.settings.logLevel, options.logDestination);
  const teardown = new Teardown();
  try {
    return await assemble(resolved, options, logger, teardown);
  } catch (error) {
    teardown.stop();
    await teardown.close();
    throw error;
  }
}

/**
 * The start-up steps in order: adding a component is one line here and one push in its step.
 * The order is also the shutdown order, reversed: the proxy and decision listeners close before the admin
 * listener (which answers "shutting down" throughout the drain), and everything before Redis.
 */
async function assemble(resolved: ResolvedSettings, options: StartOptions, logger: Logger, teardown: Teardown): Promise<RunningJobgate> {
  let draining = false;
  // Its sources are read at scrape time, once everything below exists.
  const metrics: Metrics = new Metrics({
    cacheStats: () => stores.registry.stats,
    websocketsOpen: () => revocations.liveSockets.size,
    invalidationMessages: () => revocations.invalidation.received,
  });
  const step: StartContext = { resolved, logger, metrics, teardown, draining: () => draining };
  const { redis, subscriber } = openRedis(step);
  const stores = openRegistry(step, redis);
  const access = openAccess(step, stores.registry, options.failureLimiter, recordLastUse(step, redis, stores.keys));
  const revocations = watchRevocations(step, stores, access.gate.api, { subscriber, commands: redis });
  const notReadyReasons = startReadiness(step, redis, stores, revocations.invalidation);
  const admin = options.admin === false ? undefined : createAdmin(step, notReadyReasons, access.jwks);
  const control = resolved.controlHost === undefined ? undefined : await openControl(step, redis, stores.keys, access.gate);
  const proxy = createProxy(step, access, revocations.liveSockets, control);
  const authz = createAuthz(step, access);
  const addresses = await listenAll(resolved, { proxy: proxy.server, admin, authz });
  warnOfEphemeralKeys(resolved, logger);
  logStarted(resolved, logger, addresses);

  return {
    ...addresses,
    logger,
    registry: stores.registry,
    activeRequests: proxy.handlers.active,
    notReadyReasons,
    metrics,
    async close(drainTimeoutMs = 0) {
      if (draining) return;
      // Not ready at once, no new connections, Connection: close on what is answered from now on, WebSockets 1001.
      draining = true;
      teardown.stop();
      await drain(proxy, drainTimeoutMs, logger);
      // Then every connection, the upstream pools, the admin listener and Redis.
      await teardown.close();
      logger.info({ event: 'stopped' }, 'jobgate stopped');
      logger.flush();
    },
  };
}

/** The commands connection and the invalidation subscriber; they connect, and reconnect, in the background. */
function openRedis({ resolved, logger, metrics, teardown }: StartContext): { redis: RedisClient; subscriber: RedisClient } {
  const { topology, settings } = resolved;
  const redis = createRedisClient({ topology, commandTimeoutMs: settings.redisTimeoutMs }, 'commands');
  const subscriber = createRedisClient({ topology, commandTimeoutMs: settings.redisTimeoutMs }, 'subscriber');
  let closing = false;
  teardown.push({
    close: () => {
      closing = true;
      redis.disconnect();
      subscriber.disconnect();
    },
  });
  for (const [connection, name] of [
    [redis, 'commands'],
    [subscriber, 'invalidation'],
  ] as const) {
    let lastError = '';
    connection.on('error', (error: Error) => {
      // Closing fails what a connection under way still had pending ("Stream isn't writeable"):
      // the consequence of the shutdown (or of a start that could not listen), not news.
      if (closing) return;
      metrics.redisError();
      if (error.message !== lastError) logger.warn({ event: 'redis_error', connection: name, err: { message: error.message } }, 'redis connection error');
      lastError = error.message;
    });
    connection.on('ready', () => {
      lastError = '';
      logger.info({ event: 'redis_ready', connection: name }, 'connected to redis');
    });
    // Reconnection goes on in the background; requests get 503 and /readyz says why meanwhile.
    connection.connect().catch(() => {});
  }
  return { redis, subscriber };
}

/** The last-use record: uses noted in memory, written every interval (and at shutdown, before Redis closes). */
function recordLastUse({ resolved, logger, teardown }: StartContext, redis: RedisClient, keys: KeySpace): LastUse {
  const lastUse = new LastUse(
    redis,
    keys,
    (error, dropped) => logger.warn({ event: 'last_use_write_failed', ...dropped, err: { message: error.message } }, 'last use not written'),
    resolved.settings.lastUseIntervalMs,
  );
  teardown.push({ close: () => lastUse.close() });
  return lastUse;
}

/** The cached registry of tokens and jobs. */
function openRegistry({ resolved, metrics }: StartContext, redis: RedisClient): { keys: KeySpace; registry: CachedRegistry } {
  const { settings, topology } = resolved;
  const keys = new KeySpace(topology.keyPrefix);
  const registry = new CachedRegistry(timedRegistry(new RedisRegistry(new TokenStore(redis, keys), new JobStore(redis, keys)), metrics), {
    maxEntries: settings.cacheSize,
    ttlMs: settings.cacheTtlMs,
    negativeTtlMs: settings.negativeCacheTtlMs,
    outageGraceMs: settings.outageGraceMs,
  });
  return { keys, registry };
}

/**
 * What keeps access current: the invalidation channel (caches, and the WebSockets and responses
 * in flight, follow every change), and a sweep every cache TTL for a writer that forgot to publish.
 */
function watchRevocations(
  { resolved, logger, metrics, teardown }: StartContext,
  { keys, registry }: ReturnType<typeof openRegistry>,
  api: ApiAccess | undefined,
  { subscriber, commands }: { subscriber: RedisClient; commands: RedisClient },
): { liveSockets: LiveSockets; invalidation: InvalidationSubscriber } {
  const liveSockets = new LiveSockets(
    registry,
    (kind, jobId, tokenId, reason) => {
      if (kind === 'websocket') {
        metrics.websocketRevoked();
        logger.info({ event: 'websocket_revoked', jobId, tokenId, reason }, 'websocket closed: access revoked');
      } else {
        metrics.responseRevoked();
        logger.info({ event: 'response_revoked', jobId, tokenId, reason }, 'http response ended: access revoked');
      }
    },
    api ? (token, jobId) => api.recheck(token, jobId) : undefined,
  );
  const invalidation = new InvalidationSubscriber(
    subscriber,
    keys.channel,
    {
      token: (id) => {
        registry.invalidateToken(id);
        void liveSockets.tokenChanged(id);
      },
      job: (id) => {
        registry.invalidateJob(id);
        void liveSockets.jobChanged(id);
      },
      resubscribed: () => {
        registry.flush();
        void liveSockets.recheckAll();
        logger.info({ event: 'invalidation_subscribed', channel: keys.channel }, 'listening for invalidations; caches flushed');
      },
      // Cluster heartbeats go out on the commands client (the records' node, as every lookup does),
      // whose answers also serve as the readiness probe's: one round trip a second per instance.
    },
    isCluster(commands) ? { publisher: commands } : {},
  );
  // The TTL safety net for open WebSockets too: a writer that forgot to publish is caught here.
  const sweep = setInterval(() => void liveSockets.recheckAll(), resolved.settings.cacheTtlMs);
  sweep.unref();
  teardown.push({
    stop: () => {
      invalidation.stop();
      clearInterval(sweep);
      liveSockets.closeAll('jobgate is shutting down');
    },
  });
  return { liveSockets, invalidation };
}

/** The readiness probe; returns why this instance is not ready (what /readyz answers). */
function startReadiness(
  { resolved, logger, teardown, draining }: StartContext,
  redis: RedisClient,
  { registry, keys }: { registry: CachedRegistry; keys: KeySpace },
  invalidation: InvalidationSubscriber,
): (detailed?: boolean) => string[] {
  const { mode } = resolved;
  const sidecar = mode.kind === 'sidecar' ? { jobId: mode.jobId, seen: sidecarUpstreamWarning(mode.jobId, mode.upstream, logger) } : undefined;
  // On a Cluster the heartbeats go through this client every second: their answers stand for the PING.
  // Before the first answer, a keyed command stands for it there: a PING would open a connection to a random node (issue 22).
  const ping = isCluster(redis) ? () => redis.exists(keys.tokens) : undefined;
  const readiness = new ReadinessProbe(redis, registry, sidecar, undefined, () => invalidation.answeredAt, ping);
  readiness.start();
  teardown.push({ stop: () => readiness.stop() });
  return (detailed = true) => {
    if (draining()) return ['shutting down'];
    const reasons = readiness.reasons(detailed);
    if (!invalidation.live) reasons.push('invalidation subscription is down');
    return reasons;
  };
}

/**
 * Who may pass: browser sessions, the gate every entry point asks (job routing, authentication,
 * the training API), and the assertion signer with its JWKS.
 */
function openAccess({ resolved }: StartContext, registry: CachedRegistry, failureLimiter: FailureCounter | undefined, usage: UsageSink) {
  const { settings, mode, api, cookieKeys, assertionKeys } = resolved;
  const sessions = new SessionCookies(cookieKeys, settings.sessionTtlSeconds);
  const authenticator = new Authenticator(registry, failureLimiter ?? new FailureLimiter(settings.authFailureLimit), sessions);
  const apiAccess = api && new ApiAccess(api, authenticator, registry, usage);
  const gate = new Gate(new JobRouter(mode, registry), authenticator, apiAccess, resolved.controlHost, usage);
  const signer = new AssertionSigner(assertionKeys, settings.assertionIssuer);
  const jwks = Buffer.from(JSON.stringify(jwksDocument(assertionKeys)));
  return { gate, signer, jwks };
}

type Access = ReturnType<typeof openAccess>;

/** The admin listener (/healthz, /readyz, /metrics, the JWKS); closed after the proxy, so /readyz says why throughout the drain. */
function createAdmin({ metrics, teardown }: StartContext, notReadyReasons: (detailed?: boolean) => string[], jwks: Buffer): Server {
  const server = createAdminServer({
    notReadyReasons,
    jwks,
    metrics: async () => ({ text: await metrics.registry.metrics(), contentType: metrics.registry.contentType }),
  });
  teardown.push({
    close: async () => {
      if (!server.listening) return;
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    },
  });
  return server;
}

/**
 * The control API and the token console on JOBGATE_CONTROL_HOST: the stores they write through,
 * and the audit trail they read. Loaded only when it is on: a sidecar starts without their modules.
 */
async function openControl({ logger, resolved }: StartContext, redis: RedisClient, keys: KeySpace, gate: Gate): Promise<Control> {
  const [{ ControlApi }, { ControlService }, { AuditLog }, { ConsoleApp }, { ConsoleSessions }, { SignedOutSessions }] = await Promise.all([
    import('./control/http.js'),
    import('./control/service.js'),
    import('./audit/log.js'),
    import('./console/app.js'),
    import('./console/session.js'),
    import('./console/signed-out.js'),
  ]);
  const stores = { tokens: new TokenStore(redis, keys), jobs: new JobStore(redis, keys), events: new AuditLog(redis, keys) };
  const service = new ControlService(stores, logger);
  const sessions = new ConsoleSessions(resolved.cookieKeys, resolved.settings.sessionTtlSeconds);
  const consoleApp = new ConsoleApp(service, gate, sessions, new SignedOutSessions(redis, keys), logger);
  return { api: new ControlApi(service, logger), console: consoleApp };
}

/** What the control host serves: the control API and the token console. */
interface Control {
  readonly api: ControlApi;
  readonly console: ConsoleApp;
}

/** The proxy listener: the forwarder to upstreams, the request handlers, and their HTTP server. */
function createProxy(
  { resolved, logger, metrics, teardown, draining }: StartContext,
  { gate, signer, jwks }: Access,
  liveSockets: LiveSockets,
  control: Control | undefined,
) {
  const { settings } = resolved;
  const forwarder = new Forwarder(settings.upstreamTimeoutMs, upstreamFailureLogger(logger), draining, settings.upstreamCookieDomain === 'keep');
  const handlers = createProxyHandlers(settings, {
    gate,
    signer,
    jwks,
    forwarder,
    liveSockets,
    logger,
    metrics,
    draining,
    control: control?.api,
    console: control?.console,
  });
  const server = createServer({
    maxHeaderSize: settings.maxHeaderBytes,
    headersTimeout: settings.headersTimeoutMs,
    requestTimeout: settings.requestTimeoutMs,
    keepAliveTimeout: 5000,
    // Node checks the two timeouts above only this often (30 s by default).
    connectionsCheckingInterval: Math.min(1000, Math.floor(Math.min(settings.headersTimeoutMs, settings.requestTimeoutMs) / 2)),
    // A missing Host is answered by jobgate itself (a JSON 400 and a log line), not by Node's bare 400.
    requireHostHeader: false,
  });
  // One more than the limit, so that a request over it is seen (Node drops the extra ones silently).
  server.maxHeadersCount = settings.maxHeaders + 1;
  server.on('request', (req, res) => void handlers.onRequest(req, res));
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void handlers.onUpgrade(req, socket, head));
  server.on('clientError', handlers.onClientError);
  let closed: Promise<unknown> = Promise.resolve();
  teardown.push({
    stop: () => {
      closed = new Promise((resolve) => server.close(resolve));
      server.closeIdleConnections();
    },
    close: async () => {
      server.closeAllConnections();
      await forwarder.close();
      await closed;
    },
  });
  return { server, handlers };
}

/** The forward-auth decision endpoint, when JOBGATE_AUTHZ_LISTEN is set. */
function createAuthz({ resolved, logger, metrics, teardown }: StartContext, { gate, signer }: Access): Server | undefined {
  const { forwardAuth, settings } = resolved;
  if (forwardAuth === undefined) return undefined;
  const server = createAuthzServer({ gate, signer, trusted: forwardAuth.trusted, logger, metrics, publicScheme: settings.publicScheme });
  teardown.push({
    stop: () => {
      server.close();
      server.closeIdleConnections();
    },
    close: () => server.closeAllConnections(),
  });
  return server;
}

interface Addresses {
  readonly proxyAddress: AddressInfo;
  readonly adminAddress: AddressInfo;
  readonly authzAddress: AddressInfo | undefined;
}

/**
 * Opens the listeners that exist. One that cannot be had fails the start with the setting that
 * names it: PortInUseError (exit 1) when another process holds the port, else InputError (exit 2).
 */
async function listenAll(resolved: ResolvedSettings, servers: { proxy: Server; admin: Server | undefined; authz: Server | undefined }): Promise<Addresses> {
  const { settings, forwardAuth } = resolved;
  const proxyAddress = await listenOn(servers.proxy, settings.listen, SETTINGS.listen.env);
  const adminAddress = servers.admin ? await listenOn(servers.admin, settings.adminListen, SETTINGS.adminListen.env) : { address: '', family: '', port: 0 };
  const authzAddress = servers.authz && forwardAuth ? await listenOn(servers.authz, forwardAuth.listen, SETTINGS.authzListen.env) : undefined;
  return { proxyAddress, adminAddress, authzAddress };
}

/** Keys made for this process only: said once the listeners are open, so that a start that fails says only why. */
function warnOfEphemeralKeys({ cookieKeys, assertionKeys }: ResolvedSettings, logger: Logger): void {
  if (cookieKeys.ephemeral) {
    logger.warn(
      { event: 'ephemeral_cookie_key' },
      'JOBGATE_COOKIE_SECRET is not set: browser sessions use a random key of this process, so they end when it restarts and do not work across instances',
    );
  }
  if (assertionKeys.ephemeral) {
    logger.warn(
      { event: 'ephemeral_assertion_key', kid: assertionKeys.signing.kid },
      'no assertion key configured (JOBGATE_ASSERTION_KEYS / JOBGATE_ASSERTION_KEY_FILES): signing X-Jobgate-Assertion with a per-process key; verifiers must fetch the JWKS again after every restart',
    );
  }
}

function logStarted({ mode }: ResolvedSettings, logger: Logger, { proxyAddress, adminAddress, authzAddress }: Addresses): void {
  logger.info(
    {
      event: 'started',
      mode: mode.kind,
      listen: `${proxyAddress.address}:${proxyAddress.port}`,
      ...(adminAddress.port !== 0 ? { admin: `${adminAddress.address}:${adminAddress.port}` } : {}),
      ...(authzAddress ? { authz: `${authzAddress.address}:${authzAddress.port}` } : {}),
      ...(mode.kind === 'sidecar' ? { job: mode.jobId } : {}),
    },
    'jobgate is listening',
  );
}

/** Waits up to `timeoutMs` for the requests and WebSockets in flight, closing kept-alive connections as they turn idle. */
async function drain(proxy: ReturnType<typeof createProxy>, timeoutMs: number, logger: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (proxy.handlers.active() > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    proxy.server.closeIdleConnections();
  }
  const unfinished = proxy.handlers.active();
  if (unfinished > 0) logger.warn({ event: 'drain_timeout', unfinished }, 'drain timeout: closing the requests still in flight');
}

/** The registry's Redis lookups, timed and counted for the metrics. */
function timedRegistry(source: RecordSource, metrics: Metrics): RecordSource {
  const timed =
    <T>(lookup: (id: string) => Promise<T>) =>
    async (id: string): Promise<T> => {
      const started = performance.now();
      try {
        return await lookup(id);
      } catch (error) {
        if (error instanceof StoreUnavailableError) metrics.redisError();
        throw error;
      } finally {
        metrics.redisCommand((performance.now() - started) / 1000);
      }
    };
  return {
    token: timed((id) => source.token(id)),
    job: timed((id) => source.job(id)),
  };
}
