/**
 * Where the server's ingest time goes, stage by stage, in this process on one core: decoding the stream
 * message (protobuf), the edge conversion with the stream's ref table and the global view (validation,
 * last values), and the store's append (head chunks, WAL entries, group commit with fdatasync). Each stage
 * is timed on the same pre-encoded batches of 100 agents x 1000 series (in either wire form), after a first
 * round that defines and creates the series (not timed: the steady state is what ingest rate means), and
 * printed as ns per sample and the samples/s it alone allows.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { AgentMessageSchema, type MetricBatch } from '../../src/gen/flotilla/v1/monitor_pb.js';
import { GlobalView, type IngestResult } from '../../src/monitor/server/global-view.js';
import { SeriesRefTable } from '../../src/monitor/server/series-refs.js';
import { createScrapeAppender } from '../../src/monitor/server/store-append.js';
import { fromBatch } from '../../src/monitor/server/wire-convert.js';
import { createTsdb } from '../../src/monitor/tsdb/index.js';
import type { BenchCleanup } from '../coord/bench-cleanup.js';
import { fmt, table } from '../coord/stats.js';
import { BatchTemplate, RefBatchTemplate, type Template, type WireForm } from './load-agents.js';

/** A CPU profile of this process from now (node:inspector); `stop` writes it into a directory. */
async function startProfile(): Promise<{ stop(dir: string): Promise<string> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop(dir) {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      await mkdir(dir, { recursive: true });
      const file = join(dir, `breakdown-append-${Date.now()}.cpuprofile`);
      await writeFile(file, JSON.stringify(profile));
      return file;
    },
  };
}

export async function breakdown(owner: BenchCleanup, agents: number, series: number, rounds: number, wire: WireForm, profileDir?: string): Promise<void> {
  const templates: Template[] = Array.from({ length: agents }, () => (wire === 'refs' ? new RefBatchTemplate(series) : new BatchTemplate(series)));
  const t0 = Date.now() - 3_600_000;
  const frames: Buffer[][] = [];
  for (let r = 0; r <= rounds; r++) frames.push(templates.map((tpl, a) => tpl.encode(BigInt(r + 1), t0 + r * 1000, r * 7 + a, r === 0)));
  const samples = agents * series * rounds;
  const rows: string[][] = [];
  // Wall time, and this process's CPU time (user + system) over the same stretch: on a busy machine the
  // wall time takes in waiting for a core and, for the store, the fdatasyncs; the CPU time is the work.
  let cpu0 = process.cpuUsage();
  const stage = (name: string, ms: number): void => {
    const c = process.cpuUsage(cpu0);
    const cpuMs = (c.user + c.system) / 1000;
    rows.push([name, fmt((ms * 1e6) / samples, 0), fmt((cpuMs * 1e6) / samples, 0), fmt(samples / (ms / 1000))]);
  };

  const decode = (round: Buffer[]): MetricBatch[] =>
    round.map((f) => {
      const m = fromBinary(AgentMessageSchema, f.subarray(5));
      if (m.kind.case !== 'batch') throw new Error('not a batch');
      return m.kind.value;
    });
  // Round 0 warms up, defines the refs and creates the series everywhere; rounds 1.. are timed.
  const warm = decode(frames[0]!);
  // 1. protobuf decode of AgentMessage{batch}.
  let start = performance.now();
  cpu0 = process.cpuUsage();
  const decoded: MetricBatch[][] = frames.slice(1).map(decode);
  stage(`protobuf decode (AgentMessage, ${wire})`, performance.now() - start);

  // 2. edge conversion + the stream's ref table + validation + the global view, as the stream handler does.
  const view = new GlobalView({ maxSeriesPerHost: series * 2 });
  const tables: SeriesRefTable[] = [];
  for (let a = 0; a < agents; a++) {
    const host = `bench-${a}`;
    view.agentConnected({ hostname: host, version: 'x', incarnation: 'i', ackedSeq: 0n });
    tables.push(new SeriesRefTable(series * 2, (metric, labels) => view.resolveSeries(host, metric, labels)));
  }
  const take = (b: MetricBatch, a: number): IngestResult => {
    const input = fromBatch(b);
    const refs = tables[a]!;
    if (input.series.length > 0) refs.define(input.series);
    const scrapes = input.scrapes.length > 0 ? refs.resolveScrapes(input.scrapes) : undefined;
    return view.ingest(`bench-${a}`, { seq: input.seq, droppedTotal: input.droppedTotal, metrics: input.metrics, ...(scrapes !== undefined ? { scrapes } : {}) });
  };
  const warmTaken = warm.map(take);
  start = performance.now();
  cpu0 = process.cpuUsage();
  const taken = decoded.map((round) => round.map(take));
  stage('convert + ref table + validate + global view', performance.now() - start);

  // 3. the store's append (head + WAL entries + group commit with fdatasync), one call per batch.
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-breakdown-'));
  owner.trackDir(dir);
  const db = createTsdb({ dir });
  await db.start();
  owner.after(() => db.stop());
  const appendScrapes = createScrapeAppender(db);
  await Promise.all(warmTaken.map((r, a) => appendScrapes(`bench-${a}`, r.scrapes)));
  const fsyncs0 = db.stats().walFsyncs;
  const wal0 = db.stats().walBytesWritten;
  const profiler = profileDir !== undefined ? await startProfile() : undefined;
  start = performance.now();
  cpu0 = process.cpuUsage();
  for (const round of taken) await Promise.all(round.map((r, a) => appendScrapes(`bench-${a}`, r.scrapes)));
  const appendMs = performance.now() - start;
  stage('store append (head + WAL, fsynced per round)', appendMs);
  if (profiler !== undefined && profileDir !== undefined) {
    const file = await profiler.stop(profileDir);
    process.stderr.write(`  CPU profile of the store append stage written to ${file}\n`);
  }
  const st = db.stats();
  console.log(
    `\n(a) where ingest time goes (${agents} agents x ${series} series x ${rounds} rounds = ${fmt(samples)} samples, wire form ${wire}, in-process, one core)\n` +
      table(['stage', 'ns per sample', 'CPU ns per sample', 'samples/s alone'], rows) +
      `\nWAL: ${fmt((st.walBytesWritten - wal0) / samples, 1)} bytes per sample, ${st.walFsyncs - fsyncs0} fdatasyncs`,
  );
}
