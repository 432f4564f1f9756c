import { isIP } from 'node:net';
import { existsSync } from 'node:fs';
import { apiRulesSchema } from '../api/policy.js';
import { DEFAULT_KEY_PREFIX } from '../redis/keys.js';
import { parseHostPort } from '../redis/topology.js';
import { MIN_COOKIE_SECRET_LENGTH } from '../session/keys.js';
import { parseCidr } from '../util/address-blocks.js';
import * as z from '../util/zod.js';

/** A listening address. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

const listenAddress = z.pipe(
  z.string(),
  z.transform((text: string, ctx): ListenAddress => {
    const colon = text.lastIndexOf(':');
    const host = text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(text.slice(colon + 1));
    if (colon < 1 || !Number.isInteger(port) || port < 0 || port > 65535 || !/^\d+$/.test(text.slice(colon + 1))) {
      ctx.issues.push({ code: 'custom', message: 'bad address', input: text });
      return z.NEVER;
    }
    return { host, port };
  }),
);

/** A whole number, from YAML or from digits in the environment (no blanks, exponents or hex). */
const integer = (min: number, max: number) =>
  z.pipe(z.union([z.number(), z.pipe(z.string().check(z.regex(/^\d{1,10}$/)), z.transform(Number))]), z.number().check(z.int(), z.gte(min), z.lte(max)));
const flag = z.union([
  z.boolean(),
  z.pipe(
    z.enum(['true', 'false', '1', '0']),
    z.transform((text) => text === 'true' || text === '1'),
  ),
]);
const redisUrl = z.string().check(z.refine((text) => /^rediss?:\/\/[^\s]*$/.test(text) && URL.canParse(text)));
/**
 * A list: a YAML list in the config file, or one comma-separated string (environment, flag or file;
 * `source` may allow the string only). Items are trimmed and empty ones dropped; at least one must
 * be left, and `item` must accept each.
 */
const commaList = <T>(item: z.ZodMiniType<T, string>, source: z.ZodMiniType<string | string[]> = z.union([z.array(z.string()), z.string()])) =>
  z.pipe(
    source,
    z.transform((value: string | string[], ctx): T[] => {
      const texts = typeof value === 'string' ? value.split(',') : value;
      const items = texts
        .map((text) => text.trim())
        .filter((text) => text.length > 0)
        .map((text) => item.safeParse(text));
      if (items.length === 0 || items.some((parsed) => !parsed.success)) {
        ctx.issues.push({ code: 'custom', message: 'bad list', input: value });
        return z.NEVER;
      }
      return items.map((parsed) => parsed.data as T);
    }),
  );
/** A string that `parse` reads; undefined from it refuses the string. */
const parsedBy = <T>(parse: (text: string) => T | undefined) =>
  z.pipe(
    z.string(),
    z.transform((text: string, ctx): T => {
      const value = parse(text);
      if (value !== undefined) return value;
      ctx.issues.push({ code: 'custom', message: 'not accepted', input: text });
      return z.NEVER;
    }),
  );
const hostPortList = commaList(parsedBy(parseHostPort));
const dnsName = z
  .pipe(
    z.string(),
    z.transform((text: string) => text.toLowerCase().replace(/^\.+|\.+$/g, '')),
  )
  .check(z.refine((text) => /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(text)));
/** A DNS name, `localhost`, an IPv4 address, or an IPv6 address (kept in brackets, as a Host header carries it). */
const controlHost = z.union([
  dnsName,
  z.pipe(
    z.string().check(z.refine((text) => isIP(text.replace(/^\[(.*)\]$/, '$1')) === 6)),
    z.transform((text: string) => `[${text.replace(/^\[(.*)\]$/, '$1').toLowerCase()}]`),
  ),
]);
const httpUrl = z.string().check(z.refine((text) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol)));

/**
 * Every setting: its name in the config file, its environment variable, its default,
 * what it accepts (said in the error message) and its schema. config/jobgate.yaml documents
 * the same list; a test keeps the two in step.
 */
