/**
 * Downsampled rollups: per window of `resolutionMs` (aligned to the epoch), the min, max, sum, count and
 * last value of a series' samples, stamped with the time of the window's last sample (so the `last`
 * column is an exact sample, and a counter's rate over rollups is its rate over those samples).
 *
 * Windows are closed on the right: `(k * res, (k + 1) * res]` (block format 2; format 1 blocks had
 * `[k * res, (k + 1) * res)` and are rolled up again from their raw chunks when read). So at a time `t`
 * that is a multiple of the resolution, the newest row at or before `t` holds exactly the samples up to
 * `t`: its `last` is the newest raw sample at or before `t`, which makes an instant selector over rollups
 * give the same answer as over raw samples. A window cut by a block boundary has a row in each block;
 * `mergeRows` joins them on read.
 */
import { ChunkEncoder } from './xor-chunk.js';

/** Rollup resolutions, finest first. */
export const ROLLUP_RESOLUTIONS_MS = [60_000, 3_600_000] as const;

/** Aggregates a select with a coarse step may ask for. */
export type RollupAggregate = 'last' | 'min' | 'max' | 'sum' | 'count' | 'avg';
export const ROLLUP_AGGREGATES: readonly RollupAggregate[] = ['last', 'min', 'max', 'sum', 'count', 'avg'];

export const ROLLUP_COLUMNS = 5; // min, max, sum, count, last

export interface RollupRows {
  timestamps: number[];
  /** min, max, sum, count, last. */
  columns: number[][];
}

/**
 * The rollup rows of ascending samples. As Prometheus's min/max_over_time, min and max are NaN only when
 * every sample of the window is (a NaN is replaced by any later number); sum propagates NaN.
 */
export function rollup(timestamps: readonly number[], values: readonly number[], resolutionMs: number): RollupRows {
  const out: RollupRows = { timestamps: [], columns: [[], [], [], [], []] };
  const [mins, maxs, sums, counts, lasts] = out.columns as [number[], number[], number[], number[], number[]];
  let win = Number.NaN;
  for (let i = 0; i < timestamps.length; i++) {
    const t = timestamps[i]!;
    const v = values[i]!;
    const w = rollupWindow(t, resolutionMs);
    if (w !== win) {
      win = w;
      out.timestamps.push(t);
      mins.push(v);
      maxs.push(v);
      sums.push(v);
      counts.push(1);
      lasts.push(v);
      continue;
    }
    const k = out.timestamps.length - 1;
    out.timestamps[k] = t;
    if (v < mins[k]! || Number.isNaN(mins[k]!)) mins[k] = v;
    if (v > maxs[k]! || Number.isNaN(maxs[k]!)) maxs[k] = v;
    sums[k]! += v;
    counts[k]! += 1;
    lasts[k] = v;
  }
  return out;
}

/** The index of the (right-closed) rollup window holding time `t`. */
export function rollupWindow(t: number, resolutionMs: number): number {
  return Math.ceil(t / resolutionMs);
}

/** Appends rows in time order, joining a row with the previous one when both are of the same window. */
export function mergeRows(into: RollupRows, rows: RollupRows, resolutionMs: number): void {
  const [mins, maxs, sums, counts, lasts] = into.columns as [number[], number[], number[], number[], number[]];
  for (let i = 0; i < rows.timestamps.length; i++) {
    const t = rows.timestamps[i]!;
    const k = into.timestamps.length - 1;
    const last = k >= 0 ? into.timestamps[k]! : Number.NaN;
    if (k >= 0 && t <= last) continue; // already there (overlapping pieces)
    const row = rows.columns.map((c) => c[i]!);
    if (k >= 0 && rollupWindow(last, resolutionMs) === rollupWindow(t, resolutionMs)) {
      into.timestamps[k] = t;
      if (row[0]! < mins[k]! || Number.isNaN(mins[k]!)) mins[k] = row[0]!;
      if (row[1]! > maxs[k]! || Number.isNaN(maxs[k]!)) maxs[k] = row[1]!;
      sums[k]! += row[2]!;
      counts[k]! += row[3]!;
      lasts[k] = row[4]!;
      continue;
    }
    into.timestamps.push(t);
    for (let c = 0; c < ROLLUP_COLUMNS; c++) into.columns[c]!.push(row[c]!);
  }
}

export function encodeRollup(rows: RollupRows): ChunkEncoder {
  const enc = new ChunkEncoder(ROLLUP_COLUMNS, 16 + rows.timestamps.length * 4);
  const row = new Array<number>(ROLLUP_COLUMNS);
  for (let i = 0; i < rows.timestamps.length; i++) {
    for (let c = 0; c < ROLLUP_COLUMNS; c++) row[c] = rows.columns[c]![i]!;
    enc.appendRow(rows.timestamps[i]!, row);
  }
  return enc;
}

/** One column of rollup rows as values. */
export function aggregateColumn(rows: RollupRows, aggregate: RollupAggregate): number[] {
  const [mins, maxs, sums, counts, lasts] = rows.columns as [number[], number[], number[], number[], number[]];
  switch (aggregate) {
    case 'min':
      return mins;
    case 'max':
      return maxs;
    case 'sum':
      return sums;
    case 'count':
      return counts;
    case 'avg':
      return sums.map((s, i) => s / counts[i]!);
    case 'last':
      return lasts;
  }
}
