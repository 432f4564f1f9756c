import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { DestinationStream } from 'pino';
import type { Settings } from './config/settings.js';
import { InputError } from './errors.js';
import { answer, ANSWERS, sendAnswer, writeAnswer, type Answer } from './http/answers.js';
import { JobStore } from './jobs/store.js';
import { ReadinessProbe } from './observability/health.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Gatekeeper, type Admission, type Mode } from './proxy/admission.js';
import { Forwarder } from './proxy/forward.js';
import { forwardedInfo, identityHeaders, prepareUpstreamHeaders } from './proxy/headers.js';
import { createRedis, KeySpace } from './redis/index.js';
import { RedisRegistry } from './registry/registry.js';
import { HostRouter } from './routing/host.js';
import { TokenStore } from './tokens/store.js';

export interface RunningJobgate {
  readonly proxyAddress: AddressInfo;
  readonly adminAddress: AddressInfo;
  readonly logger: Logger;
  /** Stops listening, closes every connection and Redis. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Where log lines go (stdout by default). */
  readonly logDestination?: DestinationStream;
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

const INTERNAL_ERROR = answer(500, 'internal_error', 'jobgate failed to handle this request. The error is in its log.');
const CLIENT_ERROR = answer(400, 'bad_request', 'The request is malformed.');
const HEADERS_TOO_LARGE = answer(431, 'request_header_fields_too_large', 'The request headers are too large.');
const REQUEST_TIMEOUT = answer(408, 'request_timeout', 'The request was not received in time.');

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

/** Starts the proxy and admin listeners. */
export async function startJobgate(settings: Settings, options: StartOptions = {}): Promise<RunningJobgate> {
  const mode = modeFromSettings(settings);
  const logger = createLogger(settings.logLevel, options.logDestination);
  const redis = createRedis({ url: settings.redisUrl, commandTimeoutMs: settings.redisTimeoutMs, reconnect: true });
  let lastRedisError = '';
  redis.on('error', (error: Error) => {
    if (error.message !== lastRedisError) logger.warn({ event: 'redis_error', err: { message: error.message } }, 'redis connection error');
    lastRedisError = error.message;
  });
  redis.on('ready', () => {
    lastRedisError = '';
    logger.info({ event: 'redis_ready' }, 'connected to redis');
  });
  redis.connect().catch(() => {
    // Reconnection goes on in the background; requests get 503 and /readyz says why meanwhile.
  });

  const keys = new KeySpace(settings.keyPrefix);
  const registry = new RedisRegistry(new TokenStore(redis, keys), new JobStore(redis, keys));
  const gatekeeper = new Gatekeeper(mode, registry);
  const readiness = new ReadinessProbe(redis, registry, mode.kind === 'sidecar' ? mode.jobId : undefined);
  readiness.start();

  const requestIdPrefix = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
  let requestCounter = 0;
  const stripAuthorization = !settings.keepAuthorization;

  const forwarder = new Forwarder(settings.upstreamTimeoutMs, (req, reply, error) => {
    logger.warn({ event: 'upstream_error', status: reply.status, code: (error as NodeJS.ErrnoException).code, path: pathOf(req) }, 'upstream failed');
  });

  const accessLog = (req: IncomingMessage, requestId: string, started: number, status: number, admission: Admission | undefined, kind: 'http' | 'websocket') => {
    const line: Record<string, unknown> = {
      event: 'access',
      requestId,
      kind,
      method: req.method,
      host: req.headers.host,
      path: pathOf(req),
      status,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    };
    if (admission) {
      line.decision = admission.decision;
      if (admission.ok) {
        line.jobId = admission.job.id;
        if (admission.token) line.tokenId = admission.token.id;
      } else {
        if (admission.jobId) line.jobId = admission.jobId;
        if (admission.tokenId) line.tokenId = admission.tokenId;
      }
    }
    logger.info(line);
  };

  const admit = async (req: IncomingMessage): Promise<Admission> => {
    if (req.rawHeaders.length > settings.maxHeaders * 2) return { ok: false, decision: 'too_many_headers', answer: ANSWERS.tooManyHeaders };
    const admission = await gatekeeper.admit(req);
    if (!admission.ok && admission.recordError) {
      logger.error({ event: 'invalid_record', key: admission.recordError.key, reason: admission.recordError.reason }, admission.recordError.message);
    }
    return admission;
  };

  const upstreamHeaders = (req: IncomingMessage, admission: Extract<Admission, { ok: true }>, requestId: string, upgrade: boolean) => {
    prepareUpstreamHeaders(req.headers, {
      identity: admission.token ? identityHeaders(admission.token) : undefined,
      stripAuthorization: stripAuthorization && admission.decision === 'allowed',
      forwarded: forwardedInfo(req, settings.trustedHops, 'http'),
      requestId,
      upgrade,
    });
  };

  const handleRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const requestId = `${requestIdPrefix}-${(requestCounter++).toString(36)}`;
    let admission: Admission | undefined;
    res.once('close', () => accessLog(req, requestId, started, res.statusCode, admission, 'http'));
    try {
      admission = await admit(req);
      if (!admission.ok) return sendAnswer(res, admission.answer);
      upstreamHeaders(req, admission, requestId, false);
      forwarder.web(req, res, admission.upstream);
    } catch (error) {
      logger.error({ event: 'internal_error', err: error, requestId }, 'request failed');
      sendAnswer(res, INTERNAL_ERROR);
    }
  };

