import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Admission } from '../proxy/admission.js';
import type { Logger } from './logger.js';

/** The path of a request without its query string (which may carry secrets). */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Writes the one access line of a request: request id, job id, token id (never the
 * token, a cookie or the query string), decision, status and duration.
 */
export function logAccess(
  logger: Logger,
  req: IncomingMessage,
  requestId: string,
  started: number,
  status: number,
  admission: Admission | undefined,
  kind: 'http' | 'websocket',
): void {
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
}
