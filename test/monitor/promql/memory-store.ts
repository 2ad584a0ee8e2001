/**
 * An in-memory implementation of the TSDB contract (SampleQuerier + SampleAppender) for the PromQL and
 * rules tests: a test double of the store's interface, not of the code under test.
 */
import type { AppendResult, LabelMatcher, Labels, SampleAppender, SampleQuerier, SeriesData } from '../../../src/monitor/tsdb/types.js';
import { labelsKey, matchesAll } from '../../../src/monitor/promql/index.js';

interface MemSeries {
  labels: Labels;
  timestamps: number[];
  values: number[];
}

export class MemoryStore implements SampleQuerier, SampleAppender {
  private readonly series = new Map<string, MemSeries>();

  /** Adds one sample (kept in time order; a sample at an existing time replaces it). */
  add(labels: Labels, timeMs: number, value: number): void {
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries(labels)) if (v !== '') clean[k] = v;
    const key = labelsKey(clean);
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels: clean, timestamps: [], values: [] };
      this.series.set(key, s);
    }
    let i = s.timestamps.length;
    while (i > 0 && s.timestamps[i - 1]! > timeMs) i--;
    if (i > 0 && s.timestamps[i - 1] === timeMs) s.values[i - 1] = value;
    else {
      s.timestamps.splice(i, 0, timeMs);
      s.values.splice(i, 0, value);
    }
  }

  async append(samples: readonly { labels: Labels; timeMs: number; value: number }[]): Promise<AppendResult> {
    for (const s of samples) this.add(s.labels, s.timeMs, s.value);
    return { accepted: samples.length, rejected: {} };
  }

  private matching(matchers: readonly LabelMatcher[]): MemSeries[] {
    return [...this.series.values()].filter((s) => matchesAll(matchers, s.labels));
  }

  async select(matchers: readonly LabelMatcher[], startMs: number, endMs: number): Promise<SeriesData[]> {
    const out: SeriesData[] = [];
    for (const s of this.matching(matchers)) {
      const ts: number[] = [];
      const vs: number[] = [];
      s.timestamps.forEach((t, i) => {
        if (t >= startMs && t <= endMs) {
          ts.push(t);
          vs.push(s.values[i]!);
        }
      });
      if (ts.length > 0) out.push({ labels: s.labels, timestamps: ts, values: vs });
    }
    return out;
  }

  async labelNames(matchers: readonly LabelMatcher[] = []): Promise<string[]> {
    return [...new Set(this.matching(matchers).flatMap((s) => Object.keys(s.labels)))].sort();
  }

  async labelValues(name: string, matchers: readonly LabelMatcher[] = []): Promise<string[]> {
    return [...new Set(this.matching(matchers).flatMap((s) => (s.labels[name] !== undefined ? [s.labels[name]] : [])))].sort();
  }
}
