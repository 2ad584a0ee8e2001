import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelayMs, retry } from '../../src/core/backoff.js';
import { Code, FlotillaError } from '../../src/core/errors.js';

describe('backoff', () => {
  it('grows exponentially up to the cap', () => {
    const delays = [0, 1, 2, 3, 10].map((a) => backoffDelayMs(a, { baseMs: 100, maxMs: 1000, jitter: 'none' }));
    assert.deepEqual(delays, [100, 200, 400, 800, 1000]);
  });

  it('jitters within [0, ceiling] (full) and [ceiling/2, ceiling] (equal)', () => {
    for (let i = 0; i < 100; i++) {
      const full = backoffDelayMs(3, { baseMs: 100 });
      assert.ok(full >= 0 && full <= 800);
      const equal = backoffDelayMs(3, { baseMs: 100, jitter: 'equal' });
      assert.ok(equal >= 400 && equal <= 800);
    }
  });

  it('retries retryable errors and then succeeds', async () => {
    const slept: number[] = [];
    let calls = 0;
    const value = await retry(
      async () => {
        calls += 1;
        if (calls < 3) throw new FlotillaError(Code.UNAVAILABLE, 'down');
        return 'ok';
      },
      { sleep: async (ms) => void slept.push(ms), jitter: 'none', baseMs: 10 },
    );
    assert.equal(value, 'ok');
    assert.equal(calls, 3);
    assert.deepEqual(slept, [10, 20]);
  });

  it('does not retry an error that is not retryable', async () => {
    let calls = 0;
    await assert.rejects(
      retry(
        async () => {
          calls += 1;
          throw new FlotillaError(Code.INVALID_ARGUMENT, 'bad');
        },
        { sleep: async () => undefined },
      ),
      /bad/,
    );
    assert.equal(calls, 1);
  });

  it('gives up after the given number of retries', async () => {
    let calls = 0;
    await assert.rejects(
      retry(
        async () => {
          calls += 1;
          throw new FlotillaError(Code.UNAVAILABLE, 'down');
        },
        { retries: 2, sleep: async () => undefined },
      ),
    );
    assert.equal(calls, 3);
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    let calls = 0;
    await assert.rejects(
      retry(
        async () => {
          calls += 1;
          controller.abort();
          throw new FlotillaError(Code.UNAVAILABLE, 'down');
        },
        { signal: controller.signal, retries: Infinity },
      ),
    );
    assert.equal(calls, 1);
  });
});
