/**
 * The contract between the time-series store (src/monitor/tsdb/) and its readers and writers: the PromQL
 * engine and rules (src/monitor/promql/, src/monitor/rules/), ingestion from agents, and exporters.
 * Labels follow Prometheus: the metric name is the label `__name__`.
 */

/** A series' labels, `__name__` included. */
export type Labels = Readonly<Record<string, string>>;

export type MatchType = '=' | '!=' | '=~' | '!~';

/** A label matcher; regular expressions are fully anchored, as in Prometheus. */
export interface LabelMatcher {
  readonly name: string;
  readonly type: MatchType;
  readonly value: string;
}

/** One series' samples in a time range, in ascending time order. */
export interface SeriesData {
  readonly labels: Labels;
  /** Sample times in ms since the epoch, ascending, no duplicates. */
  readonly timestamps: readonly number[];
  readonly values: readonly number[];
  /**
   * Set when the samples are downsampled (see SelectHints): the rollup window in ms. Each sample is then
   * one window, stamped with the time of the window's last raw sample. Absent for raw samples.
   */
  readonly resolutionMs?: number;
}

/**
 * Optional hints to `select` (added after the first version of this contract; callers that pass none get
 * raw samples as before). With `stepMs` >= 60 000 the store may answer from its 1 m rollups, and with
 * `stepMs` >= 3 600 000 from its 1 h rollups: one sample per window holding the `aggregate` of the
 * window's raw samples ('last' by default, which keeps counters usable by rate() and increase()).
 */
export interface SelectHints {
  /** The caller's evaluation step in ms (a query_range step, or a range function's window). */
  readonly stepMs?: number;
  /** What one downsampled sample holds. Default 'last'. */
  readonly aggregate?: 'last' | 'min' | 'max' | 'sum' | 'count' | 'avg';
}

/** Reads samples. */
export interface SampleQuerier {
  /** Every series matching all matchers, with its samples in [startMs, endMs] (both inclusive). */
  select(matchers: readonly LabelMatcher[], startMs: number, endMs: number, hints?: SelectHints): Promise<SeriesData[]>;
  /** Label names present in series matching the matchers (all series when none). */
  labelNames(matchers?: readonly LabelMatcher[]): Promise<string[]>;
  /** Values of one label among series matching the matchers. */
  labelValues(name: string, matchers?: readonly LabelMatcher[]): Promise<string[]>;
}

export interface AppendResult {
  /** Samples stored. */
  accepted: number;
  /** Samples refused (series limit, out-of-order beyond the allowed window, NaN where refused...), counted by reason. */
  rejected: Record<string, number>;
}

/** Writes samples. A resolved append is durable (written to the log) and queryable. */
export interface SampleAppender {
  append(samples: readonly { labels: Labels; timeMs: number; value: number }[]): Promise<AppendResult>;
}
