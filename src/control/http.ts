/**
 * The control API over HTTP (docs/control-api.md): routes, strict JSON bodies, and the answers.
 * Served on JOBGATE_CONTROL_HOST by the proxy listener; every route needs an operator token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readJsonObject, type JsonBody } from '../api/body.js';
import { apiAnswer } from '../api/refusal.js';
import type { WatchedObject } from '../api/json-keys.js';
import { InputError, NotFoundError, RecordError, StoreUnavailableError } from '../errors.js';
import { answer, sendAnswer, type Answer } from '../http/answers.js';
import { answerAndClose, readBodyUpTo } from '../http/linger.js';
import type { Logger } from '../observability/logger.js';
import type { TokenRecord } from '../tokens/record.js';
import { ControlRefusal, type Caller, type ControlService } from './service.js';
import { OPENAPI_DOCUMENT } from './openapi.js';
import { checkJobSpec, checkRenewRequest, checkTokenRequest, TOKEN_REQUEST_KEYS, JOB_SPEC_KEYS, RENEW_REQUEST_KEYS } from './requests.js';

/** The largest request body the control API reads. */
export const MAX_CONTROL_BODY_BYTES = 64 * 1024;
/** Events per page when `limit` is not given. */
export const DEFAULT_EVENTS_LIMIT = 100;

const PREFIX = '/api/v1/';

/** What the access line says about a control API request: done, refused, or why it failed. */
export type ControlDecision = 'control' | 'control_refused' | 'not_found' | 'bad_request' | 'store_unavailable' | 'internal_error';

type Handler = (call: ControlCall, service: ControlService) => Promise<Reply>;

interface ControlCall {
  readonly caller: Caller;
  readonly req: IncomingMessage;
  /** Path segments after /api/v1/. */
  readonly params: readonly string[];
  readonly query: URLSearchParams;
  readonly body: () => Promise<JsonBody['object'] | undefined>;
}

/** A success: status and JSON value (undefined for 204). */
interface Reply {
  readonly status: 200 | 201 | 204;
  readonly value?: unknown;
}

interface Route {
  readonly pattern: readonly string[];
  readonly methods: Readonly<Record<string, Handler>>;
}

const ok = (value: unknown): Reply => ({ status: 200, value });

const ROUTES: readonly Route[] = [
  {
    pattern: ['tokens'],
    methods: {
      GET: async ({ caller }, s) => ok(await s.listTokens(caller)),
      POST: async (call, s) => ({ status: 201, value: await s.createToken(call.caller, checkTokenRequest(await requiredBody(call))) }),
    },
  },
  {
    pattern: ['tokens', ':id'],
    methods: {
      GET: async ({ caller, params }, s) => ok(await s.getToken(caller, params[1]!)),
      DELETE: async ({ caller, params }, s) => {
        await s.deleteToken(caller, params[1]!);
        return { status: 204 };
      },
    },
  },
  {
    pattern: ['tokens', ':id', 'renew'],
    methods: {
      POST: async (call, s) => {
        const { expiresAt } = checkRenewRequest((await call.body()) ?? {});
        return ok(await s.renewToken(call.caller, call.params[1]!, expiresAt));
      },
    },
  },
  {
    pattern: ['jobs'],
    methods: { GET: async ({ caller, query }, s) => ok(await s.listJobs(caller, single(query, 'labelSelector'))) },
  },
  {
    pattern: ['jobs', ':id'],
    methods: {
      GET: async ({ caller, params }, s) => ok(await s.getJob(caller, params[1]!)),
      PUT: async (call, s) => {
        const put = await s.putJob(call.caller, call.params[1]!, checkJobSpec(await requiredBody(call)));
        return { status: put.created ? 201 : 200, value: put.job };
      },
      DELETE: async ({ caller, params }, s) => {
        await s.deleteJob(caller, params[1]!);
        return { status: 204 };
      },
    },
  },
  {
    pattern: ['events'],
    methods: {
      GET: async ({ caller, query }, s) => ok(await s.listEvents(caller, single(query, 'after'), eventsLimit(single(query, 'limit')))),
    },
  },
  { pattern: ['openapi.json'], methods: { GET: () => Promise.resolve(ok(OPENAPI_DOCUMENT)) } },
];

const WATCHED: Readonly<Record<string, WatchedObject>> = {
  tokens: TOKEN_REQUEST_KEYS,
  renew: RENEW_REQUEST_KEYS,
  jobs: JOB_SPEC_KEYS,
};

function requiredBody(call: ControlCall): Promise<Record<string, unknown>> {
  return call.body().then((body) => {
    if (body === undefined) throw new InputError('the request needs a JSON body');
    return body;
  });
}

function single(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  if (values.length > 1) throw new InputError(`the query parameter "${name}" is given more than once`);
  return values[0];
}

function eventsLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_EVENTS_LIMIT;
  if (!/^[1-9]\d{0,3}$/.test(text) || Number(text) > 1000) throw new InputError(`invalid limit "${text}": expected a number from 1 to 1000`);
  return Number(text);
}

function match(path: string): { route: Route; params: string[] } | undefined {
  const params = path.slice(PREFIX.length).split('/');
  for (const route of ROUTES) {
    if (route.pattern.length !== params.length) continue;
    if (route.pattern.every((part, i) => part.startsWith(':') || part === params[i])) return { route, params };
  }
  return undefined;
}

