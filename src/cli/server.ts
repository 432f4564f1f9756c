/**
 * `--server <url>` (or JOBGATE_SERVER) and JOBGATE_TOKEN: where the admin commands reach jobgate's
 * control API, checked before anything is sent. The token is read from the environment only: a
 * command line is visible to every user of the machine (ps, /proc/<pid>/cmdline).
 */
import { InputError } from '../errors.js';
import { tokenShape } from '../tokens/format.js';
import type { CliIo, GlobalOptions } from './context.js';
import { credentialsPath, readCredentials, type StoredLogin } from './credentials.js';

/** jobgate's control API: the server URL's origin, and the operator token that every call carries. */
export interface ServerTarget {
  /** `http(s)://host[:port]`: requests go to <origin>/api/v1/..., with the URL's host as Host header. */
  readonly origin: string;
  readonly token: string;
}

const SET_TOKEN = 'set JOBGATE_TOKEN to an operator token';

/**
 * The control API that `--server` (else JOBGATE_SERVER) names, or undefined when neither is set.
 * The token is JOBGATE_TOKEN's, else the one `jobgate login` stored (`stored`) when it was stored
 * for the same origin. InputError (exit 2) for a URL that is not http(s), one that carries
 * credentials or a query, or a missing or malformed token. Warns on stderr when the token would
 * travel in clear to another machine.
 */
export function serverTarget(flag: string | undefined, io: CliIo, stored: () => StoredLogin | undefined = () => undefined): ServerTarget | undefined {
  const text = flag ?? (io.env.JOBGATE_SERVER || undefined);
  if (text === undefined) return undefined;
  const source = flag === undefined ? 'JOBGATE_SERVER' : '--server';
  const url = serverUrl(text, source);
  const token = io.env.JOBGATE_TOKEN;
  let value: string;
  if (token !== undefined && token !== '') {
    // The value itself is never printed: it is a credential.
    if (tokenShape(token.trim()) === undefined) throw new InputError(`JOBGATE_TOKEN does not hold a jobgate token (jgt_...): ${SET_TOKEN}`);
    value = token.trim();
  } else {
    const login = stored();
    if (login?.server !== url.origin)
      throw new InputError(`${source} needs a token: ${SET_TOKEN} (never on the command line), or store one with jobgate login ${url.origin}`);
    value = login.token;
  }
  warnOfPlainHttp(url, io, token ? 'JOBGATE_TOKEN' : 'the stored token');
  return { origin: url.origin, token: value };
}

/**
 * The admin commands' control API, in order: `--server` or JOBGATE_SERVER (see {@link serverTarget});
 * none when Redis is named explicitly (see {@link namesRedis}); the login `jobgate login` stored;
 * else none (the commands use Redis).
 */
export function adminTarget(options: GlobalOptions, io: CliIo): ServerTarget | undefined {
  const named = serverTarget(options.server, io, () => readCredentials(io.env));
  if (named !== undefined || namesRedis(options, io.env)) return named;
  const login = readCredentials(io.env);
  if (login === undefined) return undefined;
  const url = serverUrl(login.server, credentialsPath(io.env));
  warnOfPlainHttp(url, io, 'the stored token');
  return { origin: url.origin, token: login.token };
}

/** Whether the command names a Redis explicitly: --redis-url, --config, JOBGATE_REDIS_URL, Sentinel or Cluster nodes. */
export function namesRedis(options: GlobalOptions, env: NodeJS.ProcessEnv): boolean {
  return options.redisUrl !== undefined || options.config !== undefined || REDIS_VARIABLES.some((name) => env[name] !== undefined && env[name] !== '');
}

/** The variables that name a Redis: any of them set makes the admin commands use Redis over a stored login. */
export const REDIS_VARIABLES = ['JOBGATE_REDIS_URL', 'JOBGATE_REDIS_SENTINELS', 'JOBGATE_REDIS_CLUSTER_NODES'] as const;

/**
 * jobgate's URL as `--server`, JOBGATE_SERVER or `jobgate login` take it (`source` names where it
 * came from): http(s), without credentials, query or fragment; InputError otherwise.
 */
export function serverUrl(text: string, source: string): URL {
  if (!URL.canParse(text)) throw new InputError(`invalid ${source} "${text}": expected jobgate's URL, such as https://jobgate.example.com`);
  const url = new URL(text);
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new InputError(`invalid ${source} "${text}": expected an http or https URL, such as https://jobgate.example.com`);
  if (url.username !== '' || url.password !== '')
    throw new InputError(`invalid ${source}: the URL carries credentials; the token is read from JOBGATE_TOKEN only (${SET_TOKEN})`);
  if (url.search !== '' || url.hash !== '') throw new InputError(`invalid ${source} "${text}": jobgate's URL takes no query or fragment`);
  return url;
}

/** Says on stderr when a token sent to `url` would travel in clear to another machine. */
export function warnOfPlainHttp(url: URL, io: CliIo, token: string): void {
  if (url.protocol === 'http:' && !isLoopback(url.hostname))
    io.stderr(`jobgate: warning: ${url.origin} is plain http: ${token} travels in clear to another machine; use https\n`);
}

/** Whether a URL's host name names this machine: localhost, 127.0.0.0/8 or [::1]. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
