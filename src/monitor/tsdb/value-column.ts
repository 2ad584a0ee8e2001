/**
 * The column codec of block format 3: one column of float64 values (a series' values in a block, a
 * rollup column, or a column of sample times), encoded whole at compaction, the smallest of:
 *
 * - **decimal** (kind 1): when every value is a finite decimal `k / 10^d` (d <= 15, |k| <= 2^49, -0
 *   excluded) that round-trips bit for bit, as node metrics are (integer counters and gauges, values
 *   with two decimals, times in ms). The integers k are differenced `order` times (0: the values, 1:
 *   deltas, for counters and times, 2: delta-of-delta), the residues divided by their greatest common
 *   divisor (a gauge that moves by 4 KiB pages costs bits per page, not per byte), and packed with
 *   frame-of-reference: `w` bits each above a base. A residue outside the frame (a counter reset, a
 *   spike) is written as the all-ones code, then 6 bits of length and its zigzag value: one outlier costs
 *   its own bits, not a wider frame for every sample. A constant column is 0 bits per sample.
 * - **near decimal** (kind 2): values a few ulps off decimals (the sums of decimals a rollup holds:
 *   12.34 + 0.1 is 12.440000000000001): the decimals as in kind 1, then each value's distance in ulps
 *   from its decimal (at most 2^20) in a second frame (order 0), mostly 0 to 2 bits each.
 * - **xor** (kind 0): Gorilla's XOR of consecutive float64s (with the leading/trailing-zero window
 *   reuse), for anything else (NaN, infinities, -0, binary fractions).
 *
 * Layout: byte 0 = kind | order << 2 | d << 4. xor: then the XOR bit stream. decimal: then the frame
 * header, varints: (zigzag) the first `order` integers as the first value and the first delta, the
 * divisor, the base (zigzag), one byte `w`; then the bit stream of the residues. near decimal: the
 * decimals' frame header, the ulps' frame header, then both bit streams. A column of 0 values is 0 bytes.
 * This is the idea VictoriaMetrics applies (floats to decimal integers, then delta coding), with
 * bit-packing where it uses zstd.
 */
import { BitReader, BitWriter } from './bit-stream.js';
import { bitLength, ByteReader, ByteWriter, unzigzag, zigzag } from './byte-codec.js';
import { readXorColumn, writeXorColumn } from './xor-chunk.js';

const KIND_XOR = 0;
const KIND_DECIMAL = 1;
const KIND_NEAR_DECIMAL = 2;
const MAX_DECIMALS = 15;
const MAX_INT = 2 ** 49;
const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
const TWO32 = 4294967296;
/** Bits of the escape's length field. */
const ESC_LEN_BITS = 6;

/** The integers k with values = k / 10^d, or undefined when the values are not such decimals. */
function toDecimals(values: readonly number[]): { d: number; ks: number[] } | undefined {
  let d = 0;
  for (const v of values) {
    if (!Number.isFinite(v) || Object.is(v, -0)) return undefined;
    for (;;) {
      const k = Math.round(v * POW10[d]!);
      if (Math.abs(k) > MAX_INT) return undefined;
      if (k / POW10[d]! === v) break;
      if (++d > MAX_DECIMALS) return undefined;
    }
  }
  // A value that is exact at fewer decimals is exact at d too; the range check is redone at d.
  const p = POW10[d]!;
  const ks = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) {
    const k = Math.round(values[i]! * p);
    if (Math.abs(k) > MAX_INT || k / p !== values[i]) return undefined;
    ks[i] = k;
  }
  return { d, ks };
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

interface Frame {
  order: number;
  /** The first values of the integers (order 1: k0; order 2: k0 and k1 - k0). */
  initial: number[];
  residues: number[];
  divisor: number;
  base: number;
  width: number;
  /** Bits of the residues' bit stream. */
  bits: number;
}

