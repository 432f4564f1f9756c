/**
 * The control API's operations: tokens, jobs and the audit trail, for one operator token, kept
 * inside that token's scope (src/control/scope.ts). Transport-free: src/control/http.ts reads
 * requests and writes answers; the stores write Redis (and the audit event, atomically).
 */
import { applySelectorLabels } from '../api/body.js';
import type { AuditEvent, AuditTarget } from '../audit/event.js';
import { MAX_EVENTS_PER_READ, type AuditLog } from '../audit/log.js';
import { InputError, NotFoundError, RecordError } from '../errors.js';
import { JOB_ID_LABEL, jobView, type JobRecord, type JobView } from '../jobs/record.js';
import type { JobSpec, JobStore } from '../jobs/store.js';
import { portReading } from '../jobs/port-label.js';
import { assertJobId, JobChangedError } from '../jobs/store.js';
import type { Logger } from '../observability/logger.js';
import { matches, parseSelector, SelectorError, sharedSelector, type Selector } from '../selector/index.js';
import { normalizeExpiry, tokenView, type TokenRecord, type TokenView } from '../tokens/record.js';
import { assertTokenId, validateNewToken, type TokenStore } from '../tokens/store.js';
import { jobWithinScope, narrowedSelector, tokenWithinScope, upstreamService } from './scope.js';

/** Who calls: an operator token, from an address. */
export interface Caller {
  readonly token: TokenRecord;
  readonly client: string;
}

/** A refusal the control API answers with its own status (403 insufficient_scope, 409...). */
export class ControlRefusal extends Error {
  override readonly name = 'ControlRefusal';
  constructor(
    readonly status: 403 | 409,
    readonly error: string,
    message: string,
  ) {
    super(message);
  }
}

const outOfScope = (message: string) => new ControlRefusal(403, 'insufficient_scope', message);

/** Pages of events a scoped caller's read may scan: the stream keeps about 10 of them. */
const MAX_SCANNED_PAGES = 20;

/** What a token creation asks for. */
export interface TokenRequest {
  readonly name: string;
  readonly role: string;
  readonly labelSelector?: string | undefined;
  /** RFC 3339; never expires when absent. */
  readonly expiresAt?: string | undefined;
}

/** The stores an operation uses, each recording the caller as the author of its changes. */
export interface ControlStores {
  readonly tokens: TokenStore;
  readonly jobs: JobStore;
  readonly events: AuditLog;
}

export class ControlService {
  constructor(
    private readonly stores: ControlStores,
    private readonly logger: Logger,
  ) {}

  private tokensFor(caller: Caller): TokenStore {
    return this.stores.tokens.as(actorOf(caller));
  }

  private jobsFor(caller: Caller): JobStore {
    return this.stores.jobs.as(actorOf(caller));
  }

  async listTokens(caller: Caller): Promise<TokenView[]> {
    const scope = caller.token.selector;
    const records = this.readable(await this.stores.tokens.list()).filter((token) => tokenWithinScope(scope, token.selector));
    const lastUsed = await this.stores.tokens.lastUsed(records.map((token) => token.id));
    return records.map((token) => tokenView(token, undefined, { lastUsedAt: lastUsed.get(token.id) }));
  }

  async getToken(caller: Caller, id: string): Promise<TokenView> {
    const token = await this.visibleToken(caller, id);
    const lastUsed = await this.stores.tokens.lastUsed([id]);
    return tokenView(token, undefined, { lastUsedAt: lastUsed.get(id) });
  }

  /** A new token within the caller's scope: the requested selector ANDed with the caller's. */
  /** A new token within the caller's scope (the requested selector ANDed with the caller's), never outliving the caller. */
  async createToken(caller: Caller, request: TokenRequest): Promise<TokenView> {
    const checked = validateNewToken(request);
    const labelSelector = narrowedSelector(caller.token.selector, parseSelector(checked.labelSelector));
    const expiresAt = boundedExpiry(caller.token, checked.expiresAt, undefined);
    const issued = await this.tokensFor(caller).create({ ...checked, labelSelector, expiresAt });
    return tokenView(issued.record, issued.value);
  }

