/**
 * Writes a block of format 3 (see block-index.ts for the layout, value-column.ts for the column codec)
 * from the head's Gorilla chunks of one window: each series' samples are decoded, their times stored as
 * a time column shared with every series that has the very same times (the series of one scrape), their
 * values as one column, and the 1 m and 1 h rollups likewise. The block is written under a temporary
 * name, fsynced, then renamed: a crash leaves either no block or a whole one.
 */
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EncodedChunk } from './block.js';
import { encodeBlockIndex, type ColumnRef, type ColumnsSeries, type TimeColumn } from './block-index.js';
import { rollup, ROLLUP_RESOLUTIONS_MS } from './rollup.js';
import type { Labels } from './types.js';
import { encodeValueColumn } from './value-column.js';
import { decodeChunk } from './xor-chunk.js';

export interface BlockSeriesInput {
  labels: Labels;
  /** The series' chunks of the window, ascending. */
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

/** Time columns, each stored once however many series share it. */
class TimeColumns {
  readonly columns: TimeColumn[] = [];
  readonly bytes: Uint8Array[] = [];
  private readonly byKey = new Map<string, { id: number; ts: readonly number[] }[]>();
  private off = 0;

  idOf(ts: readonly number[]): number {
    let h = 0;
    for (let i = 0; i < ts.length; i++) h = (Math.imul(h, 31) + ((ts[i]! - ts[0]!) | 0)) | 0;
    const key = `${ts.length}:${ts[0]}:${h}`;
    let list = this.byKey.get(key);
    if (list === undefined) this.byKey.set(key, (list = []));
    for (const c of list) if (c.ts.length === ts.length && c.ts.every((t, i) => t === ts[i])) return c.id;
    const bytes = encodeValueColumn(ts);
    const id = this.columns.length;
    this.columns.push({ off: this.off, len: bytes.length, minT: ts[0]!, maxT: ts[ts.length - 1]!, count: ts.length });
    this.bytes.push(bytes);
    this.off += bytes.length;
    list.push({ id, ts });
    return id;
  }

  get totalBytes(): number {
    return this.off;
  }
}

/** Writes a block for [minT, maxT) and returns its directory. */
export async function writeBlock(blocksDir: string, minT: number, maxT: number, series: readonly BlockSeriesInput[]): Promise<string> {
  const times = new TimeColumns();
  const parts: Uint8Array[] = [];
  let rel = 0; // offset after the time columns
  // Columns with bytes of their own, by their bytes: an equal column is a reference to the first.
  const own = new Map<string, number>();
  const ownRefs: ColumnRef[] = [];
  const put = (bytes: Uint8Array): ColumnRef => {
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
    const n = own.get(key);
    if (n !== undefined) return { off: ownRefs[n]!.off, len: bytes.length, shared: n };
    parts.push(bytes);
    const ref = { off: rel, len: bytes.length };
    own.set(key, ownRefs.length);
    ownRefs.push(ref);
    rel += bytes.length;
    return ref;
  };
  const out: ColumnsSeries[] = [];
  let samples = 0;
  for (let n = 0; n < series.length; n++) {
    // Encoding is CPU work: let appends and queries in between every 64 series.
    if (n % 64 === 63) await new Promise<void>((resolve) => setImmediate(resolve));
    const s = series[n]!;
    const ts: number[] = [];
    const vs: number[] = [];
    for (const ch of s.chunks) {
      const d = decodeChunk(ch.bytes, ch.count, ch.minT);
      for (let i = 0; i < ch.count; i++) {
        ts.push(d.timestamps[i]!);
        vs.push(d.values[0]![i]!);
      }
    }
    if (ts.length === 0) continue;
    samples += ts.length;
    const raw = [{ tc: times.idOf(ts), values: put(encodeValueColumn(vs)) }];
    const rollups = ROLLUP_RESOLUTIONS_MS.map((res) => {
      const rows = rollup(ts, vs, res);
      return { tc: times.idOf(rows.timestamps), columns: rows.columns.map((c) => put(encodeValueColumn(c))) };
    });
    out.push({ labels: s.labels, raw, rollups });
  }
  // The series' columns follow the time columns in chunks.bin.
  const shift = times.totalBytes;
  for (const s of out) {
    for (const r of s.raw) r.values.off += shift;
    for (const r of s.rollups) for (const c of r.columns) c.off += shift;
  }
  const index = encodeBlockIndex({ minT, maxT, samples, timeColumns: times.columns, series: out });
  const name = `${minT}-${maxT}`;
  const tmp = join(blocksDir, `${name}.tmp`);
  const final = join(blocksDir, name);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeFile(join(tmp, 'chunks.bin'), Buffer.concat([...times.bytes, ...parts]));
  await writeFile(join(tmp, 'index.bin'), index);
  await fsyncPath(join(tmp, 'chunks.bin'));
  await fsyncPath(join(tmp, 'index.bin'));
  await fsyncPath(tmp);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await fsyncPath(blocksDir);
  return final;
}
