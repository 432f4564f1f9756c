/**
 * The control API's request bodies, checked strictly: known fields only, each of its type. The
 * JSON scanner (src/api/json-keys.ts) has already refused keys given twice or in a letter-case
 * variant, in the objects named by the WatchedObject constants below. Pure.
 */
import type { WatchedObject } from '../api/json-keys.js';
import { InputError } from '../errors.js';
import type { JobSpec } from '../jobs/store.js';
import type { TokenRequest } from './service.js';

export const TOKEN_REQUEST_KEYS: WatchedObject = { keys: 'all' };
export const RENEW_REQUEST_KEYS: WatchedObject = { keys: 'all' };
export const JOB_SPEC_KEYS: WatchedObject = { keys: 'all', children: { labels: { keys: 'all' }, ports: { keys: 'all' } } };

type FieldType = 'string' | 'boolean' | 'string map';

function typeProblem(value: unknown, type: FieldType): boolean {
  if (type === 'string map') {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return true;
    return Object.values(value).some((item) => typeof item !== 'string');
  }
  return typeof value !== type;
}

/** Refuses unknown fields, missing required ones and wrong types, naming the field. */
function checkFields(body: Record<string, unknown>, fields: Readonly<Record<string, FieldType>>, required: readonly string[], what: string): void {
  for (const key of Object.keys(body)) {
    if (!Object.hasOwn(fields, key)) {
      const expected = Object.keys(fields).length === 0 ? 'no fields' : Object.keys(fields).join(', ');
      throw new InputError(`unknown field "${key}" in ${what}: expected ${expected}`);
    }
  }
  for (const key of required) {
    if (!Object.hasOwn(body, key)) throw new InputError(`${what} needs the field "${key}"`);
  }
  for (const [key, type] of Object.entries(fields)) {
    if (Object.hasOwn(body, key) && typeProblem(body[key], type))
      throw new InputError(`the field "${key}" of ${what} must be a ${type === 'string map' ? 'JSON object of strings' : type}`);
  }
}

/** `POST /api/v1/tokens`: `{name, role, labelSelector?, expiresAt?}`. */
export function checkTokenRequest(body: Record<string, unknown>): TokenRequest {
  checkFields(body, { name: 'string', role: 'string', labelSelector: 'string', expiresAt: 'string' }, ['name', 'role'], 'a token');
  return {
    name: body.name as string,
    role: body.role as string,
    labelSelector: body.labelSelector as string | undefined,
    expiresAt: body.expiresAt as string | undefined,
  };
}

/** `POST /api/v1/tokens/{id}/renew`: `{expiresAt?}` (or no body): the new expiry, if any. */
export function checkRenewRequest(body: Record<string, unknown>): { expiresAt: string | undefined } {
  checkFields(body, { expiresAt: 'string' }, [], 'a renewal');
  return { expiresAt: body.expiresAt as string | undefined };
}

/** `PUT /api/v1/jobs/{id}`: the job's spec, `{upstream, labels?, ports?, unsecureHttp?}`. */
export function checkJobSpec(body: Record<string, unknown>): Omit<JobSpec, 'id'> {
  checkFields(body, { upstream: 'string', labels: 'string map', ports: 'string map', unsecureHttp: 'boolean' }, ['upstream'], 'a job spec');
  return {
    upstream: body.upstream as string,
    labels: (body.labels ?? {}) as Record<string, string>,
    ports: (body.ports ?? {}) as Record<string, string>,
    unsecureHttp: (body.unsecureHttp ?? false) as boolean,
  };
}
