/**
 * The head: the series that have samples not yet in a block, each with its chunks in memory (one per
 * time window: closed ones, and the open one being appended to), the inverted index over them, and the
 * series guards.
 *
 * Rules for a sample (each refusal is counted by its reason):
 * - `bad_labels`: no `__name__`, an empty label name, or a NUL character in a name or value;
 *   `bad_time`: the time is not a whole number of ms in the safe-integer range.
 * - `too_old`: older than the start of the oldest window still in the head (its window is already a
 *   block, which is immutable).
 * - `out_of_order`: older than the series' last sample; `duplicate`: the same time as the last sample
 *   (the first one is kept, as Prometheus does).
 * - `series_limit_host`, `series_limit_metric`, `series_limit_total`: a new series beyond
 *   `maxSeriesPerHost` (by the `host` label), `maxSeriesPerMetric` (by `__name__`) or `maxSeries`.
 */
import type { EncodedChunk } from './block.js';
import { PostingsIndex } from './postings.js';
import type { Labels } from './types.js';
import { ChunkEncoder, decodeChunk } from './xor-chunk.js';

export type HeadRejectReason =
  | 'bad_labels'
  | 'bad_time'
  | 'too_old'
  | 'out_of_order'
  | 'duplicate'
  | 'series_limit_host'
  | 'series_limit_metric'
  | 'series_limit_total';

export interface HeadLimits {
  maxSeriesPerHost: number;
  maxSeriesPerMetric: number;
  maxSeries: number;
}

interface WindowChunk extends EncodedChunk {
  window: number;
}

/**
 * A series of the head. It is also the encoder of its open chunk (a head appends each sample to another
 * series: one object per series instead of two is a memory access fewer per sample), started over in its
 * own buffer when the series moves to a new window.
 */
export class MemSeries extends ChunkEncoder {
  /** Closed chunks, ascending by window. */
  readonly closed: WindowChunk[] = [];
  /** The open chunk (the series itself), or undefined when none is open. */
  enc: ChunkEncoder | undefined = undefined;
  encWindow = 0;
  lastT = Number.NEGATIVE_INFINITY;
  /** The window whose WAL segment last got this series' labels (-1: none). */
  walWindow = -1;
  removed = false;
  readonly labelsJson: string;

  constructor(
    readonly id: number,
    readonly labels: Labels,
    readonly key: string,
    readonly host: string,
    readonly metric: string,
  ) {
    super(1);
    this.labelsJson = JSON.stringify(labels);
  }
}

const NUL = '\u0000';

/** Canonical labels (names sorted) and their key; undefined when the labels are unusable. */
export function canonicalLabels(labels: Record<string, string>): { labels: Labels; key: string } | undefined {
  const names = Object.keys(labels).sort();
  const out: Record<string, string> = {};
  let key = '';
  for (const n of names) {
    const v = labels[n];
    if (n === '' || typeof v !== 'string' || n.includes(NUL) || v.includes(NUL)) return undefined;
    if (v === '') continue; // an empty value is the same as no label (Prometheus)
    out[n] = v;
    key += `${n}${NUL}${v}${NUL}`;
  }
  if (out.__name__ === undefined) return undefined;
  return { labels: Object.freeze(out), key };
}

/** A cheap key of labels in their given order (a cache key; the canonical key decides identity). */
export function fastKey(labels: Record<string, string>): string {
  let key = '';
  for (const n in labels) key += `${n}${NUL}${labels[n]}${NUL}`;
  return key;
}

export class Head {
  readonly series = new Map<number, MemSeries>();
  readonly postings = new PostingsIndex();
  private readonly byKey = new Map<string, MemSeries>();
  private readonly byFastKey = new Map<string, MemSeries>();
  private readonly perHost = new Map<string, number>();
  private readonly perMetric = new Map<string, number>();
  /** Windows that hold samples. */
  readonly windows = new Set<number>();
  nextId = 1;
  /** Samples older than this are refused (`too_old`). */
  minValidT = Number.NEGATIVE_INFINITY;
  maxT = Number.NEGATIVE_INFINITY;

  constructor(
    readonly blockMs: number,
    private readonly limits: HeadLimits,
  ) {}

  windowOf(t: number): number {
    return Math.floor(t / this.blockMs) * this.blockMs;
  }

  /** The series for labels given in any order, created when new (or why not). */
  seriesFor(labels: Record<string, string>, fk: string = fastKey(labels)): MemSeries | HeadRejectReason {
    const cached = this.byFastKey.get(fk);
    if (cached !== undefined && !cached.removed) return cached;
    const canon = canonicalLabels(labels);
    if (canon === undefined) return 'bad_labels';
    let s = this.byKey.get(canon.key);
    if (s === undefined) {
      const host = canon.labels.host ?? '';
      const metric = canon.labels.__name__!;
      if (this.series.size >= this.limits.maxSeries) return 'series_limit_total';
      if ((this.perHost.get(host) ?? 0) >= this.limits.maxSeriesPerHost) return 'series_limit_host';
      if ((this.perMetric.get(metric) ?? 0) >= this.limits.maxSeriesPerMetric) return 'series_limit_metric';
      s = this.add(this.nextId++, canon.labels, canon.key);
    }
    if (this.byFastKey.size > 2 * this.series.size + 1024) this.byFastKey.clear();
    this.byFastKey.set(fk, s);
    return s;
  }

  /** A series with a known id (WAL replay; no limits). */
  seriesWithId(id: number, labels: Labels): MemSeries | undefined {
    const canon = canonicalLabels(labels);
    if (canon === undefined) return undefined;
    const existing = this.byKey.get(canon.key);
    if (existing !== undefined) return existing;
    if (this.series.has(id)) return undefined;
    if (id >= this.nextId) this.nextId = id + 1;
    return this.add(id, canon.labels, canon.key);
  }

