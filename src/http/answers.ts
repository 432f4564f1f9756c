import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Every answer jobgate gives instead of the upstream's: a status, a machine-readable
 * `error`, a `message` that tells a person what to do, and for 401/403 the RFC 6750
 * WWW-Authenticate challenge. Built once at start-up; never echoes a credential.
 */
export interface Answer {
  readonly status: number;
  readonly error: string;
  /** What happened and what to do, for a person (also in the JSON body). */
  readonly message: string;
  /** A string, not a Buffer: Node then sends the status line, headers and body in one write. */
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

const REALM = 'Bearer realm="jobgate"';

function challenge(error?: string, description?: string): string {
  if (!error) return REALM;
  return `${REALM}, error="${error}"${description ? `, error_description="${description}"` : ''}`;
}

/** Builds an answer; with `authError` the WWW-Authenticate header carries it (RFC 6750 3). */
export function answer(status: number, error: string, message: string, auth?: { error?: string; description?: string }): Answer {
  const body = `${JSON.stringify({ error, message })}\n`;
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  };
  if (auth) headers['www-authenticate'] = challenge(auth.error, auth.description);
  return { status, error, message, body, headers };
}

export const ANSWERS = {
  unknownJob: answer(404, 'not_found', 'No job with this id is registered. Check the job id in the URL.'),
  unknownPort: answer(404, 'not_found', 'This job exposes no service on that port. Check the port in the URL (<job-id>-<port>.<job domain>).'),
  missingToken: answer(401, 'unauthorized', 'This job needs an app token. Send it as "Authorization: Bearer <token>".', {}),
  malformedToken: answer(
    401,
    'invalid_token',
    'The bearer token is not a jobgate app token (wrong format or checksum). Copy the whole value printed by `jobgate token create`.',
    {
      error: 'invalid_token',
      description: 'The token is malformed',
    },
  ),
  unknownToken: answer(
    401,
    'invalid_token',
    'The token is unknown, deleted or was renewed. Ask for a new token, or use the value printed by the last `jobgate token renew`.',
    {
      error: 'invalid_token',
      description: 'The token is unknown, deleted or renewed',
    },
  ),
  unverifiableToken: answer(
    401,
    'invalid_token',
    'The token cannot be verified because its record is invalid. Ask an administrator to check the token record (see the jobgate log).',
    {
      error: 'invalid_token',
      description: 'The token cannot be verified',
    },
  ),
  roleDenied: answer(403, 'insufficient_scope', 'Read tokens only reach job URLs. Use an operator token for the training API.', {
    error: 'insufficient_scope',
    description: 'An operator token is required',
  }),
  scopeDenied: answer(
    403,
    'insufficient_scope',
    "The token's label selector does not match this job's labels. Use a token scoped to this job, or an unscoped one.",
    {
      error: 'insufficient_scope',
      description: "The token's label selector does not match this job",
    },
  ),
  duplicateAuthorization: answer(400, 'invalid_request', 'The request has more than one Authorization header. Send exactly one.', {
    error: 'invalid_request',
    description: 'More than one Authorization header',
  }),
  tooManyHeaders: answer(431, 'request_header_fields_too_large', 'The request has too many header fields.'),
  notWebSocket: answer(400, 'bad_request', 'Only WebSocket upgrades are supported.'),
  invalidJob: answer(
    503,
    'job_record_invalid',
    "This job's registry record is invalid, so access cannot be decided. Ask an administrator to check it (see the jobgate log).",
  ),
  foreignOrigin: answer(403, 'forbidden', 'This request came from another site (Origin check). Open the job URL itself and log in there.'),
  storeUnavailable: answer(503, 'unavailable', 'jobgate cannot reach its token registry right now, so access cannot be checked. Retry in a few seconds.'),
  upstreamUnreachable: answer(502, 'bad_gateway', 'The job did not accept the connection. It may be starting or stopped; retry shortly.'),
  upstreamTimeout: answer(504, 'gateway_timeout', 'The job did not answer in time.'),
} as const;

/** A 401 for a token past its expiry (`expiresAt`, ISO-8601 UTC). */
export function expiredToken(expiresAt: string): Answer {
  return answer(401, 'invalid_token', `The token expired at ${expiresAt}. Ask for a new token, or renew this one with a later expiry.`, {
    error: 'invalid_token',
    description: 'The token expired',
  });
}

/** A 503 naming the sidecar job whose record is missing. */
export function missingSidecarJob(jobId: string): Answer {
  return answer(
    503,
    'job_not_registered',
    `The job "${jobId}" that this jobgate sidecar fronts is not registered in Redis. Register it with \`jobgate job put ${jobId} ...\`.`,
  );
}

const TOO_MANY_FAILURES = answer(
  429,
  'too_many_requests',
  'Too many failed authentications from this address. Wait for the time in Retry-After, then use a valid token.',
);

/** A 429 for an address past the failure limit. */
export function tooManyFailures(retryAfterSeconds: number): Answer {
  return { ...TOO_MANY_FAILURES, headers: { ...TOO_MANY_FAILURES.headers, 'retry-after': String(retryAfterSeconds) } };
}

/** What can be sent as one of jobgate's own answers: an Answer, or a page. */
export interface Sendable {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | number | readonly string[]>>;
  readonly body: string;
}

/** Sends an answer (or page) on an HTTP response; destroys the response when the upstream's already began. */
export function sendAnswer(res: ServerResponse, reply: Sendable): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(reply.status, reply.headers as Record<string, string | number | string[]>);
  res.end(reply.body);
}

/** Writes an answer as a raw HTTP/1.1 response on a socket (refused upgrades, client errors), then closes it. */
export function writeAnswer(socket: Duplex, reply: Answer): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  let head = `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ''}\r\nconnection: close\r\n`;
  for (const [name, value] of Object.entries(reply.headers)) head += `${name}: ${value}\r\n`;
  socket.end(`${head}\r\n${reply.body}`);
}