function residuesOf(ks: readonly number[], order: number): { initial: number[]; residues: number[] } {
  const n = ks.length;
  if (order === 0) return { initial: [], residues: ks.slice() };
  if (order === 1) {
    const residues = new Array<number>(Math.max(0, n - 1));
    for (let i = 1; i < n; i++) residues[i - 1] = ks[i]! - ks[i - 1]!;
    return { initial: [ks[0]!], residues };
  }
  if (n < 2) return { initial: ks.slice(), residues: [] };
  const residues = new Array<number>(n - 2);
  for (let i = 2; i < n; i++) residues[i - 2] = ks[i]! - 2 * ks[i - 1]! + ks[i - 2]!;
  return { initial: [ks[0]!, ks[1]! - ks[0]!], residues };
}

/** Bits of one residue outside the frame. */
function escapeBits(q: number, width: number): number {
  return width + ESC_LEN_BITS + bitLength(zigzag(q));
}

/** The cheapest frame (divisor, base, width) for the residues. */
function planFrame(order: number, initial: number[], residues: number[]): Frame {
  const n = residues.length;
  const frame: Frame = { order, initial, residues, divisor: 1, base: 0, width: 0, bits: 0 };
  if (n === 0) return frame;
  const r0 = residues[0]!;
  let g = 0;
  for (const r of residues) g = gcd(g, Math.abs(r - r0));
  if (g === 0) {
    frame.base = r0; // all equal: 0 bits each
    return frame;
  }
  frame.divisor = g;
  const sorted = residues.slice().sort((a, b) => a - b);
  const range = (sorted[n - 1]! - sorted[0]!) / g;
  const full = bitLength(range + 1); // every residue in the frame: codes 0..range, all-ones unused
  let best = { width: full, base: sorted[0]!, cost: n * full };
  // Narrower frames leave outliers out; the window of 2^w - 1 codes holding the most residues wins.
  for (let w = full - 1; w >= 1; w--) {
    const span = (2 ** w - 2) * g;
    let most = 0;
    let at = 0;
    for (let i = 0, j = 0; i < n; i++) {
      if (j < i) j = i;
      while (j + 1 < n && sorted[j + 1]! - sorted[i]! <= span) j++;
      if (j - i + 1 > most) {
        most = j - i + 1;
        at = i;
      }
    }
    const out = n - most;
    // Estimate: an outlier's code, length and value (at most the full width plus a sign bit).
    const cost = n * w + out * (ESC_LEN_BITS + full + 1);
    if (cost < best.cost) best = { width: w, base: sorted[at]!, cost };
  }
  frame.base = best.base;
  frame.width = best.width;
  const limit = 2 ** best.width - 1;
  let bits = 0;
  for (const r of residues) {
    const q = (r - best.base) / g;
    bits += q >= 0 && q < limit ? best.width : escapeBits(q, best.width);
  }
  frame.bits = bits;
  return frame;
}

/** Writes the low `n` bits (n <= 53) of a non-negative integer. */
function writeWide(w: BitWriter, v: number, n: number): void {
  if (n > 32) {
    const hi = Math.floor(v / TWO32);
    w.writeBits(hi, n - 32);
    w.writeBits(v - hi * TWO32, 32);
  } else w.writeBits(v, n);
}

function readWide(r: BitReader, n: number): number {
  if (n > 32) {
    const hi = r.readBits(n - 32);
    return hi * TWO32 + r.readBits(32);
  }
  return r.readBits(n);
}

/** The header of a frame: its first values, divisor, base and width. */
function writeFrameHeader(head: ByteWriter, f: Frame): void {
  for (const v of f.initial) head.svar(v);
  head.uvar(f.divisor);
  head.svar(f.base);
  head.u8(f.width);
}

function writeFrameBits(bw: BitWriter, f: Frame): void {
  if (f.width === 0) return;
  const limit = 2 ** f.width - 1;
  for (const r of f.residues) {
    const q = (r - f.base) / f.divisor;
    if (q >= 0 && q < limit) writeWide(bw, q, f.width);
    else {
      writeWide(bw, limit, f.width);
      const z = zigzag(q);
      const len = bitLength(z);
      bw.writeBits(len, ESC_LEN_BITS);
      writeWide(bw, z, len);
    }
  }
}

