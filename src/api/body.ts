/**
 * Checking (and, for job creation, rewriting) the JSON bodies of API requests made with scoped
 * tokens, so that a scoped token cannot create or relabel a job outside its selector. Pure:
 * the caller reads the body (bounded), calls one of these (normally {@link inspectApiBody},
 * which also refuses a Content-Encoding), and forwards the returned bytes.
 *
 * The upstream parses the very bytes jobgate checked: a body is refused (400) when a key jobgate
 * reads appears twice (parsers keep the first or the last) or in a case variant (`Labels`,
 * `labelſ`: some upstreams bind keys case-insensitively), and is forwarded byte for byte, with only
 * the labels jobgate adds inserted into it.
 */
import { RESERVED_LABEL_PREFIX, userLabelProblem } from '../jobs/record.js';
import { equalityLabels, formatSelector, matches, type Labels, type Requirement, type Selector } from '../selector/index.js';
import { MAX_JSON_DEPTH, scanJsonKeys, type JsonKeyProblem, type ObjectSpan, type WatchedObject } from './json-keys.js';
import { isMethodBodyKey } from './override.js';
import { INSUFFICIENT_SCOPE, refusal, type ApiRefusal } from './refusal.js';

/** The default bound on an API request body that jobgate buffers to check: 1 MiB. */
export const MAX_API_BODY_BYTES = 1024 * 1024;

/** The statuses a body check answers with. */
export type BodyStatus = 400 | 403 | 413 | 415;

/** A refused body: answer it with `apiAnswer`. */
export type BodyFailure = { readonly ok: false } & ApiRefusal<BodyStatus>;

/** A body check: the bytes to forward (set Content-Length to their length), or the refusal. */
export type BodyResult = { readonly ok: true; readonly body: Buffer } | BodyFailure;

/** Which check a body needs (see `decideApi`): a job creation, or a label change on a job. */
export type BodyCheck =
  { readonly op: 'create'; readonly selector: Selector } | { readonly op: 'relabel'; readonly selector: Selector; readonly jobLabels: Labels };

type Failure = BodyFailure;

const fail = (status: BodyStatus, error: string, reason: ApiRefusal['reason'], message: string): Failure => ({
  ok: false,
  ...refusal(status, error, reason, message),
});
const badBody = (message: string): Failure => fail(400, 'bad_request', 'bad_body', message);
const outOfScope = (message: string): Failure => fail(403, INSUFFICIENT_SCOPE, 'label_scope_denied', message);

/** Whether a label key is under `jobgate/`, which only jobgate sets. */
export function isReservedLabel(key: string): boolean {
  return key.startsWith(RESERVED_LABEL_PREFIX);
}

function reserved(key: string): Failure {
  return fail(403, 'forbidden', 'reserved_label', `Labels under "${RESERVED_LABEL_PREFIX}" are set by jobgate, not by users: remove "${key}".`);
}

/** Why a Content-Type is not JSON in UTF-8, or undefined. */
function contentTypeProblem(contentType: string | undefined): string | undefined {
  const expected = 'Send the body as JSON with "Content-Type: application/json".';
  if (contentType === undefined) return `The request has no Content-Type. ${expected}`;
  const params = contentType.split(';');
  if (params[0]!.trim().toLowerCase() !== 'application/json') return `The Content-Type is not application/json. ${expected}`;
  for (let i = 1; i < params.length; i++) {
    const param = params[i]!;
    const eq = param.indexOf('=');
    if (eq === -1 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    const charset = param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') return `The charset ${JSON.stringify(charset)} is not supported. Send UTF-8 JSON.`;
  }
  return undefined;
}

function tooLarge(maxBytes: number): Failure {
  return fail(413, 'payload_too_large', 'body_too_large', `The request body is larger than ${maxBytes} bytes, the limit for API bodies that jobgate checks.`);
}

/** The request headers a body check reads; Node's `req.headers` fits. */
export interface BodyHeaders {
  readonly 'content-type'?: string | undefined;
  readonly 'content-length'?: string | undefined;
  readonly 'content-encoding'?: string | undefined;
}

const unsupported = (message: string): Failure => fail(415, 'unsupported_media_type', 'unsupported_media_type', message);

/**
 * The refusal due before reading a body, or undefined: 415 for a Content-Type other than
 * `application/json` (a `charset` other than UTF-8 included), 415 for a Content-Encoding other
 * than `identity` (jobgate cannot inspect a compressed body), 413 for a Content-Length over
 * `maxBytes`. Lets the caller answer without buffering; {@link inspectApiBody} runs it again.
 */
export function bodyPreflight(headers: BodyHeaders, maxBytes: number = MAX_API_BODY_BYTES): BodyFailure | undefined {
  const problem = contentTypeProblem(headers['content-type']);
  if (problem !== undefined) return unsupported(problem);
  const encoding = headers['content-encoding']?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    return unsupported(`jobgate cannot check a body with Content-Encoding ${JSON.stringify(encoding)}. Send it uncompressed.`);
  }
  const length = headers['content-length'];
  if (length !== undefined && Number(length) > maxBytes) return tooLarge(maxBytes);
  return undefined;
}

