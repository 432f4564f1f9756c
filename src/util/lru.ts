/**
 * A bounded map that forgets its least recently used entry when full. Map keeps insertion
 * order, so re-inserting a key makes it the newest and the first key is the oldest. A hit
 * re-inserts only an entry that is not among the recent half, so that hot entries cost a
 * lookup and nothing more.
 */
export class Lru<K, V> {
  private readonly map = new Map<K, { value: V; stamp: number }>();
  private clock = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('capacity must be at least 1');
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const entry = this.map.get(key);
    if (entry === undefined) return undefined;
    if (this.clock - entry.stamp >= this.capacity >> 1) {
      this.map.delete(key);
      entry.stamp = ++this.clock;
      this.map.set(key, entry);
    }
    return entry.value;
  }

  /** Whether `key` is held, without making it recent. */
  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, { value, stamp: ++this.clock });
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }
}
