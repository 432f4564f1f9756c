import { createServer, type Server, type ServerResponse } from 'node:http';
import { pathOf } from './access-log.js';

export interface AdminSources {
  /** Why jobgate is not ready; empty when ready. */
  readonly notReadyReasons: () => string[];
}

/** The admin listener: /healthz (the process is alive) and /readyz (it can serve). */
export function createAdminServer(sources: AdminSources): Server {
  return createServer((req, res) => {
    const path = pathOf(req);
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const reasons = sources.notReadyReasons();
      return reasons.length === 0 ? sendJson(res, 200, { status: 'ready' }) : sendJson(res, 503, { status: 'not ready', reasons });
    }
    sendJson(res, 404, { error: 'not_found', message: 'The admin listener serves /healthz and /readyz.' });
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
