import assert from 'node:assert/strict';
import { appendFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createTsdb, type Tsdb, type TsdbOptions } from '../../../src/monitor/tsdb/index.js';
import type { Cleanup } from '../../testkit/index.js';
import { tempDir } from '../../testkit/index.js';

const HOUR = 3_600_000;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % HOUR);

async function open(t: Cleanup, dir: string, opts: Partial<TsdbOptions> = {}): Promise<Tsdb> {
  const db = createTsdb({ dir, blockMs: HOUR, now: () => T0 + 10 * HOUR, ...opts });
  await db.start();
  t.after(() => db.stop());
  return db;
}

const cpu = (host: string, mode: string): Record<string, string> => ({ __name__: 'cpu_seconds', host, mode });

describe('time-series store', () => {
  it('appends, selects by matchers and time range, lists labels', async (t) => {
    const db = await open(t, await tempDir(t));
    const r = await db.append([
      { labels: cpu('a', 'user'), timeMs: T0 + 1000, value: 1 },
      { labels: cpu('a', 'user'), timeMs: T0 + 2000, value: 2 },
      { labels: cpu('a', 'system'), timeMs: T0 + 1000, value: 10 },
      { labels: { mode: 'user', host: 'b', __name__: 'cpu_seconds' }, timeMs: T0 + 1000, value: 5 },
    ]);
    assert.deepEqual(r, { accepted: 4, rejected: {} });
    const got = await db.select([{ name: '__name__', type: '=', value: 'cpu_seconds' }, { name: 'mode', type: '=', value: 'user' }], T0, T0 + 1500);
    assert.deepEqual(got, [
      { labels: cpu('a', 'user'), timestamps: [T0 + 1000], values: [1] },
      { labels: cpu('b', 'user'), timestamps: [T0 + 1000], values: [5] },
    ]);
    assert.deepEqual(await db.labelNames(), ['__name__', 'host', 'mode']);
    assert.deepEqual(await db.labelValues('mode'), ['system', 'user']);
    assert.deepEqual(await db.labelValues('host', [{ name: 'mode', type: '=', value: 'system' }]), ['a']);
    assert.deepEqual(await db.select([{ name: 'host', type: '=~', value: 'a' }], T0 + 5000, T0 + 9000), []);
  });

  it('refuses and counts out-of-order, duplicate, bad samples; stores NaN and infinities', async (t) => {
    const db = await open(t, await tempDir(t));
    await db.append([{ labels: cpu('a', 'user'), timeMs: T0 + 5000, value: 1 }]);
    const r = await db.append([
      { labels: cpu('a', 'user'), timeMs: T0 + 4000, value: 2 },
      { labels: cpu('a', 'user'), timeMs: T0 + 5000, value: 3 },
      { labels: { host: 'a' }, timeMs: T0, value: 1 },
      { labels: { __name__: 'x\u0000' }, timeMs: T0, value: 1 },
      { labels: { __name__: 'x' }, timeMs: 1.5, value: 1 },
      { labels: cpu('a', 'user'), timeMs: T0 + 6000, value: Number.NaN },
      { labels: cpu('a', 'user'), timeMs: T0 + 7000, value: Number.NEGATIVE_INFINITY },
    ]);
    assert.deepEqual(r, { accepted: 2, rejected: { out_of_order: 1, duplicate: 1, bad_labels: 2, bad_time: 1 } });
    const [s] = await db.select([{ name: 'host', type: '=', value: 'a' }], 0, T0 + HOUR);
    assert.deepEqual(s!.timestamps, [T0 + 5000, T0 + 6000, T0 + 7000]);
    assert.deepEqual(s!.values, [1, Number.NaN, Number.NEGATIVE_INFINITY]);
    assert.deepEqual(db.stats().rejected, { out_of_order: 1, duplicate: 1, bad_labels: 2, bad_time: 1 });
  });

  it('series guards per host and per metric refuse new series and count them', async (t) => {
    const db = await open(t, await tempDir(t), { maxSeriesPerHost: 3, maxSeriesPerMetric: 4 });
    const samples = [];
    for (let i = 0; i < 5; i++) samples.push({ metric: 'm1', labels: { i: String(i) }, timeMs: T0 + 1000, value: i });
    const a = await db.appendHost('h1', samples);
    assert.deepEqual(a, { accepted: 3, rejected: { series_limit_host: 2 } });
    const b = await db.appendHost('h2', samples.slice(0, 2));
    assert.deepEqual(b, { accepted: 1, rejected: { series_limit_metric: 1 } });
    // Known series keep taking samples.
    const c = await db.appendHost('h1', [{ metric: 'm1', labels: { i: '0' }, timeMs: T0 + 2000, value: 9 }]);
    assert.deepEqual(c, { accepted: 1, rejected: {} });
    assert.equal(db.stats().headSeries, 4);
  });

  it('a restart without a clean stop replays the WAL; a torn tail is cut off', async (t) => {
    const dir = await tempDir(t);
    const db1 = createTsdb({ dir, blockMs: HOUR });
    await db1.start();
    for (let i = 0; i < 100; i++) await db1.appendHost('h', [{ metric: 'up', labels: { job: 'x' }, timeMs: T0 + i * 1000, value: i }]);
    // No stop(): as after kill -9. A torn record at the end (a write cut short).
    const segs = await readdir(join(dir, 'wal'));
    assert.equal(segs.length, 1);
    await appendFile(join(dir, 'wal', segs[0]!), Buffer.from([200, 0, 0, 0, 1, 2, 3]));
    const db2 = await open(t, dir);
    const [s] = await db2.select([{ name: '__name__', type: '=', value: 'up' }], 0, T0 + HOUR);
    assert.deepEqual(s!.labels, { __name__: 'up', host: 'h', job: 'x' });
    assert.equal(s!.values.length, 100);
    assert.deepEqual(s!.values.slice(-2), [98, 99]);
    // Appending after the replay continues the same series; a second replay sees both.
    await db2.appendHost('h', [{ metric: 'up', labels: { job: 'x' }, timeMs: T0 + 200_000, value: 200 }]);
    await db2.appendHost('h', [{ metric: 'up', labels: { job: 'y' }, timeMs: T0 + 200_000, value: 201 }]);
    const db3 = createTsdb({ dir, blockMs: HOUR });
    await db3.start();
    t.after(() => db3.stop());
    const all = await db3.select([], 0, T0 + HOUR);
    assert.deepEqual(all.map((x) => [x.labels.job, x.values.length, x.values.at(-1)]), [['x', 101, 200], ['y', 1, 201]]);
    void db1;
  });

  it('windows become blocks with rollups; blocks survive restarts; the head moves on', async (t) => {
    const dir = await tempDir(t);
    const db = await open(t, dir);
    // 3.5 h of 10 s samples for two series: the first two windows become blocks.
    for (let k = 0; k < (3.5 * HOUR) / 10_000; k++) {
      const tm = T0 + k * 10_000;
      await db.appendHost('h', [
        { metric: 'c', labels: {}, timeMs: tm, value: k },
        { metric: 'g', labels: {}, timeMs: tm, value: k % 7 },
      ]);
    }
    await db.compact();
    const st = db.stats();
    assert.equal(st.blocks, 2);
    assert.equal(st.blockSamples, 2 * 360 * 2);
    assert.ok(st.blockBytes > 0);
    assert.equal((await readdir(join(dir, 'wal'))).length, 2, 'the WAL of the blocks is gone');
    // A sample into a window that is now a block is refused.
    assert.deepEqual(await db.appendHost('h', [{ metric: 'new', labels: {}, timeMs: T0 + 1000, value: 1 }]), { accepted: 0, rejected: { too_old: 1 } });

    const raw = await db.select([{ name: '__name__', type: '=', value: 'c' }], T0, T0 + 4 * HOUR);
    assert.equal(raw[0]!.values.length, 1260);
    assert.deepEqual(raw[0]!.values.slice(0, 3), [0, 1, 2]);
    // 1 m rollups: one point per minute (windows closed on the right: (T0, T0 + 1m] ...), stamped at its
    // last sample, 'last' by default.
    const m1 = await db.select([{ name: '__name__', type: '=', value: 'c' }], T0, T0 + 4 * HOUR, { stepMs: 60_000 });
    assert.equal(m1[0]!.resolutionMs, 60_000);
    assert.equal(m1[0]!.values.length, 211);
    assert.deepEqual([m1[0]!.timestamps[0], m1[0]!.values[0]], [T0, 0]);
    assert.deepEqual([m1[0]!.timestamps[1], m1[0]!.values[1]], [T0 + 60_000, 6]);
    const h1 = await db.select([{ name: '__name__', type: '=', value: 'g' }], T0, T0 + 4 * HOUR, { stepMs: HOUR, aggregate: 'max' });
    assert.deepEqual(h1[0]!.values, [0, 6, 6, 6, 6]);
    // The window (T0 + 1h, T0 + 2h] has its last sample in the next block: its two rows are joined.
    const cnt = await db.select([{ name: '__name__', type: '=', value: 'g' }], T0, T0 + 4 * HOUR, { stepMs: 2 * HOUR, aggregate: 'count' });
    assert.deepEqual(cnt[0]!.values, [1, 360, 360, 360, 179]);
    assert.deepEqual(cnt[0]!.timestamps.slice(0, 3), [T0, T0 + HOUR, T0 + 2 * HOUR]);
    const avg = await db.select([{ name: '__name__', type: '=', value: 'c' }], T0, T0 + HOUR, { stepMs: HOUR, aggregate: 'avg' });
    assert.deepEqual(avg[0]!.values, [0, 180.5]);
    await db.stop();

    const again = await open(t, dir);
    const raw2 = await again.select([{ name: '__name__', type: '=~', value: 'c|g' }], T0, T0 + 4 * HOUR);
    assert.deepEqual(raw2.map((s) => s.values.length), [1260, 1260]);
    assert.deepEqual(raw2[0]!.values, raw[0]!.values);
    assert.deepEqual(await again.labelValues('__name__'), ['c', 'g']);
  });

  it('retention deletes blocks older than the retention and the oldest beyond the size limit', async (t) => {
    const dir = await tempDir(t);
    let nowMs = T0 + 5 * HOUR;
    const db = await open(t, dir, { retentionMs: 10 * HOUR, now: () => nowMs });
    for (let k = 0; k < (4.4 * HOUR) / 60_000; k++) await db.appendHost('h', [{ metric: 'c', labels: {}, timeMs: T0 + k * 60_000, value: k }]);
    await db.compact();
    assert.equal(db.stats().blocks, 3);
    nowMs = T0 + 11.5 * HOUR; // the first block (T0..T0+1h) ended 10.5 h ago
    await db.compact();
    assert.equal(db.stats().blocks, 2);
    const [s] = await db.select([], 0, T0 + 10 * HOUR);
    assert.equal(s!.timestamps[0], T0 + HOUR);
    await db.stop();
    const blockDirs = await readdir(join(dir, 'blocks'));
    const oneBlock = (await stat(join(dir, 'blocks', blockDirs[0]!, 'chunks.bin'))).size + (await stat(join(dir, 'blocks', blockDirs[0]!, 'index.bin'))).size;
    const small = await open(t, dir, { retentionMs: 100 * HOUR, maxBytes: oneBlock + 10, now: () => nowMs });
    await small.compact();
    assert.equal(small.stats().blocks, 1);
    assert.equal((await small.select([], 0, T0 + 10 * HOUR))[0]!.timestamps[0], T0 + 2 * HOUR);
  });

  it('series refs: resolved once, appended by ref and value, durable, guarded, resolved again after leaving the head', async (t) => {
    const dir = await tempDir(t);
    const db = await open(t, dir, { maxSeriesPerHost: 3 });
    const refs = ['user', 'system', 'idle'].map((mode) => db.seriesRef('a', 'cpu_seconds', { mode }));
    assert.equal(db.seriesRef('a', 'cpu_seconds', { mode: 'irq' }), 'series_limit_host');
    assert.equal(db.seriesRef('a', 'cpu_seconds', { mode: 'x\u0000' }), 'bad_labels');
    const ok = refs.filter((r) => typeof r !== 'string');
    assert.equal(ok.length, 3);
    assert.deepEqual(ok[0]!.labels, cpu('a', 'user'));
    assert.equal(db.seriesRef('a', 'cpu_seconds', { mode: 'user' }), ok[0], 'the same series, the same ref');
    assert.deepEqual(await db.appendRefs(T0 + 1000, ok, [1, 2, 3]), { accepted: 3, rejected: {} });
    assert.deepEqual(await db.appendRefs(T0 + 2000, ok, new Float64Array([4, 5, 6])), { accepted: 3, rejected: {} });
    assert.deepEqual(await db.appendRefs(T0 + 2000, ok.slice(0, 1), [7]), { accepted: 0, rejected: { duplicate: 1 } });
    await assert.rejects(db.appendRefs(T0 + 3000, ok, [1]), /\[invalid_argument\] appendRefs: 3 refs but 1 values/);
    await assert.rejects(db.appendRefs(T0 + 3000, [{ labels: cpu('a', 'user') }], [1]), /not a ref from seriesRef/);
    // The same as appendHost would have stored; after a restart (WAL replay) too.
    const want = [
      { labels: cpu('a', 'idle'), timestamps: [T0 + 1000, T0 + 2000], values: [3, 6] },
      { labels: cpu('a', 'system'), timestamps: [T0 + 1000, T0 + 2000], values: [2, 5] },
      { labels: cpu('a', 'user'), timestamps: [T0 + 1000, T0 + 2000], values: [1, 4] },
    ];
    assert.deepEqual(await db.select([], 0, T0 + HOUR), want);
    await db.stop();
    const again = await open(t, dir, { maxSeriesPerHost: 3 });
    assert.deepEqual(await again.select([], 0, T0 + HOUR), want);
    // A ref kept while its series left the head (a window without samples) still appends.
    const user = again.seriesRef('a', 'cpu_seconds', { mode: 'user' });
    assert.ok(typeof user !== 'string');
    await again.appendHost('b', [{ metric: 'up', labels: {}, timeMs: T0 + 3 * HOUR, value: 1 }]);
    await again.compact();
    assert.equal(again.stats().headSeries, 1);
    assert.deepEqual(await again.appendRefs(T0 + 3 * HOUR, [user], [9]), { accepted: 1, rejected: {} });
    const [s] = await again.select([{ name: 'mode', type: '=', value: 'user' }], 0, T0 + 4 * HOUR);
    assert.deepEqual(s!.values, [1, 4, 9]);
  });

  it('bad arguments are clear errors', async (t) => {
    const db = await open(t, await tempDir(t));
    await assert.rejects(db.select([{ name: 'a', type: '=~', value: '[' }], 0, 1), /\[invalid_argument\] invalid regular expression/);
    await assert.rejects(db.select([], 0, Number.NaN), /finite/);
    await assert.rejects(db.select([], 0, 1, { stepMs: HOUR, aggregate: 'median' as never }), /unknown aggregate "median"/);
    assert.throws(() => createTsdb({ dir: '/nonexistent', blockMs: 1000 }), /blockMs/);
    await db.stop();
    await assert.rejects(db.append([{ labels: { __name__: 'x' }, timeMs: 1, value: 1 }]), /\[unavailable\] the time-series store is stopped/);
  });
});
