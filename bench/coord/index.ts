/**
 * `npm run bench -- coord`: the coordination store benchmark (issue 2). Starts real etcd and the embedded
 * store side by side, drives both with the same etcd3-client load (put throughput at C clients, then
 * watch-event latency), alternating which peer goes first each round, and prints per load the etcd value,
 * the embedded value and their ratio, then whether the goal is met: embedded >= 0.5x etcd's put
 * throughput at 16 and 64 clients. Both peers are stopped at the end, on error and on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Code, FlotillaError } from '../../src/core/errors.js';
import { REPO_ROOT } from '../../test/testkit/index.js';
import { BenchCleanup } from './bench-cleanup.js';
import type { Profile } from './options.js';
import { USAGE, parseCoordBenchArgs } from './options.js';
import type { Peer } from './peers.js';
import { checkBuild, startPeers } from './peers.js';
import type { PutLoadResult } from './put-load.js';
import { runPutLoad } from './put-load.js';
import { fmt, median, percentile, ratio, table } from './stats.js';
import { runWatchLoad } from './watch-load.js';

/** The throughput ratio the embedded store must reach at these client counts (issue 2). */
const GOAL_RATIO = 0.5;
const GOAL_CLIENTS = [16, 64];

type PerPeer<T> = Record<Peer['name'], T>;

