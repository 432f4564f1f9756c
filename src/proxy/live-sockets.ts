import { decide, type Authentication } from '../auth/decide.js';
import { answer, ANSWERS, expiredToken, type Answer } from '../http/answers.js';
import type { RecordSource } from '../registry/registry.js';
import { isExpired, type TokenRecord } from '../tokens/record.js';
import { CLOSE_GOING_AWAY, CLOSE_POLICY_VIOLATION, type RelayedSocket } from './websocket.js';

export type Traffic = 'job' | 'api';

/** A connection that outlives its admission: a WebSocket, or an HTTP response still streaming. */
export interface LiveConnection {
  readonly kind: 'websocket' | 'http';
  /** The job a job-URL connection reaches, or the job an API request's scope was checked against. */
  readonly jobId: string | undefined;
  readonly token: TokenRecord | undefined;
  readonly traffic: Traffic;
  /** True once it is ending or gone. */
  readonly isClosing: boolean;
  /** Ends it because its access was revoked; `refusal` answers a request not answered yet. */
  revoke(reason: string, refusal: Answer): void;
}

/** An in-flight HTTP response that can be tracked: it calls `tracker.forget` itself once it is over. */
export interface TrackedResponse extends LiveConnection {
  jobId: string | undefined;
  token: TokenRecord | undefined;
  traffic: Traffic;
  tracker: ResponseTracker | undefined;
}

export interface ResponseTracker {
  forget(response: TrackedResponse): void;
}

/** A live WebSocket and what admitted it. */
class LiveSocket implements LiveConnection {
  constructor(
    readonly relay: RelayedSocket,
    readonly jobId: string | undefined,
    readonly token: TokenRecord | undefined,
    readonly traffic: Traffic,
  ) {}

  get kind(): 'websocket' {
    return 'websocket';
  }

  get isClosing(): boolean {
    return this.relay.isClosing;
  }

  revoke(reason: string, refusal: Answer): void {
    this.relay.close(CLOSE_POLICY_VIOLATION, reason, refusal);
  }
}

/** Re-checks an API connection's scope on job `jobId`: a reason to close it, or undefined. */
export type ApiRecheck = (token: TokenRecord, jobId: string) => Promise<string | undefined>;

export type RevocationListener = (kind: LiveConnection['kind'], jobId: string | undefined, tokenId: string | undefined, reason: string) => void;

/**
 * The open WebSocket connections, by token and by job, and the in-flight HTTP responses that
 * carry a token, so that a change to either re-checks them at once: a deleted or renewed
 * token, a deleted job, or labels that no longer match close a WebSocket with 1008 and a
 * reason, and end an HTTP response.
 *
 * A connection is registered as soon as it is admitted, with the change count read before its
 * admission began: if something changed in between, it is re-checked at once, so that no
 * revocation falls into the gap between the decision and the registration.
 */
export class LiveSockets implements ResponseTracker {
  private readonly byToken = new Map<string, Set<LiveSocket>>();
  private readonly byJob = new Map<string, Set<LiveSocket>>();
  private readonly all = new Set<LiveSocket>();
  /** HTTP responses are many and short: one set, scanned on the (rare) changes. */
  private readonly responses = new Set<TrackedResponse>();
  /** The timers that end connections whose token expires. */
  private readonly expiries = new Map<LiveConnection, NodeJS.Timeout>();
  private changes = 0;

  constructor(
    private readonly registry: RecordSource,
    private readonly onRevoked: RevocationListener,
    private readonly apiRecheck?: ApiRecheck,
  ) {}

  /** Open WebSockets. */
  get size(): number {
    return this.all.size;
  }

  /** Tracked HTTP responses still in flight. */
  get responsesInFlight(): number {
    return this.responses.size;
  }

  /** Counts the changes seen so far; read it before admitting a connection, pass it when registering. */
  get epoch(): number {
    return this.changes;
  }

  /** Registers a WebSocket, also while its upstream handshake is pending. */
  add(relay: RelayedSocket, jobId: string | undefined, token: TokenRecord | undefined, traffic: Traffic, since: number): void {
    const live = new LiveSocket(relay, jobId, token, traffic);
    this.all.add(live);
    if (jobId !== undefined) addTo(this.byJob, jobId, live);
    if (token) addTo(this.byToken, token.id, live);
    relay.onClosed(() => {
      this.all.delete(live);
      if (jobId !== undefined) removeFrom(this.byJob, jobId, live);
      if (token) removeFrom(this.byToken, token.id, live);
      this.stopExpiry(live);
    });
    if (token?.expiresAtMs !== undefined) this.endAtExpiry(live, token.expiresAtMs);
    if (since !== this.changes) void this.verify(live);
  }

  /** Tracks an HTTP response forwarded for `token` until it calls `forget`. */
  track(response: TrackedResponse, jobId: string | undefined, token: TokenRecord, traffic: Traffic, since: number): void {
    if (response.isClosing) return;
    response.jobId = jobId;
    response.token = token;
    response.traffic = traffic;
    response.tracker = this;
    this.responses.add(response);
    if (token.expiresAtMs !== undefined) this.endAtExpiry(response, token.expiresAtMs);
    if (since !== this.changes) void this.verify(response);
  }

