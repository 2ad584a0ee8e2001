/**
 * The index of a format 3 block (`index.bin`), binary:
 *
 * ```
 * "FTSB" u8(version = 3)
 * svar minT, svar maxT, uvar samples
 * uvar nSymbols, then each: uvar byteLength, UTF-8 bytes      (every label name and value, once, sorted)
 * uvar nTimeColumns, then each: uvar length, svar minT, uvar maxT - minT, uvar count
 * uvar nSeries, then each:
 *   uvar nLabels, then each: uvar nameSymbol, uvar valueSymbol
 *   uvar nRaw, then each: uvar timeColumn, column
 *   uvar nRollups (one per ROLLUP_RESOLUTIONS_MS), then each: uvar timeColumn, 5 x column
 *   where a column is uvar (length << 1) for bytes of its own, or uvar (n << 1 | 1) for the same bytes
 *   as the n-th column with bytes of its own (0-based, in index order)
 * u32 crc32 (little-endian) of every byte before it
 * ```
 *
 * `chunks.bin` holds the time columns in index order, then per series in index order its raw value
 * columns and its rollup columns (min, max, sum, count, last) that have bytes of their own, back to
 * back: offsets are not stored, they follow from the lengths. Series sharing their sample times (every
 * series of one host's scrape) share one time column, so a timestamp is stored once per scrape, not once
 * per sample; a column equal to an earlier one (a counter's max and last, the count column of series
 * scraped together, a constant's min, max and last) is a reference to it.
 */
import { ByteReader, ByteWriter } from './byte-codec.js';
import type { Labels } from './types.js';
import { crc32 } from './wal.js';

export const BLOCK_FORMAT = 3;
const MAGIC = [0x46, 0x54, 0x53, 0x42]; // "FTSB"

/** A byte range of chunks.bin. */
export interface ColumnRef {
  off: number;
  len: number;
  /** Set when the bytes are those of an earlier column: its ordinal among columns with bytes of their own. */
  shared?: number;
}

export interface TimeColumn extends ColumnRef {
  minT: number;
  maxT: number;
  count: number;
}

export interface ColumnsSeries {
  labels: Labels;
  /** Raw samples: a time column and the values' column. */
  raw: { tc: number; values: ColumnRef }[];
  /** One per rollup resolution: a time column and the columns min, max, sum, count, last. */
  rollups: { tc: number; columns: ColumnRef[] }[];
}

export interface ColumnsIndex {
  minT: number;
  maxT: number;
  samples: number;
  timeColumns: TimeColumn[];
  series: ColumnsSeries[];
}

/** The index's bytes; the ColumnRef offsets in `index` must follow the layout above. */
export function encodeBlockIndex(index: ColumnsIndex): Uint8Array {
  const symbols = new Set<string>();
  for (const s of index.series) for (const name in s.labels) symbols.add(name).add(s.labels[name]!);
  const sorted = [...symbols].sort();
  const symbolId = new Map(sorted.map((sym, i) => [sym, i]));
  const w = new ByteWriter();
  const column = (c: ColumnRef): void => w.uvar(c.shared === undefined ? c.len * 2 : c.shared * 2 + 1);
  for (const b of MAGIC) w.u8(b);
  w.u8(BLOCK_FORMAT);
  w.svar(index.minT);
  w.svar(index.maxT);
  w.uvar(index.samples);
  w.uvar(sorted.length);
  for (const sym of sorted) w.string(sym);
  w.uvar(index.timeColumns.length);
  for (const tc of index.timeColumns) {
    w.uvar(tc.len);
    w.svar(tc.minT);
    w.uvar(tc.maxT - tc.minT);
    w.uvar(tc.count);
  }
  w.uvar(index.series.length);
  for (const s of index.series) {
    const names = Object.keys(s.labels);
    w.uvar(names.length);
    for (const n of names) {
      w.uvar(symbolId.get(n)!);
      w.uvar(symbolId.get(s.labels[n]!)!);
    }
    w.uvar(s.raw.length);
    for (const r of s.raw) {
      w.uvar(r.tc);
      column(r.values);
    }
    w.uvar(s.rollups.length);
    for (const r of s.rollups) {
      w.uvar(r.tc);
      for (const c of r.columns) column(c);
    }
  }
  const body = w.view();
  const out = new Uint8Array(body.length + 4);
  out.set(body);
  new DataView(out.buffer).setUint32(body.length, crc32(body), true);
  return out;
}

