import t from 'tap';
import { Doorkeeper } from '../../src/util/doorkeeper.js';
import { ScanResistantLru } from '../../src/util/scan-resistant-lru.js';

const ids = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

t.test('doorkeeper: a key is let through the second time it is shown within its window', async (t) => {
  const doorkeeper = new Doorkeeper(1000);
  t.equal(doorkeeper.admit('token-a'), false, 'first sighting');
  t.equal(doorkeeper.admit('token-a'), true, 'second sighting');
  t.equal(doorkeeper.admit('token-b'), false);
});

t.test('doorkeeper: keys are forgotten after two windows of newcomers', async (t) => {
  const doorkeeper = new Doorkeeper(100);
  doorkeeper.admit('early');
  for (const id of ids('filler', 99)) doorkeeper.admit(id);
  t.equal(doorkeeper.admit('early'), true, 'still remembered one window later');
  for (const id of ids('more', 250)) doorkeeper.admit(id);
  t.equal(doorkeeper.admit('early'), false, 'forgotten two windows later');
});

t.test('doorkeeper: few false positives among keys never shown', async (t) => {
  const doorkeeper = new Doorkeeper(10_000);
  for (const id of ids('shown', 10_000)) doorkeeper.admit(id);
  const falsePositives = ids('never', 10_000).filter((id) => doorkeeper.admit(id)).length;
  t.ok(falsePositives < 100, `${falsePositives} of 10,000 unseen keys let through (expected about 0.5 %)`);
});

t.test('a newcomer is held (in the window) and a reused key stays', async (t) => {
  const map = new ScanResistantLru<number>(1000);
  map.set('a', 1);
  t.equal(map.get('a'), 1, 'a newcomer can be read back');
  map.set('b', 2);
  t.equal(map.size, 2);
  map.delete('b');
  t.equal(map.get('b'), undefined);
  t.equal(map.size, 1);
  map.clear();
  t.equal(map.size, 0);
});

t.test('a scan of one-off keys does not evict the working set, and the map stays bounded', async (t) => {
  const map = new ScanResistantLru<string>(1000);
  const hot = ids('hot', 500);
  for (const id of hot) {
    map.set(id, id);
    t.equal(map.get(id), id); // read again: promoted out of the window
  }
  // The working set stays in use, but each key of it is read only once per 2,000 newcomers:
  // a plain LRU of 1,000 would have evicted every one of them.
  ids('scan', 50_000).forEach((id, i) => {
    map.set(id, id);
    if (i % 4 === 0) map.get(hot[(i / 4) % hot.length]!);
  });
  t.equal(hot.filter((id) => map.get(id) === id).length, 500, 'every hot key survived');
  t.ok(map.size <= 1000 + 64, `size ${map.size} within the capacity and the window`);
});

t.test('a key set again soon after it left the window is admitted', async (t) => {
  const map = new ScanResistantLru<string>(10_000);
  map.set('returning', 'v1');
  for (const id of ids('scan', 200)) map.set(id, id); // pushes it out of the 100-entry window
  t.equal(map.get('returning'), undefined, 'evicted from the window');
  map.set('returning', 'v2');
  for (const id of ids('scan2', 5000)) map.set(id, id);
  t.equal(map.get('returning'), 'v2', 'its second load went to the main part');
});

t.test('without a scan it is a plain LRU of its capacity', async (t) => {
  const map = new ScanResistantLru<number>(3);
  for (const [key, value] of [
    ['a', 1],
    ['b', 2],
    ['c', 3],
  ] as const) {
    map.set(key, value);
    map.get(key);
  }
  map.get('a');
  map.set('d', 4);
  map.get('d');
  t.equal(map.get('b'), undefined, 'the least recently used went');
  t.equal(map.get('a'), 1);
  t.equal(map.get('d'), 4);
  t.throws(() => new ScanResistantLru(0), RangeError);
  t.throws(() => new Doorkeeper(0), RangeError);
});