  /**
   * A new value, same id, name and selector; `expiresAt` sets a new expiry, else the token keeps its
   * own, unless that outlives an expiring caller, whose expiry it then takes.
   */
  async renewToken(caller: Caller, id: string, expiresAt?: string): Promise<TokenView> {
    const token = await this.visibleToken(caller, id);
    const issued = await this.tokensFor(caller).renew(id, new Date(), boundedExpiry(caller.token, expiresAt, token.expiresAt));
    return tokenView(issued.record, issued.value);
  }

  async deleteToken(caller: Caller, id: string): Promise<void> {
    await this.visibleToken(caller, id);
    await this.tokensFor(caller).delete(id);
  }

  /** Jobs within the caller's scope, and `filter` when given (a `labelSelector` query). */
  async listJobs(caller: Caller, filterText: string | undefined): Promise<JobView[]> {
    const filter = filterText === undefined ? undefined : parseFilter(filterText);
    const jobs = this.readable(await this.stores.jobs.list()).filter(
      (job) => jobWithinScope(caller.token.selector, job.labels) && (filter === undefined || matches(filter, job.labels)),
    );
    const lastUsed = await this.stores.jobs.lastUsed(jobs.map((job) => job.id));
    return jobs.map((job) => jobView(job, lastUsed.get(job.id)));
  }

  async getJob(caller: Caller, id: string): Promise<JobView> {
    const job = await this.visibleJob(caller, id);
    return jobView(job, (await this.stores.jobs.lastUsed([id])).get(id));
  }

  /**
   * Creates or replaces job `id` with `spec`. A scoped caller: the job it replaces must be within
   * its scope; the new labels get the scope's equality requirements and must match it; the job may
   * not be reachable without a token (unsecureHttp); and its upstreams may not be those of a job
   * outside the scope, which would let the caller's tokens reach that job's service under a new name.
   */
  async putJob(caller: Caller, id: string, spec: Omit<JobSpec, 'id'>): Promise<{ job: JobView; created: boolean }> {
    return retriedOnChange(id, () => this.putJobOnce(caller, id, spec));
  }

  /** One attempt of {@link putJob}: for a scoped caller, written only if the job is still as its checks read it. */
  private async putJobOnce(caller: Caller, id: string, spec: Omit<JobSpec, 'id'>): Promise<{ job: JobView; created: boolean }> {
    assertJobId(id);
    const scope = caller.token.selector;
    const existing = await this.stores.jobs.find(id).catch((error: unknown) => {
      // A record that cannot be read has no scope a scoped caller could be checked against.
      if (error instanceof RecordError && !scope.empty) throw outOfScope(`Job ${id} exists and only an unscoped operator token can replace it.`);
      if (error instanceof RecordError) return undefined; // replaced whole, as the CLI's put does
      throw error;
    });
    let labels = { ...spec.labels };
    // What GET prints carries jobgate/id: a spec read back and sent again is accepted.
    if (Object.hasOwn(labels, JOB_ID_LABEL)) {
      if (labels[JOB_ID_LABEL] !== id) throw new InputError(`the label "${JOB_ID_LABEL}" is set by jobgate to the job's id ("${id}"): remove it`);
      delete labels[JOB_ID_LABEL];
    }
    if (!scope.empty) {
      if (existing && !jobWithinScope(scope, existing.labels)) throw outOfScope(`Job ${id} exists outside your token's label selector; you cannot replace it.`);
      await this.refuseForeignPortHost(scope, id);
      labels = this.scopedLabels(scope, id, labels);
      if (spec.unsecureHttp === true) throw outOfScope('Only an unscoped operator token can make a job reachable without a token (unsecureHttp).');
      await this.refuseBorrowedUpstreams(scope, id, spec, existing);
    }
    const job = await this.jobsFor(caller).put({ ...spec, id, labels }, new Date(), scope.empty ? undefined : expectedJob(existing));
    return { job: jobView(job), created: existing === undefined };
  }