/** Bytes of a frame's header (an estimate within a byte or two) and bit stream. */
function frameBytes(f: Frame): number {
  const varBytes = (v: number): number => Math.ceil(Math.max(1, bitLength(v)) / 7);
  let n = 1 + varBytes(f.divisor) + varBytes(zigzag(f.base));
  for (const v of f.initial) n += varBytes(zigzag(v));
  return n + f.bits / 8;
}

/** The cheapest frame of the integers over the orders 0, 1 and 2. */
function bestFrame(ks: readonly number[]): Frame {
  let best: Frame | undefined;
  let bestBytes = Number.POSITIVE_INFINITY;
  for (let order = 0; order <= 2; order++) {
    const { initial, residues } = residuesOf(ks, order);
    const f = planFrame(order, initial, residues);
    const bytes = frameBytes(f);
    if (bytes < bestBytes) {
      best = f;
      bestBytes = bytes;
    }
  }
  return best!;
}

function encodeFrames(kind: number, d: number, frames: Frame[]): Uint8Array {
  const head = new ByteWriter();
  head.u8(kind | (frames[0]!.order << 2) | (d << 4));
  for (const f of frames) writeFrameHeader(head, f);
  const bw = new BitWriter(8 + frames.reduce((n, f) => n + (f.bits >>> 3), 0));
  for (const f of frames) writeFrameBits(bw, f);
  const body = bw.bytes();
  const out = new Uint8Array(head.length + body.length);
  out.set(head.view());
  out.set(body, head.length);
  return out;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;
/** Most ulps a near-decimal value may be from its decimal. */
const MAX_ULPS = 2 ** 20;

/** How many ulps `v` is above `a` (same sign, finite), or undefined when the signs differ. */
function ulpsFrom(v: number, a: number): number | undefined {
  f64[0] = v;
  const hv = u32[HI]!;
  const lv = u32[LO]!;
  f64[0] = a;
  const ha = u32[HI]!;
  const la = u32[LO]!;
  if (hv >>> 31 !== ha >>> 31) return undefined;
  return (hv - ha) * TWO32 + (lv - la);
}

/** `a` moved by `ulps` (|ulps| < 2^32). */
function addUlps(a: number, ulps: number): number {
  if (ulps === 0) return a;
  f64[0] = a;
  let hi = u32[HI]!;
  let lo = u32[LO]! + ulps;
  if (lo < 0) {
    lo += TWO32;
    hi -= 1;
  } else if (lo >= TWO32) {
    lo -= TWO32;
    hi += 1;
  }
  u32[HI] = hi;
  u32[LO] = lo;
  return f64[0];
}

/**
 * Values a few ulps off decimals (sums and averages of decimals, as rollups hold): the decimals k / 10^d
 * and each value's distance in ulps from its decimal, for the smallest d that brings every distance
 * under MAX_ULPS.
 */
function toNearDecimals(values: readonly number[]): { d: number; ks: number[]; ulps: number[] } | undefined {
  for (const v of values) if (!Number.isFinite(v) || Object.is(v, -0)) return undefined;
  const n = values.length;
  const ks = new Array<number>(n);
  const ulps = new Array<number>(n);
  next: for (let d = 0; d <= MAX_DECIMALS; d++) {
    const p = POW10[d]!;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      const k = Math.round(v * p) || 0; // never -0: the frame stores +0
      if (Math.abs(k) > MAX_INT) return undefined;
      const u = ulpsFrom(v, k / p);
      if (u === undefined || Math.abs(u) > MAX_ULPS) continue next;
      ks[i] = k;
      ulps[i] = u;
    }
    return { d, ks, ulps };
  }
  return undefined;
}

