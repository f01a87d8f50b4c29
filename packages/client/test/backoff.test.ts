import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { exponentialBackoff } from '../src/backoff.js';
import { RetryTimer } from '../src/retry-timer.js';

test('the default backoff doubles its ceiling from 250 ms up to 10 s', () => {
  const highest = exponentialBackoff(250, 10_000, () => 1);
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8].map(highest),
    [250, 500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000],
  );
  const lowest = exponentialBackoff(250, 10_000, () => 0);
  assert.deepEqual([1, 5, 50].map(lowest), [250, 250, 250]);
});

test('full jitter: any delay between the floor and the ceiling', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1_000 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (tries, r) => {
        const delay = exponentialBackoff(250, 10_000, () => r)(tries);
        return delay >= 250 && delay <= Math.min(10_000, 250 * 2 ** (tries - 1));
      },
    ),
  );
  const delays = new Set(Array.from({ length: 20 }, () => exponentialBackoff()(6)));
  assert.ok(delays.size > 1, 'randomised');
});

test('RetryTimer counts tries until reset', async () => {
  const seen: number[] = [];
  let calls = 0;
  const timer = new RetryTimer(
    () => calls++,
    (tries) => {
      seen.push(tries);
      return 1;
    },
  );
  timer.schedule();
  timer.schedule(); // replaces the first: one call, two tries counted
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(calls, 1);
  timer.schedule();
  assert.deepEqual(seen, [1, 2, 3]);
  timer.reset();
  timer.schedule();
  assert.deepEqual(seen, [1, 2, 3, 1]);
  timer.cancel();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(calls, 1);
});
