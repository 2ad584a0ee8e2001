// A real Prometheus scrapes /metrics of a real `flotilla server` fed by a real `flotilla agent` (its
// stream), and its /api/v1/query returns our series; the same server remote-writes them to a second
// Prometheus through --remote-write with a selector.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ProcessHandle } from '../../testkit/index.js';
import { startFlotilla, tcpReady } from '../../testkit/index.js';
import { eventually } from '../server/fixtures.js';
import { startPrometheus } from './peers.js';

it('a real Prometheus scrapes the server\'s /metrics and answers with our series; remote write routes by selector', { timeout: 120_000 }, async (t) => {
  const receiver = await startPrometheus(t);
  const server: ProcessHandle = await startFlotilla(
    ({ port, dataDir }) => [
      'server',
      '--listen', `127.0.0.1:${port('grpc')}`,
      '--http', `127.0.0.1:${port('http')}`,
      '--coord-listen', `127.0.0.1:${port('coord')}`,
      '--data-dir', dataDir,
      '--remote-write', `${receiver.url}/api/v1/write;match={__name__=~"node_load.*"}`,
    ],
    { name: 'flotilla server', t, ports: ['grpc', 'http', 'coord'], env: { FLOTILLA_LOG_PRETTY: '0' }, ready: async (p) => tcpReady(p.port('http')) },
  );
  const http = `http://127.0.0.1:${server.port('http')}`;
  await startFlotilla(['agent', '--hostname', 'scrape-host', '--server', `127.0.0.1:${server.port('grpc')}`, '--etcd', `127.0.0.1:${server.port('coord')}`], {
    name: 'flotilla agent',
    t,
    env: { FLOTILLA_LOG_PRETTY: '0' },
    ready: async (p) => p.output().includes('flotilla agent scrape-host'),
  });
  await eventually('the agent\'s samples in /metrics', async () => (await (await fetch(`${http}/metrics`)).text()).includes('node_load1{host="scrape-host"}'), 30_000);
  const res = await fetch(`${http}/metrics`);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');

  const prom = await startPrometheus(t, { scrapeTarget: `127.0.0.1:${server.port('http')}`, scrapeIntervalSeconds: 1 });
  await eventually('Prometheus has scraped us', async () => (await prom.query('up{job="flotilla"}'))[0]?.value[1] === '1', 30_000);
  await eventually('our series in Prometheus', async () => (await prom.query('node_memory_total_bytes{host="scrape-host"}')).length === 1, 30_000);
  const mem = await prom.query('node_memory_total_bytes{host="scrape-host"}');
  assert.ok(Number(mem[0]!.value[1]) > 0);
  assert.equal(mem[0]!.metric.job, 'flotilla');
  const own = await prom.query('flotilla_monitor_samples_received_total{host="scrape-host"}');
  assert.ok(Number(own[0]!.value[1]) > 0);

  // Remote write: node_load* only.
  await eventually('remote-written load averages', async () => (await receiver.query('node_load1{host="scrape-host"}')).length === 1, 30_000);
  assert.deepEqual(await receiver.query('node_memory_total_bytes'), []);
});
