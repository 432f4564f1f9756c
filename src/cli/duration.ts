import { InputError } from '../errors.js';

const UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** The longest duration accepted: about 100 years, far past any sensible expiry. */
const MAX_MS = 100 * 365 * UNITS.d!;

/**
 * A duration such as `90d`, `12h`, `30m`, `2w` or `45s` (one number and one unit) in
 * milliseconds; InputError naming `option` for anything else.
 */
export function parseDuration(text: string, option: string): number {
  const match = /^([1-9]\d{0,9})([smhdw])$/.exec(text.trim());
  const ms = match ? Number(match[1]) * UNITS[match[2]!]! : Number.NaN;
  if (!Number.isFinite(ms) || ms > MAX_MS) {
    throw new InputError(`invalid ${option} "${text}": expected a number and a unit (s, m, h, d or w), such as 90d or 12h`);
  }
  return ms;
}

/**
 * The expiry that `--expires-in` or `--expires-at` asks for (RFC 3339 left for the store to check),
 * or undefined for neither; both at once is refused.
 */
export function expiryOption(options: { expiresIn?: string; expiresAt?: string }, now: number): string | undefined {
  if (options.expiresIn !== undefined && options.expiresAt !== undefined) throw new InputError('--expires-in and --expires-at say the same thing: give one');
  if (options.expiresIn !== undefined) return new Date(now + parseDuration(options.expiresIn, '--expires-in')).toISOString();
  return options.expiresAt;
}
