import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateTracker, counterIncrease, counterRate } from '../../../src/monitor/agent/rate.js';

test('a growing counter gives its increase per second', () => {
  assert.equal(counterRate(100, 300, 2), 100);
  assert.equal(counterRate(5, 5, 1), 0);
});

test('a 32-bit counter that wraps counts the increase across the wrap', () => {
  assert.equal(counterIncrease(2 ** 32 - 100, 50), 150);
  assert.equal(counterRate(2 ** 32 - 1000, 1000, 2), 1000);
});

test('a counter that resets counts from zero (Prometheus rule), never negative', () => {
  assert.equal(counterIncrease(1_000_000, 300), 300); // lower half of the 32-bit range: a reset, not a wrap
  assert.equal(counterIncrease(2 ** 40, 10), 10); // a 64-bit counter that restarted
  assert.equal(counterIncrease(3_000_000_000, 3_000_000_000 - 1), 2_999_999_999); // upper-half to upper-half: a reset
});

test('no rate without elapsed time or with non-finite input: never NaN or Infinity', () => {
  for (const [a, b, s] of [
    [1, 2, 0],
    [1, 2, -1],
    [1, 2, Number.NaN],
    [Number.NaN, 2, 1],
    [1, Number.POSITIVE_INFINITY, 1],
    [-5, 2, 1],
    [1, 2, Number.POSITIVE_INFINITY],
  ] as const) {
    assert.equal(counterRate(a, b, s), undefined, `${a} -> ${b} in ${s} s`);
  }
});

test('RateTracker: nothing on the first reading, then rates; a series gone for a round starts over', () => {
  const r = new RateTracker();
  assert.equal(r.rate('eth0', 100, 0), undefined);
  r.endRound();
  assert.equal(r.rate('eth0', 300, 1000), 200);
  r.endRound();
  r.endRound(); // eth0 absent for a round (interface removed)
  assert.equal(r.rate('eth0', 50, 3000), undefined);
});
