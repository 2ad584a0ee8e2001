// Older on-disk formats still read: WAL segments with one-sample entries (type 2) and version 1 blocks
// (left-closed rollup windows, answered by rolling the raw chunks up again). The current WAL writes the
// samples of one time as one entry (type 3).
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { createTsdb } from '../../../src/monitor/tsdb/index.js';
import { crc32 } from '../../../src/monitor/tsdb/wal.js';
import { tempDir } from '../../testkit/index.js';

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

it('a version 1 block (left-closed rollup windows) answers rollup reads from its raw chunks', async (t) => {
  const dir = await tempDir(t);
  const db = createTsdb({ dir, blockMs: HOUR, now: () => T0 + 5 * HOUR });
  await db.start();
  // 2.4 h of 10 s samples from T0: [T0, T0 + 1h) becomes a block.
  const batch = Array.from({ length: (2.4 * HOUR) / 10_000 }, (_, k) => ({ labels: { __name__: 'g' }, timeMs: T0 + k * 10_000, value: k % 7 }));
  await db.append(batch);
  await db.compact();
  const want = await db.select([], T0, T0 + HOUR, { stepMs: 60_000, aggregate: 'count' });
  await db.stop();
  // Rewrite the block as version 1 with rollup chunks that would answer wrongly (left-closed windows).
  const blocks = await readdir(join(dir, 'blocks'));
  assert.equal(blocks.length, 1);
  const indexPath = join(dir, 'blocks', blocks[0]!, 'index.json');
  const index = JSON.parse(await readFile(indexPath, 'utf8')) as { version: number; series: { r: unknown[] }[] };
  assert.equal(index.version, 2);
  index.version = 1;
  for (const s of index.series) s.r = [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]];
  await writeFile(indexPath, JSON.stringify(index));

  const again = createTsdb({ dir, blockMs: HOUR, now: () => T0 + 5 * HOUR });
  await again.start();
  t.after(() => again.stop());
  const got = await again.select([], T0, T0 + HOUR, { stepMs: 60_000, aggregate: 'count' });
  assert.deepEqual(got, want);
  assert.deepEqual(got[0]!.values.slice(0, 3), [1, 6, 6]);
});
