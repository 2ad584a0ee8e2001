// The global view's bookkeeping: seqs across reconnects and restarts, bounds, late samples, counters.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GlobalView } from '../../../src/monitor/index.js';

const sample = (metric: string, value: number, timeMs = 1_700_000_000_000, labels: Record<string, string> = {}) => ({ hostname: '', metric, value, timeMs, labels });

describe('global view', () => {
  it('takes each seq once per agent process; a new incarnation starts again from its acked seq', () => {
    const v = new GlobalView({ now: () => 1_700_000_100_000 });
    v.agentConnected({ hostname: 'h', version: '1', incarnation: 'p1', ackedSeq: 0n });
    assert.equal(v.ingest('h', { seq: 1n, droppedTotal: 0n, metrics: [sample('m', 1)] }).taken, true);
    const dup = v.ingest('h', { seq: 1n, droppedTotal: 0n, metrics: [sample('m', 2)] });
    assert.deepEqual([dup.taken, dup.ackSeq], [false, 1n]);
    // A gap (the agent's buffer overflowed) is accepted.
    assert.equal(v.ingest('h', { seq: 5n, droppedTotal: 10n, metrics: [] }).taken, true);
    v.agentConnected({ hostname: 'h', version: '1', incarnation: 'p1', ackedSeq: 3n });
    assert.equal(v.ingest('h', { seq: 5n, droppedTotal: 10n, metrics: [] }).taken, false);
    v.agentConnected({ hostname: 'h', version: '1', incarnation: 'p2', ackedSeq: 0n });
    assert.equal(v.ingest('h', { seq: 1n, droppedTotal: 0n, metrics: [] }).taken, true);
    const s = v.snapshot('h')!;
    assert.deepEqual([s.batchesReceived, s.batchesDuplicate, s.samplesReceived, s.samplesDropped], [3, 2, 1, 10]);
  });

  it('a late (backlog) sample never replaces a newer one of the same series', () => {
    const v = new GlobalView({ now: () => 1_700_000_100_000 });
    v.agentConnected({ hostname: 'h', version: '1', incarnation: 'p', ackedSeq: 0n });
    v.ingest('h', { seq: 1n, droppedTotal: 0n, metrics: [sample('m', 2, 1_700_000_002_000)] });
    v.ingest('h', { seq: 2n, droppedTotal: 0n, metrics: [sample('m', 1, 1_700_000_001_000)] });
    assert.deepEqual(v.snapshot('h', { metrics: true })!.lastMetrics!.map((x) => x.value), [2]);
    assert.equal(v.snapshot('h')!.samplesReceived, 2);
  });

  it('bounds hosts and series per host, counting what it refuses', () => {
    const v = new GlobalView({ maxHosts: 2, maxSeriesPerHost: 3, now: () => 1_700_000_100_000 });
    assert.equal(v.agentConnected({ hostname: 'a', version: '', incarnation: 'x', ackedSeq: 0n }), true);
    assert.equal(v.setAlive('b', true), true);
    assert.equal(v.agentConnected({ hostname: 'c', version: '', incarnation: 'x', ackedSeq: 0n }), false);
    assert.equal(v.setAlive('d', true), false);
    assert.equal(v.hostsRefused, 2);
    const r = v.ingest('a', { seq: 1n, droppedTotal: 0n, metrics: ['1', '2', '3', '4', '5', '1'].map((id) => sample('m', 1, undefined, { id })) });
    assert.deepEqual([r.accepted, r.refused], [4, 2]);
    assert.deepEqual([v.snapshot('a')!.series, v.snapshot('a')!.seriesRefused], [3, 2]);
  });

  it('shows the stored config, then what the agent reports when it is newer; invalid reports are ignored', () => {
    const v = new GlobalView();
    v.setConfig('h', '{"interval":5,"metrics":["cpu"]}');
    assert.equal(v.snapshot('h')!.configSource, 'store');
    v.setReportedConfig('h', '{"interval":2,"metrics":["cpu"]}');
    assert.deepEqual([v.snapshot('h')!.config?.interval, v.snapshot('h')!.configSource, v.storedConfigJson('h')], [2, 'agent', '{"interval":5,"metrics":["cpu"]}']);
    v.setReportedConfig('h', '{"pong":true}');
    assert.equal(v.snapshot('h')!.config?.interval, 2);
    v.setConfig('h', undefined);
    assert.deepEqual([v.snapshot('h')!.configJson, v.snapshot('h')!.configSource], ['', 'none']);
  });
});
