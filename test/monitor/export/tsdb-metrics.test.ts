import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { createTsdb, formatExposition, MetricRegistry, registerTsdbMetrics } from '../../../src/monitor/index.js';
import { tempDir } from '../../testkit/index.js';

const HOUR = 3_600_000;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % HOUR);

/** `name{labels} value` lines of an exposition, as a map. */
function values(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

it('/metrics counts series-guard refusals by reason and reports the store’s head, WAL and blocks', async (t) => {
  const dir = await tempDir(t);
  const db = createTsdb({ dir, blockMs: HOUR, now: () => T0 + 2 * HOUR, maxSeriesPerHost: 3, maxSeriesPerMetric: 2, maxSeries: 6 });
  await db.start();
  t.after(() => db.stop());
  const registry = new MetricRegistry();
  registerTsdbMetrics(registry, () => db.stats());

  let v = values(formatExposition(registry.collect()).text);
  assert.equal(v.get('flotilla_tsdb_series_refused_total{reason="host"}'), 0);
  assert.equal(v.get('flotilla_tsdb_head_series'), 0);
  assert.equal(v.get('flotilla_tsdb_wal_bytes'), 0);

  // Host a: 3 series taken, 2 refused by the per-host guard.
  const a = await db.appendHost('a', [0, 1, 2, 3, 4].map((i) => ({ metric: `m${i}`, labels: {}, timeMs: T0 + 1000, value: i })));
  assert.deepEqual(a, { accepted: 3, rejected: { series_limit_host: 2 } });
  // Metric m0 on hosts b and c: b taken (2 series of m0 with a's), c refused by the per-metric guard.
  for (const h of ['b', 'c']) await db.appendHost(h, [{ metric: 'm0', labels: {}, timeMs: T0 + 1000, value: 1 }]);
  await db.appendHost('d', [{ metric: 'n', labels: {}, timeMs: T0 + 1000, value: 1 }, { metric: 'o', labels: {}, timeMs: T0 + 1000, value: 1 }]);
  // 6 series in the head: f's first is refused by the total guard; an out-of-order sample is counted apart.
  assert.deepEqual(await db.appendHost('f', [{ metric: 'n', labels: {}, timeMs: T0 + 1000, value: 1 }]), { accepted: 0, rejected: { series_limit_total: 1 } });
  assert.deepEqual(await db.appendHost('a', [{ metric: 'm1', labels: {}, timeMs: T0, value: 1 }]), { accepted: 0, rejected: { out_of_order: 1 } });

  v = values(formatExposition(registry.collect()).text);
  assert.equal(v.get('flotilla_tsdb_series_refused_total{reason="host"}'), 2);
  assert.equal(v.get('flotilla_tsdb_series_refused_total{reason="metric"}'), 1);
  assert.equal(v.get('flotilla_tsdb_series_refused_total{reason="total"}'), 1);
  assert.equal(v.get('flotilla_tsdb_samples_rejected_total{reason="out_of_order"}'), 1);
  assert.equal(v.get('flotilla_tsdb_samples_appended_total'), 6);
  assert.equal(v.get('flotilla_tsdb_head_series'), 6);
  assert.equal(v.get('flotilla_tsdb_head_chunks'), 6);
  assert.ok(v.get('flotilla_tsdb_head_chunk_bytes')! > 0);
  const walFile = join(dir, 'wal', `${T0}.wal`);
  assert.equal(v.get('flotilla_tsdb_wal_bytes'), (await stat(walFile)).size);
  assert.equal(v.get('flotilla_tsdb_wal_segments'), 1);
  assert.ok(v.get('flotilla_tsdb_wal_fsyncs_total')! >= 1);
  assert.equal(v.get('flotilla_tsdb_blocks'), 0);

  // Move the head 1.5 windows on: the first window becomes a block, its WAL segment goes.
  await db.appendHost('a', [{ metric: 'm0', labels: {}, timeMs: T0 + 1.6 * HOUR, value: 2 }]);
  await db.compact();
  v = values(formatExposition(registry.collect()).text);
  assert.equal(v.get('flotilla_tsdb_blocks'), 1);
  assert.ok(v.get('flotilla_tsdb_block_bytes')! > 0);
  assert.equal(v.get('flotilla_tsdb_head_series'), 1);
  assert.equal(v.get('flotilla_tsdb_wal_segments'), 1);
  assert.equal(v.get('flotilla_tsdb_wal_bytes'), (await stat(join(dir, 'wal', `${T0 + HOUR}.wal`))).size);
});
