/**
 * The PromQL evaluator. A query first loads, once, every series its selectors need over the whole query
 * window (one `SampleQuerier.select` per selector), then evaluates the tree at each step time against
 * those samples. Semantics are Prometheus 2.x's: an instant selector takes the newest sample in
 * [t - lookback, t] (lookback 5 m by default), a range selector the samples in [t - range, t], both shifted
 * by `offset`; staleness markers are not interpreted. A subquery `expr[range:step]` evaluates `expr` at
 * every multiple of `step` in [t - offset - range, t - offset] (as Prometheus aligns them).
 *
 * Rollups: in a range query whose start and step are multiples of a rollup resolution R (1 m or 1 h; the
 * largest that fits), a selector asks the store for R rollups (SelectHints) where that gives the raw
 * answer: an instant selector reads the `last` of each window (windows are closed on the right, so at a
 * multiple of R it is the newest raw sample), and `max_over_time`, `min_over_time`, `sum_over_time`,
 * `count_over_time` and `last_over_time` over a range that is a multiple of R read the `max`, `min`,
 * `sum`, `count` and `last` of its windows (only the windows inside (t - range, t]: a raw sample exactly at
 * the left edge of the range is left out, as Prometheus 3 does). Everything else (rate and the other
 * range functions, subqueries, instant queries, rules) reads raw samples.
 */
import type { LabelMatcher, SampleQuerier, SelectHints } from '../tsdb/types.js';
import { aggregate } from './aggregate.js';
import { typeOf, type Expr, type MatrixSelector, type Subquery, type VectorSelector } from './ast.js';
import { scalarBinop, vectorBinop, vectorScalarBinop } from './binary.js';
import { PromqlExecutionError } from './errors.js';
import { keepsMetricName, mathFunctions, rangeFunctions } from './functions.js';
import { parsePromql } from './parser.js';
import { dropMetricName, formatLabels, labelsKey, normalizeLabels, type Sample, type Series, type Value } from './value.js';

export interface EngineOptions {
  querier: SampleQuerier;
  /** How far back an instant selector looks for a sample. Default 300 000 ms (Prometheus's 5 m). */
  lookbackDeltaMs?: number;
  /** Most samples a query may load from the store. Default 50 000 000. */
  maxSamples?: number;
  /** Most steps of a range query. Default 11 000 (Prometheus's limit). */
  maxSteps?: number;
  /** Range queries read rollups where that gives the raw answer (see above). Default true. */
  useRollups?: boolean;
  /** The step of a subquery written without one (`x[5m:]`). Default 60 000 ms (Prometheus's default evaluation interval). */
  defaultSubqueryStepMs?: number;
}

export interface PromqlEngine {
  /** Evaluates at one time (ms). */
  instantQuery(query: string | Expr, timeMs: number): Promise<Value>;
  /** Evaluates at start, start + step, ... <= end; the result is one series per label set. */
  rangeQuery(query: string | Expr, startMs: number, endMs: number, stepMs: number): Promise<Series[]>;
}

interface Loaded {
  series: Map<VectorSelector | MatrixSelector, Series[]>;
  /** Matrix selectors answered from rollups (their range is (t - range, t]), with the aggregate read. */
  rolled: Map<MatrixSelector, NonNullable<SelectHints['aggregate']>>;
  /** Per subquery, the inner results by evaluation time (a range query's steps share them). */
  subqueries: Map<Subquery, Map<number, readonly Sample[]>>;
}

/** Range functions answerable from rollups, and the rollup aggregate each reads. */
const ROLLUP_FUNCTIONS: Readonly<Record<string, NonNullable<SelectHints['aggregate']>>> = {
  max_over_time: 'max',
  min_over_time: 'min',
  sum_over_time: 'sum',
  count_over_time: 'count',
  last_over_time: 'last',
};
const ROLLUP_RESOLUTIONS = [3_600_000, 60_000];

/** A range query's evaluation times (for rollup choice). */
interface StepContext {
  startMs: number;
  stepMs: number;
}

