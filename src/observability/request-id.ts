import { randomFillSync } from 'node:crypto';

/** Random bytes of one id (of UUIDv7's 16, the first 6 are the time). */
const RANDOM_BYTES = 10;
/** Ids served from one fill of the random pool: one CSPRNG call per this many requests. */
const IDS_PER_FILL = 256;

const pool = Buffer.allocUnsafe(RANDOM_BYTES * IDS_PER_FILL);
let nextSlot = IDS_PER_FILL;
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));
const NIBBLE = Array.from({ length: 16 }, (_, nibble) => nibble.toString(16));
let lastMillis = -1;
let timePart = '';

/**
 * A new request id: a UUIDv7 (RFC 9562), the time in milliseconds then 74 random bits, so
 * ids sort by time and none tells anything about another. The random bits come from a pool
 * the CSPRNG fills in batches, each slot used once, and the time part is formatted once per
 * millisecond: a request pays a few table lookups, not a crypto call.
 */
export function newRequestId(now: number = Date.now()): string {
  if (nextSlot === IDS_PER_FILL) {
    randomFillSync(pool);
    nextSlot = 0;
  }
  const r = nextSlot++ * RANDOM_BYTES;
  if (now !== lastMillis) {
    lastMillis = now;
    const hex = now.toString(16).padStart(12, '0').slice(-12);
    timePart = `${hex.slice(0, 8)}-${hex.slice(8)}-7`;
  }
  const p = pool;
  return (
    timePart +
    NIBBLE[p[r]! & 0x0f]! +
    HEX[p[r + 1]!]! +
    '-' +
    HEX[0x80 | (p[r + 2]! & 0x3f)]! +
    HEX[p[r + 3]!]! +
    '-' +
    HEX[p[r + 4]!]! +
    HEX[p[r + 5]!]! +
    HEX[p[r + 6]!]! +
    HEX[p[r + 7]!]! +
    HEX[p[r + 8]!]! +
    HEX[p[r + 9]!]!
  );
}