const NOT_FOUND = answer(404, 'not_found', 'No such control API route. The routes are listed in GET /api/v1/openapi.json.');
const NOT_OPERATOR = answer(403, 'insufficient_scope', 'The control API needs an operator token; this one is a read token.', {
  error: 'insufficient_scope',
  description: 'An operator token is required',
});
const INTERNAL = answer(500, 'internal_error', 'jobgate failed to handle this request. The error is in its log.');

/** The control API's answer to a failed operation. */
function failure(error: unknown): { answer: Answer; decision: ControlDecision } {
  if (error instanceof InputError) return { answer: answer(400, 'bad_request', capitalized(error.message)), decision: 'bad_request' };
  if (error instanceof NotFoundError) return { answer: answer(404, 'not_found', capitalized(error.message)), decision: 'not_found' };
  if (error instanceof ControlRefusal) {
    const auth = error.error === 'insufficient_scope' ? { error: 'insufficient_scope', description: "Outside the token's label selector" } : undefined;
    return { answer: answer(error.status, error.error, error.message, auth), decision: 'control_refused' };
  }
  if (error instanceof RecordError)
    return { answer: answer(500, 'malformed_record', `The record ${error.key} is malformed (${error.reason}): fix or delete it.`), decision: 'internal_error' };
  if (error instanceof StoreUnavailableError)
    return { answer: answer(503, 'store_unavailable', 'jobgate cannot reach Redis right now. Try again shortly.'), decision: 'store_unavailable' };
  return { answer: INTERNAL, decision: 'internal_error' };
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1) + (text.endsWith('.') ? '' : '.');
}

function sendJson(res: ServerResponse, reply: Reply): void {
  if (reply.status === 204) {
    res.writeHead(204, { 'cache-control': 'no-store' });
    return void res.end();
  }
  const body = `${JSON.stringify(reply.value)}\n`;
  res.writeHead(reply.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

/** The control API for one jobgate: answers a request whose operator token the gate has authenticated. */
export class ControlApi {
  constructor(
    private readonly service: ControlService,
    private readonly logger?: Logger,
  ) {}

  /** Answers `req` for the authenticated `token` (any role: a read token gets its 403 here); returns the access line's decision. */
  async handle(req: IncomingMessage, res: ServerResponse, token: TokenRecord, client: string): Promise<ControlDecision> {
    if (token.role !== 'operator') {
      sendAnswer(res, NOT_OPERATOR);
      return 'control_refused';
    }
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const found = path.startsWith(PREFIX) ? match(path) : undefined;
    const method = req.method ?? 'GET';
    // Own properties only: a method named like an Object.prototype member is not a route.
    const handler = found && Object.hasOwn(found.route.methods, method) ? found.route.methods[method] : undefined;
    if (!found || !handler) {
      sendAnswer(res, found ? methodNotAllowed(Object.keys(found.route.methods)) : NOT_FOUND);
      return 'not_found';
    }
    const watched = WATCHED[found.route.pattern.at(-1) === 'renew' ? 'renew' : found.route.pattern[0]!];
    let bodyFailure: Answer | undefined;
    const call: ControlCall = {
      caller: { token, client },
      req,
      params: found.params,
      query: new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1)),
      body: async () => {
        const read = await readBody(req, watched);
        if (read.ok) return read.object;
        bodyFailure = read.answer;
        throw new BodyRefused();
      },
    };
    try {
      sendJson(res, await handler(call, this.service));
      return 'control';
    } catch (error) {
      if (error instanceof BodyRefused && bodyFailure) {
        answerAndClose(req, res, bodyFailure);
        return 'bad_request';
      }
      const { answer: reply, decision } = failure(error);
      if (reply === INTERNAL) this.logInternal(error);
      sendAnswer(res, reply);
      return decision;
    }
  }

  /**
   * Logs an error the answer says is in the log: its name, message and stack only, as a Redis
   * error also carries the command's arguments (ioredis's `command.args`: hashes, names, actors).
   */
  private logInternal(error: unknown): void {
    const err = error instanceof Error ? { type: error.name, message: error.message, stack: error.stack } : { type: typeof error, message: String(error) };
    this.logger?.error({ event: 'internal_error', err }, 'control API request failed');
  }
}

class BodyRefused extends Error {}

function methodNotAllowed(allowed: string[]): Answer {
  const reply = answer(405, 'method_not_allowed', `This route answers ${allowed.join(', ')}.`);
  return { ...reply, headers: { ...reply.headers, allow: allowed.join(', ') } };
}

/** The request's JSON object (undefined for no body), or the answer refusing it (413, 415, 400). */
async function readBody(
  req: IncomingMessage,
  watched: WatchedObject | undefined,
): Promise<{ ok: true; object: Record<string, unknown> | undefined } | { ok: false; answer: Answer }> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > MAX_CONTROL_BODY_BYTES) return { ok: false, answer: tooLarge() };
  const body = await readBodyUpTo(req, MAX_CONTROL_BODY_BYTES);
  if (body === undefined) return { ok: false, answer: tooLarge() };
  if (body.length === 0 && req.headers['content-type'] === undefined) return { ok: true, object: undefined };
  const read = readJsonObject(req.headers['content-type'], body, MAX_CONTROL_BODY_BYTES, watched ?? { keys: 'all' });
  return read.ok ? { ok: true, object: read.object } : { ok: false, answer: apiAnswer(read) };
}

function tooLarge(): Answer {
  return answer(413, 'payload_too_large', `The request body is larger than ${MAX_CONTROL_BODY_BYTES} bytes, the control API's limit.`);
}
