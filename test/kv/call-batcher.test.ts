import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
});
