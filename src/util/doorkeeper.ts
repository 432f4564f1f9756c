/** Bits per remembered key and probes per key: about 0.5 % false positives over both generations. */
const BITS_PER_KEY = 16;
const PROBES = 4;

/**
 * Remembers, approximately, which keys it was shown among the last `window` to `2 * window`
 * new ones: a Bloom filter in two generations, the doorkeeper of TinyLFU. It holds no keys,
 * only bits, so it costs a fixed 4 bytes per key of its window and makes no garbage. A
 * false positive (about 0.5 %) only lets a key through early.
 */
export class Doorkeeper {
  private current: Uint32Array;
  private previous: Uint32Array;
  private readonly mask: number;
  private added = 0;

  constructor(private readonly window: number) {
    if (!(window >= 1)) throw new RangeError('window must be at least 1');
    let bits = 1024;
    while (bits < window * BITS_PER_KEY) bits *= 2;
    this.mask = bits - 1;
    this.current = new Uint32Array(bits >>> 5);
    this.previous = new Uint32Array(bits >>> 5);
  }

  /** True when `key` was shown recently; otherwise remembers it and returns false. */
  admit(key: string): boolean {
    const h1 = fnv1a(key);
    const h2 = mix(h1) | 1;
    if (this.has(this.current, h1, h2) || this.has(this.previous, h1, h2)) return true;
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + i * h2) & this.mask;
      this.current[bit >>> 5]! |= 1 << (bit & 31);
    }
    if (++this.added >= this.window) this.rotate();
    return false;
  }

  private has(bits: Uint32Array, h1: number, h2: number): boolean {
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + i * h2) & this.mask;
      if ((bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  private rotate(): void {
    const oldest = this.previous;
    this.previous = this.current;
    oldest.fill(0);
    this.current = oldest;
    this.added = 0;
  }
}

/** FNV-1a over the string's UTF-16 code units, 32 bits. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** MurmurHash3's finalizer: a second, independent-looking hash for double hashing. */
function mix(hash: number): number {
  let h = hash ^ (hash >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
