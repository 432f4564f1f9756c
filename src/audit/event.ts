/**
 * The audit trail: one event per change to a token or a job, appended to a capped Redis stream
 * (`<prefix>events`) in the same transaction as the change. The stream is public (docs/redis-schema.md):
 * admin scripts that write Redis directly append the same fields. Never a token value.
 */
import { hostname, userInfo } from 'node:os';
import { RecordError } from '../errors.js';

export const AUDIT_ACTIONS = ['token.create', 'token.renew', 'token.delete', 'job.put', 'job.delete'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Roughly how many events the stream keeps (XADD MAXLEN ~): the oldest go first. */
export const AUDIT_STREAM_LENGTH = 10_000;

/** Who made a change: an operator token through the control API, or a process that reached Redis directly. */
export type Actor =
  | { readonly kind: 'token'; readonly tokenId: string; readonly tokenName: string; readonly client: string }
  | { readonly kind: 'cli'; readonly user: string; readonly host: string };

/** The direct writer: this process's OS user and host name, as the CLI records them. */
export function cliActor(): Actor {
  let user = 'unknown';
  try {
    user = userInfo().username || user;
  } catch {
    // No passwd entry for the uid (a container's random user): the uid is still worth recording.
    user = typeof process.getuid === 'function' ? `uid:${process.getuid()}` : user;
  }
  return { kind: 'cli', user, host: hostname() };
}

/** What a change was about, as the event records it (so that scoped readers need no lookup). */
export interface AuditTarget {
  readonly kind: 'token' | 'job';
  readonly id: string;
  /** A token's name. */
  readonly name?: string;
  /** A token's label selector, as stored. */
  readonly labelSelector?: string;
  /** A job's labels (without `jobgate/id`). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** One event as the API and `jobgate events` print it. */
export interface AuditEvent {
  /** The stream entry id (`<ms>-<seq>`): give it as `after` to read what follows. */
  readonly id: string;
  readonly time: string;
  readonly action: AuditAction;
  readonly target: AuditTarget;
  readonly actor: Actor;
}

/**
 * The stream fields of an event, but those of the target that the writing script reads from the
 * record it changes (a token's name and selector, a job's labels): see {@link TARGET_FIELDS}.
 */
export function eventFields(action: AuditAction, targetId: string, actor: Actor, now: Date): string[] {
  const fields = ['time', now.toISOString(), 'action', action, 'targetId', targetId, 'actor', actor.kind];
  if (actor.kind === 'token') fields.push('actorTokenId', actor.tokenId, 'actorTokenName', actor.tokenName, 'client', actor.client);
  else fields.push('cliUser', actor.user, 'cliHost', actor.host);
  return fields;
}

/** The target fields each kind of event carries, read from the record in the same script. */
export const TARGET_FIELDS = { token: ['targetName', 'labelSelector'], job: ['labels'] } as const;

/** Parses one stream entry; RecordError for an entry a hand-written script got wrong. */
export function eventFromEntry(key: string, id: string, flat: readonly string[]): AuditEvent {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!);
  const field = (name: string): string => {
    const value = fields.get(name);
    if (value === undefined) throw new RecordError(`${key} ${id}`, `field "${name}" is missing`);
    return value;
  };
  const action = field('action');
  if (!(AUDIT_ACTIONS as readonly string[]).includes(action))
    throw new RecordError(`${key} ${id}`, `action "${action}" is not one of: ${AUDIT_ACTIONS.join(', ')}`);
  const kind = action.startsWith('token.') ? 'token' : 'job';
  const target: AuditTarget =
    kind === 'token'
      ? { kind, id: field('targetId'), name: fields.get('targetName') ?? '', labelSelector: fields.get('labelSelector') ?? '' }
      : { kind, id: field('targetId'), labels: parseLabels(fields.get('labels')) };
  const actorKind = field('actor');
  let actor: Actor;
  if (actorKind === 'token') actor = { kind: 'token', tokenId: field('actorTokenId'), tokenName: field('actorTokenName'), client: fields.get('client') ?? '' };
  else if (actorKind === 'cli') actor = { kind: 'cli', user: fields.get('cliUser') ?? '', host: fields.get('cliHost') ?? '' };
  else throw new RecordError(`${key} ${id}`, `actor "${actorKind}" is neither "token" nor "cli"`);
  return { id, time: field('time'), action: action as AuditAction, target, actor };
}

function parseLabels(text: string | undefined): Record<string, string> {
  if (text === undefined || text === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
  } catch {
    return {};
  }
}

/**
 * Lua for the scripts that change a record: `audit(key, from, to, ...)` appends an event to the
 * stream `key` with the fields ARGV[from..to] (see {@link eventFields}) and then the extra
 * field/value pairs given (a missing record field is written as ''). `fields(key, ...)` reads
 * those fields of a record, as empty values when the key is not a hash (a hand-made mistake that
 * a delete must still remove). `misfit(key, type, ...)` is the error reply for the first key that
 * holds another type than its own (absent is fine), else nil: a script checks the keys it writes
 * after its first write (the stream first) before writing anything, as Redis does not undo the
 * writes of a script that fails half-way, and a change must never land without its event.
 */
export const AUDIT_LUA = `
local function misfit(...)
  local expected = {...}
  for i = 1, #expected, 2 do
    local found = redis.call('TYPE', expected[i])['ok']
    if found ~= 'none' and found ~= expected[i + 1] then
      return redis.error_reply('WRONGTYPE ' .. expected[i] .. ' is a ' .. found .. ', not a ' .. expected[i + 1] .. ': nothing was changed')
    end
  end
  return nil
end
local function audit(key, from, to, ...)
  local args = {'XADD', key, 'MAXLEN', '~', '${AUDIT_STREAM_LENGTH}', '*'}
  for i = from, to do args[#args + 1] = ARGV[i] end
  local extra = {...}
  for i = 1, select('#', ...) do
    if extra[i] then args[#args + 1] = extra[i] else args[#args + 1] = '' end
  end
  return redis.call(unpack(args))
end
local function fields(key, ...)
  local found = redis.pcall('HMGET', key, ...)
  if found.err then return {} end
  return found
end
`;