  const webSockets = new Set<Socket>();
  const handleUpgrade = async (req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> => {
    const started = performance.now();
    const requestId = `${requestIdPrefix}-${(requestCounter++).toString(36)}`;
    let admission: Admission | undefined;
    let status = 101;
    webSockets.add(socket);
    socket.once('close', () => {
      webSockets.delete(socket);
      accessLog(req, requestId, started, status, admission, 'websocket');
    });
    socket.on('error', () => socket.destroy());
    const refuse = (reply: Answer) => {
      status = reply.status;
      writeAnswer(socket, reply);
    };
    try {
      if (req.headers.upgrade?.toLowerCase() !== 'websocket') return refuse(ANSWERS.notWebSocket);
      admission = await admit(req);
      if (socket.destroyed) return;
      if (!admission.ok) return refuse(admission.answer);
      upstreamHeaders(req, admission, requestId, true);
      forwarder.ws(req, socket, head, admission.upstream);
    } catch (error) {
      logger.error({ event: 'internal_error', err: error, requestId }, 'upgrade failed');
      refuse(INTERNAL_ERROR);
    }
  };

  const proxyServer = createServer({
    maxHeaderSize: settings.maxHeaderBytes,
    headersTimeout: settings.headersTimeoutMs,
    requestTimeout: settings.requestTimeoutMs,
    keepAliveTimeout: 5000,
    requireHostHeader: true,
  });
  // One more than the limit, so that a request over it is seen (Node drops the extra ones silently).
  proxyServer.maxHeadersCount = settings.maxHeaders + 1;
  proxyServer.on('request', (req, res) => void handleRequest(req, res));
  proxyServer.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void handleUpgrade(req, socket, head));
  proxyServer.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const reply = error.code === 'HPE_HEADER_OVERFLOW' ? HEADERS_TOO_LARGE : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? REQUEST_TIMEOUT : CLIENT_ERROR;
    logger.info({ event: 'client_error', code: error.code, status: reply.status, remoteAddress: socket.remoteAddress }, 'malformed or slow request refused');
    writeAnswer(socket, reply);
  });

  const adminServer = createServer((req, res) => {
    const path = pathOf(req);
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const reasons = readiness.reasons();
      return reasons.length === 0 ? sendJson(res, 200, { status: 'ready' }) : sendJson(res, 503, { status: 'not ready', reasons });
    }
    sendJson(res, 404, { error: 'not_found', message: 'The admin listener serves /healthz and /readyz.' });
  });

  let proxyAddress: AddressInfo;
  let adminAddress: AddressInfo;
  try {
    proxyAddress = await listen(proxyServer, settings.listen);
    adminAddress = await listen(adminServer, settings.adminListen);
  } catch (error) {
    proxyServer.close();
    readiness.stop();
    redis.disconnect();
    throw new InputError(`cannot listen: ${(error as Error).message}`);
  }
  logger.info(
    {
      event: 'started',
      mode: mode.kind,
      listen: `${proxyAddress.address}:${proxyAddress.port}`,
      admin: `${adminAddress.address}:${adminAddress.port}`,
      ...(mode.kind === 'sidecar' ? { job: mode.jobId } : {}),
    },
    'jobgate is listening',
  );

  return {
    proxyAddress,
    adminAddress,
    logger,
    async close() {
      readiness.stop();
      const closed = Promise.all([new Promise((resolve) => proxyServer.close(resolve)), new Promise((resolve) => adminServer.close(resolve))]);
      proxyServer.closeAllConnections();
      adminServer.closeAllConnections();
      for (const socket of webSockets) socket.destroy();
      forwarder.close();
      await closed;
      redis.disconnect();
      logger.info({ event: 'stopped' }, 'jobgate stopped');
      logger.flush();
    },
  };
}

/** The path of a request without its query string (which may carry secrets). */
function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
