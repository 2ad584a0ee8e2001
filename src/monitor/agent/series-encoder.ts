/**
 * The agent's half of protocol 2 of monitor.proto (series references): per stream, each series (metric +
 * labels) gets a small number, the ref, defined once in the first batch that carries it; every sample
 * after that travels as a (ref, value) pair in a Scrape holding one time for all the samples taken then.
 *
 * One encoder per stream: a reconnect starts a new one (the server's table is new too), so a batch resent
 * after a reconnect carries the definitions it needs. The table is bounded by the server's
 * `max_series_refs`: when a batch's new series do not fit, the encoder starts over and defines every
 * series of the batch again (a ref defined again names the new series on the server). Samples of a batch
 * with more distinct series than the bound go in the per-Metric form (protocol 1) of the same batch.
 */
import type { BufferedSample } from './buffered-batch.js';

export interface EncodedSeriesDef {
  ref: number;
  metric: string;
  labels: Record<string, string>;
}

export interface EncodedScrape {
  timeMs: number;
  refs: number[];
  values: number[];
}

export interface EncodedBatch {
  /** Definitions of the refs first used (or used again after a restart of the table) in this batch. */
  series: EncodedSeriesDef[];
  /** Runs of samples with the same time. */
  scrapes: EncodedScrape[];
  /** Samples that got no ref (more distinct series in the batch than the bound): sent as Metrics. */
  overflow: BufferedSample[];
}

const NUL = '\u0000';

/** The series identity as the agent sees it (labels in the collector's order; a different order only costs a second ref). */
function keyOf(s: BufferedSample): string {
  let key = s.metric;
  for (const n in s.labels) key += `${NUL}${n}${NUL}${s.labels[n]}`;
  return key;
}

export class SeriesEncoder {
  private readonly refs = new Map<string, number>();
  private nextRef = 0;
  /** Times the table was started over because it was full. */
  restarts = 0;

  constructor(
    /** Refs must be below this (the server's ServerWelcome.max_series_refs). */
    readonly maxRefs: number,
  ) {
    if (!(Number.isSafeInteger(maxRefs) && maxRefs >= 1)) throw new RangeError(`maxRefs must be a positive integer, got ${maxRefs}`);
  }

  /** Series with a ref now. */
  get size(): number {
    return this.refs.size;
  }

  encode(samples: readonly BufferedSample[]): EncodedBatch {
    const keys = samples.map(keyOf);
    let fresh = 0;
    const seen = new Set<string>();
    for (const k of keys) {
      if (!this.refs.has(k) && !seen.has(k)) {
        seen.add(k);
        fresh += 1;
      }
    }
    if (fresh > 0 && this.nextRef + fresh > this.maxRefs) {
      this.refs.clear();
      this.nextRef = 0;
      this.restarts += 1;
    }
    const out: EncodedBatch = { series: [], scrapes: [], overflow: [] };
    let scrape: EncodedScrape | undefined;
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i]!;
      const key = keys[i]!;
      let ref = this.refs.get(key);
      if (ref === undefined) {
        if (this.nextRef >= this.maxRefs) {
          out.overflow.push(s);
          continue;
        }
        ref = this.nextRef++;
        this.refs.set(key, ref);
        out.series.push({ ref, metric: s.metric, labels: s.labels });
      }
      const timeMs = Math.round(s.timeMs);
      if (scrape?.timeMs !== timeMs) out.scrapes.push((scrape = { timeMs, refs: [], values: [] }));
      scrape.refs.push(ref);
      scrape.values.push(s.value);
    }
    return out;
  }
}
