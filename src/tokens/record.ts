import { RecordError } from '../errors.js';
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
}

/** The shape printed by the CLI, as the training service's API prints a token. */
export interface TokenView {
  id: string;
  createdAt: string;
  updatedAt: string;
  spec: { name: string; role: Role; labelSelector: string };
  status: { version: number; value?: string };
}

export function tokenView(record: TokenRecord, value?: string): TokenView {
  const status: TokenView['status'] = { version: record.version };
  if (value !== undefined) status.value = value;
  return {
    id: record.id,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    spec: { name: record.name, role: record.role, labelSelector: record.labelSelector },
    status,
  };
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
  };
}
