// Remote write into real receivers: InfluxDB 1.x (two databases, routed by selectors, as the source
// document's set-up; then the destination down for a while and its backlog delivered) and Prometheus 2.42's
// remote-write receiver. Samples enter as the server takes them: GlobalView.ingest, then exporter.offer.
//
// The outage lasts FLOTILLA_TEST_OUTAGE_MS (default 10 000 ms) instead of the 60 s to keep the suite
// short; nothing in the exporter depends on its length except the queue bound, which the test checks.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../../../src/core/log.js';
import { createMetricsExporter, remoteWriteSchema, type MetricsExporter } from '../../../src/monitor/index.js';
import { GlobalView } from '../../../src/monitor/server/index.js';
import { eventually } from '../server/fixtures.js';
import { INFLUXD_BIN, PROMETHEUS_BIN, startInfluxd, startPrometheus } from './peers.js';

const OUTAGE_MS = Number(process.env.FLOTILLA_TEST_OUTAGE_MS ?? 10_000);

for (const bin of [INFLUXD_BIN, PROMETHEUS_BIN]) {
  if (!existsSync(bin) && process.env.CI === 'true') throw new Error(`${bin} is missing: scripts/test-deps.sh installs it`);
}

/** A view with one connected host; `send` ingests a batch and offers what was taken, as the server does. */
function hostFeed(view: GlobalView, exporter: MetricsExporter, host: string): (metrics: { metric: string; value: number; labels?: Record<string, string>; timeMs: number }[]) => number {
  view.agentConnected({ hostname: host, version: 'test', incarnation: 'i1', ackedSeq: 0n });
  let seq = 0n;
  return (metrics) => {
    seq += 1n;
    const r = view.ingest(host, { seq, droppedTotal: 0n, metrics: metrics.map((m) => ({ hostname: host, labels: {}, ...m })) });
    exporter.offer(host, r.samples);
    return r.accepted;
  };
}

it('routes host metrics to db=hosts and container metrics to db=containers in a real InfluxDB, and delivers the backlog after an outage', { timeout: 120_000 }, async (t) => {
  const influx = await startInfluxd(t);
  await influx.createDatabase('hosts');
  await influx.createDatabase('containers');
  const destinations = remoteWriteSchema.parse([
    { url: `${influx.url}/api/v1/prom/write?db=hosts`, match: '{__name__=~"node_.*"}', flushInterval: '200ms', minBackoff: '100ms', maxBackoff: '1s', queueSamples: 50_000 },
    `${influx.url}/api/v1/prom/write?db=containers;match={container!=""}`,
  ]);
  const view = new GlobalView();
  const exporter = createMetricsExporter({ view, logger: silentLogger(), destinations, stopFlushMs: 1_000 });
  await exporter.start();
  t.after(() => exporter.stop());
  const send = hostFeed(view, exporter, 'vm-1');

  const t0 = Date.now() - 60_000;
  assert.equal(
    send([
      { metric: 'node_load1', value: 0.25, timeMs: t0 },
      { metric: 'node_memory_used_bytes', value: 123456789, timeMs: t0 },
      { metric: 'container_memory_current_bytes', value: 4096, labels: { container: 'web', image: 'nginx:1.25', cgroup: '/system.slice/docker-x.scope' }, timeMs: t0 },
      { metric: 'container_cpu_usage_cores', value: 0.5, labels: { container: 'web', cgroup: '/system.slice/docker-x.scope' }, timeMs: t0 },
      // Neither a node_ metric nor a container: goes nowhere.
      { metric: 'flotilla_other', value: 1, timeMs: t0 },
    ]),
    5,
  );
  await eventually('samples in both databases', async () => (await influx.query('containers', 'SELECT value FROM container_cpu_usage_cores')).length > 0 && (await influx.query('hosts', 'SELECT value FROM node_load1')).length > 0, 20_000);
  const load = await influx.query('hosts', `SELECT value, host FROM node_load1 WHERE host = 'vm-1'`);
  assert.deepEqual(load[0]!.values, [[t0, 0.25, 'vm-1']]);
  const mem = await influx.query('containers', `SELECT value, container, image FROM container_memory_current_bytes`);
  assert.deepEqual(mem[0]!.values, [[t0, 4096, 'web', 'nginx:1.25']]);
  const names = async (db: string): Promise<string[]> => ((await influx.query(db, 'SHOW MEASUREMENTS'))[0]?.values ?? []).map((v) => String(v[0]));
  assert.deepEqual(await names('hosts'), ['node_load1', 'node_memory_used_bytes']);
  assert.deepEqual(await names('containers'), ['container_cpu_usage_cores', 'container_memory_current_bytes']);

  // The destination goes down; ingest goes on at its pace, every batch taken at once.
  await influx.h.stop();
  const outageStart = Date.now();
  let sent = 0;
  let i = 0;
  while (Date.now() - outageStart < OUTAGE_MS) {
    i += 1;
    const before = performance.now();
    sent += send([{ metric: 'node_load1', value: i, timeMs: t0 + i * 10 }]);
    // Synchronous: offering never waits on the network (a generous bound, not a timing assertion of speed).
    assert.ok(performance.now() - before < 1_000);
    await sleep(50);
  }
  const during = exporter.destinations()[0]!;
  assert.ok(during.queued > 0, 'samples wait in the queue while the destination is down');
  assert.ok(during.failedRequests > 0);
  assert.equal(view.snapshot('vm-1')!.samplesReceived, 5 + sent);

  await influx.h.restart();
  await eventually(
    'the backlog delivered',
    async () => {
      const r = await influx.query('hosts', `SELECT count(value) FROM node_load1 WHERE host = 'vm-1'`);
      return r[0]?.values[0]?.[1] === 1 + sent;
    },
    30_000,
  );
  const after = exporter.destinations()[0]!;
  assert.deepEqual(after.dropped, { queue_full: 0, rejected: 0, shutdown: 0 });
  assert.equal(after.queued, 0);
  const last = await influx.query('hosts', `SELECT last(value) FROM node_load1 WHERE host = 'vm-1'`);
  assert.equal(last[0]!.values[0]![1], i);
  // The server's own metrics say so too.
  assert.match(exporter.render(), new RegExp(`flotilla_remote_write_samples_sent_total\\{url="${influx.url}/api/v1/prom/write\\?db=hosts"\\} ${3 + sent - 1}\\n`));
});

