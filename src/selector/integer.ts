/**
 * 64-bit integers in label values, read as Kubernetes reads them for `k>n` and `k<n`
 * (Go's `strconv.ParseInt(text, 10, 64)`: an optional sign, then decimal digits, in range).
 * Plain character loops: comparing allocates nothing.
 */

/** The largest 64-bit integer, the bound for positive values. */
export const INT64_MAX = '9223372036854775807';
/** The magnitude of the smallest 64-bit integer. */
const INT64_MIN_MAGNITUDE = '9223372036854775808';

const PLUS = 0x2b;
const MINUS = 0x2d;
const ZERO = 0x30;

function isDigit(c: number): boolean {
  return c >= ZERO && c <= 0x39;
}

/** Compares the digit runs `a[aStart..]` and `b[bStart..]`, both without leading zeros, as numbers. */
function compareDigits(a: string, aStart: number, b: string, bStart: number): number {
  const aLength = a.length - aStart;
  const bLength = b.length - bStart;
  if (aLength !== bLength) return aLength < bLength ? -1 : 1;
  for (let i = 0; i < aLength; i++) {
    const difference = a.charCodeAt(aStart + i) - b.charCodeAt(bStart + i);
    if (difference !== 0) return difference < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * Where the significant digits of `text` start (past the sign and leading zeros; zero keeps
 * one digit), or -1 when `text` is not an integer that fits in 64 bits.
 */
function significantStart(text: string): number {
  const first = text.charCodeAt(0);
  let i = first === PLUS || first === MINUS ? 1 : 0;
  if (i >= text.length) return -1;
  for (let j = i; j < text.length; j++) if (!isDigit(text.charCodeAt(j))) return -1;
  while (i < text.length - 1 && text.charCodeAt(i) === ZERO) i++;
  return compareDigits(text, i, first === MINUS ? INT64_MIN_MAGNITUDE : INT64_MAX, 0) > 0 ? -1 : i;
}

/** Whether Kubernetes reads `text` as a 64-bit integer. */
export function isInt64(text: string): boolean {
  return significantStart(text) !== -1;
}

function isNegative(text: string, start: number): boolean {
  return text.charCodeAt(0) === MINUS && !(start === text.length - 1 && text.charCodeAt(start) === ZERO);
}

/**
 * The sign of `a - b` for two 64-bit integer texts (-1, 0 or 1), or NaN when either is not
 * one, so that any comparison with the result is false. Allocation-free.
 */
export function compareInt64(a: string, b: string): number {
  const aStart = significantStart(a);
  const bStart = significantStart(b);
  if (aStart === -1 || bStart === -1) return Number.NaN;
  const aNegative = isNegative(a, aStart);
  if (aNegative !== isNegative(b, bStart)) return aNegative ? -1 : 1;
  const magnitude = compareDigits(a, aStart, b, bStart);
  return aNegative ? -magnitude : magnitude;
}
