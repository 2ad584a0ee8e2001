/**
 * Where the server's ingest time goes, stage by stage, in this process on one core: decoding the stream
 * message (protobuf), the edge conversion and validation with the global view, the store's append (head
 * chunks and WAL entries), and the WAL's write + fdatasync. Each stage is timed on the same pre-encoded
 * batches of 100 agents x 1000 series, after a first round that creates the series (not timed: the
 * steady state is what ingest rate means), and printed as ns per sample and the samples/s it alone allows.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { AgentMessageSchema, type MetricBatch } from '../../src/gen/flotilla/v1/monitor_pb.js';
import { GlobalView } from '../../src/monitor/server/global-view.js';
import { fromBatch } from '../../src/monitor/server/wire-convert.js';
import { createTsdb } from '../../src/monitor/tsdb/index.js';
import type { BenchCleanup } from '../coord/bench-cleanup.js';
import { fmt, table } from '../coord/stats.js';
import { BatchTemplate } from './load-agents.js';

export async function breakdown(owner: BenchCleanup, agents: number, series: number, rounds: number): Promise<void> {
  const templates = Array.from({ length: agents }, () => new BatchTemplate(series));
  const t0 = Date.now() - 3_600_000;
  const frames: Buffer[][] = [];
  for (let r = 0; r <= rounds; r++) frames.push(templates.map((tpl, a) => tpl.encode(BigInt(r + 1), t0 + r * 1000, r * 7 + a)));
  const samples = agents * series * rounds;
  const rows: string[][] = [];
  const stage = (name: string, ms: number): void => {
    rows.push([name, fmt((ms * 1e6) / samples, 0), fmt(samples / (ms / 1000))]);
  };

  const decode = (round: Buffer[]): MetricBatch[] =>
    round.map((f) => {
      const m = fromBinary(AgentMessageSchema, f.subarray(5));
      if (m.kind.case !== 'batch') throw new Error('not a batch');
      return m.kind.value;
    });
  // Round 0 warms up and creates the series everywhere; rounds 1.. are timed.
  const warm = decode(frames[0]!);
  // 1. protobuf decode of AgentMessage{batch}.
  let start = performance.now();
  const decoded: MetricBatch[][] = frames.slice(1).map(decode);
  stage('protobuf decode (AgentMessage)', performance.now() - start);

  // 2. edge conversion + validation + the global view.
  const view = new GlobalView({ maxSeriesPerHost: series * 2 });
  for (let a = 0; a < agents; a++) view.agentConnected({ hostname: `bench-${a}`, version: 'x', incarnation: 'i', ackedSeq: 0n });
  const warmTaken = warm.map((b, a) => view.ingest(`bench-${a}`, fromBatch(b)).samples);
  start = performance.now();
  const taken = decoded.map((round) => round.map((b, a) => view.ingest(`bench-${a}`, fromBatch(b)).samples));
  stage('convert + validate + global view', performance.now() - start);

  // 3. the store's append (head + WAL entries + group commit with fdatasync), one call per batch.
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-breakdown-'));
  owner.trackDir(dir);
  const db = createTsdb({ dir });
  await db.start();
  owner.after(() => db.stop());
  await Promise.all(warmTaken.map((s, a) => db.appendHost(`bench-${a}`, s)));
  const fsyncs0 = db.stats().walFsyncs;
  const wal0 = db.stats().walBytesWritten;
  start = performance.now();
  for (const round of taken) await Promise.all(round.map((s, a) => db.appendHost(`bench-${a}`, s)));
  const appendMs = performance.now() - start;
  stage('store append (head + WAL, fsynced per round)', appendMs);
  const st = db.stats();
  console.log(
    `\n(a) where ingest time goes (${agents} agents x ${series} series x ${rounds} rounds = ${fmt(samples)} samples, in-process, one core)\n` +
      table(['stage', 'ns per sample', 'samples/s alone'], rows) +
      `\nWAL: ${fmt((st.walBytesWritten - wal0) / samples, 1)} bytes per sample, ${st.walFsyncs - fsyncs0} fdatasyncs`,
  );
}