it('writes into a real Prometheus remote-write receiver, labels and values intact', { timeout: 60_000 }, async (t) => {
  const prom = await startPrometheus(t);
  const [dest] = remoteWriteSchema.parse([{ url: `${prom.url}/api/v1/write`, flushInterval: '100ms' }]);
  const view = new GlobalView();
  const exporter = createMetricsExporter({ view, logger: silentLogger(), destinations: [dest!], stopFlushMs: 1_000 });
  await exporter.start();
  t.after(() => exporter.stop());
  const send = hostFeed(view, exporter, 'node-a');
  const now = Date.now();
  send([
    { metric: 'node_cpu_usage_percent', value: 12.5, labels: { mode: 'user' }, timeMs: now - 2_000 },
    { metric: 'node_cpu_usage_percent', value: 13.75, labels: { mode: 'user' }, timeMs: now - 1_000 },
    // A label value with every character that needs escaping somewhere, and a colliding `host` label.
    { metric: 'container_memory_current_bytes', value: 1e9, labels: { cgroup: '/a "b"\\c\nd', host: 'inner' }, timeMs: now - 1_000 },
  ]);
  await eventually('series in Prometheus', async () => (await prom.query('node_cpu_usage_percent')).length > 0 && (await prom.query('container_memory_current_bytes')).length > 0, 20_000);
  const cpu = await prom.query('node_cpu_usage_percent{host="node-a",mode="user"}');
  assert.equal(cpu.length, 1);
  assert.equal(cpu[0]!.value[1], '13.75');
  const range = await prom.query('count_over_time(node_cpu_usage_percent[1m])');
  assert.equal(range[0]!.value[1], '2');
  const mem = await prom.query('container_memory_current_bytes');
  assert.deepEqual(mem[0]!.metric, { __name__: 'container_memory_current_bytes', host: 'node-a', exported_host: 'inner', cgroup: '/a "b"\\c\nd' });
  assert.equal(mem[0]!.value[1], '1000000000');
  assert.equal(exporter.destinations()[0]!.sent, 3);
});
