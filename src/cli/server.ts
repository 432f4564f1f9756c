/**
 * `--server <url>` (or JOBGATE_SERVER) and JOBGATE_TOKEN: where the admin commands reach jobgate's
 * control API, checked before anything is sent. The token is read from the environment only: a
 * command line is visible to every user of the machine (ps, /proc/<pid>/cmdline).
 */
import { InputError } from '../errors.js';
import { tokenShape } from '../tokens/format.js';
import type { CliIo } from './context.js';

/** jobgate's control API: the server URL's origin, and the operator token that every call carries. */
export interface ServerTarget {
  /** `http(s)://host[:port]`: requests go to <origin>/api/v1/..., with the URL's host as Host header. */
  readonly origin: string;
  readonly token: string;
}

const SET_TOKEN = 'set JOBGATE_TOKEN to an operator token';

/**
 * The control API that `--server` (else JOBGATE_SERVER) names, or undefined when neither is set
 * (the commands then use Redis). InputError (exit 2) for a URL that is not http(s), one that
 * carries credentials or a query, or a missing or malformed JOBGATE_TOKEN. Warns on stderr when
 * the token would travel in clear to another machine.
 */
export function serverTarget(flag: string | undefined, io: CliIo): ServerTarget | undefined {
  const text = flag ?? (io.env.JOBGATE_SERVER || undefined);
  if (text === undefined) return undefined;
  const source = flag === undefined ? 'JOBGATE_SERVER' : '--server';
  if (!URL.canParse(text)) throw new InputError(`invalid ${source} "${text}": expected jobgate's URL, such as https://jobgate.example.com`);
  const url = new URL(text);
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new InputError(`invalid ${source} "${text}": expected an http or https URL, such as https://jobgate.example.com`);
  if (url.username !== '' || url.password !== '')
    throw new InputError(`invalid ${source}: the URL carries credentials; the token is read from JOBGATE_TOKEN only (${SET_TOKEN})`);
  if (url.search !== '' || url.hash !== '') throw new InputError(`invalid ${source} "${text}": jobgate's URL takes no query or fragment`);
  const token = io.env.JOBGATE_TOKEN;
  if (token === undefined || token === '') throw new InputError(`${source} needs a token: ${SET_TOKEN} (never on the command line)`);
  // The value itself is never printed: it is a credential.
  if (tokenShape(token.trim()) === undefined) throw new InputError(`JOBGATE_TOKEN does not hold a jobgate token (jgt_...): ${SET_TOKEN}`);
  if (url.protocol === 'http:' && !isLoopback(url.hostname))
    io.stderr(`jobgate: warning: ${url.origin} is plain http: JOBGATE_TOKEN travels in clear to another machine; use https\n`);
  return { origin: url.origin, token: token.trim() };
}

/** Whether a URL's host name names this machine: localhost, 127.0.0.0/8 or [::1]. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
