/**
 * What the console reads of a request: its form body (bounded, urlencoded only), the CSRF rules,
 * and the expiry choices a form offers. Pure but for the body read.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { InputError } from '../errors.js';
import { readBodyUpTo } from '../http/linger.js';
import type { TokenRecord, TokenView } from '../tokens/record.js';
import type { ExpiryOption } from './pages.js';

/** The largest form body the console reads: a token, a name, a selector and some slack. */
export const MAX_FORM_BYTES = 16 * 1024;

/** The form, or why it was not read: not urlencoded (415), too large (413). */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams | 413 | 415> {
  const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return 415;
  if (Number(req.headers['content-length'] ?? 0) > MAX_FORM_BYTES) return 413;
  const body = await readBodyUpTo(req, MAX_FORM_BYTES);
  return body === undefined ? 413 : new URLSearchParams(body.toString('utf8'));
}

/**
 * Whether a state-changing request comes from the console's own pages: its Origin is the
 * console's; without Origin (or with `Origin: null`), Sec-Fetch-Site must say same-origin. With
 * neither header it is refused: browsers send one of them with every POST.
 */
export function fromConsoleOrigin(headers: IncomingHttpHeaders, expected: string): boolean {
  const origin = headers.origin;
  if (origin !== undefined && origin !== 'null') return origin.toLowerCase() === expected;
  return headers['sec-fetch-site'] === 'same-origin';
}

const DAY_MS = 86_400_000;
const DURATIONS: ReadonlyArray<readonly [value: string, label: string, days: number]> = [
  ['1d', '1 day', 1],
  ['7d', '7 days', 7],
  ['30d', '30 days', 30],
  ['90d', '90 days', 90],
  ['365d', '1 year', 365],
];

/**
 * The expiries a form offers `caller`: none (or, to renew `renewing`, its current one, unless that
 * has passed), then durations, leaving out those that would outlive an expiring caller: the
 * control service refuses both.
 */
export function expiryOptions(caller: TokenRecord, now: number, renewing?: TokenView): ExpiryOption[] {
  const first: ExpiryOption[] = renewing
    ? renewing.status.expired
      ? []
      : [{ value: '', label: 'Keep the current expiry' }]
    : [{ value: '', label: caller.expiresAt === undefined ? 'Never' : `When your own token expires (${caller.expiresAt})` }];
  const fitting = DURATIONS.filter(([, , days]) => caller.expiresAtMs === undefined || now + days * DAY_MS <= caller.expiresAtMs);
  return [...first, ...fitting.map(([value, label]) => ({ value, label: `In ${label}` }))];
}

/** The expiry (RFC 3339) an `expiresIn` choice stands for, undefined for none; InputError for one not offered. */
export function expiryFrom(choice: string | null, now: number): string | undefined {
  if (choice === null || choice === '') return undefined;
  const duration = DURATIONS.find(([value]) => value === choice);
  if (!duration) throw new InputError(`invalid expiry "${choice}": choose one of the offered durations`);
  return new Date(now + duration[2] * DAY_MS).toISOString();
}
