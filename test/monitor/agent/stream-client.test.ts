import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../../src/core/log.js';
import { applyCommand } from '../../../src/monitor/agent/commands.js';
import { createDefaultCollectors } from '../../../src/monitor/agent/collectors/index.js';
import { MetricCatalog } from '../../../src/monitor/agent/metric-catalog.js';
import { SampleBuffer } from '../../../src/monitor/agent/sample-buffer.js';
import { SettingsHolder } from '../../../src/monitor/agent/settings.js';
import { StreamClient } from '../../../src/monitor/agent/stream-client.js';
import { TestMonitorServer } from './test-monitor-server.js';

function setup(server: TestMonitorServer, maxSamples = 1000) {
  const buffer = new SampleBuffer({ maxSamples });
  const settings = new SettingsHolder({ intervalSeconds: 5, metrics: ['cpu'] });
  const catalog = new MetricCatalog(createDefaultCollectors());
  const client = new StreamClient({
    server: server.address,
    hostname: 'node-a',
    buffer,
    logger: silentLogger(),
    reconnectBaseMs: 50,
    reconnectMaxMs: 300,
    hello: () => ({ hostname: 'node-a', version: 'test', incarnation: 'inc-1', configJson: JSON.stringify(settings.asConfig()), availableMetrics: catalog.available() }),
    onCommand: (cmd) => applyCommand(cmd, { settings, catalog, hostname: 'node-a' }),
  });
  return { buffer, settings, client };
}

const one = (tag: number) => [{ timeMs: tag, metric: 'node_load1', value: tag, labels: {} }];

test('hello first, then batches acked by seq; commands are applied and acked with their id', async (t) => {
  const server = new TestMonitorServer();
  await server.start(0);
  t.after(() => server.stop());
  const { buffer, settings, client } = setup(server);
  t.after(() => client.stop());
  await buffer.append(one(1), true); // collected before the stream opened
  client.start();
  await server.waitFor('hello', () => server.connected('node-a'));
  assert.equal(server.hellos[0]!.hostname, 'node-a');
  assert.ok(server.hellos[0]!.availableMetrics.includes('node_load1'));
  // Collected once the agent has its welcome (the stream is open): not backlog.
  await server.waitFor('welcome', () => client.connected);
  await buffer.append(one(2), false);
  await server.waitFor('2 batches acked', () => server.batches.length === 2 && buffer.ackedSeq === 2);
  assert.deepEqual(
    server.batches.map((b) => [b.seq, b.backlog, b.metrics[0]!.hostname]),
    [
      [1, true, 'node-a'],
      [2, false, 'node-a'],
    ],
  );
  const ack = await server.sendCommand('node-a', 'set_interval', { interval: 2 });
  assert.deepEqual([ack.ok, ack.message], [true, 'interval set to 2s']);
  assert.equal(settings.get().intervalSeconds, 2);
  const bad = await server.sendCommand('node-a', 'fly', {});
  assert.equal(bad.ok, false);
  assert.match(bad.message, /unknown action "fly"/);
  const garbled = await server.sendCommand('node-a', 'set_interval', undefined, { rawPayload: '{{' });
  assert.equal(garbled.ok, false);
  assert.match(garbled.message, /not valid JSON/);
});

test('server gone: samples buffered (bounded, drops counted and reported), unacked batches resent after it is back', async (t) => {
  const server = new TestMonitorServer();
  await server.start(0);
  t.after(() => server.stop());
  const { buffer, client } = setup(server, 5);
  t.after(() => client.stop());
  client.start();
  await server.waitFor('connected', () => server.connected('node-a'));
  server.ackBatches = false; // the next batch is taken but not acked: it must be resent
  await buffer.append(one(1), false);
  await server.waitFor('batch 1', () => server.batches.length === 1);
  await server.stop();
  server.ackBatches = true;
  for (let i = 2; i <= 8; i++) await buffer.append(one(i), !client.connected); // 8 samples, bound 5: 3 dropped
  assert.equal(buffer.droppedTotal, 3);
  await server.start(); // same port
  await server.waitFor('backlog delivered', () => buffer.ackedSeq === 8, 20_000);
  const seqs = server.batches.map((b) => b.seq);
  assert.deepEqual(seqs, [1, 4, 5, 6, 7, 8], 'oldest dropped first; batch 1 was recorded once');
  assert.ok(server.batches.slice(1).every((b) => b.backlog && b.droppedTotal === 3));
  // A new stream, a new ref table: the first batch after the reconnect defines its series again.
  assert.deepEqual(server.batches.map((b) => [b.form, b.definitions]), [['refs', 1], ['refs', 1], ['refs', 0], ['refs', 0], ['refs', 0], ['refs', 0]]);
  assert.equal(server.hellos.length, 2, 'a second hello after the reconnect');
  assert.equal(server.duplicates, 0, 'batch 1 was dropped by the bound, so nothing was resent twice');
});

