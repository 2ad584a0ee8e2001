// The scrape appender remembers each host's last scrape (its series and the store's handles) to skip
// look-ups when the next scrape names the same series in the same order. Whatever the agent does between
// scrapes (reorders, sends fewer or more series, rebinds a ref, a series refused by the store's guard),
// what is stored is what appendHost alone stores from the same scrapes.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { GlobalView } from '../../../src/monitor/server/global-view.js';
import { SeriesRefTable } from '../../../src/monitor/server/series-refs.js';
import { createScrapeAppender } from '../../../src/monitor/server/store-append.js';
import { createTsdb, type Tsdb } from '../../../src/monitor/tsdb/index.js';
import { tempDir, type Cleanup } from '../../testkit/index.js';

const T = Date.now() - 600_000;

it('scrapes that change between each other store the same samples by reference as through appendHost', async (t: Cleanup) => {
  const open = async (): Promise<Tsdb> => {
    const db = createTsdb({ dir: await tempDir(t), maxSeriesPerHost: 6 });
    await db.start();
    t.after(() => db.stop());
    return db;
  };
  const byRef = await open();
  const plain = await open();
  const refs = createScrapeAppender(byRef);
  const objects = createScrapeAppender({ appendHost: (host, samples) => plain.appendHost(host, samples) });
  const view = new GlobalView();
  const tables = new Map<string, SeriesRefTable>();
  for (const host of ['h1', 'h2']) {
    view.agentConnected({ hostname: host, version: 'test', incarnation: 'i', ackedSeq: 0n });
    const table = new SeriesRefTable(16, (metric, labels) => view.resolveSeries(host, metric, labels));
    table.define([0, 1, 2, 3].map((i) => ({ ref: i, metric: 'm', labels: { s: String(i) } })));
    tables.set(host, table);
  }
  const seqs = new Map<string, bigint>();
  const send = async (host: string, k: number, order: number[], expect: { accepted: number; rejected: Record<string, number> }): Promise<void> => {
    const seq = (seqs.get(host) ?? 0n) + 1n;
    seqs.set(host, seq);
    const scrapes = tables.get(host)!.resolveScrapes([{ timeMs: T + k * 1000, refs: order, values: order.map((r) => k * 100 + r) }]);
    const r = view.ingest(host, { seq, droppedTotal: 0n, metrics: [], scrapes });
    const [a, b] = await Promise.all([refs(host, r.scrapes), objects(host, r.scrapes)]);
    assert.deepEqual(a, expect, `scrape ${k} of ${host}`);
    assert.deepEqual(b, a, `scrape ${k} of ${host}: appendHost`);
  };
  const all = { accepted: 4, rejected: {} };
  await send('h1', 1, [0, 1, 2, 3], all);
  await send('h2', 1, [0, 1, 2, 3], all);
  await send('h1', 2, [0, 1, 2, 3], all);
  await send('h1', 3, [3, 2, 1, 0], all); // reordered
  await send('h1', 4, [0, 2], { accepted: 2, rejected: {} }); // fewer
  await send('h1', 5, [0, 1, 2, 3], all); // more again
  // Ref 1 rebound to another series at the same position: a new handle, not the remembered one.
  tables.get('h1')!.define([{ ref: 1, metric: 'm', labels: { s: 'new' } }]);
  await send('h1', 6, [0, 1, 2, 3], all);
  // Two more new series: the store's guard (6 per host) refuses the second, every time it is sent.
  tables.get('h1')!.define([
    { ref: 4, metric: 'm', labels: { s: 'x' } },
    { ref: 5, metric: 'm', labels: { s: 'y' } },
  ]);
  await send('h1', 7, [0, 1, 2, 3, 4, 5], { accepted: 5, rejected: { series_limit_host: 1 } });
  await send('h1', 8, [0, 1, 2, 3, 4, 5], { accepted: 5, rejected: { series_limit_host: 1 } });
  await send('h2', 8, [0, 1, 2, 3], all);

  const read = async (db: Tsdb) => (await db.select([], T - 1, T + 10_000)).map((s) => [s.labels.host, s.labels.s, s.timestamps.map((x) => (x - T) / 1000), s.values]);
  const stored = await read(byRef);
  assert.deepEqual(stored, await read(plain));
  assert.deepEqual(stored, [
    ['h1', '0', [1, 2, 3, 4, 5, 6, 7, 8], [100, 200, 300, 400, 500, 600, 700, 800]],
    ['h1', '1', [1, 2, 3, 5], [101, 201, 301, 501]],
    ['h1', '2', [1, 2, 3, 4, 5, 6, 7, 8], [102, 202, 302, 402, 502, 602, 702, 802]],
    ['h1', '3', [1, 2, 3, 5, 6, 7, 8], [103, 203, 303, 503, 603, 703, 803]],
    ['h1', 'new', [6, 7, 8], [601, 701, 801]],
    ['h1', 'x', [7, 8], [704, 804]],
    ['h2', '0', [1, 8], [100, 800]],
    ['h2', '1', [1, 8], [101, 801]],
    ['h2', '2', [1, 8], [102, 802]],
    ['h2', '3', [1, 8], [103, 803]],
  ]);
});
