import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { pino, type DestinationStream } from 'pino';
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

/** The parts of a request the access line names. */
export interface AccessSubject {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: { readonly host?: string | undefined };
}

/**
 * The access log: one JSON line per request with request id, job id, token id (never the
 * token, a cookie or the query string), decision, status and duration, in the same shape
 * and on the same stream as the rest of the log.
 *
 * The line is written here rather than through pino because it is written for every
 * request: its fields are named by jobgate (never a request, header or record object),
 * so it needs neither pino's serializers nor the redaction pass, and a template with the
 * constant part prepared once costs a fraction of a generic serialisation. The lines of
 * one turn of the event loop go to the stream in one write.
 */
export class AccessLog {
  private readonly stream: DestinationStream;
  private readonly enabled: boolean;
  private readonly prefix: string;
  private lastMillis = -1;
  private lastTime = '';
  private pending = '';
  private readonly flushPending = () => this.flush();

  constructor(logger: Logger) {
    this.stream = (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!;
    this.enabled = logger.isLevelEnabled('info');
    this.prefix = `,"service":"jobgate","pid":${process.pid},"event":"access","requestId":`;
  }

  /** Writes the line of a finished request; returns its duration in milliseconds. */
  write(req: AccessSubject, requestId: string, started: number, status: number, outcome: AccessOutcome, kind: 'http' | 'websocket' | 'authz'): number {
    const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    if (!this.enabled) return durationMs;
    let line = `{"level":"info","time":"${this.time()}"${this.prefix}${jsonString(requestId)},"kind":"${kind}"`;
    if (req.method !== undefined) line += `,"method":${jsonString(req.method)}`;
    if (req.headers.host !== undefined) line += `,"host":${jsonString(req.headers.host)}`;
    line += `,"path":${jsonString(pathOf(req as IncomingMessage))},"status":${status},"durationMs":${durationMs},"decision":${jsonString(outcome.decision)}`;
    if (outcome.jobId !== undefined) line += `,"jobId":${jsonString(outcome.jobId)}`;
    if (outcome.tokenId !== undefined) line += `,"tokenId":${jsonString(outcome.tokenId)}`;
    if (this.pending === '') setImmediate(this.flushPending);
    this.pending += `${line}}\n`;
    return durationMs;
  }

  /** Writes the lines not yet written. */
  flush(): void {
    if (this.pending === '') return;
    const lines = this.pending;
    this.pending = '';
    this.stream.write(lines);
  }

  /** The ISO time, formatted once per millisecond however many lines share it. */
  private time(): string {
    const now = Date.now();
    if (now !== this.lastMillis) {
      this.lastMillis = now;
      this.lastTime = new Date(now).toISOString();
    }
    return this.lastTime;
  }
}

/** A JSON string literal: printable ASCII without quote or backslash is copied, anything else escaped by JSON.stringify. */
export function jsonString(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === 0x22 || code === 0x5c) return JSON.stringify(text);
  }
  return `"${text}"`;
}
