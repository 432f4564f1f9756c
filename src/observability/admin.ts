import { createServer, type Server, type ServerResponse } from 'node:http';
import { AddressBlocks } from '../util/address-blocks.js';
import { pathOf } from './access-log.js';

export interface AdminSources {
  /** Why jobgate is not ready; empty when ready. `detailed`: may name jobs and processes. */
  readonly notReadyReasons: (detailed: boolean) => string[] | Promise<string[]>;
  /** The JWKS document of the assertion keys. */
  readonly jwks: Buffer;
  /** The Prometheus exposition and its content type. */
  readonly metrics: () => Promise<{ text: string; contentType: string }>;
}

const LOOPBACK = new AddressBlocks([
  { address: '127.0.0.0', prefix: 8, family: 'ipv4' },
  { address: '::1', prefix: 128, family: 'ipv6' },
]);

/**
 * The admin listener: /healthz (the process is alive), /readyz (it can serve) and /metrics
 * (Prometheus). /readyz names jobs and worker pids only to a client on loopback; a probe from
 * elsewhere (the kubelet, on the pod IP) gets the same status with terse reasons.
 */
export function createAdminServer(sources: AdminSources): Server {
  return createServer((req, res) => {
    const path = pathOf(req);
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      void Promise.resolve(sources.notReadyReasons(LOOPBACK.has(req.socket.remoteAddress))).then((reasons) =>
        reasons.length === 0 ? sendJson(res, 200, { status: 'ready' }) : sendJson(res, 503, { status: 'not ready', reasons }),
      );
      return;
    }
    if (path === '/.well-known/jobgate/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'content-length': sources.jwks.length, 'cache-control': 'public, max-age=300' });
      return void res.end(sources.jwks);
    }
    if (path === '/metrics') {
      sources.metrics().then(
        ({ text, contentType }) => {
          res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
          res.end(text);
        },
        () => sendJson(res, 500, { error: 'metrics_failed', message: 'Collecting metrics failed; see the log.' }),
      );
      return;
    }
    sendJson(res, 404, { error: 'not_found', message: 'The admin listener serves /healthz, /readyz and /metrics.' });
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
