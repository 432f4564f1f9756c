import type { IncomingMessage } from 'node:http';
import { isDenial, pageReply, type Target } from '../gate/index.js';
import { answer, ANSWERS, sendAnswer, type Answer } from '../http/answers.js';
import { expectedOrigin, safeNext, sameOriginRequest } from '../session/browser.js';
import { loginPage, noAccessPage, TOO_MANY_ATTEMPTS } from '../session/pages.js';
import { refuse, type HttpCall, type ProxyContext } from './context.js';
import { answerAndClose, readBodyUpTo } from '../http/linger.js';

/** The path prefix of jobgate's own pages on every job host. */
export const RESERVED_PREFIX = '/__jobgate/';

export const RESERVED_NOT_FOUND = answer(
  404,
  'not_found',
  'No such jobgate page. /__jobgate/login, /__jobgate/logout and /__jobgate/jwks.json are served here.',
);
const LOGIN_METHOD = answer(405, 'method_not_allowed', 'Log in with a POST from the login page.');
const LOGIN_TYPE = answer(415, 'unsupported_media_type', 'The login form is sent as application/x-www-form-urlencoded.');
const LOGIN_TOO_LARGE = answer(413, 'payload_too_large', 'The login form is too large.');
const LOGIN_FAILED = 'That token is not valid. Check that you pasted the whole value, or ask for a new token.';

/** Most a login form may weigh: a token, a path to go back to, and some slack. */
const MAX_LOGIN_BODY_BYTES = 8192;

/** The JWKS may be cached for a few minutes: key rotation waits longer than that. */
export const JWKS_HEADERS = (length: number) => ({
  'content-type': 'application/jwk-set+json',
  'content-length': length,
  'cache-control': 'public, max-age=300',
  'access-control-allow-origin': '*',
});

/** /__jobgate/jwks.json, /__jobgate/logout and /__jobgate/login on a job's host. */
export async function reservedPage(ctx: ProxyContext, call: HttpCall, target: Target): Promise<void> {
  const { req, res, outcome, view } = call;
  const path = view.url.split('?')[0];
  if (path === '/__jobgate/jwks.json') {
    outcome.decision = 'jwks';
    res.writeHead(200, JWKS_HEADERS(ctx.jwks.length));
    return void res.end(req.method === 'HEAD' ? undefined : ctx.jwks);
  }
  const jobId = target.job.id;
  if (path === '/__jobgate/logout') {
    outcome.decision = 'logout';
    return sendAnswer(res, pageReply(200, loginPage({ jobId, next: '/', notice: 'You are logged out.' }), { 'set-cookie': ctx.gate.clearSession(view.https) }));
  }
  if (path !== '/__jobgate/login') {
    outcome.decision = 'not_found';
    return sendAnswer(res, RESERVED_NOT_FOUND);
  }
  return login(ctx, call, target);
}

/** The login form: its token exchanged for a session, then 303 to where the user was going. */
async function login(ctx: ProxyContext, call: HttpCall, target: Target): Promise<void> {
  const { req, res, outcome, view } = call;
  const jobId = target.job.id;
  if (req.method !== 'POST') {
    outcome.decision = 'bad_login';
    return sendAnswer(res, LOGIN_METHOD);
  }
  if (!sameOriginRequest(view, expectedOrigin(view.publicHost, view.https))) {
    outcome.decision = 'foreign_origin';
    return sendAnswer(res, ANSWERS.foreignOrigin);
  }
  const form = await readForm(req);
  if (!(form instanceof URLSearchParams)) {
    outcome.decision = 'bad_login';
    return form === LOGIN_TOO_LARGE ? answerAndClose(req, res, form) : sendAnswer(res, form);
  }
  const next = safeNext(form.get('next'));
  const exchange = await ctx.gate.exchange(form.get('token') ?? '', view, target);
  if (isDenial(exchange)) return refuse(ctx, call, exchange);
  switch (exchange.kind) {
    case 'session':
      outcome.decision = 'login';
      outcome.tokenId = exchange.token.id;
      res.writeHead(303, { location: next, 'set-cookie': exchange.setCookie, 'cache-control': 'no-store', 'content-length': 0 });
      return void res.end();
    case 'out_of_scope':
      outcome.decision = 'login_scope_denied';
      outcome.tokenId = exchange.token.id;
      return sendAnswer(res, pageReply(403, noAccessPage(jobId, 'This token')));
    case 'limited':
      outcome.decision = 'too_many_failures';
      return sendAnswer(res, pageReply(429, loginPage({ jobId, next, error: TOO_MANY_ATTEMPTS }), { 'retry-after': String(exchange.retryAfter) }));
    case 'invalid':
      outcome.decision = 'login_failed';
      return sendAnswer(res, pageReply(401, loginPage({ jobId, next, error: LOGIN_FAILED })));
  }
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | Answer> {
  const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return LOGIN_TYPE;
  if (Number(req.headers['content-length'] ?? 0) > MAX_LOGIN_BODY_BYTES) return LOGIN_TOO_LARGE;
  const body = await readBodyUpTo(req, MAX_LOGIN_BODY_BYTES);
  return body === undefined ? LOGIN_TOO_LARGE : new URLSearchParams(body.toString('utf8'));
}
