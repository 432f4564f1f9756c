import type { Answer } from '../http/answers.js';
import { prefersHtml, safeNext, withoutTokenParameters, type RequestHead } from '../session/browser.js';
import { loginPage, noAccessPage, PAGE_HEADERS, SESSION_ENDED, statusPage, TOO_MANY_ATTEMPTS } from '../session/pages.js';
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

/** The title of the page a browser's navigation gets instead of the JSON answer, by status. */
const PAGE_TITLES: Readonly<Record<number, string>> = {
  403: 'Access denied',
  404: 'Nothing is served here',
  429: 'Too many attempts',
  502: 'The job is not answering',
  503: 'Access cannot be checked right now',
  504: 'The job took too long to answer',
};
/** Answers worth trying the same URL again after: the page links back to it. */
const TRANSIENT = new Set([502, 503, 504]);

/**
 * For a browser's navigation (a GET or HEAD that prefers HTML), a page saying what happened and
 * what to do instead of `reply`'s JSON; API clients and scripts keep the JSON.
 */
export function navigationReply(req: RequestHead & { readonly url?: string | undefined }, reply: Answer, jobId?: string): Reply | Answer {
  const title = PAGE_TITLES[reply.status];
  if (title === undefined || !prefersHtml(req)) return reply;
  // The same path again, never with a token in it (a deep link's jobgate_token stays out of the page).
  const retry = TRANSIENT.has(reply.status) ? withoutTokenParameters(safeNext(req.url)) : undefined;
  const retryAfter = reply.headers['retry-after'];
  return pageReply(reply.status, statusPage({ title, message: reply.message, jobId, retry }), retryAfter ? { 'retry-after': retryAfter } : {});
}

/**
 * The answer to a denial: for a browser's navigation to a job, the login page (401, 429) or the
 * refusal page (403), and a page for the other answers people meet (404, 503...); otherwise the
 * JSON answer with its RFC 6750 challenge. `clearSession` is the Set-Cookie that ends a session
 * cookie that no longer holds.
 */
export function refusalReply(denial: Denial, req: GateRequest, clearSession: readonly string[] | undefined): Reply | Answer {
  const reply = denial.answer;
  const clear: Record<string, readonly string[]> = denial.staleSession && clearSession ? { 'set-cookie': clearSession } : {};
  if (denial.jobId !== undefined && prefersHtml(req)) {
    const jobId = denial.jobId;
    const auth: Record<string, string> = reply.headers['www-authenticate'] ? { 'www-authenticate': reply.headers['www-authenticate'] } : {};
    const notice = denial.tokenChanged ? SESSION_ENDED : undefined;
    if (reply.status === 401) return pageReply(401, loginPage({ jobId, next: safeNext(req.url), notice }), { ...auth, ...clear });
    if (reply.status === 403) return pageReply(403, noAccessPage(jobId), auth);
    if (reply.status === 429) {
      return pageReply(429, loginPage({ jobId, next: safeNext(req.url), error: TOO_MANY_ATTEMPTS }), { 'retry-after': reply.headers['retry-after'] ?? '60' });
    }
  }
  const answer = navigationReply(req, reply, denial.jobId);
  return denial.staleSession && clearSession ? { ...answer, headers: { ...answer.headers, ...clear } } : answer;
}
