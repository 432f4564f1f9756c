import { InputError } from '../errors.js';
import { DEFAULT_KEY_PREFIX } from './keys.js';

/** A Redis node or Sentinel address. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** The default prefix on Redis Cluster: a hash tag, so that every key of jobgate lives in one slot. */
export const DEFAULT_CLUSTER_KEY_PREFIX = '{jobgate}:';

/** Credentials and transport shared by every topology (from the URL, overridden by the dedicated settings). */
export interface RedisAuth {
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** rediss:// in JOBGATE_REDIS_URL. */
  readonly tls: boolean;
}

/** Where jobgate's Redis is and how its keys are named; built by {@link redisTopology}. */
export type RedisTopology = RedisAuth & { readonly keyPrefix: string } & (
    | { readonly kind: 'standalone'; readonly host: string; readonly port: number; readonly db: number }
    | {
        readonly kind: 'sentinel';
        readonly sentinels: readonly HostPort[];
        /** The master group name that the Sentinels monitor. */
        readonly name: string;
        readonly sentinelPassword: string | undefined;
        readonly db: number;
      }
    | { readonly kind: 'cluster'; readonly nodes: readonly HostPort[] }
  );

/** The settings that {@link redisTopology} reads (a subset of Settings, so tests can pass literals). */
export interface RedisSettings {
  readonly redisUrl: string;
  readonly redisUsername?: string | undefined;
  readonly redisPassword?: string | undefined;
  readonly redisSentinels?: readonly HostPort[] | undefined;
  readonly redisSentinelName?: string | undefined;
  readonly redisSentinelPassword?: string | undefined;
  readonly redisClusterNodes?: readonly HostPort[] | undefined;
  /** Undefined when not set anywhere: the default depends on the topology. */
  readonly keyPrefix?: string | undefined;
}

/** Whether a key that starts with `prefix` hashes on a tag inside the prefix (Redis Cluster's `{...}` rule). */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  if (open < 0) return false;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1;
}

/**
 * Checks the Redis settings together and resolves them: standalone (JOBGATE_REDIS_URL),
 * Sentinel (JOBGATE_REDIS_SENTINELS) or Cluster (JOBGATE_REDIS_CLUSTER_NODES), the
 * credentials (JOBGATE_REDIS_USERNAME / JOBGATE_REDIS_PASSWORD win over the URL's userinfo)
 * and the key prefix (`jobgate:`, or `{jobgate}:` on a Cluster). Throws InputError (exit 2)
 * for a combination that cannot work. Messages never include a password.
 */
export function redisTopology(settings: RedisSettings): RedisTopology {
  const url = new URL(settings.redisUrl);
  const auth: RedisAuth = {
    username: settings.redisUsername ?? (url.username === '' ? undefined : decodeURIComponent(url.username)),
    password: settings.redisPassword ?? (url.password === '' ? undefined : decodeURIComponent(url.password)),
    tls: url.protocol === 'rediss:',
  };
  const dbText = url.pathname.replace(/^\//, '');
  if (!/^\d{0,5}$/.test(dbText)) {
    throw new InputError(`invalid setting JOBGATE_REDIS_URL: the path "/${dbText}" is not a database number; expected redis://host:port/<db>`);
  }
  const db = dbText === '' ? 0 : Number(dbText);
  const { redisSentinels: sentinels, redisClusterNodes: nodes } = settings;
  const sentinelsSet = sentinels !== undefined && sentinels.length > 0;
  const clusterSet = nodes !== undefined && nodes.length > 0;

  if (sentinelsSet && clusterSet) {
    throw new InputError(
      'invalid settings JOBGATE_REDIS_SENTINELS and JOBGATE_REDIS_CLUSTER_NODES: both are set; set JOBGATE_REDIS_SENTINELS for Redis Sentinel or JOBGATE_REDIS_CLUSTER_NODES for Redis Cluster, not both',
    );
  }
  if (!sentinelsSet && settings.redisSentinelPassword !== undefined) {
    throw new InputError('invalid setting JOBGATE_REDIS_SENTINEL_PASSWORD: it is only used with JOBGATE_REDIS_SENTINELS, which is not set');
  }

  if (clusterSet) {
    const keyPrefix = settings.keyPrefix ?? DEFAULT_CLUSTER_KEY_PREFIX;
    if (!hasHashTag(keyPrefix)) {
      throw new InputError(
        `invalid setting JOBGATE_KEY_PREFIX: ${JSON.stringify(keyPrefix)} has no hash tag; with JOBGATE_REDIS_CLUSTER_NODES the prefix must contain a non-empty {...} tag, such as "${DEFAULT_CLUSTER_KEY_PREFIX}", so that the keys of one change share a Cluster slot (or leave it unset)`,
      );
    }
    if (db !== 0) {
      throw new InputError(
        `invalid setting JOBGATE_REDIS_URL: it selects database ${db}, but Redis Cluster has only database 0 (with JOBGATE_REDIS_CLUSTER_NODES)`,
      );
    }
    return { kind: 'cluster', nodes, keyPrefix, ...auth };
  }
  const keyPrefix = settings.keyPrefix ?? DEFAULT_KEY_PREFIX;
  if (sentinelsSet) {
    return {
      kind: 'sentinel',
      sentinels,
      name: settings.redisSentinelName ?? 'mymaster',
      sentinelPassword: settings.redisSentinelPassword,
      db,
      keyPrefix,
      ...auth,
    };
  }
  return {
    kind: 'standalone',
    host: url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: url.port === '' ? 6379 : Number(url.port),
    db,
    keyPrefix,
    ...auth,
  };
}

/** Where a topology points, for messages and logs: addresses only, never a password. */
export function describeTopology(topology: RedisTopology): string {
  const list = (addresses: readonly HostPort[]) => addresses.map(formatHostPort).join(',');
  switch (topology.kind) {
    case 'standalone':
      return formatHostPort(topology);
    case 'sentinel':
      return `master "${topology.name}" via Sentinels ${list(topology.sentinels)}`;
    case 'cluster':
      return `Redis Cluster ${list(topology.nodes)}`;
  }
}

export function formatHostPort(address: HostPort): string {
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

/** Parses `host:port` (`[v6]:port` for IPv6); undefined when it is not one. */
export function parseHostPort(text: string): HostPort | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}
