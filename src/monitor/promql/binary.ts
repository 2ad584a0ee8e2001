/**
 * Binary operators with Prometheus's semantics: arithmetic (Go's float rules), comparisons that filter or,
 * with `bool`, return 0/1, set operators, and one-to-one vector matching with `on`/`ignoring`.
 */
import type { Binary, BinaryOp } from './ast.js';
import { PromqlExecutionError } from './errors.js';
import { dropMetricName, formatLabels, keepLabels, labelsKey, withoutLabels, type Sample } from './value.js';
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
  const rightSigs = new Map<string, Sample>();
  for (const rs of rhs) {
    const k = sig(rs.labels);
    const dup = rightSigs.get(k);
    if (dup !== undefined) {
      throw new PromqlExecutionError(
        `found duplicate series for the match group ${formatLabels(matchGroup(e, rs.labels))} on the right hand-side of the operation: [${formatLabels(rs.labels)}, ${formatLabels(dup.labels)}];many-to-many matching not allowed: matching labels must be unique on one side`,
      );
    }
    rightSigs.set(k, rs);
  }
  const matched = new Set<string>();
  const drop = arithmetic[e.op] !== undefined || e.returnBool;
  const m = e.matching!;
  const out: Sample[] = [];
  for (const ls of lhs) {
    const k = sig(ls.labels);
    const rs = rightSigs.get(k);
    if (rs === undefined) continue;
    let [value, keep] = elemBinop(e.op, ls.value, rs.value);
    if (e.returnBool) {
      value = keep ? 1 : 0;
      keep = true;
    }
    if (!keep) continue;
    let labels: Labels = drop ? dropMetricName(ls.labels) : ls.labels;
    labels = m.on ? keepLabels(labels, m.labels) : m.labels.length > 0 ? withoutLabels(labels, m.labels) : labels;
    if (matched.has(k)) throw new PromqlExecutionError('multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)');
    matched.add(k);
    out.push({ labels, value });
  }
  return out;
}

function matchGroup(e: Binary, labels: Labels): Labels {
  const m = e.matching!;
  return m.on ? keepLabels(labels, m.labels) : withoutLabels(labels, [...m.labels, '__name__']);
}
