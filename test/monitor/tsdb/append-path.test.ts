// The store's append path, made fast without changing what it writes: the word-at-a-time bit writer
// writes the same bytes as a writer that sets one bit at a time; a chunk encoder started over in its own
// buffer encodes as a new one; the CRC-32 of WAL records is the same with zlib's and with the table; and
// samples appended by reference (one WAL entry per time, filled in place) replay as they were acknowledged.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { BitReader, BitWriter } from '../../../src/monitor/tsdb/bit-stream.js';
import { createTsdb, type SeriesRef, type Tsdb } from '../../../src/monitor/tsdb/index.js';
import { crc32 } from '../../../src/monitor/tsdb/wal.js';
import { ChunkEncoder, decodeChunk } from '../../../src/monitor/tsdb/xor-chunk.js';
import { tempDir, type Cleanup } from '../../testkit/index.js';

/** The plainest bit writer: one bit at a time into a growing array, most significant bit first. */
class ReferenceWriter {
  readonly bits: number[] = [];
  writeBits(value: number, n: number): void {
    for (let i = n - 1; i >= 0; i--) this.bits.push(Math.floor((value >>> 0) / 2 ** i) % 2);
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(Math.ceil(this.bits.length / 8));
    this.bits.forEach((b, i) => {
      out[i >> 3]! |= b << (7 - (i & 7));
    });
    return out;
  }
}

type Op = { kind: 'bit'; bit: number } | { kind: 'bits'; value: number; n: number } | { kind: 'bits64'; hi: number; lo: number; n: number } | { kind: 'peek' };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('bit' as const), bit: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ kind: fc.constant('bits' as const), value: fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }), n: fc.integer({ min: 0, max: 32 }) }),
  fc.record({ kind: fc.constant('bits64' as const), hi: fc.integer({ min: 0, max: 2 ** 32 - 1 }), lo: fc.integer({ min: 0, max: 2 ** 32 - 1 }), n: fc.integer({ min: 0, max: 64 }) }),
  fc.record({ kind: fc.constant('peek' as const) }),
);

/** Applies the ops to both writers; checks bytes() (also in between: it must not disturb what follows). */
function run(w: BitWriter, ops: readonly Op[]): ReferenceWriter {
  const ref = new ReferenceWriter();
  for (const o of ops) {
    if (o.kind === 'bit') {
      w.writeBit(o.bit);
      ref.writeBits(o.bit, 1);
    } else if (o.kind === 'bits') {
      w.writeBits(o.value, o.n);
      ref.writeBits(o.n === 32 ? o.value : o.value & (2 ** o.n - 1), o.n);
    } else if (o.kind === 'bits64') {
      w.writeBits64(o.hi, o.lo, o.n);
      if (o.n > 32) {
        ref.writeBits(o.hi, o.n - 32);
        ref.writeBits(o.lo, 32);
      } else ref.writeBits(o.lo, o.n);
    } else assert.deepEqual(w.bytes(), ref.bytes());
    assert.equal(w.bitLength, ref.bits.length);
  }
  assert.deepEqual(w.bytes(), ref.bytes());
  return ref;
}

