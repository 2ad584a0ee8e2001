/** Small statistics and table helpers for the benchmark output. */

/** The q-quantile (0..1) of `values` by nearest rank; NaN for an empty list. Does not modify `values`. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 0.5);
}

/** `1234.5` -> `1,235`; `3.14159` with digits 2 -> `3.14`. */
export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** embedded / etcd as `0.87x`. */
export function ratio(embedded: number, etcd: number): string {
  return etcd > 0 && Number.isFinite(embedded) ? `${(embedded / etcd).toFixed(2)}x` : '-';
}

/** A text table: first column left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