/** True when the bytes start with the format 3 magic (whatever their version). */
export function isBlockIndex(bytes: Uint8Array): boolean {
  return bytes.length >= 5 && MAGIC.every((b, i) => bytes[i] === b);
}

/**
 * Parses index.bin. Throws a RangeError with a reason when it is damaged, and an Error naming the
 * version when it is of a version this code does not know.
 */
export function decodeBlockIndex(bytes: Uint8Array, rollupColumns: number): ColumnsIndex & { chunkBytes: number } {
  if (!isBlockIndex(bytes)) throw new RangeError('not a block index (bad magic)');
  const version = bytes[4]!;
  if (version !== BLOCK_FORMAT) throw new UnknownVersionError(version);
  if (bytes.length < 9) throw new RangeError('truncated');
  const end = bytes.length - 4;
  const want = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(end, true);
  if (crc32(bytes, 0, end) !== want) throw new RangeError('checksum mismatch');
  const r = new ByteReader(bytes, end);
  r.pos = 5;
  const minT = r.svar();
  const maxT = r.svar();
  const samples = r.uvar();
  const symbols = new Array<string>(r.uvar());
  for (let i = 0; i < symbols.length; i++) symbols[i] = r.string();
  const sym = (): string => {
    const id = r.uvar();
    if (id >= symbols.length) throw new RangeError(`symbol ${id} out of range`);
    return symbols[id]!;
  };
  let off = 0;
  const timeColumns = new Array<TimeColumn>(r.uvar());
  for (let i = 0; i < timeColumns.length; i++) {
    const len = r.uvar();
    const tMin = r.svar();
    const tMax = tMin + r.uvar();
    timeColumns[i] = { off, len, minT: tMin, maxT: tMax, count: r.uvar() };
    off += len;
  }
  const tcRef = (): number => {
    const tc = r.uvar();
    if (tc >= timeColumns.length) throw new RangeError(`time column ${tc} out of range`);
    return tc;
  };
  const own: ColumnRef[] = [];
  const column = (): ColumnRef => {
    const code = r.uvar();
    if (code % 2 === 1) {
      const n = (code - 1) / 2;
      if (n >= own.length) throw new RangeError(`column ${n} out of range`);
      return { off: own[n]!.off, len: own[n]!.len, shared: n };
    }
    const ref = { off, len: code / 2 };
    own.push(ref);
    off += ref.len;
    return ref;
  };
  const series = new Array<ColumnsSeries>(r.uvar());
  for (let i = 0; i < series.length; i++) {
    const labels: Record<string, string> = {};
    for (let n = r.uvar(); n > 0; n--) {
      const name = sym();
      labels[name] = sym();
    }
    const raw: ColumnsSeries['raw'] = [];
    for (let n = r.uvar(); n > 0; n--) {
      const tc = tcRef();
      raw.push({ tc, values: column() });
    }
    const rollups: ColumnsSeries['rollups'] = [];
    for (let n = r.uvar(); n > 0; n--) {
      const tc = tcRef();
      const columns: ColumnRef[] = [];
      for (let c = 0; c < rollupColumns; c++) columns.push(column());
      rollups.push({ tc, columns });
    }
    series[i] = { labels: Object.freeze(labels), raw, rollups };
  }
  if (r.left !== 0) throw new RangeError(`${r.left} bytes after the last series`);
  return { minT, maxT, samples, timeColumns, series, chunkBytes: off };
}

export class UnknownVersionError extends Error {
  constructor(readonly version: number) {
    super(`unknown block format version ${version}`);
  }
}
