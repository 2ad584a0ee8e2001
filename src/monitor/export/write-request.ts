/**
 * Remote-write 1.0 payloads: samples grouped by series into a WriteRequest (labels sorted by name,
 * `__name__` included; samples of a series in time order), protobuf-encoded, then snappy block-compressed.
 * The generated types stay in this file; the rest of export/ speaks `ExportSample`.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { compress, uncompress } from 'snappyjs';
import { WriteRequestSchema, type WriteRequest } from '../../gen/prometheus/remote_pb.js';

/** One sample on its way out: labels with `__name__`, time in ms. */
export interface ExportSample {
  labels: Readonly<Record<string, string>>;
  timeMs: number;
  value: number;
}

/** The headers remote-write 1.0 requires. */
export const REMOTE_WRITE_HEADERS = {
  'content-type': 'application/x-protobuf',
  'content-encoding': 'snappy',
  'x-prometheus-remote-write-version': '0.1.0',
} as const;

function seriesKey(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

/** Groups samples by series, in time order within each series, into a WriteRequest message. */
export function buildWriteRequest(samples: readonly ExportSample[]): WriteRequest {
  const bySeries = new Map<string, ExportSample[]>();
  for (const s of samples) {
    const k = seriesKey(s.labels);
    const list = bySeries.get(k);
    if (list === undefined) bySeries.set(k, [s]);
    else list.push(s);
  }
  return create(WriteRequestSchema, {
    timeseries: [...bySeries.values()].map((list) => {
      const labels = list[0]!.labels;
      const sorted = [...list].sort((a, b) => a.timeMs - b.timeMs);
      return {
        labels: Object.keys(labels)
          .sort()
          .map((name) => ({ name, value: labels[name]! })),
        samples: sorted.map((s) => ({ value: s.value, timestamp: BigInt(Math.trunc(s.timeMs)) })),
      };
    }),
  });
}

/** The request body: the WriteRequest, protobuf then snappy. */
export function encodeWriteRequest(samples: readonly ExportSample[]): Uint8Array {
  return compress(toBinary(WriteRequestSchema, buildWriteRequest(samples)));
}

/** The inverse of encodeWriteRequest (tests, and a receiver if we ever need one). */
export function decodeWriteRequest(body: Uint8Array, maxBytes = 64 << 20): ExportSample[] {
  const req = fromBinary(WriteRequestSchema, uncompress(body, maxBytes));
  const out: ExportSample[] = [];
  for (const ts of req.timeseries) {
    const labels = Object.fromEntries(ts.labels.map((l) => [l.name, l.value]));
    for (const s of ts.samples) out.push({ labels, timeMs: Number(s.timestamp), value: s.value });
  }
  return out;
}
