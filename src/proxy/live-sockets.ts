import { decide, type Authentication } from '../auth/decide.js';
import type { Registry } from '../registry/registry.js';
import type { TokenRecord } from '../tokens/record.js';
import { CLOSE_GOING_AWAY, CLOSE_POLICY_VIOLATION, type RelayedSocket } from './websocket.js';

/** A live WebSocket and what admitted it. */
interface LiveSocket {
  readonly relay: RelayedSocket;
  /** The job a job-URL socket reaches, or the job an API socket's scope was checked against. */
  readonly jobId: string | undefined;
  readonly token: TokenRecord | undefined;
  readonly traffic: 'job' | 'api';
}

/** Re-checks an API WebSocket's scope on job `jobId`: a reason to close it, or undefined. */
export type ApiRecheck = (token: TokenRecord, jobId: string) => Promise<string | undefined>;

export type RevocationListener = (jobId: string | undefined, tokenId: string | undefined, reason: string) => void;

/**
 * The open WebSocket connections, by token and by job, so that a change to either
 * re-checks them at once: a deleted or renewed token, a deleted job, or labels that no
 * longer match close the connection with 1008 and a reason.
 */
export class LiveSockets {
  private readonly byToken = new Map<string, Set<LiveSocket>>();
  private readonly byJob = new Map<string, Set<LiveSocket>>();
  private readonly all = new Set<LiveSocket>();

  constructor(
    private readonly registry: Registry,
    private readonly onRevoked: RevocationListener,
    private readonly apiRecheck?: ApiRecheck,
  ) {}

  get size(): number {
    return this.all.size;
  }

  add(relay: RelayedSocket, jobId: string | undefined, token: TokenRecord | undefined, traffic: 'job' | 'api' = 'job'): void {
    const live: LiveSocket = { relay, jobId, token, traffic };
    this.all.add(live);
    if (jobId !== undefined) addTo(this.byJob, jobId, live);
    if (token) addTo(this.byToken, token.id, live);
    relay.onClosed(() => {
      this.all.delete(live);
      if (jobId !== undefined) removeFrom(this.byJob, jobId, live);
      if (token) removeFrom(this.byToken, token.id, live);
    });
  }

  /** Token `id` changed: re-check its connections (the cache entry is already gone). */
  tokenChanged(id: string): Promise<void> {
    return this.recheck(this.byToken.get(id));
  }

  jobChanged(id: string): Promise<void> {
    return this.recheck(this.byJob.get(id));
  }

  /** Re-checks every connection (after a subscription gap, and as the TTL safety net). */
  recheckAll(): Promise<void> {
    return this.recheck(this.all);
  }

  /** Closes every connection with 1001 (shutdown). */
  closeAll(reason: string): void {
    for (const live of this.all) live.relay.close(CLOSE_GOING_AWAY, reason);
  }

  private async recheck(sockets: Set<LiveSocket> | undefined): Promise<void> {
    if (!sockets || sockets.size === 0) return;
    await Promise.all([...sockets].map((live) => this.verify(live)));
  }

  private async verify(live: LiveSocket): Promise<void> {
    if (live.relay.isClosing) return;
    const reason = await this.revocationReason(live).catch(() => 'token could not be re-verified');
    if (reason === undefined || live.relay.isClosing) return;
    this.onRevoked(live.jobId, live.token?.id, reason);
    live.relay.close(CLOSE_POLICY_VIOLATION, reason);
  }

  /** Why the connection may no longer stay open, or undefined. Fails closed on errors. */
  private async revocationReason(live: LiveSocket): Promise<string | undefined> {
    let auth: Authentication = { kind: 'anonymous' };
    if (live.token) {
      const current = await this.registry.token(live.token.id);
      if (!current) return 'token deleted';
      if (current.secretHash !== live.token.secretHash) return 'token renewed';
      auth = { kind: 'token', token: current };
      if (live.traffic === 'api') return live.jobId === undefined || !this.apiRecheck ? undefined : this.apiRecheck(current, live.jobId);
    }
    if (live.jobId === undefined) return undefined;
    const job = await this.registry.job(live.jobId);
    if (!job) return 'job removed';
    const decision = decide(auth, job, 'job');
    if (decision.allow) return undefined;
    return decision.reason === 'scope_denied' ? 'token no longer matches the job labels' : 'access revoked';
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