/** Encodes a column of values (any float64s; each decodes bit for bit, NaN payloads aside). */
export function encodeValueColumn(values: readonly number[]): Uint8Array {
  if (values.length === 0) return new Uint8Array(0);
  const xw = new BitWriter(16 + values.length);
  xw.writeBits(KIND_XOR, 8);
  writeXorColumn(xw, values);
  const xor = xw.bytes();
  let encoded: Uint8Array | undefined;
  const dec = toDecimals(values);
  if (dec !== undefined) encoded = encodeFrames(KIND_DECIMAL, dec.d, [bestFrame(dec.ks)]);
  else {
    const near = toNearDecimals(values);
    if (near !== undefined) {
      const r = residuesOf(near.ulps, 0);
      encoded = encodeFrames(KIND_NEAR_DECIMAL, near.d, [bestFrame(near.ks), planFrame(0, r.initial, r.residues)]);
    }
  }
  return encoded !== undefined && encoded.length < xor.length ? encoded : xor.slice();
}

interface FrameReader {
  order: number;
  initial: number[];
  divisor: number;
  base: number;
  width: number;
  limit: number;
}

function readFrameHeader(br: ByteReader, order: number, count: number): FrameReader {
  const initial: number[] = [];
  for (let i = 0; i < order && i < count; i++) initial.push(br.svar());
  const divisor = br.uvar();
  const base = br.svar();
  const width = br.u8();
  if (width > 53) throw new RangeError(`frame width ${width}`);
  return { order, initial, divisor, base, width, limit: 2 ** width - 1 };
}

/** Reads a frame's `count` integers into `out`. */
function readFrame(r: BitReader, f: FrameReader, count: number, out: number[]): void {
  const { order, initial, divisor, base, width, limit } = f;
  let k = 0;
  let delta = 0;
  for (let i = 0; i < count; i++) {
    if (i < order) {
      if (i === 0) k = initial[0]!;
      else {
        delta = initial[1]!;
        k += delta;
      }
    } else {
      let q = width === 0 ? 0 : readWide(r, width);
      if (width > 0 && q === limit) q = unzigzag(readWide(r, r.readBits(ESC_LEN_BITS)));
      const residue = base + q * divisor;
      if (order === 0) k = residue;
      else if (order === 1) k += residue;
      else {
        delta += residue;
        k += delta;
      }
    }
    out[i] = k;
  }
}

/** Decodes `count` values of a column into `out` (from index 0); throws a RangeError when damaged. */
export function decodeValueColumn(bytes: Uint8Array, count: number, out: number[] = new Array<number>(count)): number[] {
  if (count === 0) return out;
  if (bytes.length === 0) throw new RangeError('empty column');
  const kind = bytes[0]! & 3;
  if (kind === KIND_XOR) {
    readXorColumn(new BitReader(bytes.subarray(1)), count, out);
    return out;
  }
  if (kind !== KIND_DECIMAL && kind !== KIND_NEAR_DECIMAL) throw new RangeError(`unknown column kind ${kind}`);
  const order = (bytes[0]! >>> 2) & 3;
  const d = bytes[0]! >>> 4;
  if (order > 2 || d > MAX_DECIMALS) throw new RangeError(`bad column header ${bytes[0]}`);
  const br = new ByteReader(bytes, bytes.length);
  br.pos = 1;
  const frame = readFrameHeader(br, order, count);
  const ulpFrame = kind === KIND_NEAR_DECIMAL ? readFrameHeader(br, 0, count) : undefined;
  const r = new BitReader(bytes.subarray(br.pos));
  readFrame(r, frame, count, out);
  const p = POW10[d]!;
  if (ulpFrame === undefined) {
    if (d !== 0) for (let i = 0; i < count; i++) out[i] = out[i]! / p;
    return out;
  }
  const ulps = new Array<number>(count);
  readFrame(r, ulpFrame, count, ulps);
  for (let i = 0; i < count; i++) out[i] = addUlps(out[i]! / p, ulps[i]!);
  return out;
}
