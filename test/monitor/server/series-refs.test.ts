// The stream's ref table (protocol 2 of monitor.proto) with the global view: definitions resolved once,
// scrapes of (ref, value) pairs, protocol errors, redefinition, the series cap, resends.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlotillaError } from '../../../src/core/errors.js';
import { GlobalView, type IngestResult } from '../../../src/monitor/server/global-view.js';
import { SeriesRefTable, type ScrapeInput, type SeriesDefInput } from '../../../src/monitor/server/series-refs.js';

const T = 1_700_000_000_000;

function setup(options: { maxSeriesPerHost?: number; maxRefs?: number } = {}) {
  const view = new GlobalView({ maxSeriesPerHost: options.maxSeriesPerHost ?? 100, now: () => T + 60_000 });
  view.agentConnected({ hostname: 'h', version: 'test', incarnation: 'i1', ackedSeq: 0n });
  const newTable = (): SeriesRefTable => new SeriesRefTable(options.maxRefs ?? 16, (metric, labels) => view.resolveSeries('h', metric, labels));
  let table = newTable();
  /** What the stream handler does with one batch. */
  const batch = (seq: bigint, defs: SeriesDefInput[], scrapes: ScrapeInput[]): IngestResult => {
    table.define(defs);
    return view.ingest('h', { seq, droppedTotal: 0n, metrics: [], scrapes: table.resolveScrapes(scrapes) });
  };
  return { view, table: () => table, batch, reconnect: () => (table = newTable()) };
}

function last(view: GlobalView): Record<string, number> {
  return Object.fromEntries(view.snapshot('h', { metrics: true })!.lastMetrics!.map((s) => [`${s.metric}${JSON.stringify(s.labels)}`, s.value]));
}

