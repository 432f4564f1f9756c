import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { DestinationStream } from 'pino';
import { FailureLimiter, type FailureCounter } from './auth/failure-limit.js';
import type { Settings } from './config/settings.js';
import { InputError } from './errors.js';
import { JobStore } from './jobs/store.js';
import { createAdminServer } from './observability/admin.js';
import { ReadinessProbe } from './observability/health.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import type { Mode } from './routing/mode.js';
import { Forwarder } from './proxy/forward.js';
import { buildApiPolicy, type CompiledApiPolicy } from './api/policy.js';
import { jwksDocument, loadAssertionKeys } from './assertion/keys.js';
import { AssertionSigner } from './assertion/signer.js';
import { AddressBlocks } from './util/address-blocks.js';
import { createAuthzServer } from './authz/endpoint.js';
import { createProxyHandlers, upstreamFailureLogger } from './proxy/handler.js';
import { ApiAccess, Authenticator, Gate, JobRouter } from './gate/index.js';
import { LiveSockets } from './proxy/live-sockets.js';
import { createRedisClient, KeySpace, redisTopology } from './redis/index.js';
import { CachedRegistry } from './registry/cache.js';
import { InvalidationSubscriber } from './registry/invalidation.js';
import { RedisRegistry, type RecordSource } from './registry/registry.js';
import { StoreUnavailableError } from './errors.js';
import { performance } from 'node:perf_hooks';
import { HostRouter } from './routing/host.js';
import { SessionCookies } from './session/cookie.js';
import { sessionKeys } from './session/keys.js';
import { TokenStore } from './tokens/store.js';

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

/** The training-API settings, validated: undefined without JOBGATE_API_HOST; InputError when incomplete. */
export function apiConfigFromSettings(settings: Settings): { hosts: ReadonlySet<string>; upstream: URL; policy: CompiledApiPolicy } | undefined {
  if (settings.apiHost === undefined) {
    if (settings.apiUpstream !== undefined) throw new InputError('invalid setting JOBGATE_API_HOST: required when JOBGATE_API_UPSTREAM is set');
    return undefined;
  }
  if (settings.apiUpstream === undefined) throw new InputError('invalid setting JOBGATE_API_UPSTREAM: required when JOBGATE_API_HOST is set; expected an http:// or https:// URL');
  return { hosts: new Set(settings.apiHost), upstream: new URL(settings.apiUpstream), policy: buildApiPolicy(settings.apiRules ?? []) };
}

/** Which deployment mode the settings describe; throws InputError for an incomplete one. */
export function modeFromSettings(settings: Settings): Mode {
  const { sidecarJob, sidecarUpstream, jobDomain } = settings;
  if (sidecarJob !== undefined || sidecarUpstream !== undefined) {
    if (sidecarJob === undefined) throw new InputError('invalid setting JOBGATE_SIDECAR_JOB: required when JOBGATE_SIDECAR_UPSTREAM is set (sidecar mode)');
    if (sidecarUpstream === undefined) throw new InputError('invalid setting JOBGATE_SIDECAR_UPSTREAM: required when JOBGATE_SIDECAR_JOB is set (sidecar mode)');
    return { kind: 'sidecar', jobId: sidecarJob, upstream: new URL(sidecarUpstream) };
  }
  if (jobDomain === undefined) {
    throw new InputError(
      'invalid setting JOBGATE_JOB_DOMAIN: required in gateway mode; expected a DNS name such as job.example.com (or set JOBGATE_SIDECAR_JOB and JOBGATE_SIDECAR_UPSTREAM for sidecar mode)',
    );
  }
  return { kind: 'gateway', router: new HostRouter(jobDomain) };
}

async function listen(server: Server, address: Settings['listen']): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

/**
 * Everything that can refuse the settings (InputError, exit 2), without opening a connection;
 * returns what it derived. `serve --workers` runs it once, before forking.
 */
