/**
 * Immutable blocks: the samples of one time window (2 h by default), written once when the window leaves
 * the head (block-writer.ts). A block is a directory `blocks/<minT>-<maxT>/` with `chunks.bin` and an
 * index; the inverted index of its series is rebuilt from that index when the block is opened.
 *
 * Versions (every one is still read):
 * - 3 (written now): `index.bin`, binary (block-index.ts); columns encoded by value-column.ts, one time
 *   column per scrape shared by the series of that scrape.
 * - 2: `index.json` (per series: labels, and for each chunk [offset, length, minT, maxT, count]) over
 *   Gorilla chunks, each with its own timestamps; rollup windows closed on the right, as in 3.
 * - 1: as 2 with left-closed rollup windows, so its rollup reads roll its raw chunks up again (same
 *   answers, more work).
 * A block of a later version is refused with an error naming the version.
 */
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Code, FlotillaError } from '../../core/errors.js';
import { BLOCK_FORMAT, decodeBlockIndex, UnknownVersionError, type ColumnRef, type ColumnsIndex } from './block-index.js';
import { PostingsIndex } from './postings.js';
import { rollup, ROLLUP_COLUMNS, ROLLUP_RESOLUTIONS_MS } from './rollup.js';
import type { Labels } from './types.js';
import { decodeValueColumn } from './value-column.js';
import { decodeChunk } from './xor-chunk.js';

export { writeBlock, type BlockSeriesInput } from './block-writer.js';

/** [offset, length, minT, maxT, count] (format 1 and 2). */
export type ChunkRef = [number, number, number, number, number];

interface BlockSeriesJson {
  l: Labels;
  /** Raw chunks, ascending. */
  c: ChunkRef[];
  /** One rollup chunk per resolution of ROLLUP_RESOLUTIONS_MS. */
  r: ChunkRef[];
}

interface BlockIndexJson {
  version: 1 | 2;
  minT: number;
  maxT: number;
  samples: number;
  series: BlockSeriesJson[];
}

type Layout = { version: 1 | 2; json: BlockIndexJson } | { version: 3; cols: ColumnsIndex };

export interface EncodedChunk {
  bytes: Uint8Array;
  minT: number;
  maxT: number;
  count: number;
}

export interface ReadSeries {
  /** Index of the series in the block. */
  id: number;
  labels: Labels;
  timestamps: number[];
  /** Raw: one column; rollups: min, max, sum, count, last. */
  columns: number[][];
}

