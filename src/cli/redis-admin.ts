/** The admin operations on Redis directly: the stores, recording the OS user and host as the actor. */
import type { AuditEvent } from '../audit/event.js';
import { jobView, type JobView } from '../jobs/record.js';
import type { JobSpec } from '../jobs/store.js';
import { tokenView, type TokenView } from '../tokens/record.js';
import type { Admin, NewTokenRequest } from './admin.js';
import type { Stores } from './stores.js';

export class RedisAdmin implements Admin {
  constructor(private readonly stores: Stores) {}

  async createToken(request: NewTokenRequest): Promise<TokenView> {
    const issued = await this.stores.tokens.create(request);
    return tokenView(issued.record, issued.value);
  }

  async listTokens(): Promise<Array<TokenView | Error>> {
    const records = await this.stores.tokens.list();
    const lastUsed = await this.stores.tokens.lastUsed(records.flatMap((record) => (record instanceof Error ? [] : [record.id])));
    return records.map((record) => (record instanceof Error ? record : tokenView(record, undefined, { lastUsedAt: lastUsed.get(record.id) })));
  }

  async findToken(id: string): Promise<TokenView | undefined> {
    const record = await this.stores.tokens.find(id);
    return record && tokenView(record, undefined, { lastUsedAt: (await this.stores.tokens.lastUsed([id])).get(id) });
  }

  async renewToken(id: string, expiresAt?: string): Promise<TokenView> {
    const issued = await this.stores.tokens.renew(id, new Date(), expiresAt);
    return tokenView(issued.record, issued.value);
  }

  deleteToken(id: string): Promise<void> {
    return this.stores.tokens.delete(id);
  }

  async putJob(spec: JobSpec): Promise<JobView> {
    return jobView(await this.stores.jobs.put(spec));
  }

  async listJobs(): Promise<Array<JobView | Error>> {
    const records = await this.stores.jobs.list();
    const lastUsed = await this.stores.jobs.lastUsed(records.flatMap((record) => (record instanceof Error ? [] : [record.id])));
    return records.map((record) => (record instanceof Error ? record : jobView(record, lastUsed.get(record.id))));
  }

  async getJob(id: string): Promise<JobView> {
    const job = await this.stores.jobs.get(id);
    return jobView(job, (await this.stores.jobs.lastUsed([id])).get(id));
  }

  deleteJob(id: string): Promise<void> {
    return this.stores.jobs.delete(id);
  }

  listEvents(after: string | undefined, limit: number): Promise<Array<AuditEvent | Error>> {
    return this.stores.events.list(after, limit);
  }

  lastEventId(): Promise<string | undefined> {
    return this.stores.events.lastId();
  }
}
