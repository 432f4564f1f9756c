import { Doorkeeper } from './doorkeeper.js';
import { Lru } from './lru.js';

/** The window's size, beside the capacity: a share of it, and the least room it gets in a small map. */
const WINDOW_SHARE = 0.01;
const WINDOW_MIN = 64;

/**
 * A bounded map that keeps its room for keys used more than once (2Q, with TinyLFU's
 * doorkeeper as the memory of recent newcomers). The main part is an LRU of `capacity`
 * keys. A key set for the first time goes to a small window beside it (1 % of the
 * capacity; at least 64, or half the capacity); it moves to the main part when it is read
 * again while there, or when it is set again within about `capacity` newcomers.
 *
 * So a scan of one-off keys (a script cycling through thousands of tokens, a flood of
 * made-up ids) passes through the window without evicting the working set, and its
 * entries die young instead of filling the heap's old generation until the next full GC.
 */
export class ScanResistantLru<V> {
  private readonly window: Lru<string, V>;
  private readonly main: Lru<string, V>;
  private readonly doorkeeper: Doorkeeper;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('capacity must be at least 1');
    const windowCapacity = Math.max(1, Math.floor(capacity * WINDOW_SHARE), Math.min(WINDOW_MIN, Math.floor(capacity / 2)));
    this.window = new Lru(windowCapacity);
    this.main = new Lru(capacity);
    this.doorkeeper = new Doorkeeper(capacity);
  }

  get size(): number {
    return this.window.size + this.main.size;
  }

  get(key: string): V | undefined {
    const value = this.main.get(key);
    if (value !== undefined) return value;
    const newcomer = this.window.get(key);
    if (newcomer !== undefined) {
      this.window.delete(key);
      this.main.set(key, newcomer);
    }
    return newcomer;
  }

  set(key: string, value: V): void {
    if (this.main.has(key) || this.window.has(key) || this.doorkeeper.admit(key)) {
      this.window.delete(key);
      this.main.set(key, value);
    } else {
      this.window.set(key, value);
    }
  }

  delete(key: string): void {
    this.window.delete(key);
    this.main.delete(key);
  }

  clear(): void {
    this.window.clear();
    this.main.clear();
  }
}