test('a batch sent but not acked before the stream broke is sent again and taken once', async (t) => {
  const server = new TestMonitorServer();
  await server.start(0);
  t.after(() => server.stop());
  const { buffer, client } = setup(server);
  t.after(() => client.stop());
  client.start();
  await server.waitFor('connected', () => server.connected('node-a'));
  server.ackBatches = false;
  await buffer.append(one(1), false);
  await server.waitFor('batch 1', () => server.batches.length === 1);
  await server.stop();
  server.ackBatches = true;
  await server.start();
  await server.waitFor('acked after resend', () => buffer.ackedSeq === 1, 20_000);
  assert.equal(server.batches.length, 1);
  assert.equal(server.duplicates, 1, 'the resend reached the server and was recognised');
});

test('series references: sent when the server speaks protocol 2, within its ref bound (the table starts over when full); one Metric per sample for an older server', async (t) => {
  const sample = (k: number, i: number) => ({ timeMs: 1_700_000_000_000 + k * 1000, metric: `node_m${i}`, value: k * 10 + i, labels: { device: `d${i}` } });
  const round = (k: number, series: number[]) => series.map((i) => sample(k, i));
  // Per batch, in metric order (a batch with both forms carries its Metrics apart from its scrapes).
  const sorted = (rows: (string | number | undefined)[][]) => rows.sort((x, y) => String(x[1]).localeCompare(String(y[1])));
  const seen = (server: TestMonitorServer) => server.batches.map((b) => sorted(b.metrics.map((m) => [Number(m.timeMs), m.metric, m.value, m.labels.device, m.hostname])));
  const want = (rounds: [number, number[]][]) => rounds.map(([k, series]) => sorted(round(k, series).map((s) => [s.timeMs, s.metric, s.value, s.labels.device, 'node-a'])));
  const rounds: [number, number[]][] = [
    [1, [0, 1, 2]],
    [2, [2, 1, 0]], // known series: refs only
    [3, [3, 4, 5]], // 3 new series do not fit in 4 refs: the table starts over
    [4, [0, 1, 2, 3, 4, 5]], // 6 series in one batch: 4 refs, 2 as Metrics
  ];

  const v2 = new TestMonitorServer({ maxSeriesRefs: 4 });
  await v2.start(0);
  t.after(() => v2.stop());
  const a = setup(v2);
  t.after(() => a.client.stop());
  a.client.start();
  await v2.waitFor('welcome', () => a.client.connected);
  for (const [k, series] of rounds) await a.buffer.append(round(k, series), false);
  await v2.waitFor('4 batches acked', () => a.buffer.ackedSeq === 4);
  assert.equal(v2.hellos[0]!.protocol, 2);
  assert.deepEqual(v2.batches.map((b) => [b.form, b.definitions]), [['refs', 3], ['refs', 0], ['refs', 3], ['both', 4]]);
  assert.deepEqual(seen(v2), want(rounds));

  const v1 = new TestMonitorServer({ protocol: 1 });
  await v1.start(0);
  t.after(() => v1.stop());
  const b = setup(v1);
  t.after(() => b.client.stop());
  b.client.start();
  await v1.waitFor('welcome', () => b.client.connected);
  for (const [k, series] of rounds.slice(0, 2)) await b.buffer.append(round(k, series), false);
  await v1.waitFor('2 batches acked', () => b.buffer.ackedSeq === 2);
  assert.deepEqual(v1.batches.map((x) => x.form), ['metrics', 'metrics']);
  assert.deepEqual(seen(v1), want(rounds.slice(0, 2)));
});
