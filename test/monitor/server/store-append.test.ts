// Taken scrapes into the real time-series store: by series reference (seriesRef + appendRefs) and through
// appendHost alone give the same stored samples; series the store's guards refuse are counted.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { GlobalView } from '../../../src/monitor/server/global-view.js';
import { SeriesRefTable } from '../../../src/monitor/server/series-refs.js';
import { createScrapeAppender } from '../../../src/monitor/server/store-append.js';
import { createTsdb, type Tsdb } from '../../../src/monitor/tsdb/index.js';
import { tempDir } from '../../testkit/index.js';

const T = Date.now() - 600_000;

it('scrapes stored by reference and through appendHost are the same samples; refused series are counted', async (t) => {
  const open = async (): Promise<Tsdb> => {
    const db = createTsdb({ dir: await tempDir(t), maxSeriesPerHost: 3 });
    await db.start();
    t.after(() => db.stop());
    return db;
  };
  const byRef = await open();
  const plain = await open();
  const view = new GlobalView();
  view.agentConnected({ hostname: 'h', version: 'test', incarnation: 'i', ackedSeq: 0n });
  const table = new SeriesRefTable(16, (metric, labels) => view.resolveSeries('h', metric, labels));
  table.define([0, 1, 2, 3].map((i) => ({ ref: i, metric: i < 2 ? 'a' : 'b', labels: { i: String(i) } })));
  const refs = createScrapeAppender(byRef);
  // Only the appendHost door of the same store kind.
  const objects = createScrapeAppender({ appendHost: (host, samples) => plain.appendHost(host, samples) });
  for (let k = 0; k < 3; k++) {
    const r = view.ingest('h', { seq: BigInt(k + 1), droppedTotal: 0n, metrics: [], scrapes: table.resolveScrapes([{ timeMs: T + k * 1000, refs: [0, 1, 2, 3], values: [k, k + 10, k + 20, k + 30] }, { timeMs: T + k * 1000 + 500, refs: [1], values: [k + 0.5] }]) });
    const [a, b] = await Promise.all([refs('h', r.scrapes), objects('h', r.scrapes)]);
    // 3 series fit the store's per-host guard; the fourth's sample is refused by both.
    assert.deepEqual(a, { accepted: 4, rejected: { series_limit_host: 1 } });
    assert.deepEqual(b, a);
  }
  const read = async (db: Tsdb) => (await db.select([{ name: 'host', type: '=', value: 'h' }], T - 1, T + 10_000)).map((s) => [s.labels.__name__, s.labels.i, s.timestamps, s.values]);
  const stored = await read(byRef);
  assert.deepEqual(stored, await read(plain));
  assert.deepEqual(stored, [
    ['a', '0', [T, T + 1000, T + 2000], [0, 1, 2]],
    ['a', '1', [T, T + 500, T + 1000, T + 1500, T + 2000, T + 2500], [10, 0.5, 11, 1.5, 12, 2.5]],
    ['b', '2', [T, T + 1000, T + 2000], [20, 21, 22]],
  ]);
});
