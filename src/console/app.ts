/**
 * The token console (docs/console.md): server-rendered pages on the control host, under
 * /console/, signed in with an operator token and a console session cookie. Every operation
 * goes through the control service (src/control/service.ts), so the console can do exactly what
 * the control API lets the same token do, within the same scope.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditEvent } from '../audit/event.js';
import { ControlRefusal, type Caller, type ControlService } from '../control/service.js';
import { InputError, NotFoundError, RecordError, StoreUnavailableError } from '../errors.js';
import { answerAndClose } from '../http/linger.js';
import { isDenial, type Denial, type GateRequest, type MaybePromise } from '../gate/index.js';
import type { Logger } from '../observability/logger.js';
import { matches, sharedSelector } from '../selector/index.js';
import { expectedOrigin } from '../session/browser.js';
import { readCookie } from '../session/cookie.js';
import type { TokenRecord, TokenView } from '../tokens/record.js';
import { expiryFrom, expiryOptions, fromConsoleOrigin, readForm } from './forms.js';
import { pageHeaders, type SignedIn } from './html.js';
import { activityPage, confirmPage, jobsPage, messagePage, signInPage, valuePage, type ActivityFilter, type JobRow } from './pages.js';
import { consoleCookieName, sameCsrf, type ConsoleSession, type ConsoleSessions } from './session.js';
import type { SignedOutSessions } from './signed-out.js';
import { EMPTY_FORM, selectTokens, SORT_KEYS, tokensPage, type CreateForm, type SortKey, type TokenQuery } from './tokens-page.js';

/** The console's path prefix on the control host (the control API has /api/v1/). */
export const CONSOLE_PREFIX = '/console';

/** Whether a control-host request is the console's: `/`, `/console` and everything under `/console/`. */
export function isConsolePath(url: string): boolean {
  const path = url.split('?', 1)[0]!;
  return path === '/' || path === CONSOLE_PREFIX || path.startsWith(`${CONSOLE_PREFIX}/`);
}

/** What the console needs of the gate: sign-in with a pasted value, a session's current token, last use. */
export interface ConsoleAuth {
  authenticateValue(value: string, client: string): MaybePromise<TokenRecord | Denial>;
  sessionToken(id: string, version: number): Promise<TokenRecord | Denial | undefined>;
  used(tokenId: string | undefined): void;
}

export type ConsoleDecision =
  | 'console'
  | 'console_login'
  | 'console_logout'
  | 'console_refused'
  | 'login_failed'
  | 'foreign_origin'
  | 'not_found'
  | 'bad_request'
  | 'store_unavailable'
  | 'too_many_failures'
  | 'internal_error';

/** The access line's part of a console request. */
export interface ConsoleOutcome {
  decision: ConsoleDecision;
  tokenId?: string | undefined;
}

/** The most events the activity page shows (the newest). */
export const ACTIVITY_ROWS = 200;

const SIGN_IN_FAILED = 'That token is not valid. Check that you pasted the whole value.';
const READ_REFUSED = 'This is a read token: it opens job URLs, but the console needs an operator token. Ask an operator for one.';
const SESSION_ENDED = 'Your session ended: its token was renewed, deleted or expired. Sign in with the token you have now.';
const CSRF_REFUSED = 'This form did not come from this console page, or it is from an earlier session. Go back, reload the page, and try again.';

/** One console request as it is handled: the request, the answer, and the outcome to log. */
interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly view: GateRequest;
  readonly nonce: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly outcome: ConsoleOutcome;
  /** Who is signed in, once known: the header of an error page. */
  who?: SignedIn;
}

/** A signed-in request: the operator token and its session. */
interface Signed extends Exchange {
  readonly who: SignedIn;
  readonly token: TokenRecord;
  readonly session: ConsoleSession;
  readonly caller: Caller;
}

export class ConsoleApp {
  constructor(
    private readonly service: ControlService,
    private readonly auth: ConsoleAuth,
    private readonly sessions: ConsoleSessions,
    private readonly signedOut: SignedOutSessions,
    private readonly logger?: Logger,
  ) {}

