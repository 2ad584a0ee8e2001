import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPromqlEngine, formatFloat, labelsKey, PromqlExecutionError, type Value } from '../../../src/monitor/promql/index.js';
import { MemoryStore } from './memory-store.js';

function fixture(): MemoryStore {
  const s = new MemoryStore();
  // A counter sampled every 10 s from t=0 to t=60 s: 0, 10, 20, 30, 5 (reset), 15, 25.
  [0, 10, 20, 30, 5, 15, 25].forEach((v, i) => s.add({ __name__: 'c', job: 'a' }, i * 10_000, v));
  // Gauges.
  s.add({ __name__: 'g', host: 'x', zone: '1' }, 60_000, 3);
  s.add({ __name__: 'g', host: 'y', zone: '1' }, 60_000, 7);
  s.add({ __name__: 'g', host: 'z', zone: '2' }, 60_000, NaN);
  s.add({ __name__: 'h', host: 'x', zone: '1' }, 60_000, 2);
  s.add({ __name__: 'h', host: 'y', zone: '1' }, 60_000, 4);
  return s;
}

function byLabels(v: Value): Record<string, number> {
  assert.equal(v.type, 'vector');
  const out: Record<string, number> = {};
  if (v.type === 'vector') for (const s of v.samples) out[labelsKey(s.labels)] = s.value;
  return out;
}
const k = (l: Record<string, string>): string => labelsKey(l);

test('rate, increase and delta extrapolate as Prometheus; irate uses the last two samples', async () => {
  const e = createPromqlEngine({ querier: fixture() });
  // Window [0, 60 s]: samples at 0..60 s, resets add 30: increase 25 + 30 = 55 over 60 s sampled; no extrapolation needed.
  assert.deepEqual(byLabels(await e.instantQuery('increase(c[1m])', 60_000)), { [k({ job: 'a' })]: 55 });
  assert.ok(Math.abs(byLabels(await e.instantQuery('rate(c[1m])', 60_000))[k({ job: 'a' })]! - 55 / 60) < 1e-12);
  // Window [5 s, 65 s]: samples 10 s..60 s (50 s sampled, avg 10 s); start gap 5 s < 11 s -> +5 s; end gap 5 s -> +5 s.
  // increase 15 + 30 (reset) = 45; counter zero point: 50 * 10/45 = 11.1 s > 5 s, so factor 60/50.
  assert.ok(Math.abs(byLabels(await e.instantQuery('increase(c[1m])', 65_000))[k({ job: 'a' })]! - 45 * 1.2) < 1e-9);
  // delta does not correct resets: 25 - 10 = 15, factor 1.2.
  assert.ok(Math.abs(byLabels(await e.instantQuery('delta(c[1m])', 65_000))[k({ job: 'a' })]! - 18) < 1e-9);
  // irate: last two 15 -> 25 over 10 s.
  assert.deepEqual(byLabels(await e.instantQuery('irate(c[1m])', 60_000)), { [k({ job: 'a' })]: 1 });
  // irate across the reset (30 -> 5 at 40 s): 5 / 10 s.
  assert.deepEqual(byLabels(await e.instantQuery('irate(c[25s])', 40_000)), { [k({ job: 'a' })]: 0.5 });
  // One sample in the window: no result.
  assert.deepEqual(byLabels(await e.instantQuery('rate(c[5s])', 60_000)), {});
});

test('over_time functions, offset and the 5 minute lookback', async () => {
  const e = createPromqlEngine({ querier: fixture() });
  const one = async (q: string, t: number): Promise<number | undefined> => Object.values(byLabels(await e.instantQuery(q, t)))[0];
  assert.equal(await one('sum_over_time(c[30s])', 60_000), 30 + 5 + 15 + 25);
  assert.equal(await one('count_over_time(c[30s])', 60_000), 4);
  assert.equal(await one('avg_over_time(c[30s])', 60_000), 75 / 4);
  assert.equal(await one('min_over_time(c[1m])', 60_000), 0);
  assert.equal(await one('max_over_time(c[1m])', 60_000), 30);
  assert.equal(await one('last_over_time(c[1m])', 60_000), 25);
  assert.ok(Object.keys(byLabels(await e.instantQuery('last_over_time(c[1m])', 60_000)))[0]!.includes('__name__'), 'last_over_time keeps the metric name');
  assert.equal(await one('c offset 30s', 60_000), 30);
  assert.equal(await one('c', 60_000 + 300_000), 25, 'a sample exactly 5 m old is still seen');
  assert.equal(await one('c', 60_001 + 300_000), undefined, 'older than 5 m is not');
});

