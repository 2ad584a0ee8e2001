/**
 * The embedded time-series store (MON-10): a head of in-memory Gorilla chunks logged to a WAL, immutable
 * blocks per time window on disk, rollups for long ranges, retention by age and size, and series guards.
 *
 * Durability: `append` resolves only once every accepted sample is in the WAL and fdatasynced (group
 * commit), so a kill -9 after the promise resolved loses nothing; on start the WAL is replayed into the
 * head. A window becomes a block once the head has moved 1.5 windows past its start; then its WAL segment
 * is deleted. Retention runs after each block and every `retentionCheckMs`: blocks whose end is older
 * than `retentionMs` go, then the oldest blocks while all blocks together exceed `maxBytes`.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Code, FlotillaError } from '../../core/errors.js';
import type { Component } from '../../core/lifecycle.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { Block, writeBlock } from './block.js';
import { canonicalLabels, fastKey, Head, MemSeries, type HeadRejectReason } from './head.js';
import { compileMatchers, type CompiledMatcher } from './matchers.js';
import { aggregateColumn, mergeRows, rollup, ROLLUP_AGGREGATES, ROLLUP_RESOLUTIONS_MS, type RollupAggregate, type RollupRows } from './rollup.js';
import type { AppendResult, LabelMatcher, Labels, SampleAppender, SampleQuerier, SelectHints, SeriesData } from './types.js';
import { Wal, type SampleRun } from './wal.js';

export interface TsdbOptions {
  /** Directory of the store (`wal/` and `blocks/` inside). */
  dir: string;
  logger?: Logger;
  /** Blocks ending longer ago than this are deleted. Default 15 days. */
  retentionMs?: number;
  /** Most bytes all blocks may take; the oldest go first. 0 = no limit. Default 0. */
  maxBytes?: number;
  /** Time window of a block (and of a WAL segment). Default 2 h. */
  blockMs?: number;
  /** Most series per `host` label in the head. Default 20 000. */
  maxSeriesPerHost?: number;
  /** Most series per metric name in the head. Default 100 000. */
  maxSeriesPerMetric?: number;
  /** Most series in the head. Default 2 000 000. */
  maxSeries?: number;
  /** How often retention runs besides after each block. Default 60 000 ms. */
  retentionCheckMs?: number;
  /** Clock for retention (ms since the epoch). Default Date.now. */
  now?: () => number;
}

/** A sample of one host, as ingestion has it (labels without `__name__` and `host`). */
export interface HostSample {
  metric: string;
  labels: Readonly<Record<string, string>>;
  timeMs: number;
  value: number;
}

export interface TsdbStats {
  headSeries: number;
  headChunkBytes: number;
  /** Chunks in the head (closed and open). */
  headChunks: number;
  blocks: number;
  blockBytes: number;
  blockSamples: number;
  samplesAppended: number;
  rejected: Record<string, number>;
  walBytesWritten: number;
  walFsyncs: number;
  /** Bytes of the WAL's segments on disk, and their number. */
  walBytes: number;
  walSegments: number;
  /** Oldest and newest sample times the store may hold (NaN when empty). */
  minTimeMs: number;
  maxTimeMs: number;
}

/** A series resolved once by `seriesRef`, for `appendRefs` (opaque). */
export interface SeriesRef {
  readonly labels: Labels;
}

export interface Tsdb extends SampleQuerier, SampleAppender, Component {
  /** Appends samples of `host`: labels become the sample's labels + `__name__` = metric + `host` = host. */
  appendHost(host: string, samples: readonly HostSample[]): Promise<AppendResult>;
  /**
   * Resolves the series of `host` (labels as `appendHost` builds them; the series guards apply to a new
   * series), or says why it is refused. Nothing is counted until samples are appended.
   */
  seriesRef(host: string, metric: string, labels: Readonly<Record<string, string>>): SeriesRef | HeadRejectReason;
  /**
   * Appends one sample per ref, all at `timeMs` (the samples of one scrape); as durable as `append`. A
   * ref whose series has since left the head (a whole window without samples) is resolved again.
   */
  appendRefs(timeMs: number, refs: readonly SeriesRef[], values: ArrayLike<number>): Promise<AppendResult>;
  /** Writes every due window as a block and applies retention (also done in the background). */
  compact(): Promise<void>;
  stats(): TsdbStats;
}

