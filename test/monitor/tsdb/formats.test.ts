// Older on-disk formats still read: WAL segments with one-sample entries (type 2), version 2 blocks
// (index.json over Gorilla chunks; fixtures/block-v2 was written by that version) and version 1 blocks
// (left-closed rollup windows, answered by rolling the raw chunks up again). The current WAL writes the
// samples of one time as one entry (type 3); the current blocks are version 3 (index.bin, columns).
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { createTsdb, type SeriesData } from '../../../src/monitor/tsdb/index.js';
import { rollup } from '../../../src/monitor/tsdb/rollup.js';
import { crc32 } from '../../../src/monitor/tsdb/wal.js';
import { tempDir, type Cleanup } from '../../testkit/index.js';
import { FIXTURE_T0, fixtureSamples } from './fixture-data.js';

const HOUR = 3_600_000;
const T0 = 1_700_006_400_000;

function record(payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(payload.length, 0);
  head.writeUInt32LE(crc32(payload), 4);
  return Buffer.concat([head, payload]);
}

it('a WAL segment of the first format (one entry per sample) replays; new samples of one time share an entry', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'wal'), { recursive: true });
  const labels = Buffer.from(JSON.stringify({ __name__: 'old', host: 'h' }));
  const series = Buffer.alloc(7);
  series[0] = 1;
  series.writeUInt32LE(5, 1);
  series.writeUInt16LE(labels.length, 5);
  const samples = [1, 2, 3].map((k) => {
    const b = Buffer.alloc(21);
    b[0] = 2;
    b.writeUInt32LE(5, 1);
    b.writeDoubleLE(T0 + k * 1000, 5);
    b.writeDoubleLE(k * 1.5, 13);
    return b;
  });
  await writeFile(join(dir, 'wal', `${T0}.wal`), record(Buffer.concat([series, labels, ...samples])));

  const db = createTsdb({ dir, blockMs: 2 * HOUR, now: () => T0 + HOUR });
  await db.start();
  t.after(() => db.stop());
  const [old] = await db.select([{ name: '__name__', type: '=', value: 'old' }], 0, T0 + HOUR);
  assert.deepEqual(old, { labels: { __name__: 'old', host: 'h' }, timestamps: [T0 + 1000, T0 + 2000, T0 + 3000], values: [1.5, 3, 4.5] });

  // 100 series of one scrape: 13 + 100 * 12 bytes of samples (plus the series entries), not 100 * 21.
  const before = db.stats().walBytesWritten;
  await db.appendHost('h', Array.from({ length: 100 }, (_, i) => ({ metric: 'new', labels: { i: String(i) }, timeMs: T0 + 5000, value: i })));
  const seriesBytes = Array.from({ length: 100 }, (_, i) => 7 + JSON.stringify({ __name__: 'new', host: 'h', i: String(i) }).length).reduce((a, b) => a + b, 0);
  assert.equal(db.stats().walBytesWritten - before, 8 + seriesBytes + 13 + 100 * 12);
  await db.appendHost('h', Array.from({ length: 100 }, (_, i) => ({ metric: 'new', labels: { i: String(i) }, timeMs: T0 + 6000 + (i % 2), value: -i })));
  await db.stop();

  const again = createTsdb({ dir, blockMs: 2 * HOUR, now: () => T0 + HOUR });
  await again.start();
  t.after(() => again.stop());
  const got = await again.select([{ name: '__name__', type: '=', value: 'new' }, { name: 'i', type: '=~', value: '7|8' }], 0, T0 + HOUR);
  assert.deepEqual(got.map((s) => [s.timestamps, s.values]), [[[T0 + 5000, T0 + 6001], [7, -7]], [[T0 + 5000, T0 + 6000], [8, -8]]]);
  assert.equal(again.stats().headSeries, 101);
});

const FIXTURE = new URL('./fixtures/block-v2/', import.meta.url).pathname;
const FIXTURE_BLOCK = `${FIXTURE_T0}-${FIXTURE_T0 + HOUR}`;

/** The fixture's samples per series (labels key -> times and values) in [T, T + 1 h). */
function expected(): Map<string, { labels: Record<string, string>; ts: number[]; vs: number[] }> {
  const out = new Map<string, { labels: Record<string, string>; ts: number[]; vs: number[] }>();
  for (const s of fixtureSamples()) {
    if (s.timeMs >= FIXTURE_T0 + HOUR) continue;
    const key = JSON.stringify(Object.entries(s.labels).sort());
    let e = out.get(key);
    if (e === undefined) out.set(key, (e = { labels: s.labels, ts: [], vs: [] }));
    e.ts.push(s.timeMs);
    e.vs.push(s.value);
  }
  return out;
}

/** A store over a copy of the fixture block (rewritten by `edit` first, when given). */
async function openFixture(t: Cleanup, edit?: (index: { version: number; series: { r: unknown[] }[] }) => void) {
  const dir = await tempDir(t);
  const blockDir = join(dir, 'blocks', FIXTURE_BLOCK);
  await cp(FIXTURE, blockDir, { recursive: true });
  if (edit !== undefined) {
    const index = JSON.parse(await readFile(join(blockDir, 'index.json'), 'utf8')) as { version: number; series: { r: unknown[] }[] };
    edit(index);
    await writeFile(join(blockDir, 'index.json'), JSON.stringify(index));
  }
  const db = createTsdb({ dir, blockMs: HOUR, now: () => FIXTURE_T0 + 5 * HOUR });
  await db.start();
  t.after(() => db.stop());
  return { db, dir };
}

