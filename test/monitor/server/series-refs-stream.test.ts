// Series references (protocol 2 of monitor.proto) over a real ConnectRPC HTTP/2 listener: the welcome
// announces them, the server takes ref batches into the view and the store, a protocol error ends only the
// stream that made it, a reconnect starts a new table; and the agent's own stream client sends them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code as ConnectCode, ConnectError } from '@connectrpc/connect';
import { silentLogger } from '../../../src/core/log.js';
import { SampleBuffer } from '../../../src/monitor/agent/sample-buffer.js';
import { StreamClient } from '../../../src/monitor/agent/stream-client.js';
import { createTsdb } from '../../../src/monitor/tsdb/index.js';
import { tempDir } from '../../testkit/index.js';
import { eventually, monitorClient, startAgent, startCoord, startMonitor } from './fixtures.js';

describe('series references over the stream', () => {
  it('the welcome announces protocol 2; ref batches are taken, logged and acked; an unknown ref ends only that stream; a reconnect starts a new table', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord, { logSamples: true, maxSeriesPerHost: 3 });
    const client = monitorClient(t, m.address);
    const a = startAgent(t, client, 'node-a');
    const b = startAgent(t, client, 'node-b');
    await eventually('welcomed', () => a.welcomed() && b.welcomed());
    assert.deepEqual([a.welcome()!.protocol, a.welcome()!.maxSeriesRefs], [2, 6]);

    const time = Date.parse('2025-03-01T10:00:00.000Z');
    a.refBatch(1n, {
      series: [
        { ref: 0, metric: 'node_load1' },
        { ref: 1, metric: 'node_cpu_usage_percent', labels: { cpu: '0' } },
      ],
      scrapes: [{ timeMs: time, refs: [0, 1], values: [0.5, 12.5] }],
    });
    a.refBatch(2n, { scrapes: [{ timeMs: time + 1000, refs: [1, 0], values: [13, 0.75] }] });
    b.refBatch(1n, { series: [{ ref: 5, metric: 'node_load1' }], scrapes: [{ timeMs: time, refs: [5], values: [2] }] });
    await eventually('acks', () => a.ackedSeq() === 2n && b.ackedSeq() === 1n);
    assert.ok(m.log.has('(2025-03-01T10:00:00.000Z, node-a, node_cpu_usage_percent{cpu="0"}, 12.5)'), m.log.messages().join('\n'));
    assert.ok(m.log.has('batch 2 from node-a: 2 samples'));
    const snap = m.monitor.view.snapshot('node-a', { metrics: true })!;
    assert.deepEqual([snap.samplesReceived, snap.protocol], [4, 2]);
    assert.deepEqual(snap.lastMetrics!.map((s) => [s.metric, s.value]), [['node_cpu_usage_percent', 13], ['node_load1', 0.75]]);
    // Over HTTP too.
    const json = (await (await fetch(`${m.url}/api/v1/agents/node-a`)).json()) as { protocol: number; samplesReceived: number };
    assert.deepEqual([json.protocol, json.samplesReceived], [2, 4]);

    // Past the cap (3 series per host): the fourth series is refused and its samples counted.
    a.refBatch(3n, { series: [{ ref: 2, metric: 'x' }, { ref: 3, metric: 'y' }], scrapes: [{ timeMs: time + 2000, refs: [2, 3], values: [1, 1] }] });
    await eventually('ack 3', () => a.ackedSeq() === 3n);
    assert.deepEqual([m.monitor.view.snapshot('node-a')!.series, m.monitor.view.snapshot('node-a')!.seriesRefused], [3, 1]);

    // A ref never defined: the stream ends with INVALID_ARGUMENT naming it; the batch is not taken.
    a.refBatch(4n, { scrapes: [{ timeMs: time + 3000, refs: [0, 5], values: [1, 1] }] });
    const err = await a.done;
    assert.ok(err !== undefined);
    const ce = ConnectError.from(err);
    assert.equal(ce.code, ConnectCode.InvalidArgument);
    assert.match(ce.rawMessage, /ref 5 was never defined on this stream/);
    assert.equal(m.monitor.view.snapshot('node-a')!.lastSeq, 3n);
    // The other agent's stream goes on.
    b.refBatch(2n, { scrapes: [{ timeMs: time + 1000, refs: [5], values: [3] }] });
    await eventually('node-b ack 2', () => b.ackedSeq() === 2n);

    // Reconnect: a new stream has an empty table, so the resend carries its definitions again.
    const a2 = startAgent(t, client, 'node-a', { ackedSeq: 3n });
    a2.refBatch(4n, { series: [{ ref: 0, metric: 'node_load1' }], scrapes: [{ timeMs: time + 3000, refs: [0], values: [1.25] }] });
    await eventually('ack 4', () => a2.ackedSeq() === 4n);
    assert.equal(m.monitor.view.snapshot('node-a', { metrics: true })!.lastMetrics!.find((s) => s.metric === 'node_load1')!.value, 1.25);
    assert.equal(m.monitor.view.snapshot('node-a')!.series, 3);
  });

  it('an agent that names no protocol (an older one) is still served with one Metric per sample', async (t) => {
    const { coord } = await startCoord(t);
    const m = await startMonitor(t, coord);
    const client = monitorClient(t, m.address);
    const old = startAgent(t, client, 'old-agent', { protocol: 0 });
    old.batch(1n, [{ metric: 'node_load1', value: 1, labels: { a: 'b' } }]);
    await eventually('ack', () => old.ackedSeq() === 1n);
    const snap = m.monitor.view.snapshot('old-agent', { metrics: true })!;
    assert.deepEqual([snap.samplesReceived, snap.protocol, snap.lastMetrics![0]!.labels], [1, 1, { a: 'b' }]);
  });

  it("the agent's stream client sends series references to the monitor server; every sample reaches the view and the store, also after a reconnect", async (t) => {
    const { coord } = await startCoord(t);
    const db = createTsdb({ dir: await tempDir(t) });
    await db.start();
    t.after(() => db.stop());
    const m = await startMonitor(t, coord, { store: db });
    const buffer = new SampleBuffer({ maxSamples: 10_000 });
    const stream = new StreamClient({
      server: m.address,
      hostname: 'node-a',
      buffer,
      logger: silentLogger(),
      reconnectBaseMs: 50,
      reconnectMaxMs: 200,
      hello: () => ({ hostname: 'node-a', version: 'test', incarnation: 'inc-1', configJson: '', availableMetrics: [] }),
      onCommand: (c) => ({ id: c.id, ok: true, message: '', resultJson: '' }),
    });
    t.after(() => stream.stop());
    stream.start();
    const t0 = Date.now() - 60_000;
    const round = (k: number) =>
      Array.from({ length: 50 }, (_, i) => ({ timeMs: t0 + k * 1000, metric: i % 2 === 0 ? 'node_disk_read_bytes_per_second' : 'node_network_receive_bytes_per_second', value: k * 100 + i, labels: { device: `d${i}` } }));
    for (let k = 0; k < 3; k++) await buffer.append(round(k), false);
    await eventually('3 batches acked', () => buffer.ackedSeq === 3);
    assert.equal(m.monitor.view.snapshot('node-a')!.protocol, 2);

    // The server replaces the stream (as after a network cut): the client reconnects with a new table.
    const intruder = startAgent(t, monitorClient(t, m.address), 'node-a', { incarnation: 'inc-1', ackedSeq: 3n });
    await eventually('replaced', () => intruder.welcomed());
    intruder.kill();
    await intruder.done;
    for (let k = 3; k < 5; k++) await buffer.append(round(k), false);
    await eventually('5 batches acked', () => buffer.ackedSeq === 5, 15_000);

    const snap = m.monitor.view.snapshot('node-a', { metrics: true })!;
    assert.deepEqual([snap.samplesReceived, snap.series, snap.samplesRejected], [250, 50, 0]);
    const stored = await db.select([{ name: 'host', type: '=', value: 'node-a' }], t0, t0 + 10_000);
    assert.equal(stored.length, 50);
    for (const s of stored) {
      const i = Number(s.labels.device!.slice(1));
      assert.deepEqual(s.values, [0, 1, 2, 3, 4].map((k) => k * 100 + i));
      assert.equal(s.labels.__name__, i % 2 === 0 ? 'node_disk_read_bytes_per_second' : 'node_network_receive_bytes_per_second');
    }
  });
});
