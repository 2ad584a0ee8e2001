/**
 * Function implementations with Prometheus 2.x semantics: the range functions over one series' samples in
 * the window (extrapolatedRate for rate/increase/delta, the last two samples for irate/idelta, the
 * *_over_time family) and the element-wise math functions.
 */
import type { Series } from './value.js';

export interface RangeContext {
  /** The evaluation time minus the selector's offset (the window's end), ms. */
  readonly rangeEndMs: number;
  /** The selector's range, ms. */
  readonly rangeMs: number;
}

/** Prometheus's extrapolatedRate: the change over the window, extrapolated to its edges (at most half a sample interval beyond the samples). */
function extrapolatedRate(s: Series, ctx: RangeContext, isCounter: boolean, isRate: boolean): number | undefined {
  const n = s.values.length;
  if (n < 2) return undefined;
  const ts = s.timestamps;
  const vs = s.values;
  const rangeStart = ctx.rangeEndMs - ctx.rangeMs;
  let result = vs[n - 1]! - vs[0]!;
  if (isCounter) {
    let prev = vs[0]!;
    for (let i = 1; i < n; i++) {
      const cur = vs[i]!;
      if (cur < prev) result += prev;
      prev = cur;
    }
  }
  let durationToStart = (ts[0]! - rangeStart) / 1000;
  const durationToEnd = (ctx.rangeEndMs - ts[n - 1]!) / 1000;
  const sampledInterval = (ts[n - 1]! - ts[0]!) / 1000;
  const averageDurationBetweenSamples = sampledInterval / (n - 1);
  if (isCounter && result > 0 && vs[0]! >= 0) {
    const durationToZero = sampledInterval * (vs[0]! / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  const threshold = averageDurationBetweenSamples * 1.1;
  let extrapolateToInterval = sampledInterval;
  extrapolateToInterval += durationToStart < threshold ? durationToStart : averageDurationBetweenSamples / 2;
  extrapolateToInterval += durationToEnd < threshold ? durationToEnd : averageDurationBetweenSamples / 2;
  let factor = extrapolateToInterval / sampledInterval;
  if (isRate) factor /= ctx.rangeMs / 1000;
  return result * factor;
}

/** irate/idelta: from the last two samples. */
function instantValue(s: Series, isRate: boolean): number | undefined {
  const n = s.values.length;
  if (n < 2) return undefined;
  const last = s.values[n - 1]!;
  const prev = s.values[n - 2]!;
  const result = isRate && last < prev ? last : last - prev;
  const interval = s.timestamps[n - 1]! - s.timestamps[n - 2]!;
  if (interval === 0) return undefined;
  return isRate ? result / (interval / 1000) : result;
}

function avgOverTime(vs: readonly number[]): number {
  let mean = 0;
  let count = 0;
  for (const v of vs) {
    count++;
    if (!Number.isFinite(mean) && !Number.isNaN(mean)) {
      if (!Number.isFinite(v) && !Number.isNaN(v) && mean > 0 === v > 0) continue;
      if (Number.isFinite(v)) continue;
    }
    mean += v / count - mean / count;
  }
  return mean;
}

/** A range function over one series' window; undefined drops the series from the result. */
export type RangeFunction = (s: Series, ctx: RangeContext) => number | undefined;

export const rangeFunctions: Readonly<Record<string, RangeFunction>> = {
  rate: (s, ctx) => extrapolatedRate(s, ctx, true, true),
  increase: (s, ctx) => extrapolatedRate(s, ctx, true, false),
  delta: (s, ctx) => extrapolatedRate(s, ctx, false, false),
  irate: (s) => instantValue(s, true),
  idelta: (s) => instantValue(s, false),
  avg_over_time: (s) => avgOverTime(s.values),
  sum_over_time: (s) => s.values.reduce((a, v) => a + v, 0),
  count_over_time: (s) => s.values.length,
  last_over_time: (s) => s.values[s.values.length - 1],
  min_over_time: (s) => {
    let m = s.values[0]!;
    for (const v of s.values) if (v < m || Number.isNaN(m)) m = v;
    return m;
  },
  max_over_time: (s) => {
    let m = s.values[0]!;
    for (const v of s.values) if (v > m || Number.isNaN(m)) m = v;
    return m;
  },
};

/** Range functions whose result keeps the metric name (Prometheus: only last_over_time). */
export const keepsMetricName = new Set(['last_over_time']);

/** Go's math.Max / math.Min (NaN wins, as in JS). */
const goMax = (a: number, b: number): number => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
const goMin = (a: number, b: number): number => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));

/** Element-wise functions of an instant vector; `args` are the evaluated scalar arguments. Undefined: no output at all. */
export const mathFunctions: Readonly<Record<string, (v: number, args: readonly number[]) => number>> = {
  abs: Math.abs,
  ceil: Math.ceil,
  floor: Math.floor,
  exp: Math.exp,
  sqrt: Math.sqrt,
  ln: Math.log,
  log2: Math.log2,
  log10: Math.log10,
  round: (v, args) => {
    const toNearestInverse = 1 / (args[0] ?? 1);
    return Math.floor(v * toNearestInverse + 0.5) / toNearestInverse;
  },
  clamp_min: (v, args) => goMax(args[0]!, v),
  clamp_max: (v, args) => goMin(args[0]!, v),
  clamp: (v, args) => goMax(args[0]!, goMin(args[1]!, v)),
};