  /** Deletes job `id`; for a scoped caller, only if it is still the job found within the scope. */
  async deleteJob(caller: Caller, id: string): Promise<void> {
    await retriedOnChange(id, async () => {
      const job = await this.visibleJob(caller, id);
      await this.jobsFor(caller).delete(id, new Date(), caller.token.selector.empty ? undefined : expectedJob(job));
    });
  }

  /**
   * Events after `after`, oldest first, at most `limit`; a scoped caller sees those whose target is
   * within its scope, read on past the events outside it (the stream keeps about 10,000), so that
   * a run of them never hides what follows: an empty answer means there is nothing more yet.
   */
  async listEvents(caller: Caller, after: string | undefined, limit: number): Promise<AuditEvent[]> {
    const scope = caller.token.selector;
    if (scope.empty) return this.readable(await this.stores.events.list(after, limit));
    const seen: AuditEvent[] = [];
    let cursor = after;
    // Bounded twice over: the stream keeps about 10 pages, and writers cannot keep a read going.
    for (let pages = 0; pages < MAX_SCANNED_PAGES; pages++) {
      const page = await this.stores.events.page(cursor, MAX_EVENTS_PER_READ);
      for (const event of this.readable(page.items)) {
        if (!targetWithinScope(scope, event.target)) continue;
        seen.push(event);
        if (seen.length === limit) return seen;
      }
      if (page.end || page.lastId === undefined) return seen;
      cursor = page.lastId;
    }
    return seen;
  }

  private async visibleToken(caller: Caller, id: string): Promise<TokenRecord> {
    assertTokenId(id);
    const token = await unlessMalformed(caller, this.stores.tokens.find(id));
    // Out of scope reads as absent: a scoped caller learns nothing about other tokens.
    if (!token || !tokenWithinScope(caller.token.selector, token.selector)) throw new NotFoundError(`token ${id} not found`);
    return token;
  }

  private async visibleJob(caller: Caller, id: string): Promise<JobRecord> {
    assertJobId(id);
    const job = await unlessMalformed(caller, this.stores.jobs.find(id));
    if (!job || !jobWithinScope(caller.token.selector, job.labels)) throw new NotFoundError(`job ${id} not found`);
    return job;
  }

  private scopedLabels(scope: Selector, id: string, given: Record<string, string>): Record<string, string> {
    const labels = new Map(Object.entries(given));
    // jobgate's own label takes part in the check (a scope of `jobgate/id=nb` may write job nb), not in the spec.
    labels.set(JOB_ID_LABEL, id);
    const result = applySelectorLabels(scope, labels);
    if (!result.ok) throw outOfScope(result.message);
    labels.delete(JOB_ID_LABEL);
    return Object.fromEntries(labels);
  }

  /**
   * Refuses an id that reads as `<job>-<port>` of a job outside `scope` (or one that cannot be
   * read): its host name would pass for that job's port, and that job could never get the port.
   */
  private async refuseForeignPortHost(scope: Selector, id: string): Promise<void> {
    const reading = portReading(id);
    if (!reading) return;
    const owner = await this.stores.jobs.find(reading.jobId).catch((error: unknown) => {
      if (error instanceof RecordError) return 'malformed' as const;
      throw error;
    });
    if (owner === 'malformed' || (owner && !jobWithinScope(scope, owner.labels)))
      throw outOfScope(
        `The job id "${id}" names port ${reading.port} of job ${reading.jobId} (${id}.<jobDomain>), which is outside your token's label selector: choose another id.`,
      );
  }

  /**
   * Refuses upstreams that reach the service of a job outside `scope` (the same host and port,
   * however spelled: see {@link upstreamService}), unless job `id` (within it) had them already.
   */
  private async refuseBorrowedUpstreams(scope: Selector, id: string, spec: Omit<JobSpec, 'id'>, existing: JobRecord | undefined): Promise<void> {
    const wanted = new Set([spec.upstream, ...Object.values(spec.ports ?? {})].map(serviceOf));
    for (const url of existing ? [existing.upstream, ...existing.ports.values()] : []) wanted.delete(upstreamService(url));
    if (wanted.size === 0) return;
    for (const other of this.readable(await this.stores.jobs.list())) {
      if (other.id === id || jobWithinScope(scope, other.labels)) continue;
      for (const url of [other.upstream, ...other.ports.values()]) {
        if (wanted.has(upstreamService(url)))
          throw outOfScope(`The upstream ${url.origin} serves a job outside your token's label selector; a job you write cannot point at it.`);
      }
    }
  }

