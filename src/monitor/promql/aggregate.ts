/**
 * Aggregation operators (sum, avg, min, max, count, topk, bottomk) with `by`/`without`, as Prometheus 2.x
 * computes them: `without` also drops the metric name; avg is an incremental mean; min/max let any number
 * replace NaN; topk/bottomk keep the original series (metric name included) and rank NaN last.
 */
import type { Aggregate } from './ast.js';
import { PromqlExecutionError } from './errors.js';
import { keepLabels, labelsKey, withoutLabels, type Sample } from './value.js';
import type { Labels } from '../tsdb/types.js';

interface Group {
  labels: Labels;
  value: number;
  mean: number;
  count: number;
  /** topk/bottomk: kept samples, worst first. */
  kept: Sample[];
}

/** true when `a` ranks below `b` for topk (bottomk: reversed); NaN ranks lowest either way. */
function ranksBelow(a: number, b: number, bottom: boolean): boolean {
  if (Number.isNaN(a)) return !Number.isNaN(b);
  if (Number.isNaN(b)) return false;
  return bottom ? a > b : a < b;
}

export function aggregate(e: Aggregate, samples: readonly Sample[], param: number | undefined): Sample[] {
  let k = 0;
  const ranked = e.op === 'topk' || e.op === 'bottomk';
  if (ranked) {
    const p = param ?? NaN;
    if (!Number.isFinite(p) || Math.abs(p) >= 2 ** 63) throw new PromqlExecutionError(`Scalar value ${p} overflows int64`);
    k = Math.trunc(p);
    if (k < 1) return [];
  }
  const bottom = e.op === 'bottomk';
  const dropNames = e.without ? [...e.grouping, '__name__'] : [];
  const groups = new Map<string, Group>();
  for (const s of samples) {
    const labels = e.without ? withoutLabels(s.labels, dropNames) : keepLabels(s.labels, e.grouping);
    const key = labelsKey(labels);
    const g = groups.get(key);
    if (g === undefined) {
      groups.set(key, { labels, value: s.value, mean: s.value, count: 1, kept: [s] });
      continue;
    }
    switch (e.op) {
      case 'sum':
        g.value += s.value;
        break;
      case 'avg': {
        g.count++;
        if (!Number.isFinite(g.mean) && !Number.isNaN(g.mean)) {
          if (!Number.isFinite(s.value) && !Number.isNaN(s.value) && g.mean > 0 === s.value > 0) break;
          if (Number.isFinite(s.value)) break;
        }
        g.mean += s.value / g.count - g.mean / g.count;
        break;
      }
      case 'count':
        g.count++;
        break;
      case 'max':
        if (g.value < s.value || Number.isNaN(g.value)) g.value = s.value;
        break;
      case 'min':
        if (g.value > s.value || Number.isNaN(g.value)) g.value = s.value;
        break;
      case 'topk':
      case 'bottomk':
        if (g.kept.length < k) insertRanked(g.kept, s, bottom);
        else if (ranksBelow(g.kept[0]!.value, s.value, bottom)) {
          g.kept.shift();
          insertRanked(g.kept, s, bottom);
        }
        break;
    }
  }
  const out: Sample[] = [];
  for (const g of groups.values()) {
    switch (e.op) {
      case 'avg':
        out.push({ labels: g.labels, value: g.mean });
        break;
      case 'count':
        out.push({ labels: g.labels, value: g.count });
        break;
      case 'topk':
      case 'bottomk':
        out.push(...g.kept);
        break;
      default:
        out.push({ labels: g.labels, value: g.value });
    }
  }
  return out;
}

/** Inserts keeping `kept` ordered worst first. */
function insertRanked(kept: Sample[], s: Sample, bottom: boolean): void {
  let i = 0;
  while (i < kept.length && ranksBelow(kept[i]!.value, s.value, bottom)) i++;
  kept.splice(i, 0, s);
}
