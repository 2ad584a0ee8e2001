/**
 * The metric history's own metrics on `/metrics`: series-guard refusals by reason, other refused samples
 * by reason, and health gauges of the store (head series and chunks, WAL size, blocks). Read from
 * `Tsdb.stats()` at scrape time.
 */
import type { TsdbStats } from '../tsdb/index.js';
import type { MetricRegistry } from './own-metrics.js';

/** The series guards, as `reason` label values, and the store's rejection reason behind each. */
const SERIES_GUARDS = [
  ['host', 'series_limit_host'],
  ['metric', 'series_limit_metric'],
  ['total', 'series_limit_total'],
] as const;

const GUARD_REASONS: ReadonlySet<string> = new Set(SERIES_GUARDS.map(([, r]) => r));

/** Registers the flotilla_tsdb_* families; `stats` is called once per family at scrape time. */
export function registerTsdbMetrics(registry: MetricRegistry, stats: () => TsdbStats): void {
  const one = (pick: (s: TsdbStats) => number) => () => [{ labels: {}, value: pick(stats()) }];
  registry.computed(
    'flotilla_tsdb_series_refused_total',
    'Samples of new series the metric history refused, by the series guard that refused them (host: per host, metric: per metric name, total: in the head).',
    'counter',
    () => {
      const rejected = stats().rejected;
      return SERIES_GUARDS.map(([reason, key]) => ({ labels: { reason }, value: rejected[key] ?? 0 }));
    },
  );
  registry.computed('flotilla_tsdb_samples_rejected_total', 'Samples the metric history refused for other reasons (out_of_order, duplicate, too_old, bad_labels, bad_time).', 'counter', () =>
    Object.entries(stats().rejected)
      .filter(([reason]) => !GUARD_REASONS.has(reason))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([reason, value]) => ({ labels: { reason }, value })),
  );
  registry.computed('flotilla_tsdb_samples_appended_total', 'Samples stored in the metric history.', 'counter', one((s) => s.samplesAppended));
  registry.computed('flotilla_tsdb_head_series', 'Series in the head of the metric history (with samples not yet in a block).', 'gauge', one((s) => s.headSeries));
  registry.computed('flotilla_tsdb_head_chunks', 'Chunks in the head of the metric history.', 'gauge', one((s) => s.headChunks));
  registry.computed('flotilla_tsdb_head_chunk_bytes', 'Bytes of the chunks in the head of the metric history.', 'gauge', one((s) => s.headChunkBytes));
  registry.computed('flotilla_tsdb_wal_bytes', 'Bytes of the metric history’s write-ahead log on disk.', 'gauge', one((s) => s.walBytes));
  registry.computed('flotilla_tsdb_wal_segments', 'Segments of the metric history’s write-ahead log on disk.', 'gauge', one((s) => s.walSegments));
  registry.computed('flotilla_tsdb_wal_fsyncs_total', 'fdatasyncs of the write-ahead log.', 'counter', one((s) => s.walFsyncs));
  registry.computed('flotilla_tsdb_blocks', 'Blocks of the metric history on disk.', 'gauge', one((s) => s.blocks));
  registry.computed('flotilla_tsdb_block_bytes', 'Bytes of the metric history’s blocks on disk.', 'gauge', one((s) => s.blockBytes));
}
