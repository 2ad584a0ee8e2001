// kill -9 of a real `flotilla server` during ingest from an agent stream (ConnectRPC, monitor.proto):
// after the restart, every sample of every acknowledged batch is in the metric history.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTsdb } from '../../../src/monitor/tsdb/index.js';
import { startFlotilla, tcpReady } from '../../testkit/index.js';
import { eventually, monitorClient, startAgent } from '../server/fixtures.js';

const SERIES_PER_BATCH = 50;

describe('metric history durability (real process)', () => {
  it('kill -9 during ingest loses no acknowledged sample', { timeout: 120_000 }, async (t) => {
    const server = await startFlotilla(
      ({ port, dataDir }) => ['server', '--listen', `127.0.0.1:${port('grpc')}`, '--http', `127.0.0.1:${port('http')}`, '--coord-listen', `127.0.0.1:${port('coord')}`, '--data-dir', dataDir],
      { name: 'flotilla server', t, ports: ['grpc', 'http', 'coord'], env: { FLOTILLA_LOG_PRETTY: '0' }, ready: async (p) => tcpReady(p.port('grpc')) },
    );
    const address = `127.0.0.1:${server.port('grpc')}`;
    const agent = startAgent(t, monitorClient(t, address), 'crash-host');
    await eventually('welcomed', () => agent.welcomed(), 20_000);
    const t0 = Date.now() - 60_000;
    const sent: number[] = []; // seq -> time of its samples
    // Batches go out without waiting for acks (at most 20 unacked), until the server is killed.
    let seq = 0;
    const killAfterAcked = 40n;
    for (let i = 0; i < 2000 && agent.ackedSeq() < killAfterAcked; i++) {
      while (seq - Number(agent.ackedSeq()) >= 20) await sleep(2);
      seq += 1;
      const timeMs = t0 + seq * 10;
      sent[seq] = timeMs;
      agent.batch(
        BigInt(seq),
        Array.from({ length: SERIES_PER_BATCH }, (_, k) => ({ metric: 'crash_test_value', value: seq * 1000 + k, labels: { k: String(k) }, timeMs })),
      );
    }
    // Keep sending while the kill lands, so batches are in flight.
    for (let j = 0; j < 10; j++) {
      seq += 1;
      sent[seq] = t0 + seq * 10;
      agent.batch(BigInt(seq), Array.from({ length: SERIES_PER_BATCH }, (_, k) => ({ metric: 'crash_test_value', value: seq * 1000 + k, labels: { k: String(k) }, timeMs: sent[seq] })));
    }
    await server.kill();
    const acked = Number(agent.ackedSeq());
    assert.ok(acked >= Number(killAfterAcked), `acked ${acked}`);
    agent.kill();
    await agent.done;

    await server.restart();
    assert.match(server.output(), /time-series store opened \(WAL replayed\)/);
    await server.stop();

    const db = createTsdb({ dir: join(server.dataDir, 'tsdb') });
    await db.start();
    t.after(() => db.stop());
    const got = await db.select([{ name: '__name__', type: '=', value: 'crash_test_value' }, { name: 'host', type: '=', value: 'crash-host' }], 0, Date.now() + 3_600_000);
    assert.equal(got.length, SERIES_PER_BATCH);
    for (const s of got) {
      const k = Number(s.labels.k);
      const byTime = new Map(s.timestamps.map((tm, i) => [tm, s.values[i]]));
      for (let q = 1; q <= acked; q++) assert.equal(byTime.get(sent[q]!), q * 1000 + k, `series k=${k}: sample of acked batch ${q} missing`);
    }
  });
});
