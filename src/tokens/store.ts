import { AUDIT_LUA, cliActor, eventFields, type Actor } from '../audit/event.js';
import type { RedisClient } from '../redis/connect.js';
import { InputError, NotFoundError } from '../errors.js';
import { invalidation, type KeySpace } from '../redis/keys.js';
import { redisCall, LuaScript, pairsToObject, readHash, readHashes, readScores } from '../redis/index.js';
import { parseSelector, SelectorError } from '../selector/index.js';
import { isTokenId, mintToken, type ParsedToken, sameDigest } from './format.js';
import { isExpired, isRole, normalizeExpiry, ROLES, tokenFromHash, tokenNameProblem, type Role, type TokenRecord } from './record.js';

export interface NewToken {
  readonly name: string;
  readonly role: string;
  readonly labelSelector?: string;
  /** When it stops working (RFC 3339); never when absent. */
  readonly expiresAt?: string | undefined;
}

/** A record together with the only copy of its value (create and renew). */
export interface IssuedToken {
  readonly record: TokenRecord;
  readonly value: string;
}

// KEYS: token hash, token index, audit stream. ARGV: id, channel, message, the number of audit event
// fields m, the m fields, then the hash's field/value pairs. Writes the new token, indexes and
// announces it, and records the event; refuses, writing nothing, when a key holds another type.
const CREATE = new LuaScript(`${AUDIT_LUA}
local wrong = misfit(KEYS[3], 'stream', KEYS[2], 'set', KEYS[1], 'hash')
if wrong then return wrong end
local eventEnd = 4 + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], unpack(ARGV, eventEnd + 1))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
audit(KEYS[3], 5, eventEnd)
return 1
`);

// KEYS: token hash, token index, audit stream. ARGV: id, new secretHash, now, channel, message,
// the new expiresAt ('' keeps the current one), then the audit event's fields. Returns the renewed
// hash, or false when the token does not exist. HINCRBY is the first write, so a hand-broken
// version field fails the script before anything changes.
const RENEW = new LuaScript(`${AUDIT_LUA}
local wrong = misfit(KEYS[3], 'stream')
if wrong then return wrong end
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'secretHash', ARGV[2], 'updatedAt', ARGV[3])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'expiresAt', ARGV[6]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
local record = fields(KEYS[1], 'name', 'labelSelector')
audit(KEYS[3], 7, #ARGV, 'targetName', record[1], 'labelSelector', record[2])
return redis.call('HGETALL', KEYS[1])
`);

// KEYS: token hash, token index, audit stream, last-use set. ARGV: id, channel, message, then the
// audit event's fields. Returns 1 when it existed (and only then records the event).
const DELETE = new LuaScript(`${AUDIT_LUA}
local wrong = misfit(KEYS[3], 'stream', KEYS[2], 'set', KEYS[4], 'zset')
if wrong then return wrong end
local record = fields(KEYS[1], 'name', 'labelSelector')
local existed = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
if existed == 1 then audit(KEYS[3], 4, #ARGV, 'targetName', record[1], 'labelSelector', record[2]) end
return existed
`);

/** Validates create input; throws InputError naming the problem. */
export function validateNewToken(input: NewToken, now = new Date()): { name: string; role: Role; labelSelector: string; expiresAt: string | undefined } {
  const nameProblem = tokenNameProblem(input.name);
  if (nameProblem) throw new InputError(`invalid token name: ${nameProblem}`);
  if (!isRole(input.role)) throw new InputError(`invalid role "${input.role}": expected one of ${ROLES.join(', ')}`);
  const labelSelector = (input.labelSelector ?? '').trim();
  try {
    parseSelector(labelSelector);
  } catch (error) {
    if (error instanceof SelectorError) throw new InputError(`invalid label selector: ${error.message}`);
    throw error;
  }
  const expiresAt = input.expiresAt === undefined ? undefined : normalizeExpiry(input.expiresAt, now);
  return { name: input.name, role: input.role, labelSelector, expiresAt };
}

export function assertTokenId(id: string): void {
  if (!isTokenId(id)) throw new InputError(`invalid token id "${id}": expected a lowercase UUID such as 0b5c2a36-8f1e-4a8e-9a57-1c2d3e4f5a6b`);
}

/**
 * Token records in Redis: every lifecycle step is one atomic command or script, which also appends
 * its audit event (src/audit/), naming `actor`: by default this process's OS user and host.
 */
