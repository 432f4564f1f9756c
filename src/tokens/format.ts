import * as crypto from 'node:crypto';
import { createHash, randomBytes, randomUUID } from 'node:crypto';

/**
 * Token value format (the public contract; docs/redis-schema.md#token-value):
 *
 *   jgt_<id>_<secret>_<check>
 *
 *   id      the token id: a lowercase UUID, 36 characters
 *   secret  64 lowercase hex characters (256 random bits)
 *   check   the first 8 hex characters of SHA-256("jgt_<id>_<secret>")
 *
 * The whole SHA-256 digest (64 hex) is what Redis stores as `secretHash`, so one
 * hash both rejects garbage (check) and proves the secret (digest comparison).
 */
export const TOKEN_PREFIX = 'jgt_';
export const TOKEN_ID_LENGTH = 36;
export const TOKEN_SECRET_LENGTH = 64;
export const TOKEN_CHECK_LENGTH = 8;
/** Every token value has exactly this many characters. */
export const TOKEN_LENGTH = TOKEN_PREFIX.length + TOKEN_ID_LENGTH + 1 + TOKEN_SECRET_LENGTH + 1 + TOKEN_CHECK_LENGTH;

const ID_START = TOKEN_PREFIX.length;
const SECRET_START = ID_START + TOKEN_ID_LENGTH + 1;
const CHECK_START = SECRET_START + TOKEN_SECRET_LENGTH + 1;

/** A token value whose shape and checksum are right; nothing about Redis is known yet. */
export interface ParsedToken {
  readonly id: string;
  /** SHA-256 of everything before the checksum (64 lowercase hex): compare with the record's secretHash by sameDigest. */
  readonly digest: string;
}

export interface MintedToken {
  readonly id: string;
  readonly value: string;
  readonly secretHash: string;
}

// crypto.hash (Node >= 20.12) hashes in one call, without a Hash object per request.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

function sha256Hex(text: string): string {
  return oneShot ? oneShot('sha256', text, 'hex') : createHash('sha256').update(text).digest('hex');
}

/**
 * Compares two digests in time that depends only on their length. Digests are kept as the
 * hex text Redis stores, not as Buffers: a cached record then costs one string, and Node's
 * timingSafeEqual would need a Buffer per record (about 250 bytes with its backing store) or
 * one decoded per request. The loop has no data-dependent branch or early exit.
 */
export function sameDigest(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/** A new token id: a random lowercase UUID. */
export function newTokenId(): string {
  return randomUUID();
}

/** Mints a value for token `id` with a fresh 256-bit secret. */
export function mintToken(id: string = newTokenId()): MintedToken {
  if (!isTokenId(id)) throw new TypeError(`invalid token id "${id}": expected a lowercase UUID`);
  const body = `${TOKEN_PREFIX}${id}_${randomBytes(32).toString('hex')}`;
  const secretHash = sha256Hex(body);
  return { id, value: `${body}_${secretHash.slice(0, TOKEN_CHECK_LENGTH)}`, secretHash };
}

function isLowerHex(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 97 && code <= 102);
}

function isHexRun(text: string, start: number, length: number): boolean {
  for (let i = start; i < start + length; i++) if (!isLowerHex(text.charCodeAt(i))) return false;
  return true;
}

/** True for a lowercase UUID (8-4-4-4-12 hex). */
export function isTokenId(text: string): boolean {
  return text.length === TOKEN_ID_LENGTH && isUuidAt(text, 0);
}

function isUuidAt(text: string, start: number): boolean {
  for (let i = 0; i < TOKEN_ID_LENGTH; i++) {
    const code = text.charCodeAt(start + i);
    const dash = i === 8 || i === 13 || i === 18 || i === 23;
    if (dash ? code !== 45 : !isLowerHex(code)) return false;
  }
  return true;
}

/** A presented value with the shape of a jobgate token (checksum not checked yet): its id is readable. */
export interface PresentedToken {
  readonly id: string;
  readonly value: string;
}

/** The id of a value shaped like a jobgate token (prefix, UUID, hex runs, length), or undefined; no hashing. */
export function tokenShape(value: string): PresentedToken | undefined {
  if (value.length !== TOKEN_LENGTH || !value.startsWith(TOKEN_PREFIX)) return undefined;
  if (value.charCodeAt(SECRET_START - 1) !== 95 || value.charCodeAt(CHECK_START - 1) !== 95) return undefined;
  if (!isUuidAt(value, ID_START) || !isHexRun(value, SECRET_START, TOKEN_SECRET_LENGTH)) return undefined;
  if (!isHexRun(value, CHECK_START, TOKEN_CHECK_LENGTH)) return undefined;
  return { id: value.slice(ID_START, ID_START + TOKEN_ID_LENGTH), value };
}

/** The one hash of a presented token: its digest when the checksum is right, else undefined. */
export function checkToken(presented: PresentedToken): ParsedToken | undefined {
  const { value } = presented;
  const digest = sha256Hex(value.slice(0, CHECK_START - 1));
  // The checksum is public (it is part of the value), so a plain comparison is fine.
  for (let i = 0; i < TOKEN_CHECK_LENGTH; i++) if (value.charCodeAt(CHECK_START + i) !== digest.charCodeAt(i)) return undefined;
  return { id: presented.id, digest };
}

/**
 * Checks a presented value's shape and checksum without touching Redis.
 * Returns undefined for anything that is not a well-formed jobgate token.
 */
export function parseToken(value: string): ParsedToken | undefined {
  const presented = tokenShape(value);
  return presented && checkToken(presented);
}

/**
 * True when `text` holds something that starts like a token value (`jgt_` and a hex digit):
 * what jobgate keeps from upstreams. Whole or cut short, such a value is a credential (the
 * checksum can be recomputed), so the shape is not checked further. One indexOf, no regex.
 */
export function carriesToken(text: string): boolean {
  let at = text.indexOf(TOKEN_PREFIX);
  while (at !== -1) {
    if (isLowerHex(text.charCodeAt(at + TOKEN_PREFIX.length))) return true;
    at = text.indexOf(TOKEN_PREFIX, at + TOKEN_PREFIX.length);
  }
  return false;
}
