/**
 * Downsampled rollups: per window of `resolutionMs` (aligned to the epoch), the min, max, sum, count and
 * last value of a series' samples, stamped with the time of the window's last sample (so the `last`
 * column is an exact sample, and a counter's rate over rollups is its rate over those samples).
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

/** The rollup rows of ascending samples. NaN samples are skipped in min/max/sum (as Prometheus' *_over_time treat them: they propagate). */
export function rollup(timestamps: readonly number[], values: readonly number[], resolutionMs: number): RollupRows {
  const out: RollupRows = { timestamps: [], columns: [[], [], [], [], []] };
  const [mins, maxs, sums, counts, lasts] = out.columns as [number[], number[], number[], number[], number[]];
  let win = Number.NaN;
  for (let i = 0; i < timestamps.length; i++) {
    const t = timestamps[i]!;
    const v = values[i]!;
    const w = Math.floor(t / resolutionMs);
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
    if (v < mins[k]! || Number.isNaN(v)) mins[k] = v;
    if (v > maxs[k]! || Number.isNaN(v)) maxs[k] = v;
    sums[k]! += v;
    counts[k]! += 1;
    lasts[k] = v;
  }
  return out;
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
