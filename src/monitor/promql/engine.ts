/**
 * The PromQL evaluator. A query first loads, once, every series its selectors need over the whole query
 * window (one `SampleQuerier.select` per selector), then evaluates the tree at each step time against
 * those samples. Semantics are Prometheus 2.x's: an instant selector takes the newest sample in
 * [t - lookback, t] (lookback 5 m by default), a range selector the samples in [t - range, t], both shifted
 * by `offset`; staleness markers are not interpreted.
 */
import type { LabelMatcher, SampleQuerier } from '../tsdb/types.js';
import { aggregate } from './aggregate.js';
import { typeOf, walk, type Expr, type MatrixSelector, type VectorSelector } from './ast.js';
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
}

export interface PromqlEngine {
  /** Evaluates at one time (ms). */
  instantQuery(query: string | Expr, timeMs: number): Promise<Value>;
  /** Evaluates at start, start + step, ... <= end; the result is one series per label set. */
  rangeQuery(query: string | Expr, startMs: number, endMs: number, stepMs: number): Promise<Series[]>;
}

type Loaded = Map<VectorSelector | MatrixSelector, Series[]>;

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

export function createPromqlEngine(options: EngineOptions): PromqlEngine {
  const lookback = options.lookbackDeltaMs ?? 300_000;
  const maxSamples = options.maxSamples ?? 50_000_000;
  const maxSteps = options.maxSteps ?? 11_000;

  async function load(expr: Expr, startMs: number, endMs: number): Promise<Loaded> {
    const nodes: (VectorSelector | MatrixSelector)[] = [];
    walk(expr, (n) => {
      if (n.kind === 'matrix') nodes.push(n);
      else if (n.kind === 'vector') nodes.push(n);
    });
    const inMatrix = new Set(nodes.filter((n): n is MatrixSelector => n.kind === 'matrix').map((n) => n.selector));
    const loaded: Loaded = new Map();
    let total = 0;
    await Promise.all(
      nodes
        .filter((n) => !(n.kind === 'vector' && inMatrix.has(n)))
        .map(async (n) => {
          const sel = n.kind === 'matrix' ? n.selector : n;
          const window = n.kind === 'matrix' ? n.rangeMs : lookback;
          const matchers: readonly LabelMatcher[] = sel.matchers;
          const data = await options.querier.select(matchers, startMs - sel.offsetMs - window, endMs - sel.offsetMs);
          const series: Series[] = [];
          for (const d of data) {
            total += d.values.length;
            if (d.values.length > 0) series.push({ labels: normalizeLabels(d.labels), timestamps: d.timestamps, values: d.values });
          }
          if (total > maxSamples) throw new PromqlExecutionError(`query processing would load too many samples into memory (more than ${maxSamples})`);
          loaded.set(n, series);
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
        for (const s of loaded.get(e) ?? []) {
          const i = lastAtOrBefore(s.timestamps, ref);
          if (i >= 0 && s.timestamps[i]! >= ref - lookback) out.push({ labels: s.labels, value: s.values[i]! });
        }
        return { type: 'vector', samples: out };
      }
      case 'matrix': {
        const ref = t - e.selector.offsetMs;
        const out: Series[] = [];
        for (const s of loaded.get(e) ?? []) {
          const lo = firstAtOrAfter(s.timestamps, ref - e.rangeMs);
          const hi = lastAtOrBefore(s.timestamps, ref);
          if (hi >= lo) out.push({ labels: s.labels, timestamps: s.timestamps.slice(lo, hi + 1), values: s.values.slice(lo, hi + 1) });
        }
        return { type: 'matrix', series: out };
      }
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

  function evalCall(func: string, args: readonly Expr[], t: number, loaded: Loaded): Value {
    const rangeFn = rangeFunctions[func];
    if (rangeFn !== undefined) {
      const arg = args[0]!;
      if (arg.kind !== 'matrix') throw new PromqlExecutionError(`expected a range vector selector in call to function "${func}"`);
      const m = evalAt(arg, t, loaded);
      if (m.type !== 'matrix') throw new PromqlExecutionError(`expected a range vector in call to function "${func}"`);
      const ctx = { rangeEndMs: t - arg.selector.offsetMs, rangeMs: arg.rangeMs };
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
      const loaded = await load(expr, startMs, endMs);
      const out = new Map<string, { labels: Series['labels']; timestamps: number[]; values: number[] }>();
      for (let t = startMs; t <= endMs; t += stepMs) {
        const v = evalAt(expr, t, loaded);
        const samples: readonly Sample[] = v.type === 'scalar' ? [{ labels: {}, value: v.value }] : v.type === 'vector' ? v.samples : [];
        for (const s of samples) {
          const k = labelsKey(s.labels);
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