// ignoreBOM keeps a byte order mark in the text, so that offsets into it are offsets into the body.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const BOM = 0xfeff;

/** What jobgate reads in a job creation: the top-level "labels", and every key of it. */
const CREATE_KEYS: WatchedObject = { keys: ['labels'], children: { labels: { keys: 'all' } } };
/** What jobgate reads in a label change: both of its fields. */
const RELABEL_KEYS: WatchedObject = { keys: ['name', 'value'] };

/** The 400 for a body whose keys an upstream could read differently from jobgate. */
function ambiguousKey(problem: Exclude<JsonKeyProblem, { kind: 'syntax' | 'too-deep' }>): Failure {
  const place = problem.where === '' ? 'at the top level of the body' : `in "${problem.where}"`;
  if (problem.kind === 'duplicate') {
    return badBody(`The key ${JSON.stringify(problem.key)} appears more than once ${place}. Send each key once: parsers disagree on which one counts.`);
  }
  return badBody(
    `The key ${JSON.stringify(problem.key)} ${place} differs from ${JSON.stringify(problem.of)} only in letter case, and upstreams that match keys case-insensitively would read it as that key. Send ${JSON.stringify(problem.of)} once, spelled exactly.`,
  );
}

/** A body read for a check: its text (BOM kept), where its JSON starts, the parsed object, and the spans of the watched objects. */
export interface JsonBody {
  readonly ok: true;
  readonly text: string;
  readonly object: Record<string, unknown>;
  readonly spans: ReadonlyMap<string, ObjectSpan>;
}

/** The body as a JSON object whose watched keys are unambiguous, or the refusal (415, 413, 400). */
export function readJsonObject(contentType: string | undefined, body: Buffer, maxBytes: number, watched: WatchedObject): JsonBody | Failure {
  const problem = contentTypeProblem(contentType);
  if (problem !== undefined) return unsupported(problem);
  if (body.length > maxBytes) return tooLarge(maxBytes);
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    return badBody('The request body is not valid UTF-8.');
  }
  const start = text.charCodeAt(0) === BOM ? 1 : 0;
  const scan = scanJsonKeys(text, start, watched);
  if (!scan.ok) {
    if (scan.kind === 'syntax') return badBody('The request body is not valid JSON.');
    if (scan.kind === 'too-deep') return badBody(`The request body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep.`);
    return ambiguousKey(scan);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(start === 0 ? text : text.slice(start));
  } catch {
    // The parser's message quotes the body: not echoed.
    return badBody('The request body is not valid JSON.');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return badBody('The request body must be a JSON object.');
  return { ok: true, text, object: parsed as Record<string, unknown>, spans: scan.spans };
}

/** The first requirement of `selector` that `labels` do not satisfy, or undefined. */
function firstUnmet(selector: Selector, labels: Labels): Requirement | undefined {
  for (const requirement of selector.requirements) {
    if (!matches({ source: '', requirements: [requirement], empty: false }, labels)) return requirement;
  }
  return undefined;
}

function describe(requirement: Requirement): string {
  return formatSelector({ source: '', requirements: [requirement], empty: false });
}

/**
 * The body with `added` labels inserted, and nothing else changed: at the end of its "labels"
 * object, or in a new "labels" member at the end of the top-level object.
 */
