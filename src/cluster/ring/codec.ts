/**
 * Compact, platform-independent encodings of the ring's tables for its JSON form: little-endian
 * unsigned integers in strict base64. A ring of 2^16 partitions and 3 replicas takes ~520 KB this way,
 * which fits a coordination-store value (etcd's default limit is 1.5 MiB).
 */
import { Buffer } from 'node:buffer';

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Encodes integers (each below 2^(8*width)) as base64 of little-endian `width`-byte words. */
export function encodeUints(values: ArrayLike<number>, width: 2 | 4): string {
  const buf = Buffer.alloc(values.length * width);
  for (let i = 0; i < values.length; i++) {
    if (width === 2) buf.writeUInt16LE(values[i] as number, i * 2);
    else buf.writeUInt32LE(values[i] as number, i * 4);
  }
  return buf.toString('base64');
}

/**
 * Decodes what encodeUints wrote. Returns undefined when the text is not strict base64 or does not
 * hold exactly `count` words (Buffer.from alone silently skips bad characters).
 */
export function decodeUints(text: string, count: number, width: 2 | 4): Uint32Array | undefined {
  if (text.length !== Math.ceil((count * width) / 3) * 4 || !base64Pattern.test(text)) return undefined;
  const buf = Buffer.from(text, 'base64');
  if (buf.length !== count * width) return undefined;
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = width === 2 ? buf.readUInt16LE(i * 2) : buf.readUInt32LE(i * 4);
  return out;
}

/**
 * Per-partition last-moved times as a dictionary: the distinct times (ascending) and, per partition, an
 * index: 0 for "never moved" (-Infinity in memory), k for moveTimesMs[k - 1]. Every rebalance stamps one
 * time, so there are few distinct values and the encoding stays small and exact (plain ms, no rounding).
 */
export interface EncodedTimes {
  moveTimesMs: number[];
  lastMoved: string;
}

export function indexWidth(distinct: number): 2 | 4 {
  return distinct + 1 <= 0x10000 ? 2 : 4;
}

export function encodeTimes(times: Float64Array): EncodedTimes {
  const moveTimesMs = [...new Set(times)].filter((t) => t !== -Infinity).sort((a, b) => a - b);
  const index = new Map(moveTimesMs.map((t, i) => [t, i + 1]));
  const idx = new Uint32Array(times.length);
  for (let i = 0; i < times.length; i++) idx[i] = index.get(times[i] as number) ?? 0;
  return { moveTimesMs, lastMoved: encodeUints(idx, indexWidth(moveTimesMs.length)) };
}

/** Decodes encodeTimes's output; undefined when malformed. */
export function decodeTimes(enc: EncodedTimes, count: number): Float64Array | undefined {
  const times = enc.moveTimesMs;
  for (let i = 1; i < times.length; i++) if (!((times[i] as number) > (times[i - 1] as number))) return undefined;
  const idx = decodeUints(enc.lastMoved, count, indexWidth(times.length));
  if (idx === undefined) return undefined;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const k = idx[i] as number;
    const t = k === 0 ? -Infinity : times[k - 1];
    if (t === undefined) return undefined;
    out[i] = t;
  }
  return out;
}