/** Index of the last timestamp <= t, or -1. */
function lastAtOrBefore(ts: readonly number[], t: number): number {
  let lo = 0;
  let hi = ts.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (ts[mid]! <= t) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

/** Index of the first timestamp >= t (ts.length when none). */
function firstAtOrAfter(ts: readonly number[], t: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ts[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function assertUniqueLabelsets(samples: readonly Sample[]): void {
  if (samples.length < 2) return;
  const seen = new Set<string>();
  for (const s of samples) {
    const k = labelsKey(s.labels);
    if (seen.has(k)) throw new PromqlExecutionError(`vector cannot contain metrics with the same labelset: ${formatLabels(s.labels)}`);
    seen.add(k);
  }
}

/** labelsKey, remembered per label object (a range query sees the same objects at every step). */
const keyCache = new WeakMap<object, string>();
function cachedKey(labels: Sample['labels']): string {
  let k = keyCache.get(labels);
  if (k === undefined) keyCache.set(labels, (k = labelsKey(labels)));
  return k;
}

export function createPromqlEngine(options: EngineOptions): PromqlEngine {
  const lookback = options.lookbackDeltaMs ?? 300_000;
  const maxSamples = options.maxSamples ?? 50_000_000;
  const maxSteps = options.maxSteps ?? 11_000;
  const defaultSubqueryStep = options.defaultSubqueryStepMs ?? 60_000;

  /** The rollup resolution selectors evaluated at `steps` (shifted by `offsetMs`) may read, if any. */
  function resolutionFor(steps: StepContext | undefined, offsetMs: number, rangeMs = 0): number | undefined {
    if (steps === undefined || options.useRollups === false) return undefined;
    return ROLLUP_RESOLUTIONS.find((r) => steps.stepMs % r === 0 && (((steps.startMs - offsetMs) % r) + r) % r === 0 && rangeMs % r === 0);
  }

  async function load(expr: Expr, startMs: number, endMs: number, steps?: StepContext): Promise<Loaded> {
    interface Want {
      node: VectorSelector | MatrixSelector;
      from: number;
      to: number;
      hints: SelectHints | undefined;
    }
    const wants: Want[] = [];
    // Evaluation times of `e` lie in [lo, hi]; `steps` is set while they are a range query's steps.
    const plan = (e: Expr, lo: number, hi: number, st: StepContext | undefined, fn?: string): void => {
      switch (e.kind) {
        case 'vector': {
          const r = resolutionFor(st, e.offsetMs);
          wants.push({ node: e, from: lo - e.offsetMs - lookback, to: hi - e.offsetMs, hints: r !== undefined ? { stepMs: r, aggregate: 'last' } : undefined });
          return;
        }
        case 'matrix': {
          const agg = fn !== undefined ? ROLLUP_FUNCTIONS[fn] : undefined;
          const r = agg !== undefined ? resolutionFor(st, e.selector.offsetMs, e.rangeMs) : undefined;
          const off = e.selector.offsetMs;
          wants.push({ node: e, from: lo - off - e.rangeMs, to: hi - off, hints: r !== undefined ? { stepMs: r, aggregate: agg } : undefined });
          return;
        }
        case 'subquery':
          plan(e.expr, lo - e.offsetMs - e.rangeMs, hi - e.offsetMs, undefined);
          return;
        case 'call':
          e.args.forEach((a, i) => plan(a, lo, hi, st, i === 0 ? e.func : undefined));
          return;
        case 'aggregate':
          if (e.param !== undefined) plan(e.param, lo, hi, st);
          plan(e.expr, lo, hi, st);
          return;
        case 'binary':
          plan(e.lhs, lo, hi, st);
          plan(e.rhs, lo, hi, st);
          return;
        case 'unary':
        case 'paren':
          plan(e.expr, lo, hi, st);
          return;
        default:
          return;
      }
    };
    plan(expr, startMs, endMs, steps);
    const loaded: Loaded = { series: new Map(), rolled: new Map(), subqueries: new Map() };
    let total = 0;
    await Promise.all(
      wants.map(async (w) => {
        const sel = w.node.kind === 'matrix' ? w.node.selector : w.node;
        const matchers: readonly LabelMatcher[] = sel.matchers;
        const data = await options.querier.select(matchers, w.from, w.to, w.hints);
        const series: Series[] = [];
        let rolled = false;
        for (const d of data) {
          total += d.values.length;
          if (d.resolutionMs !== undefined) rolled = true;
          if (d.values.length > 0) series.push({ labels: normalizeLabels(d.labels), timestamps: d.timestamps, values: d.values });
        }
        if (total > maxSamples) throw new PromqlExecutionError(`query processing would load too many samples into memory (more than ${maxSamples})`);
        loaded.series.set(w.node, series);
        if (rolled && w.node.kind === 'matrix') loaded.rolled.set(w.node, w.hints?.aggregate ?? 'last');
      }),
    );
    return loaded;
  }

  function evalVector(e: Expr, t: number, loaded: Loaded): readonly Sample[] {
    const v = evalAt(e, t, loaded);
    if (v.type !== 'vector') throw new PromqlExecutionError(`expected an instant vector, got ${v.type}`);
    return v.samples;
  }
  function evalScalar(e: Expr, t: number, loaded: Loaded): number {
    const v = evalAt(e, t, loaded);
    if (v.type !== 'scalar') throw new PromqlExecutionError(`expected a scalar, got ${v.type}`);
    return v.value;
  }

  function evalAt(e: Expr, t: number, loaded: Loaded): Value {
    switch (e.kind) {
      case 'number':
        return { type: 'scalar', value: e.value };
      case 'string':
        return { type: 'string', value: e.value };
      case 'paren':
        return evalAt(e.expr, t, loaded);
      case 'vector': {
        const ref = t - e.offsetMs;
        const out: Sample[] = [];
        for (const s of loaded.series.get(e) ?? []) {
          const i = lastAtOrBefore(s.timestamps, ref);
          if (i >= 0 && s.timestamps[i]! >= ref - lookback) out.push({ labels: s.labels, value: s.values[i]! });
        }
        return { type: 'vector', samples: out };
      }
      case 'matrix': {
        const ref = t - e.selector.offsetMs;
        const out: Series[] = [];
        // Rollup rows: only the windows inside (ref - range, ref].
        const from = ref - e.rangeMs + (loaded.rolled.has(e) ? 1 : 0);
        for (const s of loaded.series.get(e) ?? []) {
          const lo = firstAtOrAfter(s.timestamps, from);
          const hi = lastAtOrBefore(s.timestamps, ref);
          if (hi >= lo) out.push({ labels: s.labels, timestamps: s.timestamps.slice(lo, hi + 1), values: s.values.slice(lo, hi + 1) });
        }
        return { type: 'matrix', series: out };
      }
      case 'subquery':
        return { type: 'matrix', series: evalSubquery(e, t, loaded) };
      case 'unary': {
        const v = evalAt(e.expr, t, loaded);
        if (e.op === '+') return v;
        if (v.type === 'scalar') return { type: 'scalar', value: -v.value };
        if (v.type !== 'vector') throw new PromqlExecutionError('unary minus needs a scalar or an instant vector');
        const out = v.samples.map((s) => ({ labels: dropMetricName(s.labels), value: -s.value }));
        assertUniqueLabelsets(out);
        return { type: 'vector', samples: out };
      }
      case 'binary': {
        const l = evalAt(e.lhs, t, loaded);
        const r = evalAt(e.rhs, t, loaded);
        if (l.type === 'scalar' && r.type === 'scalar') return { type: 'scalar', value: scalarBinop(e.op, l.value, r.value) };
        let out: Sample[];
        if (l.type === 'vector' && r.type === 'scalar') out = vectorScalarBinop(e, l.samples, r.value, false);
        else if (l.type === 'scalar' && r.type === 'vector') out = vectorScalarBinop(e, r.samples, l.value, true);
        else if (l.type === 'vector' && r.type === 'vector') out = vectorBinop(e, l.samples, r.samples);
        else throw new PromqlExecutionError('binary expression must contain only scalar and instant vector types');
        assertUniqueLabelsets(out);
        return { type: 'vector', samples: out };
      }
      case 'aggregate': {
        const param = e.param !== undefined ? evalScalar(e.param, t, loaded) : undefined;
        return { type: 'vector', samples: aggregate(e, evalVector(e.expr, t, loaded), param) };
      }
      case 'call':
        return evalCall(e.func, e.args, t, loaded);
    }
  }

  /** The inner vector of a subquery at each aligned step in [t - offset - range, t - offset], as series. */
  function evalSubquery(e: Subquery, t: number, loaded: Loaded): Series[] {
    const step = e.stepMs > 0 ? e.stepMs : defaultSubqueryStep;
    const end = t - e.offsetMs;
    const first = end - e.rangeMs;
    let u = Math.trunc(first / step) * step; // Go's integer division, as Prometheus aligns
    if (u < first) u += step;
    let cache = loaded.subqueries.get(e);
    if (cache === undefined) loaded.subqueries.set(e, (cache = new Map<number, readonly Sample[]>()));
    const out = new Map<string, { labels: Sample['labels']; timestamps: number[]; values: number[] }>();
    for (; u <= end; u += step) {
      let samples = cache.get(u);
      if (samples === undefined) {
        samples = evalVector(e.expr, u, loaded);
        cache.set(u, samples);
      }
      for (const s of samples) {
        const k = cachedKey(s.labels);
        let series = out.get(k);
        if (series === undefined) out.set(k, (series = { labels: s.labels, timestamps: [], values: [] }));
        series.timestamps.push(u);
        series.values.push(s.value);
      }
    }
    return [...out.values()];
  }

  function evalCall(func: string, args: readonly Expr[], t: number, loaded: Loaded): Value {
    let rangeFn = rangeFunctions[func];
    if (rangeFn !== undefined) {
      const arg = args[0]!;
      if (arg.kind !== 'matrix' && arg.kind !== 'subquery') throw new PromqlExecutionError(`expected a range vector in call to function "${func}"`);
      const m = evalAt(arg, t, loaded);
      if (m.type !== 'matrix') throw new PromqlExecutionError(`expected a range vector in call to function "${func}"`);
      // Over rollups, count_over_time adds up the windows' counts.
      if (arg.kind === 'matrix' && func === 'count_over_time' && loaded.rolled.get(arg) === 'count') rangeFn = rangeFunctions.sum_over_time!;
      const ctx = arg.kind === 'matrix' ? { rangeEndMs: t - arg.selector.offsetMs, rangeMs: arg.rangeMs } : { rangeEndMs: t - arg.offsetMs, rangeMs: arg.rangeMs };
      const keep = keepsMetricName.has(func);
      const out: Sample[] = [];
      for (const s of m.series) {
        const v = rangeFn(s, ctx);
        if (v !== undefined) out.push({ labels: keep ? s.labels : dropMetricName(s.labels), value: v });
      }
      assertUniqueLabelsets(out);
      return { type: 'vector', samples: out };
    }
    const mathFn = mathFunctions[func];
    if (mathFn !== undefined) {
      const vec = evalVector(args[0]!, t, loaded);
      const scalars = args.slice(1).map((a) => evalScalar(a, t, loaded));
      if (func === 'clamp' && scalars[1]! < scalars[0]!) return { type: 'vector', samples: [] };
      const out = vec.map((s) => ({ labels: dropMetricName(s.labels), value: mathFn(s.value, scalars) }));
      assertUniqueLabelsets(out);
      return { type: 'vector', samples: out };
    }
    switch (func) {
      case 'time':
        return { type: 'scalar', value: t / 1000 };
      case 'vector':
        return { type: 'vector', samples: [{ labels: {}, value: evalScalar(args[0]!, t, loaded) }] };
      case 'scalar': {
        const vec = evalVector(args[0]!, t, loaded);
        return { type: 'scalar', value: vec.length === 1 ? vec[0]!.value : NaN };
      }
      default:
        throw new PromqlExecutionError(`function "${func}" is not implemented`);
    }
  }

  const toExpr = (q: string | Expr): Expr => (typeof q === 'string' ? parsePromql(q) : q);

  return {
    async instantQuery(query, timeMs) {
      const expr = toExpr(query);
      const loaded = await load(expr, timeMs, timeMs);
      return evalAt(expr, timeMs, loaded);
    },

    async rangeQuery(query, startMs, endMs, stepMs) {
      const expr = toExpr(query);
      const ty = typeOf(expr);
      if (ty !== 'scalar' && ty !== 'vector') throw new PromqlExecutionError(`invalid expression type "${ty === 'matrix' ? 'range vector' : ty}" for range query, must be Scalar or instant Vector`);
      if (!(stepMs > 0)) throw new PromqlExecutionError('zero or negative query resolution step widths are not accepted. Try a positive integer');
      if (endMs < startMs) throw new PromqlExecutionError('end timestamp must not be before start time');
      if ((endMs - startMs) / stepMs + 1 > maxSteps) throw new PromqlExecutionError(`exceeded maximum resolution of ${maxSteps} points per timeseries. Try decreasing the query resolution (?step=XX)`);
      const loaded = await load(expr, startMs, endMs, { startMs, stepMs });
      const out = new Map<string, { labels: Series['labels']; timestamps: number[]; values: number[] }>();
      for (let t = startMs; t <= endMs; t += stepMs) {
        const v = evalAt(expr, t, loaded);
        const samples: readonly Sample[] = v.type === 'scalar' ? [{ labels: {}, value: v.value }] : v.type === 'vector' ? v.samples : [];
        for (const s of samples) {
          const k = cachedKey(s.labels);
          let series = out.get(k);
          if (series === undefined) {
            series = { labels: s.labels, timestamps: [], values: [] };
            out.set(k, series);
          }
          series.timestamps.push(t);
          series.values.push(s.value);
        }
      }
      return [...out.values()];
    },
  };
}
