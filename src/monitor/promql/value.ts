/** Values a query produces, label-set helpers, and number formatting as Prometheus's HTTP API writes it. */
import type { Labels } from '../tsdb/types.js';

export interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

export interface Series {
  readonly labels: Labels;
  readonly timestamps: readonly number[];
  readonly values: readonly number[];
}

export type Value =
  | { readonly type: 'scalar'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'vector'; readonly samples: readonly Sample[] }
  | { readonly type: 'matrix'; readonly series: readonly Series[] };

/** A canonical key of a label set (order-independent). */
export function labelsKey(labels: Labels): string {
  const names = Object.keys(labels).sort();
  let out = '';
  for (const n of names) out += `${n}\xff${labels[n]}\xfe`;
  return out;
}

/** The labels without `__name__`. */
export function dropMetricName(labels: Labels): Labels {
  if (!('__name__' in labels)) return labels;
  const { __name__: _, ...rest } = labels;
  return rest;
}

/** Only the named labels. */
export function keepLabels(labels: Labels, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = labels[n];
    if (v !== undefined && v !== '') out[n] = v;
  }
  return out;
}

/** The labels except the named ones. */
export function withoutLabels(labels: Labels, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [n, v] of Object.entries(labels)) if (!names.includes(n)) out[n] = v;
  return out;
}

/** Drops labels with an empty value (Prometheus treats an empty label as absent). */
export function normalizeLabels(labels: Labels): Labels {
  for (const v of Object.values(labels)) {
    if (v === '') {
      const out: Record<string, string> = {};
      for (const [n, x] of Object.entries(labels)) if (x !== '') out[n] = x;
      return out;
    }
  }
  return labels;
}

/** Prints labels as PromQL does: `name{a="x", b="y"}`. */
export function formatLabels(labels: Labels): string {
  const name = labels.__name__ ?? '';
  const rest = Object.keys(labels)
    .filter((n) => n !== '__name__')
    .sort()
    .map((n) => `${n}=${JSON.stringify(labels[n])}`);
  return `${name}{${rest.join(', ')}}`;
}

/**
 * A float as Prometheus's API writes it (Go's strconv.FormatFloat(v, 'f', -1, 64)): the shortest digits
 * that read back to the same number, never in exponent form; NaN, +Inf, -Inf spelled so.
 */
export function formatFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Object.is(v, -0)) return '-0';
  const s = String(v);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const sign = s.startsWith('-') ? '-' : '';
  const mantissa = s.slice(sign.length, e);
  const exp = Number(s.slice(e + 1));
  const digits = mantissa.replace('.', '');
  const pointAt = (mantissa.indexOf('.') < 0 ? mantissa.length : mantissa.indexOf('.')) + exp;
  if (pointAt <= 0) return `${sign}0.${'0'.repeat(-pointAt)}${digits}`;
  if (pointAt >= digits.length) return `${sign}${digits}${'0'.repeat(pointAt - digits.length)}`;
  return `${sign}${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
}

/** Parses a sample value as Prometheus writes it (NaN, +Inf, -Inf, Inf, or a decimal). */
export function parseFloatValue(s: string): number {
  const l = s.toLowerCase();
  if (l === 'nan') return NaN;
  if (l === '+inf' || l === 'inf') return Infinity;
  if (l === '-inf') return -Infinity;
  return Number(s);
}