function sameValues(got: readonly number[], want: readonly number[], what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} values, want ${want.length}`);
  want.forEach((v, i) => assert.ok(Object.is(got[i], v), `${what} [${i}]: ${got[i]} != ${v}`));
}

function checkRaw(got: SeriesData[]): void {
  const want = expected();
  assert.equal(got.length, want.size);
  for (const s of got) {
    const e = want.get(JSON.stringify(Object.entries(s.labels).sort()));
    assert.ok(e !== undefined, `unexpected series ${JSON.stringify(s.labels)}`);
    assert.deepEqual(s.timestamps, e.ts);
    sameValues(s.values, e.vs, s.labels.__name__!);
  }
}

it('a version 2 block (index.json, Gorilla chunks) written by the earlier version answers raw and rollup reads', async (t) => {
  const { db } = await openFixture(t);
  assert.equal(db.stats().blocks, 1);
  checkRaw(await db.select([], FIXTURE_T0, FIXTURE_T0 + HOUR - 1));
  const want = expected();
  for (const [res, aggregate, col] of [[60_000, 'max', 1], [HOUR, 'sum', 2], [60_000, 'count', 3], [60_000, 'last', 4]] as const) {
    const got = await db.select([{ name: '__name__', type: '=~', value: 'bytes_total|temperature|cpu_seconds_total' }], FIXTURE_T0, FIXTURE_T0 + HOUR - 1, { stepMs: res, aggregate });
    assert.equal(got.length, 3);
    for (const s of got) {
      const e = want.get(JSON.stringify(Object.entries(s.labels).sort()))!;
      const rows = rollup(e.ts, e.vs, res);
      assert.deepEqual(s.timestamps, rows.timestamps);
      sameValues(s.values, rows.columns[col]!, `${s.labels.__name__} ${aggregate} ${res}`);
    }
  }
});

it('a version 1 block (left-closed rollup windows) answers rollup reads from its raw chunks', async (t) => {
  const want = await (await openFixture(t)).db.select([], FIXTURE_T0, FIXTURE_T0 + HOUR, { stepMs: 60_000, aggregate: 'count' });
  // Version 1 with rollup chunks that would answer wrongly.
  const { db } = await openFixture(t, (index) => {
    assert.equal(index.version, 2);
    index.version = 1;
    for (const s of index.series) s.r = [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]];
  });
  const got = await db.select([], FIXTURE_T0, FIXTURE_T0 + HOUR, { stepMs: 60_000, aggregate: 'count' });
  assert.deepEqual(got, want);
});

it('a block written now is version 3 and answers the same as the version 2 block of the same samples', async (t) => {
  const dir = await tempDir(t);
  const db = createTsdb({ dir, blockMs: HOUR, now: () => FIXTURE_T0 + 5 * HOUR });
  await db.start();
  t.after(() => db.stop());
  assert.equal((await db.append(fixtureSamples())).rejected.out_of_order, undefined);
  await db.compact();
  assert.deepEqual(await readdir(join(dir, 'blocks', FIXTURE_BLOCK)), ['chunks.bin', 'index.bin']);
  const { db: old } = await openFixture(t);
  checkRaw(await db.select([], FIXTURE_T0, FIXTURE_T0 + HOUR - 1));
  for (const hints of [undefined, { stepMs: 60_000, aggregate: 'min' as const }, { stepMs: HOUR, aggregate: 'avg' as const }, { stepMs: 60_000, aggregate: 'count' as const }]) {
    const a = await db.select([], FIXTURE_T0 + 600_000, FIXTURE_T0 + HOUR - 1, hints);
    const b = await old.select([], FIXTURE_T0 + 600_000, FIXTURE_T0 + HOUR - 1, hints);
    assert.equal(a.length, 6);
    a.forEach((s, i) => {
      assert.deepEqual(s.labels, b[i]!.labels);
      assert.deepEqual(s.timestamps, b[i]!.timestamps);
      sameValues(s.values, b[i]!.values, `${s.labels.__name__} ${JSON.stringify(hints)}`);
    });
  }
  // Smaller than the version 2 block of the same samples.
  const size = db.stats().blockBytes;
  assert.ok(size < old.stats().blockBytes / 2, `${size} bytes vs ${old.stats().blockBytes}`);
});

it('a block of an unknown version or with a damaged index is refused with a clear error', async (t) => {
  const dir = await tempDir(t);
  const db = createTsdb({ dir, blockMs: HOUR, now: () => FIXTURE_T0 + 5 * HOUR });
  await db.start();
  await db.append(fixtureSamples());
  await db.compact();
  await db.stop();
  const indexPath = join(dir, 'blocks', FIXTURE_BLOCK, 'index.bin');
  const good = await readFile(indexPath);
  const reopen = async (): Promise<void> => {
    const again = createTsdb({ dir, blockMs: HOUR, now: () => FIXTURE_T0 + 5 * HOUR });
    t.after(() => again.stop());
    await again.start();
  };
  const newer = Buffer.from(good);
  newer[4] = 9;
  await writeFile(indexPath, newer);
  await assert.rejects(reopen(), /\[failed_precondition\] block .*: format version 9 is not one this version of Flotilla reads \(1 to 3\)/);
  const flipped = Buffer.from(good);
  flipped[flipped.length >> 1]! ^= 0x10;
  await writeFile(indexPath, flipped);
  await assert.rejects(reopen(), /\[internal\] block .*: damaged index.bin \(checksum mismatch\)/);
  await writeFile(indexPath, good.subarray(0, 20));
  await assert.rejects(reopen(), /\[internal\] block .*: damaged index.bin/);
  await writeFile(indexPath, good);
  await reopen();
});
