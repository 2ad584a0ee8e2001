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

test('subqueries: steps aligned to multiples of the step, offset, default step, range functions over them', async () => {
  const s = new MemoryStore();
  // g = t / 1000 at every 10 s from 0 to 600 s.
  for (let t = 0; t <= 600_000; t += 10_000) s.add({ __name__: 'g', job: 'a' }, t, t / 1000);
  const e = createPromqlEngine({ querier: s });
  // At 125 s, [1m:20s] evaluates g at 80, 100, 120 s (the multiples of 20 s in [65 s, 125 s]).
  const m = await e.instantQuery('g[1m:20s]', 125_000);
  assert.equal(m.type, 'matrix');
  if (m.type === 'matrix') {
    assert.deepEqual(m.series[0]!.timestamps, [80_000, 100_000, 120_000]);
    assert.deepEqual(m.series[0]!.values, [80, 100, 120]);
    assert.deepEqual(m.series[0]!.labels, { __name__: 'g', job: 'a' });
  }
  assert.deepEqual(byLabels(await e.instantQuery('max_over_time(g[1m:20s] offset 30s)', 125_000)), { [k({ job: 'a' })]: 80 });
  // No step: 1 m. [5m:] at 600 s: 300, 360, ..., 600 s.
  assert.deepEqual(byLabels(await e.instantQuery('count_over_time(g[5m:])', 600_000)), { [k({ job: 'a' })]: 6 });
  // rate over a subquery of a rate, in a range query.
  const r = await e.rangeQuery('rate(rate(g[1m])[2m:30s])', 300_000, 360_000, 30_000);
  assert.deepEqual(r[0]!.values, [0, 0, 0]);
  await assert.rejects(e.rangeQuery('g[5m:1m]', 0, 60_000, 10_000), /invalid expression type "range vector" for range query/);
});

test('group_left / group_right: one-to-many matching, copied labels, and the errors Prometheus gives', async () => {
  const s = new MemoryStore();
  s.add({ __name__: 'req', method: 'get', code: '200' }, 0, 10);
  s.add({ __name__: 'req', method: 'get', code: '500' }, 0, 2);
  s.add({ __name__: 'req', method: 'put', code: '200' }, 0, 4);
  s.add({ __name__: 'total', method: 'get', team: 'web' }, 0, 12);
  s.add({ __name__: 'total', method: 'put', team: 'api' }, 0, 4);
  const e = createPromqlEngine({ querier: s });
  assert.deepEqual(byLabels(await e.instantQuery('req / ignoring (code, team) group_left (team) total', 0)), {
    [k({ method: 'get', code: '200', team: 'web' })]: 10 / 12,
    [k({ method: 'get', code: '500', team: 'web' })]: 2 / 12,
    [k({ method: 'put', code: '200', team: 'api' })]: 1,
  });
  // group_right: the right side is the "many" side; operands keep their sides.
  assert.deepEqual(byLabels(await e.instantQuery('total - on (method) group_right req', 0)), {
    [k({ method: 'get', code: '200' })]: 2,
    [k({ method: 'get', code: '500' })]: 10,
    [k({ method: 'put', code: '200' })]: 0,
  });
  // A comparison keeps the "many" side's name.
  assert.deepEqual(byLabels(await e.instantQuery('req > on (method) group_left total / 3', 0)), {
    [k({ __name__: 'req', method: 'get', code: '200' })]: 10,
    [k({ __name__: 'req', method: 'put', code: '200' })]: 4,
  });
  await assert.rejects(e.instantQuery('total / on (method) group_left req', 0), /found duplicate series for the match group \{method="get"\} on the right hand-side/);
  await assert.rejects(e.instantQuery('req / on (method) group_right total', 0), /on the left hand-side/);
  await assert.rejects(e.instantQuery('req / on (method) total', 0), /many-to-one matching must be explicit/);
  // Two "many" elements that end up with the same labels.
  await assert.rejects(e.instantQuery('sum by (code) (req) * on () group_left total', 0), /found duplicate series/);
  await assert.rejects(e.instantQuery('req * on (method) group_left (code) max by (method) (total)', 0), /multiple matches for labels: grouping labels must ensure unique matches/);
});
