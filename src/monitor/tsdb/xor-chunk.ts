/**
 * Gorilla-style chunk codec (Pelkonen et al., VLDB 2015), as Prometheus uses it, with millisecond
 * timestamps and optionally several value columns sharing one time column (the rollup chunks: min, max,
 * sum, count, last).
 *
 * Layout, bit by bit: the first timestamp is not in the chunk (it is the chunk's `minT`, kept in its
 * metadata with the sample count). Every later timestamp is a delta-of-delta (the first delta is taken
 * against 0) in one of these buckets: `0` (dod 0), `10` + 7 bits, `110` + 9 bits, `1110` + 12 bits,
 * `11110` + 32 bits, `11111` + 64 bits, two's complement. Values: the first of each column raw (64 bits),
 * then the XOR with the previous value of the column: `0` when equal, `10` + the meaningful bits when
 * they fit in the previous leading/trailing-zero window, else `11` + 5 bits of leading zeros + 6 bits of
 * length (64 written as 0) + the meaningful bits. Any float64 round-trips bit for bit (NaN payloads and
 * -0 included).
 */
import { BitReader, BitWriter } from './bit-stream.js';

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
/** The same halves as signed 32-bit integers: what encoders keep (small integers to V8, stored in the object, not boxed). */
const i32 = new Int32Array(f64.buffer);
/** Index of the high and low 32-bit halves of a float64 in `u32` (little-endian machines: 1 and 0). */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;
const TWO32 = 4294967296;

function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

interface ColumnState {
  /** The previous value's bits, high and low half (as int32 in encoders, uint32 in decoders: the same bits). */
  hi: number;
  lo: number;
  /** Leading and trailing zeros of the current window; leading 0xff = no window yet. */
  leading: number;
  trailing: number;
}

function writeDod(w: BitWriter, dod: number): void {
  if (dod === 0) w.writeBit(0);
  else if (dod >= -63 && dod <= 64) {
    w.writeBits(0b10, 2);
    w.writeBits(dod, 7);
  } else if (dod >= -255 && dod <= 256) {
    w.writeBits(0b110, 3);
    w.writeBits(dod, 9);
  } else if (dod >= -2047 && dod <= 2048) {
    w.writeBits(0b1110, 4);
    w.writeBits(dod, 12);
  } else if (dod >= -2147483647 && dod <= 2147483648) {
    w.writeBits(0b11110, 5);
    w.writeBits(dod, 32);
  } else {
    w.writeBits(0b11111, 5);
    const hi = Math.floor(dod / TWO32);
    w.writeBits64(hi, dod - hi * TWO32, 64);
  }
}

function signed(v: number, n: number): number {
  const half = 2 ** (n - 1);
  return v > half ? v - 2 * half : v;
}

function readDod(r: BitReader): number {
  if (r.readBit() === 0) return 0;
  if (r.readBit() === 0) return signed(r.readBits(7), 7);
  if (r.readBit() === 0) return signed(r.readBits(9), 9);
  if (r.readBit() === 0) return signed(r.readBits(12), 12);
  if (r.readBit() === 0) return signed(r.readBits(32), 32);
  const hi = r.readBits(32) | 0;
  return hi * TWO32 + r.readBits(32);
}

function writeValue(w: BitWriter, s: ColumnState, v: number): void {
  f64[0] = v;
  const hi = i32[HI]!;
  const lo = i32[LO]!;
  const xh = (hi ^ s.hi) >>> 0;
  const xl = (lo ^ s.lo) >>> 0;
  s.hi = hi;
  s.lo = lo;
  if (xh === 0 && xl === 0) {
    w.writeBit(0);
    return;
  }
  let leading = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
  const trailing = xl !== 0 ? ctz32(xl) : 32 + ctz32(xh);
  if (leading > 31) leading = 31;
  if (s.leading !== 0xff && leading >= s.leading && trailing >= s.trailing) {
    w.writeBits(0b10, 2);
    writeMeaningful(w, xh, xl, s.trailing, 64 - s.leading - s.trailing);
    return;
  }
  s.leading = leading;
  s.trailing = trailing;
  const sig = 64 - leading - trailing;
  w.writeBits(0b11, 2);
  w.writeBits(leading, 5);
  w.writeBits(sig & 63, 6);
  writeMeaningful(w, xh, xl, trailing, sig);
}

function writeRaw(w: BitWriter, s: ColumnState, v: number): void {
  f64[0] = v;
  s.hi = i32[HI]!;
  s.lo = i32[LO]!;
  w.writeBits(s.hi, 32);
  w.writeBits(s.lo, 32);
}

/** Writes `n` bits of hi:lo after shifting it right by `shift`. */
function writeMeaningful(w: BitWriter, hi: number, lo: number, shift: number, n: number): void {
  let h: number;
  let l: number;
  if (shift === 0) {
    h = hi;
    l = lo;
  } else if (shift >= 32) {
    h = 0;
    l = hi >>> (shift - 32);
  } else {
    l = ((lo >>> shift) | (hi << (32 - shift))) >>> 0;
    h = hi >>> shift;
  }
  w.writeBits64(h, l, n);
}