  /** The records that could be read; each malformed one is logged (an admin fixes it) and left out. */
  private readable<T>(items: Array<T | Error>): Array<Exclude<T, Error>> {
    const good: Array<Exclude<T, Error>> = [];
    for (const item of items) {
      if (item instanceof RecordError)
        this.logger.warn({ event: 'malformed_record', key: item.key, reason: item.reason }, 'control API skipped a malformed record');
      else if (item instanceof Error) throw item;
      else good.push(item as Exclude<T, Error>);
    }
    return good;
  }
}

/**
 * The record `found` reads, or undefined for a scoped caller when it is malformed: its scope
 * cannot be read, so it reads as absent, and its content (in the error's reason) stays unsaid.
 * An unscoped caller gets the RecordError (500 malformed_record), to fix or delete it.
 */
async function unlessMalformed<T>(caller: Caller, found: Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await found;
  } catch (error) {
    if (error instanceof RecordError && !caller.token.selector.empty) return undefined;
    throw error;
  }
}

/** How often an operation is checked again when its job changed between the check and the write. */
const ATTEMPTS_ON_CHANGE = 3;

/**
 * Runs `attempt` again when the job changed between its checks and its write (JobChangedError,
 * nothing written), so that the checks always hold for what is written; a job that keeps changing
 * is a 409.
 */
async function retriedOnChange<T>(id: string, attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof JobChangedError)) throw error;
      if (tries >= ATTEMPTS_ON_CHANGE) throw new ControlRefusal(409, 'conflict', `Job ${id} kept changing while this request was checked. Try again.`);
    }
  }
}

/** What a conditional write expects of `job` as read: its labels without `jobgate/id`, or no record. */
function expectedJob(job: JobRecord | undefined): Record<string, string> | null {
  if (job === undefined) return null;
  const labels = Object.fromEntries(job.labels);
  delete labels[JOB_ID_LABEL];
  return labels;
}

/**
 * The expiry of a token that `caller` creates or renews: what it asked for (undefined: none for a
 * creation, the token's `current` one for a renewal), but never later than the caller's own
 * expiry: a token that expires cannot mint or refresh one that outlives it (403 when asked
 * explicitly; the caller's expiry when nothing later was asked).
 */
function boundedExpiry(caller: TokenRecord, requested: string | undefined, current: string | undefined): string | undefined {
  if (caller.expiresAtMs === undefined) return requested;
  if (requested !== undefined) {
    if (Date.parse(normalizeExpiry(requested, new Date())) > caller.expiresAtMs)
      throw outOfScope(`A token you create or renew cannot outlive yours, which expires at ${caller.expiresAt}. Ask for an earlier expiresAt.`);
    return requested;
  }
  if (current !== undefined && Date.parse(current) <= caller.expiresAtMs) return undefined;
  return caller.expiresAt;
}

function actorOf(caller: Caller) {
  return { kind: 'token', tokenId: caller.token.id, tokenName: caller.token.name, client: caller.client } as const;
}

function serviceOf(text: string): string {
  try {
    return upstreamService(new URL(text));
  } catch {
    return text; // the store refuses it with its own message
  }
}

function parseFilter(text: string): Selector {
  try {
    return sharedSelector(text.trim());
  } catch (error) {
    if (error instanceof SelectorError) throw new InputError(`invalid labelSelector: ${error.message}`);
    throw error;
  }
}

/** Whether an event's target lies within `scope`, from what the event recorded. */
function targetWithinScope(scope: Selector, target: AuditTarget): boolean {
  if (target.kind === 'token') {
    try {
      return tokenWithinScope(scope, sharedSelector(target.labelSelector ?? ''));
    } catch {
      return false;
    }
  }
  const labels = new Map(Object.entries(target.labels ?? {}));
  labels.set(JOB_ID_LABEL, target.id);
  return jobWithinScope(scope, labels);
}
