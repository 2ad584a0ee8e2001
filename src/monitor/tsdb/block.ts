/**
 * Immutable blocks: the samples of one time window (2 h by default), written once when the window leaves
 * the head. A block is a directory `blocks/<minT>-<maxT>/` with `chunks.bin` (the encoded chunks, raw and
 * rollups, back to back) and `index.json` (per series: labels, and for each chunk its offset, length, time
 * range and row count). It is written under a temporary name, fsynced, then renamed: a crash leaves either
 * no block or a whole one. The inverted index is rebuilt from index.json when the block is opened.
 *
 * Versions: 2 (written now) has right-closed rollup windows (see rollup.ts); 1 had left-closed ones, so
 * a version 1 block answers rollup reads by rolling its raw chunks up again (same answers, more work).
 */
import { mkdir, open, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Code, FlotillaError } from '../../core/errors.js';
import { PostingsIndex } from './postings.js';
import { encodeRollup, rollup, ROLLUP_COLUMNS, ROLLUP_RESOLUTIONS_MS } from './rollup.js';
import type { Labels } from './types.js';
import { decodeChunk } from './xor-chunk.js';

/** [offset, length, minT, maxT, count] */
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

export interface EncodedChunk {
  bytes: Uint8Array;
  minT: number;
  maxT: number;
  count: number;
}

export interface BlockSeriesInput {
  labels: Labels;
  chunks: EncodedChunk[];
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes a block for [minT, maxT) and returns its directory. */
export async function writeBlock(blocksDir: string, minT: number, maxT: number, series: readonly BlockSeriesInput[]): Promise<string> {
  const parts: Uint8Array[] = [];
  let off = 0;
  let samples = 0;
  const put = (bytes: Uint8Array, min: number, max: number, count: number): ChunkRef => {
    parts.push(bytes);
    const ref: ChunkRef = [off, bytes.length, min, max, count];
    off += bytes.length;
    return ref;
  };
  const index: BlockIndexJson = { version: 2, minT, maxT, samples: 0, series: [] };
  for (const s of series) {
    const c: ChunkRef[] = [];
    const allT: number[] = [];
    const allV: number[] = [];
    for (const ch of s.chunks) {
      c.push(put(ch.bytes, ch.minT, ch.maxT, ch.count));
      samples += ch.count;
      const d = decodeChunk(ch.bytes, ch.count, ch.minT);
      for (let i = 0; i < ch.count; i++) {
        allT.push(d.timestamps[i]!);
        allV.push(d.values[0]![i]!);
      }
    }
    const r = ROLLUP_RESOLUTIONS_MS.map((res) => {
      const enc = encodeRollup(rollup(allT, allV, res));
      return put(enc.bytes().slice(), enc.minT, enc.maxT, enc.count);
    });
    index.series.push({ l: s.labels, c, r });
  }
  index.samples = samples;
  const name = `${minT}-${maxT}`;
  const tmp = join(blocksDir, `${name}.tmp`);
  const final = join(blocksDir, name);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeFile(join(tmp, 'chunks.bin'), Buffer.concat(parts));
  await writeFile(join(tmp, 'index.json'), JSON.stringify(index));
  await fsyncPath(join(tmp, 'chunks.bin'));
  await fsyncPath(join(tmp, 'index.json'));
  await fsyncPath(tmp);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await fsyncPath(blocksDir);
  return final;
}

export interface ReadSeries {
  /** Index of the series in the block. */
  id: number;
  labels: Labels;
  timestamps: number[];
  /** Raw: one column; rollups: min, max, sum, count, last. */
  columns: number[][];
}

export class Block {
  readonly postings = new PostingsIndex();
  private fh: FileHandle | undefined;

  private constructor(
    readonly dir: string,
    private readonly index: BlockIndexJson,
    /** Bytes of the block's files. */
    readonly sizeBytes: number,
  ) {
    index.series.forEach((s, id) => this.postings.add(id, s.l));
  }

  static async open(dir: string): Promise<Block> {
    let index: BlockIndexJson;
    try {
      index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as BlockIndexJson;
    } catch (err) {
      throw new FlotillaError(Code.INTERNAL, `block ${dir}: unreadable index (${(err as Error).message})`, { cause: err });
    }
    if ((index.version !== 1 && index.version !== 2) || !Array.isArray(index.series)) throw new FlotillaError(Code.INTERNAL, `block ${dir}: unknown index version ${String(index.version)}`);
    const size = (await stat(join(dir, 'index.json'))).size + (await stat(join(dir, 'chunks.bin'))).size;
    return new Block(dir, index, size);
  }

  get minT(): number {
    return this.index.minT;
  }

  get maxT(): number {
    return this.index.maxT;
  }

  get samples(): number {
    return this.index.samples;
  }

  get seriesCount(): number {
    return this.index.series.length;
  }

  labelsOf(id: number): Labels {
    return this.index.series[id]!.l;
  }

  /**
   * Samples of the given series in [startMs, endMs]: raw (`resolutionMs` 0) or the rollup rows of that
   * resolution.
   */
  async read(ids: readonly number[], startMs: number, endMs: number, resolutionMs = 0): Promise<ReadSeries[]> {
    const rollupIdx = resolutionMs === 0 ? -1 : ROLLUP_RESOLUTIONS_MS.indexOf(resolutionMs as (typeof ROLLUP_RESOLUTIONS_MS)[number]);
    if (resolutionMs !== 0 && rollupIdx < 0) throw new FlotillaError(Code.INVALID_ARGUMENT, `no rollup at ${resolutionMs} ms`);
    if (resolutionMs !== 0 && this.index.version === 1) {
      // Format 1 rollups have left-closed windows: roll the raw samples up again.
      return (await this.read(ids, startMs, endMs, 0)).map((r) => {
        const rows = rollup(r.timestamps, r.columns[0]!, resolutionMs);
        return { id: r.id, labels: r.labels, timestamps: rows.timestamps, columns: rows.columns };
      });
    }
    const wanted: { id: number; refs: ChunkRef[] }[] = [];
    let lo = Number.POSITIVE_INFINITY;
    let hi = 0;
    for (const id of ids) {
      const s = this.index.series[id]!;
      const refs = (rollupIdx < 0 ? s.c : [s.r[rollupIdx]!]).filter((r) => r[4] > 0 && r[3] >= startMs && r[2] <= endMs);
      if (refs.length === 0) continue;
      wanted.push({ id, refs });
      for (const r of refs) {
        lo = Math.min(lo, r[0]);
        hi = Math.max(hi, r[0] + r[1]);
      }
    }
    if (wanted.length === 0) return [];
    this.fh ??= await open(join(this.dir, 'chunks.bin'), 'r');
    // One read of the span holding every wanted chunk (series of a query tend to sit together).
    const span = Buffer.allocUnsafe(hi - lo);
    let got = 0;
    while (got < span.length) {
      const { bytesRead } = await this.fh.read(span, got, span.length - got, lo + got);
      if (bytesRead === 0) throw new FlotillaError(Code.INTERNAL, `block ${this.dir}: chunks.bin is shorter than its index says`);
      got += bytesRead;
    }
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
      if (ts.length > 0) out.push({ id, labels: this.labelsOf(id), timestamps: ts, columns: cols });
    }
    return out;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }
}
