/**
 * Range queries over long ranges read the store's 1 m / 1 h rollups (SelectHints) where that gives the raw
 * answer, and the answers equal those over raw samples. A real store (src/monitor/tsdb) with 27 h of
 * 15 s samples, most of it in blocks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPromqlEngine, labelsKey, type Series } from '../../../src/monitor/promql/index.js';
import { createTsdb } from '../../../src/monitor/tsdb/index.js';
import type { SampleQuerier, SelectHints } from '../../../src/monitor/tsdb/types.js';
import { tempDir, type Cleanup } from '../../testkit/index.js';

const HOUR = 3_600_000;
const T0 = 1_700_006_400_000; // a multiple of 2 h
const SERIES = 12;

/** The store, and a querier over it that records the hints and resolutions of every select. */
async function setup(t: Cleanup): Promise<{ spy: SampleQuerier; calls: { hints: SelectHints | undefined; resolutionMs: number | undefined; rows: number }[] }> {
  const db = createTsdb({ dir: await tempDir(t), now: () => T0 + 30 * HOUR });
  await db.start();
  t.after(() => db.stop());
  // 27 h of samples every 15 s, 7 ms past the scrape grid (never exactly at a multiple of a minute).
  const values = Array.from({ length: SERIES }, (_, i) => i * 1000);
  for (let h = 0; h < 27; h++) {
    const batch: { labels: Record<string, string>; timeMs: number; value: number }[] = [];
    for (let k = 0; k < HOUR / 15_000; k++) {
      const timeMs = T0 + h * HOUR + k * 15_000 + 7;
      for (let i = 0; i < SERIES; i++) {
        // Counters for even series, gauges with 2 decimals (and a NaN now and then) for odd ones.
        values[i] = i % 2 === 0 ? values[i]! + ((k * 7 + i) % 13) : Math.round(((k * 31 + i * 17 + h) % 97) * 1.37 * 100) / 100;
        batch.push({ labels: { __name__: 'm', kind: i % 2 === 0 ? 'counter' : 'gauge', i: String(i) }, timeMs, value: i === 3 && k === 100 ? Number.NaN : values[i]! });
      }
    }
    assert.equal((await db.append(batch)).accepted, batch.length);
  }
  await db.compact();
  assert.ok(db.stats().blocks >= 11, 'most of the data is in blocks');
  const calls: { hints: SelectHints | undefined; resolutionMs: number | undefined; rows: number }[] = [];
  const spy: SampleQuerier = {
    async select(matchers, startMs, endMs, hints) {
      const data = await db.select(matchers, startMs, endMs, hints);
      calls.push({ hints, resolutionMs: data[0]?.resolutionMs, rows: data.reduce((n, d) => n + d.values.length, 0) });
      return data;
    },
    labelNames: (m) => db.labelNames(m),
    labelValues: (n, m) => db.labelValues(n, m),
  };
  return { spy, calls };
}

function assertSameSeries(got: Series[], want: Series[], query: string, relative = 0): void {
  const index = (ss: Series[]): Map<string, Series> => new Map(ss.map((s) => [labelsKey(s.labels), s]));
  const g = index(got);
  const w = index(want);
  assert.deepEqual([...g.keys()].sort(), [...w.keys()].sort(), query);
  for (const [k, ws] of w) {
    const gs = g.get(k)!;
    assert.deepEqual(gs.timestamps, ws.timestamps, `${query} ${k}`);
    ws.values.forEach((v, i) => {
      const x = gs.values[i]!;
      if (relative === 0 || Number.isNaN(v)) assert.ok(Object.is(x, v), `${query} ${k} at ${ws.timestamps[i]}: ${x} != ${v}`);
      else assert.ok(Math.abs(x - v) <= relative * Math.max(1, Math.abs(v)), `${query} ${k} at ${ws.timestamps[i]}: ${x} != ${v}`);
    });
  }
}

test('a 24 h range query reads the 1 h rollups and gives the raw answer; rate and unaligned steps read raw samples', async (t) => {
  const { spy, calls } = await setup(t);
  const rolled = createPromqlEngine({ querier: spy });
  const raw = createPromqlEngine({ querier: spy, useRollups: false });
  const start = T0 + 2 * HOUR;
  const end = T0 + 26 * HOUR;
  const cases: [string, SelectHints | undefined, number][] = [
    ['m', { stepMs: HOUR, aggregate: 'last' }, 0],
    ['max_over_time(m[1h])', { stepMs: HOUR, aggregate: 'max' }, 0],
    ['min_over_time(m{kind="gauge"}[2h])', { stepMs: HOUR, aggregate: 'min' }, 0],
    ['last_over_time(m[1h])', { stepMs: HOUR, aggregate: 'last' }, 0],
    ['count_over_time(m[3h])', { stepMs: HOUR, aggregate: 'count' }, 0],
    ['sum_over_time(m[1h])', { stepMs: HOUR, aggregate: 'sum' }, 1e-12],
    ['sum by (kind) (max_over_time(m[1h])) / on (kind) group_left count by (kind) (m)', { stepMs: HOUR, aggregate: 'max' }, 1e-12],
    ['rate(m{kind="counter"}[1h])', undefined, 0],
  ];
  for (const [query, hints, relative] of cases) {
    calls.length = 0;
    const want = await raw.rangeQuery(query, start, end, HOUR);
    assert.ok(calls.every((c) => c.hints === undefined && c.resolutionMs === undefined), `${query}: raw engine reads raw`);
    const rawRows = calls.reduce((n, c) => n + c.rows, 0);
    calls.length = 0;
    const got = await rolled.rangeQuery(query, start, end, HOUR);
    assert.deepEqual(calls[0]!.hints, hints, query);
    if (hints !== undefined) {
      assert.equal(calls[0]!.resolutionMs, HOUR, `${query}: the store answered from its 1 h rollups`);
      assert.ok(calls.reduce((n, c) => n + c.rows, 0) * 50 < rawRows, `${query}: far fewer rows than raw samples`);
    }
    assert.ok(want.length > 0 && want[0]!.timestamps.length === 25, query);
    assertSameSeries(got, want, query, relative);
  }

  // 1 m steps over 3 h: the 1 m rollups.
  calls.length = 0;
  const m1 = await rolled.rangeQuery('max_over_time(m[5m])', T0 + 20 * HOUR, T0 + 23 * HOUR, 60_000);
  assert.deepEqual(calls[0]!.hints, { stepMs: 60_000, aggregate: 'max' });
  assert.equal(calls[0]!.resolutionMs, 60_000);
  assertSameSeries(m1, await raw.rangeQuery('max_over_time(m[5m])', T0 + 20 * HOUR, T0 + 23 * HOUR, 60_000), 'max_over_time 1m');

  // A start that is not a multiple of the resolution, a range that is not, a subquery: raw samples.
  for (const [query, s] of [['m', start + 30_000], ['max_over_time(m[90s])', start], ['max_over_time(m[2h:1h])', start]] as const) {
    calls.length = 0;
    const got = await rolled.rangeQuery(query, s, end, HOUR);
    assert.ok(calls.every((c) => c.hints === undefined), `${query}: raw`);
    assertSameSeries(got, await raw.rangeQuery(query, s, end, HOUR), query);
  }
});
