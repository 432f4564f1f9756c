import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from './logger.js';

/** What the access line says about the decision; filled in as the request walks. */
export interface AccessOutcome {
  decision: string;
  jobId?: string;
  tokenId?: string;
}

/** The path of a request without its query string (which may carry secrets). */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Writes the one access line of a request: request id, job id, token id (never the
 * token, a cookie or the query string), decision, status and duration. Returns the duration (ms).
 */
export function logAccess(
  logger: Logger,
  req: IncomingMessage,
  requestId: string,
  started: number,
  status: number,
  outcome: AccessOutcome,
  kind: 'http' | 'websocket' | 'authz',
): number {
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
  line.decision = outcome.decision;
  if (outcome.jobId !== undefined) line.jobId = outcome.jobId;
  if (outcome.tokenId !== undefined) line.tokenId = outcome.tokenId;
  logger.info(line);
  return line.durationMs as number;
}
