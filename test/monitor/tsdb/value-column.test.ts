// The column codec of block format 3 (value-column.ts) and the shared time columns of the block writer.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Block, writeBlock } from '../../../src/monitor/tsdb/block.js';
import { decodeValueColumn, encodeValueColumn } from '../../../src/monitor/tsdb/value-column.js';
import { ChunkEncoder } from '../../../src/monitor/tsdb/xor-chunk.js';
import { tempDir } from '../../testkit/index.js';

function roundTrip(values: readonly number[]): Uint8Array {
  const bytes = encodeValueColumn(values);
  const got = decodeValueColumn(bytes.slice(), values.length);
  assert.equal(got.length, values.length);
  values.forEach((v, i) => assert.ok(Object.is(got[i], v), `[${i}]: ${got[i]} != ${v} (kind ${bytes[0]! & 3})`));
  return bytes;
}

const SPECIAL = fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, 1e308, 5e-324, -5e-324, 2 ** 53, -(2 ** 49) - 1, 0.1 + 0.2, -(0.1 + 0.2));

/** Counters of k / 10^d: small increments, sometimes a reset to a small value or a big jump. */
const counter = fc
  .record({
    d: fc.integer({ min: 0, max: 6 }),
    start: fc.integer({ min: 0, max: 2 ** 40 }),
    steps: fc.array(fc.oneof({ weight: 20, arbitrary: fc.integer({ min: 0, max: 5000 }) }, fc.constant(-1), fc.integer({ min: 0, max: 2 ** 45 })), { minLength: 1, maxLength: 600 }),
  })
  .map(({ d, start, steps }) => {
    const ks = [start];
    for (const s of steps) ks.push(s === -1 ? 3 : ks.at(-1)! + s); // -1: a reset
    return ks.map((k) => k / 10 ** d);
  });

/** Sample times: 15 s apart with -3..3 ms of jitter, and some big gaps. */
const times = fc
  .record({
    start: fc.integer({ min: 0, max: 2 ** 44 }),
    steps: fc.array(fc.oneof({ weight: 30, arbitrary: fc.integer({ min: -3, max: 3 }).map((j) => 15_000 + j) }, fc.integer({ min: 1, max: 2 ** 36 })), { maxLength: 600 }),
  })
  .map(({ start, steps }) => {
    const ts = [start];
    for (const s of steps) ts.push(ts.at(-1)! + s);
    return ts;
  });

describe('value columns', () => {
  it('any float64 values round-trip bit for bit', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.double(), SPECIAL, fc.integer({ min: -1e9, max: 1e9 })), { maxLength: 400 }), (vs) => {
        roundTrip(vs);
      }),
      { numRuns: 300 },
    );
  });

  it('decimal counters with resets and jumps round-trip, with NaN, infinities and -0 mixed in too', () => {
    fc.assert(
      fc.property(counter, fc.array(fc.tuple(fc.nat(), SPECIAL), { maxLength: 3 }), (vs, specials) => {
        roundTrip(vs);
        const mixed = vs.slice();
        for (const [at, v] of specials) mixed[at % mixed.length] = v;
        roundTrip(mixed);
        // Running float sums of the decimals are a few ulps off decimals (rollup sums).
        let sum = 0;
        roundTrip(vs.map((v) => (sum += v)));
        roundTrip(vs.map((v) => -v / 3));
      }),
      { numRuns: 300 },
    );
  });

  it('jittered sample times with gaps round-trip; regular ones cost under 4 bits each', () => {
    fc.assert(
      fc.property(times, (ts) => {
        roundTrip(ts);
      }),
      { numRuns: 300 },
    );
    const ts = Array.from({ length: 480 }, (_, i) => 1_700_000_000_000 + i * 15_000 + ((i * 5) % 7) - 3);
    const bytes = roundTrip(ts);
    assert.ok(bytes.length * 8 <= 480 * 4, `${bytes.length} bytes`);
  });

  it('is smaller than Gorilla on node-like metrics: constants, page-sized gauges, two-decimal counters, counter resets', () => {
    const n = 480;
    const gorilla = (vs: readonly number[]): number => {
      const e = new ChunkEncoder();
      vs.forEach((v, i) => e.append(i * 15_000, v));
      return e.bytes().length;
    };
    const constant = roundTrip(new Array<number>(n).fill(17_179_869_184));
    assert.ok(constant.length <= 12, `constant: ${constant.length} bytes`);
    // Free memory moving by whole 4 KiB pages, half of the time: bits per page, not per byte.
    const pages = Array.from({ length: n }, (_, i) => 4096 * (1_000_000 + ((i * 37) % 5 === 0 ? (i * 7919) % 256 : 0)));
    const pagesBytes = roundTrip(pages).length;
    assert.ok(pagesBytes * 8 <= n * 9 + 100, `pages: ${pagesBytes} bytes`);
    // CPU seconds with two decimals: random increments of 0..1023 hundredths (10 bits of entropy).
    let seed = 12_345;
    const rnd = (): number => (seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0) >>> 22;
    const hundredths: number[] = [12_345_678];
    for (let i = 1; i < n; i++) hundredths.push(hundredths[i - 1]! + rnd());
    const cpuValues = hundredths.map((k) => k / 100);
    const cpuBytes = roundTrip(cpuValues).length;
    assert.ok(cpuBytes * 8 <= n * 10 + 100, `cpu: ${cpuBytes} bytes`);
    assert.ok(cpuBytes * 3 < gorilla(cpuValues), `cpu: ${cpuBytes} bytes vs Gorilla ${gorilla(cpuValues)}`);
    // A counter reset costs the outlier, not a wider frame for every sample.
    const reset = hundredths.map((k, i) => (i < 200 ? k : k - hundredths[199]! + 1) / 100);
    const resetBytes = roundTrip(reset).length;
    assert.ok(resetBytes <= cpuBytes + 16, `reset: ${resetBytes} bytes vs ${cpuBytes}`);
    // Sums of 4 of those samples, as a 1 m rollup holds them: a few ulps off decimals, far below XOR.
    const sums = Array.from({ length: n / 4 }, (_, i) => cpuValues.slice(i * 4, i * 4 + 4).reduce((a, b) => a + b, 0));
    assert.ok(sums.some((v) => Math.round(v * 100) / 100 !== v), 'some sums are not decimals');
    const sumBytes = roundTrip(sums).length;
    assert.ok(sumBytes * 8 <= (n / 4) * 16 + 100, `sums: ${sumBytes} bytes vs Gorilla ${gorilla(sums)}`);
  });

  it('a truncated column is an error, not garbage', () => {
    const vs = Array.from({ length: 100 }, (_, i) => i * 1000 + (i % 3));
    const bytes = encodeValueColumn(vs);
    assert.throws(() => decodeValueColumn(bytes.slice(0, bytes.length >> 1), vs.length), RangeError);
  });
});

