import { bearer, request, type Reply } from './http.js';

/** The control host the control API tests give jobgate (JOBGATE_CONTROL_HOST). */
export const CONTROL_HOST = 'control.test';

export interface ControlCall {
  readonly method?: string;
  readonly path: string;
  /** The bearer token; none when undefined. */
  readonly token?: string | undefined;
  /** Sent as JSON (a string as it is), with Content-Type application/json. */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly host?: string;
}

/** One request to the control API of the jobgate listening at `baseUrl`. */
export function controlRequest(baseUrl: string, { method = 'GET', path, token, body, headers = {}, host = CONTROL_HOST }: ControlCall): Promise<Reply> {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return request(baseUrl, {
    method,
    path,
    host,
    headers: { ...(token ? bearer(token) : {}), ...(text === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(text === undefined ? {} : { body: text }),
  });
}