export const SETTINGS = {
  redisUrl: { env: 'JOBGATE_REDIS_URL', secret: true, default: 'redis://127.0.0.1:6379', accepts: 'a redis:// or rediss:// URL', schema: redisUrl },
  redisUsername: {
    env: 'JOBGATE_REDIS_USERNAME',
    default: undefined,
    accepts: 'an ACL user name of 1 to 256 printable characters without spaces (overrides the user in JOBGATE_REDIS_URL)',
    schema: z.optional(z.string().check(z.regex(/^[\x21-\x7e]{1,256}$/))),
  },
  redisPassword: {
    env: 'JOBGATE_REDIS_PASSWORD',
    secret: true,
    default: undefined,
    accepts: 'a password of 1 to 512 characters without spaces or control characters (overrides the password in JOBGATE_REDIS_URL)',
    schema: z.optional(z.string().check(z.regex(/^[^\s\p{Cc}]{1,512}$/u))),
  },
  redisSentinels: {
    env: 'JOBGATE_REDIS_SENTINELS',
    default: undefined,
    accepts: 'Sentinel addresses, host:port, comma-separated (Redis Sentinel instead of the host of JOBGATE_REDIS_URL)',
    schema: z.optional(hostPortList),
  },
  redisSentinelName: {
    env: 'JOBGATE_REDIS_SENTINEL_NAME',
    default: 'mymaster',
    accepts: 'the master group name the Sentinels monitor: 1 to 128 letters, digits, ".", "_" or "-"',
    schema: z.string().check(z.regex(/^[A-Za-z0-9._-]{1,128}$/)),
  },
  redisSentinelPassword: {
    env: 'JOBGATE_REDIS_SENTINEL_PASSWORD',
    secret: true,
    default: undefined,
    accepts: 'the password of the Sentinels themselves: 1 to 512 characters without spaces or control characters',
    schema: z.optional(z.string().check(z.regex(/^[^\s\p{Cc}]{1,512}$/u))),
  },
  redisClusterNodes: {
    env: 'JOBGATE_REDIS_CLUSTER_NODES',
    default: undefined,
    accepts: 'Redis Cluster nodes to start from, host:port, comma-separated (Redis Cluster instead of the host of JOBGATE_REDIS_URL)',
    schema: z.optional(hostPortList),
  },
  keyPrefix: {
    env: 'JOBGATE_KEY_PREFIX',
    // Unset means DEFAULT_KEY_PREFIX, or a hash-tagged prefix on Redis Cluster: see redisTopology().
    default: undefined,
    accepts: `a prefix of 1 to 64 printable characters without spaces (unset: ${DEFAULT_KEY_PREFIX}, or {jobgate}: with JOBGATE_REDIS_CLUSTER_NODES)`,
    schema: z.optional(z.string().check(z.regex(/^[\x21-\x7e]{1,64}$/))),
  },
  listen: { env: 'JOBGATE_LISTEN', default: '0.0.0.0:8080', accepts: 'host:port, such as 0.0.0.0:8080 or [::]:8080', schema: listenAddress },
  adminListen: {
    env: 'JOBGATE_ADMIN_LISTEN',
    // Loopback: /metrics and /readyz are for this host's probes; Kubernetes manifests set the pod IP.
    default: '127.0.0.1:9090',
    accepts: 'host:port, such as 127.0.0.1:9090 or 0.0.0.0:9090',
    schema: listenAddress,
  },
  jobDomain: {
    env: 'JOBGATE_JOB_DOMAIN',
    default: undefined,
    accepts: 'a DNS name such as job.example.com (job URLs are <job-id>.<jobDomain>)',
    schema: z.optional(dnsName),
  },
  sidecarJob: {
    env: 'JOBGATE_SIDECAR_JOB',
    default: undefined,
    accepts: 'a job id (lowercase letters, digits and "-", at most 63)',
    schema: z.optional(z.string().check(z.regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/))),
  },
  sidecarUpstream: { env: 'JOBGATE_SIDECAR_UPSTREAM', default: undefined, accepts: 'an http:// or https:// URL', schema: z.optional(httpUrl) },
  trustedHops: {
    env: 'JOBGATE_TRUSTED_HOPS',
    default: 0,
    accepts: 'an integer from 0 to 10 (proxies in front of jobgate whose X-Forwarded-* are trusted)',
    schema: integer(0, 10),
  },
  keepAuthorization: {
    env: 'JOBGATE_KEEP_AUTHORIZATION',
    default: false,
    accepts: 'true or false',
    schema: flag,
  },
  upstreamCookieDomain: {
    env: 'JOBGATE_UPSTREAM_COOKIE_DOMAIN',
    default: 'remove',
    accepts: "remove or keep: what becomes of a Domain attribute in an upstream's Set-Cookie (remove: the cookie stays on the job's own host)",
    schema: z.enum(['remove', 'keep']),
  },
  upstreamTimeoutMs: {
    env: 'JOBGATE_UPSTREAM_TIMEOUT_MS',
    default: 60_000,
    accepts: 'milliseconds, from 100 to 3600000',
    schema: integer(100, 3_600_000),
  },
  redisTimeoutMs: {
    env: 'JOBGATE_REDIS_TIMEOUT_MS',
    default: 500,
    accepts: 'milliseconds, from 50 to 900 (a Redis that does not answer must give 503 within 1 s)',
    schema: integer(50, 900),
  },
  headersTimeoutMs: {
    env: 'JOBGATE_HEADERS_TIMEOUT_MS',
    default: 10_000,
    accepts: 'milliseconds, from 1000 to 120000',
    schema: integer(1000, 120_000),
  },
  requestTimeoutMs: {
    env: 'JOBGATE_REQUEST_TIMEOUT_MS',
    default: 300_000,
    accepts: 'milliseconds, from 1000 to 3600000 (0 is refused: it would let slow clients hold sockets)',
    schema: integer(1000, 3_600_000),
  },
  maxHeaderBytes: {
    env: 'JOBGATE_MAX_HEADER_BYTES',
    default: 16_384,
    accepts: 'bytes, from 4096 to 65536',
    schema: integer(4096, 65_536),
  },
  maxHeaders: { env: 'JOBGATE_MAX_HEADERS', default: 100, accepts: 'a count, from 16 to 500', schema: integer(16, 500) },
  apiHost: {
    env: 'JOBGATE_API_HOST',
    default: undefined,
    accepts: 'one or more host names, comma-separated (requests with such a Host are training-API traffic)',
    schema: z.optional(
      commaList(
        z.pipe(
          z.pipe(
            z.string(),
            z.transform((host: string) => host.toLowerCase()),
          ),
          z.string().check(z.regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/)),
        ),
      ),
    ),
  },
  lastUseIntervalMs: {
    env: 'JOBGATE_LAST_USE_INTERVAL_MS',
    default: 60_000,
    accepts: 'milliseconds, from 1000 to 3600000: how often each instance writes when tokens and jobs were last used',
    schema: integer(1000, 3_600_000),
  },
  controlHost: {
    env: 'JOBGATE_CONTROL_HOST',
    default: undefined,
    accepts: 'a host name, an IP address or localhost (requests with this Host, any port, reach the control API; docs/control-api.md)',
    schema: z.optional(controlHost),
  },
  apiUpstream: {
    env: 'JOBGATE_API_UPSTREAM',
    default: undefined,
    accepts: 'an http:// or https:// URL: where training-API traffic goes (required with JOBGATE_API_HOST)',
    schema: z.optional(httpUrl),
  },
  apiMaxBodyBytes: {
    env: 'JOBGATE_API_MAX_BODY_BYTES',
    default: 1_048_576,
    accepts: 'bytes of an API body jobgate reads to check it (job creation, relabel), from 1024 to 67108864',
    schema: integer(1024, 67_108_864),
  },
  apiRules: {
    env: 'JOBGATE_API_RULES',
    default: undefined,
    accepts: 'a list of {method, path, role, scope} rules (YAML in the config file, JSON in the environment); see docs/api.md',
    schema: z.optional(
      z.union([
        apiRulesSchema,
        z.pipe(
          z.pipe(
            z.string(),
            z.transform((text: string, ctx) => {
              try {
                return JSON.parse(text) as unknown;
              } catch {
                ctx.issues.push({ code: 'custom', message: 'not JSON', input: text });
                return z.NEVER;
              }
            }),
          ),
          apiRulesSchema,
        ),
      ]),
    ),
  },
  cacheSize: {
    env: 'JOBGATE_CACHE_SIZE',
    default: 10_000,
    accepts: 'entries per cache (tokens, jobs), from 1 to 10000000',
    schema: integer(1, 10_000_000),
  },
  cacheTtlMs: {
    env: 'JOBGATE_CACHE_TTL_MS',
    default: 5000,
    accepts: 'milliseconds a cached record is trusted without news from Redis, from 100 to 300000',
    schema: integer(100, 300_000),
  },
  negativeCacheTtlMs: {
    env: 'JOBGATE_NEGATIVE_CACHE_TTL_MS',
    default: 1000,
    accepts: 'milliseconds an unknown token or job id is remembered as unknown, from 0 to 60000',
    schema: integer(0, 60_000),
  },
  outageGraceMs: {
    env: 'JOBGATE_OUTAGE_GRACE_MS',
    default: 0,
    accepts: 'milliseconds past its TTL that a cached record may serve while Redis is unreachable, from 0 (never) to 300000',
    schema: integer(0, 300_000),
  },
  authFailureLimit: {
    env: 'JOBGATE_AUTH_FAILURE_LIMIT',
    default: 60,
    accepts: 'failed authentications per minute per client address before 429, from 1 to 1000000',
    schema: integer(1, 1_000_000),
  },
  cookieSecret: {
    env: 'JOBGATE_COOKIE_SECRET',
    secret: true,
    default: undefined,
    accepts: 'one or more secrets of at least 32 characters, comma-separated (the first signs session cookies, all verify)',
    // A string also in the config file, not a YAML list.
    schema: z.optional(commaList(z.string().check(z.minLength(MIN_COOKIE_SECRET_LENGTH)), z.string())),
  },
  sessionTtlSeconds: {
    env: 'JOBGATE_SESSION_TTL_SECONDS',
    default: 43_200,
    accepts: 'seconds a browser session lasts, from 60 to 2592000 (30 days)',
    schema: integer(60, 2_592_000),
  },
  publicScheme: {
    env: 'JOBGATE_PUBLIC_SCHEME',
    default: undefined,
    accepts: 'http or https: the scheme browsers use to reach jobgate (https makes session cookies Secure and __Host-)',
    schema: z.optional(z.enum(['http', 'https'])),
  },
  assertionIssuer: {
    env: 'JOBGATE_ASSERTION_ISSUER',
    default: 'jobgate',
    accepts: 'the iss claim of X-Jobgate-Assertion: 1 to 256 printable characters',
    schema: z.string().check(z.regex(/^[\x21-\x7e]{1,256}$/)),
  },
  assertionAlg: {
    env: 'JOBGATE_ASSERTION_ALG',
    default: 'ES256',
    accepts: 'ES256 or EdDSA: the algorithm of the per-process key and of `jobgate keys generate` (configured keys bring their own)',
    schema: z.enum(['ES256', 'EdDSA']),
  },
  assertionKeys: {
    env: 'JOBGATE_ASSERTION_KEYS',
    secret: true,
    default: undefined,
    accepts: 'one or more private keys: PEM (PKCS#8) blocks, or a JWK / JSON array of JWKs; the first signs, all are published',
    schema: z.optional(z.string().check(z.refine((text) => text.includes('PRIVATE KEY-----') || /^\s*[[{]/.test(text)))),
  },
  assertionKeyFiles: {
    env: 'JOBGATE_ASSERTION_KEY_FILES',
    default: undefined,
    accepts: 'paths of existing private key files (PEM or JWK), comma-separated; read after JOBGATE_ASSERTION_KEYS',
    schema: z.optional(commaList(z.string().check(z.refine((path) => existsSync(path))))),
  },
  authzListen: {
    env: 'JOBGATE_AUTHZ_LISTEN',
    default: undefined,
    accepts: 'host:port of the forward-auth decision endpoint (nginx auth_request, Traefik ForwardAuth), such as 127.0.0.1:9191',
    schema: z.optional(listenAddress),
  },
  authzTrusted: {
    env: 'JOBGATE_AUTHZ_TRUSTED',
    // A list, as config/jobgate.yaml writes it; the environment gives the same as 127.0.0.0/8,::1/128.
    default: ['127.0.0.0/8', '::1/128'],
    accepts: 'CIDR blocks, comma-separated (a YAML list in the config file), of the proxies whose X-Forwarded-* the decision endpoint believes',
    schema: commaList(parsedBy(parseCidr)),
  },
  drainTimeoutMs: {
    env: 'JOBGATE_DRAIN_TIMEOUT_MS',
    default: 10_000,
    accepts: 'milliseconds in-flight requests get to finish after SIGTERM, from 0 to 600000',
    schema: integer(0, 600_000),
  },
  logLevel: {
    env: 'JOBGATE_LOG_LEVEL',
    default: 'info',
    accepts: 'one of fatal, error, warn, info, debug, trace, silent',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  },
} as const;

export type SettingName = keyof typeof SETTINGS;

/** The validated settings: one object, built before anything starts; nothing else reads process.env. */
export type Settings = { -readonly [K in SettingName]: z.output<(typeof SETTINGS)[K]['schema']> };