function protocolError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FlotillaError, String(err));
    assert.equal(err.code, 'INVALID_ARGUMENT');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('series references', () => {
  it('definitions are resolved once; scrapes of (ref, value) pairs update the last values and come back as taken scrapes', () => {
    const { view, batch } = setup();
    const r = batch(1n, [
      { ref: 0, metric: 'node_load1', labels: {} },
      { ref: 1, metric: 'node_cpu_seconds_total', labels: { mode: 'idle', cpu: '0' } },
    ], [{ timeMs: T, refs: [0, 1], values: [0.5, 100] }]);
    assert.deepEqual([r.taken, r.accepted, r.rejected, r.refused], [true, 2, 0, 0]);
    assert.deepEqual(r.scrapes.map((s) => [s.timeMs, s.series.map((x) => x.key), s.values]), [[T, ['node_load1', 'node_cpu_seconds_total{cpu="0",mode="idle"}'], [0.5, 100]]]);
    // Later batches name the series by ref only, in any order.
    const r2 = batch(2n, [], [{ timeMs: T + 1000, refs: [1, 0], values: [101, 0.75] }, { timeMs: T + 2000, refs: [0], values: [1] }]);
    assert.equal(r2.accepted, 3);
    assert.deepEqual(last(view), { 'node_cpu_seconds_total{"mode":"idle","cpu":"0"}': 101, 'node_load1{}': 1 });
    const snap = view.snapshot('h')!;
    assert.deepEqual([snap.samplesReceived, snap.series, snap.protocol], [5, 2, 2]);
  });

  it('an unknown ref, a ref out of range and refs without values are protocol errors, and nothing of the batch is taken', () => {
    const { view, table, batch } = setup({ maxRefs: 8 });
    batch(1n, [{ ref: 3, metric: 'm', labels: {} }], [{ timeMs: T, refs: [3], values: [1] }]);
    protocolError(() => batch(2n, [], [{ timeMs: T + 1000, refs: [3, 4], values: [2, 2] }]), /scrape 0: ref 4 was never defined on this stream/);
    protocolError(() => batch(2n, [], [{ timeMs: T + 1000, refs: [3, 9], values: [2, 2] }]), /ref 9 is out of range \(this server takes refs 0\.\.7/);
    protocolError(() => table().define([{ ref: 8, metric: 'm', labels: {} }]), /series definition: ref 8 is out of range/);
    protocolError(() => batch(2n, [], [{ timeMs: T + 1000, refs: [3], values: [2, 3] }]), /1 refs but 2 values/);
    // Batch 2 was never taken: its resend (on a new stream, with its definitions) is.
    const snap = view.snapshot('h')!;
    assert.deepEqual([snap.lastSeq, snap.samplesReceived], [1n, 1]);
    assert.deepEqual(last(view), { 'm{}': 1 });
  });

  it('a ref defined again names the new series from then on', () => {
    const { view, table, batch } = setup();
    batch(1n, [{ ref: 0, metric: 'a', labels: {} }], [{ timeMs: T, refs: [0], values: [1] }]);
    batch(2n, [{ ref: 0, metric: 'b', labels: { k: 'v' } }], [{ timeMs: T + 1000, refs: [0], values: [2] }]);
    batch(3n, [], [{ timeMs: T + 2000, refs: [0], values: [3] }]);
    assert.deepEqual(last(view), { 'a{}': 1, 'b{"k":"v"}': 3 });
    assert.deepEqual([table().size, table().definitions, table().redefinitions], [1, 2, 1]);
  });

  it('series past the per-host cap are refused and their samples counted, in every batch; invalid ones rejected by reason', () => {
    const { view, batch } = setup({ maxSeriesPerHost: 2 });
    const r = batch(1n, [
      { ref: 0, metric: 'm', labels: { i: '0' } },
      { ref: 1, metric: 'm', labels: { i: '1' } },
      { ref: 2, metric: 'm', labels: { i: '2' } },
      { ref: 3, metric: 'bad name', labels: {} },
      { ref: 4, metric: 'm', labels: { 'bad-label': 'x' } },
    ], [{ timeMs: T, refs: [0, 1, 2, 3, 4], values: [0, 1, 2, 3, 4] }]);
    assert.deepEqual([r.accepted, r.refused, r.rejected, r.reasons], [2, 1, 2, { bad_name: 1, bad_labels: 1 }]);
    const r2 = batch(2n, [], [{ timeMs: T + 1000, refs: [2, 2, 0], values: [5, 6, 7] }]);
    assert.deepEqual([r2.accepted, r2.refused], [1, 2]);
    const snap = view.snapshot('h')!;
    assert.deepEqual([snap.series, snap.seriesRefused, snap.rejectedByReason.bad_name, snap.rejectedByReason.bad_labels], [2, 3, 1, 1]);
  });

  it('NaN and infinite values, and scrapes with a bad time, are rejected and counted; the rest is taken', () => {
    const { view, batch } = setup();
    const r = batch(1n, [{ ref: 0, metric: 'm', labels: {} }, { ref: 1, metric: 'n', labels: {} }], [
      { timeMs: T, refs: [0, 1], values: [Number.NaN, 1] },
      { timeMs: T + 1000, refs: [0, 1], values: [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY] },
      { timeMs: 0, refs: [0, 1], values: [1, 1] },
      { timeMs: T + 10 * 86_400_000, refs: [0], values: [1] },
    ]);
    assert.deepEqual([r.accepted, r.rejected, r.reasons], [1, 6, { non_finite: 3, bad_time: 3 }]);
    assert.deepEqual(last(view), { 'n{}': 1 });
  });

  it('a resent batch is dropped but its definitions count; a reconnect starts an empty table', () => {
    const { view, batch, reconnect } = setup();
    batch(1n, [{ ref: 0, metric: 'm', labels: {} }], [{ timeMs: T, refs: [0], values: [1] }]);
    // The same seq again (a resend), now carrying a new definition the next batch relies on.
    const dup = batch(1n, [{ ref: 1, metric: 'n', labels: {} }], [{ timeMs: T, refs: [0, 1], values: [1, 1] }]);
    assert.deepEqual([dup.taken, dup.accepted], [false, 0]);
    assert.equal(batch(2n, [], [{ timeMs: T + 1000, refs: [0, 1], values: [2, 2] }]).accepted, 2);
    reconnect();
    protocolError(() => batch(3n, [], [{ timeMs: T + 2000, refs: [0], values: [3] }]), /ref 0 was never defined on this stream/);
    // With its definitions (any refs) the same series are found again: no new series.
    assert.equal(batch(3n, [{ ref: 5, metric: 'm', labels: {} }], [{ timeMs: T + 2000, refs: [5], values: [3] }]).accepted, 1);
    assert.deepEqual([view.snapshot('h')!.series, view.snapshot('h')!.samplesReceived], [2, 4]);
    assert.deepEqual(last(view), { 'm{}': 3, 'n{}': 2 });
  });

  it('a late sample never replaces a newer last value; both forms in one batch are taken under one seq', () => {
    const { view, table } = setup();
    table().define([{ ref: 0, metric: 'm', labels: {} }]);
    const r = view.ingest('h', {
      seq: 1n,
      droppedTotal: 0n,
      metrics: [{ hostname: 'h', metric: 'm', value: 9, labels: {}, timeMs: T + 5000 }],
      scrapes: table().resolveScrapes([{ timeMs: T, refs: [0], values: [1] }]),
    });
    assert.deepEqual([r.taken, r.accepted, r.scrapes.length], [true, 2, 2]);
    assert.deepEqual(last(view), { 'm{}': 9 });
  });
});