describe('the store append path', () => {
  it('the bit writer writes exactly the bits a one-bit-at-a-time writer writes, and they read back', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), fc.integer({ min: 0, max: 64 }), (ops, initialBytes) => {
        const w = new BitWriter(initialBytes);
        const ref = run(w, ops);
        const r = new BitReader(w.bytes().slice(), ref.bits.length);
        for (const b of ref.bits) assert.equal(r.readBit(), b);
        assert.equal(r.bitsLeft, 0);
        // Started over, the same writer (and its grown buffer) writes the same as a new one.
        w.reset();
        assert.equal(w.bitLength, 0);
        run(w, ops);
      }),
      { numRuns: 300 },
    );
  });

  it('a chunk encoder started over encodes exactly as a new one', () => {
    const times = fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 200 });
    const values = fc.array(fc.oneof(fc.double(), fc.integer({ min: -1000, max: 1000 })), { minLength: 200, maxLength: 200 });
    fc.assert(
      fc.property(times, values, times, values, (g1, v1, g2, v2) => {
        const encode = (e: ChunkEncoder, gaps: number[], vs: number[]): number[] => {
          let t = 1_700_000_000_000;
          const ts = gaps.map((g) => (t += g));
          ts.forEach((x, i) => e.append(x, vs[i]!));
          return ts;
        };
        const reused = new ChunkEncoder();
        encode(reused, g1, v1);
        reused.reset();
        const ts = encode(reused, g2, v2);
        const fresh = new ChunkEncoder();
        encode(fresh, g2, v2);
        assert.deepEqual(reused.bytes(), fresh.bytes());
        assert.deepEqual([reused.count, reused.minT, reused.maxT], [fresh.count, fresh.minT, fresh.maxT]);
        const d = decodeChunk(reused.bytes().slice(), reused.count, reused.minT);
        assert.deepEqual(d.timestamps, ts);
        d.values[0]!.forEach((v, i) => assert.ok(Object.is(v, v2[i]), `value ${i}`));
      }),
      { numRuns: 200 },
    );
  });

  it('WAL checksums are CRC-32 (zlib and gzip): the same for every length, as records already on disk have', () => {
    const table = (buf: Uint8Array): number => {
      let c = -1;
      for (const byte of buf) {
        c ^= byte;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      }
      return (c ^ -1) >>> 0;
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(20), (bytes, cut) => {
        const start = Math.min(cut, bytes.length);
        assert.equal(crc32(bytes, start), table(bytes.subarray(start)));
      }),
      { numRuns: 300 },
    );
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    const big = Buffer.alloc(100_000, 7);
    assert.equal(crc32(big), table(big));
    if (typeof (zlib as { crc32?: unknown }).crc32 === 'function') assert.equal(crc32(big), zlib.crc32(big));
  });

  it('appends by reference: one WAL entry per time filled in place, refusals counted, replayed after a crash as acknowledged', async (t: Cleanup) => {
    const HOUR = 3_600_000;
    const T0 = 1_700_000_000_000 - (1_700_000_000_000 % HOUR);
    const dir = await tempDir(t);
    const db = createTsdb({ dir, blockMs: HOUR, now: () => T0 });
    await db.start();
    const refs = Array.from({ length: 50 }, (_, i) => db.seriesRef('h', 'm', { i: String(i) })) as SeriesRef[];
    const values = (k: number): number[] => refs.map((_, i) => (i % 3 === 0 ? k * 0.1 + i : k * 1000 + i));

    // One scrape: 8 header + series entries + one entry of 13 + 50 * 12 bytes.
    const seriesBytes = refs.map((r) => 7 + JSON.stringify(r.labels).length).reduce((a, b) => a + b, 0);
    assert.deepEqual(await db.appendRefs(T0 + 1000, refs, values(1)), { accepted: 50, rejected: {} });
    assert.equal(db.stats().walBytesWritten, 8 + seriesBytes + 13 + 50 * 12);

    // Two calls of one time before the commit share the entry; refusals take no room.
    const before = db.stats().walBytesWritten;
    const [a, b] = await Promise.all([db.appendRefs(T0 + 2000, refs.slice(0, 20), values(2).slice(0, 20)), db.appendRefs(T0 + 2000, refs.slice(10), values(2).slice(10))]);
    assert.deepEqual(a, { accepted: 20, rejected: {} });
    assert.deepEqual(b, { accepted: 30, rejected: { duplicate: 10 } });
    assert.equal(db.stats().walBytesWritten - before, 8 + 13 + 50 * 12);
    assert.deepEqual(await db.appendRefs(T0 + 1500, refs.slice(0, 2), [0, 0]), { accepted: 0, rejected: { out_of_order: 2 } });
    assert.deepEqual(await db.appendRefs(T0 + 0.5, refs.slice(0, 2), [0, 0]), { accepted: 0, rejected: { bad_time: 2 } });
    assert.equal(db.stats().walBytesWritten - before, 8 + 13 + 50 * 12, 'nothing logged for refused samples');

    // Into the next windows (each chunk encoder starts over in its buffer), 40 scrapes in all.
    for (let k = 3; k <= 40; k++) assert.equal((await db.appendRefs(T0 + k * 200_000, refs, values(k))).accepted, 50);
    const want = await db.select([], 0, T0 + 3 * HOUR);
    assert.equal(want.length, 50);
    const seven = want.find((x) => x.labels.i === '7')!;
    assert.equal(seven.values.length, 40);
    assert.deepEqual(seven.values.slice(0, 3), [1007, 2007, 3007]);
    assert.ok(seven.timestamps.at(-1)! >= T0 + 2 * HOUR, 'samples of three windows');

    // No stop(): as after kill -9. What was acknowledged is what the WAL gives back.
    const again: Tsdb = createTsdb({ dir, blockMs: HOUR, now: () => T0 });
    await again.start();
    t.after(() => again.stop());
    assert.deepEqual(await again.select([], 0, T0 + 3 * HOUR), want);
  });
});
