import type { Answer } from '../http/answers.js';
import { prefersHtml, safeNext } from '../session/browser.js';
import { loginPage, noAccessPage, PAGE_HEADERS, TOO_MANY_ATTEMPTS } from '../session/pages.js';
import type { Denial } from './denial.js';
import type { GateRequest } from './request.js';

/** An answer of jobgate's own, whatever carries it: status, headers and body. */
export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | number | readonly string[]>>;
  readonly body: string;
}

/** A page (login, refusal, question) with jobgate's page headers. */
export function pageReply(
  status: number,
  html: string,
  extra: Readonly<Record<string, string | readonly string[]>> = {},
  headers: Readonly<Record<string, string>> = PAGE_HEADERS,
): Reply {
  return { status, headers: { ...headers, 'content-length': Buffer.byteLength(html), ...extra }, body: html };
}

/**
 * The answer to a denial: for a browser's navigation to a job, the login page (401, 429) or the
 * refusal page (403); otherwise the JSON answer with its RFC 6750 challenge. `clearSession` is the
 * Set-Cookie that ends a session cookie that no longer holds.
 */
export function refusalReply(denial: Denial, req: GateRequest, clearSession: readonly string[] | undefined): Reply | Answer {
  const reply = denial.answer;
  const clear: Record<string, readonly string[]> = denial.staleSession && clearSession ? { 'set-cookie': clearSession } : {};
  if (denial.jobId !== undefined && prefersHtml(req)) {
    const jobId = denial.jobId;
    const auth: Record<string, string> = reply.headers['www-authenticate'] ? { 'www-authenticate': reply.headers['www-authenticate'] } : {};
    if (reply.status === 401) return pageReply(401, loginPage({ jobId, next: safeNext(req.url) }), { ...auth, ...clear });
    if (reply.status === 403) return pageReply(403, noAccessPage(jobId), auth);
    if (reply.status === 429)
      return pageReply(429, loginPage({ jobId, next: safeNext(req.url), error: TOO_MANY_ATTEMPTS }), { 'retry-after': reply.headers['retry-after'] ?? '60' });
  }
  return denial.staleSession && clearSession ? { ...reply, headers: { ...reply.headers, ...clear } } : reply;
}
