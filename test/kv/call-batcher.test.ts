import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { CallBatcher } from '../../src/kv/replica/call-batcher.js';

describe('CallBatcher', () => {
  it('coalesces calls made while requests are in flight, bounded by items and bytes', async () => {
    const sent: number[][] = [];
    const b = new CallBatcher<number, number>(
      async (items) => {
        sent.push(items);
        await new Promise((r) => setImmediate(r));
        return items.map((i) => i * 10);
      },
      1,
      4,
      (i) => i,
      10,
    );
    const out = await Promise.all([1, 2, 3, 4, 5, 6, 20, 1].map((i) => b.submit(i)));
    assert.deepEqual(out, [10, 20, 30, 40, 50, 60, 200, 10]);
    // The first goes alone (idle); then at most 4 items and 10 bytes per request, one oversized item alone.
    assert.deepEqual(sent, [[1], [2, 3, 4], [5], [6], [20], [1]]);
  });

  it('gives every caller of a failed request its error', async () => {
    const b = new CallBatcher<number, number>(async () => {
      throw new Error('peer gone');
    });
    const results = await Promise.allSettled([1, 2, 3].map((i) => b.submit(i)));
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
  });

  it('refuses calls beyond its queue bound at once, by items and by bytes, and takes them again once drained', async () => {
    const releases: (() => void)[] = [];
    const b = new CallBatcher<number, number>(
      (items) => new Promise<number[]>((resolve) => releases.push(() => resolve(items))),
      1,
      100,
      (i) => i,
      Infinity,
      { items: 3, bytes: 50 },
    );
    const first = b.submit(1); // in flight
    const queued = [b.submit(2), b.submit(3), b.submit(4)];
    assert.equal(b.waiting, 3);
    await assert.rejects(b.submit(5), (err: unknown) => err instanceof FlotillaError && err.code === Code.RESOURCE_EXHAUSTED && /slower than the load/.test(err.message));
    releases.shift()!();
    assert.deepEqual(await first, 1);
    await new Promise((r) => setImmediate(r));
    // The three waiting left in one request; the queue is empty again, and bytes now bound it.
    assert.equal(b.waiting, 0);
    const big = [b.submit(30), b.submit(15)];
    await assert.rejects(b.submit(10), (err: unknown) => err instanceof FlotillaError && err.code === Code.RESOURCE_EXHAUSTED);
    while (releases.length > 0 || b.waiting > 0) {
      await new Promise((r) => setImmediate(r));
      releases.shift()?.();
    }
    assert.deepEqual(await Promise.all(queued), [2, 3, 4]);
    assert.deepEqual(await Promise.all(big), [30, 15]);
  });
});