type Reason = HeadRejectReason | 'store_failed';

export function createTsdb(options: TsdbOptions): Tsdb {
  const logger = options.logger ?? silentLogger();
  const blockMs = options.blockMs ?? 7_200_000;
  const retentionMs = options.retentionMs ?? 15 * 86_400_000;
  const maxBytes = options.maxBytes ?? 0;
  const now = options.now ?? Date.now;
  if (!(blockMs >= 60_000) || blockMs % 60_000 !== 0) throw new FlotillaError(Code.INVALID_ARGUMENT, `blockMs must be a whole number of minutes, got ${blockMs}`);
  if (!(retentionMs > 0)) throw new FlotillaError(Code.INVALID_ARGUMENT, `retention must be positive, got ${retentionMs} ms`);
  const head = new Head(blockMs, {
    maxSeriesPerHost: options.maxSeriesPerHost ?? 20_000,
    maxSeriesPerMetric: options.maxSeriesPerMetric ?? 100_000,
    maxSeries: options.maxSeries ?? 2_000_000,
  });
  const walDir = join(options.dir, 'wal');
  const blocksDir = join(options.dir, 'blocks');
  const wal = new Wal(walDir, logger);
  let blocks: Block[] = [];
  let started = false;
  let stopped = false;
  let samplesAppended = 0;
  const rejectedTotal: Record<string, number> = {};
  let compacting: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  function ensureOpen(): void {
    if (!started) throw new FlotillaError(Code.UNAVAILABLE, 'the time-series store is not started');
    if (stopped) throw new FlotillaError(Code.UNAVAILABLE, 'the time-series store is stopped');
  }

  function reject(result: AppendResult, reason: Reason): void {
    result.rejected[reason] = (result.rejected[reason] ?? 0) + 1;
    rejectedTotal[reason] = (rejectedTotal[reason] ?? 0) + 1;
  }

  function take(result: AppendResult, s: MemSeries | HeadRejectReason, t: number, v: number): void {
    if (typeof s === 'string') return reject(result, s);
    const r = head.append(s, t, v);
    if (r !== undefined) return reject(result, r);
    const w = head.windowOf(t);
    if (s.walWindow !== w) {
      wal.addSeries(w, s.id, s.labelsJson);
      s.walWindow = w;
    }
    wal.addSample(w, s.id, t, v);
    result.accepted += 1;
  }

  async function finish(result: AppendResult): Promise<AppendResult> {
    samplesAppended += result.accepted;
    if (result.accepted > 0) await wal.commit();
    if (head.dueWindow() !== undefined) void scheduleCompaction();
    return result;
  }

  function scheduleCompaction(): Promise<void> | undefined {
    if (compacting !== undefined || stopped) return compacting;
    compacting = compactOnce()
      .catch((err: unknown) => logger.error({ err: (err as Error).message }, 'time-series compaction failed (will retry)'))
      .finally(() => {
        compacting = undefined;
      });
    return compacting;
  }

  async function compactOnce(): Promise<void> {
    for (let w = head.dueWindow(); w !== undefined && !stopped; w = head.dueWindow()) {
      const series = head.sealWindow(w);
      if (series.length > 0) {
        const dir = await writeBlock(blocksDir, w, w + blockMs, series);
        const block = await Block.open(dir);
        blocks = [...blocks.filter((b) => b.dir !== dir), block].sort((a, b) => a.minT - b.minT);
        logger.info({ block: dir, series: block.seriesCount, samples: block.samples, bytes: block.sizeBytes }, 'time-series block written');
      }
      head.dropWindow(w);
      await wal.dropWindow(w);
    }
    await applyRetention();
  }

  async function applyRetention(): Promise<void> {
    const cutoff = now() - retentionMs;
    const drop: Block[] = blocks.filter((b) => b.maxT <= cutoff);
    let keep = blocks.filter((b) => b.maxT > cutoff);
    if (maxBytes > 0) {
      let total = keep.reduce((n, b) => n + b.sizeBytes, 0);
      while (keep.length > 0 && total > maxBytes) {
        const oldest = keep[0]!;
        drop.push(oldest);
        total -= oldest.sizeBytes;
        keep = keep.slice(1);
      }
    }
    if (drop.length === 0) return;
    blocks = keep;
    for (const b of drop) {
      await b.close().catch(() => undefined);
      await rm(b.dir, { recursive: true, force: true });
      logger.info({ block: b.dir }, 'time-series block deleted (retention)');
    }
  }

  function resolutionFor(hints: SelectHints | undefined): number {
    const step = hints?.stepMs ?? 0;
    let res = 0;
    for (const r of ROLLUP_RESOLUTIONS_MS) if (step >= r) res = r;
    return res;
  }

  function keyOf(labels: Labels): string {
    return canonicalLabels(labels)?.key ?? JSON.stringify(labels);
  }

  async function collect(cms: CompiledMatcher[], startMs: number, endMs: number, resolutionMs: number, aggregate: RollupAggregate): Promise<SeriesData[]> {
    // Pieces of one series (one per block, one from the head): raw samples, or rollup rows (5 columns).
    const parts = new Map<string, { labels: Labels; pieces: { ts: number[]; cols: number[][] }[] }>();
    const add = (labels: Labels, ts: number[], cols: number[][]): void => {
      if (ts.length === 0) return;
      const key = keyOf(labels);
      let p = parts.get(key);
      if (p === undefined) parts.set(key, (p = { labels, pieces: [] }));
      p.pieces.push({ ts, cols });
    };
    for (const b of blocks) {
      if (b.minT > endMs || b.maxT <= startMs) continue;
      const ids = b.postings.select(cms, (id) => b.labelsOf(id));
      if (ids.length === 0) continue;
      for (const r of await b.read(ids, startMs, endMs, resolutionMs)) add(r.labels, r.timestamps, r.columns);
    }
    for (const id of head.postings.select(cms, (id) => head.series.get(id)!.labels)) {
      const s = head.series.get(id)!;
      const raw = head.read(s, startMs, endMs);
      if (resolutionMs === 0) add(s.labels, raw.timestamps, [raw.values]);
      else {
        const rows = rollup(raw.timestamps, raw.values, resolutionMs);
        add(s.labels, rows.timestamps, rows.columns);
      }
    }
    const out: SeriesData[] = [];
    for (const [, p] of [...parts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      p.pieces.sort((a, b) => a.ts[0]! - b.ts[0]!);
      if (resolutionMs !== 0) {
        // A rollup window cut by a block boundary has a row on each side: join them.
        const rows: RollupRows = { timestamps: [], columns: [[], [], [], [], []] };
        for (const piece of p.pieces) mergeRows(rows, { timestamps: piece.ts, columns: piece.cols }, resolutionMs);
        out.push({ labels: p.labels, timestamps: rows.timestamps, values: aggregateColumn(rows, aggregate), resolutionMs });
        continue;
      }
      const timestamps: number[] = [];
      const values: number[] = [];
      for (const piece of p.pieces) {
        const vs = piece.cols[0]!;
        for (let i = 0; i < piece.ts.length; i++) {
          const t = piece.ts[i]!;
          if (timestamps.length > 0 && t <= timestamps[timestamps.length - 1]!) continue;
          timestamps.push(t);
          values.push(vs[i]!);
        }
      }
      out.push({ labels: p.labels, timestamps, values });
    }
    return out;
  }

  async function matchingLabels(matchers: readonly LabelMatcher[] | undefined): Promise<Labels[] | undefined> {
    if (matchers === undefined || matchers.length === 0) return undefined;
    const cms = compileMatchers(matchers);
    const out: Labels[] = [];
    for (const b of blocks) for (const id of b.postings.select(cms, (i) => b.labelsOf(i))) out.push(b.labelsOf(id));
    for (const id of head.postings.select(cms, (i) => head.series.get(i)!.labels)) out.push(head.series.get(id)!.labels);
    return out;
  }

  const store: Tsdb = {
    name: 'tsdb',

    async start() {
      if (started) return;
      await mkdir(blocksDir, { recursive: true });
      for (const entry of await readdir(blocksDir)) {
        if (entry.endsWith('.tmp')) {
          await rm(join(blocksDir, entry), { recursive: true, force: true });
          continue;
        }
        if (!/^-?\d+--?\d+$/.test(entry)) continue;
        blocks.push(await Block.open(join(blocksDir, entry)));
      }
      blocks.sort((a, b) => a.minT - b.minT);
      for (const b of blocks) if (b.maxT > head.minValidT) head.minValidT = b.maxT;
      const idMap = new Map<string, MemSeries>(); // `${window}:${walId}` -> series
      let replayed = 0;
      let skipped = 0;
      const segments = await wal.replay({
        series(window, id, labels) {
          const s = head.seriesWithId(id, labels);
          if (s === undefined) return;
          idMap.set(`${window}:${id}`, s);
          if (s.id === id && window > s.walWindow) s.walWindow = window;
        },
        sample(window, id, t, v) {
          const s = idMap.get(`${window}:${id}`);
          if (s === undefined || head.append(s, t, v) !== undefined) skipped += 1;
          else replayed += 1;
        },
      });
      // Segments of windows already in blocks (a crash between the block and the segment's deletion).
      for (const w of segments) if (w + blockMs <= head.minValidT && !head.windows.has(w)) await wal.dropWindow(w);
      started = true;
      logger.info({ blocks: blocks.length, walSegments: segments.length, samples: replayed, skipped, series: head.series.size }, 'time-series store opened (WAL replayed)');
      timer = setInterval(() => void scheduleCompaction(), options.retentionCheckMs ?? 60_000);
      timer.unref();
      void scheduleCompaction();
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      await compacting;
      await wal.close();
      for (const b of blocks) await b.close().catch(() => undefined);
    },

    async append(samples) {
      ensureOpen();
      const result: AppendResult = { accepted: 0, rejected: {} };
      for (const x of samples) {
        const labels = x.labels as Record<string, string>;
        take(result, head.seriesFor(labels), x.timeMs, x.value);
      }
      return finish(result);
    },

    async appendHost(host, samples) {
      ensureOpen();
      const result: AppendResult = { accepted: 0, rejected: {} };
      const prefix = `host\u0000${host}\u0000`;
      for (const x of samples) {
        const fk = `${prefix}${x.metric}\u0000${fastKey(x.labels)}`;
        let s = head.seriesFor(EMPTY, fk);
        if (typeof s === 'string') s = head.seriesFor({ ...x.labels, __name__: x.metric, host }, fk);
        take(result, s, x.timeMs, x.value);
      }
      return finish(result);
    },

    seriesRef(host, metric, labels) {
      ensureOpen();
      const fk = `host\u0000${host}\u0000${metric}\u0000${fastKey(labels)}`;
      const s = head.seriesFor(EMPTY, fk);
      return typeof s !== 'string' ? s : head.seriesFor({ ...labels, __name__: metric, host }, fk);
    },

    async appendRefs(timeMs, refs, values) {
      ensureOpen();
      const n = refs.length;
      if (values.length !== n) throw new FlotillaError(Code.INVALID_ARGUMENT, `appendRefs: ${n} refs but ${values.length} values`);
      for (let i = 0; i < n; i++) if (!(refs[i] instanceof MemSeries)) throw new FlotillaError(Code.INVALID_ARGUMENT, 'appendRefs: not a ref from seriesRef');
      const series = refs as readonly MemSeries[];
      const result: AppendResult = { accepted: 0, rejected: {} };
      if (!Number.isSafeInteger(timeMs) || timeMs < head.minValidT || n === 0) {
        // The rare cases (every sample refused, or no sample), sample by sample with every check.
        for (let i = 0; i < n; i++) {
          const s = series[i]!;
          take(result, s.removed ? head.seriesFor(s.labels) : s, timeMs, values[i]!);
        }
        return finish(result);
      }
      // One time for all: its checks, its window and its WAL entry once; per sample the series' own order.
      const w = head.windowOf(timeMs);
      // Opened at the first sample taken (no empty entry when all are refused). Series entries go to a
      // buffer of their own (written first in the record), so the run stays open.
      let run: SampleRun | undefined;
      let accepted = 0;
      for (let i = 0; i < n; i++) {
        let s: MemSeries | HeadRejectReason = series[i]!;
        if (s.removed) {
          s = head.seriesFor(s.labels);
          if (typeof s === 'string') {
            reject(result, s);
            continue;
          }
        }
        if (timeMs <= s.lastT) {
          reject(result, timeMs === s.lastT ? 'duplicate' : 'out_of_order');
          continue;
        }
        head.appendChecked(s, w, timeMs, values[i]!);
        if (s.walWindow !== w) {
          wal.addSeries(w, s.id, s.labelsJson);
          s.walWindow = w;
        }
        (run ??= wal.openRun(w, timeMs, n - i)).put(s.id, values[i]!);
        accepted += 1;
      }
      result.accepted = accepted;
      return finish(result);
    },

    async select(matchers, startMs, endMs, hints) {
      ensureOpen();
      if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) throw new FlotillaError(Code.INVALID_ARGUMENT, 'select: start and end must be finite times in ms');
      const aggregate = hints?.aggregate ?? 'last';
      if (!ROLLUP_AGGREGATES.includes(aggregate)) throw new FlotillaError(Code.INVALID_ARGUMENT, `select: unknown aggregate ${JSON.stringify(aggregate)}`);
      if (endMs < startMs) return [];
      return collect(compileMatchers(matchers), startMs, endMs, resolutionFor(hints), aggregate);
    },

    async labelNames(matchers) {
      ensureOpen();
      const names = new Set<string>();
      const ls = await matchingLabels(matchers);
      if (ls === undefined) {
        for (const n of head.postings.labelNames()) names.add(n);
        for (const b of blocks) for (const n of b.postings.labelNames()) names.add(n);
      } else for (const l of ls) for (const n of Object.keys(l)) names.add(n);
      return [...names].sort();
    },

    async labelValues(name, matchers) {
      ensureOpen();
      const values = new Set<string>();
      const ls = await matchingLabels(matchers);
      if (ls === undefined) {
        for (const v of head.postings.labelValues(name)) values.add(v);
        for (const b of blocks) for (const v of b.postings.labelValues(name)) values.add(v);
      } else for (const l of ls) if (l[name] !== undefined) values.add(l[name]);
      return [...values].sort();
    },

    async compact() {
      ensureOpen();
      while (compacting !== undefined) await compacting;
      await scheduleCompaction();
      await applyRetention();
    },

    stats() {
      let minT = blocks[0]?.minT ?? Number.NaN;
      for (const s of head.series.values()) {
        const first = s.closed[0]?.minT ?? s.enc?.minT;
        if (first !== undefined && !(first >= minT)) minT = first;
      }
      return {
        headSeries: head.series.size,
        headChunkBytes: head.chunkBytes(),
        headChunks: head.chunkCount(),
        blocks: blocks.length,
        blockBytes: blocks.reduce((n, b) => n + b.sizeBytes, 0),
        blockSamples: blocks.reduce((n, b) => n + b.samples, 0),
        samplesAppended,
        rejected: { ...rejectedTotal },
        walBytesWritten: wal.bytesWritten,
        walFsyncs: wal.fsyncs,
        walBytes: wal.sizeBytes,
        walSegments: wal.segments,
        minTimeMs: minT,
        maxTimeMs: head.maxT > Number.NEGATIVE_INFINITY ? head.maxT : (blocks.at(-1)?.maxT ?? Number.NaN),
      };
    },
  };
  return store;
}

/** Never a valid label set: `seriesFor(EMPTY, key)` only consults the cache. */
const EMPTY: Record<string, string> = Object.freeze({});
