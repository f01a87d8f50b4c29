import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newEpoch } from '../src/index.js';

test('epochs are 12 letters and digits, all distinct across several refills of the random pool', () => {
  const seen = new Set<string>();
  // 12 bytes or more per epoch: 5,000 epochs draw the 4 KiB pool more than ten times.
  for (let i = 0; i < 5_000; i++) {
    const epoch = newEpoch();
    assert.match(epoch, /^[A-Za-z0-9]{12}$/);
    seen.add(epoch);
  }
  assert.equal(seen.size, 5_000);
});