function insertLabels(read: JsonBody, added: ReadonlyMap<string, string>): Buffer {
  const members = [...added].map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(',');
  const labels = read.spans.get('labels');
  const top = read.spans.get('')!;
  const [at, insertion] =
    labels !== undefined ? [labels.close, (labels.members > 0 ? ',' : '') + members] : [top.close, `${top.members > 0 ? ',' : ''}"labels":{${members}}`];
  return Buffer.from(read.text.slice(0, at) + insertion + read.text.slice(at));
}

/**
 * Puts the equality requirements of `selector` (`k=v`, `k==v`, single-value `k in (v)`) into
 * `labels` (in place) and checks that the result satisfies the whole selector. A label already in
 * `labels` that contradicts one is refused (never silently overwritten), and so are labels that
 * still do not match: 403 `insufficient_scope`. Requirements on `jobgate/` labels are only checked
 * (users cannot set them; a caller may put jobgate's own ones, such as `jobgate/id`, in `labels`).
 * Returns the labels it added.
 */
export function applySelectorLabels(selector: Selector, labels: Map<string, string>): { readonly ok: true; readonly added: Map<string, string> } | Failure {
  const added = new Map<string, string>();
  for (const [key, value] of equalityLabels(selector)) {
    if (isReservedLabel(key)) continue; // cannot be set: the final check refuses it
    const sent = labels.get(key);
    if (sent === undefined) {
      labels.set(key, value);
      added.set(key, value);
    } else if (sent !== value) {
      return outOfScope(
        `The label ${key}=${sent} contradicts the token's label selector, which requires ${key}=${value}. Remove the label or set it to ${JSON.stringify(value)}.`,
      );
    }
  }
  const unmet = firstUnmet(selector, labels);
  if (unmet !== undefined) {
    if (isReservedLabel(unmet.key)) {
      return outOfScope(
        `The token's label selector requires "${describe(unmet)}", a label that jobgate sets and a job creation cannot: use a token whose selector does not pin "${RESERVED_LABEL_PREFIX}" labels.`,
      );
    }
    return outOfScope(
      `The job's labels would not satisfy "${describe(unmet)}" from the token's label selector "${formatSelector(selector)}". Set the labels so that they do.`,
    );
  }
  return { ok: true, added };
}

/**
 * For `POST /v1/job` with a token scoped by `selector`: checks the JSON body and merges the
 * selector's equality requirements (`k=v`, `k==v`, single-value `k in (v)`) into its top-level
 * `labels` map (created when absent; client labels keep their order, merged ones follow). The
 * other requirements (`!=`, `notin`, multi-value `in`, `k`, `!k`) are only checked: the
 * resulting labels must satisfy the whole selector. Answers:
 * - 415: no Content-Type, not `application/json`, or a charset other than UTF-8;
 * - 413: more than `maxBytes` bytes;
 * - 400: not UTF-8, not JSON, not an object; `labels` not an object of strings; a label key or
 *   value that is not a valid Kubernetes label;
 * - 403 `forbidden`: a label under `jobgate/` (users cannot set them);
 * - 403 `insufficient_scope`: a client label that contradicts the selector (never silently
 *   overwritten), or labels that still do not satisfy the selector (an unmet `!=`, `notin`,
 *   `!k`, `k`, multi-value `in`, or a requirement on a `jobgate/` label, which a creator
 *   cannot set);
 * - 400 also for a key jobgate reads (`labels` at the top level, any key inside it) given twice, or
 *   in a letter-case variant of another (`Labels`, `labelſ`, `Team` beside `team`), and for a
 *   top-level `_method` in any case (Laravel would run the request as that method).
 * On success, `body` is the request body with the added labels inserted (byte for byte the same
 * when there are none). Content-Encoding is not looked at
 * here: {@link inspectApiBody} (or {@link bodyPreflight}) refuses it first.
 */
