/**
 * A direct decoder of the message an agent sends most: AgentMessage{batch: MetricBatch} with series
 * definitions and scrapes (protocol 2), straight into the server's WireBatch, without building protobuf
 * messages first: refs and values come out as typed arrays (the packed doubles are one copy). It reads
 * exactly what monitor.proto defines; anything it does not handle itself (protocol 1 Metrics, another
 * kind of message, a field with a surprising wire type, numbers past 2^53, text that is not UTF-8, a
 * truncated message) returns undefined, and the caller decodes with protobuf-es as before, which gives the
 * same answer or the same error.
 */
import { endianness } from 'node:os';
import type { WireBatch } from './wire-convert.js';
import { PROTO_FALLBACK, ProtoReader } from '../../core/proto-reader.js';

/** A batch decoded by decodeAgentBatch, as the stream reads it beside AgentMessages. */
export interface DecodedBatchMessage {
  kind: { case: 'decodedBatch'; value: WireBatch };
}

const littleEndian = endianness() === 'LE';

/** Thrown inside the decoder to give up (caught in decodeAgentBatch). */
const GIVE_UP = PROTO_FALLBACK;

function seriesDef(r: ProtoReader, end: number): WireBatch['series'][number] {
  let ref = 0;
  let metric = '';
  const labels: Record<string, string> = {};
  while (r.pos < end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    if (field === 1 && wt === 0) {
      ref = r.varint();
      if (ref > 0xffffffff) throw GIVE_UP;
    } else if (field === 2 && wt === 2) metric = r.string();
    else if (field === 3 && wt === 2) {
      const entryEnd = r.delimited();
      let key = '';
      let value = '';
      while (r.pos < entryEnd) {
        const t = r.varint();
        if (t === 0x0a) key = r.string();
        else if (t === 0x12) value = r.string();
        else if (Math.floor(t / 8) === 1 || Math.floor(t / 8) === 2) throw GIVE_UP;
        else r.skip(t & 7);
      }
      if (r.pos !== entryEnd) throw GIVE_UP;
      labels[key] = value;
    } else if (field >= 1 && field <= 3) throw GIVE_UP;
    else r.skip(wt);
  }
  if (r.pos !== end) throw GIVE_UP;
  return { ref, metric, labels };
}

function packedDoubles(r: ProtoReader, end: number): Float64Array {
  const bytes = end - r.pos;
  if (bytes % 8 !== 0) throw GIVE_UP;
  const n = bytes / 8;
  let out: Float64Array;
  if (littleEndian) {
    const start = r.buf.byteOffset + r.pos;
    out = new Float64Array(r.buf.buffer.slice(start, start + bytes));
  } else {
    out = new Float64Array(n);
    const view = new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, bytes);
    for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
  }
  r.pos = end;
  return out;
}

function scrape(r: ProtoReader, end: number): WireBatch['scrapes'][number] {
  let timeMs = 0;
  let refs: Uint32Array | number[] = new Uint32Array(0);
  let values: Float64Array | number[] = new Float64Array(0);
  while (r.pos < end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    if (field === 1 && wt === 0) timeMs = r.varint();
    else if (field === 2 && wt === 2) {
      const e = r.delimited();
      // At most one ref per byte.
      const packed = new Uint32Array(e - r.pos);
      let n = 0;
      while (r.pos < e) {
        const v = r.varint();
        if (v > 0xffffffff) throw GIVE_UP;
        packed[n++] = v;
      }
      if (r.pos !== e) throw GIVE_UP;
      refs = mergeRefs(refs, packed.subarray(0, n));
    } else if (field === 2 && wt === 0) {
      const v = r.varint();
      if (v > 0xffffffff) throw GIVE_UP;
      refs = mergeRefs(refs, [v]);
    } else if (field === 3 && wt === 2) {
      values = mergeValues(values, packedDoubles(r, r.delimited()));
    } else if (field === 3 && wt === 1) {
      if (r.pos + 8 > end) throw GIVE_UP;
      const view = new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, 8);
      values = mergeValues(values, [view.getFloat64(0, true)]);
      r.pos += 8;
    } else if (field >= 1 && field <= 3) throw GIVE_UP;
    else r.skip(wt);
  }
  if (r.pos !== end) throw GIVE_UP;
  return { timeMs, refs, values };
}

/** Repeated fields may come in several runs (packed or not): they concatenate. */
function mergeRefs(a: Uint32Array | number[], b: ArrayLike<number>): Uint32Array | number[] {
  if (a.length === 0 && b instanceof Uint32Array) return b;
  return [...Array.from(a), ...Array.from(b)];
}

function mergeValues(a: Float64Array | number[], b: ArrayLike<number>): Float64Array | number[] {
  if (a.length === 0 && b instanceof Float64Array) return b;
  return [...Array.from(a), ...Array.from(b)];
}

/**
 * Decodes an AgentMessage holding a MetricBatch without Metrics (protocol 2), or returns undefined when
 * it is anything else or anything this decoder leaves to protobuf-es.
 */
export function decodeAgentBatch(frame: Uint8Array): WireBatch | undefined {
  try {
    const top = new ProtoReader(frame, 0, frame.length);
    let batchStart = -1;
    let batchEnd = -1;
    while (top.pos < top.end) {
      const tag = top.varint();
      // Only field 2 (batch, length-delimited); any other field is another kind (or a oneof surprise).
      if (tag !== 0x12 || batchStart >= 0) return undefined;
      batchEnd = top.delimited();
      batchStart = top.pos;
      top.pos = batchEnd;
    }
    if (batchStart < 0) return undefined;
    const r = new ProtoReader(frame, batchStart, batchEnd);
    const out: WireBatch = { seq: 0n, droppedTotal: 0n, backlog: false, metrics: [], series: [], scrapes: [] };
    while (r.pos < batchEnd) {
      const tag = r.varint();
      const field = Math.floor(tag / 8);
      const wt = tag & 7;
      if (field === 1 && wt === 0) out.seq = BigInt(r.varint());
      else if (field === 2) return undefined; // protocol 1 Metrics: protobuf-es
      else if (field === 3 && wt === 0) out.droppedTotal = BigInt(r.varint());
      else if (field === 4 && wt === 0) out.backlog = r.varint() !== 0;
      else if (field === 5 && wt === 2) {
        const end = r.delimited();
        out.series.push(seriesDef(r, end));
      } else if (field === 6 && wt === 2) {
        const end = r.delimited();
        out.scrapes.push(scrape(r, end));
      } else if (field >= 1 && field <= 6) return undefined;
      else r.skip(wt);
    }
    if (r.pos !== batchEnd) return undefined;
    return out;
  } catch {
    // GIVE_UP, or text that is not UTF-8: protobuf-es decides.
    return undefined;
  }
}
