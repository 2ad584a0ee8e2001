import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { BufferedSample } from '../../../src/monitor/agent/sample-buffer.js';
import { SampleBuffer } from '../../../src/monitor/agent/sample-buffer.js';
import { SpillStore } from '../../../src/monitor/agent/spill-store.js';
import { tempDir } from '../../testkit/index.js';

function samples(n: number, tag: number): BufferedSample[] {
  return Array.from({ length: n }, (_, i) => ({ timeMs: tag * 1000 + i, metric: 'node_load1', value: tag + i / 1000, labels: { i: String(i) } }));
}

async function drain(buf: SampleBuffer): Promise<Array<{ seq: number; n: number; first: number }>> {
  const out: Array<{ seq: number; n: number; first: number }> = [];
  for (let after = 0, guard = 0; guard < 10_000; guard++) {
    const b = await buf.next(after);
    if (b === undefined) break;
    out.push({ seq: b.seq, n: b.samples.length, first: b.samples[0]!.timeMs });
    after = b.seq;
  }
  return out;
}

test('batches stay until acked; next() walks them in seq order; ack removes every seq <= n', async () => {
  const buf = new SampleBuffer({ maxSamples: 100 });
  assert.equal(await buf.append(samples(3, 1), false), 1);
  assert.equal(await buf.append(samples(3, 2), false), 2);
  assert.equal(await buf.append(samples(3, 3), false), 3);
  assert.deepEqual((await drain(buf)).map((b) => b.seq), [1, 2, 3]);
  await buf.ack(2);
  assert.equal(buf.ackedSeq, 2);
  assert.deepEqual((await drain(buf)).map((b) => b.seq), [3]);
  assert.equal(buf.pendingSamples, 3);
  await buf.ack(99); // past the last seq: clamped
  assert.equal(buf.ackedSeq, 3);
  assert.equal(await buf.next(0), undefined);
});

test('over the bound the oldest samples are dropped first, and every drop is counted', async () => {
  const buf = new SampleBuffer({ maxSamples: 10 });
  await buf.append(samples(4, 1), true);
  await buf.append(samples(4, 2), true);
  await buf.append(samples(4, 3), true); // 12 > 10: the 2 oldest samples of batch 1 go
  assert.equal(buf.droppedTotal, 2);
  assert.equal(buf.pendingSamples, 10);
  let b = await buf.next(0);
  assert.equal(b?.seq, 1);
  assert.equal(b?.samples[0]!.timeMs, 1002, 'the oldest samples were dropped, the newer ones of the batch kept');
  await buf.append(samples(9, 4), true); // 19 > 10: batch 1 (2 left), 2 (4), 3 (3 of 4) go
  assert.equal(buf.droppedTotal, 2 + 9);
  b = await buf.next(0);
  assert.equal(b?.seq, 3);
  assert.equal(b?.samples.length, 1);
  assert.equal(buf.pendingSamples, 10);
});

test('one batch larger than the bound keeps its newest samples', async () => {
  const buf = new SampleBuffer({ maxSamples: 5 });
  await buf.append(samples(8, 1), true);
  assert.equal(buf.droppedTotal, 3);
  assert.equal((await buf.next(0))?.samples[0]!.timeMs, 1003);
});

test('with a spill store, batches past the memory bound go to disk and come back in order', async (t) => {
  const dir = await tempDir(t);
  const spill = new SpillStore({ dir: join(dir, 'spill'), maxBytes: 10 * 1024 * 1024, segmentBytes: 2000 });
  const buf = new SampleBuffer({ maxSamples: 10, spill });
  await buf.init();
  for (let i = 1; i <= 20; i++) await buf.append(samples(5, i), true);
  assert.equal(buf.droppedTotal, 0);
  assert.equal(buf.pendingSamples, 100);
  assert.ok(spill.samples >= 90, 'most batches spilled');
  assert.ok((await readdir(join(dir, 'spill'))).length > 1, 'several segments');
  const all = await drain(buf);
  assert.deepEqual(
    all.map((b) => b.seq),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  assert.ok(all.every((b, i) => b.first === (i + 1) * 1000 && b.n === 5));
  await buf.ack(20);
  assert.equal(buf.pendingSamples, 0);
  assert.deepEqual(await readdir(join(dir, 'spill')), [], 'acked segments are deleted');
});

test('the spill store is bounded too: oldest segments dropped and counted', async (t) => {
  const dir = await tempDir(t);
  const spill = new SpillStore({ dir, maxBytes: 6000, segmentBytes: 1500 });
  const buf = new SampleBuffer({ maxSamples: 5, spill });
  await buf.init();
  for (let i = 1; i <= 60; i++) await buf.append(samples(5, i), true);
  assert.ok(buf.droppedTotal > 0, 'some samples dropped');
  assert.ok(spill.bytes <= 6000);
  assert.equal(buf.pendingSamples + buf.droppedTotal, 300, 'every sample is either pending or counted as dropped');
  const all = await drain(buf);
  assert.equal(all.at(-1)!.seq, 60, 'the newest batch is kept');
  for (let i = 1; i < all.length; i++) assert.ok(all[i]!.seq > all[i - 1]!.seq);
});

test('batches spilled by a previous process are taken back at start, renumbered from 1', async (t) => {
  const dir = await tempDir(t);
  const first = new SampleBuffer({ maxSamples: 5, spill: new SpillStore({ dir, maxBytes: 1024 * 1024 }) });
  await first.init();
  for (let i = 1; i <= 6; i++) await first.append(samples(5, i), true);
  // the process dies here; a new one starts on the same dir
  const second = new SampleBuffer({ maxSamples: 5, spill: new SpillStore({ dir, maxBytes: 1024 * 1024 }) });
  await second.init();
  const all = await drain(second);
  assert.deepEqual(
    all.map((b) => [b.seq, b.first]),
    [1, 2, 3, 4, 5].map((i) => [i, i * 1000]),
  );
  assert.equal(await second.append(samples(1, 9), false), 6);
});