test('aggregations, topk, NaN, arithmetic and comparisons', async () => {
  const e = createPromqlEngine({ querier: fixture() });
  const t = 60_000;
  assert.deepEqual(byLabels(await e.instantQuery('sum by (zone) (g{zone="1"})', t)), { [k({ zone: '1' })]: 10 });
  assert.deepEqual(byLabels(await e.instantQuery('avg without (host) (g{zone="1"})', t)), { [k({ zone: '1' })]: 5 });
  assert.deepEqual(byLabels(await e.instantQuery('count(g)', t)), { [k({})]: 3 });
  assert.deepEqual(byLabels(await e.instantQuery('max(g)', t)), { [k({})]: 7 }, 'max skips NaN');
  assert.deepEqual(byLabels(await e.instantQuery('min by (zone) (g)', t)), { [k({ zone: '1' })]: 3, [k({ zone: '2' })]: NaN });
  assert.deepEqual(byLabels(await e.instantQuery('topk(1, g)', t)), { [k({ __name__: 'g', host: 'y', zone: '1' })]: 7 });
  assert.deepEqual(byLabels(await e.instantQuery('bottomk(1, g)', t)), { [k({ __name__: 'g', host: 'x', zone: '1' })]: 3 });
  assert.deepEqual(byLabels(await e.instantQuery('topk(0, g)', t)), {});
  assert.deepEqual(byLabels(await e.instantQuery('g / h', t)), { [k({ host: 'x', zone: '1' })]: 1.5, [k({ host: 'y', zone: '1' })]: 1.75 });
  assert.deepEqual(byLabels(await e.instantQuery('g - on (host) h', t)), { [k({ host: 'x' })]: 1, [k({ host: 'y' })]: 3 });
  assert.deepEqual(byLabels(await e.instantQuery('g > 4', t)), { [k({ __name__: 'g', host: 'y', zone: '1' })]: 7 });
  assert.deepEqual(byLabels(await e.instantQuery('g > bool 4', t)), { [k({ host: 'x', zone: '1' })]: 0, [k({ host: 'y', zone: '1' })]: 1, [k({ host: 'z', zone: '2' })]: 0 });
  assert.deepEqual(byLabels(await e.instantQuery('5 > g', t)), { [k({ __name__: 'g', host: 'x', zone: '1' })]: 3 });
  assert.deepEqual(byLabels(await e.instantQuery('g > h', t)), { [k({ __name__: 'g', host: 'x', zone: '1' })]: 3, [k({ __name__: 'g', host: 'y', zone: '1' })]: 7 });
  assert.deepEqual(byLabels(await e.instantQuery('g unless h', t)), { [k({ __name__: 'g', host: 'z', zone: '2' })]: NaN });
  assert.deepEqual(byLabels(await e.instantQuery('clamp_max(clamp_min(g{zone="1"}, 4), 5)', t)), { [k({ host: 'x', zone: '1' })]: 4, [k({ host: 'y', zone: '1' })]: 5 });
  assert.deepEqual(byLabels(await e.instantQuery('ceil(vector(0.2)) + floor(vector(-0.9)) + abs(vector(-3))', t)), { [k({})]: 1 - 1 + 3 });
  assert.deepEqual(byLabels(await e.instantQuery('round(g{zone="1"} / 4, 0.5)', t)), { [k({ host: 'x', zone: '1' })]: 1, [k({ host: 'y', zone: '1' })]: 2 });
  const s = await e.instantQuery('2 ^ 10 % 1000 - time()', t);
  assert.deepEqual(s, { type: 'scalar', value: 24 - 60 });
});

test('evaluation errors are clear', async () => {
  const st = fixture();
  st.add({ __name__: 'h', host: 'x', zone: '2' }, 60_000, 1);
  const e = createPromqlEngine({ querier: st });
  await assert.rejects(e.instantQuery('g / on (host) h', 60_000), (err: unknown) => err instanceof PromqlExecutionError && /duplicate series for the match group/.test(err.message));
  await assert.rejects(e.instantQuery('h / on (zone) max by (zone) (g)', 60_000), (err: unknown) => err instanceof PromqlExecutionError && /many-to-one matching must be explicit/.test(err.message));
  await assert.rejects(e.instantQuery('abs({__name__=~"g|h"})', 60_000), /same labelset/);
  await assert.rejects(e.rangeQuery('c[1m]', 0, 60_000, 10_000), /range query, must be Scalar or instant Vector/);
  await assert.rejects(e.rangeQuery('c', 0, 1e12, 1000), /exceeded maximum resolution/);
});

test('range queries evaluate every step', async () => {
  const e = createPromqlEngine({ querier: fixture() });
  const m = await e.rangeQuery('c * 2', 0, 60_000, 20_000);
  assert.equal(m.length, 1);
  assert.deepEqual(m[0]!.timestamps, [0, 20_000, 40_000, 60_000]);
  assert.deepEqual(m[0]!.values, [0, 40, 10, 50]);
  const sc = await e.rangeQuery('time()', 0, 20_000, 10_000);
  assert.deepEqual(sc[0]!.values, [0, 10, 20]);
});

test('numbers are written as Prometheus writes them', () => {
  assert.deepEqual([1, 0.1, 1e21, 1.5e-7, -2e22, NaN, Infinity, -Infinity].map(formatFloat), ['1', '0.1', '1000000000000000000000', '0.00000015', '-20000000000000000000000', 'NaN', '+Inf', '-Inf']);
});