  forget(response: TrackedResponse): void {
    this.responses.delete(response);
    this.stopExpiry(response);
  }

  /**
   * Ends `live` at the instant its token expires, on this instance's clock, without asking Redis.
   * Node's timers reach about 24.8 days: a later expiry waits in steps.
   */
  private endAtExpiry(live: LiveConnection, expiresAtMs: number): void {
    const timer = setTimeout(
      () => {
        this.expiries.delete(live);
        if (live.isClosing) return;
        if (Date.now() < expiresAtMs) return this.endAtExpiry(live, expiresAtMs);
        this.onRevoked(live.kind, live.jobId, live.token?.id, TOKEN_EXPIRED);
        live.revoke(TOKEN_EXPIRED, expiredToken(live.token?.expiresAt ?? new Date(expiresAtMs).toISOString()));
      },
      Math.min(Math.max(expiresAtMs - Date.now(), 0), MAX_TIMER_MS),
    );
    timer.unref();
    this.expiries.set(live, timer);
  }

  private stopExpiry(live: LiveConnection): void {
    const timer = this.expiries.get(live);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.expiries.delete(live);
  }

  /** Token `id` changed: re-check its connections (the cache entry is already gone). */
  tokenChanged(id: string): Promise<void> {
    this.changes++;
    const affected: LiveConnection[] = [...(this.byToken.get(id) ?? [])];
    for (const response of this.responses) if (response.token?.id === id) affected.push(response);
    return this.recheck(affected);
  }

  jobChanged(id: string): Promise<void> {
    this.changes++;
    const affected: LiveConnection[] = [...(this.byJob.get(id) ?? [])];
    for (const response of this.responses) if (response.jobId === id) affected.push(response);
    return this.recheck(affected);
  }

  /** Re-checks every connection (after a subscription gap, and as the TTL safety net). */
  recheckAll(): Promise<void> {
    this.changes++;
    return this.recheck([...this.all, ...this.responses]);
  }

  /** Closes every WebSocket with 1001 (shutdown). */
  closeAll(reason: string): void {
    for (const live of this.all) live.relay.close(CLOSE_GOING_AWAY, reason, SHUTTING_DOWN);
  }

  private async recheck(connections: LiveConnection[]): Promise<void> {
    if (connections.length === 0) return;
    await Promise.all(connections.map((live) => this.verify(live)));
  }

  private async verify(live: LiveConnection): Promise<void> {
    if (live.isClosing) return;
    const reason = await this.revocationReason(live).catch(() => UNVERIFIABLE);
    if (reason === undefined || live.isClosing) return;
    this.onRevoked(live.kind, live.jobId, live.token?.id, reason);
    live.revoke(reason, refusalFor(reason));
  }

  /** Why the connection may no longer stay open, or undefined. Fails closed on errors. */
  private async revocationReason(live: LiveConnection): Promise<string | undefined> {
    let auth: Authentication = { kind: 'anonymous' };
    if (live.token) {
      const current = await this.registry.token(live.token.id);
      if (!current) return 'token deleted';
      if (current.secretHash !== live.token.secretHash) return 'token renewed';
      if (isExpired(current)) return TOKEN_EXPIRED;
      auth = { kind: 'token', token: current };
      if (live.traffic === 'api') return live.jobId === undefined || !this.apiRecheck ? undefined : this.apiRecheck(current, live.jobId);
    }
    if (live.jobId === undefined) return undefined;
    const job = await this.registry.job(live.jobId);
    if (!job) return JOB_REMOVED;
    const decision = decide(auth, job, 'job');
    if (decision.allow) return undefined;
    return decision.reason === 'scope_denied' ? 'token no longer matches the job labels' : 'access revoked';
  }
}

const UNVERIFIABLE = 'token could not be re-verified';
const TOKEN_EXPIRED = 'token expired';
/** The longest delay Node's timers take (2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;
const JOB_REMOVED = 'job removed';
const SHUTTING_DOWN = answer(503, 'unavailable', 'jobgate is shutting down. Retry in a moment.');

/** The answer to a request revoked before it was answered: what the same request would get now. */
function refusalFor(reason: string): Answer {
  switch (reason) {
    case 'token deleted':
    case 'token renewed':
      return ANSWERS.unknownToken;
    case UNVERIFIABLE:
      return ANSWERS.storeUnavailable;
    case TOKEN_EXPIRED:
      return ANSWERS.unknownToken;
    case JOB_REMOVED:
      return ANSWERS.unknownJob;
    default:
      return ANSWERS.scopeDenied;
  }
}

function addTo(map: Map<string, Set<LiveSocket>>, key: string, live: LiveSocket): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(live);
}

function removeFrom(map: Map<string, Set<LiveSocket>>, key: string, live: LiveSocket): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(live);
  if (set.size === 0) map.delete(key);
}
