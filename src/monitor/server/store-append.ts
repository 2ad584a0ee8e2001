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

/**
 * The last scrape of one host as the store saw it: its view series and the store's handle of each (in
 * the same order), or undefined where the store refused the series (asked again next time).
 */
interface LastScrape {
  series: ViewSeries[];
  handles: (object | undefined)[];
}

/** Hosts whose last scrape is remembered; past this the memory is dropped (hosts that came and went). */
const MAX_HOSTS_REMEMBERED = 100_000;

/** The appender for `store`: by reference when the store can, else by appendHost. */
export function createScrapeAppender(store: SampleStore): ScrapeAppender {
  const seriesRef = store.seriesRef?.bind(store);
  const appendRefs = store.appendRefs?.bind(store) as ((timeMs: number, refs: readonly object[], values: ArrayLike<number>) => Promise<AppendResult>) | undefined;
  if (seriesRef === undefined || appendRefs === undefined) return (host, scrapes) => appendByObjects(store, host, scrapes);
  // Per view series (one object per host and series): the store's handle.
  const handles = new WeakMap<ViewSeries, object>();
  // An agent sends the same series in the same order scrape after scrape: when the series at position i
  // is the one of the host's last scrape, its handle is there, an identity test away (no map look-up).
  const last = new Map<string, LastScrape>();

  const handleOf = (host: string, s: ViewSeries, result: AppendResult): object | undefined => {
    let h: object | string | undefined = handles.get(s);
    if (h === undefined) {
      h = seriesRef(host, s.metric, s.labels);
      // A refusal (a series guard) is asked again next time: room may have been made since.
      if (typeof h === 'string') {
        result.rejected[h] = (result.rejected[h] ?? 0) + 1;
        return undefined;
      }
      handles.set(s, h);
    }
    return h;
  };

  return async (host, scrapes) => {
    const result: AppendResult = { accepted: 0, rejected: {} };
    const pending: Promise<AppendResult>[] = [];
    let prev = last.get(host);
    for (const sc of scrapes) {
      const { series, values } = sc;
      const n = series.length;
      // The common case: the same series as the last scrape, all taken: its handles as they are.
      let i = 0;
      let hs: (object | undefined)[];
      if (prev !== undefined && prev.series.length === n) {
        const ps = prev.series;
        const ph = prev.handles;
        while (i < n && ps[i] === series[i] && ph[i] !== undefined) i++;
        hs = i === n ? ph : ph.slice(0, i);
      } else hs = [];
      let refused = 0;
      for (; i < n; i++) {
        const s = series[i]!;
        let h = prev !== undefined && prev.series[i] === s ? prev.handles[i] : undefined;
        if (h === undefined) {
          h = handleOf(host, s, result);
          if (h === undefined) refused += 1;
        }
        hs.push(h);
      }
      prev = { series, handles: hs };
      // One call per scrape, all before the first await: they share one WAL group commit. The store reads
      // refs and values before the call returns.
      if (refused === 0) {
        if (n > 0) pending.push(appendRefs(sc.timeMs, hs as object[], values));
      } else if (refused < n) {
        const refs: object[] = [];
        const vs: number[] = [];
        for (let i = 0; i < n; i++) {
          if (hs[i] === undefined) continue;
          refs.push(hs[i]!);
          vs.push(values[i]!);
        }
        pending.push(appendRefs(sc.timeMs, refs, vs));
      }
    }
    if (prev !== undefined) {
      if (!last.has(host) && last.size >= MAX_HOSTS_REMEMBERED) last.clear();
      last.set(host, prev);
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
