import { InputError, RecordError } from '../errors.js';
import type { RedisClient } from '../redis/connect.js';
import { redisCall } from '../redis/index.js';
import type { KeySpace } from '../redis/keys.js';
import { eventFromEntry, type AuditEvent } from './event.js';

/** The most events one read returns. */
export const MAX_EVENTS_PER_READ = 1000;

const ENTRY_ID = /^\d{1,20}-\d{1,20}$/;

/** Checks an `after` cursor (a stream entry id such as `1733560000000-0`); InputError otherwise. */
export function assertEventId(id: string): void {
  const [ms, seq] = id.split('-');
  // Redis refuses a part past 64 bits, and a start after the very last possible id.
  if (!ENTRY_ID.test(id) || BigInt(ms!) > UINT64_MAX || BigInt(seq!) > UINT64_MAX || (BigInt(ms!) === UINT64_MAX && BigInt(seq!) === UINT64_MAX))
    throw new InputError(`invalid event id "${id}": expected an event's id, such as 1733560000000-0`);
}

const UINT64_MAX = 2n ** 64n - 1n;

type StreamEntry = [id: string, fields: string[]];

/** Reads the audit stream: events in the order they happened, and a malformed entry as its error. */
export class AuditLog {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
  ) {}

  /** At most `limit` events after the event `after` (from the oldest kept when undefined), oldest first. */
  async list(after: string | undefined, limit: number): Promise<Array<AuditEvent | RecordError>> {
    return (await this.page(after, limit)).items;
  }

  /**
   * As {@link list}, with the id of the last entry read (malformed or not), where the next page
   * starts, or undefined when there was none; `items` shorter than the count asked: the end.
   */
  async page(after: string | undefined, limit: number): Promise<{ items: Array<AuditEvent | RecordError>; lastId: string | undefined; end: boolean }> {
    if (after !== undefined) assertEventId(after);
    const count = Math.min(Math.max(1, limit), MAX_EVENTS_PER_READ);
    const entries = (await redisCall(() => this.redis.xrange(this.keys.events, after === undefined ? '-' : `(${after}`, '+', 'COUNT', count))) as StreamEntry[];
    return { items: entries.map(([id, fields]) => this.parse(id, fields)), lastId: entries.at(-1)?.[0], end: entries.length < count };
  }

  /** The newest event's id, or undefined when the stream is empty: where a follower starts. */
  async lastId(): Promise<string | undefined> {
    const entries = (await redisCall(() => this.redis.xrevrange(this.keys.events, '+', '-', 'COUNT', 1))) as StreamEntry[];
    return entries[0]?.[0];
  }

  private parse(id: string, fields: string[]): AuditEvent | RecordError {
    try {
      return eventFromEntry(this.keys.events, id, fields);
    } catch (error) {
      if (error instanceof RecordError) return error;
      throw error;
    }
  }
}