  /** Answers a console request on the control host (see {@link isConsolePath}). */
  async handle(req: IncomingMessage, res: ServerResponse, view: GateRequest): Promise<ConsoleOutcome> {
    const url = view.url;
    const queryAt = url.indexOf('?');
    const ex: Exchange = {
      req,
      res,
      view,
      nonce: randomBytes(16).toString('base64'),
      path: queryAt === -1 ? url : url.slice(0, queryAt),
      query: new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1)),
      outcome: { decision: 'console' },
    };
    try {
      await this.route(ex);
    } catch (error) {
      this.failed(ex, error);
    }
    return ex.outcome;
  }

  private async route(ex: Exchange): Promise<void> {
    const { path, view } = ex;
    if (path === '/' || path === CONSOLE_PREFIX || path === `${CONSOLE_PREFIX}/`) return redirect(ex, '/console/tokens');
    if (path === '/console/login') return view.method === 'POST' ? this.signIn(ex) : this.signInForm(ex);
    const signed = await this.signedIn(ex);
    if (!signed) return;
    if (view.method === 'POST') {
      const form = await this.checkedForm(signed);
      if (form) return this.post(signed, form);
      return;
    }
    if (view.method !== 'GET' && view.method !== 'HEAD')
      return this.page(ex, 405, messagePage(ex.nonce, 'Not allowed', 'Console pages answer GET and their forms POST.', signed.who), 'bad_request');
    return this.get(signed);
  }

  private async get(ex: Signed): Promise<void> {
    const tokenAction = /^\/console\/tokens\/([^/]+)\/(renew|delete)$/.exec(ex.path);
    if (ex.path === '/console/tokens') return this.tokens(ex, 200, EMPTY_FORM);
    if (tokenAction) {
      const action = tokenAction[2] as 'renew' | 'delete';
      const token = await this.service.getToken(ex.caller, decodeSegment(tokenAction[1]!));
      return this.page(ex, 200, confirmPage(ex.nonce, ex.who, token, action, expiryOptions(ex.token, Date.now(), token)));
    }
    if (ex.path === '/console/jobs') return this.jobs(ex);
    if (ex.path === '/console/activity') return this.activity(ex);
    return this.notFound(ex, ex.who);
  }

  private async post(ex: Signed, form: URLSearchParams): Promise<void> {
    const tokenAction = /^\/console\/tokens\/([^/]+)\/(renew|delete)$/.exec(ex.path);
    if (ex.path === '/console/logout') {
      await this.signedOut.end(ex.session.sid, ex.session.expiresAtMs);
      ex.outcome.decision = 'console_logout';
      return this.page(ex, 200, signInPage(ex.nonce, { notice: 'You are signed out.' }), 'console_logout', {
        'set-cookie': this.sessions.clear(ex.view.https),
      });
    }
    if (ex.path === '/console/tokens') return this.create(ex, form);
    if (tokenAction?.[2] === 'renew') {
      const renewed = await this.service.renewToken(ex.caller, decodeSegment(tokenAction[1]!), expiryFrom(form.get('expiresIn'), Date.now()));
      return this.page(ex, 200, valuePage(ex.nonce, ex.who, renewed, renewed.status.value!, 'renewed'));
    }
    if (tokenAction?.[2] === 'delete') {
      const id = decodeSegment(tokenAction[1]!);
      const token = await this.service.getToken(ex.caller, id);
      await this.service.deleteToken(ex.caller, id);
      return this.tokens(ex, 200, EMPTY_FORM, `Token ${token.spec.name} was deleted: its value no longer works.`);
    }
    return this.notFound(ex, ex.who);
  }

  private signInForm(ex: Exchange): void {
    if (ex.view.method !== 'GET' && ex.view.method !== 'HEAD') return this.page(ex, 405, signInPage(ex.nonce), 'bad_request');
    return this.page(ex, 200, signInPage(ex.nonce));
  }

  /** The sign-in form: an operator token's value for a console session (a read token gets a clear refusal). */
  private async signIn(ex: Exchange): Promise<void> {
    if (!fromConsoleOrigin(ex.view.headers, expectedOrigin(ex.view.publicHost, ex.view.https)))
      return this.page(
        ex,
        403,
        messagePage(ex.nonce, 'Sign-in refused', CSRF_REFUSED, undefined, { href: '/console/login', text: 'Sign in' }),
        'foreign_origin',
      );
    const form = await this.form(ex);
    if (!form) return;
    const authenticated = this.auth.authenticateValue(form.get('token') ?? '', ex.view.client);
    const token = authenticated instanceof Promise ? await authenticated : authenticated;
    if (isDenial(token)) return this.signInDenied(ex, token);
    ex.outcome.tokenId = token.id;
    if (token.role !== 'operator') return this.page(ex, 403, signInPage(ex.nonce, { error: READ_REFUSED }), 'console_refused');
    const cookie = await this.sessions.issue(token.id, token.version, hostOf(ex.view), ex.view.https);
    this.auth.used(token.id);
    ex.outcome.decision = 'console_login';
    ex.res.writeHead(303, { location: '/console/tokens', 'set-cookie': cookie, 'cache-control': 'no-store', 'content-length': 0 });
    ex.res.end();
  }

  private signInDenied(ex: Exchange, denial: Denial): void {
    if (denial.decision === 'store_unavailable' || denial.answer.status >= 500) return this.unavailable(ex);
    if (denial.decision === 'too_many_failures')
      return this.page(ex, 429, signInPage(ex.nonce, { error: denial.answer.message }), 'too_many_failures', {
        'retry-after': denial.answer.headers['retry-after'] ?? '60',
      });
    const message = denial.decision === 'expired_token' ? 'That token has expired. Ask for a new one.' : SIGN_IN_FAILED;
    return this.page(ex, 401, signInPage(ex.nonce, { error: message }), 'login_failed');
  }

  /**
   * The signed-in operator, or undefined once the answer is sent: the sign-in page (no session,
   * or one whose token was renewed, deleted or has expired) or 503 (the token cannot be read).
   */
  private async signedIn(ex: Exchange): Promise<Signed | undefined> {
    const cookie = readCookie(ex.view.headers.cookie, consoleCookieName(ex.view.https));
    const session = cookie === undefined ? undefined : await this.sessions.verify(cookie, hostOf(ex.view));
    const [token, ended] = session ? await Promise.all([this.auth.sessionToken(session.tokenId, session.version), this.signedOut.has(session.sid)]) : [];
    if (!session || ended) {
      if (ex.view.method === 'GET' || ex.view.method === 'HEAD') redirect(ex, '/console/login');
      else
        this.page(
          ex,
          403,
          messagePage(ex.nonce, 'Signed out', 'Sign in first: this form needs a console session.', undefined, { href: '/console/login', text: 'Sign in' }),
          'console_refused',
        );
      return undefined;
    }
    if (isDenial(token)) {
      this.unavailable(ex);
      return undefined;
    }
    if (token === undefined || token.role !== 'operator') {
      this.page(ex, 401, signInPage(ex.nonce, { notice: SESSION_ENDED }), 'console_refused', { 'set-cookie': this.sessions.clear(ex.view.https) });
      return undefined;
    }
    ex.outcome.tokenId = token.id;
    this.auth.used(token.id);
    const who: SignedIn = { tokenId: token.id, name: token.name, labelSelector: token.labelSelector, csrf: session.csrf };
    ex.who = who;
    return { ...ex, token, session, who, caller: { token, client: ex.view.client } };
  }

  /** The form of a state-changing request, once its origin and CSRF token are checked; undefined once refused. */
  private async checkedForm(ex: Signed): Promise<URLSearchParams | undefined> {
    if (!fromConsoleOrigin(ex.view.headers, expectedOrigin(ex.view.publicHost, ex.view.https))) {
      this.page(ex, 403, messagePage(ex.nonce, 'Request refused', CSRF_REFUSED, ex.who), 'foreign_origin');
      return undefined;
    }
    const form = await this.form(ex);
    if (!form) return undefined;
    if (!sameCsrf(form.get('csrf'), ex.session)) {
      this.page(ex, 403, messagePage(ex.nonce, 'Request refused', CSRF_REFUSED, ex.who), 'console_refused');
      return undefined;
    }
    return form;
  }

  private async form(ex: Exchange): Promise<URLSearchParams | undefined> {
    const form = await readForm(ex.req);
    if (form instanceof URLSearchParams) return form;
    const message = form === 413 ? 'The form is too large.' : 'Forms are sent as application/x-www-form-urlencoded.';
    const html = messagePage(ex.nonce, 'Form refused', message);
    ex.outcome.decision = 'bad_request';
    // Part of the body may be unread: the page goes first, then a bounded read of the rest before the close (src/http/linger.ts).
    const headers = { ...pageHeaders(ex.nonce), 'content-length': String(Buffer.byteLength(html)) };
    answerAndClose(ex.req, ex.res, { status: form, error: 'bad_request', message, body: html, headers });
    return undefined;
  }

  private async tokens(ex: Signed, status: number, form: CreateForm, notice?: string): Promise<void> {
    const all = await this.service.listTokens(ex.caller);
    const query = tokenQuery(ex.query);
    const now = Date.now();
    const page = { tokens: selectTokens(all, query), total: all.length, query, form, expiry: expiryOptions(ex.token, now), now };
    return this.page(ex, status, tokensPage(ex.nonce, ex.who, notice === undefined ? page : { ...page, notice }));
  }

  private async create(ex: Signed, form: URLSearchParams): Promise<void> {
    const sent: CreateForm = { name: form.get('name') ?? '', role: form.get('role') ?? '', selector: form.get('selector') ?? '', errors: {} };
    try {
      const request = { name: sent.name.trim(), role: sent.role, labelSelector: sent.selector, expiresAt: expiryFrom(form.get('expiresIn'), Date.now()) };
      const created = await this.service.createToken(ex.caller, request);
      return this.page(ex, 201, valuePage(ex.nonce, ex.who, created, created.status.value!, 'created'));
    } catch (error) {
      if (!(error instanceof InputError) && !(error instanceof ControlRefusal)) throw error;
      ex.outcome.decision = 'bad_request';
      return this.tokens(ex, error instanceof ControlRefusal ? 403 : 400, { ...sent, errors: fieldErrors(error) });
    }
  }

  private async jobs(ex: Signed): Promise<void> {
    const [jobs, tokens] = await Promise.all([this.service.listJobs(ex.caller, undefined), this.service.listTokens(ex.caller)]);
    const live = tokens.filter((token) => token.status.expired !== true);
    const rows: JobRow[] = jobs
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((job) => ({ job, tokens: live.filter((token) => reaches(token, job.spec.labels)).sort((a, b) => (a.spec.name < b.spec.name ? -1 : 1)) }));
    return this.page(ex, 200, jobsPage(ex.nonce, ex.who, rows, Date.now()));
  }

  private async activity(ex: Signed): Promise<void> {
    const filter: ActivityFilter = { token: (ex.query.get('token') ?? '').trim(), job: (ex.query.get('job') ?? '').trim() };
    const kept: AuditEvent[] = [];
    let after: string | undefined;
    // The stream keeps about 10,000 events: at most 20 pages of 1,000 are read.
    for (let pages = 0; pages < 20; pages++) {
      const events = await this.service.listEvents(ex.caller, after, 1000);
      for (const event of events) if (eventMatches(event, filter)) kept.push(event);
      if (kept.length > ACTIVITY_ROWS * 2) kept.splice(0, kept.length - ACTIVITY_ROWS);
      if (events.length < 1000) break;
      after = events.at(-1)!.id;
    }
    return this.page(ex, 200, activityPage(ex.nonce, ex.who, kept.slice(-ACTIVITY_ROWS).reverse(), filter, Date.now()));
  }

  private notFound(ex: Exchange, who?: SignedIn): void {
    return this.page(ex, 404, messagePage(ex.nonce, 'Not found', 'There is no such console page, or no such token in your scope.', who), 'not_found');
  }

  private unavailable(ex: Exchange): void {
    const message = 'jobgate cannot reach its registry (Redis) right now, so nothing can be shown or changed. Try again shortly.';
    return this.page(
      ex,
      503,
      messagePage(ex.nonce, 'Console unavailable', message, undefined, {
        href: ex.path.startsWith('/console/') ? ex.path : '/console/tokens',
        text: 'Try again',
      }),
      'store_unavailable',
      {
        'retry-after': '5',
      },
    );
  }

  /** The page for an operation's failure; an unexpected error is logged (name, message, stack: no Redis arguments). */
  private failed(ex: Exchange, error: unknown): void {
    if (ex.res.headersSent) return void ex.res.destroy();
    const who = ex.who;
    if (error instanceof StoreUnavailableError) return this.unavailable(ex);
    if (error instanceof NotFoundError) return this.notFound(ex, who);
    if (error instanceof ControlRefusal) return this.page(ex, error.status, messagePage(ex.nonce, 'Not allowed', error.message, who), 'console_refused');
    if (error instanceof InputError) return this.page(ex, 400, messagePage(ex.nonce, 'Not accepted', capitalized(error.message), who), 'bad_request');
    if (error instanceof RecordError)
      return this.page(
        ex,
        500,
        messagePage(ex.nonce, 'Malformed record', `The record ${error.key} is malformed (${error.reason}): fix or delete it.`, who),
        'internal_error',
      );
    const err = error instanceof Error ? { type: error.name, message: error.message, stack: error.stack } : { type: typeof error, message: String(error) };
    this.logger?.error({ event: 'internal_error', err }, 'console request failed');
    return this.page(
      ex,
      500,
      messagePage(ex.nonce, 'Something went wrong', 'jobgate failed to handle this request. The error is in its log.', who),
      'internal_error',
    );
  }

  private page(ex: Exchange, status: number, html: string, decision?: ConsoleDecision, extra: Record<string, string> = {}): void {
    if (decision !== undefined) ex.outcome.decision = decision;
    ex.res.writeHead(status, { ...pageHeaders(ex.nonce), 'content-length': Buffer.byteLength(html), ...extra });
    ex.res.end(ex.view.method === 'HEAD' ? undefined : html);
  }
}

