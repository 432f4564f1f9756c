import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { MIN_WAIT_MS, within } from './wait.js';

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The body parsed as JSON. */
  json<T = Record<string, unknown>>(): T;
}

export interface RequestOptions {
  readonly method?: string;
  readonly path?: string;
  /** Host header: the job URL's host name. */
  readonly host?: string;
  readonly headers?: OutgoingHttpHeaders | readonly string[];
  readonly body?: string;
  /** Abort after this many ms of silence (the reply then rejects); at least 30 s unless given. */
  readonly timeoutMs?: number;
}

/** One HTTP request to `baseUrl` with a chosen Host header; no connection reuse. */
export function request(baseUrl: string, options: RequestOptions = {}): Promise<Reply> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const headers = Array.isArray(options.headers)
      ? [...(options.headers as string[]), ...(options.host ? ['Host', options.host] : [])]
      : { ...(options.host ? { host: options.host } : {}), ...(options.headers as OutgoingHttpHeaders | undefined) };
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: headers as OutgoingHttpHeaders,
        agent: false,
        timeout: options.timeoutMs ?? MIN_WAIT_MS,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: <T>() => JSON.parse(body) as T,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? MIN_WAIT_MS} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Headers given as an object or as a flat name/value list (to repeat one), as a flat list. */
export function flatHeaders(headers: Record<string, string> | readonly string[] | undefined): string[] {
  if (headers === undefined) return [];
  return Array.isArray(headers) ? [...(headers as readonly string[])] : Object.entries(headers).flat();
}

/** Authorization header for a token value. */
export const bearer = (value: string) => ({ authorization: `Bearer ${value}` });

/** What a client that wrote its whole body before reading saw: the status (if any) and the error (if any). */
export interface WholeBodyOutcome {
  readonly status: number | undefined;
  readonly error: string | undefined;
}

/**
 * A POST of `total` bytes that the client hands whole to `end()` before it reads (declared
 * length, or chunked), as node:http clients do: what it saw once the connection closed.
 */
export function postWholeBody(
  baseUrl: string,
  host: string,
  path: string,
  total: number,
  headers: Record<string, string>,
  chunked = false,
): Promise<WholeBodyOutcome> {
  const url = new URL(baseUrl);
  const answered = new Promise<WholeBodyOutcome>((resolve) => {
    let status: number | undefined;
    let error: string | undefined;
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path,
      agent: false,
      headers: { host, ...headers, ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(total) }) },
    });
    req.on('response', (res) => {
      status = res.statusCode;
      res.resume();
    });
    req.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
    req.on('close', () => resolve({ status, error }));
    req.end(Buffer.alloc(total, 0x61));
  });
  return within(answered, `the ${chunked ? 'chunked' : 'declared'} ${total}-byte POST to ${host}${path} to be answered and closed`);
}