function readValue(r: BitReader, s: ColumnState): number {
  if (r.readBit() !== 0) {
    if (r.readBit() !== 0) {
      s.leading = r.readBits(5);
      let sig = r.readBits(6);
      if (sig === 0) sig = 64;
      s.trailing = 64 - s.leading - sig;
    }
    const n = 64 - s.leading - s.trailing;
    let h = 0;
    let l: number;
    if (n > 32) {
      h = r.readBits(n - 32);
      l = r.readBits(32);
    } else l = r.readBits(n);
    // Shift h:l left by trailing.
    const t = s.trailing;
    let xh: number;
    let xl: number;
    if (t === 0) {
      xh = h;
      xl = l;
    } else if (t >= 32) {
      xh = (l << (t - 32)) >>> 0;
      xl = 0;
    } else {
      xh = ((h << t) | (l >>> (32 - t))) >>> 0;
      xl = (l << t) >>> 0;
    }
    s.hi = (s.hi ^ xh) >>> 0;
    s.lo = (s.lo ^ xl) >>> 0;
  }
  u32[HI] = s.hi;
  u32[LO] = s.lo;
  return f64[0]!;
}

/**
 * An open chunk being appended to (a head chunk, or a rollup chunk being built). It is its own bit writer
 * and holds the first column's state itself: a head holds one per series and appends to a different one
 * for every sample, so each object fewer on that path is a memory access fewer.
 */
export class ChunkEncoder extends BitWriter implements ColumnState {
  /** The first column's state (ColumnState). */
  hi = 0;
  lo = 0;
  leading = 0xff;
  trailing = 0;
  /** Every column's state: this, then one object per further column. */
  private readonly cols: ColumnState[];
  count = 0;
  minT = 0;
  maxT = 0;
  private prevDelta = 0;

  constructor(
    readonly columns = 1,
    initialBytes = 32,
  ) {
    super(initialBytes);
    this.cols = [this];
    for (let i = 1; i < columns; i++) this.cols.push({ hi: 0, lo: 0, leading: 0xff, trailing: 0 });
  }

  /** Empties the chunk for reuse (its buffer is kept). */
  override reset(): void {
    super.reset();
    for (const c of this.cols) {
      c.hi = 0;
      c.lo = 0;
      c.leading = 0xff;
      c.trailing = 0;
    }
    this.count = 0;
    this.minT = 0;
    this.maxT = 0;
    this.prevDelta = 0;
  }

  /** Appends one sample; `t` must be greater than the last one (the caller checks). */
  append(t: number, v: number): void {
    if (this.count === 0) {
      this.minT = t;
      this.maxT = t;
      this.count = 1;
      writeRaw(this, this, v);
      return;
    }
    const delta = t - this.maxT;
    writeDod(this, delta - this.prevDelta);
    this.prevDelta = delta;
    this.maxT = t;
    this.count += 1;
    writeValue(this, this, v);
  }

  /** Appends a row of `columns` values. */
  appendRow(t: number, values: readonly number[]): void {
    const first = this.appendTime(t);
    for (let i = 0; i < this.cols.length; i++) {
      if (first) writeRaw(this, this.cols[i]!, values[i]!);
      else writeValue(this, this.cols[i]!, values[i]!);
    }
  }

  /** Writes the time of a new row; true when it is the first row. */
  private appendTime(t: number): boolean {
    const first = this.count === 0;
    if (first) this.minT = t;
    else {
      const delta = t - this.maxT;
      writeDod(this, delta - this.prevDelta);
      this.prevDelta = delta;
    }
    this.maxT = t;
    this.count += 1;
    return first;
  }
}

/** Decodes `count` rows of a chunk whose first timestamp is `minT`. */
export function decodeChunk(bytes: Uint8Array, count: number, minT: number, columns = 1): { timestamps: number[]; values: number[][] } {
  const r = new BitReader(bytes);
  const timestamps = new Array<number>(count);
  const values = Array.from({ length: columns }, () => new Array<number>(count));
  const cols: ColumnState[] = Array.from({ length: columns }, () => ({ hi: 0, lo: 0, leading: 0, trailing: 0 }));
  let t = minT;
  let delta = 0;
  for (let i = 0; i < count; i++) {
    if (i > 0) {
      delta += readDod(r);
      t += delta;
    }
    timestamps[i] = t;
    for (let c = 0; c < columns; c++) {
      const s = cols[c]!;
      if (i === 0) {
        s.hi = r.readBits(32);
        s.lo = r.readBits(32);
        u32[HI] = s.hi;
        u32[LO] = s.lo;
        values[c]![i] = f64[0]!;
      } else values[c]![i] = readValue(r, s);
    }
  }
  return { timestamps, values };
}

/** Writes a column of values alone (no times): the first raw, then Gorilla XORs. */
export function writeXorColumn(w: BitWriter, values: readonly number[]): void {
  const s: ColumnState = { hi: 0, lo: 0, leading: 0xff, trailing: 0 };
  for (let i = 0; i < values.length; i++) {
    if (i === 0) writeRaw(w, s, values[0]!);
    else writeValue(w, s, values[i]!);
  }
}

/** Reads `count` values written by writeXorColumn into `out` from index `at`. */
export function readXorColumn(r: BitReader, count: number, out: number[], at = 0): void {
  const s: ColumnState = { hi: 0, lo: 0, leading: 0, trailing: 0 };
  for (let i = 0; i < count; i++) {
    if (i === 0) {
      s.hi = r.readBits(32);
      s.lo = r.readBits(32);
      u32[HI] = s.hi;
      u32[LO] = s.lo;
      out[at] = f64[0]!;
    } else out[at + i] = readValue(r, s);
  }
}
