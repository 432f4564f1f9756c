import { InputError, RecordError } from '../errors.js';
import { type Selector, SelectorError, sharedSelector } from '../selector/index.js';
import { isTokenId } from './format.js';

export const ROLES = ['read', 'operator'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(text: string): text is Role {
  return text === 'read' || text === 'operator';
}

/** A token as stored in Redis, validated. The secret itself is never stored. */
export interface TokenRecord {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  /** The selector text as given ('' = unscoped). */
  readonly labelSelector: string;
  /** The parsed selector, so that the hot path never parses. */
  readonly selector: Selector;
  /** SHA-256 of the value's body (see format.ts), 64 lowercase hex characters. */
  readonly secretHash: string;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** When it stops working (ISO-8601 UTC), or undefined: tokens never expire by default. */
  readonly expiresAt: string | undefined;
  /** The same instant in ms since the epoch, so that the hot path compares numbers. */
  readonly expiresAtMs: number | undefined;
}

/** Whether `token` has expired at `now` (ms since the epoch). */
export function isExpired(token: Pick<TokenRecord, 'expiresAtMs'>, now: number = Date.now()): boolean {
  return token.expiresAtMs !== undefined && now >= token.expiresAtMs;
}

/** The shape printed by the CLI, as the training service's API prints a token. */
export interface TokenView {
  id: string;
  createdAt: string;
  updatedAt: string;
  spec: { name: string; role: Role; labelSelector: string; expiresAt?: string };
  status: { version: number; value?: string; expired?: boolean; lastUsedAt?: string };
}

/** What a view adds to the record: when it was last used, and the clock that says whether it expired. */
export interface ViewContext {
  readonly lastUsedAt?: string | undefined;
  readonly now?: number;
}

/**
 * The printed shape; `expiresAt` and `expired` appear only for a token that expires, `lastUsedAt`
 * only for one that was used since jobgate records it.
 */
export function tokenView(record: TokenRecord, value?: string, { lastUsedAt, now = Date.now() }: ViewContext = {}): TokenView {
  const status: TokenView['status'] = { version: record.version };
  if (value !== undefined) status.value = value;
  if (lastUsedAt !== undefined) status.lastUsedAt = lastUsedAt;
  const spec: TokenView['spec'] = { name: record.name, role: record.role, labelSelector: record.labelSelector };
  if (record.expiresAt !== undefined) {
    spec.expiresAt = record.expiresAt;
    status.expired = isExpired(record, now);
  }
  return { id: record.id, createdAt: record.createdAt, updatedAt: record.updatedAt, spec, status };
}

/**
 * An expiry as given (RFC 3339, any offset) in the form stored: ISO-8601 UTC with milliseconds.
 * InputError when it does not parse, or when it is not after `now`.
 */
export function normalizeExpiry(text: string, now: Date): string {
  const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
  const ms = rfc3339.test(text) ? Date.parse(text.replace(' ', 'T')) : Number.NaN;
  if (Number.isNaN(ms)) throw new InputError(`invalid expiry "${text}": expected an RFC 3339 time such as 2027-01-31T12:00:00Z`);
  if (ms <= now.getTime()) throw new InputError(`invalid expiry "${text}": it is not in the future`);
  return new Date(ms).toISOString();
}

export const MAX_TOKEN_NAME_LENGTH = 128;

/** Why a token name is refused, or undefined when it is fine. */
export function tokenNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'the name is empty';
  if (name.length > MAX_TOKEN_NAME_LENGTH) return `the name is longer than ${MAX_TOKEN_NAME_LENGTH} characters`;
  // Control characters would let a name forge log lines or terminal output.
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return 'the name contains a control character';
  }
  return undefined;
}

const HEX64 = /^[0-9a-f]{64}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const POSITIVE_INTEGER = /^[1-9]\d{0,14}$/;

/**
 * Validates the hash stored at `key` for token `id`. Throws RecordError, which every
 * caller treats as "deny", for anything a hand-written record can get wrong.
 */
export function tokenFromHash(key: string, requestedId: string, hash: Record<string, string>): TokenRecord {
  const field = (name: string): string => {
    const value = hash[name];
    if (value === undefined) throw new RecordError(key, `field "${name}" is missing`);
    return value;
  };
  // The stored string, not the requested one, which is cut from the Authorization header: a
  // cached record holding a slice would keep the whole header alive.
  const id = field('id');
  if (id !== requestedId || !isTokenId(id)) throw new RecordError(key, `field "id" does not match the key`);
  const name = field('name');
  const nameProblem = tokenNameProblem(name);
  if (nameProblem) throw new RecordError(key, nameProblem);
  const role = field('role');
  if (!isRole(role)) throw new RecordError(key, `role "${role}" is not one of: ${ROLES.join(', ')}`);
  const labelSelector = field('labelSelector');
  let selector: Selector;
  try {
    selector = sharedSelector(labelSelector);
  } catch (error) {
    if (!(error instanceof SelectorError)) throw error;
    throw new RecordError(key, `labelSelector: ${error.message}`);
  }
  const secretHash = field('secretHash');
  if (!HEX64.test(secretHash)) throw new RecordError(key, 'secretHash is not 64 lowercase hex characters');
  const version = field('version');
  if (!POSITIVE_INTEGER.test(version)) throw new RecordError(key, `version "${version}" is not a positive integer`);
  const createdAt = field('createdAt');
  const updatedAt = field('updatedAt');
  if (!TIMESTAMP.test(createdAt)) throw new RecordError(key, 'createdAt is not an ISO-8601 UTC timestamp');
  if (!TIMESTAMP.test(updatedAt)) throw new RecordError(key, 'updatedAt is not an ISO-8601 UTC timestamp');
  // Optional: absent or empty means the token never expires.
  const expiresAt = hash.expiresAt === undefined || hash.expiresAt === '' ? undefined : hash.expiresAt;
  if (expiresAt !== undefined && !TIMESTAMP.test(expiresAt)) throw new RecordError(key, 'expiresAt is not an ISO-8601 UTC timestamp');
  return {
    id,
    name,
    role,
    labelSelector,
    selector,
    secretHash,
    version: Number(version),
    createdAt,
    updatedAt,
    expiresAt,
    expiresAtMs: expiresAt === undefined ? undefined : Date.parse(expiresAt),
  };
}
