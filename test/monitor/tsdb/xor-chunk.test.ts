import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BitReader, BitWriter } from '../../../src/monitor/tsdb/bit-stream.js';
import { ChunkEncoder, decodeChunk } from '../../../src/monitor/tsdb/xor-chunk.js';

/** Ascending distinct times from a start and positive gaps. */
const series = fc
  .record({
    start: fc.integer({ min: 0, max: 2 ** 45 }),
    gaps: fc.array(fc.oneof(fc.integer({ min: 1, max: 100 }), fc.constant(15_000), fc.integer({ min: 1, max: 2 ** 40 })), { maxLength: 300 }),
    values: fc.array(
      fc.oneof(
        fc.double(),
        fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, 1, 1e308, 5e-324),
        fc.integer({ min: -1e9, max: 1e9 }),
      ),
      { minLength: 301, maxLength: 301 },
    ),
  })
  .map(({ start, gaps, values }) => {
    const ts = [start];
    for (const g of gaps) ts.push(ts.at(-1)! + g);
    return { ts, vs: values.slice(0, ts.length) };
  });

describe('chunk codec', () => {
  it('any ascending times and any float64 values round-trip bit for bit', () => {
    fc.assert(
      fc.property(series, ({ ts, vs }) => {
        const e = new ChunkEncoder();
        ts.forEach((t, i) => e.append(t, vs[i]!));
        const d = decodeChunk(e.bytes().slice(), e.count, e.minT);
        assert.deepEqual(d.timestamps, ts);
        vs.forEach((v, i) => assert.ok(Object.is(d.values[0]![i], v), `value ${i}: ${d.values[0]![i]} != ${v}`));
      }),
      { numRuns: 300 },
    );
  });

  it('repeated values and a regular interval cost about 2 bits per sample', () => {
    const e = new ChunkEncoder();
    for (let i = 0; i < 1000; i++) e.append(1_700_000_000_000 + i * 15_000, 42.5);
    assert.ok(e.bitLength <= 64 + 1000 * 2 + 64, `${e.bitLength} bits`);
    const d = decodeChunk(e.bytes(), e.count, e.minT);
    assert.equal(d.values[0]!.every((v) => v === 42.5), true);
  });

  it('several columns share one time column', () => {
    fc.assert(
      fc.property(series, ({ ts, vs }) => {
        const e = new ChunkEncoder(3);
        ts.forEach((t, i) => e.appendRow(t, [vs[i]!, -vs[i]!, i]));
        const d = decodeChunk(e.bytes(), e.count, e.minT, 3);
        assert.deepEqual(d.timestamps, ts);
        ts.forEach((_, i) => {
          assert.ok(Object.is(d.values[0]![i], vs[i]));
          assert.ok(Object.is(d.values[1]![i], -vs[i]!));
          assert.equal(d.values[2]![i], i);
        });
      }),
      { numRuns: 100 },
    );
  });

  it('bit writer and reader agree on any widths', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 0xffffffff })), { maxLength: 200 }), (items) => {
        const w = new BitWriter(1);
        for (const [n, v] of items) w.writeBits(v, n);
        const r = new BitReader(w.bytes(), w.bitLength);
        for (const [n, v] of items) assert.equal(r.readBits(n), n === 32 ? v : v % 2 ** n);
        assert.equal(r.bitsLeft, 0);
      }),
    );
  });

  it('a truncated chunk is an error, not garbage', () => {
    const e = new ChunkEncoder();
    for (let i = 0; i < 50; i++) e.append(i * 1000, Math.random());
    assert.throws(() => decodeChunk(e.bytes().slice(0, 10), e.count, e.minT), /chunk truncated/);
  });
});