export async function checkSettings(settings: Settings) {
  const mode = modeFromSettings(settings);
  const apiConfig = apiConfigFromSettings(settings);
  // Standalone, Sentinel or Cluster, and the key prefix: an impossible combination stops here (exit 2).
  const topology = redisTopology(settings);
  const assertionKeys = await loadAssertionKeys(settings.assertionKeys, settings.assertionKeyFiles ?? [], settings.assertionAlg);
  return { mode, apiConfig, topology, assertionKeys };
}

/** Starts the proxy and admin listeners. */
export async function startJobgate(settings: Settings, options: StartOptions = {}): Promise<RunningJobgate> {
  const { mode, apiConfig, topology, assertionKeys } = await checkSettings(settings);
  const logger = createLogger(settings.logLevel, options.logDestination);

  // Its sources are read at scrape time, once everything below exists.
  const metrics: Metrics = new Metrics({
    cacheStats: () => registry.stats,
    websocketsOpen: () => liveSockets.size,
    invalidationMessages: () => invalidation.received,
  });
  const redis = createRedisClient({ topology, commandTimeoutMs: settings.redisTimeoutMs }, 'commands');
  const subscriber = createRedisClient({ topology, commandTimeoutMs: settings.redisTimeoutMs }, 'subscriber');
  for (const [connection, name] of [
    [redis, 'commands'],
    [subscriber, 'invalidation'],
  ] as const) {
    let lastError = '';
    connection.on('error', (error: Error) => {
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

  const keys = new KeySpace(topology.keyPrefix);
  const registry = new CachedRegistry(timedRegistry(new RedisRegistry(new TokenStore(redis, keys), new JobStore(redis, keys)), metrics), {
    maxEntries: settings.cacheSize,
    ttlMs: settings.cacheTtlMs,
    negativeTtlMs: settings.negativeCacheTtlMs,
    outageGraceMs: settings.outageGraceMs,
  });
  const cookieKeys = sessionKeys(settings.cookieSecret ?? []);
  if (cookieKeys.ephemeral) {
    logger.warn(
      { event: 'ephemeral_cookie_key' },
      'JOBGATE_COOKIE_SECRET is not set: browser sessions use a random key of this process, so they end when it restarts and do not work across instances',
    );
  }
  const sessions = new SessionCookies(cookieKeys, settings.sessionTtlSeconds);
  const authenticator = new Authenticator(registry, options.failureLimiter ?? new FailureLimiter(settings.authFailureLimit), sessions);
  const api = apiConfig && new ApiAccess({ ...apiConfig, maxBodyBytes: settings.apiMaxBodyBytes }, authenticator, registry);
  const gate = new Gate(new JobRouter(mode, registry), authenticator, api);
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
  const invalidation = new InvalidationSubscriber(subscriber, keys.channel, {
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
  });
  // The TTL safety net for open WebSockets too: a writer that forgot to publish is caught here.
  const sweep = setInterval(() => void liveSockets.recheckAll(), settings.cacheTtlMs);
  sweep.unref();

  const readiness = new ReadinessProbe(redis, registry, mode.kind === 'sidecar' ? mode.jobId : undefined);
  readiness.start();

  let draining = false;
  const forwarder = new Forwarder(settings.upstreamTimeoutMs, upstreamFailureLogger(logger), () => draining, settings.upstreamCookieDomain === 'keep');
  if (assertionKeys.ephemeral) {
    logger.warn(
      { event: 'ephemeral_assertion_key', kid: assertionKeys.signing.kid },
      'no assertion key configured (JOBGATE_ASSERTION_KEYS / JOBGATE_ASSERTION_KEY_FILES): signing X-Jobgate-Assertion with a per-process key; verifiers must fetch the JWKS again after every restart',
    );
  }
  const signer = new AssertionSigner(assertionKeys, settings.assertionIssuer);
  const jwks = Buffer.from(JSON.stringify(jwksDocument(assertionKeys)));
  const handlers = createProxyHandlers(settings, { gate, signer, jwks, forwarder, liveSockets, logger, metrics, draining: () => draining });

  const proxyServer = createServer({
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
  proxyServer.maxHeadersCount = settings.maxHeaders + 1;
  proxyServer.on('request', (req, res) => void handlers.onRequest(req, res));
  proxyServer.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void handlers.onUpgrade(req, socket, head));
  proxyServer.on('clientError', handlers.onClientError);

  const notReadyReasons = (detailed = true) => {
    if (draining) return ['shutting down'];
    const reasons = readiness.reasons(detailed);
    if (!invalidation.live) reasons.push('invalidation subscription is down');
    return reasons;
  };
  const authzServer =
    settings.authzListen === undefined
      ? undefined
      : createAuthzServer({ gate, signer, trusted: new AddressBlocks(settings.authzTrusted), logger, metrics, publicScheme: settings.publicScheme });
  const adminServer = createAdminServer({
    notReadyReasons,
    jwks,
    metrics: async () => ({ text: await metrics.registry.metrics(), contentType: metrics.registry.contentType }),
  });

  let proxyAddress: AddressInfo;
  let adminAddress: AddressInfo = { address: '', family: '', port: 0 };
  let authzAddress: AddressInfo | undefined;
  try {
    proxyAddress = await listen(proxyServer, settings.listen);
    if (options.admin !== false) adminAddress = await listen(adminServer, settings.adminListen);
    if (authzServer && settings.authzListen) authzAddress = await listen(authzServer, settings.authzListen);
  } catch (error) {
    proxyServer.close();
    if (adminServer.listening) adminServer.close();
    authzServer?.close();
    readiness.stop();
    clearInterval(sweep);
    redis.disconnect();
    subscriber.disconnect();
    throw new InputError(`cannot listen: ${(error as Error).message}`);
  }
  logger.info(
    {
      event: 'started',
      mode: mode.kind,
      listen: `${proxyAddress.address}:${proxyAddress.port}`,
      ...(options.admin !== false ? { admin: `${adminAddress.address}:${adminAddress.port}` } : {}),
      ...(authzAddress ? { authz: `${authzAddress.address}:${authzAddress.port}` } : {}),
      ...(mode.kind === 'sidecar' ? { job: mode.jobId } : {}),
    },
    'jobgate is listening',
  );

  return {
    proxyAddress,
    adminAddress,
    authzAddress,
    logger,
    registry,
    activeRequests: handlers.active,
    notReadyReasons,
    metrics,
    async close(drainTimeoutMs = 0) {
      if (draining) return;
      // Not ready at once, no new connections, Connection: close on what is answered from now on.
      draining = true;
      readiness.stop();
      invalidation.stop();
      clearInterval(sweep);
      const proxyClosed = new Promise((resolve) => proxyServer.close(resolve));
      if (authzServer) {
        authzServer.close();
        authzServer.closeIdleConnections();
      }
      proxyServer.closeIdleConnections();
      liveSockets.closeAll('jobgate is shutting down');
      const deadline = Date.now() + drainTimeoutMs;
      while (handlers.active() > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        proxyServer.closeIdleConnections();
      }
      const unfinished = handlers.active();
      if (unfinished > 0) logger.warn({ event: 'drain_timeout', unfinished }, 'drain timeout: closing the requests still in flight');
      proxyServer.closeAllConnections();
      authzServer?.closeAllConnections();
      await forwarder.close();
      await proxyClosed;
      if (adminServer.listening) {
        const adminClosed = new Promise((resolve) => adminServer.close(resolve));
        adminServer.closeAllConnections();
        await adminClosed;
      }
      redis.disconnect();
      subscriber.disconnect();
      logger.info({ event: 'stopped' }, 'jobgate stopped');
      logger.flush();
    },
  };
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