function redirect(ex: Exchange, location: string): void {
  ex.res.writeHead(303, { location, 'cache-control': 'no-store', 'content-length': 0 });
  ex.res.end();
}

/** The host name the console cookie is bound to: the Host header without port, lowercased. */
function hostOf(view: GateRequest): string {
  const host = (view.host ?? '').toLowerCase();
  const colon = host.lastIndexOf(':');
  return colon === -1 || host.endsWith(']') ? host : host.slice(0, colon);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1) + (text.endsWith('.') ? '' : '.');
}

function tokenQuery(query: URLSearchParams): TokenQuery {
  const role = query.get('role');
  const sort = query.get('sort') ?? 'name';
  return {
    name: (query.get('name') ?? '').trim(),
    role: role === 'read' || role === 'operator' ? role : '',
    selector: (query.get('selector') ?? '').trim(),
    sort: (SORT_KEYS as readonly string[]).includes(sort) ? (sort as SortKey) : 'name',
    descending: query.get('order') === 'desc',
  };
}

/** Which field of the create form an error is about, by the message the stores and service give. */
function fieldErrors(error: InputError | ControlRefusal): CreateForm['errors'] {
  const message = capitalized(error.message);
  if (error instanceof ControlRefusal) return { form: message };
  if (/^invalid token name/.test(error.message)) return { name: message };
  if (/^invalid role/.test(error.message)) return { role: message };
  if (/^invalid label selector/.test(error.message)) return { selector: message };
  if (/^invalid expiry/.test(error.message)) return { expiresIn: message };
  return { form: message };
}

/** Whether a token's selector matches a job's labels (as printed, with `jobgate/id`). */
function reaches(token: TokenView, labels: Record<string, string>): boolean {
  try {
    return matches(sharedSelector(token.spec.labelSelector), new Map(Object.entries(labels)));
  } catch {
    return false;
  }
}

function eventMatches(event: AuditEvent, filter: ActivityFilter): boolean {
  const token = filter.token.toLowerCase();
  if (token !== '') {
    const target = event.target.kind === 'token' && (event.target.id === filter.token || (event.target.name ?? '').toLowerCase().includes(token));
    const actor = event.actor.kind === 'token' && (event.actor.tokenId === filter.token || event.actor.tokenName.toLowerCase().includes(token));
    if (!target && !actor) return false;
  }
  return filter.job === '' || (event.target.kind === 'job' && event.target.id.includes(filter.job));
}
