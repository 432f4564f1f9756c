/**
 * What a scoped operator token (selector S) may see and change through the control API. Pure.
 *
 * - Tokens: one is within S when its selector carries every requirement of S (same key, operator
 *   and value; `in`/`notin` as sets). Every job such a token matches, S matches too, so nothing it
 *   lists, renews or deletes reaches wider than S. A token it creates gets S's requirements added.
 * - Jobs: one is within S when S matches its labels (with `jobgate/id`); a job it writes gets S's
 *   equality requirements as labels and must match S after the write.
 * The empty selector (an unscoped operator) has every token and job within it.
 */
import { formatSelector, matches, type Labels, type Requirement, type Selector } from '../selector/index.js';

function sameValues(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((value) => set.has(value)) && new Set(b).size === set.size;
}

/** Whether two requirements say the same thing: `=` and `==` alike, `in (a,b)` as `in (b,a)`. */
export function sameRequirement(a: Requirement, b: Requirement): boolean {
  if (a.op !== b.op || a.key !== b.key) return false;
  if ((a.op === 'in' || a.op === 'notin') && (b.op === 'in' || b.op === 'notin')) return sameValues(a.values, b.values);
  if ('value' in a && 'value' in b) return a.value === b.value;
  return true;
}

/** Whether a token with selector `token` stays within `scope`: it carries every requirement of `scope`. */
export function tokenWithinScope(scope: Selector, token: Selector): boolean {
  return scope.requirements.every((required) => token.requirements.some((own) => sameRequirement(required, own)));
}

/**
 * The selector text of a token created within `scope` that asked for `requested`: the requested
 * requirements ANDed with the scope's (those it already has are not repeated). The requested text
 * as given when the scope is empty.
 */
export function narrowedSelector(scope: Selector, requested: Selector): string {
  if (scope.empty) return requested.source;
  const missing = scope.requirements.filter((required) => !requested.requirements.some((own) => sameRequirement(required, own)));
  if (missing.length === 0) return requested.source;
  return formatSelector({ source: '', requirements: [...missing, ...requested.requirements], empty: false });
}

/** Whether a job with `labels` (including `jobgate/id`) is within `scope`. */
export function jobWithinScope(scope: Selector, labels: Labels): boolean {
  return matches(scope, labels);
}

/** What every spelling of this machine's own addresses compares as. */
const LOOPBACK = 'loopback';

/** The IPv4 address an IPv4-mapped IPv6 address (`[::ffff:7f00:1]`, as URL writes it) stands for, or undefined. */
function mappedIpv4(bracketed: string): string | undefined {
  const mapped = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/.exec(bracketed);
  if (!mapped) return undefined;
  const high = parseInt(mapped[1]!, 16);
  const low = parseInt(mapped[2]!, 16);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * The service an upstream URL reaches, for comparing the upstreams of jobs: host and port, with
 * the spellings of one host that URL parsing leaves apart made equal: a trailing dot (`svc.` is
 * `svc`), an IPv4-mapped IPv6 address (`[::ffff:10.0.0.1]` is `10.0.0.1`), and this machine's own
 * addresses (`localhost`, `*.localhost`, 127.0.0.0/8, `[::1]`, `0.0.0.0`, `[::]`), all one. The
 * scheme is left out: one port serves one service. Names that DNS makes equal stay apart (see
 * docs/control-api.md: network policy restricts what jobgate reaches).
 */
export function upstreamService(url: URL): string {
  let host = url.hostname.replace(/\.+$/, '');
  host = mappedIpv4(host) ?? host;
  const own =
    host === 'localhost' || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '0.0.0.0' || host === '[::1]' || host === '[::]';
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${own ? LOOPBACK : host}:${port}`;
}
