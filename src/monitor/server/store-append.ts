/**
 * How taken scrapes reach the time-series store, in one place. With a store that appends by series
 * reference (`seriesRef` + `appendRefs`, src/monitor/tsdb), each view series is resolved to the store's
 * series once and the handle kept (per store, per view series), so a sample costs no string work there
 * either: one `appendRefs` per scrape. With a store that has only `appendHost`, one HostSample per sample.
 */
import type { AppendResult } from '../tsdb/types.js';
import type { TakenScrape, ViewSeries } from './global-view.js';
import type { Sample } from './sample-validate.js';

/** The part of the time-series store ingestion uses (src/monitor/tsdb). */
export interface SampleStore {
  appendHost(host: string, samples: readonly Sample[]): Promise<AppendResult>;
  /** Resolves a series once (a handle, or why the store refuses it). Optional: appendHost is used without it. */
  seriesRef?(host: string, metric: string, labels: Readonly<Record<string, string>>): object | string;
  /** Appends one sample per handle, all at `timeMs`; as durable as appendHost. */
  appendRefs?(timeMs: number, refs: readonly never[], values: ArrayLike<number>): Promise<AppendResult>;
}

/** Appends the taken scrapes of one host's batch; resolves once every sample is durable. */
export type ScrapeAppender = (host: string, scrapes: readonly TakenScrape[]) => Promise<AppendResult>;

function merge(into: AppendResult, r: AppendResult): void {
  into.accepted += r.accepted;
  for (const [k, n] of Object.entries(r.rejected)) into.rejected[k] = (into.rejected[k] ?? 0) + n;
}

/** The appender for `store`: by reference when the store can, else by appendHost. */
export function createScrapeAppender(store: SampleStore): ScrapeAppender {
  const seriesRef = store.seriesRef?.bind(store);
  const appendRefs = store.appendRefs?.bind(store) as ((timeMs: number, refs: readonly object[], values: ArrayLike<number>) => Promise<AppendResult>) | undefined;
  if (seriesRef === undefined || appendRefs === undefined) return (host, scrapes) => appendByObjects(store, host, scrapes);
  // Per view series (one object per host and series): the store's handle, or the reason it refused it.
  const handles = new WeakMap<ViewSeries, object>();
  return async (host, scrapes) => {
    const result: AppendResult = { accepted: 0, rejected: {} };
    const pending: Promise<AppendResult>[] = [];
    for (const sc of scrapes) {
      const refs: object[] = [];
      const values: number[] = [];
      for (let i = 0; i < sc.series.length; i++) {
        const s = sc.series[i]!;
        let h: object | string | undefined = handles.get(s);
        if (h === undefined) {
          h = seriesRef(host, s.metric, s.labels);
          // A refusal (a series guard) is asked again next time: room may have been made since.
          if (typeof h !== 'string') handles.set(s, h);
        }
        if (typeof h === 'string') result.rejected[h] = (result.rejected[h] ?? 0) + 1;
        else {
          refs.push(h);
          values.push(sc.values[i]!);
        }
      }
      // One call per scrape, all before the first await: they share one WAL group commit.
      if (refs.length > 0) pending.push(appendRefs(sc.timeMs, refs, values));
    }
    for (const r of await Promise.all(pending)) merge(result, r);
    return result;
  };
}

/** One HostSample per sample through appendHost (the store finds each series by a string key). */
function appendByObjects(store: SampleStore, host: string, scrapes: readonly TakenScrape[]): Promise<AppendResult> {
  const samples: Sample[] = [];
  for (const sc of scrapes) {
    const t = sc.timeMs;
    const { series, values } = sc;
    for (let i = 0; i < series.length; i++) {
      const s = series[i]!;
      samples.push({ metric: s.metric, labels: s.labels, timeMs: t, value: values[i]! });
    }
  }
  return store.appendHost(host, samples);
}