/** Bytes of a block by what they hold (for the storage benchmark and stats). */
export interface BlockSizes {
  /** The index file (labels, references, checksum). */
  index: number;
  /** Sample times of raw samples (format 3: shared time columns; formats 1-2: inside `raw`). */
  rawTimes: number;
  /** Raw sample values (formats 1-2: with their times). */
  raw: number;
  /** Rollup columns with their time columns. */
  rollups: number;
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export class Block {
  readonly postings = new PostingsIndex();
  private fh: FileHandle | undefined;

  private constructor(
    readonly dir: string,
    private readonly layout: Layout,
    /** Bytes of the block's files. */
    readonly sizeBytes: number,
    private readonly indexBytes: number,
  ) {
    if (layout.version === 3) layout.cols.series.forEach((s, id) => this.postings.add(id, s.labels));
    else layout.json.series.forEach((s, id) => this.postings.add(id, s.l));
  }

  static async open(dir: string): Promise<Block> {
    const chunksSize = async (): Promise<number> => {
      try {
        return (await stat(join(dir, 'chunks.bin'))).size;
      } catch (err) {
        throw new FlotillaError(Code.INTERNAL, `block ${dir}: chunks.bin is missing (${(err as Error).message})`, { cause: err });
      }
    };
    let bin: Buffer | undefined;
    try {
      bin = await readIfExists(join(dir, 'index.bin'));
    } catch (err) {
      throw new FlotillaError(Code.INTERNAL, `block ${dir}: unreadable index (${(err as Error).message})`, { cause: err });
    }
    if (bin !== undefined) {
      let cols: ColumnsIndex & { chunkBytes: number };
      try {
        cols = decodeBlockIndex(bin, ROLLUP_COLUMNS);
      } catch (err) {
        if (err instanceof UnknownVersionError) {
          throw new FlotillaError(Code.FAILED_PRECONDITION, `block ${dir}: format version ${err.version} is not one this version of Flotilla reads (1 to ${BLOCK_FORMAT}); run a newer version or move the block away`);
        }
        throw new FlotillaError(Code.INTERNAL, `block ${dir}: damaged index.bin (${(err as Error).message})`, { cause: err });
      }
      const size = await chunksSize();
      if (size < cols.chunkBytes) throw new FlotillaError(Code.INTERNAL, `block ${dir}: chunks.bin has ${size} bytes, its index says ${cols.chunkBytes}`);
      return new Block(dir, { version: 3, cols }, bin.length + size, bin.length);
    }
    let json: BlockIndexJson;
    let text: string;
    try {
      text = await readFile(join(dir, 'index.json'), 'utf8');
      json = JSON.parse(text) as BlockIndexJson;
    } catch (err) {
      throw new FlotillaError(Code.INTERNAL, `block ${dir}: unreadable index (${(err as Error).message})`, { cause: err });
    }
    if ((json.version !== 1 && json.version !== 2) || !Array.isArray(json.series)) {
      throw new FlotillaError(Code.FAILED_PRECONDITION, `block ${dir}: unknown index version ${String(json.version)} (this version of Flotilla reads 1 to ${BLOCK_FORMAT})`);
    }
    const indexBytes = Buffer.byteLength(text);
    return new Block(dir, { version: json.version, json }, indexBytes + (await chunksSize()), indexBytes);
  }

  /** The block's format version (1 to 3). */
  get version(): number {
    return this.layout.version;
  }

  private get meta(): { minT: number; maxT: number; samples: number } {
    return this.layout.version === 3 ? this.layout.cols : this.layout.json;
  }

  get minT(): number {
    return this.meta.minT;
  }

  get maxT(): number {
    return this.meta.maxT;
  }

  get samples(): number {
    return this.meta.samples;
  }

  get seriesCount(): number {
    return this.layout.version === 3 ? this.layout.cols.series.length : this.layout.json.series.length;
  }

  labelsOf(id: number): Labels {
    return this.layout.version === 3 ? this.layout.cols.series[id]!.labels : this.layout.json.series[id]!.l;
  }

  sizes(): BlockSizes {
    const out: BlockSizes = { index: this.indexBytes, rawTimes: 0, raw: 0, rollups: 0 };
    if (this.layout.version !== 3) {
      for (const s of this.layout.json.series) {
        for (const c of s.c) out.raw += c[1];
        for (const r of s.r) out.rollups += r[1];
      }
      return out;
    }
    const { timeColumns, series } = this.layout.cols;
    const rawTc = new Set<number>();
    const rollupTc = new Set<number>();
    for (const s of series) {
      // A column that reuses an earlier column's bytes takes none of its own.
      for (const r of s.raw) {
        rawTc.add(r.tc);
        if (r.values.shared === undefined) out.raw += r.values.len;
      }
      for (const r of s.rollups) {
        rollupTc.add(r.tc);
        for (const c of r.columns) if (c.shared === undefined) out.rollups += c.len;
      }
    }
    for (const tc of rawTc) out.rawTimes += timeColumns[tc]!.len;
    for (const tc of rollupTc) if (!rawTc.has(tc)) out.rollups += timeColumns[tc]!.len;
    return out;
  }

  /**
   * Samples of the given series in [startMs, endMs]: raw (`resolutionMs` 0) or the rollup rows of that
   * resolution.
   */
  async read(ids: readonly number[], startMs: number, endMs: number, resolutionMs = 0): Promise<ReadSeries[]> {
    const rollupIdx = resolutionMs === 0 ? -1 : ROLLUP_RESOLUTIONS_MS.indexOf(resolutionMs as (typeof ROLLUP_RESOLUTIONS_MS)[number]);
    if (resolutionMs !== 0 && rollupIdx < 0) throw new FlotillaError(Code.INVALID_ARGUMENT, `no rollup at ${resolutionMs} ms`);
    if (resolutionMs !== 0 && this.layout.version === 1) {
      // Format 1 rollups have left-closed windows: roll the raw samples up again.
      return (await this.read(ids, startMs, endMs, 0)).map((r) => {
        const rows = rollup(r.timestamps, r.columns[0]!, resolutionMs);
        return { id: r.id, labels: r.labels, timestamps: rows.timestamps, columns: rows.columns };
      });
    }
    try {
      return this.layout.version === 3 ? await this.readColumns(this.layout.cols, ids, startMs, endMs, rollupIdx) : await this.readChunks(this.layout.json, ids, startMs, endMs, rollupIdx);
    } catch (err) {
      if (err instanceof RangeError) throw new FlotillaError(Code.INTERNAL, `block ${this.dir}: damaged chunk (${err.message})`, { cause: err });
      throw err;
    }
  }

  /** The bytes [lo, hi) of chunks.bin. */
  private async span(lo: number, hi: number): Promise<Buffer> {
    this.fh ??= await open(join(this.dir, 'chunks.bin'), 'r');
    const span = Buffer.allocUnsafe(hi - lo);
    let got = 0;
    while (got < span.length) {
      const { bytesRead } = await this.fh.read(span, got, span.length - got, lo + got);
      if (bytesRead === 0) throw new FlotillaError(Code.INTERNAL, `block ${this.dir}: chunks.bin is shorter than its index says`);
      got += bytesRead;
    }
    return span;
  }

  private async readColumns(ix: ColumnsIndex, ids: readonly number[], startMs: number, endMs: number, rollupIdx: number): Promise<ReadSeries[]> {
    const wanted: { id: number; parts: { tc: number; columns: ColumnRef[] }[] }[] = [];
    let lo = Number.POSITIVE_INFINITY;
    let hi = 0;
    const cover = (ref: ColumnRef): void => {
      if (ref.off < lo) lo = ref.off;
      if (ref.off + ref.len > hi) hi = ref.off + ref.len;
    };
    for (const id of ids) {
      const s = ix.series[id]!;
      const all = rollupIdx < 0 ? s.raw.map((r) => ({ tc: r.tc, columns: [r.values] })) : s.rollups[rollupIdx] !== undefined ? [s.rollups[rollupIdx]] : [];
      const parts = all.filter((p) => {
        const tc = ix.timeColumns[p.tc]!;
        return tc.count > 0 && tc.maxT >= startMs && tc.minT <= endMs;
      });
      if (parts.length === 0) continue;
      wanted.push({ id, parts });
      for (const p of parts) {
        cover(ix.timeColumns[p.tc]!);
        p.columns.forEach(cover);
      }
    }
    if (wanted.length === 0) return [];
    // One read of the span holding every wanted column (series of a query tend to sit together).
    const span = await this.span(lo, hi);
    const slice = (ref: ColumnRef): Uint8Array => span.subarray(ref.off - lo, ref.off - lo + ref.len);
    const times = new Map<number, number[]>();
    const out: ReadSeries[] = [];
    for (const { id, parts } of wanted) {
      const ts: number[] = [];
      const cols: number[][] = Array.from({ length: parts[0]!.columns.length }, () => []);
      for (const p of parts) {
        const tc = ix.timeColumns[p.tc]!;
        let pt = times.get(p.tc);
        if (pt === undefined) times.set(p.tc, (pt = decodeValueColumn(slice(tc), tc.count)));
        const values = p.columns.map((c) => decodeValueColumn(slice(c), tc.count));
        if (tc.minT >= startMs && tc.maxT <= endMs) {
          for (const t of pt) ts.push(t);
          values.forEach((v, c) => {
            const col = cols[c]!;
            for (const x of v) col.push(x);
          });
          continue;
        }
        for (let i = 0; i < tc.count; i++) {
          const t = pt[i]!;
          if (t < startMs || t > endMs) continue;
          ts.push(t);
          for (let c = 0; c < values.length; c++) cols[c]!.push(values[c]![i]!);
        }
      }
      if (ts.length > 0) out.push({ id, labels: ix.series[id]!.labels, timestamps: ts, columns: cols });
    }
    return out;
  }

  private async readChunks(ix: BlockIndexJson, ids: readonly number[], startMs: number, endMs: number, rollupIdx: number): Promise<ReadSeries[]> {
    const wanted: { id: number; refs: ChunkRef[] }[] = [];
    let lo = Number.POSITIVE_INFINITY;
    let hi = 0;
    for (const id of ids) {
      const s = ix.series[id]!;
      const refs = (rollupIdx < 0 ? s.c : [s.r[rollupIdx]!]).filter((r) => r[4] > 0 && r[3] >= startMs && r[2] <= endMs);
      if (refs.length === 0) continue;
      wanted.push({ id, refs });
      for (const r of refs) {
        lo = Math.min(lo, r[0]);
        hi = Math.max(hi, r[0] + r[1]);
      }
    }
    if (wanted.length === 0) return [];
    const span = await this.span(lo, hi);
    const columns = rollupIdx < 0 ? 1 : ROLLUP_COLUMNS;
    const out: ReadSeries[] = [];
    for (const { id, refs } of wanted) {
      const ts: number[] = [];
      const cols: number[][] = Array.from({ length: columns }, () => []);
      for (const [off, len, minT, , count] of refs) {
        const d = decodeChunk(span.subarray(off - lo, off - lo + len), count, minT, columns);
        for (let i = 0; i < count; i++) {
          const t = d.timestamps[i]!;
          if (t < startMs || t > endMs) continue;
          ts.push(t);
          for (let c = 0; c < columns; c++) cols[c]!.push(d.values[c]![i]!);
        }
      }
      if (ts.length > 0) out.push({ id, labels: ix.series[id]!.l, timestamps: ts, columns: cols });
    }
    return out;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}