export function mergeCreateLabels(selector: Selector, contentType: string | undefined, body: Buffer, maxBytes: number = MAX_API_BODY_BYTES): BodyResult {
  const read = readJsonObject(contentType, body, maxBytes, CREATE_KEYS);
  if (!read.ok) return read;
  const object = read.object;
  for (const key of Object.keys(object)) {
    if (isMethodBodyKey(key))
      return badBody(`The key ${JSON.stringify(key)} asks some upstreams to run the request as another method than the one jobgate checked. Remove it.`);
  }
  const given = Object.hasOwn(object, 'labels') ? object.labels : {};
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    return badBody('The "labels" field must be a JSON object mapping label keys to string values.');
  }
  const labels = new Map<string, string>();
  for (const [key, value] of Object.entries(given)) {
    if (typeof value !== 'string') return badBody(`The label ${JSON.stringify(key)} must have a string value.`);
    if (isReservedLabel(key)) return reserved(key);
    const problem = userLabelProblem(key, value);
    if (problem !== undefined) return badBody(`Invalid label: ${problem}.`);
    labels.set(key, value);
  }
  const scoped = applySelectorLabels(selector, labels);
  if (!scoped.ok) return scoped;
  const added = scoped.added;
  return { ok: true, body: added.size === 0 ? body : insertLabels(read, added) };
}

/**
 * For `PUT /v1/job/{id}/label` (body `{"name": ..., "value": ...}`) with a token scoped by
 * `selector`, on a job whose current labels (from jobgate's registry) are `jobLabels`: the
 * change must not move the job out of the selector. Answers 415 / 413 / 400 as
 * {@link mergeCreateLabels} (also: `name` and `value` must be strings forming a valid label, each
 * given once, and no other field is accepted, since it could carry another label change),
 * 403 `forbidden` for a `jobgate/` name, and 403 `insufficient_scope` when the job does not
 * match now or would not match after the change (an empty value must keep the job in scope both
 * as the empty value and as a removal of the label, since upstreams differ). On success, `body`
 * is the request body, unchanged.
 */
export function checkRelabel(
  selector: Selector,
  jobLabels: Labels,
  contentType: string | undefined,
  body: Buffer,
  maxBytes: number = MAX_API_BODY_BYTES,
): BodyResult {
  const read = readJsonObject(contentType, body, maxBytes, RELABEL_KEYS);
  if (!read.ok) return read;
  const object = read.object;
  const { name, value } = object;
  const shape = 'The body must be {"name": "<label key>", "value": "<label value>"}, both strings, and nothing else.';
  if (typeof name !== 'string' || typeof value !== 'string') return badBody(shape);
  for (const key of Object.keys(object)) {
    if (key !== 'name' && key !== 'value') return badBody(`Unexpected field ${JSON.stringify(key)}. ${shape}`);
  }
  if (isReservedLabel(name)) return reserved(name);
  const problem = userLabelProblem(name, value);
  if (problem !== undefined) return badBody(`Invalid label: ${problem}.`);
  if (!matches(selector, jobLabels)) {
    return outOfScope("The token's label selector does not match this job's labels. Use a token scoped to this job, or an unscoped one.");
  }
  // An upstream may read an empty value as "remove the label": both readings must stay in scope.
  const removed = new Map(jobLabels);
  removed.delete(name);
  const unmet = firstUnmet(selector, new Map(jobLabels).set(name, value)) ?? (value === '' ? firstUnmet(selector, removed) : undefined);
  if (unmet !== undefined) {
    return outOfScope(`Setting ${name}=${value} would move the job out of the token's scope: its labels would not satisfy "${describe(unmet)}".`);
  }
  return { ok: true, body };
}

/**
 * Runs the check a `decideApi` 'inspect-body' decision asks for on the body read from the
 * request (`headers` being `req.headers`): {@link bodyPreflight}, then {@link mergeCreateLabels}
 * or {@link checkRelabel}.
 */
export function inspectApiBody(check: BodyCheck, headers: BodyHeaders, body: Buffer, maxBytes: number = MAX_API_BODY_BYTES): BodyResult {
  const preflight = bodyPreflight(headers, maxBytes);
  if (preflight !== undefined) return preflight;
  const contentType = headers['content-type'];
  return check.op === 'create'
    ? mergeCreateLabels(check.selector, contentType, body, maxBytes)
    : checkRelabel(check.selector, check.jobLabels, contentType, body, maxBytes);
}
