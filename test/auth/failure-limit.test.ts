/**
 * The in-memory limit on failed authentications per client address (src/auth/failure-limit.ts),
 * on its own clock: the limiter takes `now` as a parameter, so the one-minute window is stepped
 * through without waiting. The proxy tests show the same limit as 429 answers with Retry-After.
 */
import t from 'tap';
import { FailureLimiter } from '../../src/auth/failure-limit.js';

const START = 1_700_000_000_000;

/** A limiter of `limit` failures a minute, and the clock it reads (ms since the epoch). */
function limiter(limit: number) {
  const clock = { now: START };
  return { limiter: new FailureLimiter(limit, 100, () => clock.now), clock };
}

t.test('Cases found by mutation testing', async (t) => {
  t.test('an address is blocked from its limit-th failure on, until one minute after its first', async (t) => {
    const { limiter: l, clock } = limiter(3);
    t.equal(l.retryAfter('192.0.2.1'), 0, 'no failure yet');
    t.equal(l.recordFailure('192.0.2.1'), 0, 'first failure: not blocked');
    clock.now += 10_000;
    t.equal(l.recordFailure('192.0.2.1'), 0, 'second failure: not blocked');
    t.equal(l.retryAfter('192.0.2.1'), 0, 'two failures of three: may still try');
    t.equal(l.recordFailure('192.0.2.1'), START + 60_000, 'third failure: blocked until a minute after the first');
    t.equal(l.retryAfter('192.0.2.1'), 50, 'Retry-After: the seconds left in the window');
    t.equal(l.retryAfter('192.0.2.2'), 0, 'another address is not blocked');
    t.equal(l.recordFailure('192.0.2.1'), START + 60_000, 'more failures while blocked: still the same end');
  });

  t.test('the seconds left are rounded up, and the block ends with the window', async (t) => {
    const { limiter: l, clock } = limiter(1);
    t.equal(l.recordFailure('192.0.2.1'), START + 60_000);
    t.equal(l.retryAfter('192.0.2.1'), 60);
    clock.now = START + 1;
    t.equal(l.retryAfter('192.0.2.1'), 60, '59.999 s left: 60');
    clock.now = START + 59_500;
    t.equal(l.retryAfter('192.0.2.1'), 1, 'half a second left: 1');
    clock.now = START + 60_000;
    t.equal(l.retryAfter('192.0.2.1'), 0, 'the window is over');
    clock.now = START + 61_500;
    t.equal(l.retryAfter('192.0.2.1'), 0, 'long over: 0, never negative');
  });

  t.test('a window that is over does not block or count: the next failure opens a new one', async (t) => {
    const { limiter: l, clock } = limiter(3);
    l.recordFailure('192.0.2.1');
    l.recordFailure('192.0.2.1');
    clock.now = START + 60_000;
    t.equal(l.recordFailure('192.0.2.1'), 0, 'exactly a minute later: a new window, one failure');
    t.equal(l.retryAfter('192.0.2.1'), 0);
    t.equal(l.recordFailure('192.0.2.1'), 0, 'two failures in the new window');
    t.equal(l.recordFailure('192.0.2.1'), START + 120_000, 'three: blocked until a minute after the new window began');
  });

  t.test('a block that has run out is forgotten: the address starts again from nothing', async (t) => {
    const { limiter: l, clock } = limiter(2);
    l.recordFailure('192.0.2.1');
    l.recordFailure('192.0.2.1');
    t.equal(l.retryAfter('192.0.2.1'), 60);
    clock.now = START + 90_000;
    t.equal(l.retryAfter('192.0.2.1'), 0);
    t.equal(l.recordFailure('192.0.2.1'), 0, 'one failure after the block: not blocked');
    t.equal(l.recordFailure('192.0.2.1'), START + 150_000, 'two: blocked again');
  });

  t.test('failures of one address never block another', async (t) => {
    const { limiter: l } = limiter(2);
    l.recordFailure('192.0.2.1');
    t.equal(l.recordFailure('192.0.2.2'), 0);
    t.equal(l.retryAfter('192.0.2.1'), 0);
    t.equal(l.retryAfter('192.0.2.2'), 0);
  });
});
