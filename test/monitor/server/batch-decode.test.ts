/**
 * The lean stream path's direct batch decoder gives what protobuf-es (plus fromBatch) gives for every
 * batch it takes, and leaves everything else (other kinds, protocol 1 Metrics, malformed or surprising
 * encodings) to protobuf-es.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AgentMessageSchema, type AgentMessage } from '../../../src/gen/flotilla/v1/monitor_pb.js';
import { decodeAgentBatch } from '../../../src/monitor/server/batch-decode.js';
import { fromBatch, type WireBatch } from '../../../src/monitor/server/wire-convert.js';

/** A plain, comparable form of a WireBatch (typed arrays as arrays). */
function plain(b: WireBatch): unknown {
  return {
    seq: b.seq,
    droppedTotal: b.droppedTotal,
    backlog: b.backlog,
    metrics: b.metrics,
    series: b.series.map((d) => ({ ref: d.ref, metric: d.metric, labels: { ...d.labels } })),
    scrapes: b.scrapes.map((s) => ({ timeMs: s.timeMs, refs: Array.from(s.refs), values: Array.from(s.values) })),
  };
}

function viaProtobufEs(bytes: Uint8Array): WireBatch {
  const m = fromBinary(AgentMessageSchema, bytes);
  assert.equal(m.kind.case, 'batch');
  return fromBatch(m.kind.value);
}

/** A deterministic pseudo-random source (tests must not depend on luck). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

function batchMessage(r: () => number): AgentMessage {
  const nSeries = Math.floor(r() * 6);
  const series = Array.from({ length: nSeries }, (_, i) => ({
    ref: Math.floor(r() * 40_000),
    metric: `m_${i}_${r() < 0.2 ? 'héllo' : 'x'}`,
    labels: Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, k) => [`l${k}`, r() < 0.3 ? '' : `v${Math.floor(r() * 1e6)}`])),
  }));
  const specials = [0, -0, 1.5, -2.25e300, Number.MIN_VALUE, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  const scrapes = Array.from({ length: Math.floor(r() * 4) }, () => {
    const n = Math.floor(r() * 50);
    return {
      timeMs: BigInt(1_700_000_000_000 + Math.floor(r() * 1e9)),
      refs: Array.from({ length: n }, () => (r() < 0.1 ? 0xffffffff : Math.floor(r() * 300_000))),
      values: Array.from({ length: n }, () => (r() < 0.2 ? specials[Math.floor(r() * specials.length)]! : r() * 1e6 - 5e5)),
    };
  });
  return create(AgentMessageSchema, {
    kind: { case: 'batch', value: { seq: BigInt(1 + Math.floor(r() * 2 ** 40)), droppedTotal: BigInt(Math.floor(r() * 1000)), backlog: r() < 0.5, series, scrapes } },
  });
}

describe('batch decode (lean stream path)', () => {
  it('decodes 500 random batches exactly as protobuf-es does, NaN, -0 and the largest uint32 ref included', () => {
    const r = rng(42);
    for (let i = 0; i < 500; i++) {
      const bytes = toBinary(AgentMessageSchema, batchMessage(r));
      // At an odd offset inside a larger buffer, as frames sit in the request's chunks.
      const framed = Buffer.concat([Buffer.from([1, 2, 3]), Buffer.from(bytes)]).subarray(3);
      const direct = decodeAgentBatch(framed);
      assert.ok(direct !== undefined, `batch ${i} was not decoded`);
      assert.deepEqual(plain(direct), plain(viaProtobufEs(bytes)), `batch ${i}`);
    }
  });

  it('leaves other messages and anything surprising to protobuf-es', () => {
    const cases: [string, Uint8Array][] = [
      ['a hello', toBinary(AgentMessageSchema, create(AgentMessageSchema, { kind: { case: 'hello', value: { hostname: 'h' } } }))],
      ['an ack', toBinary(AgentMessageSchema, create(AgentMessageSchema, { kind: { case: 'ack', value: { id: 'x', ok: true } } }))],
      ['protocol 1 Metrics', toBinary(AgentMessageSchema, create(AgentMessageSchema, { kind: { case: 'batch', value: { seq: 1n, metrics: [{ metric: 'm', value: 1, timeMs: 1n }] } } }))],
      ['an empty message', new Uint8Array(0)],
      ['a truncated batch', toBinary(AgentMessageSchema, batchMessage(rng(7))).subarray(0, 9)],
      ['a length past the end', Uint8Array.from([0x12, 0x05, 0x08, 0x01])],
      ['seq as a string (wrong wire type)', Uint8Array.from([0x12, 0x03, 0x0a, 0x01, 0x41])],
      ['a metric name that is not UTF-8', Uint8Array.from([0x12, 0x06, 0x2a, 0x04, 0x12, 0x02, 0xc3, 0x28])],
      ['a negative time (10-byte varint)', Uint8Array.from([0x12, 0x0d, 0x32, 0x0b, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])],
      ['packed values not a multiple of 8', Uint8Array.from([0x12, 0x06, 0x32, 0x04, 0x1a, 0x02, 0x00, 0x00])],
      ['a group (wire type 3)', Uint8Array.from([0x12, 0x02, 0x3b, 0x3c])],
    ];
    for (const [what, bytes] of cases) assert.equal(decodeAgentBatch(bytes), undefined, what);
  });

  it('skips unknown fields and joins repeated runs, packed or not, as protobuf-es does', () => {
    // batch{seq=5, field 9 (unknown varint)=7, scrapes{time=1000, refs packed [1,2], refs unpacked 3, values unpacked 1.5, values packed [2.5, 3.5], field 7 unknown}}
    const d = (v: number): number[] => [...Buffer.from(new Float64Array([v]).buffer)];
    const scrape = [0x08, 0xe8, 0x07, 0x12, 0x02, 0x01, 0x02, 0x10, 0x03, 0x19, ...d(1.5), 0x1a, 0x10, ...d(2.5), ...d(3.5), 0x38, 0x01];
    const batch = [0x08, 0x05, 0x48, 0x07, 0x32, scrape.length, ...scrape];
    const bytes = Uint8Array.from([0x12, batch.length, ...batch]);
    const direct = decodeAgentBatch(bytes);
    assert.ok(direct !== undefined);
    assert.deepEqual(plain(direct), plain(viaProtobufEs(bytes)));
    assert.deepEqual(plain(direct), { seq: 5n, droppedTotal: 0n, backlog: false, metrics: [], series: [], scrapes: [{ timeMs: 1000, refs: [1, 2, 3], values: [1.5, 2.5, 3.5] }] });
  });
});