describe('block format 3', () => {
  it('the series of one scrape share one time column', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'blocks'));
    const T0 = 1_700_006_400_000;
    const ts = Array.from({ length: 240 }, (_, i) => T0 + i * 15_000 + ((i * 3) % 7) - 3).filter((x) => x >= T0);
    const series = Array.from({ length: 50 }, (_, s) => {
      const e = new ChunkEncoder();
      ts.forEach((x, i) => e.append(x, s * 1000 + i));
      return { labels: { __name__: 'm', host: 'h', i: String(s) }, chunks: [{ bytes: e.bytes().slice(), minT: e.minT, maxT: e.maxT, count: e.count }] };
    });
    // One series with its own times.
    const own = new ChunkEncoder();
    ts.forEach((x, i) => own.append(x + 1, i));
    series.push({ labels: { __name__: 'other', host: 'h', i: '0' }, chunks: [{ bytes: own.bytes().slice(), minT: own.minT, maxT: own.maxT, count: own.count }] });
    // One series with the values of series 0: its column is a reference, not a copy.
    series.push({ labels: { __name__: 'copy', host: 'h', i: '0' }, chunks: series[0]!.chunks });
    const block = await Block.open(await writeBlock(join(dir, 'blocks'), T0, T0 + 3_600_000, series));
    t.after(() => block.close());
    assert.equal(block.version, 3);
    assert.equal(block.samples, 52 * ts.length);
    const one = encodeValueColumn(ts).length;
    assert.equal(block.sizes().rawTimes, 2 * one);
    // Series 0, 'other' and 'copy' all hold 0, 1, 2...: one column of bytes.
    const valueBytes = series.slice(0, 50).reduce((n, _, s) => n + encodeValueColumn(ts.map((__, i) => s * 1000 + i)).length, 0);
    assert.equal(block.sizes().raw, valueBytes);
    const [copy] = await block.read([51], T0, T0 + 3_600_000);
    assert.deepEqual(copy!.columns[0], ts.map((_, i) => i));
    const got = await block.read([3, 50], T0, T0 + 3_600_000);
    assert.deepEqual(got[0]!.timestamps, ts);
    assert.deepEqual(got[0]!.columns[0], ts.map((_, i) => 3000 + i));
    assert.deepEqual(got[1]!.timestamps, ts.map((x) => x + 1));
    assert.deepEqual(got[1]!.labels, { __name__: 'other', host: 'h', i: '0' });
    const part = await block.read([7], T0 + 60_000, T0 + 120_000);
    assert.deepEqual(part[0]!.timestamps, ts.filter((x) => x >= T0 + 60_000 && x <= T0 + 120_000));
  });
});