  private add(id: number, labels: Labels, key: string): MemSeries {
    const s = new MemSeries(id, labels, key, labels.host ?? '', labels.__name__!);
    this.series.set(id, s);
    this.byKey.set(key, s);
    this.postings.add(id, labels);
    this.perHost.set(s.host, (this.perHost.get(s.host) ?? 0) + 1);
    this.perMetric.set(s.metric, (this.perMetric.get(s.metric) ?? 0) + 1);
    return s;
  }

  private remove(s: MemSeries): void {
    s.removed = true;
    this.series.delete(s.id);
    this.byKey.delete(s.key);
    this.postings.remove(s.id, s.labels);
    const h = (this.perHost.get(s.host) ?? 1) - 1;
    if (h === 0) this.perHost.delete(s.host);
    else this.perHost.set(s.host, h);
    const m = (this.perMetric.get(s.metric) ?? 1) - 1;
    if (m === 0) this.perMetric.delete(s.metric);
    else this.perMetric.set(s.metric, m);
  }

  /** Appends a sample; undefined when taken, else why not. */
  append(s: MemSeries, t: number, v: number): HeadRejectReason | undefined {
    if (!Number.isSafeInteger(t)) return 'bad_time';
    if (t <= s.lastT) return t === s.lastT ? 'duplicate' : 'out_of_order';
    if (t < this.minValidT) return 'too_old';
    this.appendChecked(s, this.windowOf(t), t, v);
    return undefined;
  }

  /**
   * Appends a sample that passed `append`'s checks (`t` a safe integer, past `s.lastT`, not before
   * `minValidT`) to window `w` = windowOf(t); for callers that check a batch of one time once.
   */
  appendChecked(s: MemSeries, w: number, t: number, v: number): void {
    if (s.enc === undefined || s.encWindow !== w) {
      // The series moves on to a new window: its chunk of the last one is closed (copied to its size), and
      // the encoder starts over in its buffer, already about as large as a window of this series needs.
      if (s.enc !== undefined) s.closed.push({ window: s.encWindow, bytes: s.bytes().slice(), minT: s.minT, maxT: s.maxT, count: s.count });
      s.reset();
      s.enc = s;
      s.encWindow = w;
      this.windows.add(w);
    }
    s.append(t, v);
    s.lastT = t;
    if (t > this.maxT) this.maxT = t;
  }

  /** The oldest window that is due to become a block (the head has moved 1.5 windows past its start), if any. */
  dueWindow(): number | undefined {
    let oldest: number | undefined;
    for (const w of this.windows) if (oldest === undefined || w < oldest) oldest = w;
    if (oldest === undefined || this.maxT < oldest + this.blockMs * 1.5) return undefined;
    return oldest;
  }

  /** Closes the window for appends and returns its chunks per series (the head keeps them until dropWindow). */
  sealWindow(w: number): { labels: Labels; chunks: EncodedChunk[] }[] {
    if (w + this.blockMs > this.minValidT) this.minValidT = w + this.blockMs;
    const out: { labels: Labels; chunks: EncodedChunk[] }[] = [];
    for (const s of this.series.values()) {
      if (s.enc !== undefined && s.encWindow === w) {
        const enc = s.enc;
        s.closed.push({ window: w, bytes: enc.bytes().slice(), minT: enc.minT, maxT: enc.maxT, count: enc.count });
        s.enc = undefined;
      }
      const chunks = s.closed.filter((c) => c.window === w);
      if (chunks.length > 0) out.push({ labels: s.labels, chunks });
    }
    return out;
  }

  /** Forgets the window's chunks (now in a block) and the series left without any. */
  dropWindow(w: number): void {
    this.windows.delete(w);
    for (const s of [...this.series.values()]) {
      if (s.closed.length > 0 && s.closed[0]!.window <= w) {
        const keep = s.closed.filter((c) => c.window > w);
        s.closed.length = 0;
        s.closed.push(...keep);
      }
      if (s.closed.length === 0 && s.enc === undefined) this.remove(s);
    }
  }

  /** The samples of a series in [startMs, endMs]. */
  read(s: MemSeries, startMs: number, endMs: number): { timestamps: number[]; values: number[] } {
    const timestamps: number[] = [];
    const values: number[] = [];
    const take = (bytes: Uint8Array, count: number, minT: number, maxT: number): void => {
      if (count === 0 || maxT < startMs || minT > endMs) return;
      const d = decodeChunk(bytes, count, minT);
      const vs = d.values[0]!;
      for (let i = 0; i < count; i++) {
        const t = d.timestamps[i]!;
        if (t >= startMs && t <= endMs) {
          timestamps.push(t);
          values.push(vs[i]!);
        }
      }
    };
    for (const c of s.closed) take(c.bytes, c.count, c.minT, c.maxT);
    if (s.enc !== undefined) take(s.enc.bytes(), s.enc.count, s.enc.minT, s.enc.maxT);
    return { timestamps, values };
  }

  /** Chunks held (closed and open). */
  chunkCount(): number {
    let n = 0;
    for (const s of this.series.values()) n += s.closed.length + (s.enc !== undefined ? 1 : 0);
    return n;
  }

  /** Bytes held by chunks (closed and open). */
  chunkBytes(): number {
    let n = 0;
    for (const s of this.series.values()) {
      for (const c of s.closed) n += c.bytes.length;
      if (s.enc !== undefined) n += (s.enc.bitLength + 7) >>> 3;
    }
    return n;
  }
}
