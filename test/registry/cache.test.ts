import t from 'tap';
import { StoreUnavailableError } from '../../src/errors.js';
import type { JobRecord } from '../../src/jobs/record.js';
import { CachedRegistry } from '../../src/registry/cache.js';
import { Lru } from '../../src/util/lru.js';
import type { RecordSource } from '../../src/registry/registry.js';
import type { TokenRecord } from '../../src/tokens/record.js';

/** A source whose answers and failures the test controls, counting every load. */
class Source implements RecordSource {
  tokens = new Map<string, TokenRecord>();
  loads = 0;
  down = false;
  gate: Promise<void> | undefined;

  async token(id: string): Promise<TokenRecord | undefined> {
    this.loads++;
    const snapshot = this.tokens.get(id);
    if (this.gate) await this.gate;
    if (this.down) throw new StoreUnavailableError('down');
    return snapshot;
  }

  async job(): Promise<JobRecord | undefined> {
    return undefined;
  }
}

const record = (id: string, version = 1) => ({ id, version }) as unknown as TokenRecord;

function setup(options: Partial<{ ttlMs: number; negativeTtlMs: number; outageGraceMs: number; maxEntries: number }> = {}) {
  let clock = 1000;
  const source = new Source();
  const cache = new CachedRegistry(source, { maxEntries: 100, ttlMs: 5000, negativeTtlMs: 1000, outageGraceMs: 0, now: () => clock, ...options });
  return { source, cache, advance: (ms: number) => (clock += ms) };
}

t.test('a warm lookup does not reach the source until the TTL', async (t) => {
  const { source, cache, advance } = setup();
  source.tokens.set('a', record('a'));
  t.equal((await cache.token('a'))?.id, 'a');
  t.equal((await cache.token('a'))?.id, 'a');
  t.equal(source.loads, 1);
  t.equal(cache.rememberedToken('a')?.id, 'a');
  advance(5001);
  t.equal(cache.peekToken('a'), undefined, 'past the TTL the entry is not trusted');
  t.equal(cache.rememberedToken('a')?.id, 'a', 'but remembered, as proof of a secret that was valid');
  await cache.token('a');
  t.equal(source.loads, 2);
  t.same(cache.stats.tokens, { hits: 1, misses: 2 });
});

t.test('peek answers from the cache alone: a record, a known absence, or nothing to say', async (t) => {
  const { source, cache, advance } = setup();
  source.tokens.set('a', record('a'));
  t.equal(cache.peekToken('a'), undefined, 'nothing cached yet: only a lookup can tell');
  await cache.token('a');
  await cache.token('ghost');
  t.equal(cache.peekToken('a')?.value?.id, 'a');
  const absent = cache.peekToken('ghost');
  t.ok(absent, 'an unknown id is a cached answer too');
  t.equal(absent?.value, undefined);
  t.equal(source.loads, 2, 'peeking never loads');
  t.same(cache.stats.tokens, { hits: 2, misses: 2 }, 'answers from peek count as hits');
  advance(1001);
  t.equal(cache.peekToken('ghost'), undefined, 'the negative entry expired');
  t.equal(cache.peekJob('a'), undefined, 'tokens and jobs are cached apart');
});

t.test('unknown ids are cached negatively for a short time', async (t) => {
  const { source, cache, advance } = setup();
  t.equal(await cache.token('ghost'), undefined);
  t.equal(await cache.token('ghost'), undefined);
  t.equal(source.loads, 1);
  t.equal(cache.rememberedToken('ghost'), undefined, 'a negative entry is not a known-valid token');
  advance(1001);
  source.tokens.set('ghost', record('ghost'));
  t.equal((await cache.token('ghost'))?.id, 'ghost');
});

t.test('invalidation and flush drop entries at once', async (t) => {
  const { source, cache } = setup();
  source.tokens.set('a', record('a', 1));
  await cache.token('a');
  source.tokens.set('a', record('a', 2));
  cache.invalidateToken('a');
  t.equal((await cache.token('a'))?.version, 2);
  source.tokens.delete('a');
  cache.flush();
  t.equal(await cache.token('a'), undefined);
});

t.test('a token is remembered past its TTL until it is invalidated or found deleted', async (t) => {
  const { source, cache, advance } = setup();
  source.tokens.set('a', record('a'));
  source.tokens.set('b', record('b'));
  await cache.token('a');
  await cache.token('b');
  advance(60_000);
  t.equal(cache.rememberedToken('a')?.id, 'a', 'an aged entry');
  cache.invalidateToken('a');
  t.equal(cache.rememberedToken('a'), undefined, 'invalidated');
  source.tokens.delete('b');
  t.equal(await cache.token('b'), undefined);
  t.equal(cache.rememberedToken('b'), undefined, 'reloaded and found deleted');
});

t.test('concurrent lookups share one load', async (t) => {
  const { source, cache } = setup();
  source.tokens.set('a', record('a'));
  const results = await Promise.all(Array.from({ length: 20 }, () => cache.token('a')));
  t.equal(source.loads, 1);
  t.ok(results.every((result) => result?.id === 'a'));
});