export class TokenStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
    private readonly actor: Actor = cliActor(),
  ) {}

  /** The same store, recording `actor` as the author of its changes. */
  as(actor: Actor): TokenStore {
    return new TokenStore(this.redis, this.keys, actor);
  }

  async create(input: NewToken, now = new Date()): Promise<IssuedToken> {
    const { name, role, labelSelector, expiresAt } = validateNewToken(input, now);
    const minted = mintToken();
    const timestamp = now.toISOString();
    const key = this.keys.token(minted.id);
    const hash: Record<string, string> = {
      id: minted.id,
      name,
      role,
      labelSelector,
      secretHash: minted.secretHash,
      version: '1',
      createdAt: timestamp,
      updatedAt: timestamp,
    };
    if (expiresAt !== undefined) hash.expiresAt = expiresAt;
    const event = [...eventFields('token.create', minted.id, this.actor, now), 'targetName', name, 'labelSelector', labelSelector];
    await redisCall(() =>
      CREATE.run(
        this.redis,
        [key, this.keys.tokens, this.keys.events],
        [minted.id, this.keys.channel, invalidation.token(minted.id), String(event.length), ...event, ...Object.entries(hash).flat()],
      ),
    );
    return { record: tokenFromHash(key, minted.id, hash), value: minted.value };
  }

  /** The record, or NotFoundError. A malformed record throws RecordError. */
  async get(id: string): Promise<TokenRecord> {
    assertTokenId(id);
    const record = await this.find(id);
    if (!record) throw new NotFoundError(`token ${id} not found`);
    return record;
  }

  /** The record, or undefined when there is none. One HGETALL. */
  async find(id: string): Promise<TokenRecord | undefined> {
    const key = this.keys.token(id);
    const hash = await readHash(this.redis, key);
    if (Object.keys(hash).length === 0) return undefined;
    return tokenFromHash(key, id, hash);
  }

  /** Every token id in the index, sorted. */
  async ids(): Promise<string[]> {
    const ids = await redisCall(() => this.redis.smembers(this.keys.tokens));
    return ids.sort();
  }

  /** Every token, as records or as the error that reading each one raised. */
  async list(): Promise<Array<TokenRecord | Error>> {
    return readHashes(this.redis, await this.ids(), (id) => this.keys.token(id), tokenFromHash);
  }

  /**
   * Issues a new secret: same id, name and selector, version + 1. The old value stops working.
   * `expiresAt` (RFC 3339) sets a new expiry; without it the token keeps its own.
   */
  async renew(id: string, now = new Date(), expiresAt?: string): Promise<IssuedToken> {
    assertTokenId(id);
    const expiry = expiresAt === undefined ? '' : normalizeExpiry(expiresAt, now);
    const key = this.keys.token(id);
    // Read first so that a malformed record is reported instead of renewed.
    const current = await this.get(id);
    if (expiresAt === undefined && isExpired(current, now.getTime()))
      throw new InputError(
        `token ${id} expired at ${current.expiresAt}: renewed, it would keep that expiry and never work; give it a new one (--expires-in or --expires-at; expiresAt in the control API)`,
      );
    const minted = mintToken(id);
    const reply = await redisCall(() =>
      RENEW.run(
        this.redis,
        [key, this.keys.tokens, this.keys.events],
        [id, minted.secretHash, now.toISOString(), this.keys.channel, invalidation.token(id), expiry, ...eventFields('token.renew', id, this.actor, now)],
      ),
    );
    if (reply === null || reply === false) throw new NotFoundError(`token ${id} not found`);
    return { record: tokenFromHash(key, id, pairsToObject(reply)), value: minted.value };
  }

  async delete(id: string, now = new Date()): Promise<void> {
    assertTokenId(id);
    const keys = [this.keys.token(id), this.keys.tokens, this.keys.events, this.keys.tokensLastUsed];
    const existed = await redisCall(() =>
      DELETE.run(this.redis, keys, [id, this.keys.channel, invalidation.token(id), ...eventFields('token.delete', id, this.actor, now)]),
    );
    if (existed !== 1) throw new NotFoundError(`token ${id} not found`);
  }

  /** When each of `ids` was last used (ISO-8601 UTC), as jobgate records it; never-used ids are absent. */
  async lastUsed(ids: readonly string[]): Promise<Map<string, string>> {
    const scores = await readScores(this.redis, this.keys.tokensLastUsed, ids);
    return new Map([...scores].map(([id, ms]) => [id, new Date(ms).toISOString()]));
  }

  /**
   * The record that a presented token stands for, or undefined when the token is
   * unknown, deleted or superseded by a renew. One Redis command.
   */
  async resolve(token: ParsedToken): Promise<TokenRecord | undefined> {
    const record = await this.find(token.id);
    if (!record || !sameDigest(record.secretHash, token.digest)) return undefined;
    return record;
  }
}
