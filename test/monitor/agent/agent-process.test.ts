/**
 * `flotilla agent` as a real process against the in-test monitor server and a real coordination store:
 * the embedded one (`flotilla coord serve`) and real etcd. Config read at start and followed, bad config
 * rejected, commands, heartbeat under a lease gone after kill -9, reconnect with the backlog delivered.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import type { CoordProcess, ProcessHandle } from '../../testkit/index.js';
import { etcdctl, startEmbeddedCoord, startEtcd, startFlotilla } from '../../testkit/index.js';
import { TestMonitorServer } from './test-monitor-server.js';

const TTL_SECONDS = 2;
const GROUPS: Record<string, RegExp> = { cpu: /^node_(cpu|load)/, memory: /^node_memory_/, network: /^node_network_/ };

async function put(coord: CoordProcess, key: string, value: string): Promise<void> {
  const r = await etcdctl(coord.endpoint, ['put', key, value]);
  assert.equal(r.code, 0, r.stderr);
}

async function heartbeatLease(coord: CoordProcess, host: string): Promise<string | undefined> {
  const r = await etcdctl(coord.endpoint, ['get', `/monitor/heartbeat/${host}`, '-w', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const kv = (JSON.parse(r.stdout) as { kvs?: Array<{ lease?: number | string }> }).kvs?.[0];
  return kv === undefined ? undefined : String(kv.lease ?? '0');
}

async function startAgent(t: TestContext, host: string, server: TestMonitorServer, coord: CoordProcess): Promise<ProcessHandle> {
  return startFlotilla(['agent', '--hostname', host, '--server', server.address, '--etcd', coord.endpoint, '--heartbeat-ttl', `${TTL_SECONDS}s`], {
    name: `agent ${host}`,
    t,
    env: { FLOTILLA_LOG_PRETTY: '0' },
    ready: async (h) => h.output().includes(`flotilla agent ${host}`),
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function scenario(t: TestContext, coord: CoordProcess, host: string): Promise<void> {
  const server = new TestMonitorServer();
  await server.start(0);
  t.after(() => server.stop());
  await put(coord, `/monitor/config/${host}`, '{"interval":3,"metrics":["cpu","memory","network"]}');
  const agent = await startAgent(t, host, server, coord);

  // Config read at start: the hello carries it, and only the configured groups arrive.
  await server.waitFor('hello', () => server.hellos.some((h) => h.hostname === host));
  assert.deepEqual(JSON.parse(server.hellos.find((h) => h.hostname === host)!.configJson), { interval: 3, metrics: ['cpu', 'memory', 'network'] });
  await server.waitFor('2 batches', () => server.batchesOf(host).length >= 2);
  for (const b of server.batchesOf(host)) {
    for (const m of b.metrics) {
      assert.ok(Object.values(GROUPS).some((re) => re.test(m.metric)), `unexpected metric ${m.metric}`);
      assert.ok(Number.isFinite(m.value), `${m.metric} is finite`);
      assert.equal(m.hostname, host);
    }
  }
  const batch2 = server.batchesOf(host)[1]!;
  assert.ok(batch2.metrics.some((m) => m.metric === 'node_cpu_usage_percent' && m.labels.mode === 'total'), 'cpu rate from the second round on');

  // Heartbeat key present, attached to a lease.
  const lease = await heartbeatLease(coord, host);
  assert.ok(lease !== undefined && lease !== '0', `heartbeat under a lease (got ${lease})`);

  // A change is logged as `config updated` and changes the spacing of batches.
  await put(coord, `/monitor/config/${host}`, '{"interval":0.5,"metrics":["cpu","memory","network"]}');
  await agent.waitForOutput((o) => o.includes('"msg":"config updated"'));
  const from = server.batchesOf(host).length + 1; // skip the batch that may straddle the change
  await server.waitFor('6 quick batches', () => server.batchesOf(host).length >= from + 6);
  const quick = server.batchesOf(host).slice(from);
  const gaps = quick.slice(1).map((b, i) => Number(b.metrics[0]!.timeMs - quick[i]!.metrics[0]!.timeMs));
  assert.ok(median(gaps) < 1500, `batches now about 0.5 s apart, not 3 s (median gap ${median(gaps)} ms)`);

  // Bad config: rejected, logged, the last good one stays.
  await put(coord, `/monitor/config/${host}`, '{"interval": "fast"');
  await agent.waitForOutput((o) => (o.match(/config rejected/g) ?? []).length >= 1);
  await put(coord, `/monitor/config/${host}`, '{"interval":-1,"metrics":["cpu"]}');
  await agent.waitForOutput((o) => (o.match(/config rejected/g) ?? []).length >= 2);
  const got = await server.sendCommand(host, 'get_config', {});
  assert.ok(got.ok);
  assert.deepEqual(JSON.parse(got.resultJson), { interval: 0.5, metrics: ['cpu', 'memory', 'network'] });

  // Commands over the stream, acked with their id.
  const dis = await server.sendCommand(host, 'disable_metric', { metric: 'network' });
  assert.deepEqual([dis.ok, dis.message], [true, 'network disabled']);
  const mark = server.batchesOf(host).length + 1;
  await server.waitFor('batches without network', () => server.batchesOf(host).length >= mark + 2);
  assert.ok(server.batchesOf(host).slice(mark).every((b) => b.metrics.every((m) => !m.metric.startsWith('node_network_'))));
  assert.equal((await server.sendCommand(host, 'ping', {})).message, 'pong');

  // The server goes away: samples are buffered and delivered after it is back, with no gap in seq.
  const before = server.batchesOf(host).length;
  await server.stop();
  await sleep(2000);
  await server.start();
  await server.waitFor('backlog delivered', () => server.batchesOf(host).some((b) => b.backlog) && server.batchesOf(host).length >= before + 4, 30_000);
  const seqs = server.batchesOf(host).map((b) => b.seq);
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'every batch delivered once, in order');
  assert.ok(server.batchesOf(host).every((b) => b.droppedTotal === 0));

  // kill -9: the heartbeat key goes once the lease runs out (TTL + 2 s at most).
  await agent.kill();
  const deadline = Date.now() + (TTL_SECONDS + 2) * 1000;
  let present = true;
  while (present && Date.now() < deadline) {
    present = (await heartbeatLease(coord, host)) !== undefined;
    if (present) await sleep(200);
  }
  assert.equal(present, false, `heartbeat key still there ${TTL_SECONDS + 2} s after kill -9`);
}

// The two cases share nothing (each its own store, monitor server and agents): they run at the same time.
describe('flotilla agent', { timeout: 120_000, concurrency: 2 }, () => {
  test('against the embedded coordination store, two agents on one host', async (t) => {
    const coord = await startEmbeddedCoord({ t });
    const server = new TestMonitorServer();
    await server.start(0);
    t.after(() => server.stop());
    const other = await startAgent(t, 'node-b', server, coord);
    await scenario(t, coord, 'node-a');
    assert.ok((await heartbeatLease(coord, 'node-b')) !== undefined, 'node-b keeps its own heartbeat');
    assert.ok(server.batchesOf('node-b').length >= 1);
    // A clean stop revokes the lease: the key goes at once.
    await other.stop();
    assert.equal(await heartbeatLease(coord, 'node-b'), undefined);
  });

  test('against real etcd', async (t) => {
    const coord = await startEtcd({ t });
    await scenario(t, coord, 'node-a');
  });
});