t.test('a load that races an invalidation is not cached or shared', async (t) => {
  const { source, cache } = setup();
  source.tokens.set('a', record('a', 1));
  let release!: () => void;
  source.gate = new Promise((resolve) => (release = resolve));
  const stale = cache.token('a'); // reads version 1, then waits
  source.tokens.set('a', record('a', 2));
  cache.invalidateToken('a'); // the writer's message arrives meanwhile
  const fresh = cache.token('a'); // must not join the stale load
  source.gate = undefined;
  release();
  t.equal((await stale)?.version, 1);
  t.equal((await fresh)?.version, 2);
  t.equal((await cache.token('a'))?.version, 2, 'the stale result was not cached');
});

t.test('outage: fail closed, unless a grace period is configured', async (t) => {
  const closed = setup();
  closed.source.tokens.set('a', record('a'));
  await closed.cache.token('a');
  closed.advance(5001);
  closed.source.down = true;
  await t.rejects(closed.cache.token('a'), StoreUnavailableError, 'no grace by default');

  const graced = setup({ outageGraceMs: 10_000 });
  graced.source.tokens.set('a', record('a'));
  await graced.cache.token('a');
  graced.advance(6000);
  graced.source.down = true;
  t.equal((await graced.cache.token('a'))?.id, 'a', 'within TTL + grace the stale entry serves');
  graced.advance(10_000);
  await t.rejects(graced.cache.token('a'), StoreUnavailableError, 'past the grace period it fails');
  graced.cache.invalidateToken('a');
  await t.rejects(graced.cache.token('a'), StoreUnavailableError, 'an invalidated entry never serves');
});

t.test('the cache is bounded: one entry over, exactly the least recently used one goes and every other one stays', async (t) => {
  const { source, cache } = setup({ maxEntries: 8 });
  const ids = Array.from({ length: 9 }, (_, i) => `t${i}`);
  for (const id of ids) source.tokens.set(id, record(id));
  // Eight tokens, each used twice (a token used once is a newcomer the cache may let pass).
  for (const id of ids.slice(0, 8)) {
    await cache.token(id);
    await cache.token(id);
  }
  t.equal(source.loads, 8, 'eight tokens, one load each');
  // Used again, oldest first: t1 is now the least recently used.
  for (const id of ['t0', 't2', 't4']) await cache.token(id);
  t.equal(source.loads, 8, 'the touches were answered from the cache');

  // One more token in use: the cache is one entry over its size.
  await cache.token('t8');
  await cache.token('t8');
  t.equal(source.loads, 9);

  const stayed = ids.filter((id) => id !== 't1');
  const before = { loads: source.loads, hits: cache.stats.tokens.hits, misses: cache.stats.tokens.misses };
  const missing = [];
  for (const id of stayed) if (cache.peekToken(id)?.value?.id !== id) missing.push(id);
  t.same(missing, [], 'every entry but the least recently used one is still cached');
  for (const id of stayed) t.equal((await cache.token(id))?.id, id, `${id} answered`);
  t.equal(source.loads, before.loads, 'the eight that stayed were answered without a load');
  t.same(cache.stats.tokens, { hits: before.hits + 2 * stayed.length, misses: before.misses }, "the cache's own counters: hits only");

  t.equal(cache.peekToken('t1'), undefined, 'the least recently used token went');
  t.equal(cache.rememberedToken('t1'), undefined, 'and is not remembered either');
  t.equal((await cache.token('t1'))?.id, 't1', 'asking for it again...');
  t.equal(source.loads, before.loads + 1, '...loads it from the source');
  t.equal(cache.stats.tokens.misses, before.misses + 1, 'counted as a miss');
});

t.test('Lru keeps the most recently used', async (t) => {
  const lru = new Lru<string, number>(2);
  lru.set('a', 1);
  lru.set('b', 2);
  lru.get('a');
  lru.set('c', 3);
  t.equal(lru.get('b'), undefined);
  t.equal(lru.get('a'), 1);
  t.equal(lru.size, 2);
  lru.clear();
  t.equal(lru.size, 0);
  t.throws(() => new Lru(0), RangeError);
});

t.test('a scan of one-off tokens does not evict a token in use', async (t) => {
  const { source, cache } = setup({ maxEntries: 100 });
  source.tokens.set('hot', record('hot'));
  await cache.token('hot');
  await cache.token('hot');
  for (let i = 0; i < 1000; i++) {
    source.tokens.set(`once-${i}`, record(`once-${i}`));
    await cache.token(`once-${i}`);
  }
  const loads = source.loads;
  t.equal((await cache.token('hot'))?.id, 'hot');
  t.equal(source.loads, loads, 'still served from the cache after 1,000 one-off tokens');
  t.equal(cache.rememberedToken('once-0'), undefined, 'the one-off tokens passed through');
});
