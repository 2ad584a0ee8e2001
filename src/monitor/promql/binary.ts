/**
 * Binary operators with Prometheus's semantics: arithmetic (Go's float rules), comparisons that filter or,
 * with `bool`, return 0/1, set operators, and vector matching with `on`/`ignoring`: one-to-one, or
 * many-to-one / one-to-many with `group_left` / `group_right`.
 */
import type { Binary, BinaryOp } from './ast.js';
import { PromqlExecutionError } from './errors.js';
import { dropMetricName, formatLabels, keepLabels, labelsKey, normalizeLabels, withoutLabels, type Sample } from './value.js';
import type { Labels } from '../tsdb/types.js';

/** Go's math.Pow where it differs from `**`. */
function goPow(x: number, y: number): number {
  if (x === 1) return 1;
  if (x === -1 && !Number.isFinite(y) && !Number.isNaN(y)) return 1;
  return x ** y;
}

const arithmetic: Record<string, (l: number, r: number) => number> = {
  '+': (l, r) => l + r,
  '-': (l, r) => l - r,
  '*': (l, r) => l * r,
  '/': (l, r) => l / r,
  '%': (l, r) => l % r,
  '^': goPow,
};
const comparison: Record<string, (l: number, r: number) => boolean> = {
  '==': (l, r) => l === r,
  '!=': (l, r) => l !== r,
  '>': (l, r) => l > r,
  '<': (l, r) => l < r,
  '>=': (l, r) => l >= r,
  '<=': (l, r) => l <= r,
};

export function isComparison(op: BinaryOp): boolean {
  return comparison[op] !== undefined;
}

/** [value, keep] of one element pair; comparisons keep the left value. */
function elemBinop(op: BinaryOp, l: number, r: number): [number, boolean] {
  const a = arithmetic[op];
  if (a !== undefined) return [a(l, r), true];
  return [l, comparison[op]!(l, r)];
}

/** scalar op scalar (comparisons have `bool`: the parser insists). */
export function scalarBinop(op: BinaryOp, l: number, r: number): number {
  const a = arithmetic[op];
  if (a !== undefined) return a(l, r);
  return comparison[op]!(l, r) ? 1 : 0;
}

/** vector op scalar, or scalar op vector when `swap`. */
export function vectorScalarBinop(e: Binary, vector: readonly Sample[], scalar: number, swap: boolean): Sample[] {
  const out: Sample[] = [];
  const drop = arithmetic[e.op] !== undefined || e.returnBool;
  for (const s of vector) {
    const [l, r] = swap ? [scalar, s.value] : [s.value, scalar];
    let [value, keep] = elemBinop(e.op, l, r);
    if (isComparison(e.op) && swap) value = r;
    if (e.returnBool) {
      value = keep ? 1 : 0;
      keep = true;
    }
    if (keep) out.push({ labels: drop ? dropMetricName(s.labels) : s.labels, value });
  }
  return out;
}

function signatureFn(e: Binary): (l: Labels) => string {
  const m = e.matching!;
  if (m.on) return (l) => labelsKey(keepLabels(l, m.labels));
  const names = [...m.labels, '__name__'];
  return (l) => labelsKey(withoutLabels(l, names));
}

/** vector op vector: set operators, or one-to-one matching. */
export function vectorBinop(e: Binary, lhs: readonly Sample[], rhs: readonly Sample[]): Sample[] {
  const sig = signatureFn(e);
  switch (e.op) {
    case 'and': {
      const right = new Set(rhs.map((s) => sig(s.labels)));
      return lhs.filter((s) => right.has(sig(s.labels)));
    }
    case 'unless': {
      const right = new Set(rhs.map((s) => sig(s.labels)));
      return lhs.filter((s) => !right.has(sig(s.labels)));
    }
    case 'or': {
      const left = new Set(lhs.map((s) => sig(s.labels)));
      return [...lhs, ...rhs.filter((s) => !left.has(sig(s.labels)))];
    }
    default:
      break;
  }
  const m = e.matching!;
  // For one-to-many, swap the sides (the right one is then the "many" side) and swap the operands back.
  const oneToMany = m.card === 'one-to-many';
  const [many, one] = oneToMany ? [rhs, lhs] : [lhs, rhs];
  const oneSigs = new Map<string, Sample>();
  for (const rs of one) {
    const k = sig(rs.labels);
    const dup = oneSigs.get(k);
    if (dup !== undefined) {
      throw new PromqlExecutionError(
        `found duplicate series for the match group ${formatLabels(matchGroup(e, rs.labels))} on the ${oneToMany ? 'left' : 'right'} hand-side of the operation: [${formatLabels(rs.labels)}, ${formatLabels(dup.labels)}];many-to-many matching not allowed: matching labels must be unique on one side`,
      );
    }
    oneSigs.set(k, rs);
  }
  // One-to-one: the signatures matched; grouped: per signature, the result label sets produced.
  const matched = new Map<string, Set<string> | undefined>();
  const drop = arithmetic[e.op] !== undefined || e.returnBool;
  const out: Sample[] = [];
  for (const ms of many) {
    const k = sig(ms.labels);
    const os = oneSigs.get(k);
    if (os === undefined) continue;
    const [vl, vr] = oneToMany ? [os.value, ms.value] : [ms.value, os.value];
    let [value, keep] = elemBinop(e.op, vl, vr);
    if (e.returnBool) {
      value = keep ? 1 : 0;
      keep = true;
    }
    if (!keep) continue;
    const labels = resultLabels(ms.labels, os.labels, drop, m);
    if (m.card === undefined) {
      if (matched.has(k)) throw new PromqlExecutionError('multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)');
      matched.set(k, undefined);
    } else {
      let inserted = matched.get(k);
      if (inserted === undefined) matched.set(k, (inserted = new Set()));
      const lk = labelsKey(labels);
      if (inserted.has(lk)) throw new PromqlExecutionError('multiple matches for labels: grouping labels must ensure unique matches');
      inserted.add(lk);
    }
    out.push({ labels, value });
  }
  return out;
}

/** Prometheus's resultMetric: the "many" side's labels, matching labels kept/dropped (one-to-one), `group_x(...)` labels from the "one" side. */
function resultLabels(many: Labels, one: Labels, dropName: boolean, m: NonNullable<Binary['matching']>): Labels {
  let labels: Labels = dropName ? dropMetricName(many) : many;
  if (m.card === undefined) labels = m.on ? keepLabels(labels, m.labels) : m.labels.length > 0 ? withoutLabels(labels, m.labels) : labels;
  const include = m.include ?? [];
  if (include.length === 0) return labels;
  const out: Record<string, string> = { ...labels };
  for (const name of include) {
    const v = one[name];
    if (v !== undefined && v !== '') out[name] = v;
    else delete out[name];
  }
  return normalizeLabels(out);
}

function matchGroup(e: Binary, labels: Labels): Labels {
  const m = e.matching!;
  return m.on ? keepLabels(labels, m.labels) : withoutLabels(labels, [...m.labels, '__name__']);
}
