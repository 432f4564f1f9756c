import { postWholeBody, request, type Reply, type WholeBodyOutcome } from './http.js';
import { CONTROL_HOST } from './control.js';

/** The console's own origin on the control host (the Host header the tests send, no port). */
export const CONSOLE_ORIGIN = `http://${CONTROL_HOST}`;

/** The console cookie (`name=value`) a Set-Cookie header sets, or undefined. */
export function consoleCookie(reply: Reply): string | undefined {
  const set = reply.headers['set-cookie'] ?? [];
  const found = set.find((line) => line.startsWith('jobgate-console=') && !line.startsWith('jobgate-console=;'));
  return found?.split(';', 1)[0];
}

/** The CSRF token a console page's forms carry. */
export function csrfOf(reply: Reply): string {
  const found = /name="csrf" value="([^"]+)"/.exec(reply.body);
  if (!found) throw new Error(`no CSRF token on the page (status ${reply.status})`);
  return found[1]!;
}

/** A console page, as a browser without JavaScript asks for it. */
export function consoleGet(baseUrl: string, path: string, cookie?: string): Promise<Reply> {
  return request(baseUrl, { path, host: CONTROL_HOST, headers: { accept: 'text/html', ...(cookie ? { cookie } : {}) } });
}

/** A console form POST: urlencoded `fields`, from the console's own origin unless `headers` say otherwise. */
export function consolePost(
  baseUrl: string,
  path: string,
  fields: Record<string, string>,
  cookie?: string,
  headers: Record<string, string> = { origin: CONSOLE_ORIGIN },
): Promise<Reply> {
  return request(baseUrl, {
    method: 'POST',
    path,
    host: CONTROL_HOST,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}), ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

/** Signs in to the console with a token value; the session cookie. */
export async function consoleSignIn(baseUrl: string, value: string): Promise<string> {
  const reply = await consolePost(baseUrl, '/console/login', { token: value });
  const cookie = consoleCookie(reply);
  if (reply.status !== 303 || !cookie) throw new Error(`sign-in failed: ${reply.status} ${reply.body.slice(0, 200)}`);
  return cookie;
}

/** The one-time token value a console page shows. */
export function shownValue(reply: Reply): string {
  const found = /id="token-value" type="text" readonly value="(jgt_[^"]+)"/.exec(reply.body);
  if (!found) throw new Error(`no token value on the page (status ${reply.status})`);
  return found[1]!;
}

/** A console form POST of `total` bytes, written whole before the reply is read: see {@link postWholeBody}. */
export function consolePostLarge(baseUrl: string, path: string, total: number, headers: Record<string, string>, chunked = false): Promise<WholeBodyOutcome> {
  return postWholeBody(baseUrl, CONTROL_HOST, path, total, headers, chunked);
}