/** Other work on the machine skews the numbers: say how busy it was. */
function machine(): string {
  return `${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
}

const progress = (line: string): void => void process.stderr.write(`  ${line}\n`);

async function build(): Promise<void> {
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  process.stderr.write('bench coord: building dist/ (tsc -p tsconfig.build.json)\n');
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new FlotillaError(Code.FAILED_PRECONDITION, `bench coord: the build failed (tsc exit code ${code})`);
}

/** Peers in the order they run in `round`: etcd first in even rounds, embedded first in odd ones. */
function order(peers: Peer[], round: number): Peer[] {
  return round % 2 === 0 ? peers : [...peers].reverse();
}

interface PutRow {
  clients: number;
  count: number;
  runs: PerPeer<PutLoadResult[]>;
}

async function putLoads(peers: Peer[], p: Profile): Promise<PutRow[]> {
  const rows: PutRow[] = [];
  for (const clients of p.clients) {
    const row: PutRow = { clients, count: p.putCount(clients), runs: { etcd: [], embedded: [] } };
    for (let round = 0; round < p.rounds; round++) {
      for (const peer of order(peers, round)) {
        const r = await runPutLoad({
          endpoint: peer.endpoint,
          clients,
          count: row.count,
          valueBytes: p.valueBytes,
          warmupPerClient: p.putWarmupPerClient,
          timeLimitMs: p.putTimeLimitMs,
        });
        row.runs[peer.name].push(r);
        progress(
          `put C=${clients} round ${round + 1}/${p.rounds} ${peer.name}: ${fmt(r.putsPerSecond)} puts/s (${r.puts} puts in ${r.seconds.toFixed(2)} s${r.timedOut ? ', time limit' : ''})`,
        );
      }
    }
    rows.push(row);
  }
  return rows;
}

interface WatchRow {
  writers: number;
  samples: PerPeer<number[]>;
}

async function watchLoads(peers: Peer[], p: Profile): Promise<WatchRow[]> {
  const rows: WatchRow[] = [];
  for (const writers of p.watchWriters) {
    const row: WatchRow = { writers, samples: { etcd: [], embedded: [] } };
    for (let round = 0; round < p.rounds; round++) {
      for (const peer of order(peers, round)) {
        const r = await runWatchLoad({
          endpoint: peer.endpoint,
          writers,
          events: p.watchEvents,
          warmup: p.watchWarmup,
          valueBytes: p.valueBytes,
          timeLimitMs: p.watchTimeLimitMs,
          drainMs: p.watchDrainMs,
        });
        row.samples[peer.name].push(...r.samplesMs);
        progress(`watch W=${writers} round ${round + 1}/${p.rounds} ${peer.name}: p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms (${r.samplesMs.length} events)`);
      }
    }
    rows.push(row);
  }
  return rows;
}

const medianOf = (runs: PutLoadResult[], pick: (r: PutLoadResult) => number): number => median(runs.map(pick));

function putTable(rows: PutRow[], rounds: number): string {
  const body = rows.map((r) => {
    const etcd = medianOf(r.runs.etcd, (x) => x.putsPerSecond);
    const emb = medianOf(r.runs.embedded, (x) => x.putsPerSecond);
    return [
      String(r.clients),
      fmt(r.count),
      fmt(etcd),
      fmt(emb),
      ratio(emb, etcd),
      fmt(medianOf(r.runs.etcd, (x) => x.p50Ms), 2),
      fmt(medianOf(r.runs.embedded, (x) => x.p50Ms), 2),
      fmt(medianOf(r.runs.etcd, (x) => x.p99Ms), 2),
      fmt(medianOf(r.runs.embedded, (x) => x.p99Ms), 2),
    ];
  });
  return (
    `put throughput (puts/s, median of ${rounds} round${rounds === 1 ? '' : 's'}; higher is better; latency of one put in ms)\n` +
    table(['clients', 'puts/run', 'etcd', 'embedded', 'embedded/etcd', 'etcd p50', 'emb p50', 'etcd p99', 'emb p99'], body)
  );
}

function watchTable(rows: WatchRow[]): string {
  const body: string[][] = [];
  for (const r of rows) {
    for (const [label, q] of [
      ['p50', 0.5],
      ['p99', 0.99],
    ] as const) {
      const etcd = percentile(r.samples.etcd, q);
      const emb = percentile(r.samples.embedded, q);
      body.push([String(r.writers), label, fmt(r.samples.etcd.length), fmt(etcd, 2), fmt(emb, 2), ratio(emb, etcd)]);
    }
  }
  return (
    'watch-event latency (ms from put sent to event received, all rounds pooled; lower is better)\n' +
    table(['writers', 'stat', 'events', 'etcd ms', 'embedded ms', 'embedded/etcd'], body)
  );
}

function goalLine(rows: PutRow[]): string {
  const parts: string[] = [];
  let met = true;
  for (const c of GOAL_CLIENTS) {
    const row = rows.find((r) => r.clients === c);
    if (row === undefined) return `goal (embedded >= ${GOAL_RATIO}x etcd put throughput at ${GOAL_CLIENTS.join(' and ')} clients): NOT EVALUATED (--clients lacks ${c})`;
    const x = medianOf(row.runs.embedded, (r) => r.putsPerSecond) / medianOf(row.runs.etcd, (r) => r.putsPerSecond);
    if (!(x >= GOAL_RATIO)) met = false;
    parts.push(`${c} clients: ${x.toFixed(2)}x`);
  }
  return `goal (embedded >= ${GOAL_RATIO}x etcd put throughput at ${GOAL_CLIENTS.join(' and ')} clients): ${met ? 'MET' : 'NOT MET'} (${parts.join(', ')})`;
}

/** Runs the benchmark with command-line `args`; resolves when done (goal met or not), throws on an error. */
export async function runCoordBench(args: readonly string[]): Promise<void> {
  const opts = parseCoordBenchArgs(args);
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  const p = opts.profile;
  if (opts.build) await build();
  const stale = await checkBuild();
  if (stale) process.stderr.write(`${stale}\n`);

  const owner = new BenchCleanup();
  owner.installSignalHandlers();
  const started = performance.now();
  try {
    const peers = await startPeers(owner);
    console.log(`bench coord (${p.name}): ${p.rounds} round${p.rounds === 1 ? '' : 's'}, peer order alternating; ${p.valueBytes} B values, random keys`);
    console.log(`  machine: ${machine()}`);
    for (const peer of peers) console.log(`  ${peer.name.padEnd(8)}  ${peer.label} at ${peer.endpoint}`);
    console.log('  durability: etcd fsyncs its WAL on every commit (its default); the embedded store writes each group commit with sync: true');
    console.log('  load: the etcd3 npm client, one connection per client, one request in flight per client\n');

    const putRows = await putLoads(peers, p);
    console.log(`\n${putTable(putRows, p.rounds)}\n`);
    const watchRows = await watchLoads(peers, p);
    console.log(`\n${watchTable(watchRows)}\n`);
    console.log(goalLine(putRows));
    console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s; at the end: ${machine()})`);
  } catch (err) {
    owner.passed = false;
    throw err;
  } finally {
    await owner.run();
  }
}
