/**
 * The admin operations through jobgate's control API (docs/control-api.md), with Node's fetch:
 * `jobgate --server <url>` with JOBGATE_TOKEN. The server's answers map onto the CLI's errors:
 * 400 is bad input (exit 2); 404 is not found, and every other refusal or failure (401, 403,
 * 409, 5xx, no answer) exits 1; each says the server's message.
 */
import type { AuditEvent } from '../audit/event.js';
import { InputError, NotFoundError } from '../errors.js';
import type { JobView } from '../jobs/record.js';
import type { JobSpec } from '../jobs/store.js';
import type { TokenView } from '../tokens/record.js';
import type { Admin, NewTokenRequest } from './admin.js';
import type { ServerTarget } from './server.js';

/** How long one request may take, answer included, before the command gives up (exit 1). */
export const CONTROL_TIMEOUT_MS = 10_000;

/** The most events the control API returns in one answer. */
const EVENTS_PAGE = 1000;

/** A failure to reach the server, or an answer that is not the control API's: exit 1. */
export class ServerError extends Error {
  override readonly name = 'ServerError';
}

interface Answer {
  readonly status: number;
  readonly value: unknown;
}

export class ControlClient implements Admin {
  constructor(
    private readonly target: ServerTarget,
    private readonly timeoutMs = CONTROL_TIMEOUT_MS,
  ) {}

  async createToken(request: NewTokenRequest): Promise<TokenView> {
    return (await this.call('POST', 'tokens', request)).value as TokenView;
  }

  async listTokens(): Promise<TokenView[]> {
    return this.list<TokenView>('tokens');
  }

  async findToken(id: string): Promise<TokenView | undefined> {
    try {
      return (await this.call('GET', `tokens/${encodeURIComponent(id)}`)).value as TokenView;
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  async renewToken(id: string, expiresAt?: string): Promise<TokenView> {
    return (await this.call('POST', `tokens/${encodeURIComponent(id)}/renew`, expiresAt === undefined ? {} : { expiresAt })).value as TokenView;
  }

  async deleteToken(id: string): Promise<void> {
    await this.call('DELETE', `tokens/${encodeURIComponent(id)}`);
  }

  async putJob(spec: JobSpec): Promise<JobView> {
    const { id, ...body } = spec;
    return (await this.call('PUT', `jobs/${encodeURIComponent(id)}`, body)).value as JobView;
  }

  async listJobs(): Promise<JobView[]> {
    return this.list<JobView>('jobs');
  }

  async getJob(id: string): Promise<JobView> {
    return (await this.call('GET', `jobs/${encodeURIComponent(id)}`)).value as JobView;
  }

  async deleteJob(id: string): Promise<void> {
    await this.call('DELETE', `jobs/${encodeURIComponent(id)}`);
  }

  async listEvents(after: string | undefined, limit: number): Promise<AuditEvent[]> {
    const query = new URLSearchParams({ limit: String(Math.min(Math.max(1, limit), EVENTS_PAGE)) });
    if (after !== undefined) query.set('after', after);
    return this.list<AuditEvent>(`events?${query.toString()}`);
  }

  /** Pages through the trail to its end: the API has no "newest" route, and keeps ~10,000 events. */
  async lastEventId(): Promise<string | undefined> {
    let last: string | undefined;
    for (;;) {
      const page = await this.listEvents(last, EVENTS_PAGE);
      if (page.length === 0) return last;
      last = page.at(-1)!.id;
    }
  }

  private async list<T>(path: string): Promise<T[]> {
    const { value } = await this.call('GET', path);
    if (!Array.isArray(value)) throw new ServerError(`${this.target.origin} answered GET /api/v1/${path} with something other than a JSON array`);
    return value as T[];
  }

  /** One request; a 2xx answer's JSON value (undefined for 204), else the error the answer means. */
  private async call(method: string, path: string, body?: unknown): Promise<Answer> {
    const url = `${this.target.origin}/api/v1/${path}`;
    const headers: Record<string, string> = { authorization: `Bearer ${this.target.token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        redirect: 'manual', // a redirect would carry the token elsewhere
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      throw new ServerError(`cannot reach jobgate at ${this.target.origin}: ${unreachable(error, this.timeoutMs)}`);
    }
    const value = parseJson(text);
    if (response.status >= 200 && response.status < 300) {
      if (response.status !== 204 && value === undefined)
        throw new ServerError(
          `${this.target.origin} answered ${method} /api/v1/${path} without JSON: is it jobgate with JOBGATE_CONTROL_HOST set to its host name?`,
        );
      return { status: response.status, value };
    }
    throw this.failure(response.status, value);
  }

  private failure(status: number, value: unknown): Error {
    const { error, message } = errorBody(value);
    if (message === undefined) {
      const hint = status >= 300 && status < 400 ? ' (a redirect, not followed: give the URL it points to)' : '';
      return new ServerError(`${this.target.origin} answered HTTP ${status} without a jobgate error${hint}`);
    }
    if (status === 400) return new InputError(message);
    if (status === 404) return new NotFoundError(message);
    return new ServerError(`${this.target.origin} refused (${status} ${error ?? 'error'}): ${message}`);
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function errorBody(value: unknown): { error?: string; message?: string } {
  if (value === null || typeof value !== 'object') return {};
  const { error, message } = value as Record<string, unknown>;
  return { ...(typeof error === 'string' ? { error } : {}), ...(typeof message === 'string' ? { message } : {}) };
}

/** Why fetch failed, in words: no answer within the timeout, or the network error's code. */
function unreachable(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
  return error instanceof Error ? error.message : String(error);
}
