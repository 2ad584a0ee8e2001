import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AutoCompactor, compactionIntervalMs } from '../../../src/coord/embedded/auto-compactor.js';

function setup(retentionMs: number) {
  let now = 0;
  let rev = 1;
  let compacted = 0;
  const calls: number[] = [];
  const compactor = new AutoCompactor({
    retentionMs,
    clock: { now: () => now },
    currentRevision: () => rev,
    compactedRevision: () => compacted,
    compact: async (r) => {
      calls.push(r);
      compacted = r;
    },
  });
  return {
    compactor,
    calls,
    advance(ms: number, revs: number) {
      now += ms;
      rev += revs;
    },
  };
}

describe('automatic compaction', () => {
  it('keeps the retention window and compacts to the newest revision older than it', async () => {
    const s = setup(60_000);
    await s.compactor.tick(); // t=0, rev 1
    s.advance(30_000, 10);
    await s.compactor.tick(); // t=30 s, rev 11
    assert.deepEqual(s.calls, [], 'nothing is old enough yet');
    s.advance(30_000, 10);
    assert.equal(await s.compactor.tick(), 1); // t=60 s: the t=0 sample (rev 1) is old enough, but rev 1 > compacted 0
    s.advance(30_000, 10);
    assert.equal(await s.compactor.tick(), 11); // t=90 s: rev 11 (sampled at 30 s) is 60 s old
    s.advance(30_000, 0);
    assert.equal(await s.compactor.tick(), 21);
    assert.deepEqual(s.calls, [1, 11, 21]);
  });

  it('does not compact again when no write happened', async () => {
    const s = setup(1000);
    await s.compactor.tick();
    s.advance(1000, 5);
    await s.compactor.tick();
    s.advance(1000, 0);
    await s.compactor.tick();
    s.advance(1000, 0);
    await s.compactor.tick();
    assert.deepEqual(s.calls, [1, 6]);
  });

  it('runs a tenth of the retention apart, between 1 s and 5 min', () => {
    assert.equal(compactionIntervalMs(3_600_000), 300_000);
    assert.equal(compactionIntervalMs(60_000), 6000);
    assert.equal(compactionIntervalMs(100), 1000);
  });
});
