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
}

/** Reads samples. */
export interface SampleQuerier {
  /** Every series matching all matchers, with its samples in [startMs, endMs] (both inclusive). */
  select(matchers: readonly LabelMatcher[], startMs: number, endMs: number): Promise<SeriesData[]>;
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
